//! REFI-QDA exchange and CSV exports: .qdpx export valid against Project.xsd (checked with
//! xmllint), exact import of projects written by other tools, vendor differences, the round
//! trip, the CSV tables, and bad files refused whole. The project files are read here with
//! roxmltree and zip, independently of the server's own reader.

use std::collections::{BTreeMap, HashMap};
use std::io::{Cursor, Read, Write};

use api_entities::{code, interview, quotation, study};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};
use tests::{error_code, id_number, TestServer};

const IMPORT: &str = "mutation($file: Upload!, $studyId: ID) { importQdpx(file: $file, studyId: $studyId) { study { id title } codes interviews quotations warnings } }";

fn shared(name: &str) -> Vec<u8> {
    let path = format!("{}/../../shared/refi/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `importQdpx` as a browser sends it (see `TestServer::upload`).
async fn import(
    server: &TestServer,
    token: Option<&str>,
    file_name: &str,
    bytes: Vec<u8>,
    study: Option<&Value>,
) -> Value {
    let variables = json!({"file": null, "studyId": study});
    server
        .upload(token, IMPORT, variables, "file", file_name, bytes)
        .await
}

/// Imports a file that must come in without errors, and answers the import's report.
async fn imported(
    server: &TestServer,
    token: Option<&str>,
    file_name: &str,
    bytes: Vec<u8>,
    study: Option<&Value>,
) -> Value {
    let body = import(server, token, file_name, bytes, study).await;
    assert!(body.get("errors").is_none(), "{file_name}: {body:#}");
    body["data"]["importQdpx"].clone()
}

/// A study's codebook, with the fields `selection` names for each of its roots.
async fn codebook_of(server: &TestServer, token: &str, study: &Value, selection: &str) -> Value {
    let query = format!(
        "query($s: ID!) {{ node(id: $s) {{ ... on Study {{ codebook {{ {selection} }} }} }} }}"
    );
    server.ok(Some(token), &query, json!({"s": study})).await["node"]["codebook"].clone()
}

async fn download(server: &TestServer, token: Option<&str>, path: &str) -> (u16, Vec<u8>) {
    let mut req = reqwest::Client::new().get(format!("{}{path}", server.url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.bytes().await.unwrap().to_vec())
}

fn unzip(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).expect("a zip");
    let mut out = BTreeMap::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        out.insert(f.name().unwrap().to_string(), data);
    }
    out
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, options).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn slice(text: &str, start: usize, end: usize) -> String {
    text.chars().skip(start).take(end - start).collect()
}

/// A project as other tools see it: code paths with colours, sources with their texts,
/// selections with their text and code paths.
#[derive(Debug, PartialEq, Eq)]
struct Summary {
    codes: Vec<(String, Option<String>)>,
    sources: Vec<(String, String)>,
    /// (source name, start, end, text, code paths)
    selections: Vec<(String, i64, i64, String, Vec<String>)>,
    cases: Vec<(String, Vec<String>)>,
}

fn local<'a>(n: roxmltree::Node<'a, 'a>, name: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    n.children()
        .filter(|c| c.is_element() && c.tag_name().name() == name)
        .collect()
}

fn summary(files: &BTreeMap<String, Vec<u8>>) -> Summary {
    let xml = String::from_utf8(files["project.qde"].clone()).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let root = doc.root_element();
    let mut paths: HashMap<String, String> = HashMap::new();
    let mut codes = Vec::new();
    fn walk(
        n: roxmltree::Node,
        prefix: &str,
        paths: &mut HashMap<String, String>,
        codes: &mut Vec<(String, Option<String>)>,
    ) {
        for c in n
            .children()
            .filter(|c| c.is_element() && c.tag_name().name() == "Code")
        {
            let path = format!("{prefix}{}", c.attribute("name").unwrap());
            paths.insert(c.attribute("guid").unwrap().to_lowercase(), path.clone());
            codes.push((path.clone(), c.attribute("color").map(str::to_owned)));
            walk(c, &format!("{path}/"), paths, codes);
        }
    }
    if let Some(book) = local(root, "CodeBook").first() {
        walk(local(*book, "Codes")[0], "", &mut paths, &mut codes);
    }
    codes.sort();
    let mut sources = Vec::new();
    let mut selections = Vec::new();
    let mut source_names = HashMap::new();
    for s in root.descendants().filter(|n| n.has_tag_name("TextSource")) {
        let file = s
            .attribute("plainTextPath")
            .unwrap()
            .trim_start_matches("internal://");
        let key = files
            .keys()
            .find(|k| k.eq_ignore_ascii_case(&format!("sources/{file}")))
            .unwrap();
        let text = String::from_utf8(files[key].clone()).unwrap();
        let text = text.trim_start_matches('\u{FEFF}').to_owned();
        let name = s
            .attribute("name")
            .unwrap_or(file.trim_end_matches(".txt"))
            .to_owned();
        source_names.insert(s.attribute("guid").unwrap().to_owned(), name.clone());
        for sel in local(s, "PlainTextSelection") {
            let start: i64 = sel.attribute("startPosition").unwrap().parse().unwrap();
            let end: i64 = sel.attribute("endPosition").unwrap().parse().unwrap();
            let mut codes: Vec<String> = sel
                .descendants()
                .filter(|n| n.has_tag_name("CodeRef"))
                .map(|r| paths[&r.attribute("targetGUID").unwrap().to_lowercase()].clone())
                .collect();
            codes.sort();
            selections.push((
                name.clone(),
                start,
                end,
                slice(&text, start as usize, end as usize),
                codes,
            ));
        }
        sources.push((name, text));
    }
    sources.sort();
    selections.sort();
    let mut cases: Vec<(String, Vec<String>)> = root
        .descendants()
        .filter(|n| n.has_tag_name("Case"))
        .map(|c| {
            let mut s: Vec<String> = local(c, "SourceRef")
                .iter()
                .map(|r| source_names[r.attribute("targetGUID").unwrap()].clone())
                .collect();
            s.sort();
            (c.attribute("name").unwrap_or_default().to_owned(), s)
        })
        .collect();
    cases.sort();
    Summary {
        codes,
        sources,
        selections,
        cases,
    }
}

