//! One evaluator's (or the consensus) judgment on a case, intervention and dimension.
//! `intervention_key` is the intervention id or 0 for the whole case, and `evaluator_slot` the
//! evaluator id or 0 for the consensus: both exist so that a unique index can hold one judgment per cell.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "discontinuity")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub case_id: i64,
    pub intervention_id: Option<i64>,
    pub intervention_key: i64,
    pub dimension: String,
    pub intensity: String,
    pub kind: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    pub covid_effect: Option<String>,
    pub evaluator_id: i64,
    pub evaluator_slot: i64,
    pub is_consensus: bool,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
