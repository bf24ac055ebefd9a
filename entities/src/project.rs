//! A funded project. Funding is kept in euro cents so that it stays exact.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "project")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub title: String,
    pub programme: Option<String>,
    pub lead_ente_id: Option<i64>,
    pub funding_cents: Option<i64>,
    pub population: Option<i32>,
    pub started_on: Option<Date>,
    pub ended_on: Option<Date>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