/// Validates `project.qde` against the REFI-QDA schema with xmllint (Debian: libxml2-utils).
fn assert_valid_against_project_xsd(qde: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("project.qde");
    std::fs::write(&file, qde).unwrap();
    let xsd = format!(
        "{}/../../shared/refi/Project.xsd",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema", &xsd])
        .arg(&file)
        .output()
        .expect("xmllint must be installed to validate exports (apt-get install libxml2-utils)");
    assert!(
        out.status.success(),
        "project.qde does not validate against Project.xsd:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every quotation of a study: (interview label, start, end, text, code paths).
async fn quotations(
    server: &TestServer,
    token: &str,
    study: &Value,
) -> Vec<(String, i64, i64, String, Vec<String>)> {
    let data = server
        .ok(
            Some(token),
            "query($s: ID!) { quotations(filter: {studyIds: [$s]}, first: 1000) { totalCount edges { node { start end text interview { label } codes { path } } } } }",
            json!({"s": study}),
        )
        .await;
    let mut out: Vec<_> = data["quotations"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let n = &e["node"];
            let mut codes: Vec<String> = n["codes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["path"].as_str().unwrap().to_owned())
                .collect();
            codes.sort();
            (
                n["interview"]["label"].as_str().unwrap().to_owned(),
                n["start"].as_i64().unwrap(),
                n["end"].as_i64().unwrap(),
                n["text"].as_str().unwrap().to_owned(),
                codes,
            )
        })
        .collect();
    assert_eq!(
        data["quotations"]["totalCount"].as_u64().unwrap() as usize,
        out.len()
    );
    out.sort();
    out
}

/// The demo's study whose title begins "Reti".
async fn reti(server: &TestServer, token: &str) -> Value {
    server
        .ok(
            Some(token),
            "{ studies(first: 10) { edges { node { id title } } } }",
            json!({}),
        )
        .await["studies"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["title"].as_str().unwrap().starts_with("Reti"))
        .unwrap()["node"]["id"]
        .clone()
}

async fn count_codes(server: &TestServer, study_id: i64) -> u64 {
    code::Entity::find()
        .filter(code::Column::StudyId.eq(study_id))
        .count(&server.db.conn)
        .await
        .unwrap()
}

/// Rows of the tables an import writes, to show that a refused import wrote nothing.
async fn row_counts(server: &TestServer) -> [u64; 4] {
    let db = &server.db.conn;
    [
        study::Entity::find().count(db).await.unwrap(),
        code::Entity::find().count(db).await.unwrap(),
        interview::Entity::find().count(db).await.unwrap(),
        quotation::Entity::find().count(db).await.unwrap(),
    ]
}

#[tokio::test]
async fn projects_written_by_other_tools_import_exactly() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    for (file, empty_sources) in [
        ("demo-qualitative-coding.qdpx", 0),
        ("nvivo_project.qdpx", 2),
    ] {
        let bytes = shared(file);
        let files = unzip(&bytes);
        let xml = String::from_utf8(files["project.qde"].clone()).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let count = |tag: &str| doc.descendants().filter(|n| n.has_tag_name(tag)).count();

        let report = &imported(&server, Some(&admin), file, bytes.clone(), None).await;
        assert_eq!(report["codes"], count("Code"), "{file}");
        // NVivo writes a source for each document without text: skipped, and said so.
        assert_eq!(
            report["interviews"],
            count("TextSource") - empty_sources,
            "{file}"
        );
        assert_eq!(report["quotations"], count("PlainTextSelection"), "{file}");
        assert_eq!(report["study"]["title"], "qc project");
        let warnings = report["warnings"].as_array().unwrap();
        assert_eq!(
            warnings
                .iter()
                .filter(|w| w.as_str().unwrap().contains("has no text: skipped"))
                .count(),
            empty_sources,
            "{file}: {warnings:?}"
        );
        let study = report["study"]["id"].clone();
        let study_id = id_number(study.as_str().unwrap());
        assert_eq!(count_codes(&server, study_id).await, count("Code") as u64);

        // Each quotation is exactly the code-point slice of the source text the file gives.
        let expected = summary(&files).selections;
        let got = quotations(&server, &admin, &study).await;
        assert_eq!(got.len(), count("PlainTextSelection"));
        assert_eq!(got, expected, "{file}");
        assert!(got.iter().all(|q| !q.3.is_empty()));
    }
}

#[tokio::test]
async fn the_export_validates_against_project_xsd_and_matches_the_study() {
    let server = TestServer::demo().await;
    let admin = server.admin().await;
    let studies = server
        .ok(
            Some(&admin),
            "{ studies { edges { node { id title } } } }",
            json!({}),
        )
        .await;
    let study = studies["studies"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .find(|s| {
            s["title"]
                .as_str()
                .unwrap()
                .starts_with("Reti territoriali")
        })
        .unwrap()["id"]
        .clone();
    // A memo on a code and one on the study become notes, referred to from what they are on.
    let codebook = codebook_of(&server, &admin, &study, "id name color").await;
    let first_code = codebook[0].clone();
    for (target, text) in [
        (&first_code["id"], "Nota sul codice: è così’"),
        (&study, "Nota sullo studio"),
    ] {
        server
            .ok(Some(&admin), "mutation($t: ID!, $x: String!) { createMemo(input: {targetId: $t, text: $x}) { id } }", json!({"t": target, "x": text}))
            .await;
    }

    let exports = server
        .ok(Some(&admin), "query($s: ID!) { studyExports(studyId: $s) { qdpxUrl quotationsCsvUrl codeCaseMatrixCsvUrl } }", json!({"s": study}))
        .await["studyExports"]
        .clone();
    let url = exports["qdpxUrl"].as_str().unwrap();
    let (status, bytes) = download(&server, Some(&admin), url).await;
    assert_eq!(status, 200);
    let (_, again) = download(&server, Some(&admin), url).await;
    assert_eq!(bytes, again, "the same study exports to the same bytes");

    let files = unzip(&bytes);
    assert_valid_against_project_xsd(&files["project.qde"]);
    assert!(files
        .keys()
        .all(|k| k == "project.qde" || (k.starts_with("sources/") && k.ends_with(".txt"))));

    // Selections are the study's quotations, positions in code points.
    let s = summary(&files);
    let ours = quotations(&server, &admin, &study).await;
    assert_eq!(ours.len(), 127);
    assert_eq!(s.selections, ours);
    assert!(
        ours.iter().any(|q| q.3.chars().count() != q.3.len()),
        "some quotation has non-ASCII text"
    );

    let xml = String::from_utf8(files["project.qde"].clone()).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().namespace(), Some("urn:QDA-XML:project:1.0"));
    assert_eq!(s.sources.len(), 16);
    assert_eq!(s.cases.len(), 4);
    assert_eq!(
        s.cases
            .iter()
            .map(|(_, sources)| sources.len())
            .sum::<usize>(),
        16
    );
    let study_id = id_number(study.as_str().unwrap());
    assert_eq!(s.codes.len() as u64, count_codes(&server, study_id).await);
    assert!(
        s.codes.iter().any(|(p, _)| p.contains('/')),
        "hierarchy kept"
    );
    let coloured = s.codes.iter().filter(|(_, c)| c.is_some()).count();
    assert!(
        coloured > 0
            && s.codes
                .iter()
                .all(|(_, c)| c.as_ref().is_none_or(|c| c.len() == 7))
    );
    // Users are the coders; codings name them.
    let users: HashMap<&str, &str> = root
        .descendants()
        .filter(|n| n.has_tag_name("User"))
        .map(|u| (u.attribute("guid").unwrap(), u.attribute("name").unwrap()))
        .collect();
    assert!(!users.is_empty());
    assert!(root
        .descendants()
        .filter(|n| n.has_tag_name("PlainTextSelection"))
        .all(|s| s
            .attribute("creatingUser")
            .is_some_and(|u| users.contains_key(u))));
    // Notes.
    let note = root
        .descendants()
        .find(|n| {
            n.has_tag_name("Note")
                && n.descendants()
                    .any(|t| t.text() == Some("Nota sul codice: è così’"))
        })
        .expect("the code memo as a note");
    let code_node = root
        .descendants()
        .find(|n| n.has_tag_name("Code") && n.attribute("name") == first_code["name"].as_str())
        .unwrap();
    assert!(local(code_node, "NoteRef")
        .iter()
        .any(|r| r.attribute("targetGUID") == note.attribute("guid")));
    let study_note = root
        .descendants()
        .find(|n| {
            n.has_tag_name("Note")
                && n.descendants()
                    .any(|t| t.text() == Some("Nota sullo studio"))
        })
        .expect("the study memo as a note");
    assert!(
        local(root, "NoteRef")
            .iter()
            .any(|r| r.attribute("targetGUID") == study_note.attribute("guid")),
        "the study memo hangs on the project"
    );

    // An unknown study is not found, a malformed id is a bad request.
    let (status, _) = download(&server, None, "/studies/U3R1ZHk6OTk5OQ/export.qdpx").await;
    assert_eq!(status, 404);
    let (status, _) = download(&server, None, "/studies/nope/export.qdpx").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn export_import_export_keeps_codes_sources_and_selections() {
    let server = TestServer::demo().await;
    let admin = server.admin().await;
    let first = reti(&server, &admin).await;
    // Memos on a case (QDA-XML has no note references on cases) and on the study.
    const MEMOS: &str = "query($s: ID!) { node(id: $s) { ... on Study { memos { text } cases { edges { node { label memos { text } } } } } } }";
    let case = server.ok(Some(&admin), MEMOS, json!({"s": first})).await["node"]["cases"]["edges"]
        [0]["node"]["label"]
        .clone();
    let case_id = server
        .ok(
            Some(&admin),
            "query($s: ID!) { node(id: $s) { ... on Study { cases { edges { node { id } } } } } }",
            json!({"s": first}),
        )
        .await["node"]["cases"]["edges"][0]["node"]["id"]
        .clone();
    for (target, text) in [
        (&case_id, "Caso difficile: è così’"),
        (&case_id, "Seconda nota sul caso"),
        (&first, "Nota sullo studio"),
    ] {
        server
            .ok(
                Some(&admin),
                "mutation($t: ID!, $x: String!) { createMemo(input: {targetId: $t, text: $x}) { id } }",
                json!({"t": target, "x": text}),
            )
            .await;
    }
    // An interview in another language than the demo's Italian.
    server
        .ok(
            Some(&admin),
            "mutation($c: ID!) { createInterview(input: {caseId: $c, label: \"Int. EN\", transcript: \"R: it changed a lot.\", language: \"en\"}) { id } }",
            json!({"c": case_id}),
        )
        .await;
    // The study's own fields travel in the project's description.
    server
        .ok(
            Some(&admin),
            "mutation($s: ID!) { updateStudy(input: {id: $s, authors: [\"Maria Rossì\", \"Luca Bianchi\"], year: 2023, researchQuestions: [\"Com’è cambiata la rete?\", \"Perché lì?\\n  e non più a sud\"]}) { id } }",
            json!({"s": first}),
        )
        .await;
    let path = |s: &Value| format!("/studies/{}/export.qdpx", s.as_str().unwrap());
    let (_, exported) = download(&server, Some(&admin), &path(&first)).await;
    assert_valid_against_project_xsd(&unzip(&exported)["project.qde"]);
    let report = &imported(&server, Some(&admin), "reti.qdpx", exported.clone(), None).await;
    assert_eq!(report["quotations"], 127);
    assert_eq!(report["interviews"], 17);
    assert_eq!(report["warnings"], json!([]));
    let copy = report["study"]["id"].clone();
    assert_ne!(copy, first);
    let (_, re_exported) = download(&server, Some(&admin), &path(&copy)).await;
    let (a, b) = (summary(&unzip(&exported)), summary(&unzip(&re_exported)));
    assert_eq!(a.codes, b.codes);
    assert_eq!(a.sources, b.sources);
    assert_eq!(a.selections, b.selections);
    assert_eq!(a.cases, b.cases);
    assert_eq!(
        quotations(&server, &admin, &first).await,
        quotations(&server, &admin, &copy).await
    );
    // Interview dates, roles and languages travel as variables of the sources.
    let interviews = |study: Value| {
        let server = &server;
        let admin = &admin;
        async move {
            let data = server
                .ok(Some(admin), "query($s: ID!) { node(id: $s) { ... on Study { cases { edges { node { label interviews { edges { node { label conductedOn intervieweeRole language } } } } } } } } }", json!({"s": study}))
                .await;
            let mut rows: Vec<String> = Vec::new();
            for c in data["node"]["cases"]["edges"].as_array().unwrap() {
                for i in c["node"]["interviews"]["edges"].as_array().unwrap() {
                    rows.push(format!("{} {}", c["node"]["label"], i["node"]));
                }
            }
            rows.sort();
            rows
        }
    };
    let original = interviews(first.clone()).await;
    assert!(
        original.iter().any(|r| r.contains("\"conductedOn\":\"2")),
        "{original:?}"
    );
    assert!(
        original
            .iter()
            .any(|r| !r.contains("\"intervieweeRole\":null")),
        "{original:?}"
    );
    assert!(
        original.iter().any(|r| r.contains("\"language\":\"en\"")),
        "{original:?}"
    );
    assert_eq!(original, interviews(copy.clone()).await);
    // The case's memos come back on the case (as one), not on the study.
    let copied = server.ok(Some(&admin), MEMOS, json!({"s": copy})).await;
    assert_eq!(
        copied["node"]["memos"],
        json!([{"text": "Nota sullo studio"}])
    );
    let on_case = copied["node"]["cases"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["node"]["label"] == case)
        .unwrap()["node"]["memos"]
        .clone();
    assert_eq!(
        on_case,
        json!([{"text": "Caso difficile: è così’\n\nSeconda nota sul caso"}])
    );
    const FIELDS: &str =
        "query($s: ID!) { node(id: $s) { ... on Study { title authors year researchQuestions } } }";
    let fields = server.ok(Some(&admin), FIELDS, json!({"s": first})).await;
    assert_eq!(fields["node"]["year"], 2023);
    assert_eq!(
        fields["node"]["researchQuestions"][1],
        "Perché lì?\n  e non più a sud"
    );
    assert_eq!(
        server.ok(Some(&admin), FIELDS, json!({"s": copy})).await,
        fields
    );
}

const TEXT_CRLF: &str = "INT: Com’è la città?\r\nR: Là è difficile, però…\r\nINT: Perché?\r\n";

fn project_with_positions(origin: &str, crlf_counts_one: bool) -> String {
    let text = if crlf_counts_one {
        TEXT_CRLF.replace("\r\n", "\n")
    } else {
        TEXT_CRLF.to_owned()
    };
    let span = |needle: &str| {
        let b = text.find(needle).unwrap();
        let s = text[..b].chars().count();
        (s, s + needle.chars().count())
    };
    let sel = |n: u32, needle: &str, code: &str| {
        let (s, e) = span(needle);
        format!(
            r#"<PlainTextSelection guid="00000000-0000-0000-0001-{n:012}" startPosition="{s}" endPosition="{e}"><Coding guid="00000000-0000-0000-0002-{n:012}"><CodeRef targetGUID="{code}"/></Coding></PlainTextSelection>"#
        )
    };
    format!(
        r##"<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="Vendors" origin="{origin}">
<CodeBook><Codes><Code guid="{{AAAAAAAA-0000-0000-0000-00000000000A}}" name="Luoghi" isCodable="false" color="#abc"><Code guid="aaaaaaaa-0000-0000-0000-00000000000b" name="Città/paese" isCodable="true"/></Code><Code guid="aaaaaaaa-0000-0000-0000-00000000000c" name="Ragioni"/></Codes></CodeBook>
<Sources>
<TextSource guid="bbbbbbbb-0000-0000-0000-000000000001" plainTextPath="internal://one.txt">{}{}</TextSource>
<TextSource guid="bbbbbbbb-0000-0000-0000-000000000002" name="Seconda" plainTextPath="two.txt">{}</TextSource>
<PDFSource guid="cccccccc-0000-0000-0000-000000000001" name="Delibera.pdf" path="internal://d.pdf"><PDFSelection guid="cccccccc-0000-0000-0000-000000000002" page="1" firstX="0" firstY="0" secondX="9" secondY="9"/><PDFSelection guid="cccccccc-0000-0000-0000-000000000003" page="2" firstX="0" firstY="0" secondX="9" secondY="9"/></PDFSource>
<AudioSource guid="cccccccc-0000-0000-0000-000000000004" name="Registrazione"/>
</Sources></Project>"##,
        sel(1, "città", "AAAAAAAA-0000-0000-0000-00000000000B"),
        sel(2, "Perché", "aaaaaaaa-0000-0000-0000-00000000000c"),
        sel(
            3,
            "Là è difficile, però…",
            "aaaaaaaa-0000-0000-0000-00000000000a"
        ),
    )
}

#[tokio::test]
async fn vendor_differences_are_tolerated_and_skips_reported() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    for (origin, crlf_counts_one) in [("ATLAS.ti 23.2", true), ("MAXQDA 2022", false)] {
        let qde = project_with_positions(origin, crlf_counts_one);
        let bom_text = format!("\u{FEFF}{TEXT_CRLF}");
        let zip = zip_of(&[
            ("project.qde", qde.as_bytes()),
            ("Sources/one.txt", bom_text.as_bytes()),
            ("Sources/two.txt", TEXT_CRLF.as_bytes()),
        ]);
        let report = &imported(&server, Some(&admin), "vendor.qdpx", zip, None).await;
        assert_eq!(report["interviews"], 2);
        assert_eq!(report["quotations"], 3);
        assert_eq!(report["codes"], 3);
        let warnings: Vec<&str> = report["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap())
            .collect();
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("PDF source \"Delibera.pdf\"") && w.contains("2 selection(s)")),
            "{warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("audio source \"Registrazione\"")),
            "{warnings:?}"
        );
        assert!(
            warnings.iter().any(|w| w.contains("Città/paese")),
            "{warnings:?}"
        );
        let got = quotations(&server, &admin, &report["study"]["id"]).await;
        let texts: Vec<(&str, &str, &str)> = got
            .iter()
            .map(|q| (q.0.as_str(), q.3.as_str(), q.4[0].as_str()))
            .collect();
        assert_eq!(
            texts,
            [
                ("Seconda", "Là è difficile, però…", "Luoghi"),
                ("one", "città", "Luoghi/Città∕paese"),
                ("one", "Perché", "Ragioni"),
            ],
            "{origin}"
        );
        let codebook = codebook_of(
            &server,
            &admin,
            &report["study"]["id"],
            "name color children { name }",
        )
        .await;
        assert_eq!(codebook[0]["color"], "#AABBCC");
        // Transcripts are stored with LF, without the BOM, and each says which file of the
        // project it was read from and what changed on the way in.
        let transcripts = server
            .ok(Some(&admin), "query($s: ID!) { node(id: $s) { ... on Study { cases { edges { node { interviews { edges { node { label transcript sourceFile normalisation } } } } } } } } }", json!({"s": report["study"]["id"]}))
            .await;
        let case = &transcripts["node"]["cases"]["edges"][0]["node"];
        let interviews = case["interviews"]["edges"].as_array().unwrap();
        assert_eq!(
            interviews.len(),
            2,
            "both sources in the case for caseless sources"
        );
        for e in interviews {
            assert_eq!(e["node"]["transcript"], TEXT_CRLF.replace("\r\n", "\n"));
        }
        let provenance: Vec<Value> = interviews
            .iter()
            .map(|e| {
                json!([
                    e["node"]["label"],
                    e["node"]["sourceFile"],
                    e["node"]["normalisation"]
                ])
            })
            .collect();
        assert_eq!(
            provenance,
            [
                json!([
                    "one",
                    "vendor.qdpx/Sources/one.txt",
                    ["BOM_STRIPPED", "LINE_ENDINGS"]
                ]),
                json!(["Seconda", "vendor.qdpx/Sources/two.txt", ["LINE_ENDINGS"]]),
            ],
            "{origin}"
        );
    }
}

#[tokio::test]
async fn a_codebook_imports_into_a_study_and_again_without_duplicates() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let corpus = server
        .corpus(&admin, "Codebook", &["Testo qualsiasi."])
        .await;
    let qdc = r##"<?xml version="1.0" encoding="utf-8"?><CodeBook xmlns="urn:QDA-XML:codebook:1.0" origin="QualCoder"><Codes><Code guid="dddddddd-0000-0000-0000-000000000001" name="Welfare" isCodable="true" color="#112233"><Description>Politiche sociali</Description><Code guid="dddddddd-0000-0000-0000-000000000002" name="Casa" isCodable="true"/></Code></Codes></CodeBook>"##;
    let first = imported(
        &server,
        Some(&admin),
        "codici.qdc",
        qdc.into(),
        Some(&corpus.study),
    )
    .await;
    assert_eq!(first["codes"], 2);
    assert_eq!(first["study"]["id"], corpus.study);
    let again = import(
        &server,
        Some(&admin),
        "codici.qdc",
        qdc.into(),
        Some(&corpus.study),
    )
    .await;
    assert_eq!(again["data"]["importQdpx"]["codes"], 0);
    assert!(again["data"]["importQdpx"]["warnings"][0]
        .as_str()
        .unwrap()
        .contains("2 code(s) matched"));
    let study_id = id_number(corpus.study.as_str().unwrap());
    assert_eq!(count_codes(&server, study_id).await, 2);
    let codebook = codebook_of(
        &server,
        &admin,
        &corpus.study,
        "name color description children { path }",
    )
    .await;
    assert_eq!(
        codebook,
        json!([{"name": "Welfare", "color": "#112233", "description": "Politiche sociali", "children": [{"path": "Welfare/Casa"}]}])
    );
}

/// A codebook's name written with a combining accent is the study's code of that name: it
/// is reused, not added beside it looking the same.
#[tokio::test]
async fn a_code_name_with_a_combining_accent_reuses_the_code_of_that_name() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let corpus = server.corpus(&admin, "Accenti", &["Testo."]).await;
    server
        .ok(
            Some(&admin),
            "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"Perché\"}) { id } }",
            json!({"s": corpus.study}),
        )
        .await;
    let qdc = "<?xml version=\"1.0\" encoding=\"utf-8\"?><CodeBook xmlns=\"urn:QDA-XML:codebook:1.0\"><Codes><Code guid=\"dddddddd-0000-0000-0000-000000000009\" name=\"Perche\u{301}\" isCodable=\"true\"/><Code guid=\"dddddddd-0000-0000-0000-00000000000a\" name=\"Citta\u{300}\" isCodable=\"true\"/></Codes></CodeBook>";
    let body = imported(
        &server,
        Some(&admin),
        "accenti.qdc",
        qdc.into(),
        Some(&corpus.study),
    )
    .await;
    assert_eq!(body["codes"], 1, "{body:#}");
    let codebook = codebook_of(&server, &admin, &corpus.study, "name").await;
    let mut names: Vec<&str> = codebook
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["Città", "Perché"]);
}

