//! Operating the binary: help on every subcommand, online SQLite backups.

use std::process::Command;

use crate::common::{admin_token, gql_data, serve, stdout_of, wait_ready, BIN};
use clap::CommandFactory as _;
use serde_json::{json, Value};

/// Every subcommand path, nested ones included (`token create`…), read from the parser itself
/// so that subcommands added later are covered too.
fn subcommand_paths(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
    for sub in cmd.get_subcommands() {
        let mut path = prefix.to_vec();
        path.push(sub.get_name().to_owned());
        out.push(path.clone());
        subcommand_paths(sub, &path, out);
    }
}

#[test]
fn every_subcommand_prints_help_and_exits_zero() {
    let mut paths = Vec::new();
    subcommand_paths(&api::cli::Cli::command(), &[], &mut paths);
    for expected in ["serve", "migrate", "reindex", "schema", "token", "backup"] {
        assert!(
            paths.iter().any(|p| p == &[expected.to_owned()]),
            "{expected} missing from {paths:?}"
        );
    }
    paths.push(Vec::new());
    for path in paths {
        let out = Command::new(BIN)
            .args(&path)
            .arg("--help")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{path:?} --help failed: {out:?}");
        assert!(
            stdout.contains("Usage: quaderno"),
            "{path:?} --help: {stdout}"
        );
        // The global options are documented on every subcommand.
        assert!(stdout.contains("--database-url"), "{path:?}: {stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_copies_a_running_servers_sqlite_database_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &["--no-demo"]);
    wait_ready(&server.url).await;
    let token = admin_token(dir.path(), &["--no-demo"]);
    let study = gql_data(
        &server.url,
        &token,
        r#"mutation { createStudy(input: {title: "Backup"}) { id } }"#,
        json!({}),
    )
    .await["createStudy"]["id"]
        .clone();
    let case = gql_data(
        &server.url,
        &token,
        "mutation($s: ID!) { createCase(input: {studyId: $s, label: \"Novara\"}) { id } }",
        json!({ "s": study }),
    )
    .await["createCase"]["id"]
        .clone();
    let transcript = "INT: Com’è andata?\n\nR: Però la città è cambiata.";
    gql_data(
        &server.url,
        &token,
        "mutation($c: ID!, $t: String!) { createInterview(input: {caseId: $c, label: \"Int. 1\", transcript: $t}) { id } }",
        json!({ "c": case, "t": transcript }),
    )
    .await;

    // Writers keep going while the backup runs.
    let writer = {
        let (url, token, case) = (server.url.clone(), token.clone(), case.clone());
        tokio::spawn(async move {
            for n in 0..30 {
                gql_data(
                    &url,
                    &token,
                    "mutation($c: ID!, $l: String!) { createInterview(input: {caseId: $c, label: $l, transcript: \"R: Ancora.\"}) { id } }",
                    json!({ "c": case, "l": format!("Int. bis {n}") }),
                )
                .await;
            }
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let copy = dir.path().join("copia.db");
    let out = Command::new(BIN)
        .args(["backup", "-o"])
        .arg(&copy)
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    stdout_of(out);
    writer.await.unwrap();

    let backup = api::db::connect(&format!("sqlite://{}", copy.display()), 1)
        .await
        .unwrap();
    use sea_orm::{ConnectionTrait as _, EntityTrait as _};
    let integrity = backup
        .conn
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "PRAGMA integrity_check",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<String>(0)
        .unwrap();
    assert_eq!(integrity, "ok");
    let interviews = entities::interview::Entity::find()
        .all(&backup.conn)
        .await
        .unwrap();
    let first = interviews
        .iter()
        .find(|i| i.label == "Int. 1")
        .expect("the interview written before the backup");
    assert_eq!(first.transcript, transcript);
    assert!(interviews.len() <= 31);
    // The copy is a whole quaderno database: the binary serves it.
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(&copy, restored.path().join("quaderno.db")).unwrap();
    let server2 = serve(restored.path(), &["--no-demo"]);
    wait_ready(&server2.url).await;
    let found = gql_data(
        &server2.url,
        &token,
        "{ search(query: \"città\") { totalCount } }",
        json!({}),
    )
    .await;
    assert_eq!(found["search"]["totalCount"], 1, "{found}");

    // Refused: an existing file, and PostgreSQL (pointing at pg_dump).
    let again = Command::new(BIN)
        .args(["backup", "-o"])
        .arg(&copy)
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    let pg = Command::new(BIN)
        .args(["backup", "-o", "x.dump"])
        .args(["--database-url", "postgres://nobody@127.0.0.1:1/none"])
        .output()
        .unwrap();
    assert!(!pg.status.success());
    assert!(
        String::from_utf8_lossy(&pg.stderr).contains("pg_dump"),
        "{pg:?}"
    );
}

/// SIGTERM: the request in flight (its body still arriving) is answered, new connections are
/// refused, the index is committed and the process exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_request_in_flight_and_exits_zero() {
    use std::io::{BufRead as _, BufReader, Read as _};
    use std::process::Stdio;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--no-demo", "--data-dir"])
        .arg(dir.path())
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    wait_ready(&url).await;
    let addr = url.strip_prefix("http://").unwrap().to_owned();

    // A request whose body arrives slowly: half now, half after the signal.
    let body = r#"{"query": "{ studies { totalCount } }"}"#;
    let (head, tail) = body.split_at(body.len() / 2);
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(
        format!(
            "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_err(),
        "still accepting connections after SIGTERM"
    );
    conn.write_all(tail.as_bytes()).await.unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""totalCount":0"#), "{response}");

    let exit = tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let mut log = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
        (status, log)
    });
    let (status, log) = tokio::time::timeout(std::time::Duration::from_secs(20), exit)
        .await
        .expect("the server did not exit after SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("search index committed"), "{log}");
    // Its connections closed, SQLite folded the write-ahead log into the database and removed
    // it: a log left behind would be replayed onto a backup restored in its place.
    assert!(
        !dir.path().join("quaderno.db-wal").exists(),
        "a write-ahead log outlived a clean shutdown"
    );
    // Logged to a pipe: no colour escape codes.
    assert!(!log.contains('\u{1b}'), "{log}");
}

/// A sample's value in the Prometheus text, 0 when absent.
fn sample(metrics: &str, name_and_labels: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_operations_and_error_codes_and_requests_carry_an_id() {
    use std::io::Read as _;
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--log-format", "json"])
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let mut stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    wait_ready(&url).await;
    let http = reqwest::Client::new();
    let scrape = || async {
        let r = http.get(format!("{url}/metrics")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
        r.text().await.unwrap()
    };
    let post = |body: Value, id: Option<&'static str>| {
        let mut r = http.post(format!("{url}/graphql")).json(&body);
        if let Some(id) = id {
            r = r.header("x-request-id", id);
        }
        r.send()
    };

    let before = scrape().await;
    for _ in 0..3 {
        let r = post(
            json!({"query": "query ElencoStudi { studies { totalCount } }"}),
            None,
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
    }
    let bad = post(json!({"query": "query Rotto { campoInesistente }"}), None)
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    let refused = post(
        json!({"query": "mutation Nuovo { createStudy(input: {title: \"x\"}) { id } }"}),
        None,
    )
    .await
    .unwrap()
    .json::<Value>()
    .await
    .unwrap();
    assert_eq!(
        refused["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    let after = scrape().await;
    let requests = r#"quaderno_graphql_requests_total{operation="ElencoStudi"}"#;
    assert_eq!(
        sample(&after, requests) - sample(&before, requests),
        3.0,
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            r#"quaderno_graphql_request_duration_seconds_count{operation="ElencoStudi"}"#
        ),
        3.0
    );
    assert_eq!(
        sample(
            &after,
            r#"quaderno_graphql_errors_total{code="BAD_USER_INPUT",operation="Rotto"}"#
        ),
        1.0,
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            r#"quaderno_graphql_errors_total{code="UNAUTHENTICATED",operation="Nuovo"}"#
        ),
        1.0,
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            r#"quaderno_graphql_errors_total{code="BAD_USER_INPUT",operation="ElencoStudi"}"#
        ),
        0.0
    );
    // The demo is indexed and caught up; the pools are reported.
    assert!(
        sample(&after, r#"quaderno_index{measure="docs"}"#) > 100.0,
        "{after}"
    );
    assert!(sample(&after, r#"quaderno_index{measure="size_bytes"}"#) > 0.0);
    assert!(sample(&after, r#"quaderno_index{measure="segments"}"#) >= 1.0);
    assert_eq!(sample(&after, r#"quaderno_index{measure="ready"}"#), 1.0);
    assert_eq!(
        sample(&after, r#"quaderno_index{measure="lag_changes"}"#),
        0.0
    );
    assert!(after.contains("quaderno_index_lag_seconds 0"), "{after}");
    assert!(sample(&after, r#"quaderno_index{measure="applied_seq"}"#) > 0.0);
    assert_eq!(
        sample(
            &after,
            r#"quaderno_db_pool_connections{pool="requests",state="max"}"#
        ),
        8.0
    );
    assert!(
        sample(
            &after,
            r#"quaderno_db_pool_connections{pool="requests",state="open"}"#
        ) >= 1.0
    );
    assert!(sample(&after, "quaderno_sql_statements_total") > 0.0);

    // Request ids: a client's is echoed, otherwise one is made; either is in the log.
    let echoed = post(
        json!({"query": "{ studies { totalCount } }"}),
        Some("prova-42"),
    )
    .await
    .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "prova-42");
    let made = post(json!({"query": "{ studies { totalCount } }"}), None)
        .await
        .unwrap();
    let made_id = made.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(made_id.len(), 36, "a UUID: {made_id}");

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
    let log = log.join().unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for id in ["prova-42", made_id.as_str()] {
        assert!(
            lines
                .iter()
                .any(|l| l["span"]["request_id"] == id && l["fields"]["status"] == 200),
            "no log line with request_id {id}: {log}"
        );
    }
}

/// /readyz is 503 while the index is being rebuilt, 200 after; /healthz is 200 throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_while_the_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/quaderno.db?mode=rwc", dir.path().display());
    let db = api::db::connect(&url, 4).await.unwrap();
    api::db::migrate(&db.conn).await.unwrap();
    api::demo::load_if_empty(&db.conn).await.unwrap();
    // The rebuild reports progress after each chunk; the first report waits for the test.
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(Some(gate));
    let index_db = api::db::connect(&url, 2).await.unwrap();
    let search = api::search::SearchIndex::open(
        &dir.path().join("index"),
        index_db.conn,
        api::search::OpenOptions {
            force_rebuild: true,
            progress: Some(Box::new(move |_, _| {
                if let Some(g) = gate.lock().unwrap().take() {
                    let _ = g.recv();
                }
            })),
            lock: None,
        },
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = api::http::router(api::http::AppState::new(db, search.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let get = |path: &'static str| async move {
        reqwest::get(format!("http://{addr}{path}"))
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(get("/healthz").await, 200);
    assert_eq!(get("/readyz").await, 503);
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(sample(&metrics, r#"quaderno_index{measure="ready"}"#), 0.0);
    release.send(()).unwrap();
    let start = std::time::Instant::now();
    while get("/readyz").await != 200 {
        assert!(start.elapsed() < std::time::Duration::from_secs(30));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    search.shutdown().await;
}

/// `--metrics-bind`: /metrics answers on its own address and nowhere else; the main address
/// says 404 there, and the metrics address serves nothing but /metrics.
#[tokio::test]
async fn metrics_bind_moves_metrics_to_their_own_address() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &["--no-demo", "--metrics-bind", "127.0.0.1:0"]);
    let metrics = server.metrics_url.clone().expect("a metrics address");
    let own = metrics.strip_suffix("/metrics").unwrap();
    assert_ne!(own, server.url);
    wait_ready(&server.url).await;
    let status = |url: String| async move { reqwest::get(url).await.unwrap().status().as_u16() };
    assert_eq!(status(format!("{}/metrics", server.url)).await, 404);
    assert_eq!(status(format!("{}/healthz", server.url)).await, 200);
    let scraped = reqwest::get(&metrics).await.unwrap();
    assert_eq!(scraped.status(), 200);
    let body = scraped.text().await.unwrap();
    assert!(body.contains("quaderno_index"), "{body}");
    for path in ["/healthz", "/graphql"] {
        assert_eq!(status(format!("{own}{path}")).await, 404, "{path}");
    }
}

/// The server prunes the change log it follows, keeping `--change-log-days` of it (30 by
/// default) and always the newest entry; the index still answers after a restart.
#[tokio::test]
async fn the_server_prunes_change_log_entries_older_than_the_retention() {
    use sea_orm::{ConnectionTrait as _, EntityTrait as _, PaginatorTrait as _};

    let dir = tempfile::tempdir().unwrap();
    let first = serve(dir.path(), &[]);
    wait_ready(&first.url).await;
    drop(first);
    let url = format!("sqlite://{}/quaderno.db", dir.path().display());
    let db = api::db::connect(&url, 1).await.unwrap().conn;
    let entries = || async {
        entities::change_log::Entity::find()
            .count(&db)
            .await
            .unwrap()
    };
    let logged = entries().await;
    assert!(
        logged > 10,
        "the demo logs its interviews and quotations: {logged}"
    );
    // The demo was loaded 40 days ago, as far as the log can tell.
    db.execute_unprepared(
        "UPDATE change_log SET created_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-40 days')",
    )
    .await
    .unwrap();

    let server = serve(dir.path(), &[]);
    wait_ready(&server.url).await;
    // Pruning starts once the index is ready; a guard against hanging, not a measure.
    for _ in 0..100 {
        if entries().await == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(entries().await, 1, "all but the newest pruned");
    let hits = gql_data(
        &server.url,
        &admin_token(dir.path(), &[]),
        "{ search(query: \"casa\") { totalCount } }",
        json!({}),
    )
    .await;
    assert!(hits["search"]["totalCount"].as_u64().unwrap() > 0, "{hits}");
}
