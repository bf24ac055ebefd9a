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

/// An interview without its transcript: what lists, labels and permission checks read, so
/// that they do not load texts of tens of kilobytes each.
#[derive(Clone, Debug, PartialEq, Eq, DerivePartialModel)]
#[sea_orm(entity = "Entity")]
pub struct Head {
    pub id: i64,
    pub case_id: i64,
    pub label: String,
    pub conducted_on: Option<Date>,
    pub interviewee_role: Option<String>,
    pub language: String,
    pub length: i32,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub source_file: Option<String>,
    pub normalisation: Option<String>,
}

impl From<Model> for Head {
    fn from(m: Model) -> Self {
        Self {
            id: m.id,
            case_id: m.case_id,
            label: m.label,
            conducted_on: m.conducted_on,
            interviewee_role: m.interviewee_role,
            language: m.language,
            length: m.length,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
            source_file: m.source_file,
            normalisation: m.normalisation,
        }
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
