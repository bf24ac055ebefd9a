//! Studies, cases and interventions, and which studies a caller may see.

use chrono::Utc;
use entities::{
    case_ambito, case_project, code, discontinuity, intervention, interview, project, study,
    study_case, study_member,
};
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use serde_json::json;

use crate::auth::{Caller, Permission, StudyRole};
use crate::db::{begin_write, Writable};
use crate::error::{ServiceError, ServiceResult};
use crate::service::change_log;
use crate::service::labels::{stored_label, stored_labels};
use crate::service::members::grant_role;
use crate::service::page::{self, Page, PageRequest};
use crate::service::territory;

/// The studies a caller may read: `None` means all of them (admins).
pub async fn readable_study_ids<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
) -> ServiceResult<Option<Vec<i64>>> {
    Ok(readable_studies(db, caller).await?.ids)
}

/// The studies a question looks at: those asked for (every one when none are), less those
/// the caller may not read; `None` for every study there is. With it, whether the caller may
/// read every study (a search's index-wide statistics then tell nothing they may not read).
pub async fn readable_among<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    asked: Option<Vec<i64>>,
) -> ServiceResult<(Option<Vec<i64>>, bool)> {
    let readable = readable_studies(db, caller).await?;
    let ids = match (readable.ids, asked) {
        (readable, None) => readable,
        (None, Some(asked)) => Some(asked),
        (Some(readable), Some(asked)) => {
            let readable: std::collections::HashSet<i64> = readable.into_iter().collect();
            Some(asked.into_iter().filter(|s| readable.contains(s)).collect())
        }
    };
    Ok((ids, readable.everything))
}

/// The studies a caller may read (`Caller::can_read`, the one rule), for a search: their ids
/// (`None` for an admin: all), and whether they are every study there is. Index-wide counts (BM25's statistics) then tell
/// the caller nothing they may not read.
pub struct Readable {
    pub ids: Option<Vec<i64>>,
    pub everything: bool,
}

pub async fn readable_studies<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
) -> ServiceResult<Readable> {
    if caller.is_admin() {
        return Ok(Readable {
            ids: None,
            everything: true,
        });
    }
    let studies: Vec<(i64, bool)> = study::Entity::find()
        .select_only()
        .column(study::Column::Id)
        .column(study::Column::IsPublic)
        .order_by_asc(study::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let ids: Vec<i64> = studies
        .iter()
        .filter(|&&(id, public)| caller.can_read(id, public))
        .map(|s| s.0)
        .collect();
    Ok(Readable {
        everything: ids.len() == studies.len(),
        ids: Some(ids),
    })
}

/// The studies the caller may read, a page at a time.
pub async fn studies_page<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    req: PageRequest,
) -> ServiceResult<Page<study::Model>> {
    let mut select = study::Entity::find();
    if let Some(ids) = readable_study_ids(db, caller).await? {
        select = select.filter(study::Column::Id.is_in(ids));
    }
    page::by_id(db, select, study::Column::Id, req).await
}

/// The cases of one study (NOT_FOUND unless the caller may read it), or of every study the
/// caller may read, a page at a time.
pub async fn cases_page<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    study_id: Option<i64>,
    req: PageRequest,
) -> ServiceResult<Page<study_case::Model>> {
    let mut select = study_case::Entity::find();
    if let Some(id) = study_id {
        let s = readable_study(db, caller, id).await?;
        select = select.filter(study_case::Column::StudyId.eq(s.id));
    } else if let Some(ids) = readable_study_ids(db, caller).await? {
        select = select.filter(study_case::Column::StudyId.is_in(ids));
    }
    page::by_id(db, select, study_case::Column::Id, req).await
}

/// The cases of the studies the caller may read: `None` means all (admins).
pub async fn readable_case_ids<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
) -> ServiceResult<Option<Vec<i64>>> {
    let Some(studies) = readable_study_ids(db, caller).await? else {
        return Ok(None);
    };
    Ok(Some(
        study_case::Entity::find()
            .filter(study_case::Column::StudyId.is_in(studies))
            .all(db)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect(),
    ))
}

