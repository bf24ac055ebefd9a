//! Moves `interview.transcript` to the end of the row on SQLite.
//!
//! SQLite stores a row's columns in order and spills what does not fit in a page to overflow
//! pages: every column after a 60 KB transcript is reached by walking through the
//! transcript's overflow chain, even when the transcript itself is not selected. Lists,
//! search hits and permission checks read the interview's other columns (`interview::Head`),
//! so with the transcript in the middle of the row each of them paid for the text anyway.
//!
//! SQLite cannot reorder columns, and rebuilding the table would need foreign keys switched
//! off (dropping `interview` cascades to quotations). Adding a copy at the end and dropping
//! the original keeps the table, its id sequence and every reference to it. PostgreSQL
//! keeps long values out of line (TOAST), so there the order does not matter and nothing is
//! done.
//!
//! Columns added to `interview` later land after the transcript again: a later migration
//! should repeat this one's steps.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// All four statements or none: a half-done move would leave two transcript columns.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let db = manager.get_connection();
        for statement in [
            "ALTER TABLE interview ADD COLUMN transcript_moved TEXT NOT NULL DEFAULT ''",
            "UPDATE interview SET transcript_moved = transcript",
            "ALTER TABLE interview DROP COLUMN transcript",
            "ALTER TABLE interview RENAME COLUMN transcript_moved TO transcript",
        ] {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    /// Column order carries no meaning for the schema: nothing to undo.
    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
