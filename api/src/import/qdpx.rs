//! Writing a checked REFI-QDA project into a study, in one transaction: the same rows, change
//! log entries and rules as the single-object services (codes unique among siblings, spans
//! within the transcript), plus one audit entry for the whole import.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entities::{code, interview, memo, quotation, quotation_code, study, study_case};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::json;

use super::refi::{Case, Code, Dates, Note, Project, Selection, TextSource, User};
use super::{ImportReport, Prepared, SourceText};
use crate::auth::{Caller, Permission, StudyRole};
use crate::db::begin_write;
use crate::error::{is_unique_violation, ServiceError, ServiceResult};
use crate::export::qdpx::InterviewVariable;
use crate::service::analysis::cases_of_study;
use crate::service::change_log::{self, Op};
use crate::service::codes::{lock_codebook, parse_color, sibling_key};
use crate::service::interviews::Provenance;
// Titles and labels in the form the services store them in, so that a label a macOS tool
// wrote with combining accents finds the case (or warns of the interview) typed with accented
// letters. (The XML parser already refuses the control characters the services refuse.)
use crate::export::project_description::{self, StudyFields};
use crate::service::labels::{
    blank, normalised, stored_labels, stored_optional_label, MAX_LABEL_CHARS,
};
use crate::service::members::grant_role;
use crate::service::studies::{readable_study, STUDY_YEARS};
use crate::service::users::ensure_author;

/// The label of the case that takes the sources no REFI case names.
pub const CASELESS: &str = "Senza caso";

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

/// The import's running state: the study it writes into, the file's guids mapped to the rows
/// made or matched for them, and what the report and the audit entry count. Each step adds
/// to it in the order the file's parts refer to one another.
struct ImportState<'p> {
    study: study::Model,
    /// Whether the import made the study: a new study has no rows to match.
    new_study: bool,
    now: DateTime<Utc>,
    /// The accounts of the file's users, by guid.
    users: HashMap<&'p str, i64>,
    /// Who is credited with what the file credits to no known user: the project's creating
    /// user, or else the importer.
    fallback_user: i64,
    /// The code made or reused for each code guid.
    codes: HashMap<&'p str, i64>,
    /// The study's cases, by label.
    cases: HashMap<String, i64>,
    case_of_source: HashMap<&'p str, i64>,
    /// What each note is about: the first element that refers to it.
    note_targets: HashMap<&'p str, (&'static str, i64)>,
    /// What the notes referring to skipped elements were about, by note guid.
    notes_of_skipped: HashMap<String, String>,
    /// Descriptions of the project (unless they were the study's fields), cases and sources,
    /// which have no field of their own here.
    study_memos: Vec<String>,
    case_memos: Vec<(i64, String)>,
    interview_memos: Vec<(i64, String)>,
    /// Source variables already warned of.
    ignored_variables: HashSet<String>,
    warnings: Vec<String>,
    codes_created: usize,
    interviews: usize,
    quotations: Vec<i64>,
}

impl<'p> ImportState<'p> {
    fn new(
        study: study::Model,
        new_study: bool,
        now: DateTime<Utc>,
        users: HashMap<&'p str, i64>,
        fallback_user: i64,
        notes_of_skipped: HashMap<String, String>,
        warnings: Vec<String>,
    ) -> Self {
        Self {
            study,
            new_study,
            now,
            users,
            fallback_user,
            codes: HashMap::new(),
            cases: HashMap::new(),
            case_of_source: HashMap::new(),
            note_targets: HashMap::new(),
            notes_of_skipped,
            study_memos: Vec::new(),
            case_memos: Vec::new(),
            interview_memos: Vec::new(),
            ignored_variables: HashSet::new(),
            warnings,
            codes_created: 0,
            interviews: 0,
            quotations: Vec::new(),
        }
    }

    /// The account of the file's user `guid`, when the file names one with a name.
    fn user_of(&self, guid: Option<&String>) -> Option<i64> {
        guid.and_then(|g| self.users.get(g.as_str()).copied())
    }