#[tokio::test]
async fn bad_files_are_refused_whole_with_a_reason() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let good_qde = project_with_positions("QualCoder", false);
    let sample = shared("demo-qualitative-coding.qdpx");
    let with_qde = |qde: &str| {
        zip_of(&[
            ("project.qde", qde.as_bytes()),
            ("sources/one.txt", TEXT_CRLF.as_bytes()),
            ("sources/two.txt", TEXT_CRLF.as_bytes()),
        ])
    };
    let bomb = zip_of(&[("project.qde", &vec![b' '; 16 * 1024 * 1024])]);
    assert!(bomb.len() < 200_000);
    // Letters that compress about 2:1, one past the longest transcript.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let too_long: String = (0..2_000_001)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            "abcdefghilmnopqrstuvzà "
                .chars()
                .nth((state % 23) as usize)
                .unwrap()
        })
        .collect();
    // One small text named by 300 sources: 300 MiB from a file of a few kilobytes.
    let many_sources: String = (0..300)
        .map(|n| format!(r#"<TextSource guid="eeeeeeee-0000-0000-0000-{n:012}" plainTextPath="internal://a.txt"/>"#))
        .collect();
    let one_text_for_many = zip_of(&[
        (
            "project.qde",
            format!(r#"<Project xmlns="urn:QDA-XML:project:1.0" name="Molti"><Sources>{many_sources}</Sources></Project>"#).as_bytes(),
        ),
        ("sources/a.txt", &vec![b'a'; 1024 * 1024]),
    ]);
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "truncated zip",
            "p.qdpx",
            sample[..sample.len() / 2].to_vec(),
            "not a readable zip",
        ),
        (
            "not a zip",
            "p.qdpx",
            b"just some text".to_vec(),
            "not a zip",
        ),
        ("zip bomb", "p.qdpx", bomb, "zip bomb"),
        (
            "path escaping the archive",
            "p.qdpx",
            zip_of(&[
                ("project.qde", good_qde.as_bytes()),
                ("../../etc/evil.txt", b"x"),
            ]),
            "outside the archive",
        ),
        (
            "source path escaping the archive",
            "p.qdpx",
            with_qde(&good_qde.replace("internal://one.txt", "internal://../../etc/passwd")),
            "outside the archive",
        ),
        (
            "external entity",
            "p.qdpx",
            with_qde(&good_qde.replace(
                "<Project ",
                "<!DOCTYPE Project [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n<Project ",
            )),
            "DTD",
        ),
        (
            "missing source file",
            "p.qdpx",
            zip_of(&[
                ("project.qde", good_qde.as_bytes()),
                ("sources/one.txt", TEXT_CRLF.as_bytes()),
            ]),
            "does not contain",
        ),
        (
            "source not UTF-8",
            "p.qdpx",
            zip_of(&[
                ("project.qde", good_qde.as_bytes()),
                ("sources/one.txt", b"Citt\xE0 e paese"),
                ("sources/two.txt", TEXT_CRLF.as_bytes()),
            ]),
            "not UTF-8",
        ),
        (
            "NUL in a source text",
            "p.qdpx",
            zip_of(&[
                ("project.qde", good_qde.as_bytes()),
                ("sources/one.txt", "Città\0 e paese".as_bytes()),
                ("sources/two.txt", TEXT_CRLF.as_bytes()),
            ]),
            "sources/one.txt (source \"bbbbbbbb-0000-0000-0000-000000000001\") contains a NUL character",
        ),
        (
            "source past the transcript limit",
            "p.qdpx",
            zip_of(&[
                ("project.qde", good_qde.as_bytes()),
                ("sources/one.txt", too_long.as_bytes()),
                ("sources/two.txt", TEXT_CRLF.as_bytes()),
            ]),
            "source \"bbbbbbbb-0000-0000-0000-000000000001\": the transcript holds 2000001 characters: at most 2000000",
        ),
        ("one text named by many sources", "p.qdpx", one_text_for_many, "zip bomb"),
        (
            "project.qde not UTF-8",
            "p.qdpx",
            zip_of(&[("project.qde", b"<Project name=\"Citt\xE0\"/>")]),
            "not UTF-8",
        ),
        (
            "malformed XML",
            "p.qdpx",
            with_qde(
                &good_qde
                    .chars()
                    .take(good_qde.chars().count() / 2)
                    .collect::<String>(),
            ),
            "not well-formed",
        ),
        (
            "no project.qde",
            "p.qdpx",
            zip_of(&[("sources/one.txt", b"x")]),
            "no project.qde",
        ),
        (
            "two codes with one GUID",
            "p.qdpx",
            with_qde(&good_qde.replace(
                "aaaaaaaa-0000-0000-0000-00000000000c",
                "{AAAAAAAA-0000-0000-0000-00000000000B}",
            )),
            "two codes have the GUID aaaaaaaa-0000-0000-0000-00000000000b",
        ),
        (
            "two selections with one GUID",
            "p.qdpx",
            with_qde(&good_qde.replace(
                "00000000-0000-0000-0001-000000000002",
                "00000000-0000-0000-0001-000000000001",
            )),
            "two selections have the GUID 00000000-0000-0000-0001-000000000001",
        ),
        (
            "two codes with one GUID in a codebook",
            "c.qdc",
            r#"<CodeBook><Codes><Code guid="dddddddd-0000-0000-0000-000000000001" name="Casa"/><Code guid="DDDDDDDD-0000-0000-0000-000000000001" name="Città"/></Codes></CodeBook>"#.as_bytes().to_vec(),
            "two codes have the GUID dddddddd-0000-0000-0000-000000000001",
        ),
        (
            "codebook with a DTD",
            "c.qdc",
            b"<!DOCTYPE CodeBook [<!ENTITY a \"aaaa\">]><CodeBook><Codes/></CodeBook>".to_vec(),
            "DTD",
        ),
    ];
    let before = row_counts(&server).await;
    for (what, name, bytes, reason) in cases {
        let body = import(&server, Some(&admin), name, bytes, None).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{what}: {body:#}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(reason), "{what}: {message}");
        assert_eq!(row_counts(&server).await, before, "{what}: nothing written");
    }
}

#[tokio::test]
async fn an_import_refused_midway_leaves_nothing_behind() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let corpus = server.corpus(&admin, "Studio", &["Testo."]).await;
    let study_id = id_number(corpus.study.as_str().unwrap());
    let analyst = server.token("analista", "analyst", Some(study_id)).await;
    let viewer = server.token("lettore", "viewer", Some(study_id)).await;
    // Codes are written before the case the analyst may not create: all must go.
    let qde = r#"<Project xmlns="urn:QDA-XML:project:1.0" name="p"><CodeBook><Codes><Code guid="eeeeeeee-0000-0000-0000-000000000001" name="Nuovo" isCodable="true"/></Codes></CodeBook><Cases><Case guid="eeeeeeee-0000-0000-0000-000000000002" name="Caso nuovo"><SourceRef targetGUID="eeeeeeee-0000-0000-0000-000000000003"/></Case></Cases><Sources><TextSource guid="eeeeeeee-0000-0000-0000-000000000003" name="T"><PlainTextContent>Città è però.</PlainTextContent><PlainTextSelection guid="eeeeeeee-0000-0000-0000-000000000004" startPosition="0" endPosition="5"/></TextSource></Sources></Project>"#;
    let zip = zip_of(&[("project.qde", qde.as_bytes())]);
    let before = row_counts(&server).await;
    let body = import(
        &server,
        Some(&analyst),
        "p.qdpx",
        zip.clone(),
        Some(&corpus.study),
    )
    .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body:#}");
    assert_eq!(row_counts(&server).await, before);
    assert_eq!(count_codes(&server, study_id).await, 0);
    let body = import(
        &server,
        Some(&viewer),
        "p.qdpx",
        zip.clone(),
        Some(&corpus.study),
    )
    .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let body = import(&server, None, "p.qdpx", zip.clone(), None).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body:#}");
    assert_eq!(row_counts(&server).await, before);
    // Into the existing case the analyst may import; the inline text's slice is exact.
    let into_case = qde.replace("Caso nuovo", "Caso");
    imported(
        &server,
        Some(&analyst),
        "p.qdpx",
        zip_of(&[("project.qde", into_case.as_bytes())]),
        Some(&corpus.study),
    )
    .await;
    let got = quotations(&server, &analyst, &corpus.study).await;
    assert_eq!(
        got,
        vec![("T".to_owned(), 0, 5, "Città".to_owned(), vec![])]
    );
}

#[tokio::test]
async fn quotations_and_the_code_case_matrix_export_as_csv() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let text = "INT: Com’è la città?\nR: Là è difficile, però si va avanti.";
    let corpus = server.corpus(&admin, "Tabelle", &[text]).await;
    let code = |name: &str, parent: Option<&Value>| {
        let server = &server;
        let admin = &admin;
        let study = corpus.study.clone();
        let name = name.to_owned();
        let parent = parent.cloned();
        async move {
            server
                .ok(Some(admin), "mutation($s: ID!, $n: String!, $p: ID) { createCode(input: {studyId: $s, name: $n, parentId: $p}) { id } }", json!({"s": study, "n": name, "p": parent}))
                .await["createCode"]["id"]
                .clone()
        }
    };
    let luoghi = code("Luoghi", None).await;
    let citta = code("Città", Some(&luoghi)).await;
    let ostacoli = code("Ostacoli", None).await;
    let span = |needle: &str| {
        let b = text.find(needle).unwrap();
        let s = text[..b].chars().count();
        (s, s + needle.chars().count())
    };
    for (needle, codes, memo) in [
        ("la città", vec![&citta], Some("luogo, \"centrale\"")),
        ("Là è difficile, però", vec![&ostacoli, &luoghi], None),
    ] {
        let (s, e) = span(needle);
        server
            .ok(Some(&admin), "mutation($i: ID!, $s: Int!, $e: Int!, $c: [ID!]!, $m: String) { createQuotation(input: {interviewId: $i, start: $s, end: $e, codeIds: $c, memo: $m}) { id } }", json!({"i": corpus.interviews[0]["id"], "s": s, "e": e, "c": codes, "m": memo}))
            .await;
    }
    let study = corpus.study.as_str().unwrap();
    let (status, body) = download(
        &server,
        Some(&admin),
        &format!("/studies/{study}/quotations.csv"),
    )
    .await;
    assert_eq!(status, 200);
    // A byte-order mark, so that Excel reads "città" as UTF-8; CSV readers skip it.
    assert!(body.starts_with("\u{FEFF}study,".as_bytes()));
    let mut reader = csv::Reader::from_reader(body.as_slice());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "study",
            "case",
            "interview",
            "start",
            "end",
            "text",
            "codes",
            "coder",
            "memo",
            "notes"
        ]
    );
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    let (s1, e1) = span("la città");
    let (s2, e2) = span("Là è difficile, però");
    assert_eq!(
        rows,
        [
            [
                "Tabelle",
                "Caso",
                "Int. 1",
                &s1.to_string(),
                &e1.to_string(),
                "la città",
                "Luoghi/Città",
                "admin",
                "luogo, \"centrale\"",
                ""
            ],
            [
                "Tabelle",
                "Caso",
                "Int. 1",
                &s2.to_string(),
                &e2.to_string(),
                "Là è difficile, però",
                "Luoghi; Ostacoli",
                "admin",
                "",
                ""
            ],
        ]
    );
    let (status, body) = download(
        &server,
        Some(&admin),
        &format!("/studies/{study}/code-case-matrix.csv"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "\u{FEFF}code,Caso\nLuoghi,2\nLuoghi/Città,1\nOstacoli,1\n",
        "a code counts with its descendants"
    );
    let (status, _) = download(&server, None, &format!("/studies/{study}/quotations.csv")).await;
    assert_eq!(status, 404, "a private study is not found without a token");
}

#[tokio::test]
async fn notes_become_memos_and_adjustments_are_reported() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let qde = r#"<Project xmlns="urn:QDA-XML:project:1.0" name="Note" creatingUserGUID="f0000000-0000-0000-0000-000000000001">
<Users><User guid="f0000000-0000-0000-0000-000000000001" name="Giulia"/><User guid="f0000000-0000-0000-0000-000000000002" id="MR"/></Users>
<CodeBook><Codes>
  <Code guid="f1000000-0000-0000-0000-000000000001" name="Casa" isCodable="true" color="verde"><NoteRef targetGUID="f4000000-0000-0000-0000-000000000002"/></Code>
  <Code guid="f1000000-0000-0000-0000-000000000002" name="casa" isCodable="true"/>
</Codes></CodeBook>
<Variables><Variable guid="f5000000-0000-0000-0000-000000000001" name="Età" typeOfVariable="Integer"/><Variable guid="f5000000-0000-0000-0000-000000000002" name="Role" typeOfVariable="Text"/></Variables>
<Cases>
  <Case guid="f2000000-0000-0000-0000-000000000001" name="Asti"><Description>Un caso piccolo</Description><SourceRef targetGUID="f3000000-0000-0000-0000-000000000001"/></Case>
  <Case guid="f2000000-0000-0000-0000-000000000002" name="Alba"><SourceRef targetGUID="f3000000-0000-0000-0000-000000000001"/></Case>
</Cases>
<Sources><TextSource guid="f3000000-0000-0000-0000-000000000001" name="Int. A" creatingUser="f0000000-0000-0000-0000-000000000002">
  <PlainTextContent>La casa è lì, però cara.</PlainTextContent>
  <PlainTextSelection guid="f3100000-0000-0000-0000-000000000001" startPosition="3" endPosition="7"><Description>casa!</Description>
    <Coding guid="f3200000-0000-0000-0000-000000000001"><CodeRef targetGUID="f1000000-0000-0000-0000-000000000002"/></Coding>
    <Coding guid="f3200000-0000-0000-0000-000000000002"><CodeRef targetGUID="f1000000-0000-0000-0000-0000000000ff"/></Coding>
    <NoteRef targetGUID="f4000000-0000-0000-0000-000000000001"/></PlainTextSelection>
  <PlainTextSelection guid="f3100000-0000-0000-0000-000000000002" startPosition="10" endPosition="99"/>
  <PlainTextSelection guid="f3100000-0000-0000-0000-000000000003" startPosition="5" endPosition="5"/>
  <VariableValue><VariableRef targetGUID="f5000000-0000-0000-0000-000000000001"/><IntegerValue>54</IntegerValue></VariableValue>
  <VariableValue><VariableRef targetGUID="f5000000-0000-0000-0000-000000000002"/><TextValue>assessora</TextValue></VariableValue>
</TextSource></Sources>
<Notes>
  <Note guid="f4000000-0000-0000-0000-000000000001" name="n1" creatingUser="f0000000-0000-0000-0000-000000000001"><PlainTextContent>Nota sulla citazione: è così’</PlainTextContent></Note>
  <Note guid="f4000000-0000-0000-0000-000000000002" name="n2"><PlainTextContent>Nota sul codice</PlainTextContent></Note>
  <Note guid="f4000000-0000-0000-0000-000000000003" name="n3" plainTextPath="internal://n3.txt"/>
  <Note guid="f4000000-0000-0000-0000-000000000004" name="n4" plainTextPath="internal://n4.txt"/>
