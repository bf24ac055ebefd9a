//! What a search answers: hits, facet counts, matched forms; and a concordance's lines.

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
    /// Whether their counts leave results out: a phrase's forms are counted in at most
    /// `MAX_PHRASE_RESULTS_READ` results.
    pub matched_forms_partial: bool,
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
