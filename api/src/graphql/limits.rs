//! Limits on the shape of a query, checked at the edge once it is parsed (HTTP and WebSocket
//! alike): at most `MAX_ALIASES` aliased fields, and no field repeated more than
//! `MAX_REPEATS` times along one path (cyclic queries such as ambito → enti → ambiti → enti
//! …); nesting and size with fragments expanded (`MAX_RECURSIVE_DEPTH`,
//! `MAX_EXPANDED_SELECTIONS`); and no mutation without a token. Field depth and complexity
//! are bounded by the schema itself (`build_schema`).
//!
//! The checks run before the executor rather than as an async-graphql extension: with any
//! extension installed the executor wraps every field of every object in the extension
//! chain, which cost 0.10–0.18 ms of a 0.7–0.8 ms search for 20 hits.

use std::collections::HashMap;

use async_graphql::parser::types::{
    ExecutableDocument, FragmentDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::{ErrorExtensionValues, Name, Request, ServerError, Value};

use crate::auth::Caller;

pub const MAX_ALIASES: usize = 50;
pub const MAX_REPEATS: usize = 3;
pub const MAX_DEPTH: usize = 16;
pub const MAX_COMPLEXITY: usize = 2_000;
/// Nesting with fragments expanded, counted as async-graphql counts it. The schema enforces
/// it too, but only after these checks, whose walk follows fragment spreads: a chain of
/// thousands of fragments would otherwise recurse here until the stack overflows.
pub const MAX_RECURSIVE_DEPTH: usize = 32;
/// Selections (fields, spreads, inline fragments) visited with fragments expanded: a
/// fragment spread twice, spreading one spread twice, and so on, doubles the walk at every
/// level.
pub const MAX_EXPANDED_SELECTIONS: usize = 20_000;

/// Connection plumbing repeats legitimately at every level, and so does introspection's
/// `ofType` (GraphiQL's schema query nests it nine deep for `[[T!]!]!`-like types; it ends at
/// a named type, and the depth limit bounds it anyway).
const PLUMBING: &[&str] = &["edges", "node", "pageInfo", "__typename", "ofType"];

struct Walk<'a> {
    fragments: &'a HashMap<Name, async_graphql::Positioned<FragmentDefinition>>,
    aliases: usize,
    selections: usize,
}

impl Walk<'_> {
    fn visit(
        &mut self,
        set: &SelectionSet,
        depth: usize,
        path: &mut Vec<String>,
        fragments_seen: &mut Vec<Name>,
    ) -> Result<(), String> {
        if depth > MAX_RECURSIVE_DEPTH {
            return Err(format!(
                "the query nests deeper than {MAX_RECURSIVE_DEPTH} levels (fragments included)"
            ));
        }
        for item in &set.items {
            self.selections += 1;
            if self.selections > MAX_EXPANDED_SELECTIONS {
                return Err(format!(
                    "the query has more than {MAX_EXPANDED_SELECTIONS} selections once its fragments are expanded"
                ));
            }
            match &item.node {
                Selection::Field(f) => {
                    let f = &f.node;
                    // Variables stand in as null here: their values are checked apart.
                    if f.arguments.iter().any(|(_, v)| {
                        v.node
                            .clone()
                            .into_const_with(|_| Ok::<_, std::convert::Infallible>(Value::Null))
                            .is_ok_and(|v| holds_nul(&v))
                    }) {
                        return Err(NUL_REFUSED.into());
                    }
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
                    if !f.selection_set.node.items.is_empty() {
                        path.push(name);
                        self.visit(&f.selection_set.node, depth + 1, path, fragments_seen)?;
                        path.pop();
                    }
                }
                Selection::InlineFragment(i) => {
                    self.visit(&i.node.selection_set.node, depth + 1, path, fragments_seen)?
                }
                Selection::FragmentSpread(s) => {
                    let name = &s.node.fragment_name.node;
                    if fragments_seen.contains(name) {
                        return Err("fragments must not spread themselves".into());
                    }
                    if let Some(def) = self.fragments.get(name) {
                        fragments_seen.push(name.clone());
                        self.visit(
                            &def.node.selection_set.node,
                            depth + 1,
                            path,
                            fragments_seen,
                        )?;
                        fragments_seen.pop();
                    }
                }
            }
        }
        Ok(())
    }
}

/// No database keeps U+0000 in text (PostgreSQL refuses it, SQLite cuts strings there), and
/// no transcript, label or memo needs it: such input is refused whole, in one place, rather
/// than failing as a database error wherever it is written.
const NUL_REFUSED: &str = "text must not contain NUL (U+0000) characters";

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::List(items) => items.iter().any(holds_nul),
        Value::Object(fields) => fields.values().any(holds_nul),
        _ => false,
    }
}

pub fn check(doc: &ExecutableDocument) -> Result<(), String> {
    let mut walk = Walk {
        fragments: &doc.fragments,
        aliases: 0,
        selections: 0,
    };
    for (_, op) in doc.operations.iter() {
        walk.visit(
            &op.node.selection_set.node,
            0,
            &mut Vec::new(),
            &mut Vec::new(),
        )?;
    }
    Ok(())
}

/// Checks a request before it runs. The document parsed here stays in the request, and the
/// executor reuses it; a query that does not parse is left to the executor to report.
pub fn check_request(request: &mut Request, caller: &Caller) -> Result<(), ServerError> {
    let refuse = |message: String, code: &str| {
        let mut e = ServerError::new(message, None);
        let mut ext = ErrorExtensionValues::default();
        ext.set("code", code);
        e.extensions = Some(ext);
        e
    };
    if request.variables.values().any(holds_nul) {
        return Err(refuse(NUL_REFUSED.into(), "BAD_USER_INPUT"));
    }
    let Ok(doc) = request.parsed_query() else {
        return Ok(());
    };
    check(doc).map_err(|m| refuse(m, "BAD_USER_INPUT"))?;
    // Every write needs a token: refuse anonymous mutations before anything runs.
    let mutation = doc
        .operations
        .iter()
        .any(|(_, op)| op.node.ty == OperationType::Mutation);
    if mutation && caller.user.is_none() {
        return Err(refuse(
            "authentication required: send `Authorization: Bearer <token>`".into(),
            "UNAUTHENTICATED",
        ));
    }
    Ok(())
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

    #[test]
    fn fragment_chains_and_doublings_are_refused_without_walking_them_all() {
        let chain: String = (0..50_000)
            .map(|n| format!("fragment F{n} on Query {{ ...F{} }} ", n + 1))
            .collect();
        let refused = shape(&format!(
            "query {{ ...F0 }} {chain} fragment F50000 on Query {{ me {{ id }} }}"
        ));
        assert!(refused.unwrap_err().contains("deeper than"));
        // Each level spreads the next twice: 2^30 leaves if walked.
        let doubling: String = (0..30)
            .map(|n| format!("fragment D{n} on Query {{ ...D{m} ...D{m} }} ", m = n + 1))
            .collect();
        let refused = shape(&format!(
            "query {{ ...D0 }} {doubling} fragment D30 on Query {{ me {{ id }} }}"
        ));
        assert!(refused.unwrap_err().contains("fragments are expanded"));
        // GraphiQL's own nesting (`ofType` nine deep) stays well inside the limits.
        let of_type = format!(
            "{{ __schema {{ types {{ {}name{} }} }} }}",
            "ofType { ".repeat(9),
            " }".repeat(9)
        );
        assert!(shape(&of_type).is_ok());
    }
}
