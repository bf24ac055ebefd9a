//! What a search is asked: its scope, its filter, the request and the facet lists it counts.

use chrono::NaiveDate;

use crate::search::query::Mode;

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
    pub(super) fn in_scope(self, scope: Scope) -> Self {
        Self {
            codes: self.codes && scope == Scope::Quotations,
            ..self
        }
    }

    pub(super) fn lists(self) -> u64 {
        [self.cases, self.ambiti, self.interviews, self.codes]
            .into_iter()
            .filter(|&counted| counted)
            .count() as u64
    }
}
