//! Policy-change discontinuities: one judgment per evaluator (or the consensus) per case,
//! intervention and dimension, with evidence quotations and cascade links.

use chrono::Utc;
use entities::{
    discontinuity, discontinuity_cause, discontinuity_evidence, intervention, interview, quotation,
    retired_judgment, study, study_case,
};
use sea_orm::sea_query::{Expr, LockType, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use serde_json::json;
use std::collections::{HashMap, HashSet};

use crate::auth::{Caller, Permission};
use crate::db::{begin_write, Writable};
use crate::error::{is_unique_violation, or_stale, ServiceError, ServiceResult, CONCURRENT_CHANGE};
use crate::service::analysis::cases_of_study;
use crate::service::labels::exportable;
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

/// A whole judgment, as the demo data states it: every field given.
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
    /// The version the caller read: CONFLICT when the judgment has moved on since. Without
    /// it the tag replaces the cell's judgment, if there is one.
    pub expected_version: Option<i32>,
}

/// A tag as a client sends it. `None` leaves that field of an existing judgment as it is
/// (a new judgment starts without it); `Some(None)` or `Some(vec![])` clears it.
#[derive(Debug, Clone, Default)]
pub struct TagEdit {
    pub case_id: i64,
    pub intervention_id: Option<i64>,
    pub dimension: String,
    pub intensity: String,
    pub kind: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub covid_effect: Option<Option<String>>,
    pub evidence_quotation_ids: Option<Vec<i64>>,
    pub cause_ids: Option<Vec<i64>>,
    pub consensus: bool,
    /// As `Tag::expected_version`.
    pub expected_version: Option<i32>,
}

impl From<Tag> for TagEdit {
    fn from(t: Tag) -> Self {
        Self {
            case_id: t.case_id,
            intervention_id: t.intervention_id,
            dimension: t.dimension,
            intensity: t.intensity,
            kind: Some(t.kind),
            description: Some(t.description),
            covid_effect: Some(t.covid_effect),
            evidence_quotation_ids: Some(t.evidence_quotation_ids),
            cause_ids: Some(t.cause_ids),
            consensus: t.consensus,
            expected_version: t.expected_version,
        }
    }
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

fn sorted(ids: &[i64]) -> Vec<i64> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Whether the caller may read all these cases' studies. Only then may a refusal say that
/// an object lies elsewhere: for a study the caller cannot read that would confirm that the
/// object exists, so it gets the answer a missing one gets.
async fn all_readable<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    case_ids: &[i64],
) -> ServiceResult<bool> {
    let study_ids = sorted(
        &study_case::Entity::find()
            .filter(study_case::Column::Id.is_in(case_ids.iter().copied()))
            .all(db)
            .await?
            .into_iter()
            .map(|c| c.study_id)
            .collect::<Vec<i64>>(),
    );
    let studies = study::Entity::find()
        .filter(study::Column::Id.is_in(study_ids.iter().copied()))
        .all(db)
        .await?;
    Ok(studies.len() == study_ids.len()
        && studies.iter().all(|s| caller.can_read(s.id, s.is_public)))
}

/// Records (or updates) the caller's judgment, or the consensus when `consensus` is set.
pub async fn tag(
    db: &impl Writable,
    caller: &Caller,
    input: Tag,
) -> ServiceResult<discontinuity::Model> {
    tag_edit(db, caller, input.into()).await
}

/// Records the caller's judgment (or the consensus), or changes the cell's existing one:
/// what `input` leaves out keeps its value.
pub async fn tag_edit(
    db: &impl Writable,
    caller: &Caller,
    input: TagEdit,
) -> ServiceResult<discontinuity::Model> {
    one_of(&input.dimension, DIMENSIONS, "dimension")?;
    one_of(&input.intensity, INTENSITIES, "intensity")?;
    if let Some(Some(k)) = &input.kind {
        one_of(k, KINDS, "kind")?;
    }
    if let Some(Some(c)) = &input.covid_effect {
        one_of(c, COVID_EFFECTS, "Covid effect")?;
    }
    if let Some(saved) = tag_once(db, caller, &input).await? {
        return Ok(saved);
    }
    // Another request recorded the cell's first judgment meanwhile. Without a version the
    // caller asked to replace whatever is there, so try again: the judgment is found now.
    if input.expected_version.is_none() {
        if let Some(saved) = tag_once(db, caller, &input).await? {
            return Ok(saved);
        }
    }
    Err(ServiceError::Conflict(
        "a judgment for this cell was just recorded: reload it and retry".into(),
    ))
}

