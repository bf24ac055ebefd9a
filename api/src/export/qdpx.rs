//! A study as a REFI-QDA project (.qdpx): a zip with `project.qde` (QDA-XML 1.0, valid
//! against Project.xsd) and each transcript as `sources/<guid>.txt`. Positions are code
//! points into those files, which hold the transcripts exactly as stored (UTF-8, LF; a
//! transcript that begins with U+FEFF gets a byte-order mark before it).
//!
//! GUIDs are UUID v5 of the object's kind and number within a namespace drawn from the study
//! (its number and creation time), so exporting twice yields the same bytes and another
//! instance's study 1 does not collide with ours.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

use super::xml::{escape, Within};
use crate::service::codes::MAX_CODE_DEPTH;
use crate::service::exchange::StudyContent;
use crate::service::studies::string_list;

pub const PROJECT_NAMESPACE: &str = "urn:QDA-XML:project:1.0";

/// The stable GUID of one object of the study.
pub struct Guids(Uuid);

impl Guids {
    pub fn of(content: &StudyContent) -> Self {
        let seed = format!(
            "quaderno:study:{}:{}",
            content.study.id,
            content.study.created_at.timestamp_micros()
        );
        Self(Uuid::new_v5(&Uuid::NAMESPACE_URL, seed.as_bytes()))
    }

    pub fn guid(&self, kind: &str, id: impl std::fmt::Display) -> String {
        Uuid::new_v5(&self.0, format!("{kind}:{id}").as_bytes()).to_string()
    }
}

/// The interview fields that travel as REFI-QDA variables of their text source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterviewVariable {
    ConductedOn,
    IntervieweeRole,
    Language,
}

pub const CONDUCTED_ON: &str = "Data dell’intervista";
pub const INTERVIEWEE_ROLE: &str = "Ruolo dell’intervistato";
pub const LANGUAGE: &str = "Lingua";

/// Which interview field a variable of another tool's project stands for, by its name.
pub fn interview_variable(name: &str) -> Option<InterviewVariable> {
    let n = name.trim().to_lowercase().replace('\'', "’");
    match n.as_str() {
        "data dell’intervista" | "conducted_on" | "conductedon" | "interview date" | "data" => {
            Some(InterviewVariable::ConductedOn)
        }
        "ruolo dell’intervistato" | "interviewee_role" | "intervieweerole" | "role" | "ruolo" => {
            Some(InterviewVariable::IntervieweeRole)
        }
        "lingua" | "language" | "lang" => Some(InterviewVariable::Language),
        _ => None,
    }
}

/// Every code once, parents before children and siblings in the study's order, with the
/// level (1 for a root) it is written at. Codes deeper than `MAX_CODE_DEPTH` are written at
/// that level, after their ancestor there, so that the codings that refer to them still
/// resolve and the file imports again; for the same reason a code cut off from the roots by
/// a cycle (which the codebook rules forbid) is written as a root rather than left out. No
/// recursion: a hierarchy as deep as the database holds cannot exhaust the stack.
fn codebook_order(codes: &[entities::code::Model]) -> Vec<(&entities::code::Model, usize)> {
    let known: HashSet<i64> = codes.iter().map(|c| c.id).collect();
    let mut children: HashMap<Option<i64>, Vec<&entities::code::Model>> = HashMap::new();
    for c in codes {
        let parent = c.parent_id.filter(|p| known.contains(p));
        children.entry(parent).or_default().push(c);
    }
    let mut order = Vec::with_capacity(codes.len());
    let mut seen: HashSet<i64> = HashSet::with_capacity(codes.len());
    let mut stack: Vec<(&entities::code::Model, usize)> = Vec::new();
    let roots = children.get(&None).into_iter().flatten().copied();
    // The roots first; then whatever they did not reach.
    for start in roots.chain(codes.iter()) {
        if seen.contains(&start.id) {
            continue;
        }
        stack.push((start, 1));
        while let Some((c, level)) = stack.pop() {
            if !seen.insert(c.id) {
                continue;
            }
            order.push((c, level));
            let below = (level + 1).min(MAX_CODE_DEPTH);
            for child in children.get(&Some(c.id)).into_iter().flatten().rev() {
                stack.push((child, below));
            }
        }
    }
    order
}

/// A memo on one of the study's cases.
fn is_case_memo(m: &entities::memo::Model) -> bool {
    m.target_kind == "case"
}

/// The .qdpx archive.
pub fn qdpx(content: &StudyContent) -> std::io::Result<Vec<u8>> {
    let guids = Guids::of(content);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("project.qde", options)?;
    zip.write_all(project_qde(content, &guids).as_bytes())?;
    for i in &content.interviews {
        zip.start_file(
            format!("sources/{}.txt", guids.guid("interview", i.id)),
            options,
        )?;
        // Readers (ours too) take a leading U+FEFF for the byte-order mark and drop it before
        // counting positions: a mark before a transcript that begins with one keeps it a
        // character of the text, and every position where it was.
        if i.transcript.starts_with('\u{FEFF}') {
            zip.write_all("\u{FEFF}".as_bytes())?;
        }
        zip.write_all(i.transcript.as_bytes())?;
    }
    Ok(zip.finish()?.into_inner())
}

