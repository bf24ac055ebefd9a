//! Running searches and concordances: filters, BM25 ranking, facet counts, snippets, and
//! highlights converted once from tantivy's bytes to code points in transcript coordinates.
//!
//! Here: `SearchIndex::search`, `run`, which every search ends in, and the few helpers the
//! files share. Each part has its file:
//!
//! - `request.rs`, `output.rs`: what a search is asked and what it answers;
//! - `compile.rs`: the query text compiled, and the filters a search keeps its hits by;
//! - `readable.rs`: the filter of what a caller may read, planned per segment (`Plan`);
//! - `statistics.rs`: BM25 statistics over the readable documents alone, cached per segment;
//! - `ranking.rs`: the page of hits, hits of equal score ranked by place (`TopWithTies`);
//! - `facets.rs`: facet counts over every hit;
//! - `snippets.rs`: a hit's snippet and its highlights in code points;
//! - `matched_forms.rs`: the surface forms a search matched, with their counts;
//! - `inline.rs`: searches known small enough to run on the caller's thread;
//! - `concordance.rs`: every occurrence of a word or phrase, with its context.

mod compile;
mod concordance;
mod facets;
mod inline;
mod matched_forms;
mod output;
mod ranking;
mod readable;
mod request;
mod snippets;
mod statistics;

pub use inline::{INLINE_WORK, WORK_PER_HIT};
pub use matched_forms::MAX_PHRASE_RESULTS_READ;
pub use output::{ConcordanceLine, Facets, Hit, SearchOutput};
pub(crate) use ranking::PlaceColumns;
pub use request::{FacetSelection, Filter, Scope, SearchRequest};
pub(crate) use statistics::ReadableTotals;

use tantivy::columnar::{Cardinality, Column};
use tantivy::query::{Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Term, Value};
use tantivy::{DocId, Searcher, TantivyDocument};

use compile::among;
use facets::FacetCollector;
use ranking::{ranked_page, Run};
use statistics::ReadableStatistics;

use super::query;
use super::word::Word;
use super::{SearchError, SearchIndex};

impl SearchIndex {
    pub fn search(&self, req: &SearchRequest) -> Result<SearchOutput, SearchError> {
        self.check_ready()?;
        let searcher = self.reader.searcher();
        let Some(compiled) = self.compile_request(&searcher, req)? else {
            return Ok(SearchOutput::default());
        };
        let statistics = match self.readable_studies(req) {
            Some(ids) => Some(ReadableStatistics::new(
                &searcher,
                &self.readable_totals,
                &self.fields,
                req.scope,
                ids,
            )?),
            None => None,
        };
        self.run(&searcher, compiled, statistics.as_ref(), req)
    }

    /// The studies whose documents alone give a search's BM25 statistics, if not the whole
    /// index's.
    ///
    /// Privacy: BM25 weighs a term by how many documents hold it and a field by its average
    /// length, which tantivy counts over the whole index, private studies included; a
    /// caller comparing the scores (or the order) of hits in their own study could tell
    /// whether, and how often, a word occurs in studies they cannot read. Scored over the
    /// readable documents only, a hit's score depends on nothing the caller may not read.
    /// With every study readable, the index-wide statistics leak nothing. A page of no hits
    /// scores nothing and needs none.
    fn readable_studies<'r>(&self, req: &'r SearchRequest) -> Option<&'r [i64]> {
        if req.limit == 0 || !req.filter.statistics_of_these_studies {
            return None;
        }
        req.filter.study_ids.as_deref()
    }

    /// The search of a compiled query, scored with `statistics` (the index's if `None`).
    fn run(
        &self,
        searcher: &Searcher,
        compiled: query::Compiled,
        statistics: Option<&ReadableStatistics>,
        req: &SearchRequest,
    ) -> Result<SearchOutput, SearchError> {
        let filters = self.filters(req.scope, &req.filter);
        let query: Box<dyn Query> = match compiled.query.downcast::<Word>() {
            Ok(word) => Box::new(word.among(filters)),
            Err(other) => Box::new(among(other, filters)),
        };
        let (matched_forms, matched_forms_partial) = if req.with_forms {
            self.matched_forms(searcher, query.as_ref(), &compiled.matchers)?
        } else {
            (Vec::new(), false)
        };
        let facets = FacetCollector(req.facets.in_scope(req.scope));
        let (top, counted) = if req.limit == 0 {
            // Nothing scored: the counts need no statistics.
            (Vec::new(), searcher.search(&query, &facets)?)
        } else {
            let run = Run {
                searcher,
                query: query.as_ref(),
                statistics,
            };
            ranked_page(&run, &self.place_columns, req.offset, req.limit, facets)?
        };
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            hits.push(self.hit(searcher, address, score, &compiled.matchers)?);
        }
        Ok(SearchOutput {
            total: counted.total,
            hits,
            facets: counted.into_facets(),
            matched_forms,
            matched_forms_partial,
        })
    }
}

/// A document's first value, read directly where every document has one (the column's index
/// costs more than the value on a postings walk).
fn first_value(column: &Column<u64>, doc: DocId) -> Option<u64> {
    if column.get_cardinality() == Cardinality::Full {
        Some(column.values.get_val(doc))
    } else {
        column.first(doc)
    }
}

fn u64_term(field: Field, value: u64) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_u64(field, value),
        IndexRecordOption::Basic,
    ))
}

pub(super) fn stored_str(doc: &TantivyDocument, field: Field) -> &str {
    doc.get_first(field)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
}

pub(super) fn stored_u64(doc: &TantivyDocument, field: Field) -> u64 {
    doc.get_first(field).and_then(|v| v.as_u64()).unwrap_or(0)
}

/// What the tests of `ranking.rs` and `readable.rs` build their indexes with.
#[cfg(test)]
mod testing {
    use crate::search::analyzer;
    use crate::search::schema::{self, Fields};
    use tantivy::Index;

    /// An empty index in memory whose segments stay as committed.
    pub(super) fn unmerged_index() -> (Index, tantivy::IndexWriter, Fields) {
        let (schema, f) = schema::build();
        let index = Index::create_in_ram(schema);
        analyzer::register(&index);
        let writer: tantivy::IndexWriter = index.writer(15_000_000).unwrap();
        writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
        (index, writer, f)
    }

    /// Repeatable draws below `n` (a linear congruential generator).
    pub(super) fn draws(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        }
    }
}
