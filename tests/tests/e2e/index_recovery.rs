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
    let admin =
        api::service::tokens::create_token_for(&server.db.conn, "admin", "admin", None, None)
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
    let admin =
        api::service::tokens::create_token_for(&server.db.conn, "admin", "admin", None, None)
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

/// The URL of the server's database and that of a copy of it as it is now, as a restored
/// backup holds it (`quaderno backup`, `VACUUM INTO`, on SQLite; a database copied from it on
/// PostgreSQL). PostgreSQL copies a database only while nobody is connected to it, so the
/// server's pools are closed: stop it first, and use neither afterwards.
async fn copy_database(server: &TestServer, to: &std::path::Path) -> (String, String) {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let db = &server.db.conn;
    if db.get_database_backend() != DbBackend::Postgres {
        let copy = to.join("copia.db");
        db.execute_unprepared(&format!("VACUUM INTO '{}'", copy.display()))
            .await
            .unwrap();
        return (
            format!(
                "sqlite://{}/quaderno.db?mode=rwc",
                server.data_dir.path().display()
            ),
            format!("sqlite://{}?mode=rwc", copy.display()),
        );
    }
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_database() AS name",
        ))
        .await
        .unwrap()
        .unwrap();
    let name: String = row.try_get("", "name").unwrap();
    db.close_by_ref().await.unwrap();
    server.search.connection().close_by_ref().await.unwrap();
    let base = std::env::var("QUADERNO_TEST_DATABASE_URL").unwrap();
    let admin = api::db::connect(&base, 1).await.unwrap().conn;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}_copia TEMPLATE {name}"))
        .await
        .unwrap();
    admin.close().await.unwrap();
    let (prefix, _) = base.rsplit_once('/').unwrap();
    (format!("{prefix}/{name}"), format!("{prefix}/{name}_copia"))
}

async fn caller_of(db: &sea_orm::DatabaseConnection) -> api::auth::Caller {
    let token = api::service::tokens::create_token_for(db, "admin", "admin", None, None)
        .await
        .unwrap();
    api::auth::caller_from_token(db, &token).await.unwrap()
}

async fn open_ready(dir: &std::path::Path, db: &sea_orm::DatabaseConnection) -> Arc<SearchIndex> {
    let index = SearchIndex::open(dir, db.clone(), Default::default()).expect("open");
    index.ready(db).await.expect("ready");
    index
}

