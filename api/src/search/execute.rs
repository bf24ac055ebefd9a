//! Running searches and concordances: filters, BM25 ranking, facet counts, snippets, and
//! highlights converted once from tantivy's bytes to code points in transcript coordinates.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::Mutex;

use chrono::NaiveDate;
use std::collections::HashSet;

use tantivy::collector::{Collector, Count, DocSetCollector, SegmentCollector, TopDocs};
use tantivy::columnar::{Cardinality, Column};
use tantivy::query::{
    Bm25StatisticsProvider, BooleanQuery, EnableScoring, Occur, Query, RangeQuery, TermQuery,
    TermSetQuery,
};
use tantivy::schema::{Field, IndexRecordOption, Term, Value};
use tantivy::{
    BitSet, DocAddress, DocId, DocSet, Score, Searcher, SegmentOrdinal, SegmentReader,
    TantivyDocument, TERMINATED,
};

use super::analyzer;
use super::forms::{forms_of_term, spellings};
use super::indexer::day_number;
use super::query::{self, Compiler, Matcher, Mode, Side};
use super::schema::{KIND_PASSAGE, KIND_QUOTATION};
use super::unscored::Unscored;
use super::{SearchError, SearchIndex};

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
    /// every study (see `SearchIndex::search`).
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
/// Most surface forms counted for one search (a verb has about fifty).
const MAX_FORMS: usize = 200;

/// Up to this many ids are filtered by a union of term queries: a `TermSetQuery` builds an
/// FST for every search, which cost more than the rest of a one-case search.
const SMALL_ID_SET: usize = 32;

/// Documents whose `field` holds one of `ids`.
fn term_set(field: Field, ids: &[i64]) -> Box<dyn Query> {
    let terms = ids.iter().map(|&id| Term::from_field_u64(field, id as u64));
    if ids.len() > SMALL_ID_SET {
        return Box::new(TermSetQuery::new(terms));
    }
    Box::new(BooleanQuery::new(
        terms
            .map(|t| {
                let q: Box<dyn Query> = Box::new(TermQuery::new(t, IndexRecordOption::Basic));
                (Occur::Should, q)
            })
            .collect(),
    ))
}

