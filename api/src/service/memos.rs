//! Memos: notes on studies, cases, interviews, codes and quotations.

use chrono::Utc;
use entities::{code, interview, memo, quotation, study_case};
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect, Set,
};

use serde_json::json;

use crate::auth::{Caller, Permission};
use crate::db::{begin_write, Writable, IDS_PER_STATEMENT};
use crate::error::{or_stale, ServiceError, ServiceResult};
use crate::service::interviews::readable_interview;
use crate::service::studies::{readable_case, readable_study};

/// What a memo is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Study(i64),
    Case(i64),
    Interview(i64),
    Code(i64),
    Quotation(i64),
}

impl Target {
    pub fn kind(self) -> &'static str {
        match self {
            Target::Study(_) => "study",
            Target::Case(_) => "case",
            Target::Interview(_) => "interview",
            Target::Code(_) => "code",
            Target::Quotation(_) => "quotation",
        }
    }

    pub fn id(self) -> i64 {
        match self {
            Target::Study(i)
            | Target::Case(i)
            | Target::Interview(i)
            | Target::Code(i)
            | Target::Quotation(i) => i,
        }
    }
}

/// The study a target belongs to, if the caller may read it: NOT_FOUND otherwise, naming the
/// target whether it is missing or in a study the caller may not read (naming its study or
/// interview would tell that the target exists). Cases, interviews, codes and quotations can
/// be deleted (merged codes too), and memos have no foreign key to their target: the
/// target's row is key-share locked until commit, so that a deletion waits for the memo and
/// then deletes it with the rest, or goes first and the memo is NOT_FOUND. (A study needs no
/// lock here: the memo's foreign key to it takes the same one.)
async fn study_of<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    target: Target,
) -> ServiceResult<entities::study::Model> {
    match target {
        Target::Study(id) => readable_study(db, caller, id).await,
        Target::Case(id) => {
            study_case::Entity::find_by_id(id)
                .select_only()
                .column(study_case::Column::Id)
                .lock(LockType::KeyShare)
                .into_tuple::<i64>()
                .one(db)
                .await?
                .ok_or_else(|| ServiceError::not_found("case"))?;
            Ok(readable_case(db, caller, id).await?.1)
        }
        Target::Interview(id) => {
            interview::Entity::find_by_id(id)
                .select_only()
                .column(interview::Column::Id)
                .lock(LockType::KeyShare)
                .into_tuple::<i64>()
                .one(db)
                .await?
                .ok_or_else(|| ServiceError::not_found("interview"))?;
            Ok(readable_interview(db, caller, id).await?.2)
        }
        Target::Code(id) => {
            let c = code::Entity::find_by_id(id)
                .lock(LockType::KeyShare)
                .one(db)
                .await?
                .ok_or_else(|| ServiceError::not_found("code"))?;
            readable_study(db, caller, c.study_id)
                .await
                .map_err(|e| e.hidden_as("code"))
        }
        Target::Quotation(id) => {
            let q = quotation::Entity::find_by_id(id)
                .lock(LockType::KeyShare)
                .one(db)
                .await?
                .ok_or_else(|| ServiceError::not_found("quotation"))?;
            let (_, _, study) = readable_interview(db, caller, q.interview_id)
                .await
                .map_err(|e| e.hidden_as("quotation"))?;
            Ok(study)
        }
    }
}

pub async fn create_memo(
    db: &impl Writable,
    caller: &Caller,
    target: Target,
    text: &str,
) -> ServiceResult<memo::Model> {
    if text.trim().is_empty() {
        return Err(ServiceError::bad_input("a memo needs some text"));
    }
    crate::service::labels::exportable(text, "the memo")?;
    let user = caller.require_user()?.id;
    let txn = begin_write(db).await?;
    let study = study_of(&txn, caller, target).await?;
    caller.authorize(study.id, study.is_public, Permission::Annotate)?;
    let now = Utc::now();
    let m = memo::ActiveModel {
        study_id: Set(study.id),
        target_kind: Set(target.kind().to_owned()),
        target_id: Set(target.id()),
        author_id: Set(Some(user)),
        text: Set(text.to_owned()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    crate::service::audit::record(
        &txn,
        caller,
        "createMemo",
        "memo",
        m.id,
        Some(study.id),
        json!({"after": {"target": format!("{}:{}", m.target_kind, m.target_id)}}),
    )
    .await?;
    txn.commit().await?;
    Ok(m)
}

/// A memo the caller may change: its author's, or any in a study the caller owns.
async fn own_memo<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    id: i64,
    version: i32,
) -> ServiceResult<memo::Model> {
    let m = memo::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ServiceError::not_found("memo"))?;
    let study = readable_study(db, caller, m.study_id)
        .await
        .map_err(|e| e.hidden_as("memo"))?;
    let is_author = m.author_id.is_some() && m.author_id == caller.user_id();
    let permission = if is_author {
        Permission::Annotate
    } else {
        Permission::Own
    };
    caller.authorize(study.id, study.is_public, permission)?;
    if m.version != version {
        return Err(ServiceError::stale("memo", m.version, version));
    }
    Ok(m)
}

