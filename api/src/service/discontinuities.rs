//! Policy-change discontinuities: one judgment per evaluator (or the consensus) per case,
//! intervention and dimension, with evidence quotations and cascade links.

use chrono::Utc;
use entities::{
    discontinuity, discontinuity_cause, discontinuity_evidence, intervention, interview, quotation,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use crate::auth::{Caller, Permission};
use crate::db::begin_write;
use crate::error::{ServiceError, ServiceResult};
use crate::service::studies::readable_case;

pub const DIMENSIONS: &[&str] = &[
    "PROBLEM_DEFINITION",
    "INTERVENTION_THEORY",
    "POLICY_INSTRUMENTS",
    "ACTOR_NETWORK",
];
pub const INTENSITIES: &[&str] = &["NONE", "PARTIAL", "SIGNIFICANT", "PARADIGMATIC"];
pub const KINDS: &[&str] = &["NEW_APPROACH_TO_ESTABLISHED_PROBLEM", "NEW_PROBLEM"];
pub const COVID_EFFECTS: &[&str] = &["NONE", "HINDERED", "ACCELERATED", "MIXED"];

#[derive(Debug, Clone, Default)]
pub struct Tag {
    pub case_id: i64,
    pub intervention_id: Option<i64>,
    pub dimension: String,
    pub intensity: String,
    pub kind: Option<String>,
    pub description: Option<String>,
    pub covid_effect: Option<String>,
    pub evidence_quotation_ids: Vec<i64>,
    pub cause_ids: Vec<i64>,
    pub consensus: bool,
    /// The version the caller read; required when the judgment already exists.
    pub expected_version: Option<i32>,
}

fn one_of(value: &str, allowed: &[&str], what: &str) -> ServiceResult<()> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ServiceError::bad_input(format!(
            "unknown {what} {value:?}: expected one of {}",
            allowed.join(", ")
        )))
    }
}

/// Records (or updates) the caller's judgment, or the consensus when `consensus` is set.
pub async fn tag(
    db: &DatabaseConnection,
    caller: &Caller,
    input: Tag,
) -> ServiceResult<discontinuity::Model> {
    one_of(&input.dimension, DIMENSIONS, "dimension")?;
    one_of(&input.intensity, INTENSITIES, "intensity")?;
    if let Some(k) = &input.kind {
        one_of(k, KINDS, "kind")?;
    }
    if let Some(c) = &input.covid_effect {
        one_of(c, COVID_EFFECTS, "Covid effect")?;
    }
    let user = caller.require_user()?.clone();
    let txn = begin_write(db).await?;
    let (case, study) = readable_case(&txn, caller, input.case_id).await?;
    caller.authorize(
        study.id,
        study.is_public,
        if input.consensus {
            Permission::Own
        } else {
            Permission::Evaluate
        },
    )?;
    if let Some(iid) = input.intervention_id {
        let i = intervention::Entity::find_by_id(iid)
            .one(&txn)
            .await?
            .ok_or_else(|| ServiceError::not_found("intervention"))?;
        if i.case_id != case.id {
            return Err(ServiceError::bad_input(
                "the intervention belongs to another case",
            ));
        }
    }
    // Evidence must come from interviews of this case.
    let evidence = {
        let mut ids = input.evidence_quotation_ids.clone();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    if !evidence.is_empty() {
        let quotes = quotation::Entity::find()
            .filter(quotation::Column::Id.is_in(evidence.iter().copied()))
            .all(&txn)
            .await?;
        if quotes.len() != evidence.len() {
            return Err(ServiceError::not_found("evidence quotation"));
        }
        let interview_ids: Vec<i64> = quotes.iter().map(|q| q.interview_id).collect();
        let interviews = interview::Entity::find()
            .filter(interview::Column::Id.is_in(interview_ids))
            .all(&txn)
            .await?;
        if interviews.iter().any(|i| i.case_id != case.id) {
            return Err(ServiceError::bad_input(
                "evidence must be quotations from interviews of this case",
            ));
        }
    }
    let slot = if input.consensus { 0 } else { user.id };
    let intervention_key = input.intervention_id.unwrap_or(0);
    let existing = discontinuity::Entity::find()
        .filter(discontinuity::Column::CaseId.eq(case.id))
        .filter(discontinuity::Column::InterventionKey.eq(intervention_key))
        .filter(discontinuity::Column::Dimension.eq(input.dimension.clone()))
        .filter(discontinuity::Column::EvaluatorSlot.eq(slot))
        .one(&txn)
        .await?;
    let causes = {
        let mut ids = input.cause_ids.clone();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    if !causes.is_empty() {
        let found = discontinuity::Entity::find()
            .filter(discontinuity::Column::Id.is_in(causes.iter().copied()))
            .all(&txn)
            .await?;
        if found.len() != causes.len() {
            return Err(ServiceError::not_found("cause discontinuity"));
        }
        for c in &found {
            if c.case_id != case.id {
                return Err(ServiceError::bad_input(
                    "a cascade link must stay within the same case",
                ));
            }
            if c.dimension == input.dimension || existing.as_ref().is_some_and(|e| e.id == c.id) {
                return Err(ServiceError::bad_input(
                    "a discontinuity cannot follow from itself or its own dimension",
                ));
            }
        }
    }
    let now = Utc::now();
    let saved = match existing {
        Some(e) => {
            match input.expected_version {
                Some(v) if v == e.version => {}
                Some(v) => {
                    return Err(ServiceError::Conflict(format!(
                        "the judgment has changed: version {}, you sent {v}",
                        e.version
                    )))
                }
                None => {
                    return Err(ServiceError::Conflict(format!(
                        "a judgment exists for this cell (version {}): send expectedVersion to update it",
                        e.version
                    )))
                }
            }
            let mut a: discontinuity::ActiveModel = e.clone().into();
            a.intensity = Set(input.intensity);
            a.kind = Set(input.kind);
            a.description = Set(input.description);
            a.covid_effect = Set(input.covid_effect);
            a.version = Set(e.version + 1);
            a.updated_at = Set(now);
            a.evaluator_id = Set(user.id);
            let updated = a.update(&txn).await?;
            discontinuity_evidence::Entity::delete_many()
                .filter(discontinuity_evidence::Column::DiscontinuityId.eq(e.id))
                .exec(&txn)
                .await?;
            discontinuity_cause::Entity::delete_many()
                .filter(discontinuity_cause::Column::EffectId.eq(e.id))
                .exec(&txn)
                .await?;
            updated
        }
        None => {
            discontinuity::ActiveModel {
                case_id: Set(case.id),
                intervention_id: Set(input.intervention_id),
                intervention_key: Set(intervention_key),
                dimension: Set(input.dimension),
                intensity: Set(input.intensity),
                kind: Set(input.kind),
                description: Set(input.description),
                covid_effect: Set(input.covid_effect),
                evaluator_id: Set(user.id),
                evaluator_slot: Set(slot),
                is_consensus: Set(input.consensus),
                version: Set(1),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?
        }
    };
    for qid in evidence {
        discontinuity_evidence::ActiveModel {
            discontinuity_id: Set(saved.id),
            quotation_id: Set(qid),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }
    for cid in causes {
        discontinuity_cause::ActiveModel {
            effect_id: Set(saved.id),
            cause_id: Set(cid),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }
    txn.commit().await?;
    Ok(saved)
}
