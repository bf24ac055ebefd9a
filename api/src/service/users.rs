//! Who may see whom, and removing an account. Accounts carry names (imported coders' real
//! ones too), so a user is shown by ID only where the caller's own data already shows them,
//! and a removed account keeps no name.

use chrono::Utc;
use entities::{
    api_token, app_user, audit_log, discontinuity, interview, memo, quotation, study, study_case,
    study_member,
};
use sea_orm::sea_query::{Condition, Expr, LockType, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Set,
};
use serde_json::json;

use crate::auth::{removed_user_name, Caller, StudyRole};
use crate::db::{begin_write, Writable};
use crate::error::{ServiceError, ServiceResult};
use crate::service::members::{lock_members, take_role};
use crate::service::studies::readable_study_ids;

/// What `remove_user` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub user_id: i64,
    /// The name the account goes by from now on.
    pub name: String,
    /// The roles taken away, by study.
    pub roles: Vec<(i64, StudyRole)>,
    /// Tokens that were still valid, now revoked.
    pub tokens_revoked: u64,
    pub was_admin: bool,
}

/// `quaderno user remove --user NAME`: ends an account, in one transaction. Its tokens are
/// revoked (its next request is refused), its study roles and admin rights taken, and its
/// name replaced by `removed user #ID`. The row stays: the quotations, memos and judgments it
/// wrote, and the audit log, refer to it and keep their authorship under that name. Refused
/// (CONFLICT, nothing changed) while it is a study's last owner.
pub async fn remove_user(db: &impl Writable, name: &str) -> ServiceResult<Removal> {
    let name = name.trim();
    let txn = begin_write(db).await?;
    // Locked before its studies, as every writer that locks both does (`setStudyMember`,
    // `quaderno token create`, imports): no role can be given to it from here on, and `FOR NO
    // KEY UPDATE` still lets rows naming it be written until the rename below.
    let user = app_user::Entity::find()
        .filter(app_user::Column::Name.eq(name))
        .filter(app_user::Column::RemovedAt.is_null())
        .lock(LockType::NoKeyUpdate)
        .one(&txn)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("user {name:?}")))?;
    // The entries this removal adds to the audit log name the account by its new name.
    let renamed = app_user::Model {
        name: removed_user_name(user.id),
        is_admin: false,
        removed_at: Some(Utc::now()),
        ..user.clone()
    };
    // No role can be given to the user any more (the lock above), but one may be taken, or
    // its study deleted, before its study is locked here: then there is nothing to take.
    let studies = member_studies(&txn, user.id).await?;
    let mut roles = Vec::with_capacity(studies.len());
    for study_id in studies {
        let taken = match lock_members(&txn, study_id).await {
            Ok(_) => take_role(&txn, &Caller::anonymous(), study_id, &renamed).await,
            Err(e) => Err(e),
        };
        match taken {
            Ok(role) => roles.push((study_id, role)),
            Err(ServiceError::NotFound(_)) => {}
            // The last owner's role, above all.
            Err(ServiceError::Conflict(why)) => {
                return Err(ServiceError::Conflict(format!("study {study_id}: {why}")))
            }
            Err(e) => return Err(e),
        }
    }
    let tokens_revoked = api_token::Entity::update_many()
        .col_expr(api_token::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(api_token::Column::UserId.eq(user.id))
        .filter(api_token::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected;
    crate::service::audit::record(
        &txn,
        &Caller::anonymous(),
        "removeUser",
        "user",
        user.id,
        None,
        json!({
            "before": {"admin": user.is_admin, "studies": roles.iter().map(|(s, _)| s).collect::<Vec<_>>()},
            "after": {"user": renamed.name, "tokensRevoked": tokens_revoked},
        }),
    )
    .await?;
    let mut active: app_user::ActiveModel = user.clone().into();
    active.name = Set(renamed.name.clone());
    active.is_admin = Set(false);
    active.removed_at = Set(renamed.removed_at);
    active.update(&txn).await?;
    txn.commit().await?;
    Ok(Removal {
        user_id: user.id,
        name: renamed.name,
        roles,
        tokens_revoked,
        was_admin: user.is_admin,
    })
}

/// The studies a user has a role in, by id.
async fn member_studies<C: ConnectionTrait>(txn: &C, user_id: i64) -> ServiceResult<Vec<i64>> {
    Ok(study_member::Entity::find()
        .select_only()
        .column(study_member::Column::StudyId)
        .filter(study_member::Column::UserId.eq(user_id))
        .order_by_asc(study_member::Column::StudyId)
        .into_tuple()
        .all(txn)
        .await?)
}

/// A user named as a filter (an evaluator's judgments): NOT_FOUND unless the user exists
/// and the caller may see them, so that a mistyped id is not read as "judged nothing".
pub async fn visible_user<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    user_id: i64,
) -> ServiceResult<i64> {
    let exists = app_user::Entity::find_by_id(user_id).count(db).await? > 0;
    if exists && is_visible(db, caller, user_id).await? {
        Ok(user_id)
    } else {
        Err(ServiceError::not_found(format!("user {user_id}")))
    }
}

