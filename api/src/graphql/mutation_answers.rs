//! Where a mutation's field writes and where it answers (`db::Answers`): the field itself is
//! resolved first, its write committed when its resolver returns; its answer is every field
//! below it. The executor resolves a mutation's fields one after another, each with its
//! answer, so the one seam between a write and its answer is the first field below it.
//!
//! Only the mutations' schema runs it (`build_mutation_schema_with`); a query's or a
//! subscription's `RequestDb` would ignore both switches anyway.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{ServerResult, Value};

use super::RequestCtx;

pub struct MutationAnswers;

impl ExtensionFactory for MutationAnswers {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(MutationAnswers)
    }
}

#[async_trait::async_trait]
impl Extension for MutationAnswers {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let Some(request) = ctx.data_opt::<RequestCtx>() else {
            return next.run(ctx, info).await;
        };
        if info.path_node.parent.is_some() {
            request.db.answering();
            return next.run(ctx, info).await;
        }
        // The previous field's answer is done: its snapshot ends before this field writes,
        // which must see it and may need its connection (a pool of one).
        request.db.writing();
        next.run(ctx, info).await
    }
}