    /// A selection's codings as quotations: who applied them (the coding's creator, else
    /// who made the selection, see `coder_of`) with the codes each applied, once each, in
    /// order. Several coders coding one span (how ATLAS.ti and MAXQDA projects carry
    /// agreement work) make one quotation each, as a quotation has one coder: credited to
    /// one, the others' codings counted as hers in the coding comparison. The selection's
    /// own coder comes first. A coding of a code the file does not define is skipped with a
    /// warning.
    fn codings_by_coder(&mut self, s: &TextSource, sel: &Selection) -> Vec<(i64, Vec<i64>)> {
        let selection_coder = self.coder_of(s, sel);
        let mut groups: Vec<(i64, Vec<i64>)> = Vec::new();
        for coding in &sel.codings {
            let Some(&code) = self.codes.get(coding.code.as_str()) else {
                self.warnings.push(format!(
                    "selection {} refers to code {}, which the project does not define: that coding is skipped",
                    sel.guid, coding.code
                ));
                continue;
            };
            let coder = self
                .user_of(coding.creating_user.as_ref())
                .unwrap_or(selection_coder);
            match groups.iter_mut().find(|(c, _)| *c == coder) {
                Some((_, codes)) if codes.contains(&code) => {}
                Some((_, codes)) => codes.push(code),
                None => groups.push((coder, vec![code])),
            }
        }
        if groups.is_empty() {
            groups.push((selection_coder, Vec::new()));
        }
        groups.sort_by_key(|(coder, _)| *coder != selection_coder);
        groups
    }

    /// Who made a selection: its own creator, else the first of its codings', else the
    /// source's, else the fallback user.
    fn coder_of(&self, s: &TextSource, sel: &Selection) -> i64 {
        self.user_of(sel.creating_user.as_ref())
            .or_else(|| {
                sel.codings
                    .iter()
                    .find_map(|c| self.user_of(c.creating_user.as_ref()))
            })
            .or_else(|| self.user_of(s.creating_user.as_ref()))
            .unwrap_or(self.fallback_user)
    }

    /// Notes about an element go to the first thing made or matched for it.
    fn notes_about(&mut self, note_refs: &'p [String], kind: &'static str, id: i64) {
        for r in note_refs {
            self.note_targets.entry(r).or_insert((kind, id));
        }
    }

