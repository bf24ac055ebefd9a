//! Crash consistency: the database commits first and the index replays the change log, so
//! a server killed with SIGKILL in the middle of a bulk import restarts with an index that
//! agrees with the database. Runs on SQLite, or on PostgreSQL when
//! `QUADERNO_TEST_DATABASE_URL` names a server.

use std::time::Duration;

use crate::common::{admin_token, gql, gql_vars, serve, wait_ready};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_bulk_import_leaves_index_and_database_in_agreement() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::env::var("QUADERNO_TEST_DATABASE_URL").ok();
    let url = api::db::scratch_database_url(base.as_deref(), dir.path())
        .await
        .unwrap();
    let db_flag = ["--database-url", url.as_str(), "--no-demo"];
    let token = admin_token(dir.path(), &db_flag);

    let server = serve(dir.path(), &db_flag);
    wait_ready(&server.url).await;
    let study = gql_vars(
        &server.url,
        &token,
        r#"mutation { createStudy(input: {title: "Import"}) { id } }"#,
        json!({}),
    )
    .await;
    let case = gql_vars(
        &server.url,
        &token,
        "mutation($s: ID!) { createCase(input: {studyId: $s, label: \"Tutto\"}) { id } }",
        json!({"s": study["data"]["createStudy"]["id"]}),
    )
    .await["data"]["createCase"]["id"]
        .clone();

    // Four importers in parallel, until the server dies under them.
    let mut importers = Vec::new();
    for worker in 0..4 {
        let (url, token, case) = (server.url.clone(), token.clone(), case.clone());
        importers.push(tokio::spawn(async move {
            for n in 0.. {
                let transcript = format!(
                    "INT: Come va con le zanzare, {worker}-{n}?\n\nR: La zanzara tigre è arrivata in città.\n\nINT: E poi?\n\nR: Un’altra zanzara, ancora."
                );
                let r = reqwest::Client::new()
                    .post(format!("{url}/graphql"))
                    .bearer_auth(&token)
                    .json(&json!({
                        "query": "mutation($c: ID!, $t: String!, $l: String!) { createInterview(input: {caseId: $c, label: $l, transcript: $t}) { id } }",
                        "variables": {"c": case, "t": transcript, "l": format!("Int. {worker}-{n}")}
                    }))
                    .send()
                    .await;
                if r.is_err() {
                    break;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut server = server;
    server.child.kill().expect("SIGKILL");
    server.child.wait().unwrap();
    for i in importers {
        let _ = i.await;
    }

    let server = serve(dir.path(), &db_flag);
    wait_ready(&server.url).await;
    let interviews = gql(&server.url, Some(&token), "{ interviews { totalCount } }").await["data"]
        ["interviews"]["totalCount"]
        .as_i64()
        .unwrap();
    assert!(interviews > 4, "the import barely started: {interviews}");
    let found = gql(
        &server.url,
        Some(&token),
        "{ search(query: \"zanzara\", first: 0) { totalCount facets { interviews { count } } } }",
    )
    .await;
    let hits = &found["data"]["search"];
    // Three passages of every interview say zanzara or zanzare; every interview is in the
    // facets once.
    assert_eq!(
        hits["totalCount"].as_i64().unwrap(),
        3 * interviews,
        "{found}"
    );
    assert_eq!(
        hits["facets"]["interviews"].as_array().unwrap().len() as i64,
        interviews
    );
}