</Notes></Project>"#;
    let report = &imported(
        &server,
        Some(&admin),
        "note.qdpx",
        zip_of(&[
            ("project.qde", qde.as_bytes()),
            // Word's line break (Shift+Enter) pasted as text; a character no export carries.
            ("sources/n3.txt", b"Nota\x0Bsul progetto"),
            ("sources/n4.txt", b"Nota \x01 illeggibile"),
        ]),
        None,
    )
    .await;
    assert_eq!(
        (report["codes"].as_i64(), report["quotations"].as_i64()),
        (Some(2), Some(1))
    );
    let warnings = report["warnings"].to_string();
    for expected in [
        "colour \\\"verde\\\"",
        "the second is named \\\"casa (2)\\\"",
        "belongs to several cases",
        "(10–99) lies outside the text",
        "(5–5) lies outside the text or is empty",
        "which the project does not define",
        "variable \\\"Età\\\" not imported",
        "note \\\"n4\\\" contains the character U+0001, which exports cannot carry: not imported",
    ] {
        assert!(warnings.contains(expected), "{expected} in {warnings}");
    }
    let study = report["study"]["id"].clone();
    let data = server
        .ok(Some(&admin), "query($s: ID!) { node(id: $s) { ... on Study { memos { text author { name } } codebook { name memos { text author { name } } } cases { edges { node { label memos { text } interviews { edges { node { label intervieweeRole } } } } } } } } }", json!({"s": study}))
        .await;
    let s = &data["node"];
    assert_eq!(
        s["memos"],
        json!([{"text": "Nota\nsul progetto", "author": {"name": "Giulia"}}])
    );
    assert_eq!(s["codebook"][0]["name"], "Casa");
    assert_eq!(s["codebook"][0]["memos"][0]["text"], "Nota sul codice");
    assert_eq!(s["codebook"][1]["name"], "casa (2)");
    let cases = s["cases"]["edges"].as_array().unwrap();
    assert_eq!(cases[0]["node"]["label"], "Asti");
    assert_eq!(cases[0]["node"]["memos"][0]["text"], "Un caso piccolo");
    assert_eq!(
        cases[0]["node"]["interviews"]["edges"][0]["node"],
        json!({"label": "Int. A", "intervieweeRole": "assessora"})
    );
    assert_eq!(cases[1]["node"]["interviews"]["edges"], json!([]));
    let q = server
        .ok(Some(&admin), "query($s: ID!) { quotations(filter: {studyIds: [$s]}) { edges { node { text memo coder { name } codes { name } memos { text author { name } } } } } }", json!({"s": study}))
        .await;
    assert_eq!(
        q["quotations"]["edges"][0]["node"],
        json!({"text": "casa", "memo": "casa!", "coder": {"name": "MR"}, "codes": [{"name": "casa (2)"}],
               "memos": [{"text": "Nota sulla citazione: è così’", "author": {"name": "Giulia"}}]})
    );
}

#[tokio::test]
async fn import_and_export_rights_follow_the_study_roles() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let corpus = server.corpus(&admin, "Privato", &["Testo."]).await;
    let n = id_number(corpus.study.as_str().unwrap());
    let other = server
        .ok(
            Some(&admin),
            r#"mutation { createStudy(input: {title: "Altro"}) { id } }"#,
            json!({}),
        )
        .await["createStudy"]["id"]
        .clone();
    // A project with a case the study lacks: only owners (and admins) may bring it in.
    let with_case = r#"<Project name="p"><Cases><Case guid="a1000000-0000-0000-0000-000000000001" name="Nuovo caso"><SourceRef targetGUID="a1000000-0000-0000-0000-000000000002"/></Case></Cases><Sources><TextSource guid="a1000000-0000-0000-0000-000000000002" name="T"><PlainTextContent>Testo nuovo.</PlainTextContent></TextSource></Sources></Project>"#;
    let zip = zip_of(&[("project.qde", with_case.as_bytes())]);
    let exports = "query($s: ID!) { studyExports(studyId: $s) { qdpxUrl } }";
    for (role, expected, can_read) in [
        ("analyst", Some("FORBIDDEN"), true),
        ("evaluator", Some("FORBIDDEN"), true),
        ("viewer", Some("FORBIDDEN"), true),
        ("outsider", Some("NOT_FOUND"), false),
        ("owner", None, true),
    ] {
        let token = if role == "outsider" {
            server
                .token(role, "owner", Some(id_number(other.as_str().unwrap())))
                .await
        } else {
            server.token(role, role, Some(n)).await
        };
        let body = import(
            &server,
            Some(&token),
            "p.qdpx",
            zip.clone(),
            Some(&corpus.study),
        )
        .await;
        match expected {
            None => assert!(body.get("errors").is_none(), "{role}: {body:#}"),
            Some(code) => assert_eq!(error_code(&body), code, "{role}: {body:#}"),
        }
        if role == "analyst" {
            // The refusal says who may, in the study's words, not an internal name.
            assert_eq!(
                body["errors"][0]["message"],
                "only owners of this study may do this; your role in it is analyst"
            );
        }
        let r = server
            .gql(Some(&token), exports, json!({"s": corpus.study}))
            .await;
        assert_eq!(r.get("errors").is_none(), can_read, "{role}: {r}");
        let (status, _) = download(
            &server,
            Some(&token),
            &format!("/studies/{}/export.qdpx", corpus.study.as_str().unwrap()),
        )
        .await;
        assert_eq!(status, if can_read { 200 } else { 404 }, "{role}");
    }
    // Anyone with an account may import a project as a study of their own.
    let outsider = server
        .token(
            "outsider",
            "owner",
            Some(id_number(other.as_str().unwrap())),
        )
        .await;
    let mine = imported(&server, Some(&outsider), "p.qdpx", zip, None).await["study"]["id"].clone();
    let r = server
        .gql(Some(&outsider), exports, json!({"s": mine}))
        .await;
    assert!(
        r.get("errors").is_none(),
        "the importer owns the new study: {r}"
    );
    let r = server.gql(None, exports, json!({"s": mine})).await;
    assert_eq!(error_code(&r), "NOT_FOUND", "the new study is private");
}

/// A codebook of `levels` codes, each inside the one before.
fn nested_codebook(levels: usize) -> Vec<u8> {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?><CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes>"#,
    );
    for n in 0..levels {
        xml.push_str(&format!(
            r#"<Code guid="{n:08x}-0000-0000-0000-000000000000" name="L{n}">"#
        ));
    }
    xml.push_str(&"</Code>".repeat(levels));
    xml.push_str("</Codes></CodeBook>");
    xml.into_bytes()
}

#[tokio::test]
async fn a_codebook_nested_too_deep_is_refused_and_the_server_keeps_answering() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let before = row_counts(&server).await;
    // Nested far deeper than a thread's stack holds parser frames, under the body limit.
    let deep = nested_codebook(100_000);
    assert!(deep.len() > 2_000_000 && deep.len() < 8 * 1024 * 1024);
    let body = import(&server, Some(&admin), "profondo.qdc", deep, None).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body:#}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("at most 250 levels"), "{message}");
    // One level over the limit is refused naming the code; at the limit all comes in.
    let body = import(
        &server,
        Some(&admin),
        "appena.qdc",
        nested_codebook(251),
        None,
    )
    .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body:#}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("more than 250 levels") && message.contains("\"L250\""),
        "{message}"
    );
    assert_eq!(row_counts(&server).await, before, "nothing written");
    let body = imported(
        &server,
        Some(&admin),
        "limite.qdc",
        nested_codebook(250),
        None,
    )
    .await;
    assert_eq!(body["codes"], 250);
    let data = server
        .ok(Some(&admin), "{ studies { totalCount } }", json!({}))
        .await;
    assert_eq!(data["studies"]["totalCount"], 1);
}

#[tokio::test]
async fn codes_deeper_than_the_limit_export_at_it_and_come_back() {
    use sea_orm::{ActiveModelTrait, Set};
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let text = "R: Là è così’, in città.";
    let corpus = server.corpus(&admin, "Profondo", &[text]).await;
    let study_id = id_number(corpus.study.as_str().unwrap());
    // The services set no depth limit: 300 levels, written straight to the database.
    let mut chain: Vec<i64> = Vec::new();
    for n in 0..300 {
        let c = code::ActiveModel {
            study_id: Set(study_id),
            parent_id: Set(chain.last().copied()),
            name: Set(format!("L{n}")),
            created_at: Set(chrono::Utc::now()),
            ..Default::default()
        }
        .insert(&server.db.conn)
        .await
        .unwrap();
        chain.push(c.id);
    }
    let code_id = |id: i64| api::graphql::ids::encode(api::graphql::ids::Kind::Code, id).0;
    for (start, end, code) in [
        (3, 5, chain[299]),
        (8, 13, chain[100]),
        (18, 23, chain[250]),
    ] {
        server
            .ok(Some(&admin), "mutation($i: ID!, $s: Int!, $e: Int!, $c: [ID!]!) { createQuotation(input: {interviewId: $i, start: $s, end: $e, codeIds: $c}) { id } }", json!({"i": corpus.interviews[0]["id"], "s": start, "e": end, "c": [code_id(code)]}))
            .await;
    }
    let (status, exported) = download(
        &server,
        Some(&admin),
        &format!("/studies/{}/export.qdpx", corpus.study.as_str().unwrap()),
    )
    .await;
    assert_eq!(status, 200);
    let files = unzip(&exported);
    assert_valid_against_project_xsd(&files["project.qde"]);
    let xml = String::from_utf8(files["project.qde"].clone()).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let codes: HashMap<&str, roxmltree::Node> = doc
        .descendants()
        .filter(|n| n.has_tag_name("Code"))
        .map(|n| (n.attribute("guid").unwrap(), n))
        .collect();
    assert_eq!(codes.len(), 300, "no code left out");
    let level = |n: &roxmltree::Node| n.ancestors().filter(|a| a.has_tag_name("Code")).count();
    assert_eq!(codes.values().map(level).max(), Some(250));
    let name_of = |n: &roxmltree::Node| n.attribute("name").unwrap().to_owned();
    let at_limit: Vec<String> = codes
        .values()
        .filter(|n| level(n) == 250)
        .map(name_of)
        .collect();
    assert_eq!(
        at_limit.len(),
        300 - 249,
        "the deeper codes sit at the limit"
    );
    for r in doc.descendants().filter(|n| n.has_tag_name("CodeRef")) {
        assert!(codes.contains_key(r.attribute("targetGUID").unwrap()));
    }
    // And the file comes back in whole, each quotation with its code.
    let report = &imported(&server, Some(&admin), "profondo.qdpx", exported, None).await;
    assert_eq!(
        (report["codes"].as_i64(), report["quotations"].as_i64()),
        (Some(300), Some(3))
    );
    let last = |q: &(String, i64, i64, String, Vec<String>)| {
        let path = &q.4[0];
        (
            q.1,
            q.2,
            q.3.clone(),
            path.rsplit('/').next().unwrap().to_owned(),
        )
    };
    let original: Vec<_> = quotations(&server, &admin, &corpus.study)
        .await
        .iter()
        .map(last)
        .collect();
    let copy: Vec<_> = quotations(&server, &admin, &report["study"]["id"])
        .await
        .iter()
        .map(last)
        .collect();
    assert_eq!(original, copy);
    assert_eq!(original[0].3, "L299");
}

#[tokio::test]
async fn a_transcript_that_begins_with_u_feff_makes_the_round_trip_exactly() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let text = "\u{FEFF}INT: Com’è la città?\nR: Là è difficile, però…";
    let corpus = server.corpus(&admin, "Segno", &[text]).await;
    let span = |needle: &str| {
        let b = text.find(needle).unwrap();
        let s = text[..b].chars().count();
        (s, s + needle.chars().count())
    };
    for needle in ["\u{FEFF}INT", "Com’è", "città", "Là è difficile, però…"] {
        let (s, e) = span(needle);
        server
            .ok(Some(&admin), "mutation($i: ID!, $s: Int!, $e: Int!) { createQuotation(input: {interviewId: $i, start: $s, end: $e, codeIds: []}) { id } }", json!({"i": corpus.interviews[0]["id"], "s": s, "e": e}))
            .await;
    }
    let transcript = |study: Value| {
        let server = &server;
        let admin = &admin;
        async move {
            server
                .ok(Some(admin), "query($s: ID!) { node(id: $s) { ... on Study { cases { edges { node { interviews { edges { node { transcript length } } } } } } } } }", json!({"s": study}))
                .await["node"]["cases"]["edges"][0]["node"]["interviews"]["edges"][0]["node"]
                .clone()
        }
    };
    assert_eq!(transcript(corpus.study.clone()).await["transcript"], text);
    let (_, exported) = download(
        &server,
        Some(&admin),
        &format!("/studies/{}/export.qdpx", corpus.study.as_str().unwrap()),
    )
    .await;
    // The text's own U+FEFF, behind a byte-order mark that readers drop.
    let files = unzip(&exported);
    let source = files
        .iter()
        .find(|(k, _)| k.starts_with("sources/"))
        .unwrap()
        .1;
    assert_eq!(source.as_slice(), format!("\u{FEFF}{text}").as_bytes());
    let report = &imported(&server, Some(&admin), "segno.qdpx", exported, None).await;
    assert_eq!(report["warnings"], json!([]));
    let copy = report["study"]["id"].clone();
    assert_eq!(
        transcript(copy.clone()).await,
        transcript(corpus.study.clone()).await
    );
    let original = quotations(&server, &admin, &corpus.study).await;
    assert_eq!(original.len(), 4);
    assert!(original.iter().any(|q| q.3 == "Com’è"));
    assert_eq!(quotations(&server, &admin, &copy).await, original);
}