/// One attempt in one transaction; `None` when a concurrent request inserted the cell's
/// first judgment before this one could (PostgreSQL). The steps lock the case row when the
/// tag gives causes (`lock_cascades`), then what the judgment refers to (intervention,
/// evidence, causes) before the judgment's own row, the order in which the deletions of
/// those lock them (each step says why): keep the steps in order.
async fn tag_once(
    db: &impl Writable,
    caller: &Caller,
    input: &TagEdit,
) -> ServiceResult<Option<discontinuity::Model>> {
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
    let causes = input.cause_ids.as_deref().map(sorted);
    if causes.as_ref().is_some_and(|c| !c.is_empty()) {
        lock_cascades(&txn, case.id).await?;
    }
    if let Some(iid) = input.intervention_id {
        check_intervention(&txn, caller, iid, case.id).await?;
    }
    let evidence = input.evidence_quotation_ids.as_deref().map(sorted);
    if let Some(evidence) = evidence.as_ref().filter(|e| !e.is_empty()) {
        check_evidence(&txn, caller, evidence, case.id).await?;
    }
    let slot = if input.consensus { 0 } else { user.id };
    if let Some(causes) = causes.as_ref().filter(|c| !c.is_empty()) {
        check_causes(&txn, caller, input, causes, case.id, slot).await?;
    }
    let links = Links {
        evidence: evidence.as_deref(),
        causes: causes.as_deref(),
    };
    let Some(saved) = save_judgment(&txn, input, links, case.id, user.id, slot).await? else {
        return Ok(None);
    };
    if saved.unchanged {
        // Nothing to write, nor to audit: the version stays, so that an owner saving the
        // consensus as it is does not make another's pending edit of it stale.
        return Ok(Some(saved.judgment));
    }
    replace_links(&txn, &saved, evidence.as_deref(), causes.as_deref()).await?;
    audit_tag(&txn, caller, study.id, &saved, evidence, causes).await?;
    txn.commit().await?;
    Ok(Some(saved.judgment))
}

/// Makes the tags that link a case's judgments take turns, until commit: each checks for a
/// circle (`leads_back`) against the links the one before committed. Two at once could
/// otherwise each add half of a circle, neither seeing the other's link. The case row is
/// locked first, as `delete_case` and `update_case` lock it, and not exclusively: the
/// key-share locks of the rows naming the case (their foreign keys) pass, so tags without
/// causes, and writes of interviews, quotations and memos in the case, do not wait for it
/// (a change of the case itself does). SQLite runs one writer at a time anyway.
async fn lock_cascades<C: ConnectionTrait>(txn: &C, case_id: i64) -> ServiceResult<()> {
    study_case::Entity::find_by_id(case_id)
        .lock(LockType::NoKeyUpdate)
        .one(txn)
        .await?;
    Ok(())
}

/// The intervention a judgment names is one of its case's, and stays there until the
/// judgment is committed. One of another case the caller can read is BAD_INPUT; any other
/// is NOT_FOUND, so that a refusal does not confirm what the caller may not see.
async fn check_intervention<C: ConnectionTrait>(
    txn: &C,
    caller: &Caller,
    intervention_id: i64,
    case_id: i64,
) -> ServiceResult<()> {
    // Key-share locked, the lock a judgment's foreign key takes anyway, but taken now: a
    // deletion of the intervention (which locks it for update, then counts its
    // judgments) waits for this judgment and refuses, or this waits for the deletion
    // and finds the intervention gone (NOT_FOUND, not a foreign key error).
    match intervention::Entity::find_by_id(intervention_id)
        .lock(LockType::KeyShare)
        .one(txn)
        .await?
    {
        Some(i) if i.case_id == case_id => Ok(()),
        Some(i) if all_readable(txn, caller, &[i.case_id]).await? => Err(ServiceError::bad_input(
            "the intervention belongs to another case",
        )),
        _ => Err(ServiceError::not_found("intervention")),
    }
}

/// Evidence must come from interviews of this case: every quotation of `evidence` (sorted,
/// without repeats) exists and stays until the judgment is committed.
async fn check_evidence<C: ConnectionTrait>(
    txn: &C,
    caller: &Caller,
    evidence: &[i64],
    case_id: i64,
) -> ServiceResult<()> {
    // Key-share locked: a deletion of one of them (which locks it for update) waits
    // for this judgment and withdraws the evidence, or this waits for it and finds the
    // quotation gone.
    // By id, the order a transcript edit locks an interview's quotations in.
    let quotes = quotation::Entity::find()
        .filter(quotation::Column::Id.is_in(evidence.iter().copied()))
        .order_by_asc(quotation::Column::Id)
        .lock(LockType::KeyShare)
        .all(txn)
        .await?;
    if quotes.len() != evidence.len() {
        return Err(ServiceError::not_found("evidence quotation"));
    }
    let interview_ids: Vec<i64> = quotes.iter().map(|q| q.interview_id).collect();
    let elsewhere: Vec<i64> = interview::Entity::find()
        .filter(interview::Column::Id.is_in(interview_ids))
        .all(txn)
        .await?
        .into_iter()
        .map(|i| i.case_id)
        .filter(|&c| c != case_id)
        .collect();
    if !elsewhere.is_empty() {
        return Err(if all_readable(txn, caller, &elsewhere).await? {
            ServiceError::bad_input("evidence must be quotations from interviews of this case")
        } else {
            ServiceError::not_found("evidence quotation")
        });
    }
    Ok(())
}

