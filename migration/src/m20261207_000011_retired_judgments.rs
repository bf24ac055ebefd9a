//! Judgment versions outlive a deletion: a cell's next judgment starts above the last
//! version of the one deleted before it. Versions restarted at 1, so a tag sent with the
//! version read from a deleted judgment overwrote the one made after it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

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
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("retired_judgment").to_owned())
            .await
    }
}
