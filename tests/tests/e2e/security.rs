//! Access control and hardening: tokens, roles, the audit log, and requests built to hurt.

use std::time::Duration;

use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, Statement};
use serde_json::{json, Value};
use tests::{error_code, id_number, Options, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_are_refused_while_the_server_keeps_answering() {
    let server = TestServer::demo().await;
    let cyclic = format!(
        "{{ ambito(code: \"24\") {{ {}code{} }} }}",
        "enti { ambiti { ".repeat(6),
        " } }".repeat(6)
    );
    let aliases: String = (0..1000)
        .map(|n| format!("a{n}: ambiti {{ totalCount }} "))
        .collect();
    let big = format!(
        "{{\"query\": \"{{ me {{ id }} }}\", \"pad\": \"{}\"}}",
        "x".repeat(10 * 1024 * 1024)
    );
    let http = reqwest::Client::new();
    let url = format!("{}/graphql", server.url);
    let bad = async {
        let c = server.gql(None, &cyclic, json!({})).await;
        let a = server
            .gql(None, &format!("{{ {aliases} }}"), json!({}))
            .await;
        // The server refuses on the declared length, often before the client has written it
        // all: a 413, or the connection closed under the client.
        let b = match http
            .post(&url)
            .header("content-type", "application/json")
            .body(big.clone())
            .send()
            .await
        {
            Ok(r) => r.status().as_u16(),
            Err(e) if e.is_request() => 413,
            Err(e) => panic!("{e}"),
        };
        (c, a, b)
    };
    let good = async {
        let mut ok = 0;
        for _ in 0..20 {
            let r = server
                .gql(None, "{ ambito(code: \"24\") { name } }", json!({}))
                .await;
            ok += usize::from(r["data"]["ambito"]["name"].is_string());
        }
        ok
    };
    let ((cyclic_r, aliases_r, big_status), answered) = tokio::join!(bad, good);
    assert_eq!(error_code(&cyclic_r), "BAD_USER_INPUT", "{cyclic_r}");
    assert_eq!(error_code(&aliases_r), "BAD_USER_INPUT");
    assert_eq!(big_status, 413);
    assert_eq!(answered, 20);
    // Batched operations are not accepted at all.
    let batch = http
        .post(&url)
        .json(&json!([{"query": "{ me { id } }"}, {"query": "{ me { id } }"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(batch.status(), 400);
    // Deep but legitimate connection queries still pass.
    let deep = server.gql(None, "{ studies { edges { node { cases { edges { node { interviews { edges { node { quotations(first: 1) { edges { node { codes { parent { name } } } } } } } } } } } } } } }", json!({})).await;
    assert!(deep.get("errors").is_none(), "{deep}");
}

/// Fragments chained thousands deep, or spreading the next one twice at every level, are
/// refused before anything walks them whole (a walk following the chain overflowed the
/// stack), and the server keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragment_chains_are_refused_and_harm_nothing() {
    let server = TestServer::demo().await;
    let chain: String = (0..20_000)
        .map(|n| format!("fragment F{n} on Query {{ ...F{} }} ", n + 1))
        .collect();
    let chained = format!("query {{ ...F0 }} {chain} fragment F20000 on Query {{ __typename }}");
    let doubling: String = (0..30)
        .map(|n| format!("fragment D{n} on Query {{ ...D{m} ...D{m} }} ", m = n + 1))
        .collect();
    let doubled = format!("query {{ ...D0 }} {doubling} fragment D30 on Query {{ __typename }}");
    for q in [chained, doubled] {
        let refused = server.gql(None, &q, json!({})).await;
        assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
    }
    let answered = server
        .ok(None, "{ ambito(code: \"24\") { name } }", json!({}))
        .await;
    assert!(answered["ambito"]["name"].is_string());
}

#[tokio::test]
async fn introspection_graphiql_and_slow_requests_can_be_switched_off() {
    let limits = api::http::Limits {
        introspection: false,
        graphiql: false,
        ..Default::default()
    };
    let server = TestServer::start(Options {
        limits,
        ..Default::default()
    })
    .await;
    let r = server
        .gql(None, "{ __schema { types { name } } }", json!({}))
        .await;
    assert_eq!(r["data"]["__schema"], Value::Null, "{r}");
    let (status, _) = server.get("/graphql").await;
    assert_eq!(status, 404);
    let open = TestServer::empty().await;
    let r = open
        .gql(None, "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(r["data"]["__schema"]["queryType"]["name"], "Query");
    // A request that outlives the timeout is answered 408. Its body never finishes arriving,
    // so it is slow for certain (a fast query could beat any short timeout).
    let limits = api::http::Limits {
        request_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let hasty = TestServer::start(Options {
        limits,
        ..Default::default()
    })
    .await;
    use tokio::io::AsyncWriteExt as _;
    let addr = hasty.url.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let body = r#"{"query": "{ studies { totalCount } }"}"#;
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..10]).await.unwrap();
    let started = std::time::Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(10), read_response(&mut stream))
        .await
        .expect("the server answers before the client gives up");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Answered as GraphQL answers, with a code, and counted.
    let (_, json) = answer.split_once("\r\n\r\n").unwrap();
    let json: Value = serde_json::from_str(json).expect("a JSON body");
    assert_eq!(error_code(&json), "TIMEOUT", "{json}");
    assert!(json.to_string().contains("reload"), "{json}");
    let (_, metrics) = hasty.get("/metrics").await;
    assert!(
        metrics
            .contains(r#"quaderno_graphql_errors_total{code="TIMEOUT",operation="anonymous"} 1"#),
        "{metrics}"
    );
}

/// A list of IDs longer than any a person builds is refused before it reaches the database:
/// at 32,767 entries SQLite's limit on bound values made it an internal error.
#[tokio::test]
async fn long_lists_of_ids_are_bad_input() {
    use base64::Engine as _;
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let c = server.corpus(&admin, "Liste", &["R: sì, è così."]).await;
    let ids = |kind: &str, n: usize| -> Vec<String> {
        (1..=n)
            .map(|i| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}:{i}")))
            .collect()
    };
    let asked = [
        ("mutation($i: ID!, $l: [ID!]!) { createQuotation(input: {interviewId: $i, start: 0, end: 2, codeIds: $l}) { id } }", json!({"i": c.interviews[0]["id"], "l": ids("Code", 5_001)})),
        ("mutation($c: ID!, $l: [ID!]) { tagDiscontinuity(input: {caseId: $c, dimension: ACTOR_NETWORK, intensity: PARTIAL, evidenceQuotationIds: $l}) { id } }", json!({"c": c.case, "l": ids("Quotation", 32_767)})),
        ("mutation($c: ID!, $l: [ID!]) { tagDiscontinuity(input: {caseId: $c, dimension: ACTOR_NETWORK, intensity: PARTIAL, causeIds: $l}) { id } }", json!({"c": c.case, "l": ids("Discontinuity", 5_001)})),
        ("query($l: [ID!]) { quotations(filter: {codeIds: $l}) { totalCount } }", json!({"l": ids("Code", 32_767)})),
        // Ambito codes too, repeated or not (a case's were looked up one by one, holding
        // the write).
        ("mutation($c: ID!, $a: [String!]) { updateCase(input: {id: $c, ambitoCodes: $a}) { id } }", json!({"c": c.case, "a": vec!["1"; 5_001]})),
        ("mutation($s: ID!, $a: [String!]) { createCase(input: {studyId: $s, label: \"x\", ambitoCodes: $a}) { id } }", json!({"s": c.study, "a": vec!["1"; 5_001]})),
        ("query($a: [String!]) { search(query: \"sì\", filter: {ambitoCodes: $a}) { totalCount } }", json!({"a": vec!["1"; 5_001]})),
    ];
    for (operation, vars) in asked {
        let answer = server.gql(Some(&admin), operation, vars).await;
        assert_eq!(
            error_code(&answer),
            "BAD_USER_INPUT",
            "{operation}: {answer:#}"
        );
        let message = answer["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("at most 5000"), "{message}");
    }
    // At the limit a list is read: here, codes that do not exist.
    let at_limit = server
        .gql(
            Some(&admin),
            "mutation($i: ID!, $l: [ID!]!) { createQuotation(input: {interviewId: $i, start: 0, end: 2, codeIds: $l}) { id } }",
            json!({"i": c.interviews[0]["id"], "l": ids("Code", 5_000)}),
        )
        .await;
    assert_eq!(error_code(&at_limit), "NOT_FOUND", "{at_limit:#}");
}

/// One HTTP/1.1 response, read up to the end of its body.
async fn read_response(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt as _;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        answer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap())
            });
            if n == 0 || length.is_some_and(|len| body.len() >= len) {
                return text;
            }
        } else if n == 0 {
            return text;
        }
    }
}

