//! Parsed operations, kept by their text.
//!
//! Front ends send the same few operations again and again, with other variables. Parsing one
//! (async-graphql's grammar) was 5.6% of the server's CPU in a one-case search on the large
//! corpus (BENCHMARKS.md, session 16); cloning a parsed document costs a fraction of that, and
//! is what async-graphql's own persisted-query extension does. Variables are not part of the
//! document, so one entry serves every call of an operation.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use async_graphql::parser::types::ExecutableDocument;
use lru::LruCache;

/// Operations kept: far more than a front end has.
const CAPACITY: NonZeroUsize = NonZeroUsize::new(512).unwrap();

/// Longer texts are parsed each time: the cache holds at most `CAPACITY` of these, a few
/// megabytes at worst.
const MAX_CACHED_TEXT: usize = 16 * 1024;

pub struct ParsedDocuments {
    by_text: Mutex<LruCache<String, ExecutableDocument>>,
}

impl Default for ParsedDocuments {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl ParsedDocuments {
    pub fn with_capacity(capacity: NonZeroUsize) -> Self {
        Self {
            by_text: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// Gives `request` its parsed document: the one kept for its text, else parsed now and
    /// kept. A text that does not parse is left alone, for the executor to report.
    pub fn parse_into(&self, request: &mut async_graphql::Request) {
        if request.query.len() > MAX_CACHED_TEXT {
            return;
        }
        let kept = self.lock().get(&request.query).cloned();
        if let Some(document) = kept {
            request.set_parsed_query(document);
            return;
        }
        if let Ok(document) = request.parsed_query() {
            let document = document.clone();
            self.lock().put(request.query.clone(), document);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, ExecutableDocument>> {
        self.by_text.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(documents: &ParsedDocuments) -> Vec<String> {
        documents
            .lock()
            .iter()
            .map(|(text, _)| text.clone())
            .collect()
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
    }

    #[test]
    fn unparsable_long_and_least_recent_texts_are_not_kept() {
        let documents = ParsedDocuments::with_capacity(NonZeroUsize::new(2).unwrap());
        let mut broken = async_graphql::Request::new("{ broken");
        documents.parse_into(&mut broken);
        assert!(broken.parsed_query().is_err());
        let long = format!("{{ __typename {} }}", " ".repeat(MAX_CACHED_TEXT));
        documents.parse_into(&mut async_graphql::Request::new(long));
        assert!(kept(&documents).is_empty());
        for text in ["{ a }", "{ b }", "{ a }", "{ c }"] {
            documents.parse_into(&mut async_graphql::Request::new(text));
        }
        // Most recent first; `{ b }` was used least recently.
        assert_eq!(kept(&documents), ["{ c }", "{ a }"]);
    }
}