fn xsd_datetime(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A tiny writer for the elements we emit; attributes with `None` values are left out.
struct Xml(String);

impl Xml {
    fn start(&mut self, name: &str, attrs: &[(&str, Option<String>)], empty: bool) {
        let _ = write!(self.0, "<{name}");
        for (k, v) in attrs {
            if let Some(v) = v {
                let _ = write!(self.0, " {k}=\"{}\"", escape(v, Within::Attribute));
            }
        }
        self.0.push_str(if empty { "/>" } else { ">" });
    }
    fn open(&mut self, name: &str, attrs: &[(&str, Option<String>)]) {
        self.start(name, attrs, false);
    }
    fn empty(&mut self, name: &str, attrs: &[(&str, Option<String>)]) {
        self.start(name, attrs, true);
    }
    fn close(&mut self, name: &str) {
        let _ = write!(self.0, "</{name}>");
    }
    fn text_element(&mut self, name: &str, text: &str) {
        let _ = write!(self.0, "<{name}>{}</{name}>", escape(text, Within::Text));
    }
}

/// `project.qde`: the elements in the order Project.xsd requires.
pub fn project_qde(content: &StudyContent, guids: &Guids) -> String {
    let mut x = Xml(String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"));
    let user = |id: Option<i64>| {
        id.filter(|u| content.users.contains_key(u))
            .map(|u| guids.guid("user", u))
    };
    x.open(
        "Project",
        &[
            ("xmlns", Some(PROJECT_NAMESPACE.into())),
            ("name", Some(content.study.title.clone())),
            (
                "origin",
                Some(format!("quaderno {}", env!("CARGO_PKG_VERSION"))),
            ),
            (
                "creationDateTime",
                Some(xsd_datetime(&content.study.created_at)),
            ),
        ],
    );

    if !content.users.is_empty() {
        x.open("Users", &[]);
        for u in content.users.values() {
            x.empty(
                "User",
                &[
                    ("guid", Some(guids.guid("user", u.id))),
                    ("name", Some(u.name.clone())),
                ],
            );
        }
        x.close("Users");
    }

    // Memos become notes, referenced from what they are about.
    let mut notes_of: HashMap<(&str, i64), Vec<String>> = HashMap::new();
    for m in &content.memos {
        notes_of
            .entry((m.target_kind.as_str(), m.target_id))
            .or_default()
            .push(guids.guid("memo", m.id));
    }
    let note_refs = |x: &mut Xml, kind: &str, id: i64| {
        for g in notes_of.get(&(kind, id)).into_iter().flatten() {
            x.empty("NoteRef", &[("targetGUID", Some(g.clone()))]);
        }
    };

    if !content.codes.is_empty() {
        x.open("CodeBook", &[]);
        x.open("Codes", &[]);
        let mut open = 0;
        for (c, level) in codebook_order(&content.codes) {
            while open >= level {
                x.close("Code");
                open -= 1;
            }
            x.open(
                "Code",
                &[
                    ("guid", Some(guids.guid("code", c.id))),
                    ("name", Some(c.name.clone())),
                    ("isCodable", Some("true".into())),
                    ("color", c.color.clone()),
                ],
            );
            if let Some(d) = c.description.as_deref().filter(|d| !d.is_empty()) {
                x.text_element("Description", d);
            }
            note_refs(&mut x, "code", c.id);
            open += 1;
        }
        for _ in 0..open {
            x.close("Code");
        }
        x.close("Codes");
        x.close("CodeBook");
    }

    let dated = content.interviews.iter().any(|i| i.conducted_on.is_some());
    let with_role = content
        .interviews
        .iter()
        .any(|i| i.interviewee_role.is_some());
    // Written only when some interview is not in Italian, which an import takes by default.
    let with_language = content.interviews.iter().any(|i| i.language != "it");
    if dated || with_role || with_language {
        x.open("Variables", &[]);
        for (present, key, name, kind) in [
            (dated, "conducted_on", CONDUCTED_ON, "Date"),
            (with_role, "interviewee_role", INTERVIEWEE_ROLE, "Text"),
            (with_language, "language", LANGUAGE, "Text"),
        ] {
            if present {
                x.empty(
                    "Variable",
                    &[
                        ("guid", Some(guids.guid("variable", key))),
                        ("name", Some(name.into())),
                        ("typeOfVariable", Some(kind.into())),
                    ],
                );
            }
        }
        x.close("Variables");
    }

    // Grouped once, in the content's order: scanned per case and per interview, a study of
    // many interviews and quotations took interviews × quotations steps.
    let mut case_memos: HashMap<i64, Vec<&str>> = HashMap::new();
    for m in content.memos.iter().filter(|m| is_case_memo(m)) {
        case_memos.entry(m.target_id).or_default().push(&m.text);
    }
    let mut interviews_of: HashMap<i64, Vec<&entities::interview::Model>> = HashMap::new();
    for i in &content.interviews {
        interviews_of.entry(i.case_id).or_default().push(i);
    }
    let mut quotations_of: HashMap<i64, Vec<&entities::quotation::Model>> = HashMap::new();
    for q in &content.quotations {
        quotations_of.entry(q.interview_id).or_default().push(q);
    }

    if !content.cases.is_empty() {
        x.open("Cases", &[]);
        for c in &content.cases {
            x.open(
                "Case",
                &[
                    ("guid", Some(guids.guid("case", c.id))),
                    ("name", Some(c.label.clone())),
                ],
            );
            // Cases cannot refer to notes in QDA-XML 1.0: their memos are their description
            // (which the importer turns back into a memo of the case).
            if let Some(memos) = case_memos.get(&c.id) {
                x.text_element("Description", &memos.join("\n\n"));
            }
            for i in interviews_of.get(&c.id).into_iter().flatten() {
                x.empty(
                    "SourceRef",
                    &[("targetGUID", Some(guids.guid("interview", i.id)))],
                );
            }
            x.close("Case");
        }
        x.close("Cases");
    }

    if !content.interviews.is_empty() {
        x.open("Sources", &[]);
        for i in &content.interviews {
            let guid = guids.guid("interview", i.id);
            x.open(
                "TextSource",
                &[
                    ("guid", Some(guid.clone())),
                    ("name", Some(i.label.clone())),
                    ("plainTextPath", Some(format!("internal://{guid}.txt"))),
                    ("creationDateTime", Some(xsd_datetime(&i.created_at))),
                    ("modifiedDateTime", Some(xsd_datetime(&i.updated_at))),
                ],
            );
            for q in quotations_of.get(&i.id).into_iter().flatten() {
                x.open(
                    "PlainTextSelection",
                    &[
                        ("guid", Some(guids.guid("quotation", q.id))),
                        ("startPosition", Some(q.start_pos.to_string())),
                        ("endPosition", Some(q.end_pos.to_string())),
                        ("creatingUser", user(q.coder_id)),
                        ("creationDateTime", Some(xsd_datetime(&q.created_at))),
                        ("modifiedDateTime", Some(xsd_datetime(&q.updated_at))),
                    ],
                );
                if let Some(m) = q.memo.as_deref().filter(|m| !m.is_empty()) {
                    x.text_element("Description", m);
                }
                for c in content.codes_of.get(&q.id).into_iter().flatten() {
                    x.open(
                        "Coding",
                        &[
                            ("guid", Some(guids.guid("coding", format!("{}:{c}", q.id)))),
                            ("creatingUser", user(q.coder_id)),
                        ],
                    );
                    x.empty("CodeRef", &[("targetGUID", Some(guids.guid("code", *c)))]);
                    x.close("Coding");
                }
                note_refs(&mut x, "quotation", q.id);
                x.close("PlainTextSelection");
            }
            note_refs(&mut x, "interview", i.id);
            let values = [
                (
                    "conducted_on",
                    "DateValue",
                    i.conducted_on.map(|d| d.format("%Y-%m-%d").to_string()),
                ),
                ("interviewee_role", "TextValue", i.interviewee_role.clone()),
                (
                    "language",
                    "TextValue",
                    Some(i.language.clone()).filter(|_| with_language),
                ),
            ];
            for (key, element, value) in values {
                if let Some(v) = value {
                    x.open("VariableValue", &[]);
                    x.empty(
                        "VariableRef",
                        &[("targetGUID", Some(guids.guid("variable", key)))],
                    );
                    x.text_element(element, &v);
                    x.close("VariableValue");
                }
            }
            x.close("TextSource");
        }
        x.close("Sources");
    }

    let notes: Vec<&entities::memo::Model> =
        content.memos.iter().filter(|m| !is_case_memo(m)).collect();
    if !notes.is_empty() {
        x.open("Notes", &[]);
        for m in notes {
            x.open(
                "Note",
                &[
                    ("guid", Some(guids.guid("memo", m.id))),
                    ("name", Some("Memo".to_owned())),
                    ("creatingUser", user(m.author_id)),
                    ("creationDateTime", Some(xsd_datetime(&m.created_at))),
                    ("modifiedDateTime", Some(xsd_datetime(&m.updated_at))),
                ],
            );
            x.text_element("PlainTextContent", &m.text);
            x.close("Note");
        }
        x.close("Notes");
    }
    let study = &content.study;
    let fields = super::project_description::StudyFields {
        authors: string_list(&study.authors),
        year: study.year,
        research_questions: string_list(&study.research_questions),
    };
    if let Some(description) = super::project_description::describe(&fields) {
        x.text_element("Description", &description);
    }
    note_refs(&mut x, "study", study.id);
    x.close("Project");
    x.0.push('\n');
    x.0
}
