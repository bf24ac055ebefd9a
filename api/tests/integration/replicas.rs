//! Scale-out: several `quaderno serve` processes on one database, each with its own search
//! index, kept in step by the change log. On PostgreSQL when `QUADERNO_TEST_DATABASE_URL`
//! names a server, else on one SQLite file in WAL mode shared by both processes.

use std::time::{Duration, Instant};

use crate::common::{admin_token, gql_vars, serve, wait_ready, Server};
use serde_json::json;

async fn search_count(url: &str, token: &str, word: &str) -> i64 {
    let r = gql_vars(
        url,
        token,
        "query($q: String!) { search(query: $q, first: 0) { totalCount } }",
        json!({ "q": word }),
    )
    .await;
    r["data"]["search"]["totalCount"]
        .as_i64()
        .unwrap_or_else(|| panic!("{r}"))
}

/// Polls replica `url` until `word` is found; returns how long that took.
async fn until_found(url: &str, token: &str, word: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if search_count(url, token, word).await > 0 {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{word:?} not searchable on {url} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_one_replica_is_searchable_on_the_other_within_two_seconds() {
    let shared = tempfile::tempdir().unwrap();
    let base = std::env::var("QUADERNO_TEST_DATABASE_URL").ok();
    let url = api::db::scratch_database_url(base.as_deref(), shared.path())
        .await
        .unwrap();
    let db_flags = ["--database-url", url.as_str(), "--no-demo"];
    let token = admin_token(shared.path(), &db_flags);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = serve(dir_a.path(), &db_flags);
    let b = serve(dir_b.path(), &db_flags);
    wait_ready(&a.url).await;
    wait_ready(&b.url).await;

    let study = gql_vars(
        &a.url,
        &token,
        r#"mutation { createStudy(input: {title: "Repliche"}) { id } }"#,
        json!({}),
    )
    .await["data"]["createStudy"]["id"]
        .clone();
    let case = gql_vars(
        &a.url,
        &token,
        "mutation($s: ID!) { createCase(input: {studyId: $s, label: \"Torino\"}) { id } }",
        json!({ "s": study }),
    )
    .await["data"]["createCase"]["id"]
        .clone();

    let mut latencies = Vec::new();
    // Writes alternate between the replicas: each must reach the other.
    for (n, (writer, reader)) in [(&a, &b), (&b, &a), (&a, &b), (&b, &a)]
        .into_iter()
        .enumerate()
    {
        let word = format!("perequazione{}", ["uno", "due", "tre", "quattro"][n]);
        let transcript =
            format!("INT: Che cosa è cambiato?\n\nR: La {word} è arrivata più tardi, però.");
        let created = gql_vars(
            &writer.url,
            &token,
            "mutation($c: ID!, $t: String!, $l: String!) { createInterview(input: {caseId: $c, label: $l, transcript: $t}) { id } }",
            json!({ "c": case, "t": transcript, "l": format!("Int. {n}") }),
        )
        .await;
        assert!(created.get("errors").is_none(), "{created}");
        // Read-your-writes on the replica written to.
        assert_eq!(search_count(&writer.url, &token, &word).await, 1);
        let took = until_found(&reader.url, &token, &word, Duration::from_secs(10)).await;
        latencies.push(took);
    }
    // A quotation coded on B is searchable in the quotation scope on A.
    let interview = gql_vars(
        &b.url,
        &token,
        "{ interviews(first: 1) { edges { node { id } } } }",
        json!({}),
    )
    .await["data"]["interviews"]["edges"][0]["node"]["id"]
        .clone();
    let code = gql_vars(
        &b.url,
        &token,
        "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"Tempi\"}) { id } }",
        json!({ "s": study }),
    )
    .await;
    let code = code["data"]["createCode"]["id"].clone();
    let quoted = gql_vars(
        &b.url,
        &token,
        "mutation($i: ID!, $c: ID!) { createQuotation(input: {interviewId: $i, start: 0, end: 28, codeIds: [$c]}) { id } }",
        json!({ "i": interview, "c": code }),
    )
    .await;
    assert!(quoted.get("errors").is_none(), "{quoted}");
    let start = Instant::now();
    loop {
        let r = gql_vars(
            &a.url,
            &token,
            "{ search(query: \"cambiato\", scope: QUOTATIONS, first: 0) { totalCount } }",
            json!({}),
        )
        .await;
        if r["data"]["search"]["totalCount"].as_i64() == Some(1) {
            latencies.push(start.elapsed());
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{r}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let worst = latencies.iter().max().copied().unwrap();
    println!(
        "replica latency ({}): {:?}; worst {worst:?}",
        if url.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        latencies
    );
    assert!(
        worst <= Duration::from_secs(2),
        "a write took {worst:?} to reach the other replica"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_starting_at_once_migrate_and_load_the_demo_once() {
    let Some(base) = std::env::var("QUADERNO_TEST_DATABASE_URL").ok() else {
        eprintln!("skipped: concurrent start-up is a PostgreSQL matter (QUADERNO_TEST_DATABASE_URL unset)");
        return;
    };
    let shared = tempfile::tempdir().unwrap();
    let url = api::db::scratch_database_url(Some(&base), shared.path())
        .await
        .unwrap();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let servers: Vec<Server> = std::thread::scope(|s| {
        let handles: Vec<_> = dirs
            .iter()
            .map(|d| s.spawn(|| serve(d.path(), &["--database-url", url.as_str()])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for s in &servers {
        wait_ready(&s.url).await;
    }
    let db = api::db::connect(&url, 1).await.unwrap();
    use sea_orm::ConnectionTrait as _;
    let count = |sql: &'static str| {
        let conn = db.conn.clone();
        async move {
            let row = conn
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    sql,
                ))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<i64>(0).unwrap()
        }
    };
    let applied = count("SELECT count(*) FROM seaql_migrations").await;
    assert_eq!(
        applied,
        <migration::Migrator as migration::MigratorTrait>::migrations().len() as i64
    );
    // The demo has one public study with sixteen interviews: loaded once, not three times.
    assert_eq!(count("SELECT count(*) FROM study").await, 3);
    assert_eq!(count("SELECT count(*) FROM interview").await, 16);
    for s in &servers {
        let r = crate::common::gql(&s.url, None, "{ interviews { totalCount } }").await;
        assert_eq!(r["data"]["interviews"]["totalCount"], 16, "{r}");
    }
}

/// How many transcript passages the index finds for a word.
fn passages_with(index: &api::search::SearchIndex, word: &str) -> usize {
    index
        .search(&api::search::SearchRequest {
            query: word.to_owned(),
            scope: api::search::Scope::Transcripts,
            filter: Default::default(),
            mode: api::search::query::Mode::Stem,
            limit: 10,
            ..Default::default()
        })
        .unwrap()
        .total
}

/// On PostgreSQL a change can take its sequence number before another and commit after it.
/// The tailer has read the later one by then; it must still apply the earlier one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_committed_after_a_later_numbered_one_is_not_skipped() {
    use api::service::{change_log, interviews, studies};
    use sea_orm::{ActiveModelTrait as _, Set, TransactionTrait as _};

    let Some(base) = std::env::var("QUADERNO_TEST_DATABASE_URL").ok() else {
        eprintln!(
            "skipped: SQLite commits changes in sequence order (QUADERNO_TEST_DATABASE_URL unset)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = api::db::scratch_database_url(Some(&base), dir.path())
        .await
        .unwrap();
    let db = api::db::connect(&url, 4).await.unwrap();
    api::db::migrate(&db.conn).await.unwrap();
    let secret = api::service::tokens::create_token_for(&db.conn, "ops", "admin", None, None)
        .await
        .unwrap();
    let caller = api::auth::caller_from_token(&db.conn, &secret)
        .await
        .unwrap();
    let study = studies::create_study(
        &db.conn,
        &caller,
        studies::NewStudy {
            title: "Buchi".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let case = studies::create_case(
        &db.conn,
        &caller,
        studies::NewCase {
            study_id: study.id,
            label: "Asti".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let index_db = api::db::connect(&url, 2).await.unwrap();
    let index = api::search::SearchIndex::open(
        &dir.path().join("index"),
        index_db.conn,
        Default::default(),
    )
    .unwrap();
    index.ready(&db.conn).await.unwrap();

    // The slow writer takes its number first and stays open.
    let slow = db.conn.begin().await.unwrap();
    let now = chrono::Utc::now();
    let late = entities::interview::ActiveModel {
        case_id: Set(case.id),
        label: Set("Int. lenta".into()),
        language: Set("it".into()),
        transcript: Set("R: Il tavolo di co-progettazione è partito in ritardo.".into()),
        length: Set(54),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&slow)
    .await
    .unwrap();
    let slow_seq = change_log::append(
        &slow,
        change_log::Subject::Interview,
        late.id,
        change_log::Op::Upsert,
    )
    .await
    .unwrap();

    // A quick writer takes the next number and commits; the index applies it.
    interviews::create_interview(
        &db.conn,
        &caller,
        interviews::NewInterview {
            case_id: case.id,
            label: "Int. veloce".into(),
            transcript: "R: La domiciliarità è cresciuta.".into(),
            language: "it".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    index.sync(&db.conn).await.unwrap();
    assert_eq!(passages_with(&index, "domiciliarità"), 1);
    assert!(index.position().high > slow_seq);
    assert!(
        index.applied_seq() < slow_seq,
        "the recorded position stays below the open gap"
    );

    // Now the slow one commits: it becomes searchable although a later number was applied.
    slow.commit().await.unwrap();
    index.sync(&db.conn).await.unwrap();
    assert_eq!(
        passages_with(&index, "ritardo"),
        1,
        "the earlier change was skipped"
    );
    assert!(index.applied_seq() >= index.position().high);

    // A number taken by a transaction that rolls back leaves a hole for ever: the tailer stops
    // waiting once no transaction can fill it any more.
    let rolled_back = db.conn.begin().await.unwrap();
    change_log::append(
        &rolled_back,
        change_log::Subject::Interview,
        late.id,
        change_log::Op::Upsert,
    )
    .await
    .unwrap();
    rolled_back.rollback().await.unwrap();
    interviews::create_interview(
        &db.conn,
        &caller,
        interviews::NewInterview {
            case_id: case.id,
            label: "Int. dopo".into(),
            transcript: "R: Poi è arrivato il bando.".into(),
            language: "it".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    index.sync(&db.conn).await.unwrap();
    let high = index.position().high;
    let start = Instant::now();
    while index.applied_seq() < high {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the hole left by a rollback was never closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("hole of a rollback closed after {:?}", start.elapsed());
    index.shutdown().await;
}
