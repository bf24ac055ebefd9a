//! The surface forms a search matched, each with its number of results
//! (`SearchRequest::with_forms`).

use std::collections::{HashMap, HashSet};

use tantivy::collector::DocSetCollector;
use tantivy::query::Query;
use tantivy::schema::{IndexRecordOption, Term};
use tantivy::{BitSet, DocAddress, DocSet, TantivyDocument, TERMINATED};

use super::stored_str;
use crate::search::analyzer;
use crate::search::forms::{forms_of_term, spellings_on};
use crate::search::query::{self, Matcher, Side};
use crate::search::{SearchError, SearchIndex};

/// Most surface forms listed for one search (a verb has about fifty).
const MAX_FORMS: usize = 200;

/// Most results whose text is read to count a phrase's forms, in index order: each is a
/// stored document decompressed and highlighted, and a common phrase on a large corpus has
/// tens of thousands. Beyond them the counts are those of the results read, and the list
/// says it is not complete.
pub const MAX_PHRASE_RESULTS_READ: usize = 10_000;

impl SearchIndex {
    /// The surface forms behind the positive clauses, each with the number of results of
    /// `query` holding it: the `MAX_FORMS` most frequent.
    ///
    /// Every candidate is counted before the list is cut: cut first, a prefix's expansions
    /// filled it, the other words' forms were never counted, and the list depended on the
    /// order of the words. The results are collected once and each spelling's postings read
    /// against them, rather than the query run again for each form.
    ///
    /// A phrase's forms count only inside its occurrences, as highlighted: `"casa
    /// popolare"` matched no "case" said elsewhere in its passages. Those are read off the
    /// hits' text, so only a search with a phrase and its forms asked for reads it, and then
    /// at most `MAX_PHRASE_RESULTS_READ` of them: whether the counts leave results out is
    /// returned beside them.
    pub(super) fn matched_forms(
        &self,
        searcher: &tantivy::Searcher,
        query: &dyn Query,
        matchers: &[Matcher],
    ) -> Result<(Vec<(String, usize)>, bool), SearchError> {
        // Folded form → the side it was matched on, for the words and for the phrases; the
        // exact side, which keeps stop words, counts every spelling.
        let mut candidates: HashMap<String, Side> = HashMap::new();
        let mut in_phrases: HashMap<String, Side> = HashMap::new();
        // The lemma side's terms: a spelling is its form if the index gives it one of them.
        let mut lemma_terms: HashSet<&str> = HashSet::new();
        for m in matchers {
            let (side, terms, forms): (Side, Vec<&String>, _) = match m {
                Matcher::Terms { side, terms } => (*side, terms.iter().collect(), &mut candidates),
                Matcher::Phrase { side, terms, .. } => (
                    *side,
                    terms.iter().flat_map(|(_, t)| t).collect(),
                    &mut in_phrases,
                ),
            };
            for term in terms {
                if side == Side::Lemma {
                    // A folded form may stand for another word's spelling too ("arrivo" for
                    // "arrivò"): `is_form` keeps only the spellings that are forms.
                    lemma_terms.insert(term.as_str());
                }
                for form in forms_of_term(searcher, self.fields.text_exact, side, term)? {
                    let entry = forms.entry(form).or_insert(side);
                    if side == Side::Exact {
                        *entry = Side::Exact;
                    }
                }
            }
        }
        if candidates.is_empty() && in_phrases.is_empty() {
            return Ok((Vec::new(), false));
        }
        let found = searcher.search(query, &DocSetCollector)?;
        let is_form = |spelling: &str, side: Side| {
            side != Side::Lemma
                || analyzer::lemma_terms(spelling)
                    .iter()
                    .any(|t| lemma_terms.contains(t.as_str()))
        };
        let (phrase_counts, partial) =
            self.counts_in_phrases(searcher, &found, matchers, &in_phrases, &is_form)?;
        let mut sets: Vec<BitSet> = searcher
            .segment_readers()
            .iter()
            .map(|r| BitSet::with_max_value(r.max_doc()))
            .collect();
        for address in &found {
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
        let mut counted: HashMap<String, usize> = HashMap::new();
        for (folded, side) in candidates {
            // Report the forms as written ("città"), each spelling with its own count.
            for spelling in spellings_on(searcher, self.fields.text_surface, side, &folded)? {
                if !is_form(spelling.as_str(), side) {
                    continue;
                }
                let n = count(&spelling)?;
                if n > 0 {
                    counted.insert(spelling, n);
                }
            }
        }
        // A form a word matches counts in every hit; one only a phrase matches, in those
        // holding it inside the phrase.
        for (spelling, n) in phrase_counts {
            counted.entry(spelling).or_insert(n);
        }
        let mut out: Vec<(String, usize)> = counted.into_iter().collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out.truncate(MAX_FORMS);
        Ok((out, partial))
    }

    /// For each spelling of a phrase's forms, the hits holding it inside an occurrence of a
    /// phrase of the query: the words `query::highlight` marks there. Among the first
    /// `MAX_PHRASE_RESULTS_READ` hits in index order; whether hits were left unread.
    fn counts_in_phrases(
        &self,
        searcher: &tantivy::Searcher,
        found: &HashSet<DocAddress>,
        matchers: &[Matcher],
        in_phrases: &HashMap<String, Side>,
        is_form: &dyn Fn(&str, Side) -> bool,
    ) -> Result<(HashMap<String, usize>, bool), SearchError> {
        let mut counts = HashMap::new();
        if in_phrases.is_empty() {
            return Ok((counts, false));
        }
        let phrases: Vec<Matcher> = matchers
            .iter()
            .filter(|m| matches!(m, Matcher::Phrase { .. }))
            .cloned()
            .collect();
        let mut wanted = HashSet::new();
        for (folded, side) in in_phrases {
            let spellings = spellings_on(searcher, self.fields.text_surface, *side, folded)?;
            wanted.extend(spellings.into_iter().filter(|s| is_form(s.as_str(), *side)));
        }
        let mut addresses: Vec<DocAddress> = found.iter().copied().collect();
        // In index order, the document store decompresses each of its blocks once.
        addresses.sort_unstable();
        let partial = addresses.len() > MAX_PHRASE_RESULTS_READ;
        addresses.truncate(MAX_PHRASE_RESULTS_READ);
        let mut surface = analyzer::surface();
        for address in addresses {
            let doc: TantivyDocument = searcher.doc(address)?;
            let text = stored_str(&doc, self.fields.text);
            let mut held = HashSet::new();
            for (a, b) in query::highlight(text, &phrases) {
                for t in analyzer::tokens(&mut surface, &text[a..b]) {
                    if wanted.contains(&t.term) {
                        held.insert(t.term);
                    }
                }
            }
            for spelling in held {
                *counts.entry(spelling).or_insert(0) += 1;
            }
        }
        Ok((counts, partial))
    }
}
