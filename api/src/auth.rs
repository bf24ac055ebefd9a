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

impl Permission {
    /// Who holds it, as a refusal says.
    fn granted_to(self) -> &'static str {
        match self {
            Self::Read => "members",
            Self::Code => "owners and analysts",
            Self::Evaluate => "owners and evaluators",
            Self::Annotate => "owners, analysts and evaluators",
            Self::Own => "owners",
        }
    }
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
            Some(role) => Err(ServiceError::Forbidden(format!(
                "only {} of this study may do this; your role in it is {}",
                permission.granted_to(),
                role.as_str().to_lowercase()
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

/// What a removed account is called from then on (`service::users::remove_user`). Names of
/// this form are refused to everyone else, so that no one takes a removed account's place.
pub fn removed_user_name(user_id: i64) -> String {
    format!("{REMOVED_USER_PREFIX}{user_id}")
}

const REMOVED_USER_PREFIX: &str = "removed user #";

/// Whether a name looks like a removed account's, in any case.
fn is_reserved(name: &str) -> bool {
    name.to_lowercase().starts_with(REMOVED_USER_PREFIX)
}

/// Finds a user by name or creates it. The user found is locked against removal until the
/// transaction ends (`FOR SHARE`, which writers sharing a user do not wait on; SQLite
/// serialises writers anyway): a removal committed meanwhile renamed it, so the name then
/// makes a new account, and the caller never gives a token or a role to a removed one.
pub async fn ensure_user<C: ConnectionTrait>(db: &C, name: &str) -> ServiceResult<app_user::Model> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ServiceError::bad_input("user name must not be empty"));
    }
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
    let name = name.trim();
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
        name: Set(format!("{REMOVED_USER_PREFIX}{}", new_secret())),
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