/// List sizes count. Whole transcripts are estimated before anything runs, from the page
/// sizes above them; the list items a request asks for are counted as it runs, once for
/// every object each page hangs from. Realistic nested reads pass both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_sizes_count_towards_the_limits() {
    let server = TestServer::demo().await;
    // On the demo: 16 interviews, 8 quotations each, every quotation's interview's
    // quotations, each with its interview's transcript, 50 times over.
    let flood_one = "interviews(first: 1000) { edges { node { quotations(first: 1000) { edges { node { interview { quotations(first: 1000) { edges { node { interview { transcript } } } } } } } } } } }";
    let flood: String = (0..50).map(|n| format!("a{n}: {flood_one} ")).collect();
    let refused = server.gql(None, &format!("{{ {flood} }}"), json!({})).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
    assert!(refused.to_string().contains("transcripts"), "{refused}");
    // Without transcripts: 1,000 + 16 × 1,000 + 127 × 1,000 items asked, refused while it
    // runs, with one error and no data.
    let pages = "query($n: Int) { interviews(first: $n) { edges { node { quotations(first: $n) { edges { node { interview { quotations(first: $n) { edges { node { id } } } } } } } } } } }";
    let refused = server.gql(None, pages, json!({"n": 1000})).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
    assert!(refused.to_string().contains("list items"), "{refused}");
    assert_eq!(refused["data"], Value::Null, "{refused}");
    assert_eq!(refused["errors"].as_array().unwrap().len(), 1, "{refused}");
    // The same shape with pages fitting the data runs.
    let answered = server.ok(None, pages, json!({"n": 20})).await;
    assert_eq!(
        answered["interviews"]["edges"].as_array().unwrap().len(),
        16
    );
    // A front end's page: 100 interviews with 50 coded quotations each.
    let page = server
        .ok(
            None,
            "{ interviews(first: 100) { totalCount edges { node { label quotations(first: 50) { totalCount edges { node { start end text codes { name path color } } } } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(page["interviews"]["totalCount"], 16);
    // Every transcript of every case, at the default page sizes.
    server
        .ok(
            None,
            "{ cases { edges { node { interviews { edges { node { transcript } } } } } } }",
            json!({}),
        )
        .await;
    let answered = server
        .ok(None, "{ ambito(code: \"24\") { name } }", json!({}))
        .await;
    assert!(answered["ambito"]["name"].is_string());
}

