//! Reading QDA-XML (REFI-QDA `project.qde` and `.qdc` codebooks) into plain structs, before
//! anything touches the database. Elements are matched by local name so that files without
//! the namespace still read; optional attributes may be missing. A DTD is refused outright,
//! so no entity, internal or external, is ever expanded.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};
use roxmltree::{Document, Node};

use crate::error::{ServiceError, ServiceResult};
use crate::service::codes::MAX_CODE_DEPTH;

#[derive(Debug, Default)]
pub struct Project {
    pub name: Option<String>,
    pub origin: Option<String>,
    pub creating_user: Option<String>,
    pub users: Vec<User>,
    /// Parents before their children.
    pub codes: Vec<Code>,
    pub cases: Vec<Case>,
    pub sources: Vec<TextSource>,
    pub notes: Vec<Note>,
    /// Notes on the project as a whole.
    pub note_refs: Vec<String>,
    /// The project's `<Description>`.
    pub description: Option<String>,
    /// What was read but cannot be imported, for the report.
    pub skipped: Vec<String>,
    /// Notes referred to by something that is not imported (note GUID → what that was):
    /// unless something imported refers to them too, they become memos of the study, which
    /// the report says.
    pub notes_of_skipped: HashMap<String, String>,
}

/// When an element was created and last modified, as the file says; `None` when it does not
/// say (or not readably), and the time of the import stands in.
#[derive(Debug, Default, Clone, Copy)]
pub struct Dates {
    pub created: Option<DateTime<Utc>>,
    pub modified: Option<DateTime<Utc>>,
}

#[derive(Debug)]
pub struct User {
    pub guid: String,
    pub name: Option<String>,
}

#[derive(Debug)]
pub struct Code {
    pub guid: String,
    pub name: String,
    pub color: Option<String>,
    pub description: Option<String>,
    /// Index into `Project::codes`.
    pub parent: Option<usize>,
    pub note_refs: Vec<String>,
}

#[derive(Debug)]
pub struct Case {
    pub guid: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub source_refs: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum Text {
    Content(String),
    Path(String),
    Missing,
}

#[derive(Debug)]
pub struct TextSource {
    pub guid: String,
    pub name: Option<String>,
    pub text: Text,
    pub description: Option<String>,
    pub creating_user: Option<String>,
    pub selections: Vec<Selection>,
    pub note_refs: Vec<String>,
    /// (variable name, value as written) of the source's variable values.
    pub variables: Vec<(String, String)>,
    pub dates: Dates,
}

#[derive(Debug)]
pub struct Selection {
    pub guid: String,
    pub start: i64,
    pub end: i64,
    pub creating_user: Option<String>,
    pub description: Option<String>,
    pub codings: Vec<Coding>,
    pub note_refs: Vec<String>,
    pub dates: Dates,
}

#[derive(Debug)]
pub struct Coding {
    pub code: String,
    pub creating_user: Option<String>,
}

#[derive(Debug)]
pub struct Note {
    pub guid: String,
    pub name: Option<String>,
    pub creating_user: Option<String>,
    pub text: Text,
    pub dates: Dates,
}

/// The text of an XML file: UTF-8 (a BOM is dropped) or UTF-16 with its BOM.
pub fn decode_xml(bytes: &[u8], what: &str) -> ServiceResult<String> {
    let utf16 = |be: bool| {
        let units: Vec<u16> = bytes[2..]
            .chunks_exact(2)
            .map(|p| {
                if be {
                    u16::from_be_bytes([p[0], p[1]])
                } else {
                    u16::from_le_bytes([p[0], p[1]])
                }
            })
            .collect();
        String::from_utf16(&units).ok()
    };
    let text = match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8(rest.to_vec()).ok(),
        [0xFF, 0xFE, ..] => utf16(false),
        [0xFE, 0xFF, ..] => utf16(true),
        _ => String::from_utf8(bytes.to_vec()).ok(),
    };
    text.ok_or_else(|| {
        ServiceError::bad_input(format!("{what} is not UTF-8 (nor UTF-16 with a BOM) text"))
    })
}

