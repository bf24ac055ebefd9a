//! An ente gestore of social services (consorzio, unione, ASL...).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ente_gestore")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub acronym: String,
    pub name: Option<String>,
    pub legal_form: String,
    pub seat: Option<String>,
    pub population: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
