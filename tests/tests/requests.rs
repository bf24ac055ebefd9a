//! What one request sees: the fields of a mutation document in order (named or not), each
//! reading what the previous wrote; a database failing under the token's lookup, which is the
//! server's fault, not the token's; and text holding NUL, refused wherever it is written.

use serde_json::json;
use tests::{error_code, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_mutation_of_a_document_reads_what_the_previous_wrote() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let t = Some(admin.as_str());
    let corpus = server
        .corpus(&admin, "Sequenze", &["R: Là c’è l’unità più città."])
        .await;
    let (study, interview) = (&corpus.study, &corpus.interviews[0]["id"]);
    let mut codes = Vec::new();
    for name in ["Luogo", "Comunità"] {
        let code = server
            .ok(
                t,
                "mutation($s: ID!, $n: String!) { createCode(input: {studyId: $s, name: $n}) { id } }",
                json!({"s": study, "n": name}),
            )
            .await["createCode"]["id"]
            .clone();
        codes.push(code);
    }
    let q = server
        .ok(
            t,
            "mutation($i: ID!) { createQuotation(input: {interviewId: $i, start: 3, end: 5, codeIds: []}) { id } }",
            json!({"i": interview}),
        )
        .await["createQuotation"]["id"]
        .clone();
    let both = server
        .ok(
            t,
            "mutation($q: ID!, $a: ID!, $b: ID!) {
               a: updateQuotation(input: {id: $q, version: 1, codeIds: [$a]}) { version text codes { name } }
               b: updateQuotation(input: {id: $q, version: 2, start: 22, end: 27, codeIds: [$b]}) { version text codes { name } }
             }",
            json!({"q": q, "a": codes[0], "b": codes[1]}),
        )
        .await;
    assert_eq!(
        both["a"],
        json!({"version": 2, "text": "Là", "codes": [{"name": "Luogo"}]})
    );
    assert_eq!(
        both["b"],
        json!({"version": 3, "text": "città", "codes": [{"name": "Comunità"}]}),
        "the second field reads the second write, not the first one's cached rows"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_token_lookup_is_internal_not_a_bad_token() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    server.ok(Some(&admin), "{ me { name } }", json!({})).await;
    // The server's pool is closed under it, as when the database goes away.
    server.db.conn.close_by_ref().await.unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{}/graphql", server.url))
        .bearer_auth(&admin)
        .json(&json!({"query": "{ me { name } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body), "INTERNAL", "{body:#}");
    assert!(
        body["errors"][0]["extensions"]["logId"].is_string(),
        "{body:#}"
    );
    // Downloads too: 500, not 401.
    let resp = reqwest::Client::new()
        .get(format!("{}/studies/U3R1ZHk6MQ/quotations.csv", server.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
}

/// U+0000 is refused wherever it comes, in variables or written in the query, before any
/// write: PostgreSQL cannot store it (a database error, INTERNAL) and SQLite would keep it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_holding_nul_is_refused_before_it_reaches_the_database() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let t = Some(admin.as_str());
    let corpus = server.corpus(&admin, "Nul", &["R: è così."]).await;
    let create = "mutation($c: ID!, $t: String!) { createInterview(input: {caseId: $c, label: \"Int\", transcript: $t}) { id } }";
    let sent = server
        .gql(
            t,
            create,
            json!({"c": corpus.case, "t": "R: sì\u{0}, è così."}),
        )
        .await;
    assert_eq!(error_code(&sent), "BAD_USER_INPUT", "{sent:#}");
    assert!(sent.to_string().contains("NUL"), "{sent:#}");
    let written = server
        .gql(
            t,
            "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"Casa\\u0000\"}) { id } }",
            json!({"s": corpus.study}),
        )
        .await;
    assert_eq!(error_code(&written), "BAD_USER_INPUT", "{written:#}");
    let left = server
        .ok(
            t,
            "query($c: ID!) { node(id: $c) { ... on Case { interviews { totalCount } } } }",
            json!({"c": corpus.case}),
        )
        .await;
    assert_eq!(
        left["node"]["interviews"]["totalCount"], 1,
        "nothing written"
    );
}

/// A document holding one named mutation, sent without `operationName`, runs as the
/// mutation it is: each field reads what the previous wrote (not a query's cached rows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_mutation_runs_as_a_mutation_without_an_operation_name() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let corpus = server
        .corpus(&admin, "Nominata", &["R: Là c’è l’unità più città."])
        .await;
    let both = server
        .ok(
            Some(&admin),
            "mutation Due($i: ID!) {
               a: createQuotation(input: {interviewId: $i, start: 3, end: 5, codeIds: []}) { interview { quotations { totalCount } } }
               b: createQuotation(input: {interviewId: $i, start: 22, end: 27, codeIds: []}) { interview { quotations { totalCount } } }
             }",
            json!({"i": corpus.interviews[0]["id"]}),
        )
        .await;
    assert_eq!(both["a"]["interview"]["quotations"]["totalCount"], 1);
    assert_eq!(
        both["b"]["interview"]["quotations"]["totalCount"], 2,
        "the second field reads the second write: {both}"
    );
}

/// A variable's default is written in the query like any other value: U+0000 there is
/// refused too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_variable_default_holding_nul_is_refused() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let t = Some(admin.as_str());
    let corpus = server.corpus(&admin, "Nul", &["R: è così."]).await;
    let refused = server
        .gql(
            t,
            "mutation($s: ID!, $n: String = \"Casa\\u0000\") { createCode(input: {studyId: $s, name: $n}) { id } }",
            json!({"s": corpus.study}),
        )
        .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused:#}");
    assert!(refused.to_string().contains("NUL"), "{refused:#}");
    let codebook = server
        .ok(
            t,
            "query($s: ID!) { node(id: $s) { ... on Study { codebook { name } } } }",
            json!({"s": corpus.study}),
        )
        .await;
    assert_eq!(codebook["node"]["codebook"], json!([]), "nothing written");
}
