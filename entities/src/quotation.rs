//! A coded span [start_pos, end_pos) of a transcript, in code points.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "quotation")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub interview_id: i64,
    pub start_pos: i32,
    pub end_pos: i32,
    #[sea_orm(column_type = "Text", nullable)]
    pub memo: Option<String>,
    pub coder_id: Option<i64>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