impl SearchIndex {
    /// The filter clauses for a scope.
    fn filter_clauses(&self, scope: Scope, f: &Filter) -> Vec<(Occur, Box<dyn Query>)> {
        let fl = &self.fields;
        let kind = match scope {
            Scope::Transcripts => KIND_PASSAGE,
            Scope::Quotations => KIND_QUOTATION,
        };
        let mut out: Vec<Box<dyn Query>> = vec![Box::new(TermQuery::new(
            Term::from_field_u64(fl.kind, kind),
            IndexRecordOption::Basic,
        ))];
        for (field, ids) in [
            (fl.study_id, &f.study_ids),
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
        out.into_iter()
            .map(|q| {
                let filter: Box<dyn Query> = Box::new(Unscored(q));
                (Occur::Must, filter)
            })
            .collect()
    }

    /// The documents of a scope in the studies `study_ids` (the caller's readable ones): what
    /// a non-admin search's statistics are counted over. The other filters only narrow the
    /// search within readable data, so they do not restrict the statistics.
    fn readable_query(&self, scope: Scope, study_ids: &[i64]) -> BooleanQuery {
        let kind = match scope {
            Scope::Transcripts => KIND_PASSAGE,
            Scope::Quotations => KIND_QUOTATION,
        };
        BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_u64(self.fields.kind, kind),
                    IndexRecordOption::Basic,
                )),
            ),
            (Occur::Must, term_set(self.fields.study_id, study_ids)),
        ])
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
        let excluded: HashSet<String> = exclude_forms
            .iter()
            .cloned()
            .chain(query::excluded_forms(&expr))
            .flat_map(|f| analyzer::tokens(&mut analyzer::exact(), &f))
            .map(|t| t.term)
            .collect();
        let compiler = self.compiler(searcher, mode, fuzzy, excluded);
        compiler.try_compile(&expr)
    }

    /// The surface forms behind the positive clauses, each with the number of results of
    /// `query` holding it.
    fn matched_forms(
        &self,
        searcher: &tantivy::Searcher,
        query: &dyn Query,
        matchers: &[Matcher],
    ) -> Result<Vec<(String, usize)>, SearchError> {
        let mut candidates: Vec<String> = Vec::new();
        for m in matchers {
            let (side, terms): (Side, Vec<&String>) = match m {
                Matcher::Terms { side, terms } => (*side, terms.iter().collect()),
                Matcher::Phrase { side, terms, .. } => {
                    (*side, terms.iter().flat_map(|(_, t)| t).collect())
                }
                // A typo-tolerant word's forms are its highlights; not listed.
                Matcher::Fuzzy { .. } => continue,
            };
            for term in terms {
                for form in forms_of_term(searcher, self.fields.text_exact, side, term)? {
                    if !candidates.contains(&form) {
                        candidates.push(form);
                    }
                }
            }
        }
        candidates.truncate(MAX_FORMS);
        let count = |spelling: &str| -> tantivy::Result<usize> {
            let with_form = BooleanQuery::new(vec![
                (Occur::Must, query.box_clone()),
                (
                    Occur::Must,
                    Box::new(TermQuery::new(
                        Term::from_field_text(self.fields.text_surface, spelling),
                        IndexRecordOption::Basic,
                    )),
                ),
            ]);
            searcher.search(&with_form, &Count)
        };
        let mut out = Vec::new();
        for folded in candidates {
            // Report the forms as written ("città"), each spelling with its own count.
            for spelling in spellings(searcher, self.fields.text_surface, &folded)? {
                let n = count(&spelling)?;
                if n > 0 {
                    out.push((spelling, n));
                }
            }
        }
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(out)
    }

    pub fn search(&self, req: &SearchRequest) -> Result<SearchOutput, SearchError> {
        self.check_ready()?;
        let searcher = self.reader.searcher();
        let Some(compiled) = self.compile(
            &searcher,
            &req.query,
            req.mode,
            req.fuzzy,
            &req.exclude_forms,
        )?
        else {
            return Ok(SearchOutput::default());
        };
        let mut clauses = vec![(Occur::Must, compiled.query)];
        clauses.extend(self.filter_clauses(req.scope, &req.filter));
        let query = BooleanQuery::new(clauses);
        let matched_forms = if req.with_forms {
            self.matched_forms(&searcher, &query, &compiled.matchers)?
        } else {
            Vec::new()
        };
        let facets = FacetCollector(FacetSelection {
            codes: req.facets.codes && req.scope == Scope::Quotations,
            ..req.facets
        });
        let (top, counted) = if req.limit == 0 {
            // Nothing scored: the counts need no statistics.
            (Vec::new(), searcher.search(&query, &facets)?)
        } else {
            let collector = (
                TopDocs::with_limit(req.limit)
                    .and_offset(req.offset)
                    .order_by_score(),
                facets,
            );
            match req
                .filter
                .study_ids
                .as_ref()
                .filter(|_| req.filter.statistics_of_these_studies)
            {
                // Every study readable: the index-wide statistics leak nothing.
                None => searcher.search(&query, &collector)?,
                // Privacy: BM25 weighs a term by how many documents hold it and a field by
                // its average length, which tantivy counts over the whole index, private
                // studies included; a caller comparing the scores (or the order) of hits in
                // their own study could tell whether, and how often, a word occurs in
                // studies they cannot read. Scored over the readable documents only, a hit's
                // score depends on nothing the caller may not read.
                Some(ids) => {
                    let statistics =
                        ReadableStatistics::new(&searcher, &self.readable_query(req.scope, ids))?;
                    searcher.search_with_statistics_provider(&query, &collector, &statistics)?
                }
            }
        };
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            hits.push(self.hit(&searcher, address, score, &compiled.matchers)?);
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
            highlights: code_point_spans(&text, &spans)
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
    /// in. A page costs the same whatever `window`, and memory follows the passages found.
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
        let mut clauses = vec![(Occur::Must, compiled.query)];
        clauses.extend(self.filter_clauses(Scope::Transcripts, filter));
        let mut addresses: Vec<DocAddress> = searcher
            .search(&BooleanQuery::new(clauses), &DocSetCollector)?
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
                .zip(code_point_spans(text, &spans))
                .skip(skip)
                .take(wanted)
            {
                lines.push(ConcordanceLine {
                    interview_id: passage.interview_id,
                    interview_label: label.to_owned(),
                    start: passage.start + from,
                    end: passage.start + to,
                    left: left_context(text, a, window),
                    keyword: text[a..b].to_owned(),
                    right: text[b..].chars().take(window).collect(),
                });
            }
            skip = 0;
        }
        Ok((total, lines))
    }
}

/// BM25 statistics counted over the live documents a query (the caller's readable studies,
/// in one scope) matches, rather than over the whole index: see `SearchIndex::search`.
/// Documents per segment are found once per search; a term's document frequency walks its
/// postings against them, a field's token count sums their field norms (once per field).
struct ReadableStatistics {
    /// Per segment, in the searcher's order: the readable documents, and the same as a set.
    segments: Vec<(SegmentReader, Vec<DocId>, BitSet)>,
    docs: u64,
    tokens: Mutex<HashMap<Field, u64>>,
}

impl ReadableStatistics {
    fn new(searcher: &Searcher, readable: &dyn Query) -> tantivy::Result<Self> {
        let weight = readable.weight(EnableScoring::disabled_from_searcher(searcher))?;
        let mut segments = Vec::new();
        let mut docs = 0;
        for reader in searcher.segment_readers() {
            let alive = reader.alive_bitset();
            let mut set = BitSet::with_max_value(reader.max_doc());
            let mut list = Vec::new();
            let mut scorer = weight.scorer(reader, 1.0)?;
            let mut doc = scorer.doc();
            while doc != TERMINATED {
                if alive.is_none_or(|a| a.is_alive(doc)) {
                    set.insert(doc);
                    list.push(doc);
                }
                doc = scorer.advance();
            }
            docs += list.len() as u64;
            segments.push((reader.clone(), list, set));
        }
        Ok(Self {
            segments,
            docs,
            tokens: Mutex::new(HashMap::new()),
        })
    }
}

