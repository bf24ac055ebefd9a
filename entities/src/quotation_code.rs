//! A code attached to a quotation.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "quotation_code")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub quotation_id: i64,
    pub code_id: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