#[tokio::test]
async fn sources_without_text_are_skipped_and_said_so() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let qde = r#"<Project xmlns="urn:QDA-XML:project:1.0" name="Vuoti"><Cases><Case guid="a2000000-0000-0000-0000-000000000001" name="Asti"><SourceRef targetGUID="a2000000-0000-0000-0000-000000000002"/><SourceRef targetGUID="a2000000-0000-0000-0000-000000000003"/></Case></Cases><Sources>
<TextSource guid="a2000000-0000-0000-0000-000000000002" name="Piena"><PlainTextContent>Là è così’.</PlainTextContent><PlainTextSelection guid="a2000000-0000-0000-0000-000000000004" startPosition="0" endPosition="2"/></TextSource>
<TextSource guid="a2000000-0000-0000-0000-000000000003" name="Vuota" plainTextPath="internal://vuota.txt"><PlainTextSelection guid="a2000000-0000-0000-0000-000000000005" startPosition="0" endPosition="2"/></TextSource>
</Sources></Project>"#;
    let zip = zip_of(&[
        ("project.qde", qde.as_bytes()),
        ("sources/vuota.txt", "\u{FEFF} \r\n\t\n".as_bytes()),
    ]);
    let report = &imported(&server, Some(&admin), "vuoti.qdpx", zip, None).await;
    assert_eq!(
        (report["interviews"].as_i64(), report["quotations"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        report["warnings"],
        json!(["source \"Vuota\" has no text: skipped with its 1 selection(s)"])
    );
    let got = quotations(&server, &admin, &report["study"]["id"]).await;
    assert_eq!(
        got,
        vec![("Piena".to_owned(), 0, 2, "Là".to_owned(), vec![])]
    );
}

/// The study's interviews: (id, version, transcript), in case and interview order.
async fn interviews_of(
    server: &TestServer,
    token: &str,
    study: &Value,
) -> Vec<(Value, i64, String)> {
    let data = server
        .ok(Some(token), "query($s: ID!) { node(id: $s) { ... on Study { cases { edges { node { interviews { edges { node { id version transcript } } } } } } } } }", json!({"s": study}))
        .await;
    data["node"]["cases"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["node"]["interviews"]["edges"].as_array().unwrap().clone())
        .map(|e| {
            let n = &e["node"];
            (
                n["id"].clone(),
                n["version"].as_i64().unwrap(),
                n["transcript"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Vendor positions (code points of `text` as given) of `needle`.
fn vendor_span(text: &str, needle: &str) -> (usize, usize) {
    let b = text.find(needle).unwrap();
    let s = text[..b].chars().count();
    (s, s + needle.chars().count())
}

#[tokio::test]
async fn decomposed_accents_are_stored_in_nfc_and_selections_follow_them() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    // As macOS tools write it: accents as combining marks (and CRLF line ends).
    let decomposed =
        "R: La citta\u{300} e\u{300} cambiata\r\nINT: Perche\u{301}? Cos\u{2019}e\u{300}";
    let composed = "R: La città è cambiata\nINT: Perché? Cos’è";
    let sel = |n: u32, needle: &str| {
        let (s, e) = vendor_span(decomposed, needle);
        format!(
            r#"<PlainTextSelection guid="a9000000-0000-0000-0001-{n:012}" startPosition="{s}" endPosition="{e}"/>"#
        )
    };
    let selections = [
        sel(1, "citta\u{300}"),
        sel(2, "cambiata"),
        sel(3, "Perche\u{301}?"),
        sel(4, "Cos\u{2019}e\u{300}"),
    ]
    .concat();
    let qde = |text: &str| {
        format!(
            r#"<Project xmlns="urn:QDA-XML:project:1.0" name="NFC" origin="MAXQDA 2022"><Sources><TextSource guid="a9000000-0000-0000-0000-000000000001" name="Int. 1" {text}{selections}</TextSource></Sources></Project>"#
        )
    };
    let in_file = qde(r#"plainTextPath="internal://int1.txt">"#);
    let qdpx = zip_of(&[
        ("project.qde", in_file.as_bytes()),
        ("sources/int1.txt", decomposed.as_bytes()),
    ]);
    let inline = qde(&format!(
        "><PlainTextContent>{}</PlainTextContent>",
        decomposed.replace('\r', "&#13;")
    ));
    for (name, bytes) in [("nfc.qdpx", qdpx), ("nfc.qde", inline.into_bytes())] {
        let report = &imported(&server, Some(&admin), name, bytes, None).await;
        assert_eq!(report["quotations"], 4, "{name}: {report:#}");
        let study = report["study"]["id"].clone();
        let stored = interviews_of(&server, &admin, &study).await;
        assert_eq!(stored[0].2, composed, "{name}: stored in NFC");
        let provenance = server
            .ok(
                Some(&admin),
                "query($i: ID!) { node(id: $i) { ... on Interview { sourceFile normalisation } } }",
                json!({"i": stored[0].0}),
            )
            .await;
        let source_file = match name {
            "nfc.qdpx" => "nfc.qdpx/sources/int1.txt",
            _ => "nfc.qde",
        };
        assert_eq!(
            provenance["node"],
            json!({"sourceFile": source_file, "normalisation": ["LINE_ENDINGS", "UNICODE_NFC"]}),
            "{name}"
        );
        let texts = |q: Vec<(String, i64, i64, String, Vec<String>)>| {
            q.into_iter().map(|q| q.3).collect::<Vec<_>>()
        };
        let before = quotations(&server, &admin, &study).await;
        assert_eq!(
            texts(before.clone()),
            ["città", "cambiata", "Perché?", "Cos’è"],
            "{name}"
        );
        // The same text sent back as the tool holds it changes nothing: no quotation lost.
        let (id, version, _) = &stored[0];
        let edit = server
            .gql(Some(&admin), "mutation($i: ID!, $v: Int!, $t: String!) { updateInterview(input: {id: $i, version: $v, transcript: $t}) { movedQuotations lostQuotations { text } interview { transcript } } }", json!({"i": id, "v": version, "t": decomposed}))
            .await;
        assert!(edit.get("errors").is_none(), "{name}: {edit:#}");
        let edit = &edit["data"]["updateInterview"];
        assert_eq!(edit["lostQuotations"], json!([]), "{name}");
        assert_eq!(edit["movedQuotations"], 0, "{name}");
        assert_eq!(edit["interview"]["transcript"], composed);
        assert_eq!(quotations(&server, &admin, &study).await, before, "{name}");
        assert_eq!(
            report["warnings"],
            json!(["source \"Int. 1\": accents written as separate characters were composed (Unicode NFC, as every transcript here); its selections were mapped onto the composed text"]),
            "{name}"
        );
    }
}

#[tokio::test]
async fn inline_text_with_crlf_keeps_the_vendors_positions() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    // A literal CRLF in the XML, which an XML parser reads as LF; MAXQDA counted it as two.
    let text = "INT: Sì.\r\nR: Perché?\r\nINT: Là, però…";
    let (s, e) = vendor_span(text, "Perché");
    assert_eq!((s, e), (13, 19));
    let (s2, e2) = vendor_span(text, "Là, però…");
    let qde = format!(
        r#"<Project xmlns="urn:QDA-XML:project:1.0" name="CRLF" origin="MAXQDA 2022"><Sources><TextSource guid="a8000000-0000-0000-0000-000000000001" name="Int. 1"><PlainTextContent>{text}</PlainTextContent><PlainTextSelection guid="a8000000-0000-0000-0000-000000000002" startPosition="{s}" endPosition="{e}"/><PlainTextSelection guid="a8000000-0000-0000-0000-000000000003" startPosition="{s2}" endPosition="{e2}"/></TextSource></Sources></Project>"#
    );
    assert!(qde.contains("\r\n"));
    let report = &imported(&server, Some(&admin), "crlf.qde", qde.into_bytes(), None).await;
    assert_eq!(report["warnings"], json!([]));
    let study = report["study"]["id"].clone();
    let got: Vec<String> = quotations(&server, &admin, &study)
        .await
        .into_iter()
        .map(|q| q.3)
        .collect();
    assert_eq!(got, ["Perché", "Là, però…"]);
    assert_eq!(
        interviews_of(&server, &admin, &study).await[0].2,
        text.replace("\r\n", "\n")
    );
}

#[tokio::test]
async fn creation_and_modification_dates_come_back_with_the_project() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let qde = r#"<Project xmlns="urn:QDA-XML:project:1.0" name="Date" origin="NVivo 14">
<Sources><TextSource guid="a7000000-0000-0000-0000-000000000001" name="Int. 1" creationDateTime="2021-03-04T10:15:00Z" modifiedDateTime="2021-05-06T08:00:00+02:00"><PlainTextContent>La città è cambiata, però.</PlainTextContent>
<PlainTextSelection guid="a7000000-0000-0000-0000-000000000002" startPosition="3" endPosition="8" creationDateTime="2021-03-05T09:30:00Z" modifiedDateTime="2021-03-06T09:30:00Z"><NoteRef targetGUID="a7000000-0000-0000-0000-000000000004"/></PlainTextSelection>
<PlainTextSelection guid="a7000000-0000-0000-0000-000000000003" startPosition="9" endPosition="10" creationDateTime="ieri" modifiedDateTime="-5000-01-01T00:00:00"/>
<VariableValue><VariableRef targetGUID="a7000000-0000-0000-0000-000000000005"/><DateValue>-5000-01-01</DateValue></VariableValue>
</TextSource></Sources>
<Variables><Variable guid="a7000000-0000-0000-0000-000000000005" name="Data dell’intervista" typeOfVariable="Date"/></Variables>
<Notes><Note guid="a7000000-0000-0000-0000-000000000004" name="n" creationDateTime="2021-03-07T12:00:00"><PlainTextContent>Nota: è così’</PlainTextContent></Note></Notes></Project>"#;
    let report = &imported(&server, Some(&admin), "date.qde", qde.into(), None).await;
    assert_eq!(
        report["warnings"],
        json!([
            "selection a7000000-0000-0000-0000-000000000003: creationDateTime \"ieri\" is not a date and time (RFC 3339): the time of the import stands in",
            // chrono reads a signed year; PostgreSQL could not store it (INTERNAL there).
            "selection a7000000-0000-0000-0000-000000000003: modifiedDateTime \"-5000-01-01T00:00:00\" is not a date and time (RFC 3339): the time of the import stands in",
            "\"Int. 1\": \"-5000-01-01\" is not a date (YYYY-MM-DD)",
        ])
    );
    let study = report["study"]["id"].clone();
    let q = server
        .ok(Some(&admin), "query($s: ID!) { quotations(filter: {studyIds: [$s]}) { edges { node { text createdAt updatedAt memos { createdAt updatedAt } } } } }", json!({"s": study}))
        .await;
    let edges = q["quotations"]["edges"].as_array().unwrap();
    let dated = edges.iter().find(|e| e["node"]["text"] == "città").unwrap();
    assert_eq!(dated["node"]["createdAt"], "2021-03-05T09:30:00Z");
    assert_eq!(dated["node"]["updatedAt"], "2021-03-06T09:30:00Z");
    assert_eq!(
        dated["node"]["memos"],
        json!([{"createdAt": "2021-03-07T12:00:00Z", "updatedAt": "2021-03-07T12:00:00Z"}])
    );
    let undated = edges.iter().find(|e| e["node"]["text"] == "è").unwrap();
    assert!(
        undated["node"]["createdAt"].as_str().unwrap() > "2025",
        "{undated}"
    );
    let interview = interview::Entity::find()
        .one(&server.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            interview.created_at.to_rfc3339(),
            interview.updated_at.to_rfc3339()
        ),
        (
            "2021-03-04T10:15:00+00:00".to_owned(),
            "2021-05-06T06:00:00+00:00".to_owned()
        )
    );
    // Exported and imported again, the dates stay.
    let (_, exported) = download(
        &server,
        Some(&admin),
        &format!("/studies/{}/export.qdpx", study.as_str().unwrap()),
    )
    .await;
    let qde = String::from_utf8(unzip(&exported)["project.qde"].clone()).unwrap();
    assert!(
        qde.contains(
            r#"creationDateTime="2021-03-05T09:30:00Z" modifiedDateTime="2021-03-06T09:30:00Z""#
        ),
        "{qde}"
    );
    let copy =
        imported(&server, Some(&admin), "copia.qdpx", exported, None).await["study"]["id"].clone();
    let q = server
        .ok(Some(&admin), "query($s: ID!) { quotations(filter: {studyIds: [$s]}) { edges { node { text createdAt memos { createdAt } } } } }", json!({"s": copy}))
        .await;
    let again = q["quotations"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["text"] == "città")
        .unwrap();
    assert_eq!(again["node"]["createdAt"], "2021-03-05T09:30:00Z");
    assert_eq!(
        again["node"]["memos"],
        json!([{"createdAt": "2021-03-07T12:00:00Z"}])
    );
}

#[tokio::test]
async fn importing_a_project_twice_into_a_study_is_reported() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let corpus = server.corpus(&admin, "Due volte", &["Testo già là."]).await;
    let qde = r#"<Project xmlns="urn:QDA-XML:project:1.0" name="p"><Cases><Case guid="a6000000-0000-0000-0000-000000000001" name="Caso"><SourceRef targetGUID="a6000000-0000-0000-0000-000000000002"/></Case></Cases><Sources><TextSource guid="a6000000-0000-0000-0000-000000000002" name="Int. Città"><PlainTextContent>Città è però.</PlainTextContent><PlainTextSelection guid="a6000000-0000-0000-0000-000000000003" startPosition="0" endPosition="5"/></TextSource></Sources></Project>"#;
    let zip = zip_of(&[("project.qde", qde.as_bytes())]);
    let first = imported(
        &server,
        Some(&admin),
        "p.qdpx",
        zip.clone(),
        Some(&corpus.study),
    )
    .await;
    assert_eq!(first["warnings"], json!([]));
    let again = imported(&server, Some(&admin), "p.qdpx", zip, Some(&corpus.study)).await;
    assert_eq!(
        again["warnings"],
        json!(["source \"Int. Città\": the case \"Caso\" already has an interview labelled \"Int. Città\" (was this project imported before?)"])
    );
}

#[tokio::test]
async fn skipped_values_codings_and_note_targets_are_reported() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let qde = r#"<Project xmlns="urn:QDA-XML:project:1.0" name="Salti">
<CodeBook><Codes><Code guid="a5000000-0000-0000-0000-000000000001" name="Casa" isCodable="true"/></Codes></CodeBook>
<Variables><Variable guid="a5000000-0000-0000-0000-000000000002" name="Ruolo" typeOfVariable="Text"/><Variable guid="a5000000-0000-0000-0000-000000000003" typeOfVariable="Text"/></Variables>
<Sources><TextSource guid="a5000000-0000-0000-0000-000000000004" name="Int. A"><PlainTextContent>La casa è lì, però cara.</PlainTextContent>
  <PlainTextSelection guid="a5000000-0000-0000-0000-000000000005" startPosition="3" endPosition="7"><Coding guid="a5000000-0000-0000-0000-000000000006"/><Coding guid="a5000000-0000-0000-0000-000000000007"><CodeRef targetGUID="a5000000-0000-0000-0000-000000000001"/></Coding></PlainTextSelection>
  <PlainTextSelection guid="a5000000-0000-0000-0000-000000000008" startPosition="10" endPosition="99"><NoteRef targetGUID="a5000000-0000-0000-0000-000000000009"/></PlainTextSelection>
  <VariableValue><VariableRef targetGUID="a5000000-0000-0000-0000-0000000000ff"/><TextValue>assessora</TextValue></VariableValue>
  <VariableValue><VariableRef targetGUID="a5000000-0000-0000-0000-000000000003"/><TextValue>sindaca</TextValue></VariableValue>
  <VariableValue><VariableRef targetGUID="a5000000-0000-0000-0000-000000000002"/><TextValue> </TextValue></VariableValue>
</TextSource></Sources>
<Notes><Note guid="a5000000-0000-0000-0000-000000000009" name="Nota persa"><PlainTextContent>Perché è cara?</PlainTextContent></Note></Notes></Project>"#;
    let report = &imported(&server, Some(&admin), "salti.qde", qde.into(), None).await;
    assert_eq!(report["quotations"], 1);
    assert_eq!(
        report["warnings"],
        json!([
            "a coding of selection a5000000-0000-0000-0000-000000000005 (\"Int. A\") names no code (no CodeRef): skipped",
            "a value of source \"Int. A\" is of variable a5000000-0000-0000-0000-0000000000ff, which the project does not declare with a name: skipped",
            "a value of source \"Int. A\" is of variable a5000000-0000-0000-0000-000000000003, which the project does not declare with a name: skipped",
            "variable \"Ruolo\" of source \"Int. A\" has no value: skipped",
            "selection a5000000-0000-0000-0000-000000000008 of \"Int. A\" (10–99) lies outside the text or is empty: skipped",
            "note \"Nota persa\" was about selection a5000000-0000-0000-0000-000000000008 of \"Int. A\", which was skipped: kept as a memo of the study",
        ])
    );
    let got = quotations(&server, &admin, &report["study"]["id"]).await;
    assert_eq!(
        got,
        vec![(
            "Int. A".to_owned(),
            3,
            7,
            "casa".to_owned(),
            vec!["Casa".to_owned()]
        )]
    );
}

#[tokio::test]
async fn code_names_the_database_takes_for_the_same_are_bad_input() {
    use sea_orm::{ConnectionTrait, Statement};
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    // Rust lowercases "İ" to "i̇" (two code points), PostgreSQL's lower() in a UTF-8 locale to
    // "i": the names differ for the importer's check and clash in the unique index.
    let db = &server.db.conn;
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT CASE WHEN lower('İstanbul') = lower('Istanbul') THEN 1 ELSE 0 END AS same",
        ))
        .await
        .unwrap()
        .unwrap();
    let same: i32 = row.try_get("", "same").unwrap();
    let qdc = r#"<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes><Code guid="a4000000-0000-0000-0000-000000000001" name="İstanbul" isCodable="true"/><Code guid="a4000000-0000-0000-0000-000000000002" name="Istanbul" isCodable="true"/></Codes></CodeBook>"#;
    let before = row_counts(&server).await;
    let body = import(&server, Some(&admin), "città.qdc", qdc.into(), None).await;
    if same == 1 {
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body:#}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains("code \"Istanbul\" clashes with another code at the same level"),
            "{message}"
        );
        assert_eq!(row_counts(&server).await, before, "nothing written");
    } else {
        assert!(body.get("errors").is_none(), "{body:#}");
        assert_eq!(body["data"]["importQdpx"]["codes"], 2);
    }
}

