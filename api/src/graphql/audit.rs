//! The audit log of a study, for its owners and instance admins, and the instance-wide
//! entries (no study), for instance admins.

use async_graphql::{Context, Object, ID};
use entities::audit_log;

use super::ids::{decode, encode, Kind};
use super::loaders::one;
use super::scalars::DateTime;
use super::users::User;
use super::{connection, page_request, rc, Conn};
use crate::service::audit as service;

pub struct AuditEntry(audit_log::Model);

#[Object]
impl AuditEntry {
    async fn at(&self) -> DateTime {
        DateTime(self.0.at)
    }
    /// Who wrote (null for the command line).
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(id) = self.0.user_id else {
            return Ok(None);
        };
        Ok(one(&rc(ctx).loaders.user, id).await?.map(User))
    }
    /// The mutation, e.g. "updateQuotation".
    async fn operation(&self) -> &str {
        &self.0.operation
    }
    /// The kind of entity written, e.g. "quotation".
    async fn entity(&self) -> &str {
        &self.0.entity
    }
    /// The written entity's global ID (it may no longer exist).
    async fn entity_id(&self) -> ID {
        let kind = match self.0.entity.as_str() {
            // Older rows name tokens by their user (`api_token`); any other entity keeps its
            // own name, so that no ID ever points at an unrelated row.
            "api_token" => Kind::User,
            other => match Kind::of_entity(other) {
                Some(kind) => kind,
                None => return ID(format!("{other}:{}", self.0.entity_id)),
            },
        };
        encode(kind, self.0.entity_id)
    }
    /// What changed, as JSON (`{"before": …, "after": …}`).
    async fn summary(&self) -> &str {
        &self.0.summary
    }
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// Every write to a study, oldest first (owners and admins).
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        study_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<AuditEntry>> {
        let r = rc(ctx);
        let page = service::list(
            &r.db,
            &r.caller,
            decode(&study_id, Kind::Study)?,
            page_request(first, after)?,
        )
        .await?;
        Ok(connection(page, |m| m.id, AuditEntry))
    }

    /// Instance-wide writes, which belong to no study, oldest first (admins): tokens created
    /// for admins, tokens revoked, admin rights revoked.
    async fn instance_audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<AuditEntry>> {
        let r = rc(ctx);
        let page = service::list_instance(&r.db, &r.caller, page_request(first, after)?).await?;
        Ok(connection(page, |m| m.id, AuditEntry))
    }
}
