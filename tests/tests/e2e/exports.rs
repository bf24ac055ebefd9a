//! Tables and pictures hold what users typed without turning it against whoever opens them:
//! every CSV download starts with a UTF-8 byte-order mark and neutralises the cells a
//! spreadsheet would run as formulas, and characters XML cannot carry never make an SVG
//! unreadable.

use serde_json::{json, Value};
use tests::{id_number, TestServer};

async fn download(server: &TestServer, token: &str, path: &str) -> (u16, Vec<u8>) {
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.bytes().await.unwrap().to_vec())
}

/// The records of a CSV download, its header first, after checking the byte-order mark.
fn records(body: &[u8]) -> Vec<Vec<String>> {
    records_separated(body, b',')
}

fn records_separated(body: &[u8], separator: u8) -> Vec<Vec<String>> {
    let rest = body
        .strip_prefix("\u{FEFF}".as_bytes())
        .expect("a CSV download starts with a byte-order mark");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(separator)
        .from_reader(rest);
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    for cell in rows.iter().flatten() {
        assert!(
            !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "a formula left in {cell:?}"
        );
    }
    rows
}

#[tokio::test]
async fn downloads_neutralise_formulas_and_survive_control_characters() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let t = Some(admin.as_str());
    let study = server
        .ok(
            t,
            "mutation { createStudy(input: {title: \"=Studio\"}) { id } }",
            json!({}),
        )
        .await["createStudy"]["id"]
        .clone();
    let label = "+Caso \u{1}<&> città";
    const CREATE_CASE: &str =
        "mutation($s: ID!, $l: String!) { createCase(input: {studyId: $s, label: $l}) { id } }";
    // A control character is refused on the way in (exports could not carry it) ...
    let refused = server
        .gql(t, CREATE_CASE, json!({"s": study, "l": label}))
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{refused}"
    );
    let case = server
        .ok(t, CREATE_CASE, json!({"s": study, "l": "+Caso"}))
        .await["createCase"]["id"]
        .clone();
    // ... but one already in the database (written before it was, or by an import) still
    // leaves every download readable.
    server.store_case_label(&case, label).await;
    let text = "=SOMMA(1;2) in città\n@tutti: sì, è così’";
    let interview = server
        .ok(
            t,
            "mutation($c: ID!, $t: String!) { createInterview(input: {caseId: $c, label: \"-Int. 1\", transcript: $t}) { id } }",
            json!({"c": case, "t": text}),
        )
        .await["createInterview"]["id"]
        .clone();
    let code = server
        .ok(
            t,
            "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"@codice\"}) { id } }",
            json!({"s": study}),
        )
        .await["createCode"]["id"]
        .clone();
    let span = |needle: &str| {
        let b = text.find(needle).unwrap();
        let s = text[..b].chars().count();
        (s, s + needle.chars().count())
    };
    let mut quotations: Vec<Value> = Vec::new();
    for (needle, memo) in [("=SOMMA(1;2)", "-nota"), ("@tutti: sì", "\tnota")] {
        let (s, e) = span(needle);
        quotations.push(
            server
                .ok(t, "mutation($i: ID!, $s: Int!, $e: Int!, $c: [ID!]!, $m: String) { createQuotation(input: {interviewId: $i, start: $s, end: $e, codeIds: $c, memo: $m}) { id } }", json!({"i": interview, "s": s, "e": e, "c": [code], "m": memo}))
                .await["createQuotation"]["id"]
                .clone(),
        );
    }
    let eva = server
        .token(
            "@eva",
            "evaluator",
            Some(id_number(study.as_str().unwrap())),
        )
        .await;
    server
        .ok(Some(&eva), "mutation($i: TagDiscontinuityInput!) { tagDiscontinuity(input: $i) { id } }", json!({"i": {"caseId": case, "dimension": "PROBLEM_DEFINITION", "intensity": "SIGNIFICANT", "evidenceQuotationIds": [quotations[0]]}}))
        .await;
    // Memos written on the first quotation, by the evaluator and then the admin.
    for (token, note) in [(&eva, "prima nota"), (&admin, "-seconda, è più chiara")] {
        server
            .ok(Some(token), "mutation($q: ID!, $x: String!) { createMemo(input: {targetId: $q, text: $x}) { id } }", json!({"q": quotations[0], "x": note}))
            .await;
    }
    let s = study.as_str().unwrap();

    let (status, body) = download(&server, &admin, &format!("/studies/{s}/quotations.csv")).await;
    assert_eq!(status, 200);
    let neutral_label = format!("'{label}");
    let rows = records(&body);
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[1],
        [
            "'=Studio",
            &neutral_label,
            "'-Int. 1",
            "0",
            "11",
            "'=SOMMA(1;2)",
            "'@codice",
            "admin",
            "'-nota",
            "'@eva: prima nota\n\nadmin: -seconda, è più chiara"
        ]
    );
    assert_eq!(rows[2][5], "'@tutti: sì");
    assert_eq!(rows[2][8], "'\tnota");

    let (status, body) = download(
        &server,
        &admin,
        &format!("/studies/{s}/code-case-matrix.csv"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        records(&body),
        [vec!["code", neutral_label.as_str()], vec!["'@codice", "2"]]
    );

    let (status, body) = download(
        &server,
        &admin,
        &format!("/studies/{s}/discontinuities.csv"),
    )
    .await;
    assert_eq!(status, 200);
    let rows = records(&body);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1][0], neutral_label);
    assert_eq!(rows[1][7], "'@eva");

    // For Excel in an Italian locale: the same tables, separated by `;`, where "=SOMMA(1;2)"
    // stays one cell.
    for table in [
        "quotations.csv",
        "code-case-matrix.csv",
        "discontinuities.csv",
    ] {
        let path = format!("/studies/{s}/{table}");
        let (_, comma) = download(&server, &admin, &path).await;
        let (status, semicolon) =
            download(&server, &admin, &format!("{path}?separator=semicolon")).await;
        assert_eq!(status, 200, "{table}");
        assert_ne!(semicolon, comma, "{table}");
        assert_eq!(
            records_separated(&semicolon, b';'),
            records(&comma),
            "{table}"
        );
        let (status, _) = download(&server, &admin, &format!("{path}?separator=tab")).await;
        assert_eq!(status, 400, "{table}");
    }

    // U+0001 cannot be in XML even escaped: it becomes U+FFFD, and the pictures parse.
    let shown = "+Caso \u{FFFD}<&> città";
    for path in [
        format!("/studies/{s}/discontinuities/matrix.svg"),
        format!("/cases/{}/cascade.svg", case.as_str().unwrap()),
    ] {
        let (status, body) = download(&server, &admin, &path).await;
        assert_eq!(status, 200, "{path}");
        let svg = String::from_utf8(body).unwrap();
        let doc = roxmltree::Document::parse(&svg)
            .unwrap_or_else(|e| panic!("{path} is not well-formed XML: {e}"));
        assert!(
            doc.descendants()
                .filter_map(|n| n.text())
                .any(|t| t.contains(shown)),
            "{path} shows the label"
        );
    }
}