/// Every cause of `causes` (sorted, without repeats) exists and stays until the judgment is
/// committed, and lies in the judgment's cascade: the same case, the same judge (`slot`),
/// another dimension.
async fn check_causes<C: ConnectionTrait>(
    txn: &C,
    caller: &Caller,
    input: &TagEdit,
    causes: &[i64],
    case_id: i64,
    slot: i64,
) -> ServiceResult<()> {
    // Key-share locked until commit (the lock the links' foreign key takes anyway), and
    // before the judgment's own row: a deletion of a cause (`delete_discontinuity`)
    // locks it for update, then reads who cites it and locks those. So it waits for
    // this judgment and then takes the new link away with a new version, or this waits
    // for it and finds the cause gone; taken in that order, neither holds what the
    // other waits for.
    let found = discontinuity::Entity::find()
        .filter(discontinuity::Column::Id.is_in(causes.iter().copied()))
        .lock(LockType::KeyShare)
        .all(txn)
        .await?;
    if found.len() != causes.len() {
        return Err(ServiceError::not_found("cause discontinuity"));
    }
    let elsewhere: Vec<i64> = found
        .iter()
        .map(|c| c.case_id)
        .filter(|&c| c != case_id)
        .collect();
    if !elsewhere.is_empty() {
        return Err(if all_readable(txn, caller, &elsewhere).await? {
            ServiceError::bad_input("a cascade link must stay within the same case")
        } else {
            ServiceError::not_found("cause discontinuity")
        });
    }
    for c in &found {
        // Each evaluator's cascade, and the consensus one, is read from its own
        // judgments only: a link to another judge's would show in none of them.
        if c.is_consensus != input.consensus || c.evaluator_slot != slot {
            return Err(ServiceError::bad_input(if input.consensus {
                "a consensus judgment can only follow from consensus judgments"
            } else {
                "a judgment can only follow from judgments of the same evaluator"
            }));
        }
        // The cell's own judgment is of this dimension too.
        if c.dimension == input.dimension {
            return Err(ServiceError::bad_input(
                "a discontinuity cannot follow from itself or its own dimension",
            ));
        }
    }
    if let Some(dimension) = leads_back(txn, causes, case_id, slot, input).await? {
        return Err(ServiceError::bad_input(format!(
            "the cascade would go round in a circle: the {dimension} judgment given as a \
             cause already follows (directly or through others) from this {} judgment",
            input.dimension
        )));
    }
    Ok(())
}

/// The dimension of a cause being added that already follows, directly or through others,
/// from the judgment being saved: the link would make the judgment follow from itself. Only
/// judgments are followed, not dimensions: across a case's interventions a change of actors
/// may lead to a new theory in one and a new theory to new actors in another, which the
/// cascade picture draws as two arrows. A new judgment has nothing following from it yet.
/// Only causes the judgment does not have yet are checked, so that one in a circle stored
/// before this rule can still be saved. Tags with causes take turns (`lock_cascades`), so
/// the links read here are all those committed.
async fn leads_back<C: ConnectionTrait>(
    txn: &C,
    causes: &[i64],
    case_id: i64,
    slot: i64,
    input: &TagEdit,
) -> ServiceResult<Option<String>> {
    // The judge's judgments of the case, and the links among them: causes are always the
    // same judge's and of the same case (checked above), so the walk stays among them.
    let judgments: Vec<(i64, String, i64)> = discontinuity::Entity::find()
        .select_only()
        .column(discontinuity::Column::Id)
        .column(discontinuity::Column::Dimension)
        .column(discontinuity::Column::InterventionKey)
        .filter(discontinuity::Column::CaseId.eq(case_id))
        .filter(discontinuity::Column::EvaluatorSlot.eq(slot))
        .filter(discontinuity::Column::IsConsensus.eq(input.consensus))
        .into_tuple()
        .all(txn)
        .await?;
    let Some(own) = judgments
        .iter()
        .find(|(_, d, key)| *d == input.dimension && *key == input.intervention_id.unwrap_or(0))
        .map(|(id, ..)| *id)
    else {
        return Ok(None);
    };
    let mut causes_of: HashMap<i64, Vec<i64>> = HashMap::new();
    for link in discontinuity_cause::Entity::find()
        .filter(discontinuity_cause::Column::EffectId.is_in(judgments.iter().map(|j| j.0)))
        .all(txn)
        .await?
    {
        causes_of
            .entry(link.effect_id)
            .or_default()
            .push(link.cause_id);
    }
    let had: HashSet<i64> = causes_of.get(&own).into_iter().flatten().copied().collect();
    for &start in causes.iter().filter(|c| !had.contains(c)) {
        let mut seen = HashSet::from([start]);
        let mut next = vec![start];
        while let Some(j) = next.pop() {
            if j == own {
                let dimension = judgments.iter().find(|(id, ..)| *id == start);
                return Ok(dimension.map(|(_, d, _)| d.clone()));
            }
            for &c in causes_of.get(&j).into_iter().flatten() {
                if seen.insert(c) {
                    next.push(c);
                }
            }
        }
    }
    Ok(None)
}

/// A judgment as `save_judgment` left it, with what the audit and the links need of the
/// one it replaced.
struct Saved {
    judgment: discontinuity::Model,
    /// The replaced judgment's fields, links included, for the audit; `None` when the
    /// judgment is the cell's first.
    before: Option<serde_json::Value>,
    /// The replaced judgment's evidence and causes (empty for a first judgment): what the
    /// judgment keeps where the input leaves them out.
    had_evidence: Vec<i64>,
    had_causes: Vec<i64>,
    /// The input gave the judgment as it was: nothing was written.
    unchanged: bool,
}

/// The evidence and causes a tag gives (sorted, without repeats), where it gives them.
#[derive(Clone, Copy)]
struct Links<'a> {
    evidence: Option<&'a [i64]>,
    causes: Option<&'a [i64]>,
}