impl Bm25StatisticsProvider for ReadableStatistics {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        let mut cache = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&n) = cache.get(&field) {
            return Ok(n);
        }
        let mut total = 0u64;
        for (reader, list, _) in &self.segments {
            let norms = reader.get_fieldnorms_reader(field)?;
            total += list
                .iter()
                .map(|&d| u64::from(norms.fieldnorm(d)))
                .sum::<u64>();
        }
        cache.insert(field, total);
        Ok(total)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        // At least one, as the index-wide count: an average over no documents is not wanted
        // even where nothing is scored.
        Ok(self.docs.max(1))
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        let mut n = 0u64;
        for (reader, list, set) in &self.segments {
            if list.is_empty() {
                continue;
            }
            let inverted = reader.inverted_index(term.field())?;
            let Some(mut postings) = inverted.read_postings(term, IndexRecordOption::Basic)? else {
                continue;
            };
            if (list.len() as u64) * 4 < u64::from(postings.doc_freq()) {
                // Few readable documents, a common term: seek each readable one.
                for &d in list {
                    if postings.doc() > d {
                        continue;
                    }
                    if postings.seek(d) == d {
                        n += 1;
                    }
                }
            } else {
                let mut doc = postings.doc();
                while doc != TERMINATED {
                    n += u64::from(set.contains(doc));
                    doc = postings.advance();
                }
            }
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

fn stored_str(doc: &TantivyDocument, field: Field) -> &str {
    doc.get_first(field)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
}

fn stored_u64(doc: &TantivyDocument, field: Field) -> u64 {
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

/// Byte spans of `text` as code-point spans, counted in one pass over the text: `highlight`
/// gives them sorted and disjoint, so each conversion goes on from where the previous one
/// stopped (counting from the start for each was quadratic in a long passage full of
/// matches). A span out of order is still right, counted again from the start.
fn code_point_spans(text: &str, spans: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let (mut byte, mut cp) = (0, 0);
    let mut to_cp = |b: usize| {
        if b < byte {
            (byte, cp) = (0, 0);
        }
        cp += text[byte..b].chars().count();
        byte = b;
        cp
    };
    spans
        .iter()
        .map(|&(a, b)| {
            let a = to_cp(a);
            (a, to_cp(b))
        })
        .collect()
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
            (selected.interviews, "interview_id", Facet::Interview),
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
    use crate::search::schema;
    use tantivy::query::AllQuery;
    use tantivy::{Index, TantivyDocument};

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
    /// Statistics over the readable documents are those of an index holding only them: other
    /// studies, the other scope and deleted documents count for nothing, across segments.
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
        let build = |only_readable: bool| {
            let index = Index::create_in_ram(schema.clone());
            analyzer::register(&index);
            let mut writer: tantivy::IndexWriter = index.writer(15_000_000).unwrap();
            for (n, &(kind, study, text)) in docs.iter().enumerate() {
                let deleted = text.contains("cancellato");
                if only_readable && (kind != KIND_PASSAGE || study != 1 || deleted) {
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
            if !only_readable {
                writer.delete_term(Term::from_field_u64(f.interview_id, docs.len() as u64 - 1));
                writer.commit().unwrap();
            }
            index.reader().unwrap().searcher()
        };
        let (all, alone) = (build(false), build(true));
        assert!(all.segment_readers().len() > 1);
        let readable = BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_u64(f.kind, KIND_PASSAGE),
                    IndexRecordOption::Basic,
                )) as Box<dyn Query>,
            ),
            (Occur::Must, term_set(f.study_id, &[1])),
        ]);
        let stats = ReadableStatistics::new(&all, &readable).unwrap();
        let expected: &dyn Bm25StatisticsProvider = &alone;
        assert_eq!(stats.total_num_docs().unwrap(), 3);
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
        for word in ["rossi", "casa", "zzqxw", "ancora", "assente"] {
            let term = Term::from_field_text(f.text_exact, word);
            assert_eq!(
                stats.doc_freq(&term).unwrap(),
                expected.doc_freq(&term).unwrap(),
                "{word}"
            );
        }
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
        let swept = code_point_spans(&text, &spans);
        assert_eq!(swept, counted);
        for &(a, b) in &swept {
            let word = slice(&text, a, b).unwrap().to_lowercase();
            assert!(word == "comunità" || word == "comunita", "{word}");
        }
        let backwards: Vec<(usize, usize)> = spans.iter().rev().copied().collect();
        let mut expected = counted.clone();
        expected.reverse();
        assert_eq!(code_point_spans(&text, &backwards), expected);
        assert_eq!(code_point_spans(&text, &[]), []);
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