    /// The study's case labelled `label`, made if there is none. Making one takes the
    /// study's owner, unless the import made the study.
    async fn case_id(
        &mut self,
        txn: &DatabaseTransaction,
        caller: &Caller,
        label: &str,
    ) -> ServiceResult<i64> {
        if let Some(&id) = self.cases.get(label) {
            return Ok(id);
        }
        if !self.new_study {
            caller.authorize(self.study.id, self.study.is_public, Permission::Own)?;
        }
        let c = study_case::ActiveModel {
            study_id: Set(self.study.id),
            label: Set(label.to_owned()),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        self.cases.insert(label.to_owned(), c.id);
        Ok(c.id)
    }
}

/// Writes the checked project into the study `study_id`, or into a new one, in one
/// transaction: all of it or nothing.
pub async fn write(
    db: &DatabaseConnection,
    caller: &Caller,
    prepared: Prepared,
    study_id: Option<i64>,
) -> ServiceResult<ImportReport> {
    let importer = caller.require_user()?.id;
    let Prepared {
        file_name,
        mut project,
        title,
        texts,
        note_texts,
        mut warnings,
    } = prepared;
    let notes_of_skipped = std::mem::take(&mut project.notes_of_skipped);
    let (fields, description) = study_fields(&project, study_id.is_none(), &mut warnings);
    let now = Utc::now();
    let txn = begin_write(db).await?;
    let mut users = people(&txn, &project.users).await?;
    let (study, new_study) = match study_id {
        None => {
            let fields = fields.unwrap_or_default();
            let title = title
                .filter(|t| !blank(t))
                .map(|t| within_limit(&mut warnings, "the project", normalised(&t)));
            (
                create_study(&txn, importer, title, fields, now).await?,
                true,
            )
        }
        Some(id) => {
            let has_codes = !project.codes.is_empty();
            (open_study(&txn, caller, id, has_codes).await?, false)
        }
    };
    // Coding under other people's names, into a study they may be compared in
    // (`codingAgreement`), and which its coders alone may change afterwards, is the owners'.
    // An analyst's import is the analyst's work.
    let others = users.values().filter(|&&u| u != importer).count();
    if others > 0
        && caller
            .authorize(study.id, study.is_public, Permission::Own)
            .is_err()
    {
        users.values_mut().for_each(|u| *u = importer);
        warnings.push(format!(
            "the work of the project's {others} other user(s) is credited to you: only the \
             study's owners import coding and notes under other users' names"
        ));
    }
    let fallback_user = project
        .creating_user
        .as_deref()
        .and_then(|g| users.get(g).copied())
        .unwrap_or(importer);
    let mut state = ImportState::new(
        study,
        new_study,
        now,
        users,
        fallback_user,
        notes_of_skipped,
        warnings,
    );
    state.study_memos.extend(description);
    codes(&txn, &mut state, &project.codes).await?;
    cases(&txn, caller, &mut state, &project.cases, &project.sources).await?;
    let sources = Sources {
        file_name: &file_name,
        sources: &project.sources,
        texts: &texts,
    };
    sources_and_selections(&txn, caller, &mut state, sources).await?;
    let memos = notes(&txn, &mut state, &project.notes, note_texts).await?;
    audit_import(&txn, caller, &state, memos).await?;
    txn.commit().await?;
    Ok(ImportReport {
        study: state.study,
        codes: state.codes_created,
        interviews: state.interviews,
        quotations: state.quotations,
        warnings: state.warnings,
    })
}

/// People: by name, so that a coder keeps one account across imports. Found (and locked
/// against removal) before the study's codebook, in the order every writer takes a user
/// and a study (`users::lock_active_user`).
async fn people<'p>(
    txn: &DatabaseTransaction,
    users: &'p [User],
) -> ServiceResult<HashMap<&'p str, i64>> {
    let mut ids: HashMap<&str, i64> = HashMap::new();
    for u in users {
        // A name of nothing visible is none: its work goes to the fallback user.
        if let Some(name) = u.name.as_deref().filter(|n| !blank(n)) {
            ids.insert(&u.guid, ensure_author(txn, name).await?.id);
        }
    }
    Ok(ids)
}

/// What becomes of the project's description: the study's fields, written there by
/// quaderno's export (`project_description`), for a new study; nothing for an existing one,
/// which has fields of its own; any other description, a memo of the study (returned).
fn study_fields(
    project: &Project,
    new_study: bool,
    warnings: &mut Vec<String>,
) -> (Option<StudyFields>, Option<String>) {
    let Some(description) = project.description.clone() else {
        return (None, None);
    };
    let own = project
        .origin
        .as_deref()
        .is_some_and(|o| o.starts_with("quaderno"));
    let Some(read) = own
        .then(|| project_description::read(&description))
        .flatten()
    else {
        return (None, Some(description));
    };
    if !new_study {
        warnings.push(
            "the project's authors, year and research questions are those of the study it was \
             exported from: not applied to this one"
                .into(),
        );
        return (None, None);
    }
    let year = match read.year {
        Some(y) if !STUDY_YEARS.contains(&y) => Err(format!(
            "the year {y} is not from {} to {}",
            STUDY_YEARS.start(),
            STUDY_YEARS.end()
        )),
        y => Ok(y),
    };
    let checked = year.and_then(|year| {
        Ok(StudyFields {
            authors: stored_labels(&read.authors, "authors").map_err(|e| e.to_string())?,
            year,
            research_questions: stored_labels(&read.research_questions, "researchQuestions")
                .map_err(|e| e.to_string())?,
        })
    });
    match checked {
        Ok(fields) => (Some(fields), None),
        Err(e) => {
            warnings.push(format!(
                "the project's description holds a study's fields, but {e}: kept as a memo of the study"
            ));
            (None, Some(description))
        }
    }
}

