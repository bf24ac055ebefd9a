//! Transcript import over real multipart POSTs (graphql-multipart-request-spec): .txt, .md
//! and a real .docx written here with the `zip` crate; normalisation recorded; search passages
//! that follow the speaker turns; bad files refused with nothing imported; the body limit.

use std::io::{Cursor, Write};

use serde_json::{json, Value};
use tests::{error_code, id_number, TestServer};

const IMPORT: &str = r#"
mutation($c: ID!, $files: [Upload!]!) {
  importTranscripts(caseId: $c, files: $files) {
    warnings
    transcripts { fileName format normalisation turns speakers warnings
      interview { id label length transcript sourceFile normalisation language } }
  }
}"#;

/// POSTs an operation with files as a multipart request; returns the status and JSON body.
pub(crate) async fn upload(
    server: &TestServer,
    token: Option<&str>,
    query: &str,
    variables: Value,
    files: &[(&str, Vec<u8>)],
) -> (u16, Value) {
    let mut variables = variables;
    variables["files"] = Value::Array(vec![Value::Null; files.len()]);
    let map: serde_json::Map<String, Value> = (0..files.len())
        .map(|i| (i.to_string(), json!([format!("variables.files.{i}")])))
        .collect();
    let mut form = reqwest::multipart::Form::new()
        .text(
            "operations",
            json!({"query": query, "variables": variables}).to_string(),
        )
        .text("map", Value::Object(map).to_string());
    for (i, (name, bytes)) in files.iter().enumerate() {
        form = form.part(
            i.to_string(),
            reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.to_string()),
        );
    }
    let mut req = reqwest::Client::new()
        .post(format!("{}/graphql", server.url))
        .multipart(form);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, body)
}

/// A zip archive with these entries.
fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

const W: &str = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";

fn document_xml(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="{W}"><w:body>{body}<w:sectPr/></w:body></w:document>"#
    )
}

/// A Word file as Word writes one: content types, package relationships, the main part.
/// Paragraphs are (text, bold).
fn docx(paragraphs: &[(&str, bool)]) -> Vec<u8> {
    let body: String = paragraphs
        .iter()
        .map(|(text, bold)| {
            let props = if *bold { "<w:rPr><w:b/></w:rPr>" } else { "" };
            let text = text
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            format!(
                r#"<w:p><w:pPr><w:spacing w:after="160"/></w:pPr><w:r>{props}<w:t xml:space="preserve">{text}</w:t></w:r></w:p>"#
            )
        })
        .collect();
    docx_with(&document_xml(&body))
}

fn docx_with(document: &str) -> Vec<u8> {
    let types = r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;
    let rels = r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#;
    archive(&[
        ("[Content_Types].xml", types.as_bytes()),
        ("_rels/.rels", rels.as_bytes()),
        ("word/document.xml", document.as_bytes()),
    ])
}

/// A case to import into, in a new study of the admin's.
async fn case(server: &TestServer, token: &str) -> Value {
    server.corpus(token, "Importazioni", &[]).await.case
}