#[tokio::test]
async fn colons_in_archive_names_are_characters_not_drives() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let qde = r#"<Project xmlns="urn:QDA-XML:project:1.0" name="Mac"><Sources><TextSource guid="a3000000-0000-0000-0000-000000000001" name="Int. 10:30" plainTextPath="internal://Intervista 10:30.txt"><PlainTextSelection guid="a3000000-0000-0000-0000-000000000002" startPosition="0" endPosition="5"/></TextSource><AudioSource guid="a3000000-0000-0000-0000-000000000003" name="Registrazione" path="internal://Intervista 10:30.m4a"/></Sources></Project>"#;
    let zip = zip_of(&[
        ("project.qde", qde.as_bytes()),
        ("sources/Intervista 10:30.txt", "Città è però.".as_bytes()),
        ("sources/Intervista 10:30.m4a", b"\0\0\0 ftypM4A "),
    ]);
    let body = imported(&server, Some(&admin), "mac.qdpx", zip, None).await;
    let got = quotations(&server, &admin, &body["study"]["id"]).await;
    assert_eq!(
        got,
        vec![("Int. 10:30".to_owned(), 0, 5, "Città".to_owned(), vec![])]
    );
    // A drive letter still points outside.
    let evil = zip_of(&[("project.qde", qde.as_bytes()), ("C:/evil.txt", b"x")]);
    let body = import(&server, Some(&admin), "evil.qdpx", evil, None).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body:#}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("outside the archive"));
}

/// The coders of a study's quotations, as (name, removedAt is set, how many), by name.
async fn coders(server: &TestServer, token: &str, study: &Value) -> Vec<(String, bool, usize)> {
    let data = server
        .ok(
            Some(token),
            "query($s: ID!) { quotations(filter: {studyIds: [$s]}, first: 1000) { edges { node { coder { name removedAt } } } } }",
            json!({"s": study}),
        )
        .await;
    let mut counted: BTreeMap<(String, bool), usize> = BTreeMap::new();
    for e in data["quotations"]["edges"].as_array().unwrap() {
        let coder = &e["node"]["coder"];
        let key = (
            coder["name"].as_str().unwrap().to_owned(),
            coder["removedAt"].is_string(),
        );
        *counted.entry(key).or_default() += 1;
    }
    counted.into_iter().map(|((n, r), c)| (n, r, c)).collect()
}

/// A removed coder's quotations export under the account's new name and come back to that
/// same account; a removed account this database does not know comes in as a new removed
/// account (no one's to sign in as), never refused and never someone else's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_coders_work_comes_back_to_a_removed_account() {
    let server = TestServer::demo().await;
    let admin = server.admin().await;
    let reti = reti(&server, &admin).await;
    let before = coders(&server, &admin, &reti).await;
    let (coder, _, coded) = before[0].clone();
    let removal = api::service::users::remove_user(&server.db.conn, &coder)
        .await
        .unwrap();
    let mut expected: Vec<_> = before
        .iter()
        .map(|(n, r, c)| match *n == coder {
            true => (removal.name.clone(), true, *c),
            false => (n.clone(), *r, *c),
        })
        .collect();
    expected.sort();
    assert_eq!(coders(&server, &admin, &reti).await, expected);
    let accounts = || async {
        api_entities::app_user::Entity::find()
            .count(&server.db.conn)
            .await
            .unwrap()
    };
    let accounts_before = accounts().await;

    let path = format!("/studies/{}/export.qdpx", reti.as_str().unwrap());
    let (_, exported) = download(&server, Some(&admin), &path).await;
    let copy = imported(&server, Some(&admin), "reti.qdpx", exported.clone(), None).await["study"]
        ["id"]
        .clone();
    assert_eq!(coders(&server, &admin, &copy).await, expected);
    assert_eq!(
        accounts().await,
        accounts_before,
        "the same removed account"
    );

    // From another database: a removed account named as none here.
    let files = unzip(&exported);
    let elsewhere = "removed user #987654";
    let qde = String::from_utf8(files["project.qde"].clone())
        .unwrap()
        .replace(
            &format!("\"{}\"", removal.name),
            &format!("\"{elsewhere}\""),
        );
    assert!(qde.contains(elsewhere));
    let entries: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(name, bytes)| match name.as_str() {
            "project.qde" => (name.as_str(), qde.as_bytes()),
            _ => (name.as_str(), bytes.as_slice()),
        })
        .collect();
    let other = imported(
        &server,
        Some(&admin),
        "altrove.qdpx",
        zip_of(&entries),
        None,
    )
    .await["study"]["id"]
        .clone();
    let came = coders(&server, &admin, &other).await;
    let newcomer: Vec<_> = came.iter().filter(|c| c.1).collect();
    assert_eq!(newcomer.len(), 1, "{came:?}");
    assert_eq!(newcomer[0].2, coded);
    assert!(
        newcomer[0].0.starts_with("removed user #") && newcomer[0].0 != removal.name,
        "{came:?}"
    );
    assert_eq!(accounts().await, accounts_before + 1);
}

/// Two sources of one project under one label are warned about as such, not as the sign of
/// an earlier import that the same project imported again into the study is.
#[tokio::test]
async fn sources_labelled_alike_are_told_apart_from_a_second_import() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let doubled = r#"<Project name="p"><Sources><TextSource guid="a2000000-0000-0000-0000-000000000001" name="Doppia"><PlainTextContent>Uno.</PlainTextContent></TextSource><TextSource guid="a2000000-0000-0000-0000-000000000002" name="Doppia"><PlainTextContent>Due.</PlainTextContent></TextSource></Sources></Project>"#;
    let zip = zip_of(&[("project.qde", doubled.as_bytes())]);
    let warnings = |body: &Value| -> Vec<String> {
        body["data"]["importQdpx"]["warnings"]
            .as_array()
            .unwrap_or_else(|| panic!("{body:#}"))
            .iter()
            .map(|w| w.as_str().unwrap().to_owned())
            .collect()
    };
    let first = import(&server, Some(&admin), "p.qdpx", zip.clone(), None).await;
    let said = warnings(&first);
    assert!(
        said.iter()
            .any(|w| w.contains("the project has another source labelled \"Doppia\"")),
        "{said:?}"
    );
    assert!(
        !said.iter().any(|w| w.contains("imported before")),
        "{said:?}"
    );
    let study = first["data"]["importQdpx"]["study"]["id"].clone();
    let again = import(&server, Some(&admin), "p.qdpx", zip, Some(&study)).await;
    let said = warnings(&again);
    assert!(
        said.iter()
            .any(|w| w.contains("(was this project imported before?)")),
        "{said:?}"
    );
}

/// A project written on macOS names its cases and sources with combining accents: the case
/// of that name in the study is found, not doubled, and the labels are stored in NFC as the
/// services store them.
#[tokio::test]
async fn case_and_source_labels_with_combining_accents_are_stored_in_nfc() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let corpus = server.corpus(&admin, "Accenti", &["Testo."]).await;
    let study = corpus.study.clone();
    server
        .ok(
            Some(&admin),
            "mutation($s: ID!) { createCase(input: {studyId: $s, label: \"Città metropolitana\"}) { id } }",
            json!({"s": study}),
        )
        .await;
    let qde = "<Project name=\"Proge\u{301}tto\"><Sources><TextSource guid=\"a3000000-0000-0000-0000-000000000001\" name=\" Intervista all\u{2019}assessora di Citta\u{300} \"><PlainTextContent>Sì.</PlainTextContent></TextSource></Sources><Cases><Case guid=\"a3000000-0000-0000-0000-0000000000c1\" name=\"Citta\u{300} metropolitana\"><SourceRef targetGUID=\"a3000000-0000-0000-0000-000000000001\"/></Case></Cases></Project>";
    let zip = zip_of(&[("project.qde", qde.as_bytes())]);
    imported(&server, Some(&admin), "p.qdpx", zip.clone(), Some(&study)).await;
    let cases = server
        .ok(
            Some(&admin),
            "query($s: ID!) { node(id: $s) { ... on Study { cases { edges { node { label interviews { edges { node { label } } } } } } } } }",
            json!({"s": study}),
        )
        .await;
    let cases: Vec<(String, Vec<String>)> = cases["node"]["cases"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let labels = c["node"]["interviews"]["edges"].as_array().unwrap();
            (
                c["node"]["label"].as_str().unwrap().to_owned(),
                labels
                    .iter()
                    .map(|i| i["node"]["label"].as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect();
    let metropolitana: Vec<_> = cases
        .iter()
        .filter(|(label, _)| label.starts_with("Citt"))
        .collect();
    assert_eq!(
        metropolitana,
        [&(
            "Città metropolitana".to_owned(),
            vec!["Intervista all’assessora di Città".to_owned()]
        )],
        "{cases:?}"
    );
    // A case stored with combining accents by an older version is found all the same.
    let older = server
        .ok(
            Some(&admin),
            "mutation($s: ID!) { createCase(input: {studyId: $s, label: \"Unione montana\"}) { id } }",
            json!({"s": study}),
        )
        .await["createCase"]["id"]
        .clone();
    server
        .store_case_label(&older, "Unione montana Valle Stura\u{301}")
        .await;
    let qde = "<Project name=\"p\"><Sources><TextSource guid=\"a3000000-0000-0000-0000-000000000002\" name=\"Sindaca\"><PlainTextContent>Sì.</PlainTextContent></TextSource></Sources><Cases><Case guid=\"a3000000-0000-0000-0000-0000000000c2\" name=\"Unione montana Valle Stur\u{e1}\"><SourceRef targetGUID=\"a3000000-0000-0000-0000-000000000002\"/></Case></Cases></Project>";
    imported(
        &server,
        Some(&admin),
        "q.qdpx",
        zip_of(&[("project.qde", qde.as_bytes())]),
        Some(&study),
    )
    .await;
    let interviews = server
        .ok(
            Some(&admin),
            "query($c: ID!) { node(id: $c) { ... on Case { interviews { edges { node { label } } } } } }",
            json!({"c": older}),
        )
        .await;
    assert_eq!(
        interviews["node"]["interviews"]["edges"][0]["node"]["label"], "Sindaca",
        "{interviews:#}"
    );
    // So is an interview label stored with combining accents: the same label imported again
    // is reported as taken.
    {
        use sea_orm::{ActiveModelTrait as _, Set};
        let stored = interview::Entity::find()
            .filter(interview::Column::CaseId.eq(id_number(older.as_str().unwrap())))
            .one(&server.db.conn)
            .await
            .unwrap()
            .unwrap();
        let mut relabelled: interview::ActiveModel = stored.into();
        relabelled.label = Set("Sindaca\u{300}".into());
        relabelled.update(&server.db.conn).await.unwrap();
    }
    let again = qde.replace("name=\"Sindaca\"", "name=\"Sindac\u{e0}\"");
    let body = import(
        &server,
        Some(&admin),
        "r.qdpx",
        zip_of(&[("project.qde", again.as_bytes())]),
        Some(&study),
    )
    .await;
    let warnings = body["data"]["importQdpx"]["warnings"].to_string();
    assert!(
        warnings.contains("already has an interview labelled \\\"Sindac\u{e0}\\\""),
        "{body:#}"
    );
    // A new study takes the project's name, in NFC too.
    let body = import(&server, Some(&admin), "p.qdpx", zip, None).await;
    assert_eq!(
        body["data"]["importQdpx"]["study"]["title"], "Progétto",
        "{body:#}"
    );
}

/// The code × case download and the `codeCaseMatrix` field are counted by two pieces of
/// code (one over the export's rows, one over the analysis's): on the demo's studies they
/// give the same number in every cell.
#[tokio::test]
async fn the_code_case_matrix_download_agrees_with_the_api() {
    let server = TestServer::demo().await;
    let admin = server.admin().await;
    let studies = server
        .ok(
            Some(&admin),
            "{ studies { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let mut cells_seen = 0;
    for study in studies["studies"]["edges"].as_array().unwrap() {
        let study = &study["node"]["id"];
        let api = server
            .ok(Some(&admin), "query($s: ID!) { codeCaseMatrix(studyId: $s) { code { path } case { label } count } }", json!({"s": study}))
            .await;
        let api: BTreeMap<(String, String), u64> = api["codeCaseMatrix"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    (
                        c["code"]["path"].as_str().unwrap().to_owned(),
                        c["case"]["label"].as_str().unwrap().to_owned(),
                    ),
                    c["count"].as_u64().unwrap(),
                )
            })
            .collect();
        let (status, body) = download(
            &server,
            Some(&admin),
            &format!("/studies/{}/code-case-matrix.csv", study.as_str().unwrap()),
        )
        .await;
        assert_eq!(status, 200);
        let body = String::from_utf8(body).unwrap();
        let mut rows = csv::Reader::from_reader(body.trim_start_matches('\u{FEFF}').as_bytes());
        let cases: Vec<String> = rows
            .headers()
            .unwrap()
            .iter()
            .skip(1)
            .map(Into::into)
            .collect();
        let mut download = BTreeMap::new();
        for row in rows.records() {
            let row = row.unwrap();
            for (case, n) in cases.iter().zip(row.iter().skip(1)) {
                download.insert((row[0].to_owned(), case.clone()), n.parse::<u64>().unwrap());
            }
        }
        // The API lists every code against every case too.
        assert_eq!(download, api, "study {study}");
        cells_seen += api.values().filter(|&&n| n > 0).count();
    }
    assert!(cells_seen > 10, "the demo codes quotations: {cells_seen}");
}

/// A project's name, case, source or code made of nothing visible is taken for none: the
/// import's fallbacks name them, as for a missing name, rather than storing empty labels.
#[tokio::test]
async fn names_of_nothing_visible_in_a_project_are_taken_for_none() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let qde = "<Project xmlns=\"urn:QDA-XML:project:1.0\" name=\"\u{200B}\"><Users><User guid=\"eeeeeeee-0000-0000-0000-0000000000aa\" name=\"\u{200B}\"/></Users><CodeBook><Codes><Code guid=\"eeeeeeee-0000-0000-0000-000000000001\" name=\"\u{FEFF}\" isCodable=\"true\"/></Codes></CodeBook><Cases><Case guid=\"eeeeeeee-0000-0000-0000-000000000002\" name=\"\u{2060}\"><SourceRef targetGUID=\"eeeeeeee-0000-0000-0000-000000000003\"/></Case></Cases><Sources><TextSource guid=\"eeeeeeee-0000-0000-0000-000000000003\" name=\"\u{200B} \" creatingUser=\"eeeeeeee-0000-0000-0000-0000000000aa\" plainTextPath=\"internal://Intervista.txt\"><PlainTextSelection guid=\"eeeeeeee-0000-0000-0000-000000000004\" startPosition=\"0\" endPosition=\"5\"><Coding guid=\"eeeeeeee-0000-0000-0000-000000000005\"><CodeRef targetGUID=\"eeeeeeee-0000-0000-0000-000000000001\"/></Coding></PlainTextSelection></TextSource></Sources></Project>";
    let zip = zip_of(&[
        ("project.qde", qde.as_bytes()),
        ("sources/Intervista.txt", "Città è però.".as_bytes()),
    ]);
    let study =
        imported(&server, Some(&admin), "invisibile.qdpx", zip, None).await["study"]["id"].clone();
    let got = server
        .ok(Some(&admin), "query($s: ID!) { node(id: $s) { ... on Study { title codebook { name } cases { edges { node { label interviews { edges { node { label } } } } } } } } }", json!({"s": study}))
        .await;
    let node = &got["node"];
    assert_eq!(node["title"], "Progetto importato");
    assert_eq!(node["codebook"], json!([{"name": "Codice 1"}]));
    let case = &node["cases"]["edges"][0]["node"];
    assert_eq!(case["label"], "Caso 1");
    assert_eq!(
        case["interviews"]["edges"][0]["node"]["label"],
        "Intervista"
    );
    // A coder named with nothing visible is no account: the work is the importer's.
    let coders = server
        .ok(Some(&admin), "query($s: ID!) { quotations(filter: {studyIds: [$s]}) { edges { node { coder { name } } } } }", json!({"s": study}))
        .await;
    assert_eq!(
        coders["quotations"]["edges"],
        json!([{"node": {"coder": {"name": "admin"}}}])
    );
}