#[tokio::test]
async fn tokens_are_random_hashed_revocable_and_expire() {
    let server = TestServer::empty().await;
    let token = server.admin().await;
    assert!(token.len() >= 4 + 43, "256 random bits, base64: {token}");
    let stored: Vec<String> = api_entities::api_token::Entity::find()
        .all(&server.db.conn)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.token_hash)
        .collect();
    assert!(
        !stored.iter().any(|h| h.contains(&token[4..])),
        "the secret is not stored"
    );
    assert!(stored.contains(&api::auth::hash_token(&token)));
    assert_eq!(
        server.ok(Some(&token), "{ me { name } }", json!({})).await["me"]["name"],
        "admin"
    );
    let id = api_entities::api_token::Entity::find()
        .all(&server.db.conn)
        .await
        .unwrap()[0]
        .id;
    api::service::tokens::revoke_token(&server.db.conn, id)
        .await
        .unwrap();
    assert_eq!(
        error_code(&server.gql(Some(&token), "{ me { name } }", json!({})).await),
        "UNAUTHENTICATED"
    );
    let brief = api::service::tokens::create_token_for(
        &server.db.conn,
        "breve",
        "admin",
        None,
        Some(chrono::Duration::seconds(-1)),
    )
    .await
    .unwrap();
    assert_eq!(
        error_code(&server.gql(Some(&brief), "{ me { name } }", json!({})).await),
        "UNAUTHENTICATED"
    );
    // A 401 says how to authenticate (RFC 9110), on the endpoint and on downloads alike.
    for (method, path) in [
        (reqwest::Method::POST, "/graphql"),
        (reqwest::Method::GET, "/studies/U3R1ZHk6MQ/quotations.csv"),
    ] {
        let resp = reqwest::Client::new()
            .request(method, format!("{}{path}", server.url))
            .bearer_auth(&brief)
            .json(&json!({"query": "{ me { name } }"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{path}");
        let challenge = resp.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer "), "{path}: {challenge}");
    }
    let listed = api::service::tokens::list_tokens(&server.db.conn)
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().any(|t| t.revoked_at.is_some()));
}

/// Every request identifies its caller first: one statement, however many studies the user
/// has a role in, and every one of those roles counts.
#[tokio::test]
async fn a_caller_with_roles_in_several_studies_is_identified_in_one_statement() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let analysed = study_n(&server, Some(&admin)).await;
    let viewed = study_n(&server, Some(&admin)).await;
    let hidden = study_n(&server, Some(&admin)).await;
    server
        .token("ada", "analyst", Some(id_number(&analysed)))
        .await;
    let ada = server
        .token("ada", "viewer", Some(id_number(&viewed)))
        .await;
    let code = "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"accesso\"}) { id } }";
    let read = "query($s: ID!) { node(id: $s) { id } }";
    assert!(server.gql(Some(&ada), code, json!({"s": analysed})).await["errors"].is_null());
    let as_viewer = server.gql(Some(&ada), code, json!({"s": viewed})).await;
    assert_eq!(error_code(&as_viewer), "FORBIDDEN", "{as_viewer}");
    assert_eq!(
        server.ok(Some(&ada), read, json!({"s": viewed})).await["node"]["id"],
        viewed
    );
    assert!(server.ok(Some(&ada), read, json!({"s": hidden})).await["node"].is_null());

    let cost = |token: Option<String>| {
        let server = &server;
        async move {
            let before = server.statements().await;
            server
                .ok(token.as_deref(), "{ __typename }", json!({}))
                .await;
            server.statements().await - before
        }
    };
    assert_eq!(
        cost(Some(ada.clone())).await,
        1,
        "statements to identify ada"
    );
    assert_eq!(
        cost(Some(admin.clone())).await,
        1,
        "statements to identify the admin"
    );
    assert_eq!(cost(None).await, 0, "statements for an anonymous caller");
}

#[tokio::test]
async fn every_write_is_audited_for_owners_and_the_log_is_append_only() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let study = server
        .ok(
            Some(&admin),
            r#"mutation { createStudy(input: {title: "Audit"}) { id } }"#,
            json!({}),
        )
        .await["createStudy"]["id"]
        .clone();
    let case = server
        .ok(
            Some(&admin),
            "mutation($s: ID!) { createCase(input: {studyId: $s, label: \"C\"}) { id } }",
            json!({"s": study}),
        )
        .await["createCase"]["id"]
        .clone();
    let interview = server.ok(Some(&admin), "mutation($c: ID!) { createInterview(input: {caseId: $c, label: \"I\", transcript: \"R: sì, è così.\"}) { id } }", json!({"c": case})).await["createInterview"]["id"].clone();
    let q = server.ok(Some(&admin), "mutation($i: ID!) { createQuotation(input: {interviewId: $i, start: 3, end: 5, codeIds: []}) { id } }", json!({"i": interview})).await["createQuotation"]["id"].clone();
    server
        .ok(
            Some(&admin),
            "mutation($q: ID!) { updateQuotation(input: {id: $q, version: 1, end: 6}) { id } }",
            json!({"q": q}),
        )
        .await;
    server
        .ok(
            Some(&admin),
            "mutation($q: ID!) { deleteQuotation(id: $q, version: 2) }",
            json!({"q": q}),
        )
        .await;
    const LOG: &str = "query($s: ID!) { auditLog(studyId: $s, first: 100) { totalCount edges { node { at operation entity entityId summary user { name } } } } }";
    let log = server.ok(Some(&admin), LOG, json!({"s": study})).await["auditLog"].clone();
    let ops: Vec<&str> = log["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        [
            "createStudy",
            "createCase",
            "createInterview",
            "createQuotation",
            "updateQuotation",
            "deleteQuotation"
        ]
    );
    let update = &log["edges"][4]["node"];
    assert_eq!(update["user"]["name"], "admin");
    assert_eq!(update["entityId"], q);
    let summary: Value = serde_json::from_str(update["summary"].as_str().unwrap()).unwrap();
    assert_eq!(
        (
            summary["before"]["end"].clone(),
            summary["after"]["end"].clone()
        ),
        (json!(5), json!(6))
    );
    let number = id_number(study.as_str().unwrap());
    let analyst = server.token("analista", "analyst", Some(number)).await;
    assert_eq!(
        error_code(&server.gql(Some(&analyst), LOG, json!({"s": study})).await),
        "FORBIDDEN"
    );
    // The role granted on the command line is logged as a write to that user.
    let analista = server.ok(Some(&analyst), "{ me { id } }", json!({})).await["me"]["id"].clone();
    let granted = server.ok(Some(&admin), LOG, json!({"s": study})).await["auditLog"].clone();
    let grant = &granted["edges"][6]["node"];
    assert_eq!(
        (&grant["operation"], &grant["entity"], &grant["entityId"]),
        (&json!("createToken"), &json!("user"), &analista),
        "{grant}"
    );
    assert_eq!(
        error_code(&server.gql(None, LOG, json!({"s": study})).await),
        "NOT_FOUND"
    );
    // The database itself refuses to rewrite history.
    let backend = server.db.conn.get_database_backend();
    for sql in [
        "UPDATE audit_log SET operation = 'nothing'",
        "DELETE FROM audit_log",
    ] {
        let r = server
            .db
            .conn
            .execute_raw(Statement::from_string(backend, sql))
            .await;
        assert!(r.is_err(), "{sql} was allowed");
    }
    assert_eq!(
        api_entities::audit_log::Entity::find()
            .count(&server.db.conn)
            .await
            .unwrap() as usize,
        log["totalCount"].as_u64().unwrap() as usize + 2,
        "plus the two tokens' creation"
    );
}