async fn interview_count(server: &TestServer, token: &str) -> i64 {
    server
        .ok(Some(token), "{ interviews { totalCount } }", json!({}))
        .await["interviews"]["totalCount"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn txt_md_and_docx_become_interviews_with_their_normalisation_and_turns() {
    let server = TestServer::empty().await;
    let token = server.admin().await;
    let case = case(&server, &token).await;
    // BOM, CRLF, and "è" typed as e + combining grave accent.
    let txt =
        "\u{feff}INT: Com\u{2019}e\u{300} nata la rete?\r\nR: Dal tavolo di ambito, in città.\r\n";
    let md = "# Intervista 2\n\n**Intervistatore:** E la pandemia?\n\n**Intervistato:** Ha *cambiato* tutto.\n";
    let word = docx(&[
        ("Intervista del 3 maggio 2022", false),
        ("Intervistatrice", true),
        ("Che cosa è cambiato con l’ambito?", false),
        ("Intervistata", true),
        ("All’inizio poco.", false),
        ("Poi la co-progettazione è diventata abituale.", false),
        ("D. Rossi:", false),
        ("Confermo, più o meno.", false),
    ]);
    let (status, body) = upload(
        &server,
        Some(&token),
        IMPORT,
        json!({"c": case}),
        &[
            ("Int. 1.txt", txt.as_bytes().to_vec()),
            ("Int. 2.md", md.as_bytes().to_vec()),
            ("Int. 3.docx", word),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    assert!(body.get("errors").is_none(), "{body:#}");
    let t = &body["data"]["importTranscripts"]["transcripts"];

    assert_eq!(t[0]["fileName"], "Int. 1.txt");
    assert_eq!(t[0]["format"], "TEXT");
    assert_eq!(
        t[0]["normalisation"],
        json!(["BOM_STRIPPED", "LINE_ENDINGS", "UNICODE_NFC"])
    );
    let i1 = &t[0]["interview"];
    assert_eq!(i1["label"], "Int. 1");
    assert_eq!(
        i1["transcript"],
        "INT: Com’è nata la rete?\nR: Dal tavolo di ambito, in città.\n"
    );
    assert_eq!(i1["length"], 60, "code points, not bytes");
    assert_eq!(i1["sourceFile"], "Int. 1.txt");
    assert_eq!(i1["normalisation"], t[0]["normalisation"]);
    assert_eq!(i1["language"], "it");
    assert_eq!(t[0]["turns"], 2);
    assert_eq!(t[0]["speakers"], json!(["INT", "R"]));

    assert_eq!(t[1]["format"], "MARKDOWN");
    assert_eq!(t[1]["normalisation"], json!(["MARKDOWN"]));
    assert_eq!(
        t[1]["interview"]["transcript"],
        "Intervista 2\n\nIntervistatore: E la pandemia?\n\nIntervistato: Ha cambiato tutto.\n"
    );
    assert_eq!(t[1]["speakers"], json!(["Intervistatore", "Intervistato"]));

    assert_eq!(t[2]["format"], "DOCX");
    assert_eq!(t[2]["interview"]["label"], "Int. 3");
    assert_eq!(
        t[2]["interview"]["transcript"],
        "Intervista del 3 maggio 2022\n\nIntervistatrice:\nChe cosa è cambiato con l’ambito?\n\nIntervistata:\nAll’inizio poco.\nPoi la co-progettazione è diventata abituale.\n\nD. Rossi:\nConfermo, più o meno."
    );
    assert_eq!(t[2]["normalisation"], json!(["SPEAKER_LABELS"]));
    assert_eq!(t[2]["turns"], 3);
    assert_eq!(
        t[2]["speakers"],
        json!(["Intervistatrice", "Intervistata", "D. Rossi"])
    );
    assert_eq!(body["data"]["importTranscripts"]["warnings"], json!([]));

    // Typed-in interviews have no provenance; imported ones keep theirs.
    let typed = server
        .ok(
            Some(&token),
            "mutation($c: ID!) { createInterview(input: {caseId: $c, label: \"x\", transcript: \"testo\"}) { sourceFile normalisation } }",
            json!({"c": case}),
        )
        .await;
    assert_eq!(
        typed["createInterview"],
        json!({"sourceFile": null, "normalisation": null})
    );
    let read_back = server
        .ok(
            Some(&token),
            "query($id: ID!) { node(id: $id) { ... on Interview { sourceFile normalisation } } }",
            json!({"id": t[0]["interview"]["id"]}),
        )
        .await;
    assert_eq!(
        read_back["node"]["normalisation"],
        json!(["BOM_STRIPPED", "LINE_ENDINGS", "UNICODE_NFC"])
    );
}

#[tokio::test]
async fn long_lines_of_unclosed_markdown_import_in_linear_time() {
    let server = TestServer::empty().await;
    let token = server.admin().await;
    let case = case(&server, &token).await;
    // Openers that never close, each a line of its own: scanning from every one of them to
    // the end of its line took over twenty minutes here (a debug build); now well under a
    // second. The markup of an ordinary line is still stripped.
    let brackets = format!("INT: {}", "[".repeat(200_000));
    let stars = format!("R: {}", "*a ".repeat(200_000));
    let images = format!("INT: {}", "![".repeat(100_000));
    let ordinary = "R: Con _fatica_ e *molta* pazienza, vedi [il sito](http://x.it).";
    let md = [brackets.as_str(), &stars, &images, ordinary].join("\n");
    assert!(md.len() > 1_000_000);
    let (status, body) = upload(
        &server,
        Some(&token),
        IMPORT,
        json!({"c": case}),
        &[("Lunga.md", md.into_bytes())],
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.get("errors").is_none(), "{body:#}");
    let t = &body["data"]["importTranscripts"]["transcripts"][0];
    assert_eq!(t["normalisation"], json!(["MARKDOWN"]));
    assert_eq!(t["turns"], 4);
    let expected = [
        brackets.as_str(),
        &stars,
        &images,
        "R: Con fatica e molta pazienza, vedi il sito.",
    ]
    .join("\n");
    assert!(
        t["interview"]["transcript"] == expected.as_str(),
        "the transcript differs from what was expected"
    );
}

#[tokio::test]
async fn search_passages_of_an_imported_docx_follow_its_speaker_turns() {
    let server = TestServer::empty().await;
    let token = server.admin().await;
    let case = case(&server, &token).await;
    let word = docx(&[
        ("Intervistatore", true),
        ("Parliamo della casa popolare.", false),
        ("Intervistato", true),
        ("La casa manca da anni.", false),
        ("E la casa è il primo problema, dopo il lavoro.", false),
        ("Intervistatore", true),
        ("E la casa per gli anziani?", false),
        ("Intervistato", true),
        (
            "Gli anziani soli cercano una casa vicina ai servizi.",
            false,
        ),
    ]);
    let (_, body) = upload(
        &server,
        Some(&token),
        IMPORT,
        json!({"c": case}),
        &[("Turni.docx", word)],
    )
    .await;
    let interview = &body["data"]["importTranscripts"]["transcripts"][0]["interview"];
    let transcript = interview["transcript"]
        .as_str()
        .expect("imported")
        .to_owned();
    let hits = server
        .ok(
            Some(&token),
            "query($f: SearchFilter) { search(query: \"casa\", filter: $f, first: 50) { totalCount edges { node { start end interview { id } } } } }",
            json!({"f": {"interviewIds": [interview["id"]]}}),
        )
        .await;
    let edges = hits["search"]["edges"].as_array().unwrap();
    let mut passages: Vec<String> = edges
        .iter()
        .map(|e| {
            let (s, end) = (
                e["node"]["start"].as_i64().unwrap(),
                e["node"]["end"].as_i64().unwrap(),
            );
            transcript
                .chars()
                .skip(s as usize)
                .take((end - s) as usize)
                .collect()
        })
        .collect();
    passages.sort();
    // Every turn mentions "casa": one passage per turn, each opened by its speaker, and the
    // two-paragraph answer is one passage.
    assert_eq!(
        passages,
        [
            "Intervistato:\nGli anziani soli cercano una casa vicina ai servizi.",
            "Intervistato:\nLa casa manca da anni.\nE la casa è il primo problema, dopo il lavoro.",
            "Intervistatore:\nE la casa per gli anziani?",
            "Intervistatore:\nParliamo della casa popolare.",
        ],
        "{hits:#}"
    );
}

/// The passages of an interview that a search finds, as text.
async fn found(server: &TestServer, token: &str, interview: &Value, query: &str) -> Vec<String> {
    let transcript = interview["transcript"].as_str().expect("imported");
    let hits = server
        .ok(
            Some(token),
            "query($q: String!, $f: SearchFilter) { search(query: $q, filter: $f, first: 50) { edges { node { start end } } } }",
            json!({"q": query, "f": {"interviewIds": [interview["id"]]}}),
        )
        .await;
    let mut passages: Vec<String> = hits["search"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = e["node"]["start"].as_u64().unwrap() as usize;
            let end = e["node"]["end"].as_u64().unwrap() as usize;
            transcript.chars().skip(s).take(end - s).collect()
        })
        .collect();
    passages.sort();
    passages
}

/// A soft line break (Shift+Enter) stays a line break of its paragraph, and Word's special
/// characters keep their text: a non-breaking hyphen is a hyphen, a Symbol-font arrow an
/// arrow, a positional tab a tab.
#[tokio::test]
async fn word_line_breaks_and_special_characters_are_kept() {
    let server = TestServer::empty().await;
    let token = server.admin().await;
    let case = case(&server, &token).await;
    let plain = docx_with(&document_xml(
        r#"<w:p><w:r><w:t>Prima riga</w:t><w:br/><w:t>seconda riga</w:t></w:r></w:p><w:p><w:r><w:t>Il tavolo di co</w:t><w:noBreakHyphen/><w:t>progettazione</w:t><w:ptab w:relativeTo="margin" w:alignment="right" w:leader="none"/><w:t>p. 2</w:t></w:r></w:p>"#,
    ));
    let turns = docx_with(&document_xml(
        r#"<w:p><w:r><w:t>INT: E la co</w:t><w:noBreakHyphen/><w:t>progettazione?</w:t></w:r></w:p><w:p><w:r><w:t xml:space="preserve">R: È partita</w:t><w:br/><w:br/><w:t xml:space="preserve">ma lentamente </w:t><w:sym w:font="Symbol" w:char="F0AE"/><w:t xml:space="preserve"> poi meglio.</w:t><w:sym w:font="Wingdings" w:char="F0E0"/></w:r></w:p>"#,
    ));
    let (status, body) = upload(
        &server,
        Some(&token),
        IMPORT,
        json!({"c": case}),
        &[("Senza turni.docx", plain), ("Turni.docx", turns)],
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    assert!(body.get("errors").is_none(), "{body:#}");
    let t = &body["data"]["importTranscripts"]["transcripts"];
    let (plain, turns) = (&t[0]["interview"], &t[1]["interview"]);
    assert_eq!(
        plain["transcript"],
        "Prima riga\nseconda riga\n\nIl tavolo di co-progettazione\tp. 2"
    );
    assert_eq!(
        turns["transcript"],
        "INT: E la co-progettazione?\n\nR: È partita\nma lentamente → poi meglio."
    );
    assert_eq!(t[1]["turns"], 2);
    assert_eq!(
        found(&server, &token, plain, "seconda").await,
        ["Prima riga\nseconda riga"]
    );
    assert_eq!(
        found(&server, &token, plain, "co-progett*").await,
        ["Il tavolo di co-progettazione\tp. 2"]
    );
    assert_eq!(
        found(&server, &token, turns, "co-progett*").await,
        ["INT: E la co-progettazione?"]
    );
    assert_eq!(
        found(&server, &token, turns, "lentamente").await,
        ["R: È partita\nma lentamente → poi meglio."]
    );
}

#[tokio::test]
async fn one_bad_file_imports_nothing_and_is_named() {
    let server = TestServer::empty().await;
    let token = server.admin().await;
    let case = case(&server, &token).await;
    let good = ("buono.txt", "INT: tutto bene?\nR: sì.".as_bytes().to_vec());
    let word = docx(&[("R: testo", false)]);
    let paragraph = "<w:p><w:r><w:t>parola parola parola</w:t></w:r></w:p>";
    let mut bomb_xml = document_xml(paragraph);
    // 80 MiB of white space after the document compresses to a few dozen KiB.
    bomb_xml.push_str(&" ".repeat(80 * 1024 * 1024));
    let bomb = docx_with(&bomb_xml);
    assert!(bomb.len() < 1024 * 1024, "{} bytes", bomb.len());
    let xxe = format!(
        r#"<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><w:document xmlns:w="{W}"><w:body><w:p><w:r><w:t>&x;</w:t></w:r></w:p></w:body></w:document>"#
    );
    let escaping = archive(&[
        ("word/document.xml", document_xml(paragraph).as_bytes()),
        ("../../outside.txt", b"x"),
    ]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("latin1.txt", b"R: citt\xe0".to_vec(), "not UTF-8"),
        (
            "utf16be.txt",
            "R: Perché la città?"
                .encode_utf16()
                .flat_map(u16::to_be_bytes)
                .collect(),
            "UTF-16 without a byte-order mark",
        ),
        (
            "rotto.docx",
            b"PK\x03\x04 non un archivio".to_vec(),
            "corrupt or truncated",
        ),
        (
            "troncato.docx",
            word[..word.len() / 2].to_vec(),
            "corrupt or truncated",
        ),
        ("bomba.docx", bomb, "would expand to"),
        ("fuga.docx", escaping, "outside the archive"),
        ("xxe.docx", docx_with(&xxe), "DTD"),
        ("progetto.qdpx", b"PK".to_vec(), "importQdpx"),
        ("vuoto.md", b"\n\n".to_vec(), "no text"),
    ];
    for (name, bytes, says) in cases {
        let (status, body) = upload(
            &server,
            Some(&token),
            IMPORT,
            json!({"c": case}),
            &[good.clone(), (name, bytes)],
        )
        .await;
        assert_eq!(status, 200, "{name}: {body:#}");
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{name}: {body:#}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{name}: ")) && message.contains(says),
            "{name}: {message}"
        );
        assert!(body["data"].is_null(), "{name}: {body:#}");
        assert_eq!(
            interview_count(&server, &token).await,
            0,
            "{name}: nothing imported"
        );
    }
    let (_, none) = upload(&server, Some(&token), IMPORT, json!({"c": case}), &[]).await;
    assert_eq!(error_code(&none), "BAD_USER_INPUT", "{none:#}");
    // The same good file alone goes in; a second time it is warned about, not refused.
    let (_, ok) = upload(
        &server,
        Some(&token),
        IMPORT,
        json!({"c": case}),
        std::slice::from_ref(&good),
    )
    .await;
    assert!(ok.get("errors").is_none(), "{ok:#}");
    assert_eq!(ok["data"]["importTranscripts"]["warnings"], json!([]));
    let (_, again) = upload(&server, Some(&token), IMPORT, json!({"c": case}), &[good]).await;
    assert_eq!(
        again["data"]["importTranscripts"]["warnings"],
        json!(["buono.txt: the case already has an interview labelled \"buono\""])
    );
    assert_eq!(interview_count(&server, &token).await, 2);

    // A macOS file name is decomposed ("Citta" and a combining grave): its label is the same
    // "Città" as a typed one, and warned about as the same.
    let decomposed = ("Citta\u{300}.txt", b"R: Bene.".to_vec());
    let (_, first) = upload(
        &server,
        Some(&token),
        IMPORT,
        json!({"c": case}),
        &[decomposed],
    )
    .await;
    let label = &first["data"]["importTranscripts"]["transcripts"][0]["interview"]["label"];
    assert_eq!(label, "Citt\u{e0}", "{first:#}");
    let composed = ("Citt\u{e0}.txt", b"R: Bene.".to_vec());
    let (_, second) = upload(
        &server,
        Some(&token),
        IMPORT,
        json!({"c": case}),
        &[composed],
    )
    .await;
    assert_eq!(
        second["data"]["importTranscripts"]["warnings"],
        json!(["Citt\u{e0}.txt: the case already has an interview labelled \"Citt\u{e0}\""])
    );
    let typed = server
        .ok(
            Some(&token),
            "mutation($c: ID!, $l: String!) { createInterview(input: {caseId: $c, label: $l, transcript: \"R: Sì.\"}) { label } }",
            json!({"c": case, "l": "Perche\u{301}"}),
        )
        .await;
    assert_eq!(typed["createInterview"]["label"], "Perch\u{e9}");
}

#[tokio::test]
async fn only_analysts_and_owners_import_and_the_case_must_exist() {
    let server = TestServer::empty().await;
    let token = server.admin().await;
    let corpus = server.corpus(&token, "Privato", &[]).await;
    let study = id_number(corpus.study.as_str().unwrap());
    let file = || vec![("a.txt", b"R: s\xc3\xac".to_vec())];
    let viewer = server.token("lettrice", "viewer", Some(study)).await;
    let analyst = server.token("analista", "analyst", Some(study)).await;
    let (_, refused) = upload(
        &server,
        Some(&viewer),
        IMPORT,
        json!({"c": corpus.case}),
        &file(),
    )
    .await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused:#}");
    let (_, anonymous) = upload(&server, None, IMPORT, json!({"c": corpus.case}), &file()).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED", "{anonymous:#}");
    assert!(anonymous["data"].is_null(), "{anonymous:#}");
    let (_, accepted) = upload(
        &server,
        Some(&analyst),
        IMPORT,
        json!({"c": corpus.case}),
        &file(),
    )
    .await;
    assert_eq!(
        accepted["data"]["importTranscripts"]["transcripts"][0]["interview"]["transcript"],
        "R: sì"
    );
    let (_, missing) = upload(
        &server,
        Some(&token),
        IMPORT,
        json!({"c": "Q2FzZTo5OTk5"}),
        &file(),
    )
    .await;
    assert_eq!(error_code(&missing), "NOT_FOUND", "{missing:#}");
}

#[tokio::test]
async fn an_upload_over_the_body_limit_gets_a_clear_error() {
    let server = TestServer::start(tests::Options {
        limits: api::http::Limits {
            max_body_bytes: 64 * 1024,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let token = server.admin().await;
    let case = case(&server, &token).await;
    let big = format!("R: {}", "parola ".repeat(20_000));
    let (status, body) = upload(
        &server,
        Some(&token),
        IMPORT,
        json!({"c": case}),
        &[("lungo.txt", big.into_bytes())],
    )
    .await;
    assert_eq!(status, 413, "{body:#}");
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["maxBodyBytes"], 65536);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("larger than the 65536 bytes"),
        "{body:#}"
    );
    assert_eq!(interview_count(&server, &token).await, 0);

    // Without a declared length the limit is met while the upload is read: same answer.
    let (status, body) = chunked_upload(&server, &token, &case, 100 * 1024).await;
    assert_eq!(status, 413, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{body}"));
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["maxBodyBytes"], 65536);
    assert_eq!(interview_count(&server, &token).await, 0);
    // A malformed multipart request is answered in GraphQL's shape too.
    let bad = reqwest::Client::new()
        .post(format!("{}/graphql", server.url))
        .bearer_auth(&token)
        .header("content-type", "multipart/form-data; boundary=x")
        .body("--x\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{}\r\n--x--\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body:#}");
}

/// A multipart import sent with `Transfer-Encoding: chunked` over a raw connection, so that
/// the server cannot refuse on a declared length. Returns the status and the body.
async fn chunked_upload(
    server: &TestServer,
    token: &str,
    case: &Value,
    size: usize,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let operations = json!({"query": IMPORT, "variables": {"c": case, "files": [null]}});
    let mut body = Vec::new();
    for (name, value) in [
        ("operations", operations.to_string()),
        ("map", json!({"0": ["variables.files.0"]}).to_string()),
    ] {
        body.extend(
            format!("--X\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    body.extend(
        b"--X\r\nContent-Disposition: form-data; name=\"0\"; filename=\"lungo.txt\"\r\n\r\nR: ",
    );
    body.extend(std::iter::repeat_n(b'a', size));
    body.extend(b"\r\n--X--\r\n");
    let addr = server.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary=X\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(8192) {
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend(chunk);
        framed.extend(b"\r\n");
        // The server may answer and stop reading before the upload ends.
        if stream.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Transcription software writes a time stamp before each turn ("[00:00:05] INT:"): the
/// turns are still read as turns, and search passages follow them.
#[tokio::test]
async fn time_stamps_before_speaker_labels_leave_the_turns_read() {
    let server = TestServer::empty().await;
    let token = server.admin().await;
    let case = case(&server, &token).await;
    let txt = "[00:00:05] INT: Com’è andata?\n[00:00:09] R: Bene, più o meno.\n(00:01:12) INT: E poi?\n00:01:30 R: Poi la pandemia.\n";
    let (status, body) = upload(
        &server,
        Some(&token),
        IMPORT,
        json!({"c": case}),
        &[("Tempi.txt", txt.as_bytes().to_vec())],
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let t = &body["data"]["importTranscripts"]["transcripts"][0];
    assert_eq!(t["turns"], 4, "{t:#}");
    assert_eq!(t["speakers"], json!(["INT", "R"]));
    assert_eq!(t["warnings"], json!([]), "{t:#}");
}

/// Each file of an upload is a temporary file, open until the answer: one request holds at
/// most 64, and its map puts them at most at 64 places. Past either it is refused before a
/// file is made, whoever sends it (the body is read before the token is checked).
#[tokio::test]
async fn an_upload_holds_at_most_64_files_and_64_places_for_them() {
    let server = TestServer::empty().await;
    let token = server.admin().await;
    let case = case(&server, &token).await;
    let files = |n: usize| -> Vec<(String, Vec<u8>)> {
        (0..n)
            .map(|i| {
                (
                    format!("{i}.txt"),
                    format!("R: Intervista {i}, città.").into_bytes(),
                )
            })
            .collect()
    };
    fn named(f: &[(String, Vec<u8>)]) -> Vec<(&str, Vec<u8>)> {
        f.iter().map(|(n, b)| (n.as_str(), b.clone())).collect()
    }
    for token in [None, Some(token.as_str())] {
        let (status, body) = upload(
            &server,
            token,
            IMPORT,
            json!({"c": case}),
            &named(&files(65)),
        )
        .await;
        assert_eq!(status, 400, "{body:#}");
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("65 files, more than 64"), "{message}");
    }
    assert_eq!(interview_count(&server, &token).await, 0);
    let (status, body) = upload(
        &server,
        Some(&token),
        IMPORT,
        json!({"c": case}),
        &named(&files(64)),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(interview_count(&server, &token).await, 64);
    // One file put at 65 places, by a map sent as text or as a file (which async-graphql
    // still reads as the map).
    let operations =
        json!({"query": IMPORT, "variables": {"c": case, "files": vec![Value::Null; 65]}});
    let places: Vec<String> = (0..65).map(|i| format!("variables.files.{i}")).collect();
    let map = json!({"0": places}).to_string();
    for map_part in [
        reqwest::multipart::Part::text(map.clone()),
        reqwest::multipart::Part::text(map.clone()).file_name("map.json"),
    ] {
        let form = reqwest::multipart::Form::new()
            .text("operations", operations.to_string())
            .part("map", map_part)
            .part(
                "0",
                reqwest::multipart::Part::bytes(b"R: una volta.".to_vec()).file_name("a.txt"),
            );
        let resp = reqwest::Client::new()
            .post(format!("{}/graphql", server.url))
            .bearer_auth(&token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        let body: Value = resp.json().await.unwrap();
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("at 65 places: at most 64"), "{message}");
    }
    assert_eq!(interview_count(&server, &token).await, 64);
}