/// A study the caller may read, or NOT_FOUND (never FORBIDDEN: private studies stay unseen).
pub async fn readable_study<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    study_id: i64,
) -> ServiceResult<study::Model> {
    let s = study::Entity::find_by_id(study_id)
        .one(db)
        .await?
        .ok_or_else(|| ServiceError::not_found("study"))?;
    if caller.can_read(s.id, s.is_public) {
        Ok(s)
    } else {
        Err(ServiceError::not_found("study"))
    }
}

/// A case and its study, checked readable.
pub async fn readable_case<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    case_id: i64,
) -> ServiceResult<(study_case::Model, study::Model)> {
    let c = study_case::Entity::find_by_id(case_id)
        .one(db)
        .await?
        .ok_or_else(|| ServiceError::not_found("case"))?;
    let s = readable_study(db, caller, c.study_id)
        .await
        .map_err(|e| e.hidden_as("case"))?;
    Ok((c, s))
}

/// The years a study may carry: a typo (-5, 20025) would sort and filter as a real year.
pub const STUDY_YEARS: std::ops::RangeInclusive<i32> = 1900..=2100;

fn check_year(year: Option<i32>) -> ServiceResult<()> {
    match year {
        Some(year) if !STUDY_YEARS.contains(&year) => Err(ServiceError::bad_input(format!(
            "year {year} is not a plausible year for a study: give one from {} to {}",
            STUDY_YEARS.start(),
            STUDY_YEARS.end()
        ))),
        _ => Ok(()),
    }
}

#[derive(Debug, Clone, Default)]
pub struct NewStudy {
    pub title: String,
    pub authors: Vec<String>,
    pub year: Option<i32>,
    pub research_questions: Vec<String>,
    pub is_public: bool,
}