/// The deepest element nesting QDA-XML has: codes under `Project/CodeBook/Codes`, and a
/// description or note reference in the deepest of them.
const MAX_QDA_DEPTH: usize = MAX_CODE_DEPTH + 8;

/// Call on the parser's stack (`xml::on_parser_stack`).
fn parse_document<'a>(xml: &'a str, what: &str) -> ServiceResult<Document<'a>> {
    if super::xml::nests_deeper_than(xml, MAX_QDA_DEPTH) {
        return Err(ServiceError::bad_input(format!(
            "{what} nests elements more than {MAX_QDA_DEPTH} levels deep, which no REFI-QDA file needs (codes nest at most {MAX_CODE_DEPTH} levels); refused"
        )));
    }
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: 5_000_000,
    };
    Document::parse_with_options(xml, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected => ServiceError::bad_input(format!(
            "{what} declares a DTD (<!DOCTYPE …>); QDA-XML has none, and entities are never resolved: refused"
        )),
        e => ServiceError::bad_input(format!("{what} is not well-formed XML: {e}")),
    })
}

fn children<'a, 'i>(n: Node<'a, 'i>, name: &'static str) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &'static str) -> Option<Node<'a, 'i>> {
    children(n, name).next()
}

fn attr(n: Node, name: &str) -> Option<String> {
    n.attribute(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn text_of(n: Option<Node>) -> Option<String> {
    let t: String = n?
        .descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect();
    (!t.trim().is_empty()).then_some(t)
}

fn refs(n: Node, name: &'static str) -> Vec<String> {
    children(n, name)
        .filter_map(|r| attr(r, "targetGUID"))
        .collect()
}

fn guid(n: Node, what: &str) -> ServiceResult<String> {
    attr(n, "guid")
        .map(|g| {
            g.trim_matches(|c| c == '{' || c == '}')
                .to_ascii_lowercase()
        })
        .ok_or_else(|| ServiceError::bad_input(format!("a {what} has no guid")))
}

/// GUIDs compare without braces and case.
pub fn norm_guid(g: &str) -> String {
    g.trim()
        .trim_matches(|c| c == '{' || c == '}')
        .to_ascii_lowercase()
}

/// Where an element's text is: inline or in a file of the archive. A source's inline text
/// keeps the line ends it has in the file (`with_raw_line_ends`); a note's is read as XML
/// reads it.
fn text_ref(n: Node, raw_line_ends: bool) -> Text {
    if let Some(content) = child(n, "PlainTextContent") {
        let t: String = content
            .descendants()
            .filter(|d| d.is_text())
            .filter_map(|d| d.text())
            .collect();
        return Text::Content(if raw_line_ends {
            with_raw_line_ends(content, t)
        } else {
            t
        });
    }
    match attr(n, "plainTextPath") {
        Some(p) => Text::Path(p),
        None => Text::Missing,
    }
}

/// The text of a source's `<PlainTextContent>` with the line ends it has in the file. XML
/// reads a CRLF (and a lone CR) as LF, but a tool that counts a CRLF as two positions counted
/// the text it wrote so: each LF the parser made of one gets its CR back, and `SourceText`
/// maps the positions across it as for a text file. Anything unexpected (child elements, a
/// count that does not add up) leaves the text as parsed.
fn with_raw_line_ends(content: Node, parsed: String) -> String {
    let raw = &content.document().input_text()[content.range()];
    if !raw.contains('\r') || content.children().any(|c| c.is_element()) {
        return parsed;
    }
    let (Some(start), Some(end)) = (start_tag_end(raw), raw.rfind("</")) else {
        return parsed;
    };
    if start > end {
        return parsed;
    }
    let origins = line_ends(&raw[start..end]);
    if origins.len() != parsed.matches('\n').count() {
        return parsed;
    }
    let mut origins = origins.into_iter();
    let mut out = String::with_capacity(parsed.len() + raw.len() - end);
    for c in parsed.chars() {
        match c {
            '\n' => out.push_str(origins.next().unwrap_or("\n")),
            c => out.push(c),
        }
    }
    out
}

/// The byte after the `>` that ends the start tag at the beginning of `raw` (a quoted
/// attribute value may hold `>`).
fn start_tag_end(raw: &str) -> Option<usize> {
    let mut quote = None;
    for (i, b) in raw.bytes().enumerate() {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), b) if b == q => quote = None,
            (None, b'>') => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// What each LF of the parsed text of `raw` (element content without child elements) is in
/// the file, in order: "\r\n", "\r", or "\n" (a literal LF or a character reference to one).
/// Comments and processing instructions hold no text; in CDATA only literal line ends count.
fn line_ends(raw: &str) -> Vec<&'static str> {
    let literal = |s: &str, out: &mut Vec<&'static str>| {
        let mut bytes = s.bytes().peekable();
        while let Some(b) = bytes.next() {
            match b {
                b'\r' if bytes.peek() == Some(&b'\n') => {
                    bytes.next();
                    out.push("\r\n");
                }
                b'\r' => out.push("\r"),
                b'\n' => out.push("\n"),
                _ => {}
            }
        }
    };
    let mut out = Vec::new();
    let mut rest = raw;
    while let Some(i) = rest.find(['&', '<']) {
        literal(&rest[..i], &mut out);
        let tail = &rest[i..];
        let until = |close: &str, from: usize| {
            tail[from..]
                .find(close)
                .map_or(tail.len(), |e| from + e + close.len())
        };
        let skip = if tail.starts_with('&') {
            let end = until(";", 1);
            let reference = tail[1..end].trim_end_matches(';');
            let code = match reference.strip_prefix(['#']) {
                Some(n) => match n.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => n.parse().ok(),
                },
                None => None,
            };
            if code == Some(10) {
                out.push("\n");
            }
            end
        } else if let Some(body) = tail.strip_prefix("<![CDATA[") {
            let close = body.find("]]>").unwrap_or(body.len());
            literal(&body[..close], &mut out);
            until("]]>", 9)
        } else if tail.starts_with("<!--") {
            until("-->", 4)
        } else if tail.starts_with("<?") {
            until("?>", 2)
        } else {
            1
        };
        rest = &tail[skip.max(1)..];
    }
    literal(rest, &mut out);
    out
}

