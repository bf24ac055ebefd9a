//! Who belongs to a study and with which role: granted and taken back by the study's owners
//! and instance admins (GraphQL), or by the operator (`quaderno role revoke`). A study always
//! keeps at least one OWNER, so that someone besides the admins can still manage it.

use entities::{app_user, study, study_member};
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect, Set,
};
use serde_json::json;

use crate::auth::{Caller, Permission, StudyRole};
use crate::db::{begin_write, Writable};
use crate::error::{ServiceError, ServiceResult};
use crate::service::users::lock_active_user;

/// Locks a study's membership until the transaction ends, and returns the study. The checks
/// below (is the caller still an owner, is this the last owner) read the members first and
/// write after; on PostgreSQL (READ COMMITTED) two owners demoting each other at once would
/// each count two owners and both succeed, leaving none. The study row stands for its
/// members, as it does for its codebook (`codes::lock_codebook`): `FOR NO KEY UPDATE` leaves
/// rows that refer to the study free to be written. SQLite serialises writers anyway
/// (`begin_write` is IMMEDIATE) and ignores the clause.
pub(crate) async fn lock_members<C: ConnectionTrait>(
    txn: &C,
    study_id: i64,
) -> ServiceResult<study::Model> {
    study::Entity::find_by_id(study_id)
        .lock(LockType::NoKeyUpdate)
        .one(txn)
        .await?
        .ok_or_else(|| ServiceError::not_found("study"))
}

/// A user's role in a study, read in the transaction (after `lock_members`: current).
async fn role_of<C: ConnectionTrait>(
    txn: &C,
    study_id: i64,
    user_id: i64,
) -> ServiceResult<Option<StudyRole>> {
    Ok(study_member::Entity::find()
        .filter(study_member::Column::StudyId.eq(study_id))
        .filter(study_member::Column::UserId.eq(user_id))
        .one(txn)
        .await?
        .and_then(|m| StudyRole::parse(&m.role)))
}

/// Refuses a change that would leave the study without an owner: `before` is the user's
/// role now, `after` the one they are given (None: removed).
async fn keep_an_owner<C: ConnectionTrait>(
    txn: &C,
    study_id: i64,
    before: Option<StudyRole>,
    after: Option<StudyRole>,
) -> ServiceResult<()> {
    if before != Some(StudyRole::Owner) || after == Some(StudyRole::Owner) {
        return Ok(());
    }
    let owners = study_member::Entity::find()
        .filter(study_member::Column::StudyId.eq(study_id))
        .filter(study_member::Column::Role.eq(StudyRole::Owner.as_str()))
        .count(txn)
        .await?;
    if owners <= 1 {
        return Err(ServiceError::Conflict(
            "this is the study's last owner: make someone else an owner first".into(),
        ));
    }
    Ok(())
}

/// Locks the study and checks that the caller may manage its members: an instance admin, or
/// an owner of the study. The role is read again under the lock, not taken from the request's
/// start: an owner demoted by a request that committed meanwhile is an owner no longer.
/// Callers who cannot read the study get NOT_FOUND (as for every write).
async fn lock_as_manager<C: ConnectionTrait>(
    txn: &C,
    caller: &Caller,
    study_id: i64,
) -> ServiceResult<study::Model> {
    let study = lock_members(txn, study_id).await?;
    check_manager(txn, caller, &study).await?;
    Ok(study)
}

/// Whether the caller may manage the study's members (see `lock_as_manager`).
async fn check_manager<C: ConnectionTrait>(
    txn: &C,
    caller: &Caller,
    study: &study::Model,
) -> ServiceResult<()> {
    caller.authorize(study.id, study.is_public, Permission::Own)?;
    let user = caller.require_user()?;
    if !user.is_admin && role_of(txn, study.id, user.id).await? != Some(StudyRole::Owner) {
        return Err(ServiceError::Forbidden(
            "only the study's owners and instance admins manage its members".into(),
        ));
    }
    Ok(())
}

fn role_name(role: Option<StudyRole>) -> Option<&'static str> {
    role.map(StudyRole::as_str)
}

/// What the audit log says of a membership change.
fn summary(
    user: &app_user::Model,
    before: Option<StudyRole>,
    after: Option<StudyRole>,
) -> serde_json::Value {
    json!({
        "before": {"user": user.name, "role": role_name(before)},
        "after": {"user": user.name, "role": role_name(after)},
    })
}

/// Gives a user a role in a locked study (see `lock_members`), replacing any earlier one;
/// refuses to demote the last owner. Returns the earlier role. Not audited: each caller
/// records the operation in its own words.
pub(crate) async fn put_role<C: ConnectionTrait>(
    txn: &C,
    study_id: i64,
    user_id: i64,
    role: StudyRole,
) -> ServiceResult<Option<StudyRole>> {
    let before = role_of(txn, study_id, user_id).await?;
    if before != Some(role) {
        keep_an_owner(txn, study_id, before, Some(role)).await?;
        grant_role(txn, user_id, study_id, role).await?;
    }
    Ok(before)
}

