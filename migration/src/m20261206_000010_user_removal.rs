//! Accounts can be removed (`quaderno user remove`). The row stays, because quotations, memos,
//! judgments and the audit log refer to it; its name is replaced and this records when.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A test loads today's demo into a database at an older migration, with the column
        // added ahead (`api/tests/integration/migrations.rs`).
        if manager.has_column("app_user", "removed_at").await? {
            return Ok(());
        }
        manager
            .alter_table(
                Table::alter()
                    .table("app_user")
                    .add_column(timestamp_with_time_zone_null("removed_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("app_user")
                    .drop_column("removed_at")
                    .to_owned(),
            )
            .await
    }
}
