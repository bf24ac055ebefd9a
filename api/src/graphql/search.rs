//! Full-text search and concordance (KWIC) over transcripts and quotations.

use async_graphql::connection::{Edge, PageInfo};
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};

use super::error::{bad_input, internal};
use super::ids::{decode_all, decode_cursor, encode, encode_cursor, Kind};
use super::interviews::Interview;
use super::loaders::{codebook, one};
use super::quotations::Quotation;
use super::scalars::Date;
use super::{on_the_blocking_pool, rc, Conn, RequestCtx, Total};
use crate::search::query::Mode;
use crate::search::{self, Scope};
use crate::service::{interviews, studies, territory};

/// Most hits in one page of search results.
const MAX_HITS: i32 = 100;
/// Most lines in one page of a concordance (they are short).
const MAX_LINES: i32 = 1000;
/// How deep search results can be paged (as Elasticsearch's `max_result_window`; `search`'s
/// description names it): ranking keeps every hit up to the end of the page in memory
/// (tantivy reserves room for twice as many), so a position taken from a cursor has to be
/// bounded.
const MAX_RESULT_WINDOW: usize = 10_000;

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum SearchScope {
    /// Passages of interview transcripts.
    Transcripts,
    /// Coded quotations.
    Quotations,
}

/// How a query word matches the text.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
pub enum MatchMode {
    /// The inflected forms of the same word (default).
    #[default]
    Lemma,
    /// Only the typed form, ignoring case and accents.
    Exact,
    /// Everything sharing the Snowball stem (broad).
    Stem,
}

impl From<MatchMode> for Mode {
    fn from(m: MatchMode) -> Self {
        match m {
            MatchMode::Lemma => Mode::Lemma,
            MatchMode::Exact => Mode::Exact,
            MatchMode::Stem => Mode::Stem,
        }
    }
}

#[derive(SimpleObject)]
pub struct MatchedForm {
    /// A surface form found in the text (lower-cased), e.g. "anziani".
    pub form: String,
    /// Passages (or quotations) containing it.
    pub count: i32,
}

#[derive(InputObject, Default)]
pub struct SearchFilter {
    pub study_ids: Option<Vec<ID>>,
    pub case_ids: Option<Vec<ID>>,
    pub ambito_codes: Option<Vec<String>>,
    pub interview_ids: Option<Vec<ID>>,
    /// QUOTATIONS scope: quotations carrying any of these codes or their descendants.
    pub code_ids: Option<Vec<ID>>,
    pub conducted_from: Option<Date>,
    pub conducted_to: Option<Date>,
}

/// A [start, end) span in transcript coordinates (code points).
#[derive(SimpleObject, Clone, Copy)]
pub struct Span {
    pub start: i32,
    pub end: i32,
}

pub struct SearchHit(search::Hit);

