//! The index is derived data: a missing, corrupt or outdated index is rebuilt from the
//! database at start, and a lagging one catches up.

use std::sync::Arc;

use api::search::analyzer::ANALYZER_VERSION;
use api::search::indexer::LOG_FOLLOWING;
use api::search::query::Mode;
use api::search::{FacetSelection, Filter, Scope, SearchIndex, SearchRequest};
use tests::TestServer;

fn count(index: &SearchIndex, q: &str, scope: Scope) -> usize {
    index
        .search(&SearchRequest {
            query: q.into(),
            scope,
            filter: Filter::default(),
            mode: Mode::Stem,
            exclude_forms: Vec::new(),
            with_forms: false,
            fuzzy: false,
            offset: 0,
            limit: 10,
            facets: FacetSelection::ALL,
        })
        .expect("search")
        .total
}

async fn reopen(server: &TestServer) -> Arc<SearchIndex> {
    let index = SearchIndex::open(
        &server.data_dir.path().join("index"),
        server.db.conn.clone(),
        Default::default(),
    )
    .expect("open");
    index.ready(&server.db.conn).await.expect("ready");
    index
}

/// Stops the server's own writer so that another can take the index.
async fn release(server: &mut TestServer) {
    server.stop().await;
}

#[tokio::test]
async fn corrupt_outdated_and_missing_indexes_are_rebuilt() {
    let mut server = TestServer::demo().await;
    let passages = count(&server.search, "pandemia OR lavoro", Scope::Transcripts);
    let quotations = count(&server.search, "pandemia OR lavoro", Scope::Quotations);
    assert!(passages > 0 && quotations > 0);
    release(&mut server).await;
    let dir = server.data_dir.path().join("index");
    let meta = dir.join("meta.json");

    // Built by another analyzer version.
    let text = std::fs::read_to_string(&meta).unwrap();
    let outdated = text.replace(
        &format!("\\\"analyzer\\\":{ANALYZER_VERSION}"),
        "\\\"analyzer\\\":0",
    );
    assert_ne!(text, outdated, "payload not found in {text:.300}");
    std::fs::write(&meta, outdated).unwrap();
    let index = reopen(&server).await;
    assert_eq!(
        count(&index, "pandemia OR lavoro", Scope::Transcripts),
        passages
    );
    assert!(std::fs::read_to_string(&meta)
        .unwrap()
        .contains(&format!("\\\"analyzer\\\":{ANALYZER_VERSION}")));
    index.shutdown().await;

    // Written before the way the log is followed was recorded: its position may lie past
    // changes it never applied.
    let text = std::fs::read_to_string(&meta).unwrap();
    let recorded = format!("\\\"log\\\":{LOG_FOLLOWING},");
    let older = text.replace(&recorded, "");
    assert_ne!(text, older, "payload not found in {text:.300}");
    std::fs::write(&meta, older).unwrap();
    let index = reopen(&server).await;
    assert_eq!(
        count(&index, "pandemia OR lavoro", Scope::Transcripts),
        passages
    );
    assert!(std::fs::read_to_string(&meta).unwrap().contains(&recorded));
    index.shutdown().await;

    // Corrupt.
    std::fs::write(&meta, "{ not json").unwrap();
    let index = reopen(&server).await;
    assert_eq!(
        count(&index, "pandemia OR lavoro", Scope::Quotations),
        quotations
    );
    index.shutdown().await;

    // Missing.
    std::fs::remove_dir_all(&dir).unwrap();
    let index = reopen(&server).await;
    assert_eq!(
        count(&index, "pandemia OR lavoro", Scope::Transcripts),
        passages
    );
}

#[tokio::test]
async fn a_lagging_index_catches_up_from_the_change_log() {
    let mut server = TestServer::demo().await;
    let before = count(&server.search, "pandemia", Scope::Transcripts);
    release(&mut server).await;
    // Written while no index writer runs: only the database and its change log see it.
    let admin = api::auth::create_token_for(&server.db.conn, "admin", "admin", None, None)
        .await
        .unwrap();
    let caller = api::auth::caller_from_token(&server.db.conn, &admin)
        .await
        .unwrap();
    let case = entities_case(&server).await;
    api::service::interviews::create_interview(
        &server.db.conn,
        &caller,
        api::service::interviews::NewInterview {
            case_id: case,
            label: "Int. 99".into(),
            transcript: "R: La pandemia, sempre la pandemia.\n\nINT: E poi?\n\nR: Dopo la pandemia tutto è cambiato.".into(),
            conducted_on: None,
            interviewee_role: None,
            language: "it".into(),
        },
    )
    .await
    .unwrap();
    let index = reopen(&server).await;
    assert_eq!(count(&index, "pandemia", Scope::Transcripts), before + 2);
}

async fn entities_case(server: &TestServer) -> i64 {
    use sea_orm::EntityTrait;
    api_entities::study_case::Entity::find()
        .all(&server.db.conn)
        .await
        .unwrap()[0]
        .id
}

/// PostgreSQL: an import writes an interview and 12,000 more changes in one transaction;
/// a colleague's interview, numbered after them all, is committed and searchable first. When
/// the import commits, its interview becomes searchable too, also after a restart: the jump
/// in the numbers is waited for, not taken as it is.
#[tokio::test]
async fn an_import_committed_after_a_colleagues_later_change_is_searchable() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    if std::env::var("QUADERNO_TEST_DATABASE_URL").is_err() {
        eprintln!("skipped: SQLite has no concurrent writers (QUADERNO_TEST_DATABASE_URL unset)");
        return;
    }
    let mut server = TestServer::demo().await;
    let admin = api::auth::create_token_for(&server.db.conn, "admin", "admin", None, None)
        .await
        .unwrap();
    let caller = api::auth::caller_from_token(&server.db.conn, &admin)
        .await
        .unwrap();
    let case = entities_case(&server).await;
    let interview = |label: &str, transcript: &str| api::service::interviews::NewInterview {
        case_id: case,
        label: label.into(),
        transcript: transcript.into(),
        conducted_on: None,
        interviewee_role: None,
        language: "it".into(),
    };

    let import = server.db.conn.begin().await.unwrap();
    let imported = api::service::interviews::create_interview(
        &import,
        &caller,
        interview("Int. importata", "R: La zanzariera è arrivata in ritardo."),
    )
    .await
    .unwrap();
    import
        .execute_unprepared(&format!(
            "INSERT INTO change_log (entity, entity_id, op, created_at) \
             SELECT 'interview', {}, 'upsert', now() FROM generate_series(1, 12000)",
            imported.id
        ))
        .await
        .unwrap();
    api::service::interviews::create_interview(
        &server.db.conn,
        &caller,
        interview("Int. collega", "R: La domiciliarità è cresciuta."),
    )
    .await
    .unwrap();
    server.search.sync(&server.db.conn).await.unwrap();
    assert_eq!(
        count(&server.search, "domiciliarità", Scope::Transcripts),
        1
    );

    import.commit().await.unwrap();
    server.search.sync(&server.db.conn).await.unwrap();
    assert_eq!(
        count(&server.search, "zanzariera", Scope::Transcripts),
        1,
        "the import was never indexed"
    );
    release(&mut server).await;
    let index = reopen(&server).await;
    assert_eq!(count(&index, "zanzariera", Scope::Transcripts), 1);
}