/// Creates a study; its creator becomes its OWNER.
pub async fn create_study(
    db: &impl Writable,
    caller: &Caller,
    input: NewStudy,
) -> ServiceResult<study::Model> {
    let user = caller.require_user()?;
    let title = stored_label(&input.title, "title")?;
    let authors = stored_labels(&input.authors, "authors")?;
    let research_questions = stored_labels(&input.research_questions, "researchQuestions")?;
    check_year(input.year)?;
    let txn = begin_write(db).await?;
    let s = study::ActiveModel {
        title: Set(title),
        authors: Set(serde_json::to_string(&authors).expect("strings serialise")),
        year: Set(input.year),
        research_questions: Set(
            serde_json::to_string(&research_questions).expect("strings serialise")
        ),
        is_public: Set(input.is_public),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    grant_role(&txn, user.id, s.id, StudyRole::Owner).await?;
    crate::service::audit::record(
        &txn,
        caller,
        "createStudy",
        "study",
        s.id,
        Some(s.id),
        json!({"after": {"title": s.title, "public": s.is_public}}),
    )
    .await?;
    txn.commit().await?;
    Ok(s)
}

#[derive(Debug, Clone, Default)]
pub struct NewCase {
    pub study_id: i64,
    pub label: String,
    pub ambito_codes: Vec<String>,
    pub project_ids: Vec<i64>,
}

pub async fn create_case(
    db: &impl Writable,
    caller: &Caller,
    input: NewCase,
) -> ServiceResult<study_case::Model> {
    let label = stored_label(&input.label, "label")?;
    let txn = begin_write(db).await?;
    let s = study::Entity::find_by_id(input.study_id)
        .one(&txn)
        .await?
        .ok_or_else(|| ServiceError::not_found("study"))?;
    caller.authorize(s.id, s.is_public, Permission::Own)?;
    let ambito_ids = case_ambiti(&txn, &input.ambito_codes).await?;
    let project_ids = case_projects(&txn, &input.project_ids).await?;
    let c = study_case::ActiveModel {
        study_id: Set(s.id),
        label: Set(label),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    link_ambiti(&txn, c.id, &ambito_ids).await?;
    link_projects(&txn, c.id, &project_ids).await?;
    crate::service::audit::record(
        &txn,
        caller,
        "createCase",
        "case",
        c.id,
        Some(s.id),
        json!({"after": {"label": c.label}}),
    )
    .await?;
    txn.commit().await?;
    Ok(c)
}

/// The ambiti a case is to be linked to, by code (sorted, without repeats); an unknown
/// code is NOT_FOUND.
async fn case_ambiti<C: ConnectionTrait>(txn: &C, codes: &[String]) -> ServiceResult<Vec<i64>> {
    // Each code looked up once, however often it is listed.
    let codes: std::collections::BTreeSet<&str> = codes.iter().map(|c| c.trim()).collect();
    let mut ids = Vec::new();
    for code in codes {
        let a = territory::ambito_by_code(txn, code)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("ambito {code}")))?;
        ids.push(a.id);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// The projects a case is to be linked to (sorted, without repeats); an unknown one is
/// NOT_FOUND.
async fn case_projects<C: ConnectionTrait>(txn: &C, ids: &[i64]) -> ServiceResult<Vec<i64>> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let found = project::Entity::find()
        .filter(project::Column::Id.is_in(ids.iter().copied()))
        .count(txn)
        .await?;
    if found != ids.len() as u64 {
        return Err(ServiceError::not_found("project"));
    }
    Ok(ids)
}

async fn link_ambiti<C: ConnectionTrait>(txn: &C, case_id: i64, ids: &[i64]) -> ServiceResult<()> {
    for &ambito_id in ids {
        case_ambito::ActiveModel {
            case_id: Set(case_id),
            ambito_id: Set(ambito_id),
            ..Default::default()
        }
        .insert(txn)
        .await?;
    }
    Ok(())
}

async fn link_projects<C: ConnectionTrait>(
    txn: &C,
    case_id: i64,
    ids: &[i64],
) -> ServiceResult<()> {
    for &project_id in ids {
        case_project::ActiveModel {
            case_id: Set(case_id),
            project_id: Set(project_id),
            ..Default::default()
        }
        .insert(txn)
        .await?;
    }
    Ok(())
}

/// What `update_study` changes; a field left `None` keeps its value.
#[derive(Debug, Clone, Default)]
pub struct StudyUpdate {
    pub id: i64,
    pub title: Option<String>,
    pub authors: Option<Vec<String>>,
    /// `Some(None)` clears the year.
    pub year: Option<Option<i32>>,
    pub research_questions: Option<Vec<String>>,
    pub is_public: Option<bool>,
}

/// Changes a study's description or visibility. Owners and admins. Nothing changed writes
/// nothing. Made private, the study is hidden at once from everyone without a role in it:
/// every request reads visibility from here, and a running subscription ends at its next
/// event.
pub async fn update_study(
    db: &impl Writable,
    caller: &Caller,
    input: StudyUpdate,
) -> ServiceResult<study::Model> {
    let title = input
        .title
        .as_deref()
        .map(|t| stored_label(t, "title"))
        .transpose()?;
    let authors = input
        .authors
        .as_deref()
        .map(|a| stored_labels(a, "authors"))
        .transpose()?;
    let research_questions = input
        .research_questions
        .as_deref()
        .map(|q| stored_labels(q, "researchQuestions"))
        .transpose()?;
    check_year(input.year.flatten())?;
    let txn = begin_write(db).await?;
    // Locked, so that two owners' changes to different fields both stay.
    let current = study::Entity::find_by_id(input.id)
        .lock(LockType::NoKeyUpdate)
        .one(&txn)
        .await?
        .ok_or_else(|| ServiceError::not_found("study"))?;
    caller.authorize(current.id, current.is_public, Permission::Own)?;
    let json_list = |l: Vec<String>| serde_json::to_string(&l).expect("strings serialise");
    let mut active: study::ActiveModel = current.clone().into();
    let (mut before, mut after) = (serde_json::Map::new(), serde_json::Map::new());
    let mut changed = |field: &str, was: serde_json::Value, now: serde_json::Value| {
        let differs = was != now;
        if differs {
            before.insert(field.to_owned(), was);
            after.insert(field.to_owned(), now);
        }
        differs
    };
    if let Some(t) = title {
        if changed("title", json!(current.title), json!(t)) {
            active.title = Set(t);
        }
    }
    if let Some(a) = authors {
        let was: serde_json::Value = serde_json::from_str(&current.authors).unwrap_or_default();
        if changed("authors", was, json!(a)) {
            active.authors = Set(json_list(a));
        }
    }
    if let Some(y) = input.year {
        if changed("year", json!(current.year), json!(y)) {
            active.year = Set(y);
        }
    }
    if let Some(q) = research_questions {
        let was: serde_json::Value =
            serde_json::from_str(&current.research_questions).unwrap_or_default();
        if changed("researchQuestions", was, json!(q)) {
            active.research_questions = Set(json_list(q));
        }
    }
    if let Some(p) = input.is_public {
        if changed("public", json!(current.is_public), json!(p)) {
            active.is_public = Set(p);
        }
    }
    if after.is_empty() {
        return Ok(current);
    }
    let s = active.update(&txn).await?;
    crate::service::audit::record(
        &txn,
        caller,
        "updateStudy",
        "study",
        s.id,
        Some(s.id),
        json!({"before": before, "after": after}),
    )
    .await?;
    txn.commit().await?;
    Ok(s)
}

/// What `update_case` changes; a field left `None` keeps its value.
#[derive(Debug, Clone, Default)]
pub struct CaseUpdate {
    pub id: i64,
    pub label: Option<String>,
    /// The whole list of ambiti the case lies in, by code.
    pub ambito_codes: Option<Vec<String>>,
    /// The whole list of projects the case studies.
    pub project_ids: Option<Vec<i64>>,
}

/// A case changed, and whether search must follow (its ambiti changed: each of its
/// interviews' documents carries them, for the ambito filter).
pub struct CaseChange {
    pub case: study_case::Model,
    pub reindexed: bool,
}

/// Relabels a case or changes the ambiti and projects it is linked to. Owners and admins.
/// Nothing changed writes nothing.
pub async fn update_case(
    db: &impl Writable,
    caller: &Caller,
    input: CaseUpdate,
) -> ServiceResult<CaseChange> {
    let label = input
        .label
        .as_deref()
        .map(|l| stored_label(l, "label"))
        .transpose()?;
    let txn = begin_write(db).await?;
    // The case row first, as `delete_case` and a tag adding cascade links lock it. For a
    // change of ambiti FOR UPDATE, as `delete_case`: an interview being added to the case
    // holds its foreign key's key-share lock until it commits, which this waits for, so that
    // the interviews read below include it; one added after waits, and is indexed with the
    // new ambiti. (Taken NO KEY UPDATE, such an interview could be indexed with the old ones
    // while this read the interviews without it.)
    let lock = if input.ambito_codes.is_some() {
        LockType::Update
    } else {
        LockType::NoKeyUpdate
    };
    let current = study_case::Entity::find_by_id(input.id)
        .lock(lock)
        .one(&txn)
        .await?
        .ok_or_else(|| ServiceError::not_found("case"))?;
    let s = readable_study(&txn, caller, current.study_id)
        .await
        .map_err(|e| e.hidden_as("case"))?;
    caller.authorize(s.id, s.is_public, Permission::Own)?;
    let (mut before, mut after) = (serde_json::Map::new(), serde_json::Map::new());
    let mut case = current.clone();
    if let Some(l) = label.filter(|l| *l != current.label) {
        before.insert("label".into(), json!(current.label));
        after.insert("label".into(), json!(l));
        let mut active: study_case::ActiveModel = current.clone().into();
        active.label = Set(l);
        case = active.update(&txn).await?;
    }
    let mut reindexed = false;
    if let Some(codes) = &input.ambito_codes {
        let wanted = case_ambiti(&txn, codes).await?;
        let had = linked_ambiti(&txn, current.id).await?;
        if wanted != had {
            reindexed = replace_ambiti(&txn, current.id, &wanted).await?;
            before.insert("ambiti".into(), json!(had));
            after.insert("ambiti".into(), json!(wanted));
        }
    }
    if let Some(ids) = &input.project_ids {
        let wanted = case_projects(&txn, ids).await?;
        let had = linked_projects(&txn, current.id).await?;
        if wanted != had {
            case_project::Entity::delete_many()
                .filter(case_project::Column::CaseId.eq(current.id))
                .exec(&txn)
                .await?;
            link_projects(&txn, current.id, &wanted).await?;
            before.insert("projects".into(), json!(had));
            after.insert("projects".into(), json!(wanted));
        }
    }
    if after.is_empty() {
        return Ok(CaseChange {
            case,
            reindexed: false,
        });
    }
    crate::service::audit::record(
        &txn,
        caller,
        "updateCase",
        "case",
        case.id,
        Some(s.id),
        json!({"before": before, "after": after}),
    )
    .await?;
    txn.commit().await?;
    Ok(CaseChange { case, reindexed })
}

/// Links the case to exactly these ambiti, and logs its interviews for search to index
/// again (each passage carries its case's ambiti, for the ambito filter). Whether it had
/// any.
async fn replace_ambiti<C: ConnectionTrait>(
    txn: &C,
    case_id: i64,
    ambito_ids: &[i64],
) -> ServiceResult<bool> {
    case_ambito::Entity::delete_many()
        .filter(case_ambito::Column::CaseId.eq(case_id))
        .exec(txn)
        .await?;
    link_ambiti(txn, case_id, ambito_ids).await?;
    let interviews: Vec<i64> = interview::Entity::find()
        .select_only()
        .column(interview::Column::Id)
        .filter(interview::Column::CaseId.eq(case_id))
        .into_tuple()
        .all(txn)
        .await?;
    for &id in &interviews {
        change_log::append(
            txn,
            change_log::Subject::Interview,
            id,
            change_log::Op::Upsert,
        )
        .await?;
    }
    Ok(!interviews.is_empty())
}

/// The ambiti a case is linked to, sorted.
async fn linked_ambiti<C: ConnectionTrait>(txn: &C, case_id: i64) -> ServiceResult<Vec<i64>> {
    Ok(case_ambito::Entity::find()
        .select_only()
        .column(case_ambito::Column::AmbitoId)
        .filter(case_ambito::Column::CaseId.eq(case_id))
        .order_by_asc(case_ambito::Column::AmbitoId)
        .into_tuple()
        .all(txn)
        .await?)
}

/// The projects a case is linked to, sorted.
async fn linked_projects<C: ConnectionTrait>(txn: &C, case_id: i64) -> ServiceResult<Vec<i64>> {
    Ok(case_project::Entity::find()
        .select_only()
        .column(case_project::Column::ProjectId)
        .filter(case_project::Column::CaseId.eq(case_id))
        .order_by_asc(case_project::Column::ProjectId)
        .into_tuple()
        .all(txn)
        .await?)
}

pub async fn create_intervention(
    db: &impl Writable,
    caller: &Caller,
    case_id: i64,
    label: &str,
) -> ServiceResult<intervention::Model> {
    let label = stored_label(label, "label")?;
    let txn = begin_write(db).await?;
    let (c, s) = readable_case(&txn, caller, case_id).await?;
    caller.authorize(s.id, s.is_public, Permission::Own)?;
    let i = intervention::ActiveModel {
        case_id: Set(c.id),
        label: Set(label),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    crate::service::audit::record(
        &txn,
        caller,
        "createIntervention",
        "intervention",
        i.id,
        Some(s.id),
        json!({"after": {"label": i.label}}),
    )
    .await?;
    txn.commit().await?;
    Ok(i)
}

/// "2 interviews", "1 judgment": a count with its noun, for messages.
fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Deletes an empty case: one with no interviews, judgments or interventions (each of them
/// is deleted on its own first, interviews with `delete_interview`, so that nothing of
/// substance goes with a case by accident). Its links to ambiti and projects and the memos
/// on it go with it. Owners and admins.
pub async fn delete_case(db: &impl Writable, caller: &Caller, case_id: i64) -> ServiceResult<()> {
    let txn = begin_write(db).await?;
    // FOR UPDATE before counting: every row naming the case takes a key-share lock on it
    // (its foreign key check; a memo, in `memos::study_of`), which this lock waits for and
    // then excludes. What was added before is counted below; what comes after finds the case
    // gone, instead of being deleted with it by ON DELETE CASCADE unseen.
    let c = study_case::Entity::find_by_id(case_id)
        .lock(LockType::Update)
        .one(&txn)
        .await?
        .ok_or_else(|| ServiceError::not_found("case"))?;
    let s = readable_study(&txn, caller, c.study_id)
        .await
        .map_err(|e| e.hidden_as("case"))?;
    caller.authorize(s.id, s.is_public, Permission::Own)?;
    let interviews = interview::Entity::find()
        .filter(interview::Column::CaseId.eq(c.id))
        .count(&txn)
        .await?;
    let judgments = discontinuity::Entity::find()
        .filter(discontinuity::Column::CaseId.eq(c.id))
        .count(&txn)
        .await?;
    let interventions = intervention::Entity::find()
        .filter(intervention::Column::CaseId.eq(c.id))
        .count(&txn)
        .await?;
    let left: Vec<String> = [
        (interviews, "interview", "interviews"),
        (
            judgments,
            "discontinuity judgment",
            "discontinuity judgments",
        ),
        (interventions, "intervention", "interventions"),
    ]
    .into_iter()
    .filter(|&(n, _, _)| n > 0)
    .map(|(n, one, many)| counted(n, one, many))
    .collect();
    if !left.is_empty() {
        return Err(ServiceError::Conflict(format!(
            "the case still has {}: only an empty case can be deleted",
            left.join(", ")
        )));
    }
    let ambiti = linked_ambiti(&txn, c.id).await?;
    let projects = linked_projects(&txn, c.id).await?;
    crate::service::memos::delete_for(&txn, caller, "deleteCase", "case", &[c.id]).await?;
    case_ambito::Entity::delete_many()
        .filter(case_ambito::Column::CaseId.eq(c.id))
        .exec(&txn)
        .await?;
    case_project::Entity::delete_many()
        .filter(case_project::Column::CaseId.eq(c.id))
        .exec(&txn)
        .await?;
    study_case::Entity::delete_by_id(c.id).exec(&txn).await?;
    crate::service::audit::record(
        &txn,
        caller,
        "deleteCase",
        "case",
        c.id,
        Some(s.id),
        json!({"before": {"label": c.label, "ambiti": ambiti, "projects": projects}}),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Deletes a study without cases (each is deleted on its own first), with its codebook, the
/// memos on it and on its codes, and its members' roles. Owners and admins.
///
/// The audit entry is written without a study, as instance-wide events are: the study's own
/// log can no longer be read through the API once it is gone (`auditLog(studyId)` answers
/// NOT_FOUND), while the entries without a study are the instance's log, which admins read.
/// It names the study as its entity (`study`, id), and ids are never given again
/// (PostgreSQL sequences, SQLite AUTOINCREMENT), so it still ties to the study's history.
pub async fn delete_study(db: &impl Writable, caller: &Caller, study_id: i64) -> ServiceResult<()> {
    let txn = begin_write(db).await?;
    // FOR UPDATE before counting, as in `delete_case`: a case, code, memo or member added
    // meanwhile holds a key-share lock on the study (a codebook write holds NO KEY UPDATE),
    // so it is either counted or deleted below, or waits and then finds the study gone.
    let s = study::Entity::find_by_id(study_id)
        .lock(LockType::Update)
        .one(&txn)
        .await?
        .filter(|s| caller.can_read(s.id, s.is_public))
        .ok_or_else(|| ServiceError::not_found("study"))?;
    caller.authorize(s.id, s.is_public, Permission::Own)?;
    let cases = study_case::Entity::find()
        .filter(study_case::Column::StudyId.eq(s.id))
        .count(&txn)
        .await?;
    if cases > 0 {
        return Err(ServiceError::Conflict(format!(
            "the study still has {}: delete them first (deleteCase)",
            counted(cases, "case", "cases")
        )));
    }
    crate::service::memos::delete_in_study(&txn, caller, "deleteStudy", s.id).await?;
    let codes = code::Entity::find()
        .filter(code::Column::StudyId.eq(s.id))
        .count(&txn)
        .await?;
    code::Entity::delete_many()
        .filter(code::Column::StudyId.eq(s.id))
        .exec(&txn)
        .await?;
    let members: Vec<serde_json::Value> = study_member::Entity::find()
        .filter(study_member::Column::StudyId.eq(s.id))
        .order_by_asc(study_member::Column::UserId)
        .all(&txn)
        .await?
        .into_iter()
        .map(|m| json!({"user": m.user_id, "role": m.role}))
        .collect();
    study_member::Entity::delete_many()
        .filter(study_member::Column::StudyId.eq(s.id))
        .exec(&txn)
        .await?;
    study::Entity::delete_by_id(s.id).exec(&txn).await?;
    crate::service::audit::record(
        &txn,
        caller,
        "deleteStudy",
        "study",
        s.id,
        None,
        json!({
            "before": {"title": s.title, "public": s.is_public},
            "deletedCodes": codes,
            "members": members,
        }),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Decodes the JSON array of strings kept in text columns.
pub fn string_list(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}
