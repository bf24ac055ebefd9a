//! A memo: a note on a study, case, interview, code or quotation (`target_kind`, `target_id`).
//! Memos of quotations and codes die with their target (see `service::memos`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "memo")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub study_id: i64,
    pub target_kind: String,
    pub target_id: i64,
    pub author_id: Option<i64>,
    #[sea_orm(column_type = "Text")]
    pub text: String,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
