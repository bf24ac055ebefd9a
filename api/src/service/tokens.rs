//! API tokens as `quaderno token` makes, lists and revokes them. A token stands for a user;
//! only its hash is kept (`auth::hash_token`), and it is looked up on every request
//! (`auth::caller_from_token`), so a revoked one stops working at once.

use std::collections::HashMap;

use chrono::Utc;
use entities::{api_token, app_user};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set};

use crate::auth::{hash_token, new_secret, Caller, StudyRole};
use crate::error::{ServiceError, ServiceResult};
use crate::service::users::ensure_user;

/// `quaderno token create`: makes the user if needed, grants the role, returns the secret
/// (shown once; only its hash is kept).
pub async fn create_token_for(
    db: &impl crate::db::Writable,
    user_name: &str,
    role: &str,
    study_id: Option<i64>,
    expires_in: Option<chrono::Duration>,
) -> ServiceResult<String> {
    let admin = role.eq_ignore_ascii_case("admin");
    // Admin is a role over every study: a study given with it would be ignored, and the
    // audit row would name it as if the role were granted there.
    if admin && study_id.is_some() {
        return Err(ServiceError::bad_input(
            "the admin role is not given in a study: leave out --study",
        ));
    }
    let txn = crate::db::begin_write(db).await?;
    // The user before the study, in the order `setStudyMember` and a removal lock them.
    let user = ensure_user(&txn, user_name).await?;
    if admin {
        let mut active: app_user::ActiveModel = user.clone().into();
        active.is_admin = Set(true);
        active.update(&txn).await?;
    } else {
        let role = StudyRole::parse(role).ok_or_else(|| {
            ServiceError::bad_input(format!(
                "unknown role {role:?}: use admin, owner, analyst, evaluator or viewer"
            ))
        })?;
        let study_id =
            study_id.ok_or_else(|| ServiceError::bad_input("a study role needs --study"))?;
        // Locked and checked as `setStudyMember` does: a study keeps at least one owner, so
        // a weaker token for its last owner is refused.
        crate::service::members::lock_members(&txn, study_id).await?;
        crate::service::members::put_role(&txn, study_id, user.id, role).await?;
    }
    let secret = new_secret();
    api_token::ActiveModel {
        user_id: Set(user.id),
        token_hash: Set(hash_token(&secret)),
        label: Set(None),
        created_at: Set(Utc::now()),
        expires_at: Set(expires_in.map(|d| Utc::now() + d)),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    crate::service::audit::record(
        &txn,
        &Caller::anonymous(),
        "createToken",
        // What the study sees written is the user's role in it.
        "user",
        user.id,
        study_id,
        serde_json::json!({"after": {"user": user.name, "role": role}}),
    )
    .await?;
    txn.commit().await?;
    Ok(secret)
}

/// A token as `quaderno token list` shows it (never its secret).
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub id: i64,
    pub user: String,
    pub admin: bool,
    pub created_at: chrono::DateTime<Utc>,
    pub expires_at: Option<chrono::DateTime<Utc>>,
    pub revoked_at: Option<chrono::DateTime<Utc>>,
}

pub async fn list_tokens(db: &DatabaseConnection) -> ServiceResult<Vec<TokenInfo>> {
    let users: HashMap<i64, app_user::Model> = app_user::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    Ok(api_token::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|t| TokenInfo {
            id: t.id,
            user: users
                .get(&t.user_id)
                .map_or_else(String::new, |u| u.name.clone()),
            admin: users.get(&t.user_id).is_some_and(|u| u.is_admin),
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
        })
        .collect())
}

/// Revokes a token: it stops working at once; the row stays for the record.
pub async fn revoke_token(db: &impl crate::db::Writable, id: i64) -> ServiceResult<()> {
    let txn = crate::db::begin_write(db).await?;
    let token = api_token::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("token {id}")))?;
    if token.revoked_at.is_none() {
        let mut a: api_token::ActiveModel = token.clone().into();
        a.revoked_at = Set(Some(Utc::now()));
        a.update(&txn).await?;
        crate::service::audit::record(
            &txn,
            &Caller::anonymous(),
            "revokeToken",
            "user",
            token.user_id,
            None,
            serde_json::json!({"token": id}),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(())
}
