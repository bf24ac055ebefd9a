//! Running searches and concordances: filters, BM25 ranking, facet counts, snippets, and
//! highlights converted once from tantivy's bytes to code points in transcript coordinates.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use std::collections::HashSet;

use tantivy::collector::{Collector, DocSetCollector, SegmentCollector};
use tantivy::columnar::{Cardinality, Column};
use tantivy::index::SegmentId;
use tantivy::query::{
    AllScorer, Bm25StatisticsProvider, BooleanQuery, EmptyScorer, EnableScoring, Exclude,
    Explanation, Occur, Query, RangeQuery, Scorer, TermQuery, TermSetQuery, Weight,
};
use tantivy::schema::{Field, IndexRecordOption, Schema, Term, Value};
use tantivy::{
    BitSet, DocAddress, DocId, DocSet, Score, Searcher, SegmentOrdinal, SegmentReader,
    TantivyDocument, TERMINATED,
};

use super::context::Transcripts;
use super::filter_sets::{AllBut, MOST_LEFT_OUT};
use super::forms::{forms_of_term, forms_within, spellings_on};
use super::indexer::day_number;
use super::query::{self, Compiler, Matcher, Mode, Side};
use super::schema::{Fields, INTERVIEW_ID, KIND_PASSAGE, KIND_QUOTATION, QUOTATION_ID, START};
use super::unscored::Unscored;
use super::word::Word;
use super::{SearchError, SearchIndex};
use crate::text;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    #[default]
    Transcripts,
    Quotations,
}

/// Restrictions on what a search sees. `study_ids: Some` always carries the caller's
/// readable studies (intersected with any the caller asked for).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub study_ids: Option<Vec<i64>>,
    /// Scores count BM25's statistics over `study_ids` alone: for callers who may not read
    /// every study (see `SearchIndex::readable_studies`).
    pub statistics_of_these_studies: bool,
    pub case_ids: Option<Vec<i64>>,
    pub ambito_ids: Option<Vec<i64>>,
    pub interview_ids: Option<Vec<i64>>,
    pub code_ids: Option<Vec<i64>>,
    pub conducted_from: Option<NaiveDate>,
    pub conducted_to: Option<NaiveDate>,
}

#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub query: String,
    pub scope: Scope,
    pub filter: Filter,
    pub mode: Mode,
    /// Surface forms no word may match through (besides `-form:` in the query).
    pub exclude_forms: Vec<String>,
    /// Whether to count the matched surface forms (one count per form: only when asked).
    pub with_forms: bool,
    pub fuzzy: bool,
    pub offset: usize,
    pub limit: usize,
    /// The facet lists to count: each costs a count per hit, so only those asked for
    /// are counted (with none, only the total).
    pub facets: FacetSelection,
}

/// Which facet lists a search counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FacetSelection {
    pub cases: bool,
    pub ambiti: bool,
    pub interviews: bool,
    /// Counted in QUOTATIONS scope only (passages carry no codes).
    pub codes: bool,
}

impl FacetSelection {
    pub const ALL: Self = Self {
        cases: true,
        ambiti: true,
        interviews: true,
        codes: true,
    };

    /// The lists a search of `scope` counts: codes in QUOTATIONS scope only.
    fn in_scope(self, scope: Scope) -> Self {
        Self {
            codes: self.codes && scope == Scope::Quotations,
            ..self
        }
    }

    fn lists(self) -> u64 {
        [self.cases, self.ambiti, self.interviews, self.codes]
            .into_iter()
            .filter(|&counted| counted)
            .count() as u64
    }
}

#[derive(Debug, Clone)]
pub struct Hit {
    pub score: f32,
    pub interview_id: i64,
    /// As the interview was labelled when this passage or quotation was indexed.
    pub interview_label: String,
    pub quotation_id: Option<i64>,
    pub start: usize,
    pub end: usize,
    pub snippet: String,
    /// Code points, transcript coordinates.
    pub highlights: Vec<(usize, usize)>,
}

/// (value, count) pairs, largest first.
#[derive(Debug, Clone, Default)]
pub struct Facets {
    pub cases: Vec<(i64, usize)>,
    pub ambiti: Vec<(i64, usize)>,
    pub interviews: Vec<(i64, usize)>,
    pub codes: Vec<(i64, usize)>,
}

#[derive(Debug, Clone, Default)]
pub struct SearchOutput {
    pub total: usize,
    pub hits: Vec<Hit>,
    pub facets: Facets,
    /// Every surface form (folded) the query matched, with the number of results holding
    /// it, most frequent first.
    pub matched_forms: Vec<(String, usize)>,
}

#[derive(Debug, Clone)]
pub struct ConcordanceLine {
    pub interview_id: i64,
    /// As the interview was labelled when the passage was indexed.
    pub interview_label: String,
    pub start: usize,
    pub end: usize,
    pub left: String,
    pub keyword: String,
    pub right: String,
}

/// Characters of context around the first highlight in a snippet.
const SNIPPET_CONTEXT: usize = 80;
/// Most surface forms listed for one search (a verb has about fifty).
const MAX_FORMS: usize = 200;

/// `query` restricted by `filters`, which add nothing to its score, as tantivy's boolean
/// query (a lone word has its own loop: `Word::among`).
fn among(query: Box<dyn Query>, filters: Vec<Box<dyn Query>>) -> BooleanQuery {
    let mut clauses = vec![(Occur::Must, query)];
    clauses.extend(
        filters
            .into_iter()
            .map(|f| (Occur::Must, Box::new(Unscored(f)) as Box<dyn Query>)),
    );
    BooleanQuery::new(clauses)
}

/// Up to this many ids are filtered by a union of term queries: a `TermSetQuery` builds an
/// FST for every search, which cost more than the rest of a one-case search.
const SMALL_ID_SET: usize = 32;

