//! The audit log: every write is recorded in its own transaction, so that the log and the
//! data never disagree. Owners and admins read it.

use chrono::Utc;
use entities::audit_log;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde_json::Value;

use crate::auth::{Caller, Permission};
use crate::error::{ServiceError, ServiceResult};
use crate::service::page::{self, Page, PageRequest};
use crate::service::studies::readable_study;

/// Records one write. `summary` says what changed, typically `{"before": …, "after": …}`.
pub async fn record<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    operation: &str,
    entity: &str,
    entity_id: i64,
    study_id: Option<i64>,
    summary: Value,
) -> ServiceResult<()> {
    audit_log::ActiveModel {
        at: Set(Utc::now()),
        user_id: Set(caller.user_id()),
        study_id: Set(study_id),
        operation: Set(operation.to_owned()),
        entity: Set(entity.to_owned()),
        entity_id: Set(entity_id),
        summary: Set(summary.to_string()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// A study's log, oldest first; for its owners and instance admins.
pub async fn list(
    db: &impl ConnectionTrait,
    caller: &Caller,
    study_id: i64,
    req: PageRequest,
) -> ServiceResult<Page<audit_log::Model>> {
    let study = readable_study(db, caller, study_id).await?;
    caller.authorize(study.id, study.is_public, Permission::Own)?;
    page::by_id(
        db,
        audit_log::Entity::find().filter(audit_log::Column::StudyId.eq(study.id)),
        audit_log::Column::Id,
        req,
    )
    .await
}

/// Entries without a study, oldest first: instance-wide events (admin tokens created, tokens
/// revoked, admin rights revoked). Admins only: they name users of every study.
pub async fn list_instance(
    db: &impl ConnectionTrait,
    caller: &Caller,
    req: PageRequest,
) -> ServiceResult<Page<audit_log::Model>> {
    if !caller.require_user()?.is_admin {
        return Err(ServiceError::Forbidden(
            "only instance admins read the instance audit log".into(),
        ));
    }
    page::by_id(
        db,
        audit_log::Entity::find().filter(audit_log::Column::StudyId.is_null()),
        audit_log::Column::Id,
        req,
    )
    .await
}
