//! Writing a checked REFI-QDA project into a study, in one transaction: the same rows, change
//! log entries and rules as the single-object services (codes unique among siblings, spans
//! within the transcript), plus one audit entry for the whole import.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entities::{code, interview, memo, quotation, quotation_code, study, study_case};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, Set,
};
use serde_json::json;
use unicode_normalization::UnicodeNormalization as _;

use super::refi::Dates;
use super::{ImportReport, Prepared};
use crate::auth::{Caller, Permission, StudyRole};
use crate::db::begin_write;
use crate::error::{is_unique_violation, ServiceError, ServiceResult};
use crate::export::qdpx::InterviewVariable;
use crate::service::analysis::cases_of_study;
use crate::service::change_log::{self, Op};
use crate::service::codes::{lock_codebook, parse_color, sibling_key};
use crate::service::members::grant_role;
use crate::service::studies::readable_study;
use crate::service::users::ensure_author;

/// The label of the case that takes the sources no REFI case names.
pub const CASELESS: &str = "Senza caso";

/// A title or label as the services store one: trimmed and in NFC, so that a label a macOS
/// tool wrote with combining accents finds the case (or warns of the interview) typed with
/// accented letters, instead of sitting beside it looking the same. (The XML parser already
/// refuses the control characters the services refuse.)
fn stored_label(s: &str) -> String {
    s.trim().nfc().collect()
}

/// `#RGB` is valid QDA-XML; we keep `#RRGGBB`.
fn colour(c: &str) -> Option<String> {
    let c = c.trim();
    let long = match c.len() {
        4 if c.starts_with('#') => {
            let mut s = String::from("#");
            for ch in c[1..].chars() {
                s.push(ch);
                s.push(ch);
            }
            s
        }
        _ => c.to_owned(),
    };
    parse_color(&long).ok()
}

/// Creation and modification times as the file gives them (a round trip keeps them); the
/// time of the import for a creation it does not give, the creation for a modification it
/// does not give, and never modified before created.
fn times(d: Dates, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let created = d.created.unwrap_or(now);
    (created, d.modified.unwrap_or(created).max(created))
}