/// Documents whose `field` holds one of `ids`.
fn term_set(field: Field, ids: &[i64]) -> Box<dyn Query> {
    if let [id] = ids {
        return u64_term(field, *id as u64);
    }
    if ids.len() > SMALL_ID_SET {
        let terms = ids.iter().map(|&id| Term::from_field_u64(field, id as u64));
        return Box::new(TermSetQuery::new(terms));
    }
    Box::new(BooleanQuery::union(
        ids.iter().map(|&id| u64_term(field, id as u64)).collect(),
    ))
}

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
    /// The filters for a scope: queries whose documents a search keeps (scores unused).
    fn filters(&self, scope: Scope, f: &Filter) -> Vec<Box<dyn Query>> {
        let fl = &self.fields;
        let mut out: Vec<Box<dyn Query>> = vec![Box::new(Readable::new(
            fl,
            kind_of(scope),
            f.study_ids.as_deref(),
        ))];
        for (field, ids) in [
            (fl.case_id, &f.case_ids),
            (fl.ambito_id, &f.ambito_ids),
            (fl.interview_id, &f.interview_ids),
            (fl.code_id, &f.code_ids),
        ] {
            if let Some(ids) = ids {
                out.push(term_set(field, ids));
            }
        }
        if f.conducted_from.is_some() || f.conducted_to.is_some() {
            let bound = |d: Option<NaiveDate>, lower: bool| match d {
                Some(d) => Bound::Included(Term::from_field_u64(fl.conducted, day_number(d))),
                None if lower => Bound::Included(Term::from_field_u64(fl.conducted, 0)),
                None => Bound::Included(Term::from_field_u64(fl.conducted, u64::MAX)),
            };
            out.push(Box::new(RangeQuery::new(
                bound(f.conducted_from, true),
                bound(f.conducted_to, false),
            )));
        }
        out
    }

    fn compiler<'s>(
        &self,
        searcher: &'s tantivy::Searcher,
        mode: Mode,
        fuzzy: bool,
        excluded: HashSet<String>,
    ) -> Compiler<'s> {
        Compiler {
            searcher,
            text: self.fields.text,
            text_exact: self.fields.text_exact,
            text_lemma: self.fields.text_lemma,
            mode,
            fuzzy,
            excluded,
        }
    }

    fn compile(
        &self,
        searcher: &tantivy::Searcher,
        text: &str,
        mode: Mode,
        fuzzy: bool,
        exclude_forms: &[String],
    ) -> Result<Option<query::Compiled>, SearchError> {
        let expr = query::parse(text).map_err(|e| SearchError::BadQuery(e.0))?;
        // Forms are compared folded, as the exact field holds them.
        let mut excluded = HashSet::new();
        for form in exclude_forms
            .iter()
            .cloned()
            .chain(query::excluded_forms(&expr))
        {
            let term = query::excluded_form_term(&form).map_err(|e| SearchError::BadQuery(e.0))?;
            excluded.extend(term);
        }
        let compiler = self.compiler(searcher, mode, fuzzy, excluded);
        compiler.try_compile(&expr)
    }

    fn compile_request(
        &self,
        searcher: &tantivy::Searcher,
        req: &SearchRequest,
    ) -> Result<Option<query::Compiled>, SearchError> {
        self.compile(
            searcher,
            &req.query,
            req.mode,
            req.fuzzy,
            &req.exclude_forms,
        )
    }

    /// The surface forms behind the positive clauses, each with the number of results of
    /// `query` holding it: the `MAX_FORMS` most frequent.
    ///
    /// Every candidate is counted before the list is cut: cut first, a prefix's expansions
    /// filled it, the other words' forms were never counted, and the list depended on the
    /// order of the words. The results are collected once and each spelling's postings read
    /// against them, rather than the query run again for each form.
    fn matched_forms(
        &self,
        searcher: &tantivy::Searcher,
        query: &dyn Query,
        matchers: &[Matcher],
    ) -> Result<Vec<(String, usize)>, SearchError> {
        // Folded form → the side it was matched on; the exact side, which keeps stop words,
        // counts every spelling.
        let mut candidates: HashMap<String, Side> = HashMap::new();
        for m in matchers {
            let (side, terms): (Side, Vec<&String>) = match m {
                Matcher::Terms { side, terms } => (*side, terms.iter().collect()),
                Matcher::Phrase { side, terms, .. } => {
                    (*side, terms.iter().flat_map(|(_, t)| t).collect())
                }
                // Read on the exact side, as the query runs: each form is its own term.
                Matcher::Fuzzy { term, distance } => {
                    for form in forms_within(searcher, self.fields.text_exact, term, *distance)? {
                        candidates.insert(form, Side::Exact);
                    }
                    continue;
                }
            };
            for term in terms {
                for form in forms_of_term(searcher, self.fields.text_exact, side, term)? {
                    let entry = candidates.entry(form).or_insert(side);
                    if side == Side::Exact {
                        *entry = Side::Exact;
                    }
                }
            }
        }
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let found = searcher.search(query, &DocSetCollector)?;
        let mut sets: Vec<BitSet> = searcher
            .segment_readers()
            .iter()
            .map(|r| BitSet::with_max_value(r.max_doc()))
            .collect();
        for address in found {
            sets[address.segment_ord as usize].insert(address.doc_id);
        }
        let count = |spelling: &str| -> tantivy::Result<usize> {
            let term = Term::from_field_text(self.fields.text_surface, spelling);
            let mut n = 0;
            for (reader, set) in searcher.segment_readers().iter().zip(&sets) {
                if set.len() == 0 {
                    continue;
                }
                let inverted = reader.inverted_index(self.fields.text_surface)?;
                let Some(mut postings) = inverted.read_postings(&term, IndexRecordOption::Basic)?
                else {
                    continue;
                };
                let mut doc = postings.doc();
                while doc != TERMINATED {
                    if set.contains(doc) {
                        n += 1;
                    }
                    doc = postings.advance();
                }
            }
            Ok(n)
        };
        let mut out = Vec::new();
        for (folded, side) in candidates {
            // Report the forms as written ("città"), each spelling with its own count.
            for spelling in spellings_on(searcher, self.fields.text_surface, side, &folded)? {
                let n = count(&spelling)?;
                if n > 0 {
                    out.push((spelling, n));
                }
            }
        }
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out.truncate(MAX_FORMS);
        Ok(out)
    }

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
        let matched_forms = if req.with_forms {
            self.matched_forms(searcher, query.as_ref(), &compiled.matchers)?
        } else {
            Vec::new()
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
        })
    }

    fn hit(
        &self,
        searcher: &tantivy::Searcher,
        address: DocAddress,
        score: Score,
        matchers: &[Matcher],
    ) -> Result<Hit, SearchError> {
        let f = &self.fields;
        let doc: TantivyDocument = searcher.doc(address)?;
        let u64_of = |field| doc.get_first(field).and_then(|v| v.as_u64());
        let str_of = |field| doc.get_first(field).and_then(|v| v.as_str());
        let text = str_of(f.text).unwrap_or_default().to_owned();
        let start = u64_of(f.start).unwrap_or(0) as usize;
        let spans = query::highlight(&text, matchers);
        Ok(Hit {
            score,
            interview_id: u64_of(f.interview_id).unwrap_or(0) as i64,
            interview_label: str_of(f.interview_label).unwrap_or_default().to_owned(),
            quotation_id: u64_of(f.quotation_id).map(|q| q as i64),
            start,
            end: u64_of(f.end).unwrap_or(0) as usize,
            snippet: snippet(&text, spans.first().copied()),
            highlights: text::cp_spans(&text, &spans)
                .into_iter()
                .map(|(a, b)| (start + a, start + b))
                .collect(),
        })
    }

    /// Every occurrence of `term` (a word, with its inflected forms, or a phrase) in the
    /// transcripts, ordered by interview and position. Returns the total and one page.
    ///
    /// Counting and ordering the lines needs every matching passage's occurrences, but only
    /// the page's lines need their context: the first pass keeps, per passage, its place and
    /// its number of occurrences; the second reads again only the passages the page falls
    /// in, and the passages next to them where a line's context reaches past its passage's
    /// ends (`context`). Memory follows the passages found.
    pub fn concordance(
        &self,
        term: &str,
        filter: &Filter,
        window: usize,
        offset: usize,
        limit: usize,
    ) -> Result<(usize, Vec<ConcordanceLine>), SearchError> {
        self.check_ready()?;
        let searcher = self.reader.searcher();
        let Some(compiled) = self.compile(&searcher, term, Mode::Lemma, false, &[])? else {
            return Ok((0, Vec::new()));
        };
        let query = among(compiled.query, self.filters(Scope::Transcripts, filter));
        let mut addresses: Vec<DocAddress> = searcher
            .search(&query, &DocSetCollector)?
            .into_iter()
            .collect();
        // In index order, the document store decompresses each of its blocks once.
        addresses.sort_unstable();
        let f = &self.fields;
        let mut passages = Vec::new();
        for address in addresses {
            let doc: TantivyDocument = searcher.doc(address)?;
            let occurrences = query::highlight(stored_str(&doc, f.text), &compiled.matchers).len();
            if occurrences > 0 {
                passages.push(Found {
                    interview_id: stored_u64(&doc, f.interview_id) as i64,
                    start: stored_u64(&doc, f.start) as usize,
                    address,
                    occurrences,
                });
            }
        }
        // A transcript's passages do not overlap: in passage order, their occurrences are in
        // transcript order.
        passages.sort_unstable_by_key(|p| (p.interview_id, p.start, p.address));
        let total: usize = passages.iter().map(|p| p.occurrences).sum();
        let mut lines = Vec::with_capacity(limit.min(total.saturating_sub(offset)));
        let mut transcripts = Transcripts::new(&searcher, f);
        let mut skip = offset;
        for passage in &passages {
            if lines.len() >= limit {
                break;
            }
            if skip >= passage.occurrences {
                skip -= passage.occurrences;
                continue;
            }
            let doc: TantivyDocument = searcher.doc(passage.address)?;
            let text = stored_str(&doc, f.text);
            let label = stored_str(&doc, f.interview_label);
            let spans = query::highlight(text, &compiled.matchers);
            let wanted = limit - lines.len();
            for (&(a, b), (from, to)) in spans
                .iter()
                .zip(text::cp_spans(text, &spans))
                .skip(skip)
                .take(wanted)
            {
                let mut left = left_context(text, a, window);
                let short = window - left.chars().count();
                if short > 0 {
                    left.insert_str(
                        0,
                        &transcripts.before(passage.interview_id, passage.address, short)?,
                    );
                }
                let mut right: String = text[b..].chars().take(window).collect();
                let short = window - right.chars().count();
                if short > 0 {
                    right.push_str(&transcripts.after(
                        passage.interview_id,
                        passage.address,
                        short,
                    )?);
                }
                lines.push(ConcordanceLine {
                    interview_id: passage.interview_id,
                    interview_label: label.to_owned(),
                    start: passage.start + from,
                    end: passage.start + to,
                    left,
                    keyword: text[a..b].to_owned(),
                    right,
                });
            }
            skip = 0;
        }
        Ok((total, lines))
    }
}

/// A segment's readable totals are cached under its id and its number of deleted documents:
/// a segment never changes but for deletions, and those only grow, so the count tells which
/// documents are alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SegmentKey {
    segment: SegmentId,
    deleted: DocId,
}

impl SegmentKey {
    fn of(reader: &SegmentReader) -> Self {
        Self {
            segment: reader.segment_id(),
            deleted: reader.num_deleted_docs(),
        }
    }
}

/// Per segment, its live documents' totals by (kind, study): what `ReadableStatistics` sums
/// instead of reading every readable document on every search.
pub(crate) type ReadableTotals = Mutex<HashMap<SegmentKey, Arc<SegmentTotals>>>;

