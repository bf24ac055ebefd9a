//! Who is calling: API tokens (random, stored hashed) and the roles they carry. Accounts,
//! roles and tokens are written by `service::users`, `service::members` and
//! `service::tokens`.

use std::collections::HashMap;

use base64::Engine as _;
use chrono::Utc;
use entities::{api_token, app_user, study_member};
use rand::RngCore;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, FromQueryResult, JoinType, QueryFilter,
    QuerySelect, RelationTrait,
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

/// A new token secret: 256 random bits, in a form that says what it is.
pub(crate) fn new_secret() -> String {
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
