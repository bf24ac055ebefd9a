//! An interview; the transcript is stored whole, `length` counts its code points.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "interview")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub case_id: i64,
    pub label: String,
    pub conducted_on: Option<Date>,
    pub interviewee_role: Option<String>,
    pub language: String,
    #[sea_orm(column_type = "Text")]
    pub transcript: String,
    pub length: i32,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The file name an imported transcript was read from; None when typed in.
    pub source_file: Option<String>,
    /// JSON array of the normalisation steps that changed an imported text (see
    /// `api::import::transcripts::Step`); None when typed in.
    #[sea_orm(column_type = "Text", nullable)]
    pub normalisation: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
