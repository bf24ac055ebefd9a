//! Memos on studies, cases, interviews, codes and quotations.

use async_graphql::{Context, InputObject, Object, ID};
use entities::memo;

use super::error::bad_input;
use super::ids::{decode, decode_any, encode, Kind};
use super::loaders::{all, one};
use super::rc;
use super::scalars::DateTime;
use super::users::User;
use crate::service::memos::{self as service, Target};

#[derive(Clone)]
pub struct Memo(pub memo::Model);

#[Object]
impl Memo {
    pub async fn id(&self) -> ID {
        encode(Kind::Memo, self.0.id)
    }
    async fn text(&self) -> &str {
        &self.0.text
    }
    async fn author(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(id) = self.0.author_id else {
            return Ok(None);
        };
        Ok(one(&rc(ctx).loaders.user, id).await?.map(User))
    }
    /// The global ID of what the memo is about.
    async fn target_id(&self) -> ID {
        // Every memo's kind is one of `service::memos::Target`'s; an unknown one is shown as
        // it is, never as a quotation's ID.
        match Kind::of_entity(&self.0.target_kind) {
            Some(kind) => encode(kind, self.0.target_id),
            None => ID(format!("{}:{}", self.0.target_kind, self.0.target_id)),
        }
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
}

/// The memos of a target, through the per-request loader.
pub async fn memos_of(ctx: &Context<'_>, target: Target) -> async_graphql::Result<Vec<Memo>> {
    let rows = all(&rc(ctx).loaders.memos_of, target).await?;
    Ok(rows.into_iter().map(Memo).collect())
}

#[derive(InputObject)]
pub struct CreateMemoInput {
    /// A study, case, interview, code or quotation.
    pub target_id: ID,
    pub text: String,
}

#[derive(InputObject)]
pub struct UpdateMemoInput {
    pub id: ID,
    pub version: i32,
    pub text: String,
}

#[derive(Default)]
pub struct MemoMutation;

#[Object]
impl MemoMutation {
    async fn create_memo(
        &self,
        ctx: &Context<'_>,
        input: CreateMemoInput,
    ) -> async_graphql::Result<Memo> {
        let target = match decode_any(&input.target_id) {
            Some((Kind::Study, id)) => Target::Study(id),
            Some((Kind::Case, id)) => Target::Case(id),
            Some((Kind::Interview, id)) => Target::Interview(id),
            Some((Kind::Code, id)) => Target::Code(id),
            Some((Kind::Quotation, id)) => Target::Quotation(id),
            _ => {
                return Err(bad_input(
                    "memos go on studies, cases, interviews, codes and quotations",
                ))
            }
        };
        let r = rc(ctx);
        Ok(Memo(
            service::create_memo(&r.db, &r.caller, target, &input.text).await?,
        ))
    }

    /// Authors edit their memos; study owners edit any.
    async fn update_memo(
        &self,
        ctx: &Context<'_>,
        input: UpdateMemoInput,
    ) -> async_graphql::Result<Memo> {
        let r = rc(ctx);
        let id = decode(&input.id, Kind::Memo)?;
        Ok(Memo(
            service::update_memo(&r.db, &r.caller, id, input.version, &input.text).await?,
        ))
    }

    async fn delete_memo(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
    ) -> async_graphql::Result<ID> {
        let r = rc(ctx);
        service::delete_memo(&r.db, &r.caller, decode(&id, Kind::Memo)?, version).await?;
        Ok(id)
    }
}