#[derive(Debug, Default)]
pub(crate) struct SegmentTotals {
    by_study: HashMap<(u64, u64), Totals>,
    /// Live documents of each kind, with a study or not.
    by_kind: HashMap<u64, u64>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Totals {
    docs: u64,
    /// Field-norm sums, one per field counted (in `scored_fields` order when cached).
    tokens: Vec<u64>,
}

/// The fields queries score, counted in the one pass that caches a segment's totals.
fn scored_fields(f: &Fields) -> [Field; 4] {
    [f.text, f.text_exact, f.text_lemma, f.text_surface]
}

fn kind_of(scope: Scope) -> u64 {
    match scope {
        Scope::Transcripts => KIND_PASSAGE,
        Scope::Quotations => KIND_QUOTATION,
    }
}

/// One pass over a segment's live documents: their number and field-norm sums per (kind,
/// study). Documents without a study match no readable set: counted in their kind alone.
fn segment_totals(reader: &SegmentReader, fields: &[Field]) -> tantivy::Result<SegmentTotals> {
    let kinds = reader.fast_fields().u64("kind")?;
    let studies = reader.fast_fields().u64("study_id")?;
    let norms = fields
        .iter()
        .map(|&field| reader.get_fieldnorms_reader(field))
        .collect::<tantivy::Result<Vec<_>>>()?;
    let alive = reader.alive_bitset();
    let mut out = SegmentTotals::default();
    // Documents come interview by interview, so runs share a key: one map update per run.
    let mut run: Option<((u64, Option<u64>), Totals)> = None;
    for doc in 0..reader.max_doc() {
        if alive.is_some_and(|a| a.is_deleted(doc)) {
            continue;
        }
        let Some(kind) = first_value(&kinds, doc) else {
            continue;
        };
        let key = (kind, first_value(&studies, doc));
        if run.as_ref().is_none_or(|(k, _)| *k != key) {
            if let Some((k, t)) = run.take() {
                out.add(k, &t);
            }
            run = Some((
                key,
                Totals {
                    docs: 0,
                    tokens: vec![0; fields.len()],
                },
            ));
        }
        if let Some((_, t)) = run.as_mut() {
            t.docs += 1;
            for (sum, norms) in t.tokens.iter_mut().zip(&norms) {
                *sum += u64::from(norms.fieldnorm(doc));
            }
        }
    }
    if let Some((k, t)) = run {
        out.add(k, &t);
    }
    Ok(out)
}

impl SegmentTotals {
    fn add(&mut self, (kind, study): (u64, Option<u64>), from: &Totals) {
        *self.by_kind.entry(kind).or_default() += from.docs;
        let Some(study) = study else {
            return;
        };
        let into = self.by_study.entry((kind, study)).or_default();
        into.docs += from.docs;
        into.tokens.resize(from.tokens.len(), 0);
        for (a, b) in into.tokens.iter_mut().zip(&from.tokens) {
            *a += b;
        }
    }
}

/// One query on one searcher, scored with the index's statistics or the readable ones.
struct Run<'a> {
    searcher: &'a Searcher,
    query: &'a dyn Query,
    statistics: Option<&'a ReadableStatistics>,
}

impl Run<'_> {
    fn collect<C: Collector>(&self, collector: &C) -> tantivy::Result<C::Fruit> {
        match self.statistics {
            None => self.searcher.search(self.query, collector),
            Some(statistics) => self
                .searcher
                .search_with_statistics_provider(self.query, collector, statistics),
        }
    }
}

/// Each segment's place columns (interview, start, quotation; see `ranked_page`),
/// opened once: opening a column looks its name up in the segment's column dictionary, which
/// cost a small search more than ranking its hits (BENCHMARKS.md, session 15). A segment's
/// fast fields never change, deletions or not. Entries of segments gone from the index are
/// dropped when a search sees fewer segments than the cache holds, which also lets the files
/// of merged segments go.
pub(crate) type PlaceColumns = Mutex<HashMap<SegmentId, Arc<[Column<u64>; 3]>>>;

/// The place columns of the searcher's segments, by segment ordinal.
fn place_columns(
    searcher: &Searcher,
    cache: &PlaceColumns,
) -> tantivy::Result<Vec<Arc<[Column<u64>; 3]>>> {
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    let mut columns = Vec::with_capacity(searcher.segment_readers().len());
    for reader in searcher.segment_readers() {
        let of_segment = match cache.get(&reader.segment_id()) {
            Some(c) => c.clone(),
            None => {
                let fast = reader.fast_fields();
                let c = Arc::new([
                    fast.u64(INTERVIEW_ID)?,
                    fast.u64(START)?,
                    fast.u64(QUOTATION_ID)?,
                ]);
                cache.insert(reader.segment_id(), c.clone());
                c
            }
        };
        columns.push(of_segment);
    }
    if cache.len() > columns.len() {
        let live: HashSet<SegmentId> = searcher
            .segment_readers()
            .iter()
            .map(|r| r.segment_id())
            .collect();
        cache.retain(|id, _| live.contains(id));
    }
    Ok(columns)
}

/// The page of hits from `offset`, best first, and the facet counts of every hit.
///
/// Hits of equal score are ordered by their place (interview, start, quotation), never by
/// their address in the index: addresses change when segments merge and differ between
/// replicas, so a client paging with offset cursors would meet a tied hit twice, or never.
/// (tantivy's `TopDocs` keeps, of tied documents, the first by address.) The collector keeps
/// every document that could be on the page (`TopWithTies`); places are read afterwards, and
/// only for hits that tie with another within the page's reach (or while collecting, when
/// ties pile up): a heap ordered by place read a place for each document entering it, which
/// cost a term query 5–10% (BENCHMARKS.md, session 15).
fn ranked_page(
    run: &Run,
    places: &PlaceColumns,
    offset: usize,
    limit: usize,
    facets: FacetCollector,
) -> tantivy::Result<(Vec<(Score, DocAddress)>, FacetCounts)> {
    let wanted = offset.saturating_add(limit);
    let columns = place_columns(run.searcher, places)?;
    let top = TopWithTies {
        wanted,
        columns: &columns,
    };
    let (mut candidates, counted) = run.collect(&(top, facets))?;
    candidates.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    let place =
        |address: DocAddress| place_of(&columns[address.segment_ord as usize], address.doc_id);
    // Runs of equal score reaching into the page are put in place order.
    let mut from = 0;
    while from < wanted.min(candidates.len()) {
        let score = candidates[from].0;
        let to = from
            + candidates[from..]
                .iter()
                .take_while(|c| c.0 == score)
                .count();
        if to - from > 1 && to > offset {
            candidates[from..to].sort_by_cached_key(|c| place(c.1));
        }
        from = to;
    }
    candidates.truncate(wanted);
    Ok((candidates.split_off(offset.min(candidates.len())), counted))
}

/// Where a hit is: interview, start, quotation (0 for a passage). Unique per document.
type Place = (u64, u64, u64);

fn place_of(columns: &[Column<u64>; 3], doc: DocId) -> Place {
    let [interview, start, quotation] = columns;
    (
        first_value(interview, doc).unwrap_or(0),
        first_value(start, doc).unwrap_or(0),
        first_value(quotation, doc).unwrap_or(0),
    )
}

/// Every document that could be among the best `wanted` by (score, place): per segment, the
/// best `wanted` by score in a heap whose worst score is the bar, and of the other documents
/// scoring exactly the bar, the first `wanted` by place. A document below a segment's bar has
/// `wanted` better ones beside it, and one at the bar past the first `wanted` by place has
/// `wanted` tied ones before it: neither is on any page up to `wanted`. Most documents fail
/// on their score alone; places are read only for documents at the bar, and only once
/// `2 × wanted` of them wait (a word whose passages nearly all score alike used to keep them
/// all). Requires `wanted > 0`.
struct TopWithTies<'a> {
    wanted: usize,
    /// Each segment's place columns, by segment ordinal.
    columns: &'a [Arc<[Column<u64>; 3]>],
}

/// A score and a document, the worst score first out of a `BinaryHeap`.
#[derive(Debug, Clone, Copy)]
struct Scored(Score, DocId);

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.0.total_cmp(&self.0)
    }
}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Scored {}

struct SegmentTop {
    wanted: usize,
    /// The best `wanted`, the worst on top.
    kept: std::collections::BinaryHeap<Scored>,
    /// Documents scoring the bar (the worst kept score) that are not kept.
    tied: Vec<DocId>,
    columns: Arc<[Column<u64>; 3]>,
    segment: SegmentOrdinal,
}

impl SegmentTop {
    /// Keeps the first `wanted` of the tied documents by place.
    fn trim_tied(&mut self) {
        let columns = &*self.columns;
        let wanted = self.wanted;
        self.tied
            .select_nth_unstable_by_key(wanted - 1, |&doc| place_of(columns, doc));
        self.tied.truncate(wanted);
    }
}

impl SegmentCollector for SegmentTop {
    type Fruit = Vec<(Score, DocAddress)>;

    fn collect(&mut self, doc: DocId, score: Score) {
        if self.kept.len() < self.wanted {
            self.kept.push(Scored(score, doc));
            return;
        }
        let Some(mut worst) = self.kept.peek_mut() else {
            return;
        };
        let bar = worst.0;
        if score < bar {
            return;
        }
        if score == bar {
            drop(worst);
            self.tied.push(doc);
            if self.tied.len() >= 2 * self.wanted {
                self.trim_tied();
            }
            return;
        }
        let out = std::mem::replace(&mut *worst, Scored(score, doc));
        drop(worst);
        // The bar rose: the documents at the old one are out of reach.
        match self.kept.peek() {
            Some(new) if new.0 == bar => {
                self.tied.push(out.1);
                if self.tied.len() >= 2 * self.wanted {
                    self.trim_tied();
                }
            }
            _ => self.tied.clear(),
        }
    }

