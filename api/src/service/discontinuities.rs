//! Policy-change discontinuities: one judgment per evaluator (or the consensus) per case,
//! intervention and dimension, with evidence quotations and cascade links.

use chrono::Utc;
use entities::{
    discontinuity, discontinuity_cause, discontinuity_evidence, intervention, interview, quotation,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};

use serde_json::json;

use crate::auth::{Caller, Permission};
use crate::db::{begin_write, Writable};
use crate::error::{is_unique_violation, or_stale, ServiceError, ServiceResult};
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
    db: &impl Writable,
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
            let stale = |now: i32, sent: i32| {
                ServiceError::Conflict(format!(
                    "the judgment has changed: version {now}, you sent {sent}; reload and retry"
                ))
            };
            match input.expected_version {
                Some(v) if v == e.version => {}
                Some(v) => return Err(stale(e.version, v)),
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
            // On PostgreSQL another evaluator's request may have read the same version: only
            // one update finds it, and its row lock keeps the evidence and causes below its own.
            let updated = discontinuity::Entity::update(a)
                .validate()?
                .filter(discontinuity::Column::Version.eq(e.version))
                .exec(&txn)
                .await
                .map_err(|err| or_stale(err, || stale(e.version + 1, e.version)))?;
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
            .await
            .map_err(|e| {
                // The same cell's first judgment, made at the same time (PostgreSQL).
                if is_unique_violation(&e) {
                    ServiceError::Conflict(
                        "a judgment for this cell was just recorded: reload it and send \
                         expectedVersion to update it"
                            .into(),
                    )
                } else {
                    e.into()
                }
            })?
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
    crate::service::audit::record(
        &txn,
        caller,
        "tagDiscontinuity",
        "discontinuity",
        saved.id,
        Some(study.id),
        json!({"after": {
            "case": saved.case_id, "intervention": saved.intervention_id, "dimension": saved.dimension,
            "intensity": saved.intensity, "kind": saved.kind, "consensus": saved.is_consensus, "version": saved.version,
        }}),
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

/// A study's judgments with its cases and interventions, loaded once.
pub struct Judgments {
    pub cases: Vec<entities::study_case::Model>,
    pub interventions: Vec<intervention::Model>,
    pub all: Vec<discontinuity::Model>,
    /// judgment → its evidence quotations
    pub evidence: std::collections::HashMap<i64, Vec<i64>>,
    /// (cause, effect) links
    pub links: Vec<(i64, i64)>,
    /// evaluator id → name
    pub evaluators: std::collections::HashMap<i64, String>,
}

impl Judgments {
    pub async fn load(
        db: &DatabaseConnection,
        caller: &Caller,
        study_id: i64,
    ) -> ServiceResult<Self> {
        use entities::study_case;
        let study = crate::service::studies::readable_study(db, caller, study_id).await?;
        let cases = study_case::Entity::find()
            .filter(study_case::Column::StudyId.eq(study.id))
            .order_by_asc(study_case::Column::Id)
            .all(db)
            .await?;
        let case_ids: Vec<i64> = cases.iter().map(|c| c.id).collect();
        let interventions = intervention::Entity::find()
            .filter(intervention::Column::CaseId.is_in(case_ids.clone()))
            .order_by_asc(intervention::Column::Id)
            .all(db)
            .await?;
        let all = discontinuity::Entity::find()
            .filter(discontinuity::Column::CaseId.is_in(case_ids))
            .order_by_asc(discontinuity::Column::Id)
            .all(db)
            .await?;
        let ids: Vec<i64> = all.iter().map(|d| d.id).collect();
        let mut evidence: std::collections::HashMap<i64, Vec<i64>> = Default::default();
        for e in discontinuity_evidence::Entity::find()
            .filter(discontinuity_evidence::Column::DiscontinuityId.is_in(ids.clone()))
            .all(db)
            .await?
        {
            evidence
                .entry(e.discontinuity_id)
                .or_default()
                .push(e.quotation_id);
        }
        let links = discontinuity_cause::Entity::find()
            .filter(discontinuity_cause::Column::EffectId.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .map(|l| (l.cause_id, l.effect_id))
            .collect();
        let evaluators = entities::app_user::Entity::find()
            .filter(entities::app_user::Column::Id.is_in(all.iter().map(|d| d.evaluator_id)))
            .all(db)
            .await?
            .into_iter()
            .map(|u| (u.id, u.name))
            .collect();
        Ok(Self {
            cases,
            interventions,
            all,
            evidence,
            links,
            evaluators,
        })
    }
}

fn intensity_rank(s: &str) -> u32 {
    INTENSITIES.iter().position(|i| *i == s).unwrap_or(0) as u32
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    Case,
    Intervention,
}

#[derive(Debug, Clone)]
pub struct Cell {
    pub dimension: &'static str,
    pub consensus: Option<discontinuity::Model>,
    pub assessments: Vec<discontinuity::Model>,
}

#[derive(Debug, Clone)]
pub struct MatrixRow {
    pub case_id: i64,
    pub intervention_id: Option<i64>,
    pub cells: Vec<Cell>,
}

/// The matrix: one row per case (or per intervention), one cell per dimension. A case row
/// shows the case-level judgment if there is one, else the most intense judgment among its
/// interventions. With `evaluator`, assessments are that evaluator's only.
pub fn matrix(j: &Judgments, rows: Rows, evaluator: Option<i64>) -> Vec<MatrixRow> {
    let keys: Vec<(i64, Option<i64>)> = match rows {
        Rows::Case => j.cases.iter().map(|c| (c.id, None)).collect(),
        Rows::Intervention => j
            .interventions
            .iter()
            .map(|i| (i.case_id, Some(i.id)))
            .collect(),
    };
    keys.into_iter()
        .map(|(case_id, intervention_id)| {
            let cells = DIMENSIONS
                .iter()
                .map(|&dimension| {
                    let here: Vec<&discontinuity::Model> = j
                        .all
                        .iter()
                        .filter(|d| d.case_id == case_id && d.dimension == dimension)
                        .filter(|d| rows == Rows::Case || d.intervention_id == intervention_id)
                        .collect();
                    let pick = |consensus: bool| -> Vec<&discontinuity::Model> {
                        let mine: Vec<&discontinuity::Model> = here
                            .iter()
                            .copied()
                            .filter(|d| d.is_consensus == consensus)
                            .collect();
                        match (rows, mine.iter().find(|d| d.intervention_id.is_none())) {
                            (Rows::Case, Some(whole_case)) if consensus => vec![*whole_case],
                            _ => mine,
                        }
                    };
                    let consensus = pick(true)
                        .into_iter()
                        .max_by_key(|d| (intensity_rank(&d.intensity), std::cmp::Reverse(d.id)))
                        .cloned();
                    let assessments = pick(false)
                        .into_iter()
                        .filter(|d| evaluator.is_none_or(|e| d.evaluator_id == e))
                        .cloned()
                        .collect();
                    Cell {
                        dimension,
                        consensus,
                        assessments,
                    }
                })
                .collect();
            MatrixRow {
                case_id,
                intervention_id,
                cells,
            }
        })
        .collect()
}

/// Agreement among evaluators (consensus judgments excluded) on intensity, per unit = case ×
/// intervention × dimension; optionally one dimension only.
pub fn agreement(
    j: &Judgments,
    dimension: Option<&str>,
    level: crate::service::agreement::Level,
) -> (crate::service::agreement::Agreement, usize) {
    use std::collections::BTreeMap;
    let judged: Vec<&discontinuity::Model> = j
        .all
        .iter()
        .filter(|d| !d.is_consensus && dimension.is_none_or(|dim| d.dimension == dim))
        .collect();
    let mut evaluators: Vec<i64> = judged.iter().map(|d| d.evaluator_id).collect();
    evaluators.sort_unstable();
    evaluators.dedup();
    let mut units: BTreeMap<(i64, i64, &str), Vec<Option<u32>>> = BTreeMap::new();
    for d in &judged {
        let unit = units
            .entry((d.case_id, d.intervention_key, d.dimension.as_str()))
            .or_insert_with(|| vec![None; evaluators.len()]);
        let slot = evaluators.binary_search(&d.evaluator_id).expect("listed");
        unit[slot] = Some(intensity_rank(&d.intensity));
    }
    let units: Vec<Vec<Option<u32>>> = units.into_values().collect();
    let stats = crate::service::agreement::agreement(&units, evaluators.len(), level);
    // Count the evaluators who judged a pairable unit.
    let active = (0..evaluators.len())
        .filter(|&e| {
            units
                .iter()
                .any(|u| u[e].is_some() && u.iter().flatten().count() >= 2)
        })
        .count();
    (stats, active)
}

/// The cascade of a case: (cause, effect) links among its consensus judgments, or among one
/// evaluator's.
pub fn cascade(
    j: &Judgments,
    case_id: i64,
    evaluator: Option<i64>,
) -> Vec<(discontinuity::Model, discontinuity::Model)> {
    let mine = |id: i64| {
        j.all.iter().find(|d| {
            d.id == id
                && d.case_id == case_id
                && match evaluator {
                    None => d.is_consensus,
                    Some(e) => !d.is_consensus && d.evaluator_id == e,
                }
        })
    };
    j.links
        .iter()
        .filter_map(|&(c, e)| Some((mine(c)?.clone(), mine(e)?.clone())))
        .collect()
}

/// For each dimension and kind, the (consensus) judgments above NONE: the cross-case view.
pub fn comparison(
    j: &Judgments,
    evaluator: Option<i64>,
) -> Vec<(&'static str, Option<String>, Vec<discontinuity::Model>)> {
    let mut out = Vec::new();
    for &dimension in DIMENSIONS {
        let present: Vec<&discontinuity::Model> = j
            .all
            .iter()
            .filter(|d| d.dimension == dimension && d.intensity != "NONE")
            .filter(|d| match evaluator {
                None => d.is_consensus,
                Some(e) => !d.is_consensus && d.evaluator_id == e,
            })
            .collect();
        let mut kinds: Vec<Option<String>> = present.iter().map(|d| d.kind.clone()).collect();
        kinds.sort();
        kinds.dedup();
        for kind in kinds {
            let group = present
                .iter()
                .filter(|d| d.kind == kind)
                .map(|d| (*d).clone())
                .collect();
            out.push((dimension, kind, group));
        }
    }
    out
}
