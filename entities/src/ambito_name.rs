//! A name an ambito went by for a period, before (or apart from) the one it goes by now.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ambito_name")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub ambito_id: i64,
    pub name: String,
    /// The period is half-open, as memberships are: [valid_from, valid_until).
    pub valid_from: Option<Date>,
    pub valid_until: Option<Date>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
