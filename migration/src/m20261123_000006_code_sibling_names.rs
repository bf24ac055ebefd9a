//! Sibling codes have different names, ignoring case, in the database itself.
//!
//! The services check names before writing, but on PostgreSQL two concurrent writers can each
//! pass the check, and the import does not take the codebook lock. Root codes have no parent
//! (NULL, and NULLs never clash in a unique index), so the index keys on the parent or 0,
//! which is no code's id. Expression indexes read the same on SQLite and PostgreSQL.
//!
//! Names that already clash (left by that race) are told apart first: every code but the
//! oldest of a clashing group gets its id appended, e.g. "Lavoro (17)".

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// The renaming and the index together or neither.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "UPDATE code SET name = name || ' (' || id || ')' \
             WHERE EXISTS (SELECT 1 FROM code AS older \
                 WHERE older.study_id = code.study_id \
                 AND COALESCE(older.parent_id, 0) = COALESCE(code.parent_id, 0) \
                 AND lower(older.name) = lower(code.name) \
                 AND older.id < code.id)",
        )
        .await?;
        db.execute_unprepared(
            "CREATE UNIQUE INDEX ux_code_study_id_parent_id_name \
             ON code (study_id, COALESCE(parent_id, 0), lower(name))",
        )
        .await?;
        Ok(())
    }

    /// The renamed codes keep their new names: which was which is not recorded.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ux_code_study_id_parent_id_name")
                    .table("code")
                    .to_owned(),
            )
            .await
    }
}