/// The codes under `parent_node`, which sits at `depth` (0 for `<Codes>`). The depth is
/// checked before going down, so a hostile file cannot take the stack with it.
fn codes_into(
    parent_node: Node,
    parent: Option<usize>,
    depth: usize,
    out: &mut Vec<Code>,
) -> ServiceResult<()> {
    for c in children(parent_node, "Code") {
        if depth == MAX_CODE_DEPTH {
            return Err(ServiceError::bad_input(format!(
                "the codebook nests codes more than {MAX_CODE_DEPTH} levels deep (code {:?}); quaderno takes at most {MAX_CODE_DEPTH} levels",
                attr(c, "name").unwrap_or_default()
            )));
        }
        let index = out.len();
        out.push(Code {
            guid: guid(c, "code")?,
            name: attr(c, "name").unwrap_or_default(),
            color: attr(c, "color"),
            description: text_of(child(c, "Description")),
            parent,
            note_refs: refs(c, "NoteRef").iter().map(|g| norm_guid(g)).collect(),
        });
        codes_into(c, Some(index), depth + 1, out)?;
    }
    Ok(())
}

/// A `.qdc` codebook: `<CodeBook><Codes>…`.
pub fn parse_codebook(xml: &str) -> ServiceResult<Project> {
    super::xml::on_parser_stack(|| codebook(xml))
}

fn codebook(xml: &str) -> ServiceResult<Project> {
    let doc = parse_document(xml, "the codebook")?;
    let root = doc.root_element();
    if root.tag_name().name() != "CodeBook" {
        return Err(ServiceError::bad_input(format!(
            "a REFI-QDA codebook has a <CodeBook> root, not <{}>",
            root.tag_name().name()
        )));
    }
    let mut project = Project::default();
    if let Some(codes) = child(root, "Codes") {
        codes_into(codes, None, 0, &mut project.codes)?;
    }
    unique_guids(&project)?;
    Ok(project)
}

