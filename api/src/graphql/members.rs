//! The members of a study and their roles: listed to whoever may read the study, changed by
//! its owners and instance admins.

use async_graphql::{Context, Enum, Object, ID};
use entities::{app_user, study_member};

use super::ids::{decode, encode, Kind};
use super::loaders::{all, one};
use super::rc;
use super::users::User;
use crate::auth;
use crate::service::members as service;

/// A user's role in one study (see SECURITY.md, Roles).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::auth::StudyRole")]
pub enum StudyRole {
    /// Everything, members and the audit log included.
    Owner,
    /// Reads and codes (interviews, codes, quotations); changes and deletes their own
    /// quotations and memos.
    Analyst,
    /// Reads and judges discontinuities; writes their own memos.
    Evaluator,
    /// Reads.
    Viewer,
}

pub struct StudyMember {
    user_id: i64,
    /// Known already when a mutation answers; loaded (in one batch) when a list does.
    user: Option<app_user::Model>,
    role: auth::StudyRole,
}

impl StudyMember {
    fn listed(row: study_member::Model) -> Option<Self> {
        Some(Self {
            user_id: row.user_id,
            user: None,
            role: auth::StudyRole::parse(&row.role)?,
        })
    }
}

/// One member of a study: a user and their role there.
#[Object]
impl StudyMember {
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        if let Some(u) = &self.user {
            return Ok(User(u.clone()));
        }
        one(&rc(ctx).loaders.user, self.user_id)
            .await?
            .map(User)
            .ok_or_else(|| super::error::not_found("user"))
    }
    async fn role(&self) -> StudyRole {
        self.role.into()
    }
}

/// `Study.members`: a study's members, in the order their accounts were made. The caller may
/// read the study (it was reached), so its members are theirs to see.
pub async fn members_of(
    ctx: &Context<'_>,
    study_id: i64,
) -> async_graphql::Result<Vec<StudyMember>> {
    let rows = all(&rc(ctx).loaders.members_of_study, study_id).await?;
    Ok(rows.into_iter().filter_map(StudyMember::listed).collect())
}

#[derive(Default)]
pub struct MemberMutation;

#[Object]
impl MemberMutation {
    /// Gives an existing user a role in a study, replacing any earlier one (owners of the
    /// study and instance admins). Accounts are made with `quaderno token create`. A study
    /// keeps at least one OWNER: demoting the last one is a CONFLICT. Takes effect at the
    /// user's next request (and next event of their subscriptions).
    async fn set_study_member(
        &self,
        ctx: &Context<'_>,
        study_id: ID,
        user_name: String,
        role: StudyRole,
    ) -> async_graphql::Result<StudyMember> {
        let r = rc(ctx);
        let role: auth::StudyRole = role.into();
        let user = service::set_member(
            &r.db,
            &r.caller,
            decode(&study_id, Kind::Study)?,
            &user_name,
            role,
        )
        .await?;
        Ok(StudyMember {
            user_id: user.id,
            user: Some(user),
            role,
        })
    }

    /// Takes a member's role in a study away (owners of the study and instance admins);
    /// returns the user's ID. Removing the last OWNER is a CONFLICT. Their next request no
    /// longer reads a private study, and their subscriptions to it end with FORBIDDEN.
    async fn remove_study_member(
        &self,
        ctx: &Context<'_>,
        study_id: ID,
        user_id: ID,
    ) -> async_graphql::Result<ID> {
        let r = rc(ctx);
        let user = decode(&user_id, Kind::User)?;
        service::remove_member(&r.db, &r.caller, decode(&study_id, Kind::Study)?, user).await?;
        Ok(encode(Kind::User, user))
    }
}
