//! Indexes for the lookups that go from the other end of a reference: a user's quotations,
//! memos and judgments (is a user visible to the caller), an ambito's cases and projects, an
//! ente's projects, a project's cases, an intervention's judgments. The unique indexes on the
//! link tables lead with the other column, and PostgreSQL does not index foreign keys by
//! itself, so each of these scanned its whole table.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (index, table, column)
const INDEXES: [(&str, &str, &str); 9] = [
    ("ix_quotation_coder_id", "quotation", "coder_id"),
    ("ix_memo_author_id", "memo", "author_id"),
    (
        "ix_discontinuity_evaluator_id",
        "discontinuity",
        "evaluator_id",
    ),
    (
        "ix_discontinuity_intervention_id",
        "discontinuity",
        "intervention_id",
    ),
    ("ix_case_ambito_ambito_id", "case_ambito", "ambito_id"),
    ("ix_case_project_project_id", "case_project", "project_id"),
    ("ix_project_lead_ente_id", "project", "lead_ente_id"),
    ("ix_project_partner_ente_id", "project_partner", "ente_id"),
    ("ix_project_ambito_ambito_id", "project_ambito", "ambito_id"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, column) in INDEXES {
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
        for (name, table, _) in INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