/// A backup restored under an index that went on past it: the index records changes the
/// restored log does not hold (and will number again). It is rebuilt, not trusted: what was
/// written after the backup is not searchable, what the backup holds is, and new writes are.
#[tokio::test]
async fn an_index_ahead_of_a_restored_backup_is_rebuilt() {
    use api::service::interviews::{self, InterviewUpdate, NewInterview};
    let mut server = TestServer::empty().await;
    let admin = server.admin().await;
    let corpus = server
        .corpus(&admin, "Abitare", &["R: La casa popolare, finalmente."])
        .await;
    let first = tests::id_number(corpus.interviews[0]["id"].as_str().unwrap());
    let version = corpus.interviews[0]["version"].as_i64().unwrap() as i32;
    let case = entities_case(&server).await;
    release(&mut server).await;
    let copies = tempfile::tempdir().unwrap();
    // The server goes on with the copy; the original stays as the backup taken now.
    let (backup_url, live_url) = copy_database(&server, copies.path()).await;
    let dir = server.data_dir.path().join("index");

    let live = api::db::connect(&live_url, 4).await.unwrap().conn;
    let index = open_ready(&dir, &live).await;
    let caller = caller_of(&live).await;
    let new = |transcript: &str| NewInterview {
        case_id: case,
        label: "Int. dopo".into(),
        transcript: transcript.into(),
        conducted_on: None,
        interviewee_role: None,
        language: "it".into(),
    };
    interviews::create_interview(
        &live,
        &caller,
        new("R: La zanzariera è arrivata in ritardo, però."),
    )
    .await
    .unwrap();
    interviews::update_interview(
        &live,
        &caller,
        InterviewUpdate {
            id: first,
            version,
            transcript: Some("R: L’abitazione è cambiata.".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    index.sync(&live).await.unwrap();
    assert_eq!(count(&index, "zanzariera", Scope::Transcripts), 1);
    assert_eq!(count(&index, "casa", Scope::Transcripts), 0);
    index.shutdown().await;

    let restored = api::db::connect(&backup_url, 4).await.unwrap().conn;
    let index = open_ready(&dir, &restored).await;
    assert_eq!(
        count(&index, "zanzariera", Scope::Transcripts),
        0,
        "an interview the restored database does not hold is searchable"
    );
    assert_eq!(
        count(&index, "casa", Scope::Transcripts),
        1,
        "the restored transcript is not searchable"
    );
    // Numbered again from the backup's end of the log: below what the index had applied.
    let caller = caller_of(&restored).await;
    interviews::create_interview(
        &restored,
        &caller,
        new("R: Il tavolo di co-progettazione è già partito."),
    )
    .await
    .unwrap();
    index.sync(&restored).await.unwrap();
    assert_eq!(
        count(&index, "tavolo", Scope::Transcripts),
        1,
        "a change written after the restore was skipped"
    );
}

/// The data directory kept while the server is pointed at another database, whose log is
/// longer than the one the index followed: the index is rebuilt from the new database.
#[tokio::test]
async fn an_index_built_from_another_database_is_rebuilt() {
    let mut server = TestServer::empty().await;
    let admin = server.admin().await;
    server
        .corpus(&admin, "Abitare", &["R: La casa popolare, finalmente."])
        .await;
    release(&mut server).await;

    let mut other = TestServer::empty().await;
    let admin = other.admin().await;
    other
        .corpus(
            &admin,
            "Zanzare",
            &[
                "R: La zanzariera è rotta.",
                "R: Serve una zanzariera nuova, perché è estate.",
                "R: Il tavolo di co-progettazione è già partito.",
            ],
        )
        .await;
    release(&mut other).await;

    let index = open_ready(&server.data_dir.path().join("index"), &other.db.conn).await;
    assert_eq!(
        count(&index, "casa", Scope::Transcripts),
        0,
        "an interview of the other database is searchable"
    );
    assert_eq!(count(&index, "zanzariera", Scope::Transcripts), 2);
    assert_eq!(count(&index, "tavolo", Scope::Transcripts), 1);
}

fn index_files(dir: &std::path::Path) -> std::collections::BTreeMap<String, u64> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect()
}

/// `quaderno reindex`, or a second server, on the data directory of a running server is
/// refused before it touches the index, which the server goes on writing.
#[tokio::test]
async fn a_second_writer_is_refused_and_leaves_the_index_alone() {
    let server = TestServer::demo().await;
    let before = count(&server.search, "pandemia", Scope::Transcripts);
    let dir = server.data_dir.path().join("index");
    let files = index_files(&dir);

    for force_rebuild in [true, false] {
        let opened = SearchIndex::open(
            &dir,
            server.db.conn.clone(),
            api::search::OpenOptions {
                force_rebuild,
                ..Default::default()
            },
        );
        let error = opened.err().expect("a second writer opened the index");
        assert!(
            format!("{error:#}").contains("is a server running on this data directory?"),
            "unclear error: {error:#}"
        );
    }
    assert_eq!(
        index_files(&dir),
        files,
        "the refused writer changed the index"
    );

    let admin = server.admin().await;
    server
        .corpus(
            &admin,
            "Dopo",
            &["R: La pandemia è finita, però non per tutti."],
        )
        .await;
    assert_eq!(
        count(&server.search, "pandemia", Scope::Transcripts),
        before + 1
    );
}

/// A segment file missing or cut short (meta.json intact) is rebuilt from the database.
#[tokio::test]
async fn an_index_with_a_damaged_segment_is_rebuilt() {
    let mut server = TestServer::demo().await;
    let passages = count(&server.search, "pandemia OR lavoro", Scope::Transcripts);
    assert!(passages > 0);
    release(&mut server).await;
    let dir = server.data_dir.path().join("index");
    let segment_file = |ext: &str| {
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == ext))
            .unwrap_or_else(|| panic!("no .{ext} file in {}", dir.display()))
    };

    std::fs::remove_file(segment_file("term")).unwrap();
    let index = reopen(&server).await;
    assert_eq!(
        count(&index, "pandemia OR lavoro", Scope::Transcripts),
        passages
    );
    index.shutdown().await;

    let store = segment_file("store");
    let len = std::fs::metadata(&store).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&store)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let index = reopen(&server).await;
    assert_eq!(
        count(&index, "pandemia OR lavoro", Scope::Transcripts),
        passages
    );
}

