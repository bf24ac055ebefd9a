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

use crate::auth::{Caller, StudyRole};
use crate::db::{begin_write, Writable};
use crate::error::{ServiceError, ServiceResult};
use crate::service::labels::{normalised, stored_label};
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
    let name = normalised(name);
    let name = name.as_str();
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

/// What a removed account is called from then on (`remove_user`). Names of
/// this form are refused to everyone else, so that no one takes a removed account's place.
pub fn removed_user_name(user_id: i64) -> String {
    format!("{REMOVED_USER_PREFIX}{user_id}")
}

const REMOVED_USER_PREFIX: &str = "removed user #";

/// Whether a name looks like a removed account's: in any case, with any white space (runs of
/// it read as one space), invisible characters left out, and compatibility forms ("removed
/// uſer #5", a no-break space) read as what they show.
fn is_reserved(name: &str) -> bool {
    use unicode_normalization::UnicodeNormalization as _;
    let visible: String = name
        .nfkc()
        .filter(|&c| c.is_whitespace() || !crate::service::labels::default_ignorable(c))
        .collect();
    let shown = visible.split_whitespace().collect::<Vec<_>>().join(" ");
    shown.to_lowercase().starts_with(REMOVED_USER_PREFIX)
}

/// Finds a user by name or creates it. The user found is locked against removal until the
/// transaction ends (`FOR SHARE`, which writers sharing a user do not wait on; SQLite
/// serialises writers anyway): a removal committed meanwhile renamed it, so the name then
/// makes a new account, and the caller never gives a token or a role to a removed one.
///
/// A name is stored as every label is (`labels::stored_label`: trimmed, NFC, something
/// visible, nothing an export cannot carry): "José" typed with a combining accent, or read
/// so from a project made on a Mac, is the account "José", not a second one.
pub async fn ensure_user<C: ConnectionTrait>(db: &C, name: &str) -> ServiceResult<app_user::Model> {
    let name = stored_label(name, "the user name")?;
    let name = name.as_str();
    if is_reserved(name) {
        return Err(ServiceError::bad_input(format!(
            "names beginning {REMOVED_USER_PREFIX:?} are kept for removed accounts"
        )));
    }
    if let Some(u) = app_user::Entity::find()
        .filter(app_user::Column::Name.eq(name))
        .lock_shared()
        .one(db)
        .await?
    {
        return Ok(u);
    }
    Ok(app_user::ActiveModel {
        name: Set(name.to_owned()),
        is_admin: Set(false),
        created_at: Set(Utc::now()),
        removed_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// The account a name in an imported project stands for: as `ensure_user`, except for the
/// name of a removed account (a project exported after the removal). That is the removed
/// account of that name where this database has one (the project comes back where it was
/// made), and otherwise a new removed account, so that the work keeps one author of its own
/// without anyone being able to sign in as it.
pub async fn ensure_author<C: ConnectionTrait>(
    db: &C,
    name: &str,
) -> ServiceResult<app_user::Model> {
    let name = normalised(name);
    let name = name.as_str();
    if !is_reserved(name) {
        return ensure_user(db, name).await;
    }
    if let Some(u) = app_user::Entity::find()
        .filter(app_user::Column::Name.eq(name))
        .filter(app_user::Column::RemovedAt.is_not_null())
        .one(db)
        .await?
    {
        return Ok(u);
    }
    let now = Utc::now();
    // Named after its own id, known once inserted; the secret makes the first name unique.
    let inserted = app_user::ActiveModel {
        name: Set(format!(
            "{REMOVED_USER_PREFIX}{}",
            crate::auth::new_secret()
        )),
        is_admin: Set(false),
        created_at: Set(now),
        removed_at: Set(Some(now)),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let mut active: app_user::ActiveModel = inserted.clone().into();
    active.name = Set(removed_user_name(inserted.id));
    Ok(active.update(db).await?)
}

/// Locks a user against removal until the transaction ends and checks it was not removed:
/// NOT_FOUND if it was. Taken before a role is given, so that a removal and a grant running
/// at once end with the role taken back or refused, never held by a removed account. Users
/// are locked before studies (`members::lock_members`), by every writer that locks both.
pub async fn lock_active_user<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
) -> ServiceResult<app_user::Model> {
    app_user::Entity::find_by_id(user_id)
        .lock_shared()
        .one(db)
        .await?
        .filter(|u| u.removed_at.is_none())
        .ok_or_else(|| ServiceError::not_found("user"))
}