/// Two cases whose labels become one once trimmed (one stored with a zero-width space by an
/// older version): an import naming that label files its source in the older case, every
/// time, not in whichever the database returns first.
#[tokio::test]
async fn cases_that_trim_to_one_label_take_sources_in_the_older() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let corpus = server.corpus(&admin, "Gemelli", &[]).await;
    let study = corpus.study.clone();
    let newer = server
        .ok(
            Some(&admin),
            "mutation($s: ID!) { createCase(input: {studyId: $s, label: \"Roma bis\"}) { id } }",
            json!({"s": study}),
        )
        .await["createCase"]["id"]
        .clone();
    server.store_case_label(&corpus.case, "Roma\u{200B}").await;
    server.store_case_label(&newer, "Roma").await;
    for n in 0..2 {
        let qde = format!("<Project name=\"p\"><Sources><TextSource guid=\"a4000000-0000-0000-0000-00000000000{n}\" name=\"Int {n}\"><PlainTextContent>Sì.</PlainTextContent></TextSource></Sources><Cases><Case guid=\"a4000000-0000-0000-0000-0000000000c{n}\" name=\"Roma\"><SourceRef targetGUID=\"a4000000-0000-0000-0000-00000000000{n}\"/></Case></Cases></Project>");
        imported(
            &server,
            Some(&admin),
            "roma.qdpx",
            zip_of(&[("project.qde", qde.as_bytes())]),
            Some(&study),
        )
        .await;
    }
    let older = server
        .ok(
            Some(&admin),
            "query($c: ID!) { node(id: $c) { ... on Case { interviews { totalCount } } } }",
            json!({"c": corpus.case}),
        )
        .await;
    assert_eq!(older["node"]["interviews"]["totalCount"], 2, "{older:#}");
}

/// Emoji from a fixed pseudo-random walk: four bytes each, and nothing an index could
/// compress away.
fn random_emoji(seed: u32, n: usize) -> String {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            char::from_u32(0x1F300 + (x >> 16) % 0x250).unwrap()
        })
        .collect()
}

/// A code's name is a key of a unique index, which PostgreSQL refuses past about 2,700
/// bytes: a name of at most 500 characters is taken at 4 bytes each, a longer one is
/// BAD_USER_INPUT (not INTERNAL) through the API, and cut with a warning by an import.
#[tokio::test]
async fn code_names_are_at_most_500_characters_and_an_import_cuts_longer_ones() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let corpus = server.corpus(&admin, "Nomi lunghi", &["Testo."]).await;
    const CREATE: &str =
        "mutation($s: ID!, $n: String!) { createCode(input: {studyId: $s, name: $n}) { id name } }";
    let longest = random_emoji(1, 500);
    let made = server
        .ok(
            Some(&admin),
            CREATE,
            json!({"s": corpus.study, "n": longest}),
        )
        .await;
    assert_eq!(made["createCode"]["name"], longest.as_str());
    let too_long = random_emoji(2, 1500);
    let refused = server
        .gql(
            Some(&admin),
            CREATE,
            json!({"s": corpus.study, "n": too_long}),
        )
        .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused:#}");
    let renamed = server
        .gql(
            Some(&admin),
            "mutation($c: ID!, $n: String!) { updateCode(input: {id: $c, name: $n}) { name } }",
            json!({"c": made["createCode"]["id"], "n": too_long}),
        )
        .await;
    assert_eq!(error_code(&renamed), "BAD_USER_INPUT", "{renamed:#}");
    let study_id = id_number(corpus.study.as_str().unwrap());
    assert_eq!(count_codes(&server, study_id).await, 1);

    let qdc = format!(
        r#"<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes><Code guid="a5000000-0000-0000-0000-000000000001" name="{too_long}" isCodable="true"/></Codes></CodeBook>"#
    );
    let body = imported(
        &server,
        Some(&admin),
        "lunghi.qdc",
        qdc.into_bytes(),
        Some(&corpus.study),
    )
    .await;
    assert_eq!(body["codes"], 1, "{body:#}");
    let warnings = body["warnings"].to_string();
    assert!(
        warnings.contains("1500 characters long, cut to the first 500"),
        "{warnings}"
    );
    let codebook = codebook_of(&server, &admin, &corpus.study, "name").await;
    let cut: String = too_long.chars().take(500).collect();
    let names: Vec<&Value> = codebook
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["name"])
        .collect();
    assert!(names.contains(&&json!(cut)), "{codebook}");
}

/// A note about a coding (a `NoteRef` inside `<Coding>`) is a memo of the quotation that
/// carries the coding, not of the study; a note with only rich text is skipped and said so.
#[tokio::test]
async fn a_note_about_a_coding_is_a_memo_of_its_quotation() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let qde = r#"<Project xmlns="urn:QDA-XML:project:1.0" name="Note di codifica">
<CodeBook><Codes><Code guid="a6000000-0000-0000-0000-000000000001" name="Casa" isCodable="true"/></Codes></CodeBook>
<Sources><TextSource guid="a6000000-0000-0000-0000-000000000002" name="Int. B"><PlainTextContent>La casa è lì, però cara.</PlainTextContent>
  <PlainTextSelection guid="a6000000-0000-0000-0000-000000000003" startPosition="3" endPosition="7"><Coding guid="a6000000-0000-0000-0000-000000000004"><CodeRef targetGUID="a6000000-0000-0000-0000-000000000001"/><NoteRef targetGUID="a6000000-0000-0000-0000-000000000005"/></Coding></PlainTextSelection>
</TextSource></Sources>
<Notes><Note guid="a6000000-0000-0000-0000-000000000005" name="Perché Casa"><PlainTextContent>Qui «casa» è l’alloggio.</PlainTextContent></Note>
<Note guid="a6000000-0000-0000-0000-000000000006" name="Ricca" richTextPath="internal://ricca.docx"/></Notes></Project>"#;
    let report = &imported(&server, Some(&admin), "note.qde", qde.into(), None).await;
    assert_eq!(
        report["warnings"],
        json!(["note \"Ricca\" has only rich text (richTextPath), which is not read: skipped"])
    );
    let study = &report["study"]["id"];
    let data = server
        .ok(
            Some(&admin),
            "query($s: ID!) { node(id: $s) { ... on Study { memos { text } } } quotations(filter: {studyIds: [$s]}) { edges { node { text memos { text } } } } }",
            json!({"s": study}),
        )
        .await;
    assert_eq!(data["node"]["memos"], json!([]), "{data:#}");
    assert_eq!(
        data["quotations"]["edges"],
        json!([{"node": {"text": "casa", "memos": [{"text": "Qui «casa» è l’alloggio."}]}}])
    );
}

/// A project imported into a study twice matches its codes and cases the second time, and
/// the notes about them (and about the study) are not added to them again.
#[tokio::test]
async fn importing_a_project_again_adds_no_memo_twice() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let corpus = server.corpus(&admin, "Memo una volta", &["Testo."]).await;
    let qde = r#"<Project xmlns="urn:QDA-XML:project:1.0" name="Memo">
<CodeBook><Codes><Code guid="a7000000-0000-0000-0000-000000000001" name="Welfare" isCodable="true"><NoteRef targetGUID="a7000000-0000-0000-0000-000000000002"/></Code></Codes></CodeBook>
<Cases><Case guid="a7000000-0000-0000-0000-000000000003" name="Consorzio"><Description>Un consorzio di comuni, lì.</Description></Case></Cases>
<Notes><Note guid="a7000000-0000-0000-0000-000000000002" name="Sul codice"><PlainTextContent>Welfare è più di assistenza.</PlainTextContent></Note>
<Note guid="a7000000-0000-0000-0000-000000000004" name="Sul progetto"><PlainTextContent>Perché questo studio?</PlainTextContent></Note></Notes></Project>"#;
    let memos = || async {
        let data = server
            .ok(
                Some(&admin),
                "query($s: ID!) { node(id: $s) { ... on Study { memos { text } codebook { memos { text } } cases { edges { node { label memos { text } } } } } } }",
                json!({"s": corpus.study}),
            )
            .await;
        let mut texts: Vec<String> = Vec::new();
        let node = &data["node"];
        for m in node["memos"].as_array().unwrap() {
            texts.push(format!("study: {}", m["text"].as_str().unwrap()));
        }
        for c in node["codebook"].as_array().unwrap() {
            for m in c["memos"].as_array().unwrap() {
                texts.push(format!("code: {}", m["text"].as_str().unwrap()));
            }
        }
        for e in node["cases"]["edges"].as_array().unwrap() {
            for m in e["node"]["memos"].as_array().unwrap() {
                let label = e["node"]["label"].as_str().unwrap();
                texts.push(format!("{label}: {}", m["text"].as_str().unwrap()));
            }
        }
        texts.sort();
        texts
    };
    let expected = [
        "Consorzio: Un consorzio di comuni, lì.",
        "code: Welfare è più di assistenza.",
        "study: Perché questo studio?",
    ];
    let mut reports = Vec::new();
    for _ in 0..2 {
        let body = imported(
            &server,
            Some(&admin),
            "memo.qde",
            qde.into(),
            Some(&corpus.study),
        )
        .await;
        assert_eq!(memos().await, expected);
        reports.push(body);
    }
    let again = &reports[1];
    let warnings = again["warnings"].to_string();
    assert!(
        warnings.contains("3 note(s) were memos the study already had"),
        "{warnings}"
    );
}

/// A project's description from another tool (or quaderno's, edited by hand) is kept as a
/// memo of the study it makes; quaderno's own is the study's authors, year and questions.
#[tokio::test]
async fn a_project_description_is_a_memo_unless_it_holds_the_study_s_fields() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let project = |origin: &str, description: &str| {
        format!(
            r#"<Project xmlns="urn:QDA-XML:project:1.0" name="Descritto" origin="{origin}"><Description>{description}</Description></Project>"#
        )
    };
    const STUDY: &str = "query($s: ID!) { node(id: $s) { ... on Study { authors year researchQuestions memos { text } } } }";
    let mut read = Vec::new();
    let mut warnings = Vec::new();
    for (origin, description) in [
        ("NVivo 14", "Studio sulle reti di welfare, più ambiti."),
        ("quaderno 0.1.0", "Authors:\n- Rossi\nScritto a mano: sì"),
        ("quaderno 0.1.0", "Authors:\n- Rossi\nYear: 1066"),
        (
            "quaderno 0.1.0",
            "Authors:\n- Rossi\nYear: 2024\nResearch questions:\n- Perché?",
        ),
        ("ATLAS.ti", "Authors:\n- Rossi"),
    ] {
        let body = imported(
            &server,
            Some(&admin),
            "descritto.qde",
            project(origin, description).into(),
            None,
        )
        .await;
        let study = &body["study"]["id"];
        read.push(server.ok(Some(&admin), STUDY, json!({"s": study})).await["node"].clone());
        warnings.push(body["warnings"].clone());
    }
    let memo = |text: &str| json!({"authors": [], "year": null, "researchQuestions": [], "memos": [{"text": text}]});
    assert_eq!(read[0], memo("Studio sulle reti di welfare, più ambiti."));
    assert_eq!(read[1], memo("Authors:\n- Rossi\nScritto a mano: sì"));
    assert_eq!(read[2], memo("Authors:\n- Rossi\nYear: 1066"));
    assert_eq!(
        warnings[2],
        json!(["the project's description holds a study's fields, but the year 1066 is not from 1900 to 2100: kept as a memo of the study"])
    );
    assert_eq!(warnings[3], json!([]));
    assert_eq!(
        read[3],
        json!({"authors": ["Rossi"], "year": 2024, "researchQuestions": ["Perché?"], "memos": []})
    );
    assert_eq!(read[4], memo("Authors:\n- Rossi"));

    // Imported into an existing study, quaderno's own description is another study's fields:
    // neither applied nor kept, and said so.
    let corpus = server.corpus(&admin, "Già qui", &["Testo."]).await;
    let own = project(
        "quaderno 0.1.0",
        "Authors:\n- Rossi\nYear: 2024\nResearch questions:\n- Perché?",
    );
    let body = imported(
        &server,
        Some(&admin),
        "mio.qde",
        own.into(),
        Some(&corpus.study),
    )
    .await;
    assert_eq!(
        body["warnings"],
        json!(["the project's authors, year and research questions are those of the study it was exported from: not applied to this one"])
    );
    let kept = server
        .ok(Some(&admin), STUDY, json!({"s": corpus.study}))
        .await;
    assert_eq!(
        kept["node"],
        json!({"authors": [], "year": null, "researchQuestions": [], "memos": []})
    );
}