/// A new private study for the import, owned by the importer and titled as the project.
async fn create_study(
    txn: &DatabaseTransaction,
    importer: i64,
    title: Option<String>,
    fields: StudyFields,
    now: DateTime<Utc>,
) -> ServiceResult<study::Model> {
    let list = |l: &[String]| serde_json::to_string(l).expect("strings serialise");
    let s = study::ActiveModel {
        title: Set(title.unwrap_or_else(|| "Progetto importato".into())),
        authors: Set(list(&fields.authors)),
        year: Set(fields.year),
        research_questions: Set(list(&fields.research_questions)),
        is_public: Set(false),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    grant_role(txn, importer, s.id, StudyRole::Owner).await?;
    Ok(s)
}

/// An existing study the caller may code in, its codebook locked if the file has codes.
async fn open_study(
    txn: &DatabaseTransaction,
    caller: &Caller,
    id: i64,
    has_codes: bool,
) -> ServiceResult<study::Model> {
    let s = readable_study(txn, caller, id).await?;
    caller.authorize(s.id, s.is_public, Permission::Code)?;
    // The codes are matched against the codebook and hung under its codes: a
    // deletion or move meanwhile (PostgreSQL) would work on a tree without them, and
    // a deleted parent would leave them as roots. Taken before this transaction holds
    // anything but its people, which no holder of the lock waits for.
    if has_codes {
        lock_codebook(txn, s.id).await?;
    }
    Ok(s)
}

/// Codes: parents come first. A code matching an existing one (same parent, same name
/// in any case) is reused; two such codes within the file get distinct names ("casa",
/// "casa (2)"), and imported again each meets its own: a study code serves one code of the
/// file.
async fn codes<'p>(
    txn: &DatabaseTransaction,
    state: &mut ImportState<'p>,
    codes: &'p [Code],
) -> ServiceResult<()> {
    let mut siblings: HashMap<(Option<i64>, String), i64> = HashMap::new();
    if !state.new_study {
        // Codes stored before names were compared this way may match one key twice: the
        // oldest is reused, on every backend (in the rows' order, PostgreSQL's and SQLite's
        // choices differed).
        for c in code::Entity::find()
            .filter(code::Column::StudyId.eq(state.study.id))
            .order_by_asc(code::Column::Id)
            .all(txn)
            .await?
        {
            siblings
                .entry((c.parent_id, sibling_key(&c.name)))
                .or_insert(c.id);
        }
    }
    let mut created_here: HashSet<i64> = HashSet::new();
    let mut claimed: HashSet<i64> = HashSet::new();
    let mut code_ids: Vec<i64> = Vec::with_capacity(codes.len());
    let mut reused = 0;
    'codes: for (n, c) in codes.iter().enumerate() {
        let parent = c.parent.map(|p| code_ids[p]);
        let original = code_name(state, n, c);
        let mut name = original.clone();
        let mut k = 1;
        while let Some(&id) = siblings.get(&(parent, sibling_key(&name))) {
            if claimed.insert(id) {
                reused += 1;
                code_ids.push(id);
                state.codes.insert(&c.guid, id);
                state.notes_about(&c.note_refs, "code", id);
                continue 'codes;
            }
            k += 1;
            name = format!("{original} ({k})");
        }
        if k > 1 {
            state.warnings.push(format!(
                "two codes named {original:?} at the same level: the second is named {name:?}"
            ));
        }
        let id = insert_code(txn, state, c, parent, &name).await?;
        siblings.insert((parent, sibling_key(&name)), id);
        created_here.insert(id);
        claimed.insert(id);
        code_ids.push(id);
        state.codes.insert(&c.guid, id);
        state.notes_about(&c.note_refs, "code", id);
    }
    if reused > 0 {
        state.warnings.push(format!(
            "{reused} code(s) matched codes the study already had and were reused"
        ));
    }
    state.codes_created = created_here.len();
    Ok(())
}

/// The `n`th code's name as stored: trimmed, in NFC, never empty, and without '/', which
/// separates code paths here.
fn code_name(state: &mut ImportState<'_>, n: usize, c: &Code) -> String {
    let name: String = normalised(&c.name).replace('/', "∕");
    if blank(&name) {
        let name = format!("Codice {}", n + 1);
        state
            .warnings
            .push(format!("code {} has no name: named {name:?}", c.guid));
        return name;
    }
    if c.name.contains('/') {
        state.warnings.push(format!(
            "code {:?}: '/' separates code paths here, written as '∕'",
            c.name
        ));
    }
    within_limit(&mut state.warnings, &format!("code {}", c.guid), name)
}

