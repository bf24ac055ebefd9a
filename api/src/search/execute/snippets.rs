//! A hit as a page shows it: its stored text read, a snippet around its first match, and
//! its highlights converted once from tantivy's bytes to code points in transcript
//! coordinates.

use tantivy::schema::Value;
use tantivy::{DocAddress, Score, TantivyDocument};

use super::Hit;
use crate::search::query::{self, Matcher};
use crate::search::{SearchError, SearchIndex};
use crate::text;

/// Characters of context around the first highlight in a snippet.
const SNIPPET_CONTEXT: usize = 80;

impl SearchIndex {
    pub(super) fn hit(
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use crate::search::query::{self, Matcher, Side};

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
}