/// Takes a user's role in a locked study away, audited as `removeStudyMember` by `actor`
/// (the anonymous caller for the command line); NOT_FOUND when they have none, CONFLICT for
/// the last owner. Returns the role they had.
pub(crate) async fn take_role<C: ConnectionTrait>(
    txn: &C,
    actor: &Caller,
    study_id: i64,
    user: &app_user::Model,
) -> ServiceResult<StudyRole> {
    let before = role_of(txn, study_id, user.id)
        .await?
        .ok_or_else(|| ServiceError::not_found("member"))?;
    keep_an_owner(txn, study_id, Some(before), None).await?;
    study_member::Entity::delete_many()
        .filter(study_member::Column::StudyId.eq(study_id))
        .filter(study_member::Column::UserId.eq(user.id))
        .exec(txn)
        .await?;
    crate::service::audit::record(
        txn,
        actor,
        "removeStudyMember",
        "user",
        user.id,
        Some(study_id),
        summary(user, Some(before), None),
    )
    .await?;
    Ok(before)
}

fn no_such_user(name: &str) -> ServiceError {
    ServiceError::NotFound(format!(
        "user {name:?} (accounts are made with `quaderno token create`)"
    ))
}

async fn user_named<C: ConnectionTrait>(txn: &C, name: &str) -> ServiceResult<app_user::Model> {
    // As accounts are named (`users::ensure_user`).
    let name = crate::service::labels::normalised(name);
    let name = name.as_str();
    app_user::Entity::find()
        .filter(app_user::Column::Name.eq(name))
        .one(txn)
        .await?
        .ok_or_else(|| no_such_user(name))
}

/// `setStudyMember`: gives an existing user a role in a study, replacing any earlier one.
/// Owners of the study and instance admins only. Returns the user.
pub async fn set_member(
    db: &impl Writable,
    caller: &Caller,
    study_id: i64,
    user_name: &str,
    role: StudyRole,
) -> ServiceResult<app_user::Model> {
    let txn = begin_write(db).await?;
    // Whether a user name exists is told only to those who manage the study: the caller is
    // checked before the name is looked up, and again under the lock below.
    let unlocked = study::Entity::find_by_id(study_id)
        .one(&txn)
        .await?
        .ok_or_else(|| ServiceError::not_found("study"))?;
    check_manager(&txn, caller, &unlocked).await?;
    // The user before the study, in the order a removal locks them.
    let user = lock_active_user(&txn, user_named(&txn, user_name).await?.id).await?;
    let study = lock_as_manager(&txn, caller, study_id).await?;
    let before = put_role(&txn, study.id, user.id, role).await?;
    if before != Some(role) {
        crate::service::audit::record(
            &txn,
            caller,
            "setStudyMember",
            "user",
            user.id,
            Some(study.id),
            summary(&user, before, Some(role)),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(user)
}

/// `removeStudyMember`: takes a member's role in a study away. Owners and admins only.
pub async fn remove_member(
    db: &impl Writable,
    caller: &Caller,
    study_id: i64,
    user_id: i64,
) -> ServiceResult<()> {
    let txn = begin_write(db).await?;
    let study = lock_as_manager(&txn, caller, study_id).await?;
    let user = app_user::Entity::find_by_id(user_id)
        .one(&txn)
        .await?
        .ok_or_else(|| ServiceError::not_found("member"))?;
    take_role(&txn, caller, study.id, &user).await?;
    txn.commit().await?;
    Ok(())
}

/// `quaderno role revoke --user NAME --study ID`: the operator's `removeStudyMember`,
/// recorded without a user (the command line). Returns the role taken away.
pub async fn revoke_study_role(
    db: &impl Writable,
    user_name: &str,
    study_id: i64,
) -> ServiceResult<StudyRole> {
    let txn = begin_write(db).await?;
    let study = lock_members(&txn, study_id).await?;
    let user = user_named(&txn, user_name).await?;
    let before = take_role(&txn, &Caller::anonymous(), study.id, &user).await?;
    txn.commit().await?;
    Ok(before)
}

/// `quaderno role revoke --user NAME --admin`: clears the instance admin flag, recorded
/// without a study (it is instance-wide) and without a user (the command line). The user's
/// tokens stay, with their study roles only.
pub async fn revoke_admin(db: &impl Writable, user_name: &str) -> ServiceResult<()> {
    let txn = begin_write(db).await?;
    let user = user_named(&txn, user_name).await?;
    if !user.is_admin {
        return Err(ServiceError::NotFound(format!(
            "admin rights of user {:?}",
            user.name
        )));
    }
    let mut active: app_user::ActiveModel = user.clone().into();
    active.is_admin = Set(false);
    active.update(&txn).await?;
    crate::service::audit::record(
        &txn,
        &Caller::anonymous(),
        "revokeAdmin",
        "user",
        user.id,
        None,
        json!({"before": {"user": user.name, "admin": true}, "after": {"user": user.name, "admin": false}}),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Gives a user a role in a study (replacing any earlier role there).
pub async fn grant_role<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    study_id: i64,
    role: StudyRole,
) -> ServiceResult<()> {
    lock_active_user(db, user_id).await?;
    study_member::Entity::delete_many()
        .filter(study_member::Column::UserId.eq(user_id))
        .filter(study_member::Column::StudyId.eq(study_id))
        .exec(db)
        .await?;
    study_member::ActiveModel {
        study_id: Set(study_id),
        user_id: Set(user_id),
        role: Set(role.as_str().to_owned()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}