    fn harvest(self) -> Self::Fruit {
        let segment = self.segment;
        let bar = self.kept.peek().map(|s| s.0);
        let tied = self.tied.into_iter().zip(std::iter::repeat(bar));
        self.kept
            .into_iter()
            .map(|Scored(score, doc)| (score, DocAddress::new(segment, doc)))
            .chain(tied.filter_map(|(doc, bar)| Some((bar?, DocAddress::new(segment, doc)))))
            .collect()
    }
}

impl Collector for TopWithTies<'_> {
    type Fruit = Vec<(Score, DocAddress)>;
    type Child = SegmentTop;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        _: &SegmentReader,
    ) -> tantivy::Result<SegmentTop> {
        Ok(SegmentTop {
            wanted: self.wanted,
            kept: std::collections::BinaryHeap::with_capacity(self.wanted.min(1 << 16)),
            tied: Vec::new(),
            columns: self.columns[segment as usize].clone(),
            segment,
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, segments: Vec<Self::Fruit>) -> tantivy::Result<Self::Fruit> {
        Ok(segments.into_iter().flatten().collect())
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

/// Which of a segment's documents a filter on one kind (and some studies) keeps, and the
/// cheapest exact way to find them, read off the segment's term dictionaries.
///
/// The kept documents are those matched by a few postings lists (the scope's kind, the
/// studies), and tantivy's intersection leaps through the shortest list it is given. When
/// fewer documents are left out than kept, as for a viewer of the largest study or a
/// search of passages beside a few quotations, the left-out ones are matched instead: a
/// search then seeks through them alone, and a term's readable document frequency counts
/// them alone, rather than reading every occurrence of the term or seeking through the
/// lists of the kept (BENCHMARKS.md, session 17).
#[derive(Debug)]
enum Plan {
    /// No document is kept.
    Nothing,
    /// Every document is kept.
    Everything,
    /// Every document but those this query matches (another kind, another study), at most
    /// the number given.
    AllBut(Box<dyn Query>, u64),
    /// The documents this query matches (the kind, the studies), from lists of as many
    /// postings as given.
    Among(Box<dyn Query>, u64),
}

impl Plan {
    /// The plan for the documents of `kind`, in one of `studies` (sorted) if given.
    fn of(
        reader: &SegmentReader,
        kind_field: Field,
        study_field: Field,
        kind: u64,
        studies: Option<&[u64]>,
    ) -> tantivy::Result<Self> {
        let all = u64::from(reader.max_doc());
        let df = |field: Field, value: u64| -> tantivy::Result<u64> {
            let term = Term::from_field_u64(field, value);
            Ok(u64::from(reader.inverted_index(field)?.doc_freq(&term)?))
        };
        // Taking away is exact when each document holds exactly one kind and one study:
        // then the documents left out are those holding another.
        let exactly_one = |field: Field| -> tantivy::Result<bool> {
            let name = reader.schema().get_field_name(field);
            Ok(reader.fast_fields().u64(name)?.get_cardinality() == Cardinality::Full)
        };
        let of_kind = df(kind_field, kind)?;
        let in_studies = match studies {
            None => all,
            Some(ids) => ids
                .iter()
                .map(|&s| df(study_field, s))
                .sum::<tantivy::Result<u64>>()?,
        };
        if of_kind == 0 || in_studies == 0 {
            return Ok(Plan::Nothing);
        }
        let studies_exact = studies.is_none() || exactly_one(study_field)?;
        if of_kind == all && in_studies == all && studies_exact {
            return Ok(Plan::Everything);
        }
        let in_kind = u64_term(kind_field, kind);
        let left_out = (all - of_kind) + (all - in_studies.min(all));
        if left_out < of_kind.min(in_studies) && studies_exact && exactly_one(kind_field)? {
            let mut others = Vec::new();
            let mut every_key_read = true;
            let kinds = reader.inverted_index(kind_field)?;
            let mut stream = kinds.terms().stream()?;
            while stream.advance() {
                match u64_of_term_bytes(stream.key()) {
                    Some(value) if value == kind => {}
                    Some(value) => others.push(u64_term(kind_field, value)),
                    None => every_key_read = false,
                }
            }
            if let Some(ids) = studies {
                let of_study = reader.inverted_index(study_field)?;
                let mut stream = of_study.terms().stream()?;
                while stream.advance() {
                    match u64_of_term_bytes(stream.key()) {
                        Some(value) if ids.binary_search(&value).is_ok() => {}
                        Some(value) => others.push(u64_term(study_field, value)),
                        None => every_key_read = false,
                    }
                }
            }
            // A key this code cannot read could hide documents to leave out: match the kept.
            if every_key_read {
                return Ok(Plan::AllBut(
                    Box::new(BooleanQuery::union(others)),
                    left_out,
                ));
            }
        }
        let kept = match studies {
            None => in_kind,
            Some(ids) => Box::new(BooleanQuery::intersection(vec![
                in_kind,
                Box::new(BooleanQuery::union(
                    ids.iter().map(|&s| u64_term(study_field, s)).collect(),
                )),
            ])),
        };
        let reads = match studies {
            None => of_kind,
            Some(_) => of_kind + in_studies,
        };
        Ok(Plan::Among(kept, reads))
    }

    /// The kept documents of the segment, live or not (collectors skip the deleted).
    fn scorer(&self, reader: &SegmentReader, schema: &Schema) -> tantivy::Result<Box<dyn Scorer>> {
        let off = || EnableScoring::disabled_from_schema(schema);
        Ok(match self {
            Plan::Nothing => Box::new(EmptyScorer),
            Plan::Everything => Box::new(AllScorer::new(reader.max_doc())),
            Plan::AllBut(left_out, most) => {
                let mut left_out = left_out.weight(off())?.scorer(reader, 1.0)?;
                if *most <= MOST_LEFT_OUT {
                    Box::new(AllBut::new(reader.max_doc(), &mut left_out))
                } else {
                    Box::new(Exclude::new(AllScorer::new(reader.max_doc()), left_out))
                }
            }
            Plan::Among(kept, _) => kept.weight(off())?.scorer(reader, 1.0)?,
        })
    }

    /// The kept live documents holding `term`.
    fn count(&self, reader: &SegmentReader, schema: &Schema, term: &Term) -> tantivy::Result<u64> {
        let holding = || -> Box<dyn Query> {
            Box::new(TermQuery::new(term.clone(), IndexRecordOption::Basic))
        };
        let count = |query: &dyn Query| -> tantivy::Result<u64> {
            let weight = query.weight(EnableScoring::disabled_from_schema(schema))?;
            Ok(u64::from(weight.count(reader)?))
        };
        let both = |q: &dyn Query| BooleanQuery::intersection(vec![holding(), q.box_clone()]);
        Ok(match self {
            Plan::Nothing => 0,
            Plan::Everything => count(holding().as_ref())?,
            Plan::AllBut(left_out, _) => {
                count(holding().as_ref())? - count(&both(left_out.as_ref()))?
            }
            Plan::Among(kept, _) => count(&both(kept.as_ref()))?,
        })
    }

    /// At most how many postings the plan's scorer reads in a whole search: the documents
    /// it leaves out, or those it keeps, read once (its unions go through them in windows,
    /// whatever the seeks).
    fn reads(&self) -> u64 {
        match self {
            Plan::Nothing | Plan::Everything => 0,
            Plan::AllBut(_, most) => *most,
            Plan::Among(_, reads) => *reads,
        }
    }

    /// At most how many postings `count` reads for a term with `df` documents in the
    /// segment: the plan's own, and the term's where deleted documents make tantivy read
    /// them to leave those out (else it takes the document frequency).
    fn count_work(&self, reader: &SegmentReader, df: u64) -> u64 {
        let term = match self {
            Plan::Everything | Plan::AllBut(..) if reader.has_deletes() => df,
            _ => 0,
        };
        term + self.reads()
    }
}

fn u64_term(field: Field, value: u64) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_u64(field, value),
        IndexRecordOption::Basic,
    ))
}

/// A u64 term's value from its key in a term dictionary (eight bytes, big-endian, as
/// tantivy writes it).
fn u64_of_term_bytes(key: &[u8]) -> Option<u64> {
    key.try_into().ok().map(u64::from_be_bytes)
}

/// The documents of one scope in some studies (or in all), as a search filter: planned per
/// segment (see `Plan`), so that the kind and the readable studies, which nearly every
/// document of a segment may share, cost a search little.
#[derive(Debug, Clone)]
struct Readable {
    kind_field: Field,
    study_field: Field,
    kind: u64,
    /// Sorted, deduplicated.
    studies: Option<Arc<[u64]>>,
}

