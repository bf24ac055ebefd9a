//! Codes carry a version, as quotations, memos, interviews and judgments do: two analysts
//! editing one code (one renames it, the other saves a description from a form that still
//! shows the old name) no longer undo each other's work without a word.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Only if missing: a test loads today's demo into a database at an older migration,
        // with this column made ahead (`api/tests/integration/migrations.rs`).
        if manager.has_column("code", "version").await? {
            return Ok(());
        }
        manager
            .alter_table(
                Table::alter()
                    .table("code")
                    .add_column(integer("version").default(1))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("code")
                    .drop_column("version")
                    .to_owned(),
            )
            .await
    }
}