/// A name or label from the file (in NFC) cut to what one may hold here, with a warning.
fn within_limit(warnings: &mut Vec<String>, whose: &str, label: String) -> String {
    let chars = label.chars().count();
    if chars <= MAX_LABEL_CHARS {
        return label;
    }
    warnings.push(format!(
        "{whose}: its name is {chars} characters long, cut to the first {MAX_LABEL_CHARS}"
    ));
    // A prefix of a text in NFC composes to no more characters than it has.
    normalised(&label.chars().take(MAX_LABEL_CHARS).collect::<String>())
}

/// Makes the code `c` as `name` under `parent`; its colour only if it is one we can keep.
async fn insert_code(
    txn: &DatabaseTransaction,
    state: &mut ImportState<'_>,
    c: &Code,
    parent: Option<i64>,
    name: &str,
) -> ServiceResult<i64> {
    let color = match c.color.as_deref() {
        Some(raw) => {
            let parsed = colour(raw);
            if parsed.is_none() {
                state.warnings.push(format!(
                    "code {name:?}: colour {raw:?} is not #RRGGBB, dropped"
                ));
            }
            parsed
        }
        None => None,
    };
    let row = code::ActiveModel {
        study_id: Set(state.study.id),
        parent_id: Set(parent),
        name: Set(name.to_owned()),
        description: Set(c.description.clone()),
        color: Set(color),
        created_at: Set(state.now),
        ..Default::default()
    }
    .insert(txn)
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
    Ok(row.id)
}

/// Cases: matched by label; creating one takes the study's owner. Each source goes to the
/// first case that names it.
async fn cases<'p>(
    txn: &DatabaseTransaction,
    caller: &Caller,
    state: &mut ImportState<'p>,
    cases: &'p [Case],
    sources: &[TextSource],
) -> ServiceResult<()> {
    if !state.new_study {
        for c in study_case::Entity::find()
            .filter(study_case::Column::StudyId.eq(state.study.id))
            .order_by_asc(study_case::Column::Id)
            .all(txn)
            .await?
        {
            // In the form this import compares in: labels stored before imports kept NFC
            // may hold combining accents, or an invisible mark at an end. Two that become one
            // label so: the older case takes the sources, the same on every import.
            state.cases.entry(normalised(&c.label)).or_insert(c.id);
        }
    }
    let known_sources: HashSet<&str> = sources.iter().map(|s| s.guid.as_str()).collect();
    for (n, c) in cases.iter().enumerate() {
        let label = c
            .name
            .clone()
            .filter(|l| !blank(l))
            .map(|l| normalised(&l))
            .unwrap_or_else(|| format!("Caso {}", n + 1));
        let label = within_limit(&mut state.warnings, &format!("case {}", c.guid), label);
        let id = state.case_id(txn, caller, &label).await?;
        if let Some(d) = &c.description {
            state.case_memos.push((id, d.clone()));
        }
        for s in &c.source_refs {
            if !known_sources.contains(s.as_str()) {
                continue;
            }
            if state.case_of_source.contains_key(s.as_str()) {
                state.warnings.push(format!(
                    "source {s} belongs to several cases: kept in the first, not in {label:?}"
                ));
            } else {
                state.case_of_source.insert(s, id);
            }
        }
    }
    Ok(())
}

/// The project's sources with their texts, and the file they came in.
struct Sources<'p> {
    file_name: &'p str,
    sources: &'p [TextSource],
    /// Per source.
    texts: &'p [SourceText],
}

