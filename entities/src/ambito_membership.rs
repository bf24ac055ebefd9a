//! An ente belonged to an ambito during [valid_from, valid_until).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ambito_membership")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub ambito_id: i64,
    pub ente_id: i64,
    pub valid_from: Option<Date>,
    pub valid_until: Option<Date>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
