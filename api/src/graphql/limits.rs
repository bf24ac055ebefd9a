//! Limits on the shape of a query, checked once it is parsed (HTTP and WebSocket alike):
//! at most `MAX_ALIASES` aliased fields, and no field repeated more than `MAX_REPEATS`
//! times along one path (cyclic queries such as ambito → enti → ambiti → enti …); and no
//! mutation without a token. Depth and
//! complexity are bounded by the schema itself (`build_schema`).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{
    ExecutableDocument, FragmentDefinition, Selection, SelectionSet,
};
use async_graphql::{ErrorExtensionValues, Name, ServerError, ServerResult, Variables};

pub const MAX_ALIASES: usize = 50;
pub const MAX_REPEATS: usize = 3;
pub const MAX_DEPTH: usize = 16;
pub const MAX_COMPLEXITY: usize = 2_000;

/// Connection plumbing repeats legitimately at every level, and so does introspection's
/// `ofType` (GraphiQL's schema query nests it nine deep for `[[T!]!]!`-like types; it ends at
/// a named type, and the depth limit bounds it anyway).
const PLUMBING: &[&str] = &["edges", "node", "pageInfo", "__typename", "ofType"];

struct Walk<'a> {
    fragments: &'a HashMap<Name, async_graphql::Positioned<FragmentDefinition>>,
    aliases: usize,
}

impl Walk<'_> {
    fn visit(
        &mut self,
        set: &SelectionSet,
        path: &mut Vec<String>,
        fragments_seen: &mut Vec<Name>,
    ) -> Result<(), String> {
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => {
                    let f = &f.node;
                    if f.alias.is_some() {
                        self.aliases += 1;
                        if self.aliases > MAX_ALIASES {
                            return Err(format!(
                                "the query has more than {MAX_ALIASES} aliased fields"
                            ));
                        }
                    }
                    let name = f.name.node.to_string();
                    if !PLUMBING.contains(&name.as_str())
                        && path.iter().filter(|p| **p == name).count() >= MAX_REPEATS
                    {
                        return Err(format!(
                            "`{name}` is nested more than {MAX_REPEATS} times in one path: cyclic queries are refused"
                        ));
                    }
                    path.push(name);
                    self.visit(&f.selection_set.node, path, fragments_seen)?;
                    path.pop();
                }
                Selection::InlineFragment(i) => {
                    self.visit(&i.node.selection_set.node, path, fragments_seen)?
                }
                Selection::FragmentSpread(s) => {
                    let name = &s.node.fragment_name.node;
                    if fragments_seen.contains(name) {
                        return Err("fragments must not spread themselves".into());
                    }
                    if let Some(def) = self.fragments.get(name) {
                        fragments_seen.push(name.clone());
                        self.visit(&def.node.selection_set.node, path, fragments_seen)?;
                        fragments_seen.pop();
                    }
                }
            }
        }
        Ok(())
    }
}

pub fn check(doc: &ExecutableDocument) -> Result<(), String> {
    let mut walk = Walk {
        fragments: &doc.fragments,
        aliases: 0,
    };
    for (_, op) in doc.operations.iter() {
        walk.visit(
            &op.node.selection_set.node,
            &mut Vec::new(),
            &mut Vec::new(),
        )?;
    }
    Ok(())
}

pub struct QueryLimits;

impl ExtensionFactory for QueryLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(QueryLimits)
    }
}

#[async_trait::async_trait]
impl Extension for QueryLimits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        let refuse = |message: String, code: &str| {
            let mut e = ServerError::new(message, None);
            let mut ext = ErrorExtensionValues::default();
            ext.set("code", code);
            e.extensions = Some(ext);
            e
        };
        check(&doc).map_err(|m| refuse(m, "BAD_USER_INPUT"))?;
        // Every write needs a token: refuse anonymous mutations before anything runs.
        let mutation = doc
            .operations
            .iter()
            .any(|(_, op)| op.node.ty == async_graphql::parser::types::OperationType::Mutation);
        let anonymous = ctx
            .data_opt::<super::RequestCtx>()
            .is_none_or(|r| r.caller.user.is_none());
        if mutation && anonymous {
            return Err(refuse(
                "authentication required: send `Authorization: Bearer <token>`".into(),
                "UNAUTHENTICATED",
            ));
        }
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(q: &str) -> Result<(), String> {
        check(&async_graphql::parser::parse_query(q).unwrap())
    }

    #[test]
    fn cycles_and_alias_floods_are_refused_deep_connections_are_not() {
        let cyclic = format!(
            "{{ ambito(code: \"24\") {{ {}code{} }} }}",
            "enti { ambiti { ".repeat(6),
            " } }".repeat(6)
        );
        assert!(shape(&cyclic).is_err(), "{cyclic}");
        assert!(
            shape("{ ambito(code: \"24\") { enti { ambiti { enti { code: acronym } } } } }")
                .is_ok()
        );
        assert!(shape("{ studies { edges { node { cases { edges { node { interviews { edges { node { quotations { edges { node { codes { parent { name } } } } } } } } } } } } } } }").is_ok());
        let many: String = (0..60).map(|n| format!("a{n}: me {{ id }} ")).collect();
        assert!(shape(&format!("{{ {many} }}")).is_err());
        assert!(
            shape("query { ...F } fragment F on Query { ...G } fragment G on Query { ...F }")
                .is_err()
        );
    }
}
