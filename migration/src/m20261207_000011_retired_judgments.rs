//! Judgment versions outlive a deletion: a cell's next judgment starts above the last
//! version of the one deleted before it. Versions restarted at 1, so a tag sent with the
//! version read from a deleted judgment overwrote the one made after it.

use std::collections::{BTreeMap, HashSet};

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // `if_not_exists`: a test loads today's demo into a database at an older migration,
        // with this table made ahead (`api/tests/integration/migrations.rs`).
        manager
            .create_table(
                Table::create()
                    .table("retired_judgment")
                    .if_not_exists()
                    .col(big_integer("case_id"))
                    .col(big_integer("intervention_key"))
                    .col(string("dimension"))
                    .col(big_integer("evaluator_slot"))
                    .col(integer("last_version"))
                    .primary_key(
                        Index::create()
                            .col("case_id")
                            .col("intervention_key")
                            .col("dimension")
                            .col("evaluator_slot"),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_retired_judgment_case_id")
                            .from("retired_judgment", "case_id")
                            .to("study_case", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        backfill(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("retired_judgment").to_owned())
            .await
    }
}

/// The judgments deleted before this migration, from the audit log (its
/// `deleteDiscontinuity` entries keep the judgment as it was): their cells too start above
/// them. A cell's highest deleted version wins; cases deleted since are left out.
async fn backfill(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = manager.get_database_backend();
    let cases: HashSet<i64> = db
        .query_all_raw(Statement::from_string(backend, "SELECT id FROM study_case"))
        .await?
        .iter()
        .map(|r| r.try_get_by_index::<i64>(0))
        .collect::<Result<_, _>>()?;
    let deleted = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT summary FROM audit_log WHERE operation = 'deleteDiscontinuity' \
             AND entity = 'discontinuity'",
        ))
        .await?;
    let mut last: BTreeMap<(i64, i64, String, i64), i64> = BTreeMap::new();
    for row in deleted {
        let summary: String = row.try_get_by_index(0)?;
        let Ok(summary) = serde_json::from_str::<serde_json::Value>(&summary) else {
            continue;
        };
        let j = &summary["before"];
        let (Some(case), Some(dimension), Some(version)) = (
            j["case"].as_i64(),
            j["dimension"].as_str(),
            j["version"].as_i64(),
        ) else {
            continue;
        };
        let slot = if j["consensus"].as_bool() == Some(true) {
            0
        } else {
            match j["evaluator"].as_i64() {
                Some(evaluator) => evaluator,
                None => continue,
            }
        };
        if !cases.contains(&case) {
            continue;
        }
        let cell = (
            case,
            j["intervention"].as_i64().unwrap_or(0),
            dimension.to_owned(),
            slot,
        );
        let v = last.entry(cell).or_insert(version);
        *v = Ord::max(*v, version);
    }
    for ((case, intervention, dimension, slot), version) in last {
        let insert = Query::insert()
            .into_table("retired_judgment")
            .columns([
                "case_id",
                "intervention_key",
                "dimension",
                "evaluator_slot",
                "last_version",
            ])
            .values_panic([
                case.into(),
                intervention.into(),
                dimension.into(),
                slot.into(),
                version.into(),
            ])
            .on_conflict(
                OnConflict::columns(["case_id", "intervention_key", "dimension", "evaluator_slot"])
                    .update_column("last_version")
                    .to_owned(),
            )
            .to_owned();
        manager.exec_stmt(insert).await?;
    }
    Ok(())
}