#[Object]
impl SearchHit {
    async fn score(&self) -> f64 {
        f64::from(self.0.score)
    }
    /// Its id and label as indexed with this hit; other fields are read when asked for.
    async fn interview(&self) -> Interview {
        Interview::Indexed {
            id: self.0.interview_id,
            label: self.0.interview_label.clone(),
        }
    }
    /// Set in QUOTATIONS scope.
    async fn quotation(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Quotation>> {
        let Some(id) = self.0.quotation_id else {
            return Ok(None);
        };
        Ok(one(&rc(ctx).loaders.quotation, id)
            .await?
            .map(Quotation::from))
    }
    /// The matched passage (or quotation), in transcript coordinates.
    async fn start(&self) -> i32 {
        self.0.start as i32
    }
    async fn end(&self) -> i32 {
        self.0.end as i32
    }
    /// A short window of the passage around the best match, for display.
    async fn snippet(&self) -> &str {
        &self.0.snippet
    }
    /// Each matched term or phrase, in transcript coordinates: transcript(start,end) is the
    /// matched text.
    async fn highlights(&self) -> Vec<Span> {
        self.0
            .highlights
            .iter()
            .map(|&(s, e)| Span {
                start: s as i32,
                end: e as i32,
            })
            .collect()
    }
}

#[derive(SimpleObject)]
pub struct SearchHitEdge {
    pub node: SearchHit,
    pub cursor: String,
}

#[derive(SimpleObject, Clone)]
pub struct FacetCount {
    /// A global ID, or an ambito code.
    pub value: String,
    pub label: String,
    pub count: i32,
}

/// Hits counted per case, ambito, interview and code over the whole result set, values with
/// the most hits first. Each list gives its first `first` values (100 unless asked), labelled
/// only when selected: a broad query over ten thousand interviews counts them all, but a
/// front end shows the top of the list.
pub struct SearchFacets(search::Facets);

/// Values a facet list returns unless asked (the default of each list's `first`).
const FACET_VALUES: i32 = 100;
/// Most values one facet list returns.
const MAX_FACET_VALUES: i32 = 10_000;

fn facet_values(
    values: &[(i64, usize)],
    first: Option<i32>,
) -> async_graphql::Result<&[(i64, usize)]> {
    let first = first.unwrap_or(FACET_VALUES);
    if !(0..=MAX_FACET_VALUES).contains(&first) {
        return Err(bad_input(format!(
            "`first` must be between 0 and {MAX_FACET_VALUES}"
        )));
    }
    Ok(&values[..values.len().min(first as usize)])
}

fn ids(values: &[(i64, usize)]) -> Vec<i64> {
    values.iter().map(|v| v.0).collect()
}

fn first_row<T: Clone>(rows: Option<&Vec<T>>) -> Option<T> {
    rows.and_then(|v| v.first().cloned())
}

#[Object]
impl SearchFacets {
    async fn cases(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(FACET_VALUES)")] first: Option<i32>,
    ) -> async_graphql::Result<Vec<FacetCount>> {
        let values = facet_values(&self.0.cases, first)?;
        let cases = rc(ctx).loaders.case.load_many(ids(values)).await?;
        Ok(values
            .iter()
            .filter_map(|&(id, n)| {
                let c = first_row(cases.get(&id))?;
                Some(FacetCount {
                    value: encode(Kind::Case, id).0,
                    label: c.label,
                    count: n as i32,
                })
            })
            .collect())
    }

    async fn ambiti(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(FACET_VALUES)")] first: Option<i32>,
    ) -> async_graphql::Result<Vec<FacetCount>> {
        let values = facet_values(&self.0.ambiti, first)?;
        let ambiti = rc(ctx).loaders.ambito.load_many(ids(values)).await?;
        Ok(values
            .iter()
            .filter_map(|&(id, n)| {
                let a = first_row(ambiti.get(&id))?;
                Some(FacetCount {
                    value: a.code,
                    label: a.name,
                    count: n as i32,
                })
            })
            .collect())
    }

    async fn interviews(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(FACET_VALUES)")] first: Option<i32>,
    ) -> async_graphql::Result<Vec<FacetCount>> {
        let values = facet_values(&self.0.interviews, first)?;
        let labels = interviews::labels(&rc(ctx).db, &ids(values)).await?;
        Ok(values
            .iter()
            .filter_map(|&(id, n)| {
                Some(FacetCount {
                    value: encode(Kind::Interview, id).0,
                    label: labels.get(&id)?.clone(),
                    count: n as i32,
                })
            })
            .collect())
    }