/// Refuses a file in which two codes, text sources, selections or notes share a GUID: the
/// references to it could not tell them apart, and codings or memos would land on whichever
/// came last.
fn unique_guids(p: &Project) -> ServiceResult<()> {
    let selections = p.sources.iter().flat_map(|s| &s.selections);
    let kinds: [(&str, Vec<&str>); 4] = [
        ("codes", p.codes.iter().map(|c| c.guid.as_str()).collect()),
        (
            "sources",
            p.sources.iter().map(|s| s.guid.as_str()).collect(),
        ),
        ("selections", selections.map(|s| s.guid.as_str()).collect()),
        ("notes", p.notes.iter().map(|n| n.guid.as_str()).collect()),
    ];
    for (what, guids) in kinds {
        let mut seen = HashSet::with_capacity(guids.len());
        if let Some(twice) = guids.into_iter().find(|g| !seen.insert(*g)) {
            return Err(ServiceError::bad_input(format!(
                "two {what} have the GUID {twice}: references to it could not tell them apart; GUIDs must be unique, refused"
            )));
        }
    }
    Ok(())
}

/// Years a date of a project may be in. chrono also reads "-5000" and "+10000", which
/// PostgreSQL cannot store (INTERNAL there, while SQLite took them) and no project means.
pub(crate) fn plausible_year(year: i32) -> bool {
    (1..=9999).contains(&year)
}

/// `creationDateTime` and `modifiedDateTime` (xsd:dateTime; one without a time zone is taken
/// as UTC). An unreadable one is reported; the time of the import stands in for it.
fn dates(n: Node, whose: &str, skipped: &mut Vec<String>) -> Dates {
    let mut one = |name: &str| {
        let raw = attr(n, name)?;
        let parsed = DateTime::parse_from_rfc3339(&raw)
            .map(|d| d.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                NaiveDateTime::parse_from_str(&raw, "%Y-%m-%dT%H:%M:%S%.f")
                    .ok()
                    .map(|d| d.and_utc())
            })
            .filter(|d| plausible_year(d.year()));
        if parsed.is_none() {
            skipped.push(format!(
                "{whose}: {name} {raw:?} is not a date and time (RFC 3339): the time of the import stands in"
            ));
        }
        parsed
    };
    Dates {
        created: one("creationDateTime"),
        modified: one("modifiedDateTime"),
    }
}

/// A selection of the source `source`; `None` (reported) when its positions are unreadable.
fn selection(s: Node, source: &str, p: &mut Project) -> ServiceResult<Option<Selection>> {
    let position = |name| attr(s, name).and_then(|v| v.parse::<i64>().ok());
    // A note about one of the selection's codings is about the quotation that carries them:
    // quaderno keeps no note per code applied.
    let note_refs: Vec<String> = refs(s, "NoteRef")
        .into_iter()
        .chain(children(s, "Coding").flat_map(|c| refs(c, "NoteRef")))
        .map(|g| norm_guid(&g))
        .collect();
    let (Some(start), Some(end)) = (position("startPosition"), position("endPosition")) else {
        p.skipped.push(format!(
            "a selection of {source:?} has no integer startPosition/endPosition: skipped"
        ));
        let what = format!(
            "selection {} of {source:?}",
            attr(s, "guid").unwrap_or_default()
        );
        for r in note_refs {
            p.notes_of_skipped.entry(r).or_insert_with(|| what.clone());
        }
        return Ok(None);
    };
    let guid = guid(s, "selection")?;
    let mut codings = Vec::new();
    for c in children(s, "Coding") {
        match child(c, "CodeRef").and_then(|r| attr(r, "targetGUID")) {
            Some(code) => codings.push(Coding {
                code: norm_guid(&code),
                creating_user: attr(c, "creatingUser").map(|g| norm_guid(&g)),
            }),
            None => p.skipped.push(format!(
                "a coding of selection {guid} ({source:?}) names no code (no CodeRef): skipped"
            )),
        }
    }
    let dates = dates(s, &format!("selection {guid}"), &mut p.skipped);
    Ok(Some(Selection {
        guid,
        start,
        end,
        creating_user: attr(s, "creatingUser").map(|g| norm_guid(&g)),
        description: text_of(child(s, "Description")),
        codings,
        note_refs,
        dates,
    }))
}

/// A `project.qde`.
pub fn parse_project(xml: &str) -> ServiceResult<Project> {
    super::xml::on_parser_stack(|| project(xml))
}