/// For a write that no longer found the memo at the `version` just read: on PostgreSQL,
/// where the memo is not locked, another write came first. It names the next version, the
/// least the memo is at now (or it was deleted, which a reload shows).
fn overtaken(version: i32) -> ServiceError {
    ServiceError::stale("memo", version + 1, version)
}

pub async fn update_memo(
    db: &impl Writable,
    caller: &Caller,
    id: i64,
    version: i32,
    text: &str,
) -> ServiceResult<memo::Model> {
    if text.trim().is_empty() {
        return Err(ServiceError::bad_input("a memo needs some text"));
    }
    crate::service::labels::exportable(text, "the memo")?;
    let txn = begin_write(db).await?;
    let m = own_memo(&txn, caller, id, version).await?;
    if m.text == text {
        // Nothing to write: the version stays, so another writer holding it is not made
        // stale by a save that changed nothing, and the audit log records no change.
        return Ok(m);
    }
    let mut a: memo::ActiveModel = m.clone().into();
    a.text = Set(text.to_owned());
    a.version = Set(m.version + 1);
    a.updated_at = Set(Utc::now());
    // On PostgreSQL another writer may have read the same version: only one update finds it.
    let updated = memo::Entity::update(a)
        .validate()?
        .filter(memo::Column::Version.eq(version))
        .exec(&txn)
        .await
        .map_err(|e| or_stale(e, || overtaken(version)))?;
    crate::service::audit::record(
        &txn,
        caller,
        "updateMemo",
        "memo",
        m.id,
        Some(m.study_id),
        json!({"before": {"version": m.version}, "after": {"version": updated.version}}),
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

pub async fn delete_memo(
    db: &impl Writable,
    caller: &Caller,
    id: i64,
    version: i32,
) -> ServiceResult<()> {
    let txn = begin_write(db).await?;
    let m = own_memo(&txn, caller, id, version).await?;
    let deleted = memo::Entity::delete_many()
        .filter(memo::Column::Id.eq(id))
        .filter(memo::Column::Version.eq(version))
        .exec(&txn)
        .await?;
    if deleted.rows_affected != 1 {
        return Err(overtaken(version));
    }
    crate::service::audit::record(
        &txn,
        caller,
        "deleteMemo",
        "memo",
        m.id,
        Some(m.study_id),
        json!({"before": {"target": format!("{}:{}", m.target_kind, m.target_id)}}),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Refuses to delete `ids` (targets of `kind` in `study_id`) while they carry memos by
/// other users, unless the caller owns the study: their memos go with them, and an analyst
/// may not delete another's memo, directly or with what it is about. `refused` says what.
pub async fn check_others_memos<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    study_id: i64,
    kind: &str,
    ids: &[i64],
    refused: &str,
) -> ServiceResult<()> {
    if caller.authorize(study_id, false, Permission::Own).is_ok() {
        return Ok(());
    }
    let mut others = 0;
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let mut by_others =
            sea_orm::sea_query::Condition::any().add(memo::Column::AuthorId.is_null());
        if let Some(me) = caller.user_id() {
            by_others = by_others.add(memo::Column::AuthorId.ne(me));
        }
        others += memo::Entity::find()
            .filter(memo::Column::TargetKind.eq(kind))
            .filter(memo::Column::TargetId.is_in(chunk.iter().copied()))
            .filter(by_others)
            .count(db)
            .await?;
    }
    if others == 0 {
        return Ok(());
    }
    Err(ServiceError::Forbidden(format!(
        "{refused}: {others} memo(s) of other users are on it, which would go with it; only \
         their authors and the study's owners may delete them"
    )))
}

/// Deletes the memos of targets that are being deleted (memos have no foreign key to them),
/// with an audit entry for each: they can be other users' notes, and would otherwise vanish
/// from the log with no trace of who removed them. `operation` is the mutation that deletes
/// the targets.
pub async fn delete_for<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    operation: &str,
    kind: &str,
    ids: &[i64],
) -> ServiceResult<()> {
    let doomed = memo::Entity::find()
        .filter(memo::Column::TargetKind.eq(kind))
        .filter(memo::Column::TargetId.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    delete_audited(db, caller, operation, doomed).await
}

/// Deletes every memo of a study that is being deleted, whatever it is about, audited as
/// `delete_for` does (their foreign key would delete them too, but with no trace).
pub async fn delete_in_study<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    operation: &str,
    study_id: i64,
) -> ServiceResult<()> {
    let doomed = memo::Entity::find()
        .filter(memo::Column::StudyId.eq(study_id))
        .all(db)
        .await?;
    delete_audited(db, caller, operation, doomed).await
}

async fn delete_audited<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    operation: &str,
    doomed: Vec<memo::Model>,
) -> ServiceResult<()> {
    if doomed.is_empty() {
        return Ok(());
    }
    // In chunks: a study's memos can be more than a statement binds.
    let ids: Vec<i64> = doomed.iter().map(|m| m.id).collect();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        memo::Entity::delete_many()
            .filter(memo::Column::Id.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
    }
    for m in doomed {
        crate::service::audit::record(
            db,
            caller,
            operation,
            "memo",
            m.id,
            Some(m.study_id),
            json!({"before": {
                "target": format!("{}:{}", m.target_kind, m.target_id),
                "author": m.author_id,
                "version": m.version,
            }}),
        )
        .await?;
    }
    Ok(())
}