/// Interviews and their quotations: one interview per source, in its case (`CASELESS`
/// when none names it), and one quotation per selection that lies within the text.
async fn sources_and_selections<'p>(
    txn: &DatabaseTransaction,
    caller: &Caller,
    state: &mut ImportState<'p>,
    Sources {
        file_name,
        sources,
        texts,
    }: Sources<'p>,
) -> ServiceResult<()> {
    let mut labels = InterviewLabels::of_study(txn, state).await?;
    for (s, text) in sources.iter().zip(texts) {
        let case = match state.case_of_source.get(s.guid.as_str()) {
            Some(&c) => c,
            None => state.case_id(txn, caller, CASELESS).await?,
        };
        let whose = format!("source {}", s.guid);
        let label = within_limit(&mut state.warnings, &whose, source_label(s));
        labels.take(state, case, &label);
        let provenance = Provenance {
            // The archive entry under the project's name: the file a researcher can open.
            source_file: match &text.entry {
                Some(entry) => format!("{file_name}/{entry}"),
                None => file_name.to_owned(),
            },
            normalisation: text.steps().iter().map(|s| s.as_str().to_owned()).collect(),
        };
        let interview = insert_interview(txn, state, s, text, case, &label, provenance).await?;
        for sel in &s.selections {
            selection(txn, state, s, sel, text, interview, &label).await?;
        }
    }
    Ok(())
}

/// Unnamed sources (QualCoder writes none) go by their file's name, or else their guid.
fn source_label(s: &TextSource) -> String {
    let file_stem = match &s.text {
        super::refi::Text::Path(p) => p
            .rsplit(['/', '\\'])
            .next()
            .map(|f| f.rsplit_once('.').map_or(f, |(stem, _)| stem).to_owned()),
        _ => None,
    };
    s.name
        .as_deref()
        .filter(|l| !blank(l))
        .or(file_stem.as_deref().filter(|f| !blank(f)))
        .map_or_else(|| s.guid.clone(), normalised)
}

/// Interview labels taken in each case. Labels already taken in a case are reported (the
/// same project imported twice comes in twice), as the transcript importer does.
struct InterviewLabels {
    taken: HashSet<(i64, String)>,
    /// Those of this project, apart: a label taken twice within it is no sign of an
    /// earlier import.
    in_project: HashSet<(i64, String)>,
}

impl InterviewLabels {
    async fn of_study(txn: &DatabaseTransaction, state: &ImportState<'_>) -> ServiceResult<Self> {
        let mut taken = HashSet::new();
        if !state.new_study {
            taken = interview::Entity::find()
                .select_only()
                .columns([interview::Column::CaseId, interview::Column::Label])
                .filter(interview::Column::CaseId.in_subquery(cases_of_study(state.study.id)))
                .into_tuple::<(i64, String)>()
                .all(txn)
                .await?
                .into_iter()
                .map(|(case, label)| (case, normalised(&label)))
                .collect();
        }
        Ok(Self {
            taken,
            in_project: HashSet::new(),
        })
    }

