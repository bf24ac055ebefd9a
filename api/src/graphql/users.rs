//! Users, and `me`.

use async_graphql::{Context, Object, ID};
use entities::app_user;

use super::ids::{encode, Kind};
use super::loaders::one;
use super::rc;
use super::scalars::DateTime;

#[derive(Clone)]
pub struct User(pub app_user::Model);

#[Object]
impl User {
    pub async fn id(&self) -> ID {
        encode(Kind::User, self.0.id)
    }
    /// `removed user #N` once the account is removed.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// When the account was removed (`quaderno user remove`); null while it is in use. What
    /// it wrote stays attributed to it.
    async fn removed_at(&self) -> Option<DateTime> {
        self.0.removed_at.map(DateTime)
    }
}

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// The caller, or null without a token.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let r = rc(ctx);
        let Some(id) = r.caller.user_id() else {
            return Ok(None);
        };
        Ok(one(&r.loaders.user, id).await?.map(User))
    }
}