impl Readable {
    fn new(fields: &Fields, kind: u64, study_ids: Option<&[i64]>) -> Self {
        let studies = study_ids.map(|ids| {
            let mut ids: Vec<u64> = ids.iter().map(|&s| s as u64).collect();
            ids.sort_unstable();
            ids.dedup();
            ids.into()
        });
        Self {
            kind_field: fields.kind,
            study_field: fields.study_id,
            kind,
            studies,
        }
    }

    fn plan(&self, reader: &SegmentReader) -> tantivy::Result<Plan> {
        Plan::of(
            reader,
            self.kind_field,
            self.study_field,
            self.kind,
            self.studies.as_deref(),
        )
    }
}

impl Query for Readable {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(ReadableWeight {
            readable: self.clone(),
            schema: scoring.schema().clone(),
        }))
    }
}

struct ReadableWeight {
    readable: Readable,
    schema: Schema,
}

impl Weight for ReadableWeight {
    fn scorer(&self, reader: &SegmentReader, _boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        self.readable.plan(reader)?.scorer(reader, &self.schema)
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.doc() > doc || scorer.seek(doc) != doc {
            return Err(tantivy::TantivyError::InvalidArgument(format!(
                "document {doc} is not readable"
            )));
        }
        Ok(Explanation::new("readable", 0.0))
    }
}

/// One segment as the statistics read it.
struct ReadableSegment {
    reader: SegmentReader,
    plan: Plan,
}

/// BM25 statistics counted over the live documents of one scope in the caller's readable
/// studies, rather than over the whole index: see `SearchIndex::readable_studies`. Document
/// and token counts sum the segments' cached totals; a term's document frequency is counted
/// per segment as its `Plan` says.
struct ReadableStatistics {
    segments: Vec<ReadableSegment>,
    schema: Schema,
    kind: u64,
    /// Sorted.
    studies: Vec<u64>,
    fields: [Field; 4],
    docs: u64,
    tokens: [u64; 4],
}

impl ReadableStatistics {
    fn new(
        searcher: &Searcher,
        cache: &ReadableTotals,
        fields: &Fields,
        scope: Scope,
        study_ids: &[i64],
    ) -> tantivy::Result<Self> {
        let scored = scored_fields(fields);
        let kind = kind_of(scope);
        let mut studies: Vec<u64> = study_ids.iter().map(|&s| s as u64).collect();
        studies.sort_unstable();
        studies.dedup();
        let keys: Vec<SegmentKey> = searcher
            .segment_readers()
            .iter()
            .map(SegmentKey::of)
            .collect();
        let mut totals: Vec<Option<Arc<SegmentTotals>>> = {
            let cache = cache.lock().unwrap_or_else(|e| e.into_inner());
            keys.iter().map(|k| cache.get(k).cloned()).collect()
        };
        if totals.iter().any(Option::is_none) {
            // Counted outside the lock: a new segment's pass need not hold up other searches.
            let mut counted = Vec::new();
            for ((slot, reader), key) in
                totals.iter_mut().zip(searcher.segment_readers()).zip(&keys)
            {
                if slot.is_none() {
                    let t = Arc::new(segment_totals(reader, &scored)?);
                    counted.push((*key, t.clone()));
                    *slot = Some(t);
                }
            }
            let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
            let current: HashSet<&SegmentKey> = keys.iter().collect();
            cache.retain(|k, _| current.contains(k));
            cache.extend(counted);
        }
        let mut segments = Vec::with_capacity(keys.len());
        let (mut docs, mut tokens) = (0, [0; 4]);
        for (reader, t) in searcher.segment_readers().iter().zip(totals) {
            let t = t.unwrap_or_default();
            let mut segment_docs = 0;
            for study in &studies {
                if let Some(t) = t.by_study.get(&(kind, *study)) {
                    segment_docs += t.docs;
                    for (sum, n) in tokens.iter_mut().zip(&t.tokens) {
                        *sum += n;
                    }
                }
            }
            docs += segment_docs;
            segments.push(ReadableSegment {
                reader: reader.clone(),
                plan: Plan::of(reader, fields.kind, fields.study_id, kind, Some(&studies))?,
            });
        }
        Ok(Self {
            segments,
            schema: searcher.schema().clone(),
            kind,
            studies,
            fields: scored,
            docs,
            tokens,
        })
    }

    /// The statistics, if every segment's totals are cached (`None` otherwise): counting a
    /// segment's totals reads all its documents. (A search of a newer searcher may drop
    /// the entries in between; they are then counted, as for any search.)
    fn cached(
        searcher: &Searcher,
        cache: &ReadableTotals,
        fields: &Fields,
        scope: Scope,
        study_ids: &[i64],
    ) -> tantivy::Result<Option<Self>> {
        let every_segment_counted = {
            let cache = cache.lock().unwrap_or_else(|e| e.into_inner());
            searcher
                .segment_readers()
                .iter()
                .all(|r| cache.contains_key(&SegmentKey::of(r)))
        };
        if !every_segment_counted {
            return Ok(None);
        }
        Self::new(searcher, cache, fields, scope, study_ids).map(Some)
    }

    /// At most how many postings counting `term`'s readable documents reads.
    fn count_work(&self, term: &Term) -> tantivy::Result<u64> {
        let mut work = 0;
        for segment in &self.segments {
            let df = segment
                .reader
                .inverted_index(term.field())?
                .doc_freq(term)?;
            work += segment.plan.count_work(&segment.reader, u64::from(df));
        }
        Ok(work)
    }
}

impl Bm25StatisticsProvider for ReadableStatistics {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        if let Some(i) = self.fields.iter().position(|&f| f == field) {
            return Ok(self.tokens[i]);
        }
        // No query scores another field; should one, it is counted, uncached, all the same.
        let mut total = 0;
        for segment in &self.segments {
            let t = segment_totals(&segment.reader, &[field])?;
            for study in &self.studies {
                if let Some(t) = t.by_study.get(&(self.kind, *study)) {
                    total += t.tokens[0];
                }
            }
        }
        Ok(total)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        // At least one, as the index-wide count: an average over no documents is not wanted
        // even where nothing is scored.
        Ok(self.docs.max(1))
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        let mut n = 0;
        for segment in &self.segments {
            n += segment.plan.count(&segment.reader, &self.schema, term)?;
        }
        Ok(n)
    }
}

/// A passage a concordance found, as its first pass keeps it: where it is and how many
/// lines it gives, not its text.
struct Found {
    interview_id: i64,
    /// Code points, transcript coordinates.
    start: usize,
    address: DocAddress,
    occurrences: usize,
}

pub(super) fn stored_str(doc: &TantivyDocument, field: Field) -> &str {
    doc.get_first(field)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
}

pub(super) fn stored_u64(doc: &TantivyDocument, field: Field) -> u64 {
    doc.get_first(field).and_then(|v| v.as_u64()).unwrap_or(0)
}

/// The `window` characters before byte `at`, read backwards from it.
fn left_context(text: &str, at: usize, window: usize) -> String {
    let before = &text[..at];
    let from = match window.checked_sub(1) {
        None => at,
        Some(n) => before.char_indices().rev().nth(n).map_or(0, |(i, _)| i),
    };
    before[from..].to_owned()
}

/// A window of the text around the first match, cut at word boundaries.
fn snippet(text: &str, first: Option<(usize, usize)>) -> String {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let (a, b) = first.unwrap_or((0, 0));
    let from_cp = chars.iter().position(|(i, _)| *i >= a).unwrap_or(0);
    let to_cp = chars
        .iter()
        .position(|(i, _)| *i >= b)
        .unwrap_or(chars.len());
    let mut lo = from_cp.saturating_sub(SNIPPET_CONTEXT);
    let mut hi = (to_cp + SNIPPET_CONTEXT).min(chars.len());
    while lo > 0
        && !chars[lo - 1].1.is_whitespace()
        && lo > from_cp.saturating_sub(SNIPPET_CONTEXT + 20)
    {
        lo -= 1;
    }
    while hi < chars.len() && !chars[hi].1.is_whitespace() && hi < to_cp + SNIPPET_CONTEXT + 20 {
        hi += 1;
    }
    let body: String = chars[lo..hi].iter().map(|(_, c)| c).collect();
    let mut out = String::new();
    if lo > 0 {
        out.push('…');
    }
    out.push_str(body.trim());
    if hi < chars.len() {
        out.push('…');
    }
    out
}

/// Counts hits per case, ambito, interview and (quotations) code over the whole result set:
/// the lists selected, and always the total.
struct FacetCollector(FacetSelection);

#[derive(Default)]
struct FacetCounts {
    total: usize,
    cases: HashMap<u64, usize>,
    ambiti: HashMap<u64, usize>,
    interviews: HashMap<u64, usize>,
    codes: HashMap<u64, usize>,
}

#[derive(Clone, Copy)]
enum Facet {
    Case,
    Ambito,
    Interview,
    Code,
}