    /// Takes `label` in `case`, with a warning when it was taken already.
    fn take(&mut self, state: &mut ImportState<'_>, case: i64, label: &str) {
        let twice_in_project = !self.in_project.insert((case, label.to_owned()));
        if self.taken.insert((case, label.to_owned())) {
            return;
        }
        let case_label = state
            .cases
            .iter()
            .find(|(_, &id)| id == case)
            .map_or("", |(l, _)| l.as_str());
        state.warnings.push(if twice_in_project {
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
}

/// The interview of source `s`, in `case`, with the variables it can keep (a date and the
/// interviewee's role), where its text came from, and its place in the change log; its id.
async fn insert_interview<'p>(
    txn: &DatabaseTransaction,
    state: &mut ImportState<'p>,
    s: &'p TextSource,
    text: &SourceText,
    case: i64,
    label: &str,
    provenance: Provenance,
) -> ServiceResult<i64> {
    let length = i32::try_from(text.length)
        .map_err(|_| ServiceError::bad_input(format!("source {label:?} is too long")))?;
    let variables = interview_variables(state, s, label);
    let (created, updated) = times(s.dates, state.now);
    let (source_file, normalisation) = provenance.columns();
    let i = interview::ActiveModel {
        case_id: Set(case),
        label: Set(label.to_owned()),
        conducted_on: Set(variables.conducted_on),
        interviewee_role: Set(variables.interviewee_role),
        language: Set(variables.language),
        transcript: Set(text.text.clone()),
        length: Set(length),
        version: Set(1),
        created_at: Set(created),
        updated_at: Set(updated),
        source_file: Set(Some(source_file)),
        normalisation: Set(Some(normalisation)),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    change_log::append(txn, change_log::Subject::Interview, i.id, Op::Upsert).await?;
    state.interviews += 1;
    if let Some(d) = &s.description {
        state.interview_memos.push((i.id, d.clone()));
    }
    state.notes_about(&s.note_refs, "interview", i.id);
    Ok(i.id)
}

/// What an interview keeps of its source's variables.
struct InterviewVariables {
    conducted_on: Option<chrono::NaiveDate>,
    interviewee_role: Option<String>,
    /// "it" when the source says none.
    language: String,
}

/// The variables of source `s` an interview keeps: the date it was conducted on, the
/// interviewee's role and the language (stored as the API stores them). Any other variable
/// is reported once per import; a date that is not one is reported and dropped.
fn interview_variables(
    state: &mut ImportState<'_>,
    s: &TextSource,
    label: &str,
) -> InterviewVariables {
    let mut kept = InterviewVariables {
        conducted_on: None,
        interviewee_role: None,
        language: "it".into(),
    };
    // As the API stores a text: trimmed, NFC; one of nothing visible is none. One the API
    // would refuse (too long, control characters) is left out, and said so.
    let text = |warnings: &mut Vec<String>, value: &str, what: &str| {
        stored_optional_label(value, what).unwrap_or_else(|e| {
            warnings.push(format!("{label:?}: {e}: not imported"));
            None
        })
    };
    for (name, value) in &s.variables {
        match crate::export::qdpx::interview_variable(name) {
            Some(InterviewVariable::ConductedOn) => {
                kept.conducted_on = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
                    .ok()
                    .filter(|d| super::refi::plausible_year(chrono::Datelike::year(d)));
                if kept.conducted_on.is_none() {
                    state
                        .warnings
                        .push(format!("{label:?}: {value:?} is not a date (YYYY-MM-DD)"));
                }
            }
            Some(InterviewVariable::IntervieweeRole) => {
                kept.interviewee_role = text(&mut state.warnings, value, "the interviewee's role");
            }
            Some(InterviewVariable::Language) => {
                if let Some(language) = text(&mut state.warnings, value, "the language") {
                    kept.language = language;
                }
            }
            None => {
                if state.ignored_variables.insert(name.clone()) {
                    state.warnings.push(format!(
                        "variable {name:?} not imported: interviews keep only a date, the interviewee's role and the language"
                    ));
                }
            }
        }
    }
    kept
}

/// The quotation of selection `sel` of source `s`, with the codes it names that the file
/// defines. A selection outside the text or empty is skipped with a warning, and the notes
/// about it remember what they were about.
async fn selection<'p>(
    txn: &DatabaseTransaction,
    state: &mut ImportState<'p>,
    s: &TextSource,
    sel: &'p Selection,
    text: &SourceText,
    interview: i64,
    label: &str,
) -> ServiceResult<()> {
    let span = text
        .position(sel.start)
        .zip(text.position(sel.end))
        .filter(|(a, b)| a < b);
    let Some((start, end)) = span else {
        state.warnings.push(format!(
            "selection {} of {label:?} ({}–{}) lies outside the text or is empty: skipped",
            sel.guid, sel.start, sel.end
        ));
        for r in &sel.note_refs {
            state
                .notes_of_skipped
                .entry(r.clone())
                .or_insert_with(|| format!("selection {} of {label:?}", sel.guid));
        }
        return Ok(());
    };
    let (created, updated) = times(sel.dates, state.now);
    for (n, (coder, codes)) in state.codings_by_coder(s, sel).into_iter().enumerate() {
        // The selection's description and notes go with the first (its own coder's).
        let q = quotation::ActiveModel {
            interview_id: Set(interview),
            start_pos: Set(start as i32),
            end_pos: Set(end as i32),
            memo: Set(sel.description.clone().filter(|_| n == 0)),
            coder_id: Set(Some(coder)),
            version: Set(1),
            created_at: Set(created),
            updated_at: Set(updated),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        if !codes.is_empty() {
            quotation_code::Entity::insert_many(codes.iter().map(|&code_id| {
                quotation_code::ActiveModel {
                    quotation_id: Set(q.id),
                    code_id: Set(code_id),
                    ..Default::default()
                }
            }))
            .exec(txn)
            .await?;
        }
        change_log::append(txn, change_log::Subject::Quotation, q.id, Op::Upsert).await?;
        state.quotations.push(q.id);
        if n == 0 {
            state.notes_about(&sel.note_refs, "quotation", q.id);
        }
    }
    Ok(())
}

/// Memos: notes on what refers to them (on the study otherwise), and descriptions of
/// cases and sources, which have no field of their own here. Returns how many were made.
async fn notes(
    txn: &DatabaseTransaction,
    state: &mut ImportState<'_>,
    notes: &[Note],
    note_texts: Vec<String>,
) -> ServiceResult<usize> {
    let mut memos: Vec<(&'static str, i64, String, i64, Dates)> = Vec::new();
    for (n, text) in notes.iter().zip(note_texts) {
        if text.trim().is_empty() {
            continue;
        }
        let (kind, id) = match state.note_targets.get(n.guid.as_str()) {
            Some(&target) => target,
            None => {
                if let Some(what) = state.notes_of_skipped.get(&n.guid) {
                    state.warnings.push(format!(
                        "note {:?} was about {what}, which was skipped: kept as a memo of the study",
                        n.name.as_deref().unwrap_or(&n.guid)
                    ));
                }
                ("study", state.study.id)
            }
        };
        let author = state
            .user_of(n.creating_user.as_ref())
            .unwrap_or(state.fallback_user);
        memos.push((kind, id, text, author, n.dates));
    }
    for text in std::mem::take(&mut state.study_memos) {
        let study = state.study.id;
        memos.push(("study", study, text, state.fallback_user, Dates::default()));
    }
    for (id, text) in std::mem::take(&mut state.case_memos) {
        memos.push(("case", id, text, state.fallback_user, Dates::default()));
    }
    for (id, text) in std::mem::take(&mut state.interview_memos) {
        memos.push(("interview", id, text, state.fallback_user, Dates::default()));
    }
    // Imported into a study again, the same project brings the same notes about the codes
    // and cases it matched and about the study: those already there are not added twice.
    let mut present: HashSet<(String, i64, String)> = HashSet::new();
    if !state.new_study {
        present = memo::Entity::find()
            .select_only()
            .columns([
                memo::Column::TargetKind,
                memo::Column::TargetId,
                memo::Column::Text,
            ])
            .filter(memo::Column::StudyId.eq(state.study.id))
            .into_tuple::<(String, i64, String)>()
            .all(txn)
            .await?
            .into_iter()
            .collect();
    }
    let before = memos.len();
    memos.retain(|(kind, id, text, _, _)| {
        !present.contains(&((*kind).to_owned(), *id, text.clone()))
    });
    if memos.len() < before {
        state.warnings.push(format!(
            "{} note(s) were memos the study already had, on the same code, case or study: not added again",
            before - memos.len()
        ));
    }
    let memo_count = memos.len();
    for (kind, id, text, author, dates) in memos {
        let (created, updated) = times(dates, state.now);
        memo::ActiveModel {
            study_id: Set(state.study.id),
            target_kind: Set(kind.to_owned()),
            target_id: Set(id),
            author_id: Set(Some(author)),
            text: Set(text),
            version: Set(1),
            created_at: Set(created),
            updated_at: Set(updated),
            ..Default::default()
        }
        .insert(txn)
        .await?;
    }
    Ok(memo_count)
}

/// One audit entry for the whole import, with what it made and how many warnings it gave.
async fn audit_import(
    txn: &DatabaseTransaction,
    caller: &Caller,
    state: &ImportState<'_>,
    memos: usize,
) -> ServiceResult<()> {
    let study = state.study.id;
    crate::service::audit::record(
        txn,
        caller,
        "importQdpx",
        "study",
        study,
        Some(study),
        json!({"after": {"newStudy": state.new_study, "codes": state.codes_created,
            "interviews": state.interviews, "quotations": state.quotations.len(),
            "memos": memos, "warnings": state.warnings.len()}}),
    )
    .await
}
