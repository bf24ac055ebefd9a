//! The discontinuity `effect_id` followed from `cause_id`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "discontinuity_cause")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub effect_id: i64,
    pub cause_id: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