    /// QUOTATIONS scope only; empty otherwise. Labels are code paths ("Accesso/Barriere").
    async fn codes(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(FACET_VALUES)")] first: Option<i32>,
    ) -> async_graphql::Result<Vec<FacetCount>> {
        let l = &rc(ctx).loaders;
        let values = facet_values(&self.0.codes, first)?;
        let codes = l.code.load_many(ids(values)).await?;
        let mut out = Vec::with_capacity(values.len());
        for &(id, n) in values {
            if let Some(c) = first_row(codes.get(&id)) {
                let book = codebook(&l.codebook, c.study_id).await?;
                out.push(FacetCount {
                    value: encode(Kind::Code, id).0,
                    label: book.path(c.id),
                    count: n as i32,
                });
            }
        }
        Ok(out)
    }
}

#[derive(SimpleObject)]
pub struct SearchResults {
    pub total_count: i32,
    pub edges: Vec<SearchHitEdge>,
    pub page_info: PageInfo,
    pub facets: SearchFacets,
    /// Every surface form the query matched, with counts.
    pub matched_forms: Vec<MatchedForm>,
    /// False when the counts of `matchedForms` are not whole: a phrase's forms are counted
    /// in its first 10000 results in index order (reading each result's text), the others
    /// not read.
    pub matched_forms_complete: bool,
}

/// One occurrence of a word in context (key word in context).
pub struct ConcordanceLine(search::ConcordanceLine);

#[Object]
impl ConcordanceLine {
    /// Its id and label as indexed with this line; other fields are read when asked for.
    async fn interview(&self) -> Interview {
        Interview::Indexed {
            id: self.0.interview_id,
            label: self.0.interview_label.clone(),
        }
    }
    /// The keyword's span in the transcript (code points).
    async fn start(&self) -> i32 {
        self.0.start as i32
    }
    async fn end(&self) -> i32 {
        self.0.end as i32
    }
    async fn left(&self) -> &str {
        &self.0.left
    }
    /// The occurrence as written in the transcript.
    async fn keyword(&self) -> &str {
        &self.0.keyword
    }
    async fn right(&self) -> &str {
        &self.0.right
    }
}

/// Turns the GraphQL filter into the index filter, always restricted to readable studies.
async fn index_filter(
    r: &RequestCtx,
    f: SearchFilter,
    scope: Scope,
) -> async_graphql::Result<search::Filter> {
    let asked = f
        .study_ids
        .map(|s| decode_all(&s, Kind::Study))
        .transpose()?;
    let (study_ids, everything) = studies::readable_among(&r.db, &r.caller, asked).await?;
    let ambito_ids = match f.ambito_codes {
        None => None,
        Some(codes) => {
            Some(territory::ambito_ids(&r.db, &super::ambiti::ambito_codes(codes)?).await?)
        }
    };
    if f.code_ids.is_some() && scope == Scope::Transcripts {
        return Err(bad_input(
            "`codeIds` filters quotations: use `search` with scope QUOTATIONS (a concordance \
             reads transcripts)",
        ));
    }
    if let (Some(from), Some(to)) = (f.conducted_from, f.conducted_to) {
        if to.0 < from.0 {
            return Err(bad_input("`conductedTo` is before `conductedFrom`"));
        }
    }
    Ok(search::Filter {
        study_ids,
        statistics_of_these_studies: !everything,
        case_ids: f.case_ids.map(|v| decode_all(&v, Kind::Case)).transpose()?,
        ambito_ids,
        interview_ids: f
            .interview_ids
            .map(|v| decode_all(&v, Kind::Interview))
            .transpose()?,
        code_ids: f.code_ids.map(|v| decode_all(&v, Kind::Code)).transpose()?,
        conducted_from: f.conducted_from.map(|d| d.0),
        conducted_to: f.conducted_to.map(|d| d.0),
    })
}

/// Runs a search known to be small (`SearchIndex::search_if_small`: 1 to 2 ms of work at
/// most) on the request's own thread, sparing it the blocking pool's two thread hand-offs.
/// A panic in the search becomes an INTERNAL error for this request alone, as there.
fn on_this_thread<T>(search: impl FnOnce() -> T) -> async_graphql::Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(search)).map_err(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("no message");
        internal(&format_args!("the search panicked: {message}"))
    })
}

/// The offset and size of the page after `after`. A cursor comes back from the client, who
/// may have forged it: it must be a position we could have handed out.
fn paging(first: i32, max: i32, after: Option<String>) -> async_graphql::Result<(usize, usize)> {
    if !(0..=max).contains(&first) {
        return Err(bad_input(format!("`first` must be between 0 and {max}")));
    }
    let offset = match decode_cursor(after.as_deref())? {
        None => 0,
        Some(p) if p < 0 => {
            return Err(bad_input(
                "`after` is not a valid cursor: its position is negative",
            ))
        }
        Some(p) => usize::try_from(p).unwrap_or(usize::MAX).saturating_add(1),
    };
    Ok((offset, first as usize))
}

/// `paging` within the result window: a page stops at its end, and a cursor at or past it is
/// refused, so that a client following `endCursor` never meets the error.
fn windowed(offset: usize, limit: usize) -> async_graphql::Result<usize> {
    if offset >= MAX_RESULT_WINDOW {
        return Err(bad_input(format!(
            "`after` points past the first {MAX_RESULT_WINDOW} hits, which is as deep as search \
             results can be paged: narrow the query or the filter to reach the others"
        )));
    }
    Ok(limit.min(MAX_RESULT_WINDOW.saturating_sub(offset)))
}

/// Whether a page of `count` items from `offset` leaves more of `total` after it. An empty
/// page (`first: 0`) has no `endCursor` to continue from: it reports no next page, or a client
/// following `hasNextPage` and `endCursor` would start over from the first page forever.
fn has_next_page(offset: usize, count: usize, total: usize) -> bool {
    count > 0 && offset.saturating_add(count) < total
}

#[derive(Default)]
pub struct SearchQuery;

