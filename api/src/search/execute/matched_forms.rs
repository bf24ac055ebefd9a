//! The surface forms a search matched, each with its number of results
//! (`SearchRequest::with_forms`).

use std::collections::HashMap;

use tantivy::collector::DocSetCollector;
use tantivy::query::Query;
use tantivy::schema::{IndexRecordOption, Term};
use tantivy::{BitSet, DocSet, TERMINATED};

use crate::search::forms::{forms_of_term, forms_within, spellings_on};
use crate::search::query::{Matcher, Side};
use crate::search::{SearchError, SearchIndex};

/// Most surface forms listed for one search (a verb has about fifty).
const MAX_FORMS: usize = 200;

impl SearchIndex {
    /// The surface forms behind the positive clauses, each with the number of results of
    /// `query` holding it: the `MAX_FORMS` most frequent.
    ///
    /// Every candidate is counted before the list is cut: cut first, a prefix's expansions
    /// filled it, the other words' forms were never counted, and the list depended on the
    /// order of the words. The results are collected once and each spelling's postings read
    /// against them, rather than the query run again for each form.
    pub(super) fn matched_forms(
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
}