fn project(xml: &str) -> ServiceResult<Project> {
    let doc = parse_document(xml, "project.qde")?;
    let root = doc.root_element();
    if root.tag_name().name() != "Project" {
        return Err(ServiceError::bad_input(format!(
            "a REFI-QDA project has a <Project> root, not <{}>",
            root.tag_name().name()
        )));
    }
    let mut p = Project {
        name: attr(root, "name"),
        origin: attr(root, "origin"),
        creating_user: attr(root, "creatingUserGUID").map(|g| norm_guid(&g)),
        note_refs: refs(root, "NoteRef").iter().map(|g| norm_guid(g)).collect(),
        description: text_of(child(root, "Description")),
        ..Default::default()
    };
    if let Some(users) = child(root, "Users") {
        for u in children(users, "User") {
            p.users.push(User {
                guid: guid(u, "user")?,
                name: attr(u, "name").or_else(|| attr(u, "id")),
            });
        }
    }
    if let Some(codes) = child(root, "CodeBook").and_then(|b| child(b, "Codes")) {
        codes_into(codes, None, 0, &mut p.codes)?;
    }
    if let Some(cases) = child(root, "Cases") {
        for c in children(cases, "Case") {
            p.cases.push(Case {
                guid: guid(c, "case")?,
                name: attr(c, "name"),
                description: text_of(child(c, "Description")),
                source_refs: refs(c, "SourceRef").iter().map(|g| norm_guid(g)).collect(),
            });
            let extra = children(c, "CodeRef").count()
                + children(c, "VariableValue").count()
                + children(c, "SelectionRef").count();
            if extra > 0 {
                p.skipped.push(format!(
                    "case {:?}: {extra} code, variable or selection reference(s) not imported",
                    attr(c, "name").unwrap_or_default()
                ));
            }
        }
    }
    let variable_names: HashMap<String, String> = child(root, "Variables")
        .into_iter()
        .flat_map(|v| children(v, "Variable"))
        .filter_map(|v| Some((norm_guid(&attr(v, "guid")?), attr(v, "name")?)))
        .collect();
    if let Some(sources) = child(root, "Sources") {
        for s in sources.children().filter(|c| c.is_element()) {
            let kind = s.tag_name().name();
            let name = attr(s, "name").unwrap_or_else(|| attr(s, "guid").unwrap_or_default());
            if kind != "TextSource" {
                let selections = s
                    .children()
                    .filter(|c| c.is_element() && c.tag_name().name().ends_with("Selection"))
                    .count();
                let label = match kind {
                    "PDFSource" => "PDF",
                    "PictureSource" => "picture",
                    "AudioSource" => "audio",
                    "VideoSource" => "video",
                    other => other,
                };
                p.skipped.push(format!(
                    "{label} source {name:?} skipped with its {selections} selection(s): only text sources are imported"
                ));
                for r in s.descendants().filter(|d| d.has_tag_name("NoteRef")) {
                    if let Some(g) = attr(r, "targetGUID") {
                        p.notes_of_skipped
                            .entry(norm_guid(&g))
                            .or_insert_with(|| format!("the {label} source {name:?}"));
                    }
                }
                continue;
            }
            let mut selections = Vec::new();
            for sel in children(s, "PlainTextSelection") {
                if let Some(x) = selection(sel, &name, &mut p)? {
                    selections.push(x);
                }
            }
            let whole = children(s, "Coding").count();
            if whole > 0 {
                p.skipped.push(format!(
                    "{whole} coding(s) of the whole source {name:?} not imported (only selections are)"
                ));
            }
            let mut variables = Vec::new();
            for v in children(s, "VariableValue") {
                let target = child(v, "VariableRef").and_then(|r| attr(r, "targetGUID"));
                let Some(variable) = target
                    .as_deref()
                    .and_then(|t| variable_names.get(&norm_guid(t)))
                else {
                    p.skipped.push(format!(
                        "a value of source {name:?} is of variable {}, which the project does not declare with a name: skipped",
                        target.as_deref().unwrap_or("(none)")
                    ));
                    continue;
                };
                let value = v
                    .children()
                    .find(|c| c.is_element() && c.tag_name().name().ends_with("Value"))
                    .and_then(|c| c.text())
                    .map(str::trim)
                    .filter(|t| !t.is_empty());
                match value {
                    Some(value) => variables.push((variable.clone(), value.to_owned())),
                    None => p.skipped.push(format!(
                        "variable {variable:?} of source {name:?} has no value: skipped"
                    )),
                }
            }
            p.sources.push(TextSource {
                guid: guid(s, "text source")?,
                name: attr(s, "name"),
                text: text_ref(s, true),
                description: text_of(child(s, "Description")),
                creating_user: attr(s, "creatingUser").map(|g| norm_guid(&g)),
                selections,
                note_refs: refs(s, "NoteRef").iter().map(|g| norm_guid(g)).collect(),
                variables,
                dates: dates(s, &format!("source {name:?}"), &mut p.skipped),
            });
        }
    }
    if let Some(notes) = child(root, "Notes") {
        for n in children(notes, "Note") {
            let guid = guid(n, "note")?;
            let dates = dates(n, &format!("note {guid}"), &mut p.skipped);
            let text = text_ref(n, false);
            if matches!(text, Text::Missing) {
                let name = attr(n, "name").unwrap_or_else(|| guid.clone());
                p.skipped.push(match attr(n, "richTextPath") {
                    Some(_) => format!(
                        "note {name:?} has only rich text (richTextPath), which is not read: skipped"
                    ),
                    None => format!("note {name:?} has no text: skipped"),
                });
            }
            p.notes.push(Note {
                guid,
                name: attr(n, "name"),
                creating_user: attr(n, "creatingUser").map(|g| norm_guid(&g)),
                text,
                dates,
            });
        }
    }
    for (element, what) in [("Links", "Link"), ("Sets", "Set"), ("Graphs", "Graph")] {
        if let Some(e) = root
            .children()
            .find(|c| c.is_element() && c.tag_name().name() == element)
        {
            let n = e.children().filter(|c| c.is_element()).count();
            p.skipped.push(format!(
                "{n} {what}(s) not imported: quaderno has no such thing"
            ));
        }
    }
    unique_guids(&p)?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(r: ServiceResult<Project>) -> String {
        match r {
            Err(ServiceError::BadInput(m)) => m,
            other => panic!("expected bad input, got {other:?}"),
        }
    }

    #[test]
    fn dtds_and_entities_are_refused_never_expanded() {
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE Project [<!ENTITY x SYSTEM "file:///etc/passwd">]><Project name="&x;"/>"#;
        assert!(bad(parse_project(xxe)).contains("DTD"));
        let laughs =
            r#"<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><Project name="&b;"/>"#;
        assert!(bad(parse_project(laughs)).contains("DTD"));
        // An entity without a DTD is simply unknown.
        assert!(bad(parse_project(r#"<Project name="&x;"/>"#)).contains("not well-formed"));
    }

    #[test]
    fn missing_optional_attributes_and_namespaces_are_tolerated() {
        let p = parse_project(
            r#"<Project name="p"><CodeBook><Codes><Code guid="{AAAAAAAA-0000-0000-0000-000000000001}" isCodable="true" name="a"><Code guid="aaaaaaaa-0000-0000-0000-000000000002" name="b"/></Code></Codes></CodeBook>
            <Sources><TextSource guid="aaaaaaaa-0000-0000-0000-000000000003"><PlainTextContent>città</PlainTextContent>
            <PlainTextSelection guid="aaaaaaaa-0000-0000-0000-000000000004" startPosition="0" endPosition="5"><Coding guid="aaaaaaaa-0000-0000-0000-000000000005"><CodeRef targetGUID="AAAAAAAA-0000-0000-0000-000000000002"/></Coding></PlainTextSelection>
            <PlainTextSelection guid="aaaaaaaa-0000-0000-0000-000000000006" startPosition="x" endPosition="5"/></TextSource>
            <PDFSource guid="aaaaaaaa-0000-0000-0000-000000000007" name="scan"><PDFSelection guid="aaaaaaaa-0000-0000-0000-000000000008" page="1" firstX="0" firstY="0" secondX="1" secondY="1"/></PDFSource></Sources></Project>"#,
        )
        .unwrap();
        assert_eq!(p.codes.len(), 2);
        assert_eq!(p.codes[1].parent, Some(0));
        assert_eq!(p.codes[0].guid, "aaaaaaaa-0000-0000-0000-000000000001");
        assert_eq!(p.sources[0].selections.len(), 1);
        assert_eq!(p.sources[0].selections[0].codings[0].code, p.codes[1].guid);
        assert!(matches!(&p.sources[0].text, Text::Content(t) if t == "città"));
        assert_eq!(p.skipped.len(), 2, "{:?}", p.skipped);
        assert!(p
            .skipped
            .iter()
            .any(|s| s.contains("PDF source \"scan\"") && s.contains("1 selection")));
    }

    #[test]
    fn inline_source_text_keeps_its_line_ends() {
        let xml = "<Project><Sources><TextSource guid=\"a\"><PlainTextContent a=\">\">A\r\nB<!-- x\r\n -->\rC&#10;D<![CDATA[E\r\n&#10;F]]>&amp;G&#x0A;\r\n</PlainTextContent></TextSource></Sources><Notes><Note guid=\"b\"><PlainTextContent>è\r\nsì</PlainTextContent></Note></Notes></Project>";
        let p = parse_project(xml).unwrap();
        assert!(
            matches!(&p.sources[0].text, Text::Content(t) if t == "A\r\nB\rC\nDE\r\n&#10;F&G\n\r\n"),
            "{:?}",
            p.sources[0].text
        );
        // A note is a memo, not a text with positions: as XML reads it.
        assert!(matches!(&p.notes[0].text, Text::Content(t) if t == "è\nsì"));
    }

    #[test]
    fn duplicate_guids_are_refused() {
        let m = bad(parse_project(
            r#"<Project><Notes><Note guid="{ABC}"/><Note guid="abc"/></Notes></Project>"#,
        ));
        assert!(m.contains("two notes have the GUID abc"), "{m}");
        let m = bad(parse_project(
            r#"<Project><Sources><TextSource guid="s1"><PlainTextContent>x</PlainTextContent></TextSource><TextSource guid="S1"/></Sources></Project>"#,
        ));
        assert!(m.contains("two sources have the GUID s1"), "{m}");
    }

    #[test]
    fn codebooks_nest_at_most_max_code_depth_levels() {
        let nested = |levels: usize| {
            let mut xml = String::from("<CodeBook><Codes>");
            for n in 0..levels {
                xml.push_str(&format!(
                    r#"<Code guid="aaaaaaaa-0000-0000-0000-{n:012}" name="c{n}">"#
                ));
            }
            xml.push_str(&"</Code>".repeat(levels));
            xml.push_str("</Codes></CodeBook>");
            xml
        };
        let p = parse_codebook(&nested(MAX_CODE_DEPTH)).unwrap();
        assert_eq!(p.codes.len(), MAX_CODE_DEPTH);
        assert_eq!(p.codes[MAX_CODE_DEPTH - 1].parent, Some(MAX_CODE_DEPTH - 2));
        let m = bad(parse_codebook(&nested(MAX_CODE_DEPTH + 1)));
        assert!(
            m.contains("more than 250 levels") && m.contains("\"c250\""),
            "{m}"
        );
        // Far deeper than any stack holds in frames: refused all the same.
        assert!(bad(parse_codebook(&nested(100_000))).contains("at most 250 levels"));
        let project = format!("<Project>{}</Project>", nested(MAX_CODE_DEPTH + 1));
        assert!(bad(parse_project(&project)).contains("more than 250 levels"));
    }

    #[test]
    fn encodings_other_than_utf8_and_utf16_are_refused() {
        assert_eq!(decode_xml(b"\xEF\xBB\xBF<a/>", "x").unwrap(), "<a/>");
        assert_eq!(decode_xml(b"\xFF\xFE<\0a\0/\0>\0", "x").unwrap(), "<a/>");
        let latin1 = b"<Project name=\"citt\xE0\"/>";
        assert!(
            matches!(decode_xml(latin1, "x"), Err(ServiceError::BadInput(m)) if m.contains("not UTF-8"))
        );
    }
}
