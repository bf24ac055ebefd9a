//! Names an ambito went by before the one it goes by now: after the 2023 splits ambito 24 is
//! Cuorgnè alone, but asked for 2022 it is still "Cuorgnè/Caluso/Ivrea".

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("ambito_name")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("ambito_id"))
                    .col(string("name"))
                    .col(date_null("valid_from"))
                    .col(date_null("valid_until"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ambito_name_ambito_id")
                            .from("ambito_name", "ambito_id")
                            .to("ambito", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_ambito_name_ambito_id")
                    .table("ambito_name")
                    .col("ambito_id")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("ambito_name").to_owned())
            .await
    }
}
