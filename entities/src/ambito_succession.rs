//! A split, merge or continuation: `predecessor` became (part of) `successor`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ambito_succession")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub predecessor_id: i64,
    pub successor_id: i64,
    pub kind: String,
    pub effective_on: Option<Date>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
