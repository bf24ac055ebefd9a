//! Concordances: every occurrence of a word or phrase in the transcripts, in transcript
//! order, with the text on either side.

use tantivy::collector::DocSetCollector;
use tantivy::{DocAddress, TantivyDocument};

use super::compile::among;
use super::{stored_str, stored_u64, ConcordanceLine, Filter, Scope};
use crate::search::context::Transcripts;
use crate::search::query::{self, Mode};
use crate::search::{SearchError, SearchIndex};
use crate::text;

impl SearchIndex {
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

/// A passage a concordance found, as its first pass keeps it: where it is and how many
/// lines it gives, not its text.
struct Found {
    interview_id: i64,
    /// Code points, transcript coordinates.
    start: usize,
    address: DocAddress,
    occurrences: usize,
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

#[cfg(test)]
mod tests {
    use super::*;

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