/// Everything that can be written, counted: a refused call must leave it unchanged.
async fn fingerprint(server: &TestServer) -> Vec<u64> {
    use api_entities::*;
    let db = &server.db.conn;
    vec![
        study::Entity::find().count(db).await.unwrap(),
        study_case::Entity::find().count(db).await.unwrap(),
        intervention::Entity::find().count(db).await.unwrap(),
        interview::Entity::find().count(db).await.unwrap(),
        code::Entity::find().count(db).await.unwrap(),
        quotation::Entity::find().count(db).await.unwrap(),
        discontinuity::Entity::find().count(db).await.unwrap(),
        memo::Entity::find().count(db).await.unwrap(),
        audit_log::Entity::find().count(db).await.unwrap(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_role_matrix_holds_for_every_mutation_and_query_root() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let a = Some(admin.as_str());
    let study = server
        .ok(
            a,
            r#"mutation { createStudy(input: {title: "Privato"}) { id } }"#,
            json!({}),
        )
        .await["createStudy"]["id"]
        .clone();
    let n = id_number(study.as_str().unwrap());
    let case = server
        .ok(
            a,
            "mutation($s: ID!) { createCase(input: {studyId: $s, label: \"C\"}) { id } }",
            json!({"s": study}),
        )
        .await["createCase"]["id"]
        .clone();
    let interview = server.ok(a, "mutation($c: ID!) { createInterview(input: {caseId: $c, label: \"I\", transcript: \"R: La città è più bella, l’ente c’è.\"}) { id } }", json!({"c": case})).await["createInterview"]["id"].clone();
    let roles = [
        ("admin", Some(admin.clone())),
        (
            "owner",
            Some(server.token("proprietaria", "owner", Some(n)).await),
        ),
        (
            "analyst",
            Some(server.token("analista", "analyst", Some(n)).await),
        ),
        (
            "evaluator",
            Some(server.token("valutatrice", "evaluator", Some(n)).await),
        ),
        (
            "viewer",
            Some(server.token("lettore", "viewer", Some(n)).await),
        ),
        (
            "outsider",
            Some(
                server
                    .token(
                        "estraneo",
                        "viewer",
                        Some(
                            api::graphql::ids::parse_study_ref(&study_n(&server, a).await).unwrap(),
                        ),
                    )
                    .await,
            ),
        ),
        ("anonymous", None),
    ];
    // (operation, who may, query, variables); each call gets fresh objects made by the admin.
    let mut seq = 0;
    for (role, token) in &roles {
        let t = token.as_deref();
        let mutations: Vec<(&str, &[&str], String, Value)> = {
            seq += 1;
            let c1 = server.ok(a, "mutation($s: ID!, $n: String!) { createCode(input: {studyId: $s, name: $n}) { id } }", json!({"s": study, "n": format!("c{seq}")})).await["createCode"]["id"].clone();
            let c2 = server.ok(a, "mutation($s: ID!, $n: String!) { createCode(input: {studyId: $s, name: $n}) { id } }", json!({"s": study, "n": format!("d{seq}")})).await["createCode"]["id"].clone();
            let unused = server.ok(a, "mutation($s: ID!, $n: String!) { createCode(input: {studyId: $s, name: $n}) { id } }", json!({"s": study, "n": format!("e{seq}")})).await["createCode"]["id"].clone();
            let q = server.ok(a, "mutation($i: ID!) { createQuotation(input: {interviewId: $i, start: 3, end: 8, codeIds: []}) { id } }", json!({"i": interview})).await["createQuotation"]["id"].clone();
            let q2 = server.ok(a, "mutation($i: ID!) { createQuotation(input: {interviewId: $i, start: 3, end: 8, codeIds: []}) { id } }", json!({"i": interview})).await["createQuotation"]["id"].clone();
            let memo = server
                .ok(
                    a,
                    "mutation($t: ID!) { createMemo(input: {targetId: $t, text: \"m\"}) { id } }",
                    json!({"t": study}),
                )
                .await["createMemo"]["id"]
                .clone();
            let memo2 = server
                .ok(
                    a,
                    "mutation($t: ID!) { createMemo(input: {targetId: $t, text: \"m\"}) { id } }",
                    json!({"t": study}),
                )
                .await["createMemo"]["id"]
                .clone();
            let version = server
                .ok(
                    a,
                    "query($i: ID!) { node(id: $i) { ... on Interview { version } } }",
                    json!({"i": interview}),
                )
                .await["node"]["version"]
                .clone();
            const CODERS: &[&str] = &["admin", "owner", "analyst"];
            const OWNERS: &[&str] = &["admin", "owner"];
            const ANYONE: &[&str] = &[
                "admin",
                "owner",
                "analyst",
                "evaluator",
                "viewer",
                "outsider",
            ];
            const EVALUATORS: &[&str] = &["admin", "owner", "evaluator"];
            const ANNOTATORS: &[&str] = &["admin", "owner", "analyst", "evaluator"];
            let dim = [
                "PROBLEM_DEFINITION",
                "INTERVENTION_THEORY",
                "POLICY_INSTRUMENTS",
                "ACTOR_NETWORK",
            ][seq % 4];
            vec![
                ("createStudy", ANYONE, "mutation { createStudy(input: {title: \"s\"}) { id } }".into(), json!({})),
                ("createCase", OWNERS, "mutation($s: ID!) { createCase(input: {studyId: $s, label: \"c\"}) { id } }".into(), json!({"s": study})),
                ("updateStudy", OWNERS, "mutation($s: ID!, $t: String!) { updateStudy(input: {id: $s, title: $t}) { id } }".into(), json!({"s": study, "t": format!("studio {seq}")})),
                ("updateCase", OWNERS, "mutation($c: ID!, $l: String!) { updateCase(input: {id: $c, label: $l}) { id } }".into(), json!({"c": case, "l": format!("caso {seq}")})),
                ("createIntervention", OWNERS, "mutation($c: ID!) { createIntervention(input: {caseId: $c, label: \"i\"}) { id } }".into(), json!({"c": case})),
                ("createInterview", CODERS, "mutation($c: ID!) { createInterview(input: {caseId: $c, label: \"i\", transcript: \"testo\"}) { id } }".into(), json!({"c": case})),
                ("updateInterview", CODERS, "mutation($i: ID!, $v: Int!) { updateInterview(input: {id: $i, version: $v, label: \"nuovo\"}) { movedQuotations } }".into(), json!({"i": interview, "v": version})),
                ("createCode", CODERS, "mutation($s: ID!, $n: String!) { createCode(input: {studyId: $s, name: $n}) { id } }".into(), json!({"s": study, "n": format!("nuovo{seq}")})),
                ("updateCode", CODERS, "mutation($c: ID!) { updateCode(input: {id: $c, color: \"#123456\"}) { id } }".into(), json!({"c": c1})),
                ("mergeCodes", CODERS, "mutation($a: ID!, $b: ID!) { mergeCodes(sourceId: $a, targetId: $b) { id } }".into(), json!({"a": c2, "b": c1})),
                ("deleteCode", CODERS, "mutation($c: ID!) { deleteCode(id: $c) }".into(), json!({"c": unused})),
                ("createQuotation", CODERS, "mutation($i: ID!) { createQuotation(input: {interviewId: $i, start: 0, end: 2, codeIds: []}) { id } }".into(), json!({"i": interview})),
                ("updateQuotation", OWNERS, "mutation($q: ID!) { updateQuotation(input: {id: $q, version: 1, end: 9}) { id } }".into(), json!({"q": q})),
                ("deleteQuotation", OWNERS, "mutation($q: ID!) { deleteQuotation(id: $q, version: 1) }".into(), json!({"q": q2})),
                ("tagDiscontinuity", EVALUATORS, "mutation($c: ID!, $d: DiscontinuityDimension!) { tagDiscontinuity(input: {caseId: $c, dimension: $d, intensity: PARTIAL}) { id } }".into(), json!({"c": case, "d": dim})),
                ("tagDiscontinuity consensus", OWNERS, "mutation($c: ID!, $d: DiscontinuityDimension!) { tagDiscontinuity(input: {caseId: $c, dimension: $d, intensity: PARTIAL, consensus: true, expectedVersion: null}) { id } }".into(), json!({"c": case, "d": dim})),
                ("createMemo", ANNOTATORS, "mutation($s: ID!) { createMemo(input: {targetId: $s, text: \"nota\"}) { id } }".into(), json!({"s": study})),
                ("updateMemo", OWNERS, "mutation($m: ID!) { updateMemo(input: {id: $m, version: 1, text: \"altra\"}) { id } }".into(), json!({"m": memo})),
                ("deleteMemo", OWNERS, "mutation($m: ID!) { deleteMemo(id: $m, version: 1) }".into(), json!({"m": memo2})),
            ]
        };
        for (name, allowed, query, vars) in mutations {
            // Consensus cells are one per dimension: only the first owner's call can create it.
            let before = fingerprint(&server).await;
            let r = server.gql(t, &query, vars).await;
            if allowed.contains(role) {
                let conflict = r.get("errors").is_some()
                    && error_code(&r) == "CONFLICT"
                    && name.contains("consensus");
                assert!(r.get("errors").is_none() || conflict, "{role} {name}: {r}");
            } else {
                let code = error_code(&r);
                let expected: &[&str] = match *role {
                    "anonymous" => &["UNAUTHENTICATED"],
                    "outsider" => &["NOT_FOUND"],
                    _ => &["FORBIDDEN"],
                };
                assert!(expected.contains(&code), "{role} {name}: {code} {r}");
                assert_eq!(
                    fingerprint(&server).await,
                    before,
                    "{role} {name} changed something"
                );
            }
        }
        // Query roots over the private study: members read it; others see nothing of it.
        let member = !matches!(*role, "outsider" | "anonymous");
        let reads = server
            .gql(
                t,
                "query($s: ID!, $c: ID!) { node(id: $s) { id } studies { totalCount } quotations(filter: {studyIds: [$s]}) { totalCount } search(query: \"città\") { totalCount facets { cases { count } } } concordance(term: \"città\") { totalCount } interviews { totalCount } cases(studyId: null) { totalCount } n2: node(id: $c) { id } }",
                json!({"s": study, "c": case}),
            )
            .await;
        let data = &reads["data"];
        assert_eq!(data["node"].is_object(), member, "{role}: {reads}");
        assert_eq!(data["n2"].is_object(), member, "{role}");
        assert_eq!(
            data["search"]["totalCount"].as_i64().unwrap() > 0,
            member,
            "{role}: search"
        );
        assert_eq!(
            data["concordance"]["totalCount"].as_i64().unwrap() > 0,
            member,
            "{role}: concordance"
        );
        assert_eq!(
            data["quotations"]["totalCount"].as_i64().unwrap() > 0,
            member,
            "{role}: quotations"
        );
        assert_eq!(
            data["interviews"]["totalCount"].as_i64().unwrap() > 0,
            member,
            "{role}: interviews"
        );
        if !member {
            assert_eq!(data["search"]["facets"]["cases"], json!([]));
        }
        for root in [
            "codeFrequencies(studyId: $s) { quotations }",
            "codeCooccurrence(studyId: $s) { count }",
            "codeCaseMatrix(studyId: $s) { count }",
            "discontinuityMatrix(studyId: $s) { dimensions }",
            "discontinuityAgreement(studyId: $s) { units }",
            "discontinuityComparison(studyId: $s) { dimension }",
            "cases(studyId: $s) { totalCount }",
            "interviews(caseId: $c) { totalCount }",
        ] {
            let declared = if root.contains("$c") {
                "$c: ID!"
            } else {
                "$s: ID!"
            };
            let r = server
                .gql(
                    t,
                    &format!("query({declared}) {{ {root} }}"),
                    json!({"s": study, "c": case}),
                )
                .await;
            if member {
                assert!(r.get("errors").is_none(), "{role} {root}: {r}");
            } else {
                assert_eq!(error_code(&r), "NOT_FOUND", "{role} {root}");
            }
        }
        let log = server
            .gql(
                t,
                "query($s: ID!) { auditLog(studyId: $s) { totalCount } }",
                json!({"s": study}),
            )
            .await;
        match *role {
            "admin" | "owner" => assert!(log.get("errors").is_none(), "{role}: {log}"),
            "outsider" | "anonymous" => assert_eq!(error_code(&log), "NOT_FOUND"),
            _ => assert_eq!(error_code(&log), "FORBIDDEN", "{role}"),
        }
    }
}

/// Another study, so that the outsider has a role somewhere else.
async fn study_n(server: &TestServer, admin: Option<&str>) -> String {
    server
        .ok(
            admin,
            r#"mutation { createStudy(input: {title: "Altro"}) { id } }"#,
            json!({}),
        )
        .await["createStudy"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A study with one case, interview, code and quotation, made by the token's user.
struct Seeded {
    study: Value,
    case: Value,
    interview: Value,
    code: Value,
    quotation: Value,
}

async fn seeded(server: &TestServer, token: &str, title: &str, public: bool) -> Seeded {
    let t = Some(token);
    let c = server
        .ok(
            t,
            "mutation($t: String!, $p: Boolean) { createStudy(input: {title: $t, public: $p}) { id } }",
            json!({"t": title, "p": public}),
        )
        .await;
    let study = c["createStudy"]["id"].clone();
    let case = server
        .ok(
            t,
            "mutation($s: ID!) { createCase(input: {studyId: $s, label: \"Caso\"}) { id } }",
            json!({"s": study}),
        )
        .await["createCase"]["id"]
        .clone();
    let interview = server
        .ok(
            t,
            "mutation($c: ID!) { createInterview(input: {caseId: $c, label: \"I\", transcript: \"R: La casa popolare manca.\"}) { id } }",
            json!({"c": case}),
        )
        .await["createInterview"]["id"]
        .clone();
    let code = server
        .ok(
            t,
            "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"Casa\"}) { id } }",
            json!({"s": study}),
        )
        .await["createCode"]["id"]
        .clone();
    let quotation = server
        .ok(
            t,
            "mutation($i: ID!, $c: ID!) { createQuotation(input: {interviewId: $i, start: 6, end: 10, codeIds: [$c]}) { id } }",
            json!({"i": interview, "c": code}),
        )
        .await["createQuotation"]["id"]
        .clone();
    Seeded {
        study,
        case,
        interview,
        code,
        quotation,
    }
}

/// A global ID no row has.
fn missing(kind: api::graphql::ids::Kind) -> Value {
    json!(api::graphql::ids::encode(kind, 999_999).0)
}

/// The first error as a client reads it: message and extensions.
fn first_error(body: &Value) -> Value {
    let e = &body["errors"][0];
    assert!(e.is_object(), "no error in {body:#}");
    json!({"message": e["message"], "extensions": e["extensions"], "data": body["data"]})
}

/// A memo on anything of a study the caller may not read gets the very answer a memo on
/// something missing gets: naming the target's study or interview told that it exists.
#[tokio::test]
async fn memos_on_targets_of_private_studies_are_refused_as_on_missing_ones() {
    use api::graphql::ids::Kind;
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let hidden = seeded(&server, &admin, "Segreto", false).await;
    let own = seeded(&server, &admin, "Mio", false).await;
    let analyst = server
        .token(
            "bruno",
            "analyst",
            Some(id_number(own.study.as_str().unwrap())),
        )
        .await;
    let b = Some(analyst.as_str());
    let memo = "mutation($t: ID!) { createMemo(input: {targetId: $t, text: \"nota\"}) { id } }";
    for (kind, hidden_id, own_id) in [
        (Kind::Study, &hidden.study, &own.study),
        (Kind::Case, &hidden.case, &own.case),
        (Kind::Interview, &hidden.interview, &own.interview),
        (Kind::Code, &hidden.code, &own.code),
        (Kind::Quotation, &hidden.quotation, &own.quotation),
    ] {
        let hidden_r = server.gql(b, memo, json!({"t": hidden_id})).await;
        let missing_r = server.gql(b, memo, json!({"t": missing(kind)})).await;
        assert_eq!(error_code(&hidden_r), "NOT_FOUND", "{kind:?}: {hidden_r}");
        assert_eq!(first_error(&hidden_r), first_error(&missing_r), "{kind:?}");
        server.ok(b, memo, json!({"t": own_id})).await;
    }
    let memos = server
        .ok(
            Some(&admin),
            "query($s: ID!) { node(id: $s) { ... on Study { memos { id } } } }",
            json!({"s": hidden.study}),
        )
        .await;
    assert_eq!(memos["node"]["memos"], json!([]), "{memos}");
}

/// A code of a study the caller may not read is, on a quotation, a missing code; one of
/// another study the caller reads may say where it belongs.
#[tokio::test]
async fn codes_of_private_studies_are_refused_on_quotations_as_missing_ones() {
    use api::graphql::ids::Kind;
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let hidden = seeded(&server, &admin, "Segreto", false).await;
    let own = seeded(&server, &admin, "Mio", false).await;
    let open = seeded(&server, &admin, "Aperto", true).await;
    let analyst = server
        .token(
            "bruno",
            "analyst",
            Some(id_number(own.study.as_str().unwrap())),
        )
        .await;
    let b = Some(analyst.as_str());
    let create = "mutation($i: ID!, $c: [ID!]!) { createQuotation(input: {interviewId: $i, start: 0, end: 2, codeIds: $c}) { id } }";
    let update = "mutation($q: ID!, $c: [ID!]) { updateQuotation(input: {id: $q, version: 1, codeIds: $c}) { id } }";
    // The analyst's own quotation: another coder's is refused before its codes are read.
    let mine = server
        .ok(b, create, json!({"i": own.interview, "c": []}))
        .await["createQuotation"]["id"]
        .clone();
    for (hidden_codes, missing_codes) in [
        (json!([hidden.code]), json!([missing(Kind::Code)])),
        (
            json!([own.code, hidden.code]),
            json!([own.code, missing(Kind::Code)]),
        ),
    ] {
        let hidden_r = server
            .gql(b, create, json!({"i": own.interview, "c": hidden_codes}))
            .await;
        let missing_r = server
            .gql(b, create, json!({"i": own.interview, "c": missing_codes}))
            .await;
        assert_eq!(error_code(&hidden_r), "NOT_FOUND", "{hidden_r}");
        assert_eq!(first_error(&hidden_r), first_error(&missing_r));
        let hidden_r = server
            .gql(b, update, json!({"q": mine, "c": hidden_codes}))
            .await;
        let missing_r = server
            .gql(b, update, json!({"q": mine, "c": missing_codes}))
            .await;
        assert_eq!(error_code(&hidden_r), "NOT_FOUND", "{hidden_r}");
        assert_eq!(first_error(&hidden_r), first_error(&missing_r));
    }
    for r in [
        server
            .gql(b, create, json!({"i": own.interview, "c": [open.code]}))
            .await,
        server
            .gql(b, update, json!({"q": mine, "c": [open.code]}))
            .await,
    ] {
        assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
        assert!(r.to_string().contains("another study"), "{r}");
    }
    let left = server
        .ok(
            b,
            "query($s: ID!, $q: ID!) { quotations(filter: {studyIds: [$s]}) { totalCount } node(id: $q) { ... on Quotation { version codes { id } } } }",
            json!({"s": own.study, "q": mine}),
        )
        .await;
    assert_eq!(left["quotations"]["totalCount"], 2, "{left}");
    assert_eq!(left["node"]["version"], 1, "{left}");
    assert_eq!(left["node"]["codes"], json!([]), "{left}");
}

/// `node(id:)` on a User answers only for the caller, for admins, and for users that data
/// the caller reads already shows (members, coders, …): walking through user IDs listed
/// every account, coders imported under their real names included.
#[tokio::test]
async fn users_resolve_only_where_readable_data_shows_them() {
    use api::graphql::ids::{encode, Kind};
    use sea_orm::ConnectionTrait as _;
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let hidden = seeded(&server, &admin, "Segreto", false).await;
    let hidden_n = id_number(hidden.study.as_str().unwrap());
    let own = seeded(&server, &admin, "Mio", false).await;
    let open = seeded(&server, &admin, "Aperto", true).await;
    let coder = server.token("carla", "analyst", Some(hidden_n)).await;
    server
        .ok(
            Some(&coder),
            "mutation($i: ID!) { createQuotation(input: {interviewId: $i, start: 0, end: 2, codeIds: []}) { id } }",
            json!({"i": hidden.interview}),
        )
        .await;
    let viewer = server.token("dario", "viewer", Some(hidden_n)).await;
    let stranger = server
        .token(
            "bruno",
            "analyst",
            Some(id_number(own.study.as_str().unwrap())),
        )
        .await;
    // A coder brought by an import: an account that is no member of any study.
    let imported = api::service::users::ensure_user(&server.db.conn, "Fulvia Rossi")
        .await
        .unwrap();
    server
        .db
        .conn
        .execute_unprepared(&format!(
            "UPDATE quotation SET coder_id = {} WHERE id = {}",
            imported.id,
            id_number(open.quotation.as_str().unwrap())
        ))
        .await
        .unwrap();
    let me = |t: String| {
        let server = &server;
        async move { server.ok(Some(&t), "{ me { id } }", json!({})).await["me"]["id"].clone() }
    };
    let (carla, dario, bruno) = (
        me(coder.clone()).await,
        me(viewer.clone()).await,
        me(stranger.clone()).await,
    );
    let fulvia = json!(encode(Kind::User, imported.id).0);
    let node = "query($u: ID!) { node(id: $u) { ... on User { id name } } }";
    let sees = |t: Option<String>, u: Value| {
        let server = &server;
        async move {
            let r = server.gql(t.as_deref(), node, json!({"u": u})).await;
            assert!(r.get("errors").is_none(), "{r}");
            r["data"]["node"]["name"].as_str().map(str::to_owned)
        }
    };
    let anyone: [(&str, Option<String>); 5] = [
        ("anonymous", None),
        ("stranger", Some(stranger.clone())),
        ("viewer", Some(viewer.clone())),
        ("coder", Some(coder.clone())),
        ("admin", Some(admin.clone())),
    ];
    for (who, t) in &anyone {
        let member = matches!(*who, "viewer" | "coder" | "admin");
        assert_eq!(
            sees(t.clone(), carla.clone()).await.is_some(),
            member,
            "{who} sees carla"
        );
        assert_eq!(
            sees(t.clone(), dario.clone()).await.is_some(),
            member,
            "{who} sees dario"
        );
        assert_eq!(
            sees(t.clone(), bruno.clone()).await.is_some(),
            matches!(*who, "stranger" | "admin"),
            "{who} sees bruno"
        );
        assert_eq!(
            sees(t.clone(), fulvia.clone()).await.as_deref(),
            Some("Fulvia Rossi"),
            "{who} sees the coder of a public quotation"
        );
        // A user who is hidden reads exactly as one who does not exist.
        let hidden_user = server.gql(t.as_deref(), node, json!({"u": carla})).await;
        let no_user = server
            .gql(t.as_deref(), node, json!({"u": missing(Kind::User)}))
            .await;
        if !member {
            assert_eq!(hidden_user, no_user, "{who}");
        }
    }
    // A study's owners see, in its audit log, an admin who wrote there without joining it.
    let writer = server.token("rita", "admin", None).await;
    server
        .ok(
            Some(&writer),
            "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"Lavoro\"}) { id } }",
            json!({"s": hidden.study}),
        )
        .await;
    let rita = me(writer).await;
    let owner = server.token("olga", "owner", Some(hidden_n)).await;
    assert_eq!(
        sees(Some(owner), rita.clone()).await.as_deref(),
        Some("rita")
    );
    assert_eq!(sees(Some(viewer.clone()), rita).await, None);
    // The coder of a public quotation, where the quotation shows them.
    let coded = server
        .ok(
            None,
            "query($q: ID!) { node(id: $q) { ... on Quotation { coder { id name } } } }",
            json!({"q": open.quotation}),
        )
        .await;
    assert_eq!(coded["node"]["coder"]["id"], fulvia, "{coded}");
    // Walking through user IDs, an anonymous caller meets the public study's owner and coder.
    let mut met = std::collections::BTreeSet::new();
    for n in 1..=imported.id + 5 {
        if let Some(name) = sees(None, json!(encode(Kind::User, n).0)).await {
            met.insert(name);
        }
    }
    assert_eq!(
        met,
        ["Fulvia Rossi".to_owned(), "admin".to_owned()].into(),
        "{met:?}"
    );
}

/// `quaderno token create --role admin --study N`: admin is a role over every study, so a
/// study given with it is refused rather than ignored, and nothing is written (no user, no
/// token, no audit row naming that study).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_token_for_one_study_is_refused_and_nothing_is_written() {
    let server = TestServer::empty().await;
    for study in [1, 424_242] {
        let refused = api::service::tokens::create_token_for(
            &server.db.conn,
            "Niccolò",
            "admin",
            Some(study),
            None,
        )
        .await;
        match refused {
            Err(api::ServiceError::BadInput(m)) => assert!(m.contains("--study"), "{m}"),
            other => panic!("study {study}: {other:?}"),
        }
    }
    let db = &server.db.conn;
    assert_eq!(
        api_entities::app_user::Entity::find()
            .count(db)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        api_entities::api_token::Entity::find()
            .count(db)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        api_entities::audit_log::Entity::find()
            .count(db)
            .await
            .unwrap(),
        0
    );
    // Without a study, or a study role with one, tokens are made as before.
    server.token("Niccolò", "admin", None).await;
}

/// Without a token no mutation answers anything about the objects it names: every one is
/// UNAUTHENTICATED before it looks them up, also for objects that do not exist (a
/// NOT_FOUND would tell them from those that do, after taking the write lock for it).
/// Every mutation of the schema is listed (uploads have their own tests).
#[tokio::test]
async fn without_a_token_every_mutation_is_unauthenticated_before_it_looks_anything_up() {
    let server = TestServer::empty().await;
    let missing = |kind: &str| tests::global_id(kind, 987_654_321);
    let (study, case, interview) = (missing("Study"), missing("Case"), missing("Interview"));
    let (code, quotation, memo) = (missing("Code"), missing("Quotation"), missing("Memo"));
    let (judgment, intervention, user) = (
        missing("Discontinuity"),
        missing("Intervention"),
        missing("User"),
    );
    let mutations: Vec<(&str, String)> = vec![
        ("createStudy", "createStudy(input: {title: \"s\"}) { id }".into()),
        ("createCase", format!("createCase(input: {{studyId: \"{study}\", label: \"c\"}}) {{ id }}")),
        ("updateStudy", format!("updateStudy(input: {{id: \"{study}\", title: \"t\"}}) {{ id }}")),
        ("updateCase", format!("updateCase(input: {{id: \"{case}\", label: \"l\"}}) {{ id }}")),
        ("createIntervention", format!("createIntervention(input: {{caseId: \"{case}\", label: \"i\"}}) {{ id }}")),
        ("deleteCase", format!("deleteCase(id: \"{case}\")")),
        ("deleteStudy", format!("deleteStudy(id: \"{study}\")")),
        ("createInterview", format!("createInterview(input: {{caseId: \"{case}\", label: \"i\", transcript: \"t\"}}) {{ id }}")),
        ("updateInterview", format!("updateInterview(input: {{id: \"{interview}\", version: 1, label: \"n\"}}) {{ movedQuotations }}")),
        ("deleteInterview", format!("deleteInterview(id: \"{interview}\", version: 1)")),
        ("createCode", format!("createCode(input: {{studyId: \"{study}\", name: \"n\"}}) {{ id }}")),
        ("updateCode", format!("updateCode(input: {{id: \"{code}\", name: \"n\"}}) {{ id }}")),
        ("mergeCodes", format!("mergeCodes(sourceId: \"{code}\", targetId: \"{}\") {{ id }}", tests::global_id("Code", 987_654_322))),
        ("deleteCode", format!("deleteCode(id: \"{code}\")")),
        ("createQuotation", format!("createQuotation(input: {{interviewId: \"{interview}\", start: 0, end: 1, codeIds: []}}) {{ id }}")),
        ("updateQuotation", format!("updateQuotation(input: {{id: \"{quotation}\", version: 1, end: 2}}) {{ id }}")),
        ("deleteQuotation", format!("deleteQuotation(id: \"{quotation}\", version: 1)")),
        ("tagDiscontinuity", format!("tagDiscontinuity(input: {{caseId: \"{case}\", dimension: ACTOR_NETWORK, intensity: PARTIAL}}) {{ id }}")),
        ("deleteDiscontinuity", format!("deleteDiscontinuity(id: \"{judgment}\", version: 1)")),
        ("deleteIntervention", format!("deleteIntervention(id: \"{intervention}\")")),
        ("createMemo", format!("createMemo(input: {{targetId: \"{code}\", text: \"m\"}}) {{ id }}")),
        ("updateMemo", format!("updateMemo(input: {{id: \"{memo}\", version: 1, text: \"m\"}}) {{ id }}")),
        ("deleteMemo", format!("deleteMemo(id: \"{memo}\", version: 1)")),
        ("setStudyMember", format!("setStudyMember(studyId: \"{study}\", userName: \"nessuno\", role: VIEWER) {{ role }}")),
        ("removeStudyMember", format!("removeStudyMember(studyId: \"{study}\", userId: \"{user}\")")),
    ];
    let schema = server
        .ok(
            None,
            "{ __type(name: \"Mutation\") { fields { name } } }",
            json!({}),
        )
        .await;
    let mut in_schema: Vec<String> = schema["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .filter(|n| !n.starts_with("import"))
        .collect();
    in_schema.sort();
    let mut listed: Vec<String> = mutations.iter().map(|(n, _)| (*n).to_owned()).collect();
    listed.sort();
    assert_eq!(listed, in_schema, "every mutation is listed");
    for (name, field) in &mutations {
        let r = server
            .gql(None, &format!("mutation {{ {field} }}"), json!({}))
            .await;
        assert_eq!(error_code(&r), "UNAUTHENTICATED", "{name}: {r}");
    }
    // The service, below the edge's rule, asks for a user before it locks anything too.
    let anonymous = api::auth::Caller::anonymous();
    let deleted = api::service::discontinuities::delete_intervention(
        &server.db.conn,
        &anonymous,
        987_654_321,
    )
    .await;
    assert!(
        matches!(deleted, Err(api::ServiceError::Unauthenticated)),
        "{deleted:?}"
    );
}