fn sorted(map: HashMap<u64, usize>) -> Vec<(i64, usize)> {
    let mut v: Vec<(i64, usize)> = map.into_iter().map(|(k, n)| (k as i64, n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

impl FacetCounts {
    fn of(&mut self, facet: Facet) -> &mut HashMap<u64, usize> {
        match facet {
            Facet::Case => &mut self.cases,
            Facet::Ambito => &mut self.ambiti,
            Facet::Interview => &mut self.interviews,
            Facet::Code => &mut self.codes,
        }
    }

    fn into_facets(self) -> Facets {
        Facets {
            cases: sorted(self.cases),
            ambiti: sorted(self.ambiti),
            interviews: sorted(self.interviews),
            codes: sorted(self.codes),
        }
    }
}

struct SegmentFacets {
    counts: FacetCounts,
    /// One tally per facet counted.
    tallies: Vec<Tally>,
}

/// Widest range of values a segment counts in an array: 4 bytes each, per facet.
const DENSE_RANGE: u64 = 1 << 18;

/// Hits per value of one fast field in one segment. The values are database ids, so a
/// segment's usually span a short range and are counted in an array indexed by value: a
/// hash-map update per hit (SipHash) was a quarter of a faceted search's time. Values outside
/// the array (a range too wide for one) are counted in a map.
struct Tally {
    facet: Facet,
    column: Column<u64>,
    /// One value per document: read it directly rather than through the column's index.
    single: bool,
    counts: Counts,
}

struct Counts {
    min: u64,
    by_offset: Vec<u32>,
    others: HashMap<u64, usize>,
}

impl Counts {
    fn add(&mut self, value: u64) {
        let slot = value
            .checked_sub(self.min)
            .and_then(|offset| self.by_offset.get_mut(offset as usize));
        match slot {
            Some(n) => *n += 1,
            None => *self.others.entry(value).or_default() += 1,
        }
    }
}

impl Tally {
    fn new(facet: Facet, column: Column<u64>) -> Self {
        let (min, max) = (column.min_value(), column.max_value());
        let width = match max.checked_sub(min) {
            Some(span) if span < DENSE_RANGE => span as usize + 1,
            _ => 0,
        };
        Self {
            facet,
            single: column.get_cardinality() == Cardinality::Full,
            column,
            counts: Counts {
                min,
                by_offset: vec![0; width],
                others: HashMap::new(),
            },
        }
    }

    fn count(&mut self, doc: DocId) {
        if self.single {
            self.counts.add(self.column.values.get_val(doc));
        } else {
            for value in self.column.values_for_doc(doc) {
                self.counts.add(value);
            }
        }
    }

    fn into_map(self) -> HashMap<u64, usize> {
        let Counts {
            min,
            by_offset,
            mut others,
        } = self.counts;
        for (offset, n) in by_offset.into_iter().enumerate() {
            if n > 0 {
                *others.entry(min + offset as u64).or_default() += n as usize;
            }
        }
        others
    }
}

impl Collector for FacetCollector {
    type Fruit = FacetCounts;
    type Child = SegmentFacets;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentFacets> {
        let ff = reader.fast_fields();
        let selected = &self.0;
        let mut tallies = Vec::new();
        for (wanted, field, facet) in [
            (selected.cases, "case_id", Facet::Case),
            (selected.ambiti, "ambito_id", Facet::Ambito),
            (selected.interviews, INTERVIEW_ID, Facet::Interview),
            (selected.codes, "code_direct", Facet::Code),
        ] {
            if wanted {
                tallies.push(Tally::new(facet, ff.u64(field)?));
            }
        }
        Ok(SegmentFacets {
            counts: FacetCounts::default(),
            tallies,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<FacetCounts>) -> tantivy::Result<FacetCounts> {
        let mut all = FacetCounts::default();
        for f in fruits {
            all.total += f.total;
            for (target, source) in [
                (&mut all.cases, f.cases),
                (&mut all.ambiti, f.ambiti),
                (&mut all.interviews, f.interviews),
                (&mut all.codes, f.codes),
            ] {
                for (k, n) in source {
                    *target.entry(k).or_default() += n;
                }
            }
        }
        Ok(all)
    }
}

impl SegmentCollector for SegmentFacets {
    type Fruit = FacetCounts;

    fn collect(&mut self, doc: DocId, _: Score) {
        self.counts.total += 1;
        for tally in &mut self.tallies {
            tally.count(doc);
        }
    }

    fn harvest(mut self) -> FacetCounts {
        for tally in self.tallies {
            let facet = tally.facet;
            *self.counts.of(facet) = tally.into_map();
        }
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::{analyzer, schema};
    use tantivy::query::AllQuery;
    use tantivy::{Index, TantivyDocument};

    /// An empty index in memory whose segments stay as committed.
    fn unmerged_index() -> (Index, tantivy::IndexWriter, Fields) {
        let (schema, f) = schema::build();
        let index = Index::create_in_ram(schema);
        analyzer::register(&index);
        let writer: tantivy::IndexWriter = index.writer(15_000_000).unwrap();
        writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
        (index, writer, f)
    }

    /// Repeatable draws below `n` (a linear congruential generator).
    fn draws(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        }
    }

    /// The array-backed tallies count what a plain map would: ids close together, ids too
    /// far apart for one array (counted in the map), several codes on one quotation, and
    /// documents without a case.
    #[test]
    fn facet_counts_match_a_plain_count_across_segments() {
        let (schema, f) = schema::build();
        let index = Index::create_in_ram(schema);
        analyzer::register(&index);
        let mut writer: tantivy::IndexWriter = index.writer(15_000_000).unwrap();
        let far = 1 << 40;
        let mut expected: [HashMap<u64, usize>; 3] = Default::default();
        for segment in 0..3u64 {
            for n in 0..500u64 {
                let mut doc = TantivyDocument::default();
                doc.add_u64(f.kind, KIND_QUOTATION);
                let interview = if n % 7 == 0 { far + n } else { 1 + n % 40 };
                doc.add_u64(f.interview_id, interview);
                *expected[0].entry(interview).or_default() += 1;
                if n % 5 != 0 {
                    let case = 100 + (n + segment) % 3;
                    doc.add_u64(f.case_id, case);
                    *expected[1].entry(case).or_default() += 1;
                }
                for code in [n % 4, 10 + n % 2] {
                    doc.add_u64(f.code_direct, code);
                    *expected[2].entry(code).or_default() += 1;
                }
                writer.add_document(doc).unwrap();
            }
            writer.commit().unwrap();
        }
        let searcher = index.reader().unwrap().searcher();
        assert_eq!(searcher.segment_readers().len(), 3);
        let counts = searcher
            .search(&AllQuery, &FacetCollector(FacetSelection::ALL))
            .unwrap();
        assert_eq!(counts.total, 1500);
        for (got, want) in [&counts.interviews, &counts.cases, &counts.codes]
            .into_iter()
            .zip(&expected)
        {
            assert_eq!(got, want);
        }
    }
    /// Hits of equal score come in the order of their place (interview, start), whatever
    /// their address in the index: pages taken one after the other hold every hit once, and
    /// stay the same after the segments merge. Built so that addresses run against places:
    /// the later places are added first, in earlier segments.
    #[test]
    fn tied_hits_are_ranked_by_place_across_pages_and_merges() {
        let (index, mut writer, f) = unmerged_index();
        // (interview, start, text): one hit above the tied ones, one below.
        let mut docs = vec![(9, 0, "la casa è la casa")];
        for interview in [3u64, 1, 2] {
            for start in [4_000u64, 2_000, 0] {
                docs.push((interview, start, "la casa è grande"));
            }
        }
        docs.push((
            1,
            6_000,
            "una casa, ma più lontana di tutte le altre parole",
        ));
        for (n, (interview, start, text)) in docs.iter().enumerate() {
            let mut doc = TantivyDocument::default();
            doc.add_u64(f.kind, KIND_PASSAGE);
            doc.add_u64(f.interview_id, *interview);
            doc.add_u64(f.start, *start);
            f.add_text(&mut doc, text);
            writer.add_document(doc).unwrap();
            if n % 2 == 1 {
                writer.commit().unwrap();
            }
        }
        writer.commit().unwrap();
        let reader = index.reader().unwrap();
        let query = BooleanQuery::new(vec![(
            Occur::Must,
            Box::new(TermQuery::new(
                Term::from_field_text(f.text_exact, "casa"),
                IndexRecordOption::WithFreqs,
            )) as Box<dyn Query>,
        )]);
        let places = PlaceColumns::default();
        let page = |searcher: &Searcher, offset: usize, limit: usize| {
            let run = Run {
                searcher,
                query: &query,
                statistics: None,
            };
            let facets = FacetCollector(FacetSelection::default());
            let (hits, counted) = ranked_page(&run, &places, offset, limit, facets).unwrap();
            assert_eq!(counted.total, docs.len());
            hits.into_iter()
                .map(|(_, address)| {
                    let doc: TantivyDocument = searcher.doc(address).unwrap();
                    (stored_u64(&doc, f.interview_id), stored_u64(&doc, f.start))
                })
                .collect::<Vec<_>>()
        };
        let mut expected = vec![(9, 0)];
        for interview in 1..=3 {
            for start in [0, 2_000, 4_000] {
                expected.push((interview, start));
            }
        }
        expected.push((1, 6_000));
        let searcher = reader.searcher();
        assert!(searcher.segment_readers().len() > 3);
        // One page holding every hit, and pages of every size, cut inside the tied hits.
        assert_eq!(page(&searcher, 0, 11), expected);
        for size in 1..=4 {
            let paged: Vec<_> = (0..docs.len())
                .step_by(size)
                .flat_map(|offset| page(&searcher, offset, size))
                .collect();
            assert_eq!(paged, expected, "pages of {size}");
        }
        let segments: Vec<_> = searcher
            .segment_readers()
            .iter()
            .map(|r| r.segment_id())
            .collect();
        writer.merge(&segments).wait().unwrap();
        reader.reload().unwrap();
        let merged = reader.searcher();
        assert_eq!(merged.segment_readers().len(), 1);
        for size in [1, 3] {
            let paged: Vec<_> = (0..docs.len())
                .step_by(size)
                .flat_map(|offset| page(&merged, offset, size))
                .collect();
            assert_eq!(paged, expected, "pages of {size} after the merge");
        }
        // The merged segments' columns are let go.
        assert_eq!(places.lock().unwrap().len(), 1);
    }

    /// A word whose hits all score alike: a segment hands over fewer than `3 × wanted`
    /// candidates (the best `wanted` and fewer than `2 × wanted` tied ones; before, every
    /// tied document), and the page still holds the first by place.
    #[test]
    fn tied_hits_beyond_the_page_are_not_all_kept() {
        let (schema, f) = schema::build();
        let index = Index::create_in_ram(schema);
        analyzer::register(&index);
        let mut writer: tantivy::IndexWriter = index.writer(15_000_000).unwrap();
        // Added in the reverse of their places, in one segment.
        for interview in (1..=400u64).rev() {
            let mut doc = TantivyDocument::default();
            doc.add_u64(f.kind, KIND_PASSAGE);
            doc.add_u64(f.interview_id, interview);
            doc.add_u64(f.start, 0);
            f.add_text(&mut doc, "la casa è grande");
            writer.add_document(doc).unwrap();
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        assert_eq!(searcher.segment_readers().len(), 1);
        let query = TermQuery::new(
            Term::from_field_text(f.text_exact, "casa"),
            IndexRecordOption::WithFreqs,
        );
        let places = PlaceColumns::default();
        let columns = place_columns(&searcher, &places).unwrap();
        for wanted in [1, 5, 20] {
            let top = TopWithTies {
                wanted,
                columns: &columns,
            };
            let candidates = searcher.search(&query, &top).unwrap();
            assert!(
                (wanted..3 * wanted).contains(&candidates.len()),
                "{} candidates for {wanted}",
                candidates.len()
            );
        }
        let run = Run {
            searcher: &searcher,
            query: &BooleanQuery::new(vec![(Occur::Must, Box::new(query) as Box<dyn Query>)]),
            statistics: None,
        };
        let facets = FacetCollector(FacetSelection::default());
        let (page, counted) = ranked_page(&run, &places, 3, 4, facets).unwrap();
        assert_eq!(counted.total, 400);
        let interviews: Vec<u64> = page
            .into_iter()
            .map(|(_, a)| stored_u64(&searcher.doc::<TantivyDocument>(a).unwrap(), f.interview_id))
            .collect();
        assert_eq!(interviews, [4, 5, 6, 7]);
    }

    /// Against ranking every hit by (score, place) by hand: many documents with few distinct
    /// scores, added in an order unrelated to their places, over segments of different
    /// sizes, some with deletions; every page of several sizes, from every offset.
    #[test]
    fn pages_agree_with_ranking_every_hit_by_score_then_place() {
        let (index, mut writer, f) = unmerged_index();
        let mut next = draws(7);
        let mut placed = std::collections::BTreeSet::new();
        for n in 0..300u64 {
            let (interview, start) = (1 + next(12), 1000 * next(40));
            if !placed.insert((interview, start)) {
                continue;
            }
            let words = ["casa"; 3][..1 + next(3) as usize].join(" ");
            let filler = ["della", "comunità", "di", "valle", "oggi"][..next(5) as usize].join(" ");
            let mut doc = TantivyDocument::default();
            doc.add_u64(f.kind, KIND_PASSAGE);
            doc.add_u64(f.interview_id, interview);
            doc.add_u64(f.start, start);
            f.add_text(&mut doc, &format!("{words} {filler}"));
            writer.add_document(doc).unwrap();
            if next(9) == 0 {
                writer.commit().unwrap();
            }
            if n % 50 == 49 {
                writer.delete_term(Term::from_field_u64(f.interview_id, 1 + next(12)));
            }
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        assert!(searcher.segment_readers().len() > 5);
        let query = BooleanQuery::new(vec![(
            Occur::Must,
            Box::new(TermQuery::new(
                Term::from_field_text(f.text_exact, "casa"),
                IndexRecordOption::WithFreqs,
            )) as Box<dyn Query>,
        )]);
        let key = |address: DocAddress| {
            let doc: TantivyDocument = searcher.doc(address).unwrap();
            (stored_u64(&doc, f.interview_id), stored_u64(&doc, f.start))
        };
        let mut every: Vec<(Score, (u64, u64))> = searcher
            .search(
                &query,
                &tantivy::collector::TopDocs::with_limit(10_000).order_by_score(),
            )
            .unwrap()
            .into_iter()
            .map(|(score, address)| (score, key(address)))
            .collect();
        every.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let distinct: HashSet<u32> = every.iter().map(|e| e.0.to_bits()).collect();
        assert!(
            every.len() > 100 && distinct.len() < 20,
            "{} hits, {} scores",
            every.len(),
            distinct.len()
        );
        let places = PlaceColumns::default();
        let run = Run {
            searcher: &searcher,
            query: &query,
            statistics: None,
        };
        for limit in [1, 7, 20, 1000] {
            for offset in 0..every.len() + 1 {
                let facets = FacetCollector(FacetSelection::default());
                let (page, counted) = ranked_page(&run, &places, offset, limit, facets).unwrap();
                assert_eq!(counted.total, every.len());
                let got: Vec<_> = page.into_iter().map(|(s, a)| (s, key(a))).collect();
                let end = (offset + limit).min(every.len());
                assert_eq!(
                    got,
                    every[offset.min(end)..end],
                    "offset {offset}, limit {limit}"
                );
            }
        }
    }

    /// Statistics over the readable documents are those of an index holding only them: other
    /// studies, the other scope and deleted documents count for nothing, across segments.
    /// Totals cached before a segment gains a deletion are counted again after it.
    #[test]
    fn readable_statistics_are_those_of_the_readable_documents_alone() {
        let (schema, f) = schema::build();
        let docs: &[(u64, u64, &str)] = &[
            (KIND_PASSAGE, 1, "rossi zzqxw"),
            (KIND_PASSAGE, 1, "la casa di rossi è grande"),
            (KIND_PASSAGE, 2, "rossi rossi rossi e ancora rossi"),
            (KIND_QUOTATION, 1, "rossi"),
            (KIND_PASSAGE, 2, "casa"),
            (KIND_PASSAGE, 1, "nessuna parola cercata"),
            (KIND_PASSAGE, 1, "rossi cancellato"),
        ];
        // With `readable`, its documents alone, but for those numbered in `gone`.
        let build = |readable: Option<&[u64]>, gone: &[usize]| {
            let index = Index::create_in_ram(schema.clone());
            analyzer::register(&index);
            let mut writer: tantivy::IndexWriter = index.writer(15_000_000).unwrap();
            // Segments stay as committed: the deletion below must land in a cached one.
            writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
            for (n, &(kind, study, text)) in docs.iter().enumerate() {
                let deleted = text.contains("cancellato");
                if readable.is_some_and(|r| {
                    kind != KIND_PASSAGE || !r.contains(&study) || deleted || gone.contains(&n)
                }) {
                    continue;
                }
                let mut doc = TantivyDocument::default();
                doc.add_u64(f.kind, kind);
                doc.add_u64(f.study_id, study);
                doc.add_u64(f.interview_id, n as u64);
                f.add_text(&mut doc, text);
                writer.add_document(doc).unwrap();
                if n % 3 == 2 {
                    writer.commit().unwrap();
                }
            }
            writer.commit().unwrap();
            if readable.is_none() {
                writer.delete_term(Term::from_field_u64(f.interview_id, docs.len() as u64 - 1));
                writer.commit().unwrap();
            }
            (index, writer)
        };
        let check = |all: &Searcher,
                     cache: &ReadableTotals,
                     studies: &[i64],
                     alone: &Searcher,
                     docs: u64| {
            let stats =
                ReadableStatistics::new(all, cache, &f, Scope::Transcripts, studies).unwrap();
            let expected: &dyn Bm25StatisticsProvider = alone;
            assert_eq!(stats.total_num_docs().unwrap(), docs);
            assert_eq!(
                stats.total_num_docs().unwrap(),
                expected.total_num_docs().unwrap()
            );
            for field in [f.text, f.text_exact, f.text_lemma] {
                assert_eq!(
                    stats.total_num_tokens(field).unwrap(),
                    expected.total_num_tokens(field).unwrap()
                );
            }
            for word in ["rossi", "casa", "zzqxw", "ancora", "assente", "grande"] {
                let term = Term::from_field_text(f.text_exact, word);
                assert_eq!(
                    stats.doc_freq(&term).unwrap(),
                    expected.doc_freq(&term).unwrap(),
                    "{word}"
                );
            }
        };
        let (all_index, mut writer) = build(None, &[]);
        let reader = all_index.reader().unwrap();
        let all = reader.searcher();
        let alone = build(Some(&[1]), &[]).0.reader().unwrap().searcher();
        assert!(all.segment_readers().len() > 1);
        let cache = ReadableTotals::default();
        check(&all, &cache, &[1], &alone, 3);
        // Counted again from the cache, the same.
        check(&all, &cache, &[1], &alone, 3);
        let segments = |s: &Searcher| {
            let mut ids: Vec<_> = s.segment_readers().iter().map(|r| r.segment_id()).collect();
            ids.sort();
            ids
        };
        assert_eq!(cache.lock().unwrap().len(), all.segment_readers().len());
        // Both studies: a segment of readable passages alone, one with a quotation besides.
        let both = build(Some(&[1, 2]), &[]).0.reader().unwrap().searcher();
        check(&all, &cache, &[1, 2], &both, 5);

        // "la casa di rossi è grande" goes from a segment whose totals are cached.
        writer.delete_term(Term::from_field_u64(f.interview_id, 1));
        writer.commit().unwrap();
        reader.reload().unwrap();
        let after = reader.searcher();
        assert_eq!(
            segments(&after),
            segments(&all),
            "the deletion made a new segment"
        );
        let alone = build(Some(&[1]), &[1]).0.reader().unwrap().searcher();
        check(&after, &cache, &[1], &alone, 2);
        let both = build(Some(&[1, 2]), &[1]).0.reader().unwrap().searcher();
        check(&after, &cache, &[1, 2], &both, 4);
        // The segment's totals before the deletion are dropped.
        assert_eq!(cache.lock().unwrap().len(), after.segment_readers().len());
    }

    /// What the readable filter keeps, and a term's readable document frequency, against
    /// reading every live document: segments of one study, of several, with quotations, with
    /// documents lacking a study, with deletions; every set of readable studies and none, so
    /// that each plan is taken.
    #[test]
    fn readable_filter_and_frequencies_agree_with_reading_every_document() {
        let (index, mut writer, f) = unmerged_index();
        let mut next = draws(11);
        let words = ["rossi", "casa", "comunità", "perché", "ambito"];
        // Per segment: the studies its documents come from (0: no study), in proportion.
        let segments: [&[u64]; 6] = [
            &[1, 1, 1, 1, 1, 1, 1, 2],
            &[1, 2, 2, 2, 3],
            &[3],
            &[1, 1, 1, 0],
            &[2, 3],
            &[1, 1, 1, 1, 2, 3],
        ];
        let mut interview = 0;
        for (s, studies) in segments.iter().enumerate() {
            for _ in 0..120 {
                interview += 1;
                let study = studies[next(studies.len() as u64) as usize];
                let mut doc = TantivyDocument::default();
                // The third segment holds passages alone: all readable to a reader of 3.
                let kind = if s != 2 && next(6) == 0 {
                    KIND_QUOTATION
                } else {
                    KIND_PASSAGE
                };
                doc.add_u64(f.kind, kind);
                if study > 0 {
                    doc.add_u64(f.study_id, study);
                }
                doc.add_u64(f.interview_id, interview);
                let text: Vec<&str> = (0..1 + next(4))
                    .map(|_| words[next(words.len() as u64) as usize])
                    .collect();
                f.add_text(&mut doc, &text.join(" "));
                writer.add_document(doc).unwrap();
            }
            writer.commit().unwrap();
            if s % 2 == 1 {
                for _ in 0..15 {
                    let gone = interview - next(120);
                    writer.delete_term(Term::from_field_u64(f.interview_id, gone));
                }
                writer.commit().unwrap();
            }
        }
        let searcher = index.reader().unwrap().searcher();
        assert_eq!(searcher.segment_readers().len(), segments.len());
        // The live documents of `kind` (in `studies`) holding `term`, read one by one.
        let by_reading = |studies: Option<&[u64]>, kind: u64, term: &Term| {
            let mut found = HashSet::new();
            for (ord, reader) in searcher.segment_readers().iter().enumerate() {
                let kinds = reader.fast_fields().u64("kind").unwrap();
                let of_study = reader.fast_fields().u64("study_id").unwrap();
                let inverted = reader.inverted_index(term.field()).unwrap();
                let Some(mut postings) = inverted
                    .read_postings(term, IndexRecordOption::Basic)
                    .unwrap()
                else {
                    continue;
                };
                while postings.doc() != TERMINATED {
                    let doc = postings.doc();
                    if reader.alive_bitset().is_none_or(|a| a.is_alive(doc))
                        && first_value(&kinds, doc) == Some(kind)
                        && studies.is_none_or(|ids| {
                            first_value(&of_study, doc).is_some_and(|s| ids.contains(&s))
                        })
                    {
                        found.insert(DocAddress::new(ord as SegmentOrdinal, doc));
                    }
                    postings.advance();
                }
            }
            found
        };
        let cache = ReadableTotals::default();
        let mut plans = HashSet::new();
        let sets = [&[1][..], &[2], &[3], &[1, 2], &[1, 3], &[2, 3], &[1, 2, 3]];
        for scope in [Scope::Transcripts, Scope::Quotations] {
            for studies in sets.iter().map(|&s| Some(s)).chain([None]) {
                let ids: Option<Vec<i64>> = studies.map(|s| s.iter().map(|&s| s as i64).collect());
                let stats = studies.map(|_| {
                    ReadableStatistics::new(&searcher, &cache, &f, scope, ids.as_deref().unwrap())
                        .unwrap()
                });
                let filter = Readable::new(&f, kind_of(scope), ids.as_deref());
                for reader in searcher.segment_readers() {
                    plans.insert(match filter.plan(reader).unwrap() {
                        Plan::Nothing => "nothing",
                        Plan::Everything => "everything",
                        Plan::AllBut(..) => "all but",
                        Plan::Among(..) => "among",
                    });
                }
                for word in words {
                    for field in [f.text_exact, f.text] {
                        let term = Term::from_field_text(field, word);
                        let expected = by_reading(studies, kind_of(scope), &term);
                        let context = format!("{word} in {studies:?}, {scope:?}");
                        if let Some(stats) = &stats {
                            let n = stats.doc_freq(&term).unwrap();
                            assert_eq!(n, expected.len() as u64, "{context}");
                        }
                        let query = BooleanQuery::intersection(vec![
                            Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
                            Box::new(Unscored(Box::new(filter.clone()))),
                        ]);
                        let found = searcher.search(&query, &DocSetCollector).unwrap();
                        assert_eq!(found, expected, "{context}");
                    }
                }
            }
        }
        assert_eq!(plans.len(), 4, "{plans:?}");
    }

    /// Converted in one sweep, highlights agree with counting each from the start of the
    /// text; `highlight` gives them sorted and disjoint, which the sweep relies on, and a
    /// span out of order would still be right.
    #[test]
    fn code_point_spans_agree_with_counting_from_the_start() {
        use crate::text::{cp_offset, slice};
        let text = "Nella comunità c’è più fiducia: la comunità è unita, però la Comunità… 🙂 \
                    comunita."
            .repeat(40);
        let matchers = [Matcher::Terms {
            side: Side::Exact,
            terms: HashSet::from(["comunita".to_owned()]),
        }];
        let spans = query::highlight(&text, &matchers);
        assert_eq!(spans.len(), 160);
        assert!(
            spans
                .windows(2)
                .all(|w| w[0].0 < w[0].1 && w[0].1 <= w[1].0),
            "highlights not sorted and disjoint"
        );
        let counted: Vec<(usize, usize)> = spans
            .iter()
            .map(|&(a, b)| (cp_offset(&text, a), cp_offset(&text, b)))
            .collect();
        let swept = crate::text::cp_spans(&text, &spans);
        assert_eq!(swept, counted);
        for &(a, b) in &swept {
            let word = slice(&text, a, b).unwrap().to_lowercase();
            assert!(word == "comunità" || word == "comunita", "{word}");
        }
        let backwards: Vec<(usize, usize)> = spans.iter().rev().copied().collect();
        let mut expected = counted.clone();
        expected.reverse();
        assert_eq!(crate::text::cp_spans(&text, &backwards), expected);
        assert_eq!(crate::text::cp_spans(&text, &[]), []);
    }

    /// The left context is the `window` characters before the keyword, accents and
    /// apostrophes counted as one each.
    #[test]
    fn left_context_counts_characters_back_from_the_keyword() {
        let text = "Però l’ente è già là: comunità";
        let at = text.find("comunità").unwrap();
        assert_eq!(left_context(text, at, 0), "");
        assert_eq!(left_context(text, at, 10), "è già là: ");
        assert_eq!(left_context(text, at, 500), "Però l’ente è già là: ");
        assert_eq!(left_context(text, 0, 5), "");
    }
}
