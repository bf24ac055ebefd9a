//! The codebook: hierarchical codes per study.

use async_graphql::{Context, InputObject, MaybeUndefined, Object, ID};
use entities::code;

use super::ids::{decode, encode, Kind};
use super::live::ChangeKind;
use super::loaders::{codebook, one};
use super::{patch, rc, RequestCtx};
use crate::service::codes as service;

#[derive(Clone)]
pub struct Code(pub code::Model);

#[Object]
impl Code {
    /// Notes on this, newest last.
    async fn memos(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<super::memos::Memo>> {
        super::memos::memos_of(ctx, crate::service::memos::Target::Code(self.0.id)).await
    }
    pub async fn id(&self) -> ID {
        encode(Kind::Code, self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// #RRGGBB
    async fn color(&self) -> Option<&str> {
        self.0.color.as_deref()
    }
    /// Moves on with every change of the code's name, colour, description or parent: send
    /// it back with `updateCode` so that another's change in between is a CONFLICT.
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn parent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Code>> {
        let Some(p) = self.0.parent_id else {
            return Ok(None);
        };
        Ok(one(&rc(ctx).loaders.code, p).await?.map(Code))
    }
    async fn children(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Code>> {
        let book = codebook(&rc(ctx).loaders.codebook, self.0.study_id).await?;
        Ok(book.children(self.0.id).cloned().map(Code).collect())
    }
    /// Names from the root, joined by "/".
    async fn path(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        let book = codebook(&rc(ctx).loaders.codebook, self.0.study_id).await?;
        Ok(book.path(self.0.id))
    }
    async fn quotation_count(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(true)")] include_descendants: Option<bool>,
    ) -> async_graphql::Result<i64> {
        Ok(rc(ctx)
            .loaders
            .quotation_counts
            .load_one((self.0.id, include_descendants.unwrap_or(true)))
            .await?
            .unwrap_or(0))
    }
}

#[derive(InputObject)]
pub struct CreateCodeInput {
    pub study_id: ID,
    pub name: String,
    pub parent_id: Option<ID>,
    pub description: Option<String>,
    pub color: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateCodeInput {
    pub id: ID,
    pub name: Option<String>,
    /// #RRGGBB; null clears it.
    pub color: MaybeUndefined<String>,
    pub description: MaybeUndefined<String>,
    /// Moves the code under another of its study (never under itself or its descendants);
    /// null moves it to the root.
    pub parent_id: MaybeUndefined<ID>,
    /// The version the change is made to: CONFLICT if the code has changed since (left
    /// out, the change applies to the code as it is).
    pub version: Option<i32>,
}

#[derive(Default)]
pub struct CodeMutation;

#[Object]
impl CodeMutation {
    async fn create_code(
        &self,
        ctx: &Context<'_>,
        input: CreateCodeInput,
    ) -> async_graphql::Result<Code> {
        let r = rc(ctx);
        let c = service::create_code(
            &r.db,
            &r.caller,
            service::NewCode {
                study_id: decode(&input.study_id, Kind::Study)?,
                name: input.name,
                parent_id: input
                    .parent_id
                    .as_ref()
                    .map(|p| decode(p, Kind::Code))
                    .transpose()?,
                description: input.description,
                color: input.color,
            },
        )
        .await?;
        Ok(Code(c))
    }

    /// Renames, recolours, describes or moves a code.
    async fn update_code(
        &self,
        ctx: &Context<'_>,
        input: UpdateCodeInput,
    ) -> async_graphql::Result<Code> {
        let r = rc(ctx);
        let c = service::update_code(
            &r.db,
            &r.caller,
            service::CodeUpdate {
                id: decode(&input.id, Kind::Code)?,
                name: input.name,
                color: patch(input.color),
                description: patch(input.description),
                parent_id: patch(input.parent_id)
                    .map(|p| p.map(|id| decode(&id, Kind::Code)).transpose())
                    .transpose()?,
                version: input.version,
            },
        )
        .await?;
        r.searchable().await;
        Ok(Code(refiled(r, c)))
    }

    /// Merges one code into another: its quotations and children move to the target (a
    /// quotation carrying both keeps one); returns the target.
    async fn merge_codes(
        &self,
        ctx: &Context<'_>,
        source_id: ID,
        target_id: ID,
    ) -> async_graphql::Result<Code> {
        let r = rc(ctx);
        let c = service::merge_codes(
            &r.db,
            &r.caller,
            decode(&source_id, Kind::Code)?,
            decode(&target_id, Kind::Code)?,
        )
        .await?;
        r.searchable().await;
        Ok(Code(refiled(r, c)))
    }

    /// Deletes an unused code with its (unused) descendants; CONFLICT while in use.
    async fn delete_code(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let r = rc(ctx);
        service::delete_code(&r.db, &r.caller, decode(&id, Kind::Code)?).await?;
        Ok(id)
    }
}

/// Tells live subscribers of the quotations a code change touched (UPDATED: their codes, or
/// where those codes sit or what they are called, changed), and gives back the code.
fn refiled(r: &RequestCtx, change: service::CodeChange) -> code::Model {
    let changes: Vec<_> = change
        .quotations
        .iter()
        .map(|&q| (ChangeKind::Updated, q))
        .collect();
    r.events.publish_all(change.code.study_id, &changes);
    change.code
}