/// Whether the caller may see a user by ID: themself, anyone for an admin, and otherwise a
/// member, memo author, evaluator or coder of a study the caller may read, or a writer in
/// the audit log of a study the caller owns (owners read that log).
pub async fn is_visible<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    user_id: i64,
) -> ServiceResult<bool> {
    if caller.is_admin() || caller.user_id() == Some(user_id) {
        return Ok(true);
    }
    let Some(readable) = readable_study_ids(db, caller).await? else {
        return Ok(true);
    };
    let member_of = study_member::Entity::find()
        .select_only()
        .column(study_member::Column::StudyId)
        .filter(study_member::Column::UserId.eq(user_id))
        .into_query();
    let wrote_memos_in = memo::Entity::find()
        .select_only()
        .column(memo::Column::StudyId)
        .filter(memo::Column::AuthorId.eq(user_id))
        .into_query();
    let judged = discontinuity::Entity::find()
        .select_only()
        .column(discontinuity::Column::CaseId)
        .filter(discontinuity::Column::EvaluatorId.eq(user_id))
        .into_query();
    let coded = interview::Entity::find()
        .select_only()
        .column(interview::Column::CaseId)
        .filter(
            interview::Column::Id.in_subquery(
                quotation::Entity::find()
                    .select_only()
                    .column(quotation::Column::InterviewId)
                    .filter(quotation::Column::CoderId.eq(user_id))
                    .into_query(),
            ),
        )
        .into_query();
    for studies in [
        member_of,
        wrote_memos_in,
        studies_of_cases(judged),
        studies_of_cases(coded),
    ] {
        if any_of(db, &readable, studies).await? {
            return Ok(true);
        }
    }
    let owned: Vec<i64> = caller.user.as_ref().map_or_else(Vec::new, |u| {
        u.roles
            .iter()
            .filter(|(_, role)| **role == StudyRole::Owner)
            .map(|(study, _)| *study)
            .collect()
    });
    if owned.is_empty() {
        return Ok(false);
    }
    // An entry names the user who wrote and, for a role granted, the user it went to.
    let logged = audit_log::Entity::find()
        .select_only()
        .column(audit_log::Column::Id)
        .filter(audit_log::Column::StudyId.is_in(owned))
        .filter(
            Condition::any()
                .add(audit_log::Column::UserId.eq(user_id))
                .add(
                    Condition::all()
                        .add(audit_log::Column::Entity.is_in(["user", "api_token"]))
                        .add(audit_log::Column::EntityId.eq(user_id)),
                ),
        )
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await?;
    Ok(logged.is_some())
}

/// The studies of the cases a one-column query gives.
fn studies_of_cases(case_ids: SelectStatement) -> SelectStatement {
    study_case::Entity::find()
        .select_only()
        .column(study_case::Column::StudyId)
        .filter(study_case::Column::Id.in_subquery(case_ids))
        .into_query()
}

/// Whether any study a one-column query gives is among `readable`.
async fn any_of<C: ConnectionTrait>(
    db: &C,
    readable: &[i64],
    studies: SelectStatement,
) -> ServiceResult<bool> {
    let found = study::Entity::find()
        .select_only()
        .column(study::Column::Id)
        .filter(study::Column::Id.in_subquery(studies))
        .filter(study::Column::Id.is_in(readable.iter().copied()))
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await?;
    Ok(found.is_some())
}
