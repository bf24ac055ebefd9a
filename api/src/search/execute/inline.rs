//! Searches known before they run to be small: those may run on the caller's own thread
//! (`SearchIndex::search_if_small`, BENCHMARKS.md, session 23).

use tantivy::schema::Term;
use tantivy::{Searcher, SegmentReader};

use super::readable::{kind_of, Readable};
use super::statistics::ReadableStatistics;
use super::{Filter, SearchOutput, SearchRequest};
use crate::search::query;
use crate::search::word::Word;
use crate::search::{SearchError, SearchIndex};

/// The most postings a search may read on the caller's own thread (`search_if_small`): 1 to
/// 2 ms of work on the benchmark machines, where a posting read and scored costs 10 to 22 ns
/// (BENCHMARKS.md, session 23).
pub const INLINE_WORK: u64 = 80_000;
/// A hit on the page, as postings: its stored passage is read and highlighted (3 to 4 µs).
pub const WORK_PER_HIT: u64 = 500;

/// At most how many postings a lone word's search reads, besides its page: per segment,
/// the shorter of the word's list and each filter term's (the loop leaps between them),
/// once more for each facet list counted at each hit, what the readable filter reads, and
/// what its statistics count.
fn lone_word_work(
    searcher: &Searcher,
    word: &Term,
    filters: &[Term],
    facet_lists: u64,
    readable: &Readable,
    statistics: Option<&ReadableStatistics>,
) -> tantivy::Result<u64> {
    let df = |reader: &SegmentReader, term: &Term| -> tantivy::Result<u64> {
        Ok(u64::from(
            reader.inverted_index(term.field())?.doc_freq(term)?,
        ))
    };
    let mut work = match statistics {
        Some(statistics) => statistics.count_work(word)?,
        None => 0,
    };
    for reader in searcher.segment_readers() {
        let mut shortest = df(reader, word)?;
        for term in filters {
            shortest = shortest.min(df(reader, term)?);
        }
        work += shortest * (1 + facet_lists) + readable.plan(reader)?.reads();
    }
    Ok(work)
}

impl SearchIndex {
    /// `search`, where it is known before it runs to read at most `most_work` postings
    /// (`INLINE_WORK`): `None` for every other search. Such a search can run on the
    /// caller's own thread (an async worker) without holding up the requests queued there
    /// for more than a millisecond or two, and saves the two thread hand-offs of the
    /// blocking pool (BENCHMARKS.md, session 23).
    ///
    /// Known: one word (no prefix, not typo-tolerant, no forms left out), filtered at most
    /// by one case, interview, ambito or code, whose statistics are at hand. What such a
    /// search reads is bounded by the postings of its shortest list (the word leads the
    /// loop and leaps to each filter's next document) once per hit and once per facet list,
    /// what its readable filter reads, what the readable statistics count, and its page
    /// (`lone_word_work`).
    pub fn search_if_small(
        &self,
        req: &SearchRequest,
        most_work: u64,
    ) -> Result<Option<SearchOutput>, SearchError> {
        self.check_ready()?;
        let Some(filter_terms) = self.single_id_filters(&req.filter) else {
            return Ok(None);
        };
        if req.fuzzy || req.with_forms || !req.exclude_forms.is_empty() {
            return Ok(None);
        }
        // A prefix expands over the term dictionary while it compiles: not known small.
        match query::parse(&req.query) {
            Ok(query::Expr::Word { prefix: false, .. }) => {}
            _ => return Ok(None),
        }
        let searcher = self.reader.searcher();
        let Some(compiled) = self.compile_request(&searcher, req)? else {
            return Ok(Some(SearchOutput::default()));
        };
        let Some(word) = compiled.query.as_ref().downcast_ref::<Word>() else {
            return Ok(None);
        };
        let statistics = match self.readable_studies(req) {
            Some(ids) => match ReadableStatistics::cached(
                &searcher,
                &self.readable_totals,
                &self.fields,
                req.scope,
                ids,
            )? {
                Some(statistics) => Some(statistics),
                // A segment's totals are counted over all its documents: not small.
                None => return Ok(None),
            },
            None => None,
        };
        let readable = Readable::new(
            &self.fields,
            kind_of(req.scope),
            req.filter.study_ids.as_deref(),
        );
        let work = lone_word_work(
            &searcher,
            word.term(),
            &filter_terms,
            req.facets.in_scope(req.scope).lists(),
            &readable,
            statistics.as_ref(),
        )?
        .saturating_add((req.limit as u64).saturating_mul(WORK_PER_HIT));
        tracing::debug!(work, most_work, "a lone word's search, bounded");
        if work > most_work {
            return Ok(None);
        }
        self.run(&searcher, compiled, statistics.as_ref(), req)
            .map(Some)
    }

    /// The terms of a filter that keeps at most one id per field, with no dates: `None`
    /// for any other filter (the readable studies aside).
    fn single_id_filters(&self, f: &Filter) -> Option<Vec<Term>> {
        if f.conducted_from.is_some() || f.conducted_to.is_some() {
            return None;
        }
        let fl = &self.fields;
        let mut terms = Vec::new();
        for (field, ids) in [
            (fl.case_id, &f.case_ids),
            (fl.ambito_id, &f.ambito_ids),
            (fl.interview_id, &f.interview_ids),
            (fl.code_id, &f.code_ids),
        ] {
            match ids.as_deref() {
                None => {}
                Some([id]) => terms.push(Term::from_field_u64(field, *id as u64)),
                Some(_) => return None,
            }
        }
        Some(terms)
    }
}