#[tokio::test]
async fn a_study_with_more_interviews_than_a_statement_takes_parameters_is_exported() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    // 65,536: past PostgreSQL's 65,535 parameters and SQLite's 32,766.
    let (study, _) = server.crowded_study(&admin, 16).await;
    let s = study.as_str().unwrap();
    let (status, body) = download(&server, &admin, &format!("/studies/{s}/quotations.csv")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let rows = records(&body);
    assert_eq!(rows.len(), 1 + 65_536);
    assert_eq!(rows[65_536][5..7], ["casa", "Casa"]);
}

/// An export reads a dozen tables one statement at a time; a transcript edit committed
/// between two of them must not give it the old transcript with the new quotation offsets.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_export_reads_one_state_of_the_study_while_it_is_edited() {
    use api::auth::{Caller, CallerUser};
    use std::sync::{mpsc, Mutex};
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let t = Some(admin.as_str());
    let old = "R: La casa popolare manca.";
    let c = server.corpus(&admin, "Istantanea", &[old]).await;
    let interview = c.interviews[0]["id"].clone();
    server
        .ok(t, "mutation($i: ID!) { createQuotation(input: {interviewId: $i, start: 6, end: 10, codeIds: []}) { text } }", json!({"i": interview}))
        .await;
    // A connection whose export stops right after reading the interviews, until the edit
    // below has committed.
    let (reached_tx, reached) = tokio::sync::oneshot::channel::<()>();
    let (go, go_rx) = mpsc::channel::<()>();
    let (reached_tx, go_rx) = (Mutex::new(Some(reached_tx)), Mutex::new(go_rx));
    let mut conn = server.db.conn.clone();
    conn.set_metric_callback(move |info| {
        if info.statement.sql.contains(r#"FROM "interview""#) {
            if let Some(reached) = reached_tx.lock().unwrap().take() {
                reached.send(()).unwrap();
                go_rx.lock().unwrap().recv().unwrap();
            }
        }
    });
    let caller = Caller {
        user: Some(CallerUser {
            id: 1,
            name: "admin".into(),
            is_admin: true,
            roles: Default::default(),
        }),
    };
    let study_id = id_number(c.study.as_str().unwrap());
    let export = tokio::spawn(async move {
        api::service::exchange::StudyContent::load(&conn, &caller, study_id).await
    });
    reached.await.unwrap();
    let edited = server
        .ok(t, "mutation($i: ID!, $t: String!) { updateInterview(input: {id: $i, version: 1, transcript: $t}) { movedQuotations } }", json!({"i": interview, "t": format!("INT: Una premessa.\n{old}")}))
        .await;
    assert_eq!(edited["updateInterview"]["movedQuotations"], 1);
    go.send(()).unwrap();
    let content = export.await.unwrap().unwrap();
    assert_eq!(content.quotations.len(), 1);
    let q = &content.quotations[0];
    let transcript = &content.interviews[0].transcript;
    assert_eq!(
        api::text::slice(transcript, q.start_pos as usize, q.end_pos as usize),
        Some("casa"),
        "{transcript:?} [{}, {})",
        q.start_pos,
        q.end_pos
    );
}

/// Downloads of a whole study are built a few at a time: one asked for while every leave is
/// taken waits for one, then answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn study_downloads_wait_their_turn() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let corpus = server
        .corpus(&admin, "A turno", &["R: La casa è lì, però cara."])
        .await;
    let (url, state, serving) = server.second_server().await;
    let exports = state.study_exports.clone();
    let taken = exports
        .clone()
        .acquire_many_owned(api::http::STUDY_EXPORTS_AT_ONCE as u32)
        .await
        .unwrap();
    let study = corpus.study.as_str().unwrap().to_owned();
    let client = reqwest::Client::new();
    let asked = tokio::spawn({
        let (url, admin) = (url.clone(), admin.clone());
        async move {
            client
                .get(format!("{url}/studies/{study}/quotations.csv"))
                .bearer_auth(admin)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!asked.is_finished(), "built while no leave was free");
    drop(taken);
    assert_eq!(asked.await.unwrap(), 200);
    serving.abort();
}