/// Names and labels a project brings over 500 characters are cut, each said in `warnings`,
/// and a variable the API would refuse (an interviewee's role too long) is left out and
/// said so, not dropped unseen.
#[tokio::test]
async fn an_import_cuts_long_labels_and_reports_values_it_leaves_out() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let (title, case, source, role) = (
        random_emoji(3, 501),
        random_emoji(4, 600),
        random_emoji(5, 700),
        random_emoji(6, 800),
    );
    let qde = format!(
        r#"<Project xmlns="urn:QDA-XML:project:1.0" name="{title}">
<Variables><Variable guid="a8000000-0000-0000-0000-000000000001" name="Ruolo" typeOfVariable="Text"/></Variables>
<Cases><Case guid="a8000000-0000-0000-0000-000000000002" name="{case}"><SourceRef targetGUID="a8000000-0000-0000-0000-000000000003"/></Case></Cases>
<Sources><TextSource guid="a8000000-0000-0000-0000-000000000003" name="{source}"><PlainTextContent>Là, però.</PlainTextContent>
<VariableValue><VariableRef targetGUID="a8000000-0000-0000-0000-000000000001"/><TextValue>{role}</TextValue></VariableValue></TextSource></Sources></Project>"#
    );
    let report = &imported(&server, Some(&admin), "lunghi.qde", qde.into_bytes(), None).await;
    let cut = |s: &str| s.chars().take(500).collect::<String>();
    assert_eq!(report["study"]["title"], cut(&title));
    let warnings: Vec<&str> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    let source_label = format!("{:?}", cut(&source));
    assert_eq!(
        warnings,
        [
            "the project: its name is 501 characters long, cut to the first 500",
            "case a8000000-0000-0000-0000-000000000002: its name is 600 characters long, cut to the first 500",
            "source a8000000-0000-0000-0000-000000000003: its name is 700 characters long, cut to the first 500",
            &format!("{source_label}: the interviewee's role is 800 characters long: at most 500: not imported"),
        ]
    );
    let data = server
        .ok(
            Some(&admin),
            "query($s: ID!) { node(id: $s) { ... on Study { cases { edges { node { label interviews { edges { node { label intervieweeRole } } } } } } } } }",
            json!({"s": report["study"]["id"]}),
        )
        .await;
    let case_node = &data["node"]["cases"]["edges"][0]["node"];
    assert_eq!(case_node["label"], cut(&case));
    assert_eq!(
        case_node["interviews"]["edges"][0]["node"],
        json!({"label": cut(&source), "intervieweeRole": null})
    );
}

/// An analyst's import into a study is the analyst's work: the project's other users are not
/// credited with its quotations and notes there (they would count in `codingAgreement` as
/// theirs, and only they could change them). An owner's import keeps them.
#[tokio::test]
async fn only_owners_import_coding_under_other_users_names() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let corpus = server.corpus(&admin, "Di chi è", &["Testo."]).await;
    let study = id_number(corpus.study.as_str().unwrap());
    let anna = server.token("anna", "analyst", Some(study)).await;
    let olga = server.token("olga", "owner", Some(study)).await;
    server.token("bruno", "analyst", Some(study)).await;
    let qde = |n: u32| {
        format!(
            r#"<Project xmlns="urn:QDA-XML:project:1.0" name="Altrui"><Users><User guid="a9000000-0000-0000-0000-000000000001" name="bruno"/></Users>
<Cases><Case guid="a9000000-0000-0000-0000-00000000004{n}" name="Caso"><SourceRef targetGUID="a9000000-0000-0000-0000-00000000001{n}"/></Case></Cases>
<Sources><TextSource guid="a9000000-0000-0000-0000-00000000001{n}" name="Fonte {n}"><PlainTextContent>Là c’è più casa.</PlainTextContent>
<PlainTextSelection guid="a9000000-0000-0000-0000-00000000002{n}" startPosition="11" endPosition="15" creatingUser="a9000000-0000-0000-0000-000000000001"><NoteRef targetGUID="a9000000-0000-0000-0000-00000000003{n}"/></PlainTextSelection></TextSource></Sources>
<Notes><Note guid="a9000000-0000-0000-0000-00000000003{n}" creatingUser="a9000000-0000-0000-0000-000000000001"><PlainTextContent>Casa, non alloggio.</PlainTextContent></Note></Notes></Project>"#
        )
    };
    let mut credited = Vec::new();
    for (n, token) in [(1, &anna), (2, &olga)] {
        let body = imported(
            &server,
            Some(token),
            "altrui.qde",
            qde(n).into_bytes(),
            Some(&corpus.study),
        )
        .await;
        credited.push(body["warnings"].clone());
    }
    assert_eq!(
        credited,
        [
            json!(["the work of the project's 1 other user(s) is credited to you: only the study's owners import coding and notes under other users' names"]),
            json!([]),
        ]
    );
    let data = server
        .ok(
            Some(&admin),
            "query($s: ID!) { quotations(filter: {studyIds: [$s]}) { edges { node { interview { label } text coder { name } memos { author { name } } } } } }",
            json!({"s": corpus.study}),
        )
        .await;
    let mut rows: Vec<String> = data["quotations"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let q = &e["node"];
            format!(
                "{} {} {} {}",
                q["interview"]["label"],
                q["text"],
                q["coder"]["name"],
                q["memos"][0]["author"]["name"]
            )
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            r#""Fonte 1" "casa" "anna" "anna""#,
            r#""Fonte 2" "casa" "bruno" "bruno""#,
        ]
    );
}

/// Codes stored before names were compared in Unicode case (SQLite's `lower()` folds ASCII
/// alone) may share a name up to case: an import matching them reuses the oldest, on every
/// backend, rather than whichever the rows listed last.
#[tokio::test]
async fn an_import_matching_two_old_codes_reuses_the_oldest() {
    use sea_orm::{ActiveModelTrait, DbBackend, Set};
    let server = TestServer::empty().await;
    if server.db.conn.get_database_backend() == DbBackend::Postgres {
        // Its unique index folds case in Unicode: two such codes cannot be stored there.
        return;
    }
    let admin = server.admin().await;
    let corpus = server
        .corpus(&admin, "Codici vecchi", &["Testo qualsiasi."])
        .await;
    server
        .ok(
            Some(&admin),
            "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"CITTÀ\"}) { id } }",
            json!({"s": corpus.study}),
        )
        .await;
    api_entities::code::ActiveModel {
        study_id: Set(id_number(corpus.study.as_str().unwrap())),
        parent_id: Set(None),
        name: Set("città".into()),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(&server.db.conn)
    .await
    .unwrap();
    let qdc = r##"<?xml version="1.0" encoding="utf-8"?><CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes><Code guid="dddddddd-0000-0000-0000-0000000000a1" name="Città" isCodable="true"><Code guid="dddddddd-0000-0000-0000-0000000000a2" name="Quartiere" isCodable="true"/></Code></Codes></CodeBook>"##;
    let report = imported(
        &server,
        Some(&admin),
        "codici.qdc",
        qdc.into(),
        Some(&corpus.study),
    )
    .await;
    assert_eq!(report["codes"], 1, "{report:#}");
    let codebook = codebook_of(&server, &admin, &corpus.study, "name children { name }").await;
    let with_child: Vec<&Value> = codebook
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["children"] != json!([]))
        .collect();
    assert_eq!(
        with_child,
        [&json!({"name": "CITTÀ", "children": [{"name": "Quartiere"}]})],
        "{codebook:#}"
    );
}

/// One span coded by several people (ATLAS.ti and MAXQDA carry agreement work so): each
/// coder's codings become a quotation of hers, so that the coding comparison sees them as
/// hers. The selection's description and notes stay with its own coder's quotation.
#[tokio::test]
async fn a_selection_coded_by_several_coders_gives_each_her_quotation() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let qde = r#"<Project xmlns="urn:QDA-XML:project:1.0" name="Accordo" origin="ATLAS.ti 23">
<Users><User guid="a9000000-0000-0000-0000-00000000000a" name="Anna"/><User guid="a9000000-0000-0000-0000-00000000000b" name="Bruno"/><User guid="a9000000-0000-0000-0000-00000000000c" name="Carla"/></Users>
<CodeBook><Codes><Code guid="a9100000-0000-0000-0000-000000000001" name="Casa" isCodable="true"/><Code guid="a9100000-0000-0000-0000-000000000002" name="Città" isCodable="true"/><Code guid="a9100000-0000-0000-0000-000000000003" name="Però" isCodable="true"/></Codes></CodeBook>
<Sources><TextSource guid="a9200000-0000-0000-0000-000000000001" name="Int. 1"><PlainTextContent>La casa in città è cara, però.</PlainTextContent>
<PlainTextSelection guid="a9200000-0000-0000-0000-000000000002" startPosition="3" endPosition="16" creatingUser="a9000000-0000-0000-0000-00000000000a"><Description>abitare</Description>
  <Coding guid="a9300000-0000-0000-0000-000000000001" creatingUser="a9000000-0000-0000-0000-00000000000b"><CodeRef targetGUID="a9100000-0000-0000-0000-000000000001"/></Coding>
  <Coding guid="a9300000-0000-0000-0000-000000000002" creatingUser="a9000000-0000-0000-0000-00000000000c"><CodeRef targetGUID="a9100000-0000-0000-0000-000000000002"/></Coding>
  <Coding guid="a9300000-0000-0000-0000-000000000003" creatingUser="a9000000-0000-0000-0000-00000000000b"><CodeRef targetGUID="a9100000-0000-0000-0000-000000000002"/></Coding>
  <Coding guid="a9300000-0000-0000-0000-000000000004"><CodeRef targetGUID="a9100000-0000-0000-0000-000000000003"/></Coding>
  <NoteRef targetGUID="a9400000-0000-0000-0000-000000000001"/>
</PlainTextSelection>
<PlainTextSelection guid="a9200000-0000-0000-0000-000000000003" startPosition="19" endPosition="23" creatingUser="a9000000-0000-0000-0000-00000000000c"/>
</TextSource></Sources>
<Notes><Note guid="a9400000-0000-0000-0000-000000000001" name="n"><PlainTextContent>Da rivedere</PlainTextContent></Note></Notes></Project>"#;
    let report = &imported(&server, Some(&admin), "accordo.qde", qde.into(), None).await;
    assert_eq!(report["quotations"], 4, "{report:#}");
    let study = report["study"]["id"].clone();
    let q = server
        .ok(Some(&admin), "query($s: ID!) { quotations(filter: {studyIds: [$s]}, first: 10) { edges { node { start end text memo coder { name } codes { name } memos { text } } } } }", json!({"s": study}))
        .await;
    let mut got: Vec<Value> = q["quotations"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    got.sort_by_key(|n| {
        (
            n["start"].as_i64(),
            n["coder"]["name"].as_str().map(str::to_owned),
        )
    });
    let one = |coder: &str, codes: &[&str], memo: Value, memos: Value| {
        let codes: Vec<Value> = codes.iter().map(|c| json!({"name": c})).collect();
        json!({"start": 3, "end": 16, "text": "casa in città", "memo": memo, "coder": {"name": coder}, "codes": codes, "memos": memos})
    };
    assert_eq!(
        got,
        [
            // A coding naming nobody is the selection's creator's.
            one(
                "Anna",
                &["Però"],
                json!("abitare"),
                json!([{"text": "Da rivedere"}])
            ),
            one("Bruno", &["Casa", "Città"], Value::Null, json!([])),
            one("Carla", &["Città"], Value::Null, json!([])),
            json!({"start": 19, "end": 23, "text": "cara", "memo": null, "coder": {"name": "Carla"}, "codes": [], "memos": []}),
        ]
    );
}

/// Two codes of one name at one level come in as "Casa" and "casa (2)"; imported into that
/// study again, each meets its own, and their codings follow them there.
#[tokio::test]
async fn codes_of_one_name_at_one_level_meet_their_own_on_a_second_import() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let qde = r#"<Project xmlns="urn:QDA-XML:project:1.0" name="Omonimi">
<CodeBook><Codes><Code guid="ab000000-0000-0000-0000-000000000001" name="Casa" isCodable="true"/><Code guid="ab000000-0000-0000-0000-000000000002" name="casa" isCodable="true"/></Codes></CodeBook>
<Sources><TextSource guid="ab100000-0000-0000-0000-000000000001" name="Int. 1"><PlainTextContent>La casa è cara, però.</PlainTextContent>
<PlainTextSelection guid="ab100000-0000-0000-0000-000000000002" startPosition="3" endPosition="7"><Coding guid="ab200000-0000-0000-0000-000000000001"><CodeRef targetGUID="ab000000-0000-0000-0000-000000000002"/></Coding></PlainTextSelection>
</TextSource></Sources></Project>"#;
    let first = imported(&server, Some(&admin), "omonimi.qde", qde.into(), None).await;
    assert_eq!(first["codes"], 2);
    let study = first["study"]["id"].clone();
    let again = imported(
        &server,
        Some(&admin),
        "omonimi.qde",
        qde.into(),
        Some(&study),
    )
    .await;
    assert_eq!(again["codes"], 0, "{again:#}");
    let got = quotations(&server, &admin, &study).await;
    assert_eq!(got.len(), 2);
    for q in got {
        assert_eq!(q.4, ["casa (2)"], "{q:?}");
    }
}