/// Saves the cell's judgment: over the one already there, or as the cell's first. `None`
/// when a concurrent request recorded the cell's first judgment meanwhile (PostgreSQL).
async fn save_judgment<C: ConnectionTrait>(
    txn: &C,
    input: &TagEdit,
    links: Links<'_>,
    case_id: i64,
    user_id: i64,
    slot: i64,
) -> ServiceResult<Option<Saved>> {
    let intervention_key = input.intervention_id.unwrap_or(0);
    // Locked (PostgreSQL) so that requests replacing the same judgment take turns.
    let existing = discontinuity::Entity::find()
        .filter(discontinuity::Column::CaseId.eq(case_id))
        .filter(discontinuity::Column::InterventionKey.eq(intervention_key))
        .filter(discontinuity::Column::Dimension.eq(input.dimension.clone()))
        .filter(discontinuity::Column::EvaluatorSlot.eq(slot))
        .lock_exclusive()
        .one(txn)
        .await?;
    let now = Utc::now();
    match existing {
        Some(e) => update_judgment(txn, input, links, e, user_id, now)
            .await
            .map(Some),
        None => {
            let first = first_judgment(txn, input, case_id, user_id, slot, now).await?;
            Ok(first.map(|judgment| Saved {
                judgment,
                before: None,
                had_evidence: Vec::new(),
                had_causes: Vec::new(),
                unchanged: false,
            }))
        }
    }
}

/// Changes the cell's judgment `e`, locked by the caller, to what `input` gives, as its
/// next version; CONFLICT when the input expected another version. Its links are left to
/// `replace_links`.
async fn update_judgment<C: ConnectionTrait>(
    txn: &C,
    input: &TagEdit,
    links: Links<'_>,
    e: discontinuity::Model,
    user_id: i64,
    now: chrono::DateTime<Utc>,
) -> ServiceResult<Saved> {
    if let Some(v) = input.expected_version.filter(|&v| v != e.version) {
        return Err(ServiceError::stale("judgment", e.version, v));
    }
    let (had_evidence, had_causes) = links_of(txn, e.id).await?;
    let unchanged = input.intensity == e.intensity
        && input.kind.as_ref().is_none_or(|k| *k == e.kind)
        && input
            .description
            .as_ref()
            .is_none_or(|d| *d == e.description)
        && input
            .covid_effect
            .as_ref()
            .is_none_or(|c| *c == e.covid_effect)
        && links.evidence.is_none_or(|l| l == had_evidence)
        && links.causes.is_none_or(|l| l == had_causes);
    if unchanged {
        return Ok(Saved {
            judgment: e,
            before: None,
            had_evidence,
            had_causes,
            unchanged,
        });
    }
    let mut a: discontinuity::ActiveModel = e.clone().into();
    a.intensity = Set(input.intensity.clone());
    if let Some(kind) = &input.kind {
        a.kind = Set(kind.clone());
    }
    if let Some(description) = &input.description {
        // Checked only when it changes: one stored before the check, sent back as it is,
        // does not stop a new intensity.
        if let Some(text) = description
            .as_ref()
            .filter(|_| *description != e.description)
        {
            exportable(text, "the description")?;
        }
        a.description = Set(description.clone());
    }
    if let Some(covid_effect) = &input.covid_effect {
        a.covid_effect = Set(covid_effect.clone());
    }
    a.version = Set(e.version + 1);
    a.updated_at = Set(now);
    a.evaluator_id = Set(user_id);
    // The row is locked, so the version still holds; the condition keeps an update
    // from ever landing on a version it did not read.
    let updated = discontinuity::Entity::update(a)
        .validate()?
        .filter(discontinuity::Column::Version.eq(e.version))
        .exec(txn)
        .await
        .map_err(|err| {
            or_stale(err, || {
                ServiceError::stale("judgment", e.version + 1, e.version)
            })
        })?;
    let before = json!({
        "intensity": e.intensity, "kind": e.kind, "covid_effect": e.covid_effect,
        "version": e.version, "evidence": had_evidence, "causes": had_causes,
    });
    Ok(Saved {
        judgment: updated,
        before: Some(before),
        had_evidence,
        had_causes,
        unchanged: false,
    })
}

/// A judgment's evidence quotations and causes, each in id order.
async fn links_of<C: ConnectionTrait>(txn: &C, id: i64) -> ServiceResult<(Vec<i64>, Vec<i64>)> {
    let evidence = sorted(
        &discontinuity_evidence::Entity::find()
            .filter(discontinuity_evidence::Column::DiscontinuityId.eq(id))
            .all(txn)
            .await?
            .into_iter()
            .map(|l| l.quotation_id)
            .collect::<Vec<i64>>(),
    );
    let causes = sorted(
        &discontinuity_cause::Entity::find()
            .filter(discontinuity_cause::Column::EffectId.eq(id))
            .all(txn)
            .await?
            .into_iter()
            .map(|l| l.cause_id)
            .collect::<Vec<i64>>(),
    );
    Ok((evidence, causes))
}

