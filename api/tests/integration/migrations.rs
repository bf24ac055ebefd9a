//! Migrations applied to a database that already holds data.

use migration::{Migrator, MigratorTrait as _};
use sea_orm::{ConnectionTrait as _, DbBackend, Statement};

async fn rows(db: &sea_orm::DatabaseConnection, sql: &str) -> Vec<sea_orm::QueryResult> {
    db.query_all_raw(Statement::from_string(DbBackend::Sqlite, sql))
        .await
        .unwrap()
}

/// On SQLite the transcript moves to the end of the interview row (so that reading the other
/// columns does not walk its overflow pages), and nothing is lost on the way: texts, ids and
/// the quotations that point at them.
#[tokio::test]
async fn transcript_moves_last_on_sqlite_keeping_texts_and_quotations() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/quaderno.db?mode=rwc", dir.path().display());
    let db = api::db::connect(&url, 2).await.unwrap().conn;
    Migrator::up(&db, Some(4)).await.unwrap();
    // Today's demo also writes the dated ambito names of migration 8 and the users' removal
    // time of migration 10, and reads the retired judgment versions of migration 11 and the
    // code versions of migration 12: they are made ahead for it (these migrations make them
    // only if missing).
    for ahead in [
        "CREATE TABLE ambito_name (id INTEGER PRIMARY KEY AUTOINCREMENT, ambito_id BIGINT NOT NULL \
         REFERENCES ambito (id) ON DELETE CASCADE, name TEXT NOT NULL, valid_from DATE, valid_until DATE)",
        "ALTER TABLE app_user ADD COLUMN removed_at TEXT",
        "CREATE TABLE retired_judgment (case_id BIGINT NOT NULL REFERENCES study_case (id) ON DELETE \
         CASCADE, intervention_key BIGINT NOT NULL, dimension TEXT NOT NULL, evaluator_slot BIGINT \
         NOT NULL, last_version INTEGER NOT NULL, PRIMARY KEY (case_id, intervention_key, \
         dimension, evaluator_slot))",
        "ALTER TABLE code ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
    ] {
        db.execute_unprepared(ahead).await.unwrap();
    }
    api::demo::load_if_empty(&db).await.unwrap();

    let columns = |db| async move {
        rows(
            db,
            "SELECT name FROM pragma_table_info('interview') ORDER BY cid",
        )
        .await
        .iter()
        .map(|r| r.try_get::<String>("", "name").unwrap())
        .collect::<Vec<_>>()
    };
    let texts = |db| async move {
        rows(db, "SELECT id, transcript FROM interview ORDER BY id")
            .await
            .iter()
            .map(|r| {
                (
                    r.try_get::<i64>("", "id").unwrap(),
                    r.try_get::<String>("", "transcript").unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let quotations = |db| async move {
        rows(db, "SELECT count(*) AS n FROM quotation").await[0]
            .try_get::<i64>("", "n")
            .unwrap()
    };
    let before = columns(&db).await;
    assert_ne!(before.last().map(String::as_str), Some("transcript"));
    let texts_before = texts(&db).await;
    let quotations_before = quotations(&db).await;
    assert!(!texts_before.is_empty() && quotations_before > 0);
    assert!(texts_before
        .iter()
        .any(|(_, t)| t.contains('’') && t.contains('à')));

    api::db::migrate(&db).await.unwrap();

    let after = columns(&db).await;
    assert_eq!(after.last().map(String::as_str), Some("transcript"));
    let mut sorted_before = before.clone();
    let mut sorted_after = after.clone();
    sorted_before.sort();
    sorted_after.sort();
    assert_eq!(sorted_before, sorted_after, "the same columns, reordered");
    assert_eq!(texts(&db).await, texts_before);
    assert_eq!(quotations(&db).await, quotations_before);
    // Foreign keys still hold and the text column still refuses NULL.
    assert!(rows(&db, "PRAGMA foreign_key_check").await.is_empty());
    let null = db
        .execute_unprepared("UPDATE interview SET transcript = NULL")
        .await;
    assert!(null.is_err(), "transcript accepted NULL");
}

/// Judgments deleted before migration 11 count as retired too: it reads their last versions
/// from the audit log, so a cell tagged anew after the upgrade starts above them (the
/// highest of a cell's deletions; a case deleted since is left out).
#[tokio::test]
async fn judgments_deleted_before_the_upgrade_are_retired_from_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/quaderno.db?mode=rwc", dir.path().display());
    let db = api::db::connect(&url, 2).await.unwrap().conn;
    Migrator::up(&db, Some(10)).await.unwrap();
    db.execute_unprepared(
        "INSERT INTO study (id, title, authors, research_questions, is_public, created_at) \
         VALUES (1, 'Studio', '[]', '[]', 0, '2026-01-01T00:00:00Z')",
    )
    .await
    .unwrap();
    db.execute_unprepared("INSERT INTO study_case (id, study_id, label) VALUES (7, 1, 'Caso')")
        .await
        .unwrap();
    for (case, intervention, evaluator, consensus, version) in [
        (7, "null", 3, true, 2),
        (7, "null", 3, true, 5),
        (7, "4", 3, false, 1),
        (8, "null", 3, true, 9),
    ] {
        db.execute_unprepared(&format!(
            "INSERT INTO audit_log (at, operation, entity, entity_id, summary) VALUES \
             ('2026-01-01T00:00:00Z', 'deleteDiscontinuity', 'discontinuity', 1, \
             '{{\"before\": {{\"case\": {case}, \"intervention\": {intervention}, \
             \"dimension\": \"ACTOR_NETWORK\", \"evaluator\": {evaluator}, \
             \"consensus\": {consensus}, \"version\": {version}}}}}')"
        ))
        .await
        .unwrap();
    }
    api::db::migrate(&db).await.unwrap();
    let retired: Vec<(i64, i64, String, i64, i64)> = rows(
        &db,
        "SELECT case_id, intervention_key, dimension, evaluator_slot, last_version \
         FROM retired_judgment ORDER BY intervention_key",
    )
    .await
    .iter()
    .map(|r| {
        (
            r.try_get("", "case_id").unwrap(),
            r.try_get("", "intervention_key").unwrap(),
            r.try_get("", "dimension").unwrap(),
            r.try_get("", "evaluator_slot").unwrap(),
            r.try_get("", "last_version").unwrap(),
        )
    })
    .collect();
    assert_eq!(
        retired,
        [
            (7, 0, "ACTOR_NETWORK".to_owned(), 0, 5),
            (7, 4, "ACTOR_NETWORK".to_owned(), 3, 1)
        ]
    );
}