/// A segment file damaged in place (bytes overwritten, its length and footer kept) opens
/// fine and failed only the searches reading its damaged part, `/readyz` saying ready: its
/// checksum, read in the background after the start, finds it, and the index is rebuilt.
#[tokio::test]
async fn a_segment_damaged_in_place_is_found_by_its_checksum_and_rebuilt() {
    let mut server = TestServer::demo().await;
    let passages = count(&server.search, "pandemia OR lavoro", Scope::Transcripts);
    release(&mut server).await;
    let dir = server.data_dir.path().join("index");
    let store = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "store"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .expect("a .store file");
    let mut bytes = std::fs::read(&store).unwrap();
    let middle = bytes.len() / 2;
    let end = (middle + 2000).min(bytes.len() - 64);
    bytes[middle..end].fill(0xFF);
    std::fs::write(&store, &bytes).unwrap();

    let index = SearchIndex::open(&dir, server.db.conn.clone(), Default::default()).expect("open");
    index.ready(&server.db.conn).await.expect("ready");
    // Polled until the damaged file is gone (a guard against hanging, not a measure of speed).
    for _ in 0..600 {
        if !store.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!store.exists(), "the damaged segment is still in the index");
    index.ready(&server.db.conn).await.expect("ready");
    assert_eq!(
        count(&index, "pandemia OR lavoro", Scope::Transcripts),
        passages
    );
    index.shutdown().await;
}

/// `/readyz` answers 503 while the writer cannot follow the change log, and 200 again once
/// it can. (Polled until it changes; no time limit is asserted.)
#[tokio::test]
async fn readyz_reports_a_writer_that_keeps_failing_until_it_recovers() {
    use sea_orm::ConnectionTrait;
    let server = TestServer::demo().await;
    assert_eq!(server.get("/readyz").await.0, 200);
    let until = |status: u16| {
        let server = &server;
        async move {
            for _ in 0..600 {
                if server.get("/readyz").await.0 == status {
                    return true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            false
        }
    };
    server
        .db
        .conn
        .execute_unprepared("ALTER TABLE change_log RENAME TO change_log_away")
        .await
        .unwrap();
    assert!(
        until(503).await,
        "/readyz never reported the failing writer"
    );
    server
        .db
        .conn
        .execute_unprepared("ALTER TABLE change_log_away RENAME TO change_log")
        .await
        .unwrap();
    assert!(until(200).await, "/readyz never reported the recovery");
}

/// Once the writer has stopped nothing will be applied: waiting for a change is an error at
/// once, not a silent success.
#[tokio::test]
async fn waiting_for_a_change_after_the_writer_stopped_fails() {
    let mut server = TestServer::demo().await;
    release(&mut server).await;
    let caller = caller_of(&server.db.conn).await;
    api::service::interviews::create_interview(
        &server.db.conn,
        &caller,
        api::service::interviews::NewInterview {
            case_id: entities_case(&server).await,
            label: "Int. ferma".into(),
            transcript: "R: Nessuno l’ha più indicizzata, però.".into(),
            conducted_on: None,
            interviewee_role: None,
            language: "it".into(),
        },
    )
    .await
    .unwrap();
    assert!(server.search.sync(&server.db.conn).await.is_err());
}