/// Records the cell's first judgment, at version 1. CONFLICT when the input expected a
/// version (the judgment it read has been deleted since); `None` when a concurrent request
/// recorded the first judgment meanwhile (PostgreSQL).
async fn first_judgment<C: ConnectionTrait>(
    txn: &C,
    input: &TagEdit,
    case_id: i64,
    user_id: i64,
    slot: i64,
    now: chrono::DateTime<Utc>,
) -> ServiceResult<Option<discontinuity::Model>> {
    // A version was read, so there was a judgment here: it has been deleted since
    // (`delete_discontinuity`). Saving would bring it back unseen, as a new one.
    if let Some(v) = input.expected_version {
        return Err(ServiceError::Conflict(format!(
            "this cell holds no judgment to be at version {v} (deleted since, \
             or never made): reload, and tag it without `expectedVersion` to make one"
        )));
    }
    if let Some(Some(text)) = &input.description {
        exportable(text, "the description")?;
    }
    let retired = retired_judgment::Entity::find_by_id((
        case_id,
        input.intervention_id.unwrap_or(0),
        input.dimension.clone(),
        slot,
    ))
    .one(txn)
    .await?
    .map_or(0, |r| r.last_version);
    let inserted = discontinuity::ActiveModel {
        case_id: Set(case_id),
        intervention_id: Set(input.intervention_id),
        intervention_key: Set(input.intervention_id.unwrap_or(0)),
        dimension: Set(input.dimension.clone()),
        intensity: Set(input.intensity.clone()),
        kind: Set(input.kind.clone().flatten()),
        description: Set(input.description.clone().flatten()),
        covid_effect: Set(input.covid_effect.clone().flatten()),
        evaluator_id: Set(user_id),
        evaluator_slot: Set(slot),
        is_consensus: Set(input.consensus),
        version: Set(retired + 1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await;
    match inserted {
        Ok(m) => Ok(Some(m)),
        // The same cell's first judgment, made at the same time (PostgreSQL).
        Err(e) if is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Records the version a judgment had when it was deleted, for the next judgment of its cell
/// to start above (`first_judgment`). Versions in a cell only grow, so the newest deletion
/// always holds the highest.
async fn retire_version<C: ConnectionTrait>(
    txn: &C,
    deleted: &discontinuity::Model,
) -> ServiceResult<()> {
    use retired_judgment::Column as R;
    retired_judgment::Entity::insert(retired_judgment::ActiveModel {
        case_id: Set(deleted.case_id),
        intervention_key: Set(deleted.intervention_key),
        dimension: Set(deleted.dimension.clone()),
        evaluator_slot: Set(deleted.evaluator_slot),
        last_version: Set(deleted.version),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::columns([
            R::CaseId,
            R::InterventionKey,
            R::Dimension,
            R::EvaluatorSlot,
        ])
        .update_column(R::LastVersion)
        .to_owned(),
    )
    .exec(txn)
    .await?;
    Ok(())
}

/// The judgment's evidence and causes become exactly those the input gives, where it gives
/// them (`Some`, empty clearing them); where it gives none, a replaced judgment keeps its
/// own. All old links go before any new one is written.
async fn replace_links<C: ConnectionTrait>(
    txn: &C,
    saved: &Saved,
    evidence: Option<&[i64]>,
    causes: Option<&[i64]>,
) -> ServiceResult<()> {
    let id = saved.judgment.id;
    // A first judgment has no links to take away.
    if saved.before.is_some() {
        if evidence.is_some() {
            discontinuity_evidence::Entity::delete_many()
                .filter(discontinuity_evidence::Column::DiscontinuityId.eq(id))
                .exec(txn)
                .await?;
        }
        if causes.is_some() {
            discontinuity_cause::Entity::delete_many()
                .filter(discontinuity_cause::Column::EffectId.eq(id))
                .exec(txn)
                .await?;
        }
    }
    for &qid in evidence.unwrap_or_default() {
        discontinuity_evidence::ActiveModel {
            discontinuity_id: Set(id),
            quotation_id: Set(qid),
            ..Default::default()
        }
        .insert(txn)
        .await?;
    }
    for &cid in causes.unwrap_or_default() {
        discontinuity_cause::ActiveModel {
            effect_id: Set(id),
            cause_id: Set(cid),
            ..Default::default()
        }
        .insert(txn)
        .await?;
    }
    Ok(())
}

/// One audit entry for the tag: the judgment as saved, with the links it holds now, and
/// what it replaced, if anything, so that the log alone tells how the cell changed.
async fn audit_tag<C: ConnectionTrait>(
    txn: &C,
    caller: &Caller,
    study_id: i64,
    saved: &Saved,
    evidence: Option<Vec<i64>>,
    causes: Option<Vec<i64>>,
) -> ServiceResult<()> {
    let j = &saved.judgment;
    let mut summary = json!({"after": {
        "case": j.case_id, "intervention": j.intervention_id, "dimension": j.dimension,
        "intensity": j.intensity, "kind": j.kind, "covid_effect": j.covid_effect,
        "consensus": j.is_consensus, "version": j.version,
        "evidence": evidence.as_ref().unwrap_or(&saved.had_evidence),
        "causes": causes.as_ref().unwrap_or(&saved.had_causes),
    }});
    if let Some(before) = &saved.before {
        summary["before"] = before.clone();
    }
    crate::service::audit::record(
        txn,
        caller,
        "tagDiscontinuity",
        "discontinuity",
        j.id,
        Some(study_id),
        summary,
    )
    .await
}

/// Moves a judgment that another write changed (evidence or a cause deleted with what it
/// named) on to its next version, and logs `summary` about it under `operation`, the
/// mutation that made the change: an evaluator still holding the old version then gets
/// CONFLICT instead of saving over what is gone. The caller holds the judgment's row lock
/// (NO KEY UPDATE at least), so the version read is the one written over; the condition on
/// it keeps the update from ever landing on another.
pub(crate) async fn bump_judgment<C: ConnectionTrait>(
    txn: &C,
    caller: &Caller,
    operation: &str,
    study_id: i64,
    judgment: &discontinuity::Model,
    now: chrono::DateTime<Utc>,
    summary: serde_json::Value,
) -> ServiceResult<()> {
    let bumped = discontinuity::Entity::update_many()
        .col_expr(
            discontinuity::Column::Version,
            Expr::value(judgment.version + 1),
        )
        .col_expr(discontinuity::Column::UpdatedAt, Expr::value(now))
        .filter(discontinuity::Column::Id.eq(judgment.id))
        .filter(discontinuity::Column::Version.eq(judgment.version))
        .exec(txn)
        .await?;
    if bumped.rows_affected != 1 {
        return Err(ServiceError::Conflict(CONCURRENT_CHANGE.to_owned()));
    }
    crate::service::audit::record(
        txn,
        caller,
        operation,
        "discontinuity",
        judgment.id,
        Some(study_id),
        summary,
    )
    .await
}

/// The judgments that name `id` as a cause, in id order.
async fn citing<C: ConnectionTrait>(txn: &C, id: i64) -> ServiceResult<Vec<i64>> {
    Ok(sorted(
        &discontinuity_cause::Entity::find()
            .select_only()
            .column(discontinuity_cause::Column::EffectId)
            .filter(discontinuity_cause::Column::CauseId.eq(id))
            .into_tuple::<i64>()
            .all(txn)
            .await?,
    ))
}

/// Deletes (withdraws) a judgment: an evaluator her own, a study owner or an admin any,
/// the consensus included. `version` is the judgment's (CONFLICT when stale). Its evidence
/// rows and its cause links go with it; the judgments that named it as a cause lose that
/// link, and each moves on to a new version with an audit entry, as a judgment losing its
/// evidence to a deleted quotation does (`quotations::withdraw_evidence`). The judgments it
/// followed from are not changed: a judgment's version covers its own causes, not who
/// cites it.
pub async fn delete_discontinuity(
    db: &impl Writable,
    caller: &Caller,
    id: i64,
    version: i32,
) -> ServiceResult<()> {
    let user = caller.require_user()?.clone();
    let txn = begin_write(db).await?;
    let seen = discontinuity::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| ServiceError::not_found("discontinuity"))?;
    let (_case, study) = readable_case(&txn, caller, seen.case_id)
        .await
        .map_err(|e| e.hidden_as("discontinuity"))?;
    // Whose judgment it is never changes (case, cell and evaluator slot are fixed when it
    // is first made), so the row read without a lock decides who may delete it.
    let own = !seen.is_consensus && seen.evaluator_slot == user.id;
    caller
        .authorize(
            study.id,
            study.is_public,
            if own {
                Permission::Evaluate
            } else {
                Permission::Own
            },
        )
        .map_err(|e| match e {
            ServiceError::Forbidden(_) if !own && caller.role_in(study.id).is_some() => {
                ServiceError::Forbidden(
                    "only its evaluator, a study owner or an admin can delete this judgment".into(),
                )
            }
            other => other,
        })?;
    // FOR UPDATE (the lock its deletion takes anyway) before reading who cites it: a tag
    // naming it as a cause holds a key-share lock on it until it commits (`tag_once`),
    // which this waits for and then excludes. A link made before is read below and taken
    // away with a new version for its judgment; a tag coming after finds the cause gone.
    // Read afterwards, a link committed meanwhile went with the judgment (ON DELETE
    // CASCADE) unseen, and the judgment citing it kept its version.
    let current = discontinuity::Entity::find_by_id(id)
        .lock(LockType::Update)
        .one(&txn)
        .await?
        .ok_or_else(|| ServiceError::not_found("discontinuity"))?;
    if current.version != version {
        return Err(ServiceError::stale("judgment", current.version, version));
    }
    let effects = citing(&txn, id).await?;
    // Then those, in id order and NO KEY UPDATE, as `withdraw_evidence` locks the judgments
    // it changes: a tag changing one of them locks it exclusively, and waits for this or is
    // waited for, so the version read is the one written over; a tag naming one of them as
    // its cause (a key-share lock) is not held up. (A quotation deletion withdrawing the
    // evidence of both this judgment and a citing one of lower id, at the same moment,
    // locks them the other way round: PostgreSQL breaks that deadlock and answers one of
    // the two CONFLICT, to retry.)
    let citing_judgments = discontinuity::Entity::find()
        .filter(discontinuity::Column::Id.is_in(effects.iter().copied()))
        .order_by_asc(discontinuity::Column::Id)
        .lock(LockType::NoKeyUpdate)
        .all(&txn)
        .await?;
    let evidence = sorted(
        &discontinuity_evidence::Entity::find()
            .select_only()
            .column(discontinuity_evidence::Column::QuotationId)
            .filter(discontinuity_evidence::Column::DiscontinuityId.eq(id))
            .into_tuple::<i64>()
            .all(&txn)
            .await?,
    );
    let mut causes_of: std::collections::HashMap<i64, Vec<i64>> = Default::default();
    for l in discontinuity_cause::Entity::find()
        .filter(
            discontinuity_cause::Column::EffectId
                .is_in(effects.iter().copied().chain(std::iter::once(id))),
        )
        .order_by_asc(discontinuity_cause::Column::CauseId)
        .all(&txn)
        .await?
    {
        causes_of.entry(l.effect_id).or_default().push(l.cause_id);
    }
    let now = Utc::now();
    for j in &citing_judgments {
        let before = causes_of.remove(&j.id).unwrap_or_default();
        // A tag that dropped this cause after it was read as citing it, and committed
        // while the lock above waited, left nothing to take away: its version stands.
        if !before.contains(&id) {
            continue;
        }
        let after: Vec<i64> = before.iter().copied().filter(|&c| c != id).collect();
        bump_judgment(
            &txn,
            caller,
            "deleteDiscontinuity",
            study.id,
            j,
            now,
            json!({
                "before": {"version": j.version, "causes": before},
                "after": {"version": j.version + 1, "causes": after},
                "consensus": j.is_consensus,
                "evaluator": j.evaluator_id,
                "causeDeleted": id,
            }),
        )
        .await?;
    }
    discontinuity_evidence::Entity::delete_many()
        .filter(discontinuity_evidence::Column::DiscontinuityId.eq(id))
        .exec(&txn)
        .await?;
    discontinuity_cause::Entity::delete_many()
        .filter(
            sea_orm::sea_query::Condition::any()
                .add(discontinuity_cause::Column::EffectId.eq(id))
                .add(discontinuity_cause::Column::CauseId.eq(id)),
        )
        .exec(&txn)
        .await?;
    discontinuity::Entity::delete_by_id(id).exec(&txn).await?;
    retire_version(&txn, &current).await?;
    crate::service::audit::record(
        &txn,
        caller,
        "deleteDiscontinuity",
        "discontinuity",
        id,
        Some(study.id),
        json!({
            "before": {
                "case": current.case_id, "intervention": current.intervention_id,
                "dimension": current.dimension, "intensity": current.intensity,
                "kind": current.kind, "covid_effect": current.covid_effect,
                "evaluator": current.evaluator_id, "consensus": current.is_consensus,
                "version": current.version, "evidence": evidence,
                "causes": causes_of.remove(&id).unwrap_or_default(),
            },
            "effects": effects,
        }),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Deletes an intervention no judgment is about (CONFLICT while some are: each is deleted
/// first, with `delete_discontinuity`). Memos cannot be written on interventions, so none
/// go with it. Owners and admins.
pub async fn delete_intervention(
    db: &impl Writable,
    caller: &Caller,
    id: i64,
) -> ServiceResult<()> {
    // No write lock, row lock or answer about the intervention for a caller who may write
    // nothing.
    caller.require_user()?;
    let txn = begin_write(db).await?;
    // FOR UPDATE before counting: a judgment made about it holds a key-share lock on it
    // until it commits (`tag_once`), which this waits for and then excludes. One made before
    // is counted below; one made after finds the intervention gone. Without the lock the
    // foreign key's ON DELETE SET NULL turned a judgment made meanwhile into one about no
    // intervention, still filed under this one's cell.
    let i = intervention::Entity::find_by_id(id)
        .lock(LockType::Update)
        .one(&txn)
        .await?
        .ok_or_else(|| ServiceError::not_found("intervention"))?;
    let (_case, study) = readable_case(&txn, caller, i.case_id)
        .await
        .map_err(|e| e.hidden_as("intervention"))?;
    caller.authorize(study.id, study.is_public, Permission::Own)?;
    let judgments = discontinuity::Entity::find()
        .filter(discontinuity::Column::InterventionId.eq(i.id))
        .count(&txn)
        .await?;
    if judgments > 0 {
        return Err(ServiceError::Conflict(format!(
            "{judgments} discontinuity {} still about this intervention: delete {} first (deleteDiscontinuity)",
            if judgments == 1 { "judgment is" } else { "judgments are" },
            if judgments == 1 { "it" } else { "them" },
        )));
    }
    intervention::Entity::delete_by_id(i.id).exec(&txn).await?;
    crate::service::audit::record(
        &txn,
        caller,
        "deleteIntervention",
        "intervention",
        i.id,
        Some(study.id),
        json!({"before": {"case": i.case_id, "label": i.label}}),
    )
    .await?;
    txn.commit().await?;
    Ok(())
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
        db: &impl ConnectionTrait,
        caller: &Caller,
        study_id: i64,
    ) -> ServiceResult<Self> {
        let study = crate::service::studies::readable_study(db, caller, study_id).await?;
        let cases = study_case::Entity::find()
            .filter(study_case::Column::StudyId.eq(study.id))
            .order_by_asc(study_case::Column::Id)
            .all(db)
            .await?;
        // By subqueries, not lists of ids: a study's judgments may be more than a
        // statement binds (`db::IDS_PER_STATEMENT`).
        let of_study = || cases_of_study(study.id);
        let judgments_of_study = |column: discontinuity::Column| {
            Query::select()
                .column(column)
                .from(discontinuity::Entity)
                .and_where(discontinuity::Column::CaseId.in_subquery(of_study()))
                .to_owned()
        };
        let interventions = intervention::Entity::find()
            .filter(intervention::Column::CaseId.in_subquery(of_study()))
            .order_by_asc(intervention::Column::Id)
            .all(db)
            .await?;
        let all = discontinuity::Entity::find()
            .filter(discontinuity::Column::CaseId.in_subquery(of_study()))
            .order_by_asc(discontinuity::Column::Id)
            .all(db)
            .await?;
        let ids = || judgments_of_study(discontinuity::Column::Id);
        let mut evidence: std::collections::HashMap<i64, Vec<i64>> = Default::default();
        for e in discontinuity_evidence::Entity::find()
            .filter(discontinuity_evidence::Column::DiscontinuityId.in_subquery(ids()))
            .all(db)
            .await?
        {
            evidence
                .entry(e.discontinuity_id)
                .or_default()
                .push(e.quotation_id);
        }
        // In a fixed order, which a case's cascade lists: on PostgreSQL a re-tagged
        // judgment's links would otherwise move in it.
        let links = discontinuity_cause::Entity::find()
            .filter(discontinuity_cause::Column::EffectId.in_subquery(ids()))
            .order_by_asc(discontinuity_cause::Column::EffectId)
            .order_by_asc(discontinuity_cause::Column::CauseId)
            .all(db)
            .await?
            .into_iter()
            .map(|l| (l.cause_id, l.effect_id))
            .collect();
        let evaluators = entities::app_user::Entity::find()
            .filter(
                entities::app_user::Column::Id
                    .in_subquery(judgments_of_study(discontinuity::Column::EvaluatorId)),
            )
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
    /// The consensus judgment the cell shows (`strongest`).
    pub consensus: Option<discontinuity::Model>,
    /// Every consensus judgment in the cell: in a case row the whole case's and each of its
    /// interventions'. A table of the judgments lists them all, as it lists every assessment.
    pub all_consensus: Vec<discontinuity::Model>,
    pub assessments: Vec<discontinuity::Model>,
    /// The one judgment a picture of the cell shows, picked by `strongest`: with an
    /// evaluator, among hers; else among the consensus, or without one among the assessments.
    pub shown: Option<discontinuity::Model>,
}

#[derive(Debug, Clone)]
pub struct MatrixRow {
    pub case_id: i64,
    pub intervention_id: Option<i64>,
    pub cells: Vec<Cell>,
}

/// Of judgments in one cell, the one a picture shows: in a case row the whole-case one if
/// there is one, else the most intense (the earlier of equals). The matrix and the cascade
/// both pick with it, so their pictures of a case never show different judgments.
pub fn strongest<'a>(
    rows: Rows,
    among: &[&'a discontinuity::Model],
) -> Option<&'a discontinuity::Model> {
    let whole_case = rows == Rows::Case && among.iter().any(|d| d.intervention_id.is_none());
    among
        .iter()
        .copied()
        .filter(|d| !whole_case || d.intervention_id.is_none())
        .max_by_key(|d| (intensity_rank(&d.intensity), std::cmp::Reverse(d.id)))
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
    // Grouped once: looked for in every cell, the judgments made rows × judgments steps.
    let mut by_cell: HashMap<(i64, &str), Vec<&discontinuity::Model>> = HashMap::new();
    for d in &j.all {
        by_cell
            .entry((d.case_id, d.dimension.as_str()))
            .or_default()
            .push(d);
    }
    keys.into_iter()
        .map(|(case_id, intervention_id)| {
            let cells = DIMENSIONS
                .iter()
                .map(|&dimension| {
                    let here: Vec<&discontinuity::Model> = by_cell
                        .get(&(case_id, dimension))
                        .into_iter()
                        .flatten()
                        .copied()
                        .filter(|d| rows == Rows::Case || d.intervention_id == intervention_id)
                        .collect();
                    let of = |consensus: bool| -> Vec<&discontinuity::Model> {
                        here.iter()
                            .copied()
                            .filter(|d| d.is_consensus == consensus)
                            .collect()
                    };
                    let all_consensus = of(true);
                    let consensus = strongest(rows, &all_consensus).cloned();
                    let all_consensus = all_consensus.into_iter().cloned().collect();
                    let assessments: Vec<&discontinuity::Model> = of(false)
                        .into_iter()
                        .filter(|d| evaluator.is_none_or(|e| d.evaluator_id == e))
                        .collect();
                    let shown = match (evaluator, &consensus) {
                        (None, Some(c)) => Some(c.clone()),
                        _ => strongest(rows, &assessments).cloned(),
                    };
                    let assessments = assessments.into_iter().cloned().collect();
                    Cell {
                        dimension,
                        consensus,
                        all_consensus,
                        assessments,
                        shown,
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
) -> crate::service::agreement::Agreement {
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
    crate::service::agreement::agreement(&units, level)
}

/// One judge's judgments: without `evaluator` the consensus, with one that evaluator's own
/// assessments. A consensus judgment names the owner who set it as its evaluator, but it is
/// not her assessment.
pub fn by_judge(evaluator: Option<i64>) -> impl Fn(&discontinuity::Model) -> bool {
    move |d| match evaluator {
        None => d.is_consensus,
        Some(e) => !d.is_consensus && d.evaluator_id == e,
    }
}

/// The cascade of a case: (cause, effect) links among its consensus judgments, or among one
/// evaluator's.
pub fn cascade(
    j: &Judgments,
    case_id: i64,
    evaluator: Option<i64>,
) -> Vec<(discontinuity::Model, discontinuity::Model)> {
    let judge = by_judge(evaluator);
    let mine = |id: i64| {
        j.all
            .iter()
            .find(|d| d.id == id && d.case_id == case_id && judge(d))
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
    let judge = by_judge(evaluator);
    let mut out = Vec::new();
    for &dimension in DIMENSIONS {
        let present: Vec<&discontinuity::Model> = j
            .all
            .iter()
            .filter(|d| d.dimension == dimension && d.intensity != "NONE")
            .filter(|d| judge(d))
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
