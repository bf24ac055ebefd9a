//! Migrations that only add plain indexes on one column each.

use sea_orm_migration::prelude::*;

pub(crate) struct Migration {
    /// The migration's file name: what the migration table records.
    pub name: &'static str,
    /// (index, table, column)
    pub indexes: &'static [(&'static str, &'static str, &'static str)],
}

impl MigrationName for Migration {
    fn name(&self) -> &str {
        self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for &(name, table, column) in self.indexes {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(table)
                        .col(column)
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for &(name, table, _) in self.indexes {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