pub async fn write(
    db: &DatabaseConnection,
    caller: &Caller,
    prepared: Prepared,
    study_id: Option<i64>,
) -> ServiceResult<ImportReport> {
    let importer = caller.require_user()?.id;
    let Prepared {
        mut project,
        title,
        texts,
        note_texts,
        mut warnings,
    } = prepared;
    let mut notes_of_skipped = std::mem::take(&mut project.notes_of_skipped);
    let now = Utc::now();
    let txn = begin_write(db).await?;

    // People: by name, so that a coder keeps one account across imports. Found (and locked
    // against removal) before the study's codebook, in the order every writer takes a user
    // and a study (`users::lock_active_user`).
    let mut users: HashMap<&str, i64> = HashMap::new();
    for u in &project.users {
        if let Some(name) = u.name.as_deref().filter(|n| !n.trim().is_empty()) {
            users.insert(&u.guid, ensure_author(&txn, name).await?.id);
        }
    }

    let (study, new_study) = match study_id {
        None => {
            let s = study::ActiveModel {
                title: Set(title
                    .filter(|t| !t.trim().is_empty())
                    .map_or_else(|| "Progetto importato".into(), |t| stored_label(&t))),
                authors: Set("[]".into()),
                year: Set(None),
                research_questions: Set("[]".into()),
                is_public: Set(false),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
            grant_role(&txn, importer, s.id, StudyRole::Owner).await?;
            (s, true)
        }
        Some(id) => {
            let s = readable_study(&txn, caller, id).await?;
            caller.authorize(s.id, s.is_public, Permission::Code)?;
            // The codes are matched against the codebook and hung under its codes: a
            // deletion or move meanwhile (PostgreSQL) would work on a tree without them, and
            // a deleted parent would leave them as roots. Taken before this transaction holds
            // anything but its people, which no holder of the lock waits for.
            if !project.codes.is_empty() {
                lock_codebook(&txn, s.id).await?;
            }
            (s, false)
        }
    };

    let fallback_user = project
        .creating_user
        .as_deref()
        .and_then(|g| users.get(g).copied())
        .unwrap_or(importer);
    let user_of = |guid: Option<&String>| guid.and_then(|g| users.get(g.as_str()).copied());

    // What each note is about: the first element that refers to it.
    let mut note_targets: HashMap<&str, (&'static str, i64)> = HashMap::new();

    // Codes: parents come first. A code matching an existing one (same parent, same name
    // in any case) is reused; two such codes within the file get distinct names.
    let mut siblings: HashMap<(Option<i64>, String), i64> = HashMap::new();
    if !new_study {
        for c in code::Entity::find()
            .filter(code::Column::StudyId.eq(study.id))
            .all(&txn)
            .await?
        {
            siblings.insert((c.parent_id, sibling_key(&c.name)), c.id);
        }
    }
    let mut created_here: HashSet<i64> = HashSet::new();
    let mut code_ids: Vec<i64> = Vec::with_capacity(project.codes.len());
    let mut code_of_guid: HashMap<&str, i64> = HashMap::new();
    let mut reused = 0;
    for (n, c) in project.codes.iter().enumerate() {
        let parent = c.parent.map(|p| code_ids[p]);
        let mut name: String = c.name.trim().replace('/', "∕").nfc().collect();
        if name.is_empty() {
            name = format!("Codice {}", n + 1);
            warnings.push(format!("code {} has no name: named {name:?}", c.guid));
        } else if c.name.contains('/') {
            warnings.push(format!(
                "code {:?}: '/' separates code paths here, written as '∕'",
                c.name
            ));
        }
        if let Some(&id) = siblings.get(&(parent, sibling_key(&name))) {
            if !created_here.contains(&id) {
                reused += 1;
                code_ids.push(id);
                code_of_guid.insert(&c.guid, id);
                for r in &c.note_refs {
                    note_targets.entry(r).or_insert(("code", id));
                }
                continue;
            }
            let original = name.clone();
            let mut k = 2;
            while siblings.contains_key(&(parent, sibling_key(&format!("{original} ({k})")))) {
                k += 1;
            }
            name = format!("{original} ({k})");
            warnings.push(format!(
                "two codes named {original:?} at the same level: the second is named {name:?}"
            ));
        }
        let color = match c.color.as_deref() {
            Some(raw) => {
                let parsed = colour(raw);
                if parsed.is_none() {
                    warnings.push(format!(
                        "code {name:?}: colour {raw:?} is not #RRGGBB, dropped"
                    ));
                }
                parsed
            }
            None => None,
        };
        let row = code::ActiveModel {
            study_id: Set(study.id),
            parent_id: Set(parent),
            name: Set(name.clone()),
            description: Set(c.description.clone()),
            color: Set(color),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(|e| {
            // The names were compared with Rust's lowercase; the database's unique index
            // compares with its own lower(), which may fold further ("İ" and "I" on
            // PostgreSQL): the file's names clash there, not the server.
            if is_unique_violation(&e) {
                ServiceError::bad_input(format!(
                    "code {name:?} clashes with another code at the same level whose name the database takes for the same (letter case aside, as \"İstanbul\" and \"Istanbul\"): rename one of them and import again"
                ))
            } else {
                e.into()
            }
        })?;
        siblings.insert((parent, sibling_key(&name)), row.id);
        created_here.insert(row.id);
        code_ids.push(row.id);
        code_of_guid.insert(&c.guid, row.id);
        for r in &c.note_refs {
            note_targets.entry(r).or_insert(("code", row.id));
        }
    }
    if reused > 0 {
        warnings.push(format!(
            "{reused} code(s) matched codes the study already had and were reused"
        ));
    }

    // Cases: matched by label; creating one takes the study's owner.
    let mut cases: HashMap<String, i64> = HashMap::new();
    if !new_study {
        for c in study_case::Entity::find()
            .filter(study_case::Column::StudyId.eq(study.id))
            .all(&txn)
            .await?
        {
            cases.insert(c.label.clone(), c.id);
        }
    }
    let mut case_memos: Vec<(i64, String)> = Vec::new();
    let mut case_of_source: HashMap<&str, i64> = HashMap::new();
    let known_sources: HashSet<&str> = project.sources.iter().map(|s| s.guid.as_str()).collect();
    let case_id = async |label: &str, cases: &mut HashMap<String, i64>| -> ServiceResult<i64> {
        if let Some(&id) = cases.get(label) {
            return Ok(id);
        }
        if !new_study {
            caller.authorize(study.id, study.is_public, Permission::Own)?;
        }
        let c = study_case::ActiveModel {
            study_id: Set(study.id),
            label: Set(label.to_owned()),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        cases.insert(label.to_owned(), c.id);
        Ok(c.id)
    };
    for (n, c) in project.cases.iter().enumerate() {
        let label = c
            .name
            .clone()
            .filter(|l| !l.trim().is_empty())
            .map(|l| stored_label(&l))
            .unwrap_or_else(|| format!("Caso {}", n + 1));
        let id = case_id(&label, &mut cases).await?;
        if let Some(d) = &c.description {
            case_memos.push((id, d.clone()));
        }
        for s in &c.source_refs {
            if !known_sources.contains(s.as_str()) {
                continue;
            }
            if case_of_source.contains_key(s.as_str()) {
                warnings.push(format!(
                    "source {s} belongs to several cases: kept in the first, not in {label:?}"
                ));
            } else {
                case_of_source.insert(s, id);
            }
        }
    }

    // Interviews and their quotations. Labels already taken in a case are reported (the same
    // project imported twice comes in twice), as the transcript importer does.
    let mut labels: HashSet<(i64, String)> = HashSet::new();
    // Those of this project, apart: a label taken twice within it is no sign of an earlier
    // import.
    let mut in_project: HashSet<(i64, String)> = HashSet::new();
    if !new_study {
        labels = interview::Entity::find()
            .select_only()
            .columns([interview::Column::CaseId, interview::Column::Label])
            .filter(interview::Column::CaseId.in_subquery(cases_of_study(study.id)))
            .into_tuple::<(i64, String)>()
            .all(&txn)
            .await?
            .into_iter()
            .collect();
    }
    let mut interviews = 0;
    let mut quotations = Vec::new();
    let mut interview_memos: Vec<(i64, String)> = Vec::new();
    let mut ignored_variables: HashSet<String> = HashSet::new();
    for (s, text) in project.sources.iter().zip(&texts) {
        let case = match case_of_source.get(s.guid.as_str()) {
            Some(&c) => c,
            None => case_id(CASELESS, &mut cases).await?,
        };
        // Unnamed sources (QualCoder writes none) go by their file's name.
        let file_stem = match &s.text {
            super::refi::Text::Path(p) => p
                .rsplit(['/', '\\'])
                .next()
                .map(|f| f.rsplit_once('.').map_or(f, |(stem, _)| stem).to_owned()),
            _ => None,
        };
        let label = s
            .name
            .as_deref()
            .filter(|l| !l.trim().is_empty())
            .or(file_stem.as_deref().filter(|f| !f.trim().is_empty()))
            .map_or_else(|| s.guid.clone(), stored_label);
        let length = i32::try_from(text.length)
            .map_err(|_| ServiceError::bad_input(format!("source {label:?} is too long")))?;
        let twice_in_project = !in_project.insert((case, label.clone()));
        if !labels.insert((case, label.clone())) {
            let case_label = cases
                .iter()
                .find(|(_, &id)| id == case)
                .map_or("", |(l, _)| l.as_str());
            warnings.push(if twice_in_project {
                format!(
                    "source {label:?}: the project has another source labelled {label:?} in the \
                     case {case_label:?}"
                )
            } else {
                format!(
                    "source {label:?}: the case {case_label:?} already has an interview labelled \
                     {label:?} (was this project imported before?)"
                )
            });
        }
        let mut conducted_on = None;
        let mut interviewee_role = None;
        for (name, value) in &s.variables {
            match crate::export::qdpx::interview_variable(name) {
                Some(InterviewVariable::ConductedOn) => {
                    conducted_on = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").ok();
                    if conducted_on.is_none() {
                        warnings.push(format!("{label:?}: {value:?} is not a date (YYYY-MM-DD)"));
                    }
                }
                Some(InterviewVariable::IntervieweeRole) => {
                    interviewee_role = Some(value.clone()).filter(|v| !v.is_empty());
                }
                None => {
                    if ignored_variables.insert(name.clone()) {
                        warnings.push(format!(
                            "variable {name:?} not imported: interviews keep only a date and the interviewee's role"
                        ));
                    }
                }
            }
        }
        let interview_times = times(s.dates, now);
        let i = interview::ActiveModel {
            case_id: Set(case),
            label: Set(label.clone()),
            conducted_on: Set(conducted_on),
            interviewee_role: Set(interviewee_role),
            language: Set("it".into()),
            transcript: Set(text.text.clone()),
            length: Set(length),
            version: Set(1),
            created_at: Set(interview_times.0),
            updated_at: Set(interview_times.1),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        change_log::append(&txn, change_log::Subject::Interview, i.id, Op::Upsert).await?;
        interviews += 1;
        if let Some(d) = &s.description {
            interview_memos.push((i.id, d.clone()));
        }
        for r in &s.note_refs {
            note_targets.entry(r).or_insert(("interview", i.id));
        }
        for sel in &s.selections {
            let span = text
                .position(sel.start)
                .zip(text.position(sel.end))
                .filter(|(a, b)| a < b);
            let Some((start, end)) = span else {
                warnings.push(format!(
                    "selection {} of {label:?} ({}–{}) lies outside the text or is empty: skipped",
                    sel.guid, sel.start, sel.end
                ));
                for r in &sel.note_refs {
                    notes_of_skipped
                        .entry(r.clone())
                        .or_insert_with(|| format!("selection {} of {label:?}", sel.guid));
                }
                continue;
            };
            let mut codes: Vec<i64> = Vec::new();
            for coding in &sel.codings {
                match code_of_guid.get(coding.code.as_str()) {
                    Some(&c) if !codes.contains(&c) => codes.push(c),
                    Some(_) => {}
                    None => warnings.push(format!(
                        "selection {} refers to code {}, which the project does not define: that coding is skipped",
                        sel.guid, coding.code
                    )),
                }
            }
            let coder = user_of(sel.creating_user.as_ref())
                .or_else(|| {
                    sel.codings
                        .iter()
                        .find_map(|c| user_of(c.creating_user.as_ref()))
                })
                .or_else(|| user_of(s.creating_user.as_ref()))
                .unwrap_or(fallback_user);
            let (created, updated) = times(sel.dates, now);
            let q = quotation::ActiveModel {
                interview_id: Set(i.id),
                start_pos: Set(start as i32),
                end_pos: Set(end as i32),
                memo: Set(sel.description.clone()),
                coder_id: Set(Some(coder)),
                version: Set(1),
                created_at: Set(created),
                updated_at: Set(updated),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
            if !codes.is_empty() {
                quotation_code::Entity::insert_many(codes.iter().map(|&code_id| {
                    quotation_code::ActiveModel {
                        quotation_id: Set(q.id),
                        code_id: Set(code_id),
                        ..Default::default()
                    }
                }))
                .exec(&txn)
                .await?;
            }
            change_log::append(&txn, change_log::Subject::Quotation, q.id, Op::Upsert).await?;
            quotations.push(q.id);
            for r in &sel.note_refs {
                note_targets.entry(r).or_insert(("quotation", q.id));
            }
        }
    }

    // Memos: notes on what refers to them (on the study otherwise), and descriptions of
    // cases and sources, which have no field of their own here.
    let mut memos: Vec<(&'static str, i64, String, i64, Dates)> = Vec::new();
    for (n, text) in project.notes.iter().zip(note_texts) {
        if text.trim().is_empty() {
            continue;
        }
        let (kind, id) = match note_targets.get(n.guid.as_str()) {
            Some(&target) => target,
            None => {
                if let Some(what) = notes_of_skipped.get(&n.guid) {
                    warnings.push(format!(
                        "note {:?} was about {what}, which was skipped: kept as a memo of the study",
                        n.name.as_deref().unwrap_or(&n.guid)
                    ));
                }
                ("study", study.id)
            }
        };
        let author = user_of(n.creating_user.as_ref()).unwrap_or(fallback_user);
        memos.push((kind, id, text, author, n.dates));
    }
    for (id, text) in case_memos {
        memos.push(("case", id, text, fallback_user, Dates::default()));
    }
    for (id, text) in interview_memos {
        memos.push(("interview", id, text, fallback_user, Dates::default()));
    }
    let memo_count = memos.len();
    for (kind, id, text, author, dates) in memos {
        let (created, updated) = times(dates, now);
        memo::ActiveModel {
            study_id: Set(study.id),
            target_kind: Set(kind.to_owned()),
            target_id: Set(id),
            author_id: Set(Some(author)),
            text: Set(text),
            version: Set(1),
            created_at: Set(created),
            updated_at: Set(updated),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }

    let codes = created_here.len();
    crate::service::audit::record(
        &txn,
        caller,
        "importQdpx",
        "study",
        study.id,
        Some(study.id),
        json!({"after": {"newStudy": new_study, "codes": codes, "interviews": interviews,
            "quotations": quotations.len(), "memos": memo_count, "warnings": warnings.len()}}),
    )
    .await?;
    txn.commit().await?;
    Ok(ImportReport {
        study,
        codes,
        interviews,
        quotations,
        warnings,
    })
}
