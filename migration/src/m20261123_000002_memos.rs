//! Memos: free-text notes on studies, cases, interviews, codes and quotations.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("memo")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("study_id"))
                    .col(string("target_kind"))
                    .col(big_integer("target_id"))
                    .col(big_integer_null("author_id"))
                    .col(text("text"))
                    .col(integer("version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_memo_study_id")
                            .from("memo", "study_id")
                            .to("study", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_memo_author_id")
                            .from("memo", "author_id")
                            .to("app_user", "id")
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_memo_target")
                    .table("memo")
                    .col("target_kind")
                    .col("target_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("memo").if_exists().to_owned())
            .await
    }
}