#[Object]
impl SearchQuery {
    /// Full-text search. Syntax: words (all must match), "a phrase" (with ~N for slop),
    /// OR, AND, NOT / -word, +word, prefix*, parentheses; `=casa` matches that one form only
    /// (EXACT for one word). `-form:caso` (or `excludeForms`) leaves a surface form out of
    /// every word's match, in phrases, prefixes and typo-tolerant words too: a phrase then
    /// matches only through the forms left. A prefix on an elided or hyphenated word drops
    /// the article and reads the rest as a phrase ending in the prefix (`l’anzian*` is
    /// `anzian*`; `co-progett*` finds "co-progettazione"); a `*` after no word is BAD_QUERY.
    /// By default (`match: LEMMA`) a word matches the inflected forms of the same word from an
    /// Italian lexicon (casa ↔ case, not caso); unknown words use a stemmer that never merges
    /// two known words. Accents and case are ignored. Passages holding the typed form rank
    /// first, then BM25; hits of equal score by interview and position, so that pages taken
    /// one after another hold every hit once, also across replicas, while the transcripts do
    /// not change (a cursor is a place in the ranking). `matchedForms` lists what the query really found; `fuzzy` tolerates
    /// typos, in phrases too (their stop words as typed). Only the first 10000 hits can be paged through (`after` a later position is
    /// BAD_USER_INPUT, and a page ends there); `totalCount` still counts them all. A page of
    /// `first: 0` (for counts and facets alone) has no next page. Unknown `ambitoCodes` are
    /// BAD_USER_INPUT. A left-out form is one word: an elided article before it is dropped
    /// (`-form:l’anziana` is `anziana`), a hyphenated compound is BAD_QUERY (leave its
    /// passages out with `-"co-progettazione"`); `*` or `~` inside quotes, and `~` anywhere
    /// but right after a closing quote, are BAD_QUERY (use `fuzzy: true` or `"…"~N`).
    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        ctx: &Context<'_>,
        query: String,
        #[graphql(default_with = "Some(SearchScope::Transcripts)")] scope: Option<SearchScope>,
        filter: Option<SearchFilter>,
        #[graphql(name = "match", default_with = "Some(MatchMode::Lemma)")] match_mode: Option<
            MatchMode,
        >,
        #[graphql(desc = "Surface forms to leave out of the match.")] exclude_forms: Option<
            Vec<String>,
        >,
        #[graphql(default_with = "Some(false)")] fuzzy: Option<bool>,
        #[graphql(default_with = "Some(20)")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<SearchResults> {
        let r = rc(ctx);
        let scope = match scope.unwrap_or(SearchScope::Transcripts) {
            SearchScope::Transcripts => Scope::Transcripts,
            SearchScope::Quotations => Scope::Quotations,
        };
        let (offset, limit) = paging(first.unwrap_or(20), MAX_HITS, after)?;
        let limit = windowed(offset, limit)?;
        // Each facet list costs a count per hit: count only the lists selected.
        let selected = ctx.look_ahead().field("facets");
        let facets = search::FacetSelection {
            cases: selected.field("cases").exists(),
            ambiti: selected.field("ambiti").exists(),
            interviews: selected.field("interviews").exists(),
            codes: selected.field("codes").exists(),
        };
        let request = search::SearchRequest {
            query,
            scope,
            filter: index_filter(r, filter.unwrap_or_default(), scope).await?,
            mode: match_mode.unwrap_or_default().into(),
            exclude_forms: exclude_forms.unwrap_or_default(),
            with_forms: ctx.look_ahead().field("matchedForms").exists()
                || ctx.look_ahead().field("matchedFormsComplete").exists(),
            fuzzy: fuzzy.unwrap_or(false),
            offset,
            limit,
            facets,
        };
        let index = r.search.clone();
        let out = match on_this_thread(|| index.search_if_small(&request, search::INLINE_WORK))?? {
            Some(out) => out,
            // From microseconds to tens of milliseconds on L. Running it on the request's
            // own thread through `block_in_place` was measured and not kept: 0.06 ms less per
            // search in process, no difference over HTTP (BENCHMARKS.md, session 10).
            None => on_the_blocking_pool(move || index.search(&request)).await??,
        };
        let count = out.hits.len();
        let edges = out
            .hits
            .into_iter()
            .enumerate()
            .map(|(n, hit)| SearchHitEdge {
                node: SearchHit(hit),
                cursor: encode_cursor((offset + n) as i64),
            })
            .collect::<Vec<_>>();
        let page_info = PageInfo {
            has_previous_page: offset > 0,
            has_next_page: has_next_page(offset, count, out.total.min(MAX_RESULT_WINDOW)),
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        };
        Ok(SearchResults {
            total_count: out.total as i32,
            edges,
            page_info,
            facets: SearchFacets(out.facets),
            matched_forms: out
                .matched_forms
                .into_iter()
                .map(|(form, count)| MatchedForm {
                    form,
                    count: count as i32,
                })
                .collect(),
            matched_forms_complete: !out.matched_forms_partial,
        })
    }

    /// Every occurrence of a word (with its inflected forms) or phrase in the transcripts,
    /// with `window` characters of context on each side, read across speaker turns and
    /// paragraphs (the white space between two of them shown as a line break before a turn,
    /// a space where a long paragraph was cut, or a blank line where it was longer than one
    /// character); ordered by interview and position.
    /// A page of `first: 0` has no next page.
    async fn concordance(
        &self,
        ctx: &Context<'_>,
        term: String,
        filter: Option<SearchFilter>,
        #[graphql(default_with = "Some(40)")] window: Option<i32>,
        #[graphql(default_with = "Some(50)")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<ConcordanceLine>> {
        let r = rc(ctx);
        let window = window.unwrap_or(40);
        if !(0..=500).contains(&window) {
            return Err(bad_input("`window` must be between 0 and 500 characters"));
        }
        let (offset, limit) = paging(first.unwrap_or(50), MAX_LINES, after)?;
        let filter = index_filter(r, filter.unwrap_or_default(), Scope::Transcripts).await?;
        let index = r.search.clone();
        let (total, lines) = on_the_blocking_pool(move || {
            index.concordance(&term, &filter, window as usize, offset, limit)
        })
        .await??;
        let mut conn = Conn::with_additional_fields(
            offset > 0,
            has_next_page(offset, lines.len(), total),
            Total {
                total_count: total as i64,
            },
        );
        conn.edges.extend(
            lines
                .into_iter()
                .enumerate()
                .map(|(n, l)| Edge::new(encode_cursor((offset + n) as i64), ConcordanceLine(l))),
        );
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(position: i64) -> Option<String> {
        Some(encode_cursor(position))
    }

    #[test]
    fn cursors_stay_within_the_result_window() {
        assert_eq!(paging(20, MAX_HITS, None).unwrap(), (0, 20));
        assert_eq!(paging(20, MAX_HITS, after(39)).unwrap(), (40, 20));
        // A page is cut at the end of the window rather than refused, so that following
        // `endCursor` with any page size ends without an error.
        assert_eq!(windowed(9_990, 20).unwrap(), 10);
        assert_eq!(windowed(9_999, 0).unwrap(), 0);
        for position in [9_999, 10_000, 1_000_000_000_000, i64::MAX] {
            let (offset, limit) = paging(20, MAX_HITS, after(position)).unwrap();
            assert!(windowed(offset, limit).is_err(), "{position}");
        }
        for position in [-1, -2, i64::MIN] {
            assert!(paging(20, MAX_HITS, after(position)).is_err(), "{position}");
        }
        assert!(paging(MAX_HITS + 1, MAX_HITS, None).is_err());
        assert!(paging(-1, MAX_HITS, None).is_err());
        // A concordance reads every line whatever the page: a far cursor is an empty page.
        assert_eq!(
            paging(50, MAX_LINES, after(i64::MAX)).unwrap().0,
            i64::MAX as usize + 1
        );
    }

    #[tokio::test]
    async fn a_panicking_search_is_an_internal_error_and_the_next_one_runs() {
        let failed = on_the_blocking_pool(|| panic!("index corrupted")).await;
        let code = failed
            .unwrap_err()
            .extensions
            .and_then(|x| x.get("code").cloned());
        assert_eq!(code, Some("INTERNAL".into()));
        assert_eq!(on_the_blocking_pool(|| 7).await.unwrap(), 7);
    }

    #[test]
    fn a_search_panicking_on_the_request_s_thread_is_an_internal_error() {
        let failed = on_this_thread(|| -> i32 { panic!("index corrupted") });
        let error = failed.unwrap_err();
        assert!(!error.message.contains("corrupted"), "{}", error.message);
        let code = error.extensions.and_then(|x| x.get("code").cloned());
        assert_eq!(code, Some("INTERNAL".into()));
        assert_eq!(on_this_thread(|| 7).unwrap(), 7);
    }
}
