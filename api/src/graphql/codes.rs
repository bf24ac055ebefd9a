//! The codebook: hierarchical codes per study.

use async_graphql::{Context, InputObject, Object, ID};
use entities::code;

use super::ids::{decode, encode, Kind};
use super::loaders::{all, one};
use super::rc;
use crate::service::codes as service;

#[derive(Clone)]
pub struct Code(pub code::Model);

#[Object]
impl Code {
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
    async fn parent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Code>> {
        let Some(p) = self.0.parent_id else {
            return Ok(None);
        };
        Ok(one(&rc(ctx).loaders.code, p).await?.map(Code))
    }
    async fn children(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Code>> {
        let rows = all(&rc(ctx).loaders.codes_of_study, self.0.study_id).await?;
        Ok(rows
            .into_iter()
            .filter(|c| c.parent_id == Some(self.0.id))
            .map(Code)
            .collect())
    }
    /// Names from the root, joined by "/".
    async fn path(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        let rows = all(&rc(ctx).loaders.codes_of_study, self.0.study_id).await?;
        Ok(code_path(&self.0, &rows))
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

/// Names from the root to `code`, joined by "/", given all codes of its study.
pub fn code_path(code: &code::Model, study_codes: &[code::Model]) -> String {
    let mut names = vec![code.name.clone()];
    let mut parent = code.parent_id;
    // The length guard bounds the walk even if the tree were corrupt.
    while let Some(p) = parent.filter(|_| names.len() <= study_codes.len()) {
        let Some(c) = study_codes.iter().find(|c| c.id == p) else {
            break;
        };
        names.push(c.name.clone());
        parent = c.parent_id;
    }
    names.reverse();
    names.join("/")
}

#[derive(InputObject)]
pub struct CreateCodeInput {
    pub study_id: ID,
    pub name: String,
    pub parent_id: Option<ID>,
    pub description: Option<String>,
    pub color: Option<String>,
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
}
