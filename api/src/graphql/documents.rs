//! Parsed operations, kept by their text.
//!
//! Front ends send the same few operations again and again, with other variables. Parsing one
//! (async-graphql's grammar) was 4–6% of the server's CPU in a one-case search (BENCHMARKS.md,
//! session 16); cloning a parsed document costs a fraction of that, and is what async-graphql's
//! own persisted-query extension does. Variables are not part of the document, so one entry
//! serves every call of an operation.
//!
//! Anyone may send texts, before their token is even checked, so the cache is bounded by what
//! it holds, not by its number of entries. A parsed document takes many times its text (a
//! node of a few hundred bytes per field, which can be two characters), so texts over
//! `MAX_CACHED_TEXT` are parsed each time, and the texts kept, each charged `ENTRY_COST` more
//! for its document's fixed part, stay under `BUDGET`: by that estimate a few megabytes for
//! real operations, some tens at worst. A flood of new texts only evicts the operations in
//! use, which are then parsed again, as without a cache.

use std::sync::Mutex;

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationDefinition};
use lru::LruCache;

/// Longer texts are parsed each time.
const MAX_CACHED_TEXT: usize = 4 * 1024;

/// What the cache may hold, in bytes of text plus `ENTRY_COST` per entry: about a hundred
/// operations of a kilobyte, far more than a front end has.
const BUDGET: usize = 256 * 1024;

/// Charged per entry besides its text, so that tiny texts cannot make a million entries.
const ENTRY_COST: usize = 256;

pub struct ParsedDocuments {
    kept: Mutex<Kept>,
}

struct Kept {
    by_text: LruCache<String, ExecutableDocument>,
    cost: usize,
    budget: usize,
}

impl Default for ParsedDocuments {
    fn default() -> Self {
        Self::with_budget(BUDGET)
    }
}

impl ParsedDocuments {
    fn with_budget(budget: usize) -> Self {
        Self {
            kept: Mutex::new(Kept {
                by_text: LruCache::unbounded(),
                cost: 0,
                budget,
            }),
        }
    }

    /// Gives `request` its parsed document: the one kept for its text, else parsed now and
    /// kept. A text that does not parse is left alone, for the executor to report.
    pub fn parse_into(&self, request: &mut async_graphql::Request) {
        if request.query.len() > MAX_CACHED_TEXT {
            return;
        }
        let kept = self.lock().by_text.get(&request.query).cloned();
        if let Some(document) = kept {
            request.set_parsed_query(document);
            return;
        }
        let Ok(document) = request.parsed_query() else {
            return;
        };
        let document = document.clone();
        let mut kept = self.lock();
        if kept.by_text.put(request.query.clone(), document).is_some() {
            // Another request parsed the same text meanwhile: it was charged already.
            return;
        }
        kept.cost += request.query.len() + ENTRY_COST;
        while kept.cost > kept.budget {
            match kept.by_text.pop_lru() {
                Some((text, _)) => kept.cost -= text.len() + ENTRY_COST,
                None => break,
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The operation of `doc` the executor runs, chosen as async-graphql chooses it: the one
/// named by `operationName`, else the document's only operation. `None` when the executor
/// refuses the request instead (a name the document does not have, a name sent with one
/// unnamed operation, no name among several).
pub fn selected_operation<'a>(
    doc: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a OperationDefinition> {
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), None) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| &op.node)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::types::Selection;

    fn kept(documents: &ParsedDocuments) -> Vec<String> {
        let kept = documents.lock();
        kept.by_text.iter().map(|(text, _)| text.clone()).collect()
    }

    /// Serialized, to compare documents (they do not implement `PartialEq`).
    fn parsed(request: &mut async_graphql::Request) -> serde_json::Value {
        serde_json::to_value(request.parsed_query().unwrap()).unwrap()
    }

    #[test]
    fn an_operation_is_parsed_once_and_served_to_every_later_request() {
        let documents = ParsedDocuments::default();
        let text = "query($q: String!) { search(query: $q) { totalCount } }";
        let mut first = async_graphql::Request::new(text);
        documents.parse_into(&mut first);
        assert_eq!(kept(&documents), [text]);
        // The cached document, not a parse of the text: the request carries it even when its
        // own text would now say something else.
        let mut second = async_graphql::Request::new(text);
        documents.parse_into(&mut second);
        second.query = "{ broken".to_owned();
        assert_eq!(parsed(&mut second), parsed(&mut first));
        assert_eq!(kept(&documents).len(), 1);
        assert_eq!(documents.lock().cost, text.len() + ENTRY_COST);
    }

    #[test]
    fn unparsable_long_and_least_recent_texts_are_not_kept() {
        // Room for two short texts.
        let documents = ParsedDocuments::with_budget(2 * (5 + ENTRY_COST));
        let mut broken = async_graphql::Request::new("{ broken");
        documents.parse_into(&mut broken);
        assert!(broken.parsed_query().is_err());
        let long = format!("{{ __typename {} }}", " ".repeat(MAX_CACHED_TEXT));
        let mut long = async_graphql::Request::new(long);
        documents.parse_into(&mut long);
        assert!(long.parsed_query().is_ok());
        assert!(kept(&documents).is_empty());
        for text in ["{ a }", "{ b }", "{ a }", "{ c }"] {
            documents.parse_into(&mut async_graphql::Request::new(text));
        }
        // Most recent first; `{ b }` was used least recently.
        assert_eq!(kept(&documents), ["{ c }", "{ a }"]);
        assert_eq!(documents.lock().cost, 2 * (5 + ENTRY_COST));
    }

    /// The operation chosen is the one the executor runs, and none where the executor
    /// refuses the request for its operation name.
    #[tokio::test]
    async fn the_operation_selected_is_the_one_the_executor_runs() {
        let schema = crate::graphql::build_schema_with(false);
        let one = "query { __typename }";
        let named = "query A { a: __typename }";
        let two = "query A { a: __typename } query B { b: __typename }";
        for (text, name, expected) in [
            (one, None, Some("__typename")),
            (one, Some("A"), None),
            (named, None, Some("a")),
            (named, Some("A"), Some("a")),
            (named, Some("B"), None),
            (two, None, None),
            (two, Some("B"), Some("b")),
        ] {
            let doc = async_graphql::parser::parse_query(text).unwrap();
            let chosen = selected_operation(&doc, name).map(|op| {
                let Selection::Field(field) = &op.selection_set.node.items[0].node else {
                    unreachable!("every operation here selects a field")
                };
                field.node.response_key().node.to_string()
            });
            assert_eq!(chosen.as_deref(), expected, "{text} / {name:?}");
            let mut request = async_graphql::Request::new(text);
            if let Some(name) = name {
                request = request.operation_name(name);
            }
            let answer = schema.execute(request).await.data.into_json().unwrap();
            let ran = answer.as_object().and_then(|o| o.keys().next().cloned());
            assert_eq!(ran.as_deref(), expected, "{text} / {name:?}: {answer}");
        }
    }
}
