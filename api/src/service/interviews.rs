//! Interviews and their transcripts.

use chrono::{NaiveDate, Utc};
use entities::{interview, study, study_case};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, Set};

use crate::auth::{Caller, Permission};
use crate::db::begin_write;
use crate::error::{ServiceError, ServiceResult};
use crate::service::change_log::{self, Op};
use crate::service::studies::{non_empty, readable_case};
use crate::text::char_len;

/// An interview with its case and study, checked readable (NOT_FOUND otherwise).
pub async fn readable_interview<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    interview_id: i64,
) -> ServiceResult<(interview::Model, study_case::Model, study::Model)> {
    let i = interview::Entity::find_by_id(interview_id)
        .one(db)
        .await?
        .ok_or_else(|| ServiceError::not_found("interview"))?;
    let (c, s) = readable_case(db, caller, i.case_id)
        .await
        .map_err(|_| ServiceError::not_found("interview"))?;
    Ok((i, c, s))
}

#[derive(Debug, Clone, Default)]
pub struct NewInterview {
    pub case_id: i64,
    pub label: String,
    pub transcript: String,
    pub conducted_on: Option<NaiveDate>,
    pub interviewee_role: Option<String>,
    pub language: String,
}

pub async fn create_interview(
    db: &DatabaseConnection,
    caller: &Caller,
    input: NewInterview,
) -> ServiceResult<interview::Model> {
    let label = non_empty(&input.label, "label")?;
    if input.transcript.trim().is_empty() {
        return Err(ServiceError::bad_input("the transcript must not be empty"));
    }
    let length = i32::try_from(char_len(&input.transcript))
        .map_err(|_| ServiceError::bad_input("the transcript is too long"))?;
    let language = non_empty(&input.language, "language")?;
    let txn = begin_write(db).await?;
    let (c, s) = readable_case(&txn, caller, input.case_id).await?;
    caller.authorize(s.id, s.is_public, Permission::Code)?;
    let now = Utc::now();
    let i = interview::ActiveModel {
        case_id: Set(c.id),
        label: Set(label),
        conducted_on: Set(input.conducted_on),
        interviewee_role: Set(input.interviewee_role),
        language: Set(language),
        transcript: Set(input.transcript),
        length: Set(length),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    change_log::append(&txn, change_log::Entity::Interview, i.id, Op::Upsert).await?;
    txn.commit().await?;
    Ok(i)
}
