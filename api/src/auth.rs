//! Who is calling: API tokens (random, stored hashed) and the roles they carry.

use std::collections::HashMap;

use base64::Engine as _;
use chrono::Utc;
use entities::{api_token, app_user, study_member};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    FromQueryResult, JoinType, QueryFilter, QuerySelect, RelationTrait, Set,
};
use sha2::{Digest, Sha256};

use crate::error::{ServiceError, ServiceResult};

/// A role within one study, from most to least powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StudyRole {
    Owner,
    Analyst,
    Evaluator,
    Viewer,
}

impl StudyRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "OWNER",
            Self::Analyst => "ANALYST",
            Self::Evaluator => "EVALUATOR",
            Self::Viewer => "VIEWER",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "OWNER" => Some(Self::Owner),
            "ANALYST" => Some(Self::Analyst),
            "EVALUATOR" => Some(Self::Evaluator),
            "VIEWER" => Some(Self::Viewer),
            _ => None,
        }
    }
}

/// What a study-level operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    /// Interviews, codes, quotations.
    Code,
    /// The caller's own discontinuity judgments.
    Evaluate,
    /// Memos (everyone but viewers).
    Annotate,
    /// Cases, interventions, consensus judgments, membership.
    Own,
}

impl StudyRole {
    fn grants(self, p: Permission) -> bool {
        match p {
            Permission::Read => true,
            Permission::Code => matches!(self, Self::Owner | Self::Analyst),
            Permission::Evaluate => matches!(self, Self::Owner | Self::Evaluator),
            Permission::Annotate => self != Self::Viewer,
            Permission::Own => self == Self::Owner,
        }
    }
}

/// The caller of one request, resolved once from the Bearer token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    pub user: Option<CallerUser>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerUser {
    pub id: i64,
    pub name: String,
    pub is_admin: bool,
    pub roles: HashMap<i64, StudyRole>,
}

impl Caller {
    pub fn anonymous() -> Self {
        Self::default()
    }

    pub fn user_id(&self) -> Option<i64> {
        self.user.as_ref().map(|u| u.id)
    }

    pub fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.is_admin)
    }

    pub fn require_user(&self) -> ServiceResult<&CallerUser> {
        self.user.as_ref().ok_or(ServiceError::Unauthenticated)
    }

    pub fn role_in(&self, study_id: i64) -> Option<StudyRole> {
        self.user.as_ref()?.roles.get(&study_id).copied()
    }

    /// Whether the caller may read a study (public studies are readable by anyone).
    pub fn can_read(&self, study_id: i64, study_is_public: bool) -> bool {
        study_is_public || self.is_admin() || self.role_in(study_id).is_some()
    }

    /// Checks a write permission on a study. Callers who cannot even read the study get
    /// NOT_FOUND, so that private studies do not reveal that they exist.
    pub fn authorize(
        &self,
        study_id: i64,
        study_is_public: bool,
        permission: Permission,
    ) -> ServiceResult<()> {
        let user = self.require_user()?;
        if user.is_admin {
            return Ok(());
        }
        match user.roles.get(&study_id) {
            Some(role) if role.grants(permission) => Ok(()),
            Some(_) => Err(ServiceError::Forbidden(format!(
                "your role in this study does not allow this ({permission:?})"
            ))),
            None if study_is_public => Err(ServiceError::Forbidden(
                "you are not a member of this study".into(),
            )),
            None => Err(ServiceError::not_found("study")),
        }
    }
}

/// SHA-256 of the secret, hex-encoded: what the database stores.
pub fn hash_token(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn new_secret() -> String {
    let mut bytes = [0u8; 32]; // 256 bits
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "qdn_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// One row per role of the token's user (one row with no study when it has none).
#[derive(FromQueryResult)]
struct TokenGrant {
    user_id: i64,
    name: String,
    is_admin: bool,
    expires_at: Option<chrono::DateTime<Utc>>,
    revoked_at: Option<chrono::DateTime<Utc>>,
    study_id: Option<i64>,
    role: Option<String>,
}

/// Resolves a Bearer secret to a caller. Unknown, revoked or expired tokens are refused.
///
/// Every request starts here, so token, user and roles come in one statement.
pub async fn caller_from_token(db: &DatabaseConnection, secret: &str) -> ServiceResult<Caller> {
    let grants = api_token::Entity::find()
        .select_only()
        .column(api_token::Column::UserId)
        .column(api_token::Column::ExpiresAt)
        .column(api_token::Column::RevokedAt)
        .column(app_user::Column::Name)
        .column(app_user::Column::IsAdmin)
        .column(study_member::Column::StudyId)
        .column(study_member::Column::Role)
        .join(JoinType::InnerJoin, api_token::Relation::AppUser.def())
        .join(
            JoinType::LeftJoin,
            study_member::Relation::AppUser.def().rev(),
        )
        .filter(api_token::Column::TokenHash.eq(hash_token(secret)))
        .into_model::<TokenGrant>()
        .all(db)
        .await?;
    let Some(first) = grants.first() else {
        return Err(ServiceError::Unauthenticated);
    };
    let now = Utc::now();
    if first.revoked_at.is_some() || first.expires_at.is_some_and(|t| t <= now) {
        return Err(ServiceError::Unauthenticated);
    }
    let roles = grants
        .iter()
        .filter_map(|g| {
            let role = StudyRole::parse(g.role.as_deref()?)?;
            Some((g.study_id?, role))
        })
        .collect();
    Ok(Caller {
        user: Some(CallerUser {
            id: first.user_id,
            name: first.name.clone(),
            is_admin: first.is_admin,
            roles,
        }),
    })
}

/// Finds a user by name or creates it.
pub async fn ensure_user<C: ConnectionTrait>(db: &C, name: &str) -> ServiceResult<app_user::Model> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ServiceError::bad_input("user name must not be empty"));
    }
    if let Some(u) = app_user::Entity::find()
        .filter(app_user::Column::Name.eq(name))
        .one(db)
        .await?
    {
        return Ok(u);
    }
    Ok(app_user::ActiveModel {
        name: Set(name.to_owned()),
        is_admin: Set(false),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Gives a user a role in a study (replacing any earlier role there).
pub async fn grant_role<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    study_id: i64,
    role: StudyRole,
) -> ServiceResult<()> {
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
