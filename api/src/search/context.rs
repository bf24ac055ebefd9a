//! A concordance line's context, read across the passages a transcript is indexed as.
//!
//! A transcript is indexed in passages (speaker turns, paragraphs, pieces of long
//! paragraphs), but an analyst reading a line of a concordance reads the transcript: a
//! keyword at the start of an answer has the question before it, not nothing. The context
//! comes from the same searcher as the lines, so that it is the text the positions refer to
//! even while the transcript is being edited.
//!
//! What lies between two passages is white space the split trimmed; which characters it was
//! is not indexed. It is shown as a line break before a speaker turn, a blank line between
//! paragraphs, and a space where a long paragraph was cut.

use std::collections::HashMap;

use tantivy::collector::DocSetCollector;
use tantivy::query::TermQuery;
use tantivy::schema::{IndexRecordOption, Term};
use tantivy::{DocAddress, Searcher, TantivyDocument};

use super::execute::{stored_str, stored_u64};
use super::passages::is_turn_start;
use super::schema::{Fields, START};

/// A passage as stored: its text and span in code points, transcript coordinates.
struct Stored {
    text: String,
    start: usize,
    end: usize,
}

/// The passages of the interviews a page of lines falls in, read as needed and kept for the
/// page's other lines.
pub(crate) struct Transcripts<'s> {
    searcher: &'s Searcher,
    fields: &'s Fields,
    /// Per interview, its passages' addresses in transcript order.
    order: HashMap<i64, Vec<DocAddress>>,
    read: HashMap<DocAddress, Stored>,
}

impl<'s> Transcripts<'s> {
    pub(crate) fn new(searcher: &'s Searcher, fields: &'s Fields) -> Self {
        Self {
            searcher,
            fields,
            order: HashMap::new(),
            read: HashMap::new(),
        }
    }

    /// Up to `want` characters of the transcript before the passage at `address`.
    pub(crate) fn before(
        &mut self,
        interview: i64,
        address: DocAddress,
        want: usize,
    ) -> tantivy::Result<String> {
        let (earlier, _) = self.neighbours(interview, address)?;
        // Pieces from the nearest backwards, joined in reverse at the end.
        let (mut pieces, mut got) = (Vec::new(), 0);
        let here = self.stored(address)?;
        let (mut next_start, mut next_turn) = (here.start, is_turn_start(&here.text));
        for earlier in earlier {
            if got >= want {
                break;
            }
            let passage = self.stored(earlier)?;
            let gap = separator(next_start.saturating_sub(passage.end), next_turn);
            got += gap.chars().count();
            let tail = last_chars(&passage.text, want.saturating_sub(got));
            got += tail.chars().count();
            pieces.push(gap.to_owned());
            pieces.push(tail.to_owned());
            (next_start, next_turn) = (passage.start, is_turn_start(&passage.text));
        }
        pieces.reverse();
        let joined = pieces.concat();
        Ok(last_chars(&joined, want).to_owned())
    }

    /// Up to `want` characters of the transcript after the passage at `address`.
    pub(crate) fn after(
        &mut self,
        interview: i64,
        address: DocAddress,
        want: usize,
    ) -> tantivy::Result<String> {
        let (_, later) = self.neighbours(interview, address)?;
        let mut out = String::new();
        let mut got = 0;
        let mut end = self.stored(address)?.end;
        for later in later {
            if got >= want {
                break;
            }
            let next = self.stored(later)?;
            let gap = separator(next.start.saturating_sub(end), is_turn_start(&next.text));
            out.push_str(gap);
            got += gap.chars().count();
            let head: String = next.text.chars().take(want.saturating_sub(got)).collect();
            got += head.chars().count();
            out.push_str(&head);
            end = next.end;
        }
        Ok(out.chars().take(want).collect())
    }

    /// The interview's passages before the one at `address` and after it, the nearest first.
    fn neighbours(
        &mut self,
        interview: i64,
        address: DocAddress,
    ) -> tantivy::Result<(Vec<DocAddress>, Vec<DocAddress>)> {
        let order = self.passages_of(interview)?;
        Ok(match order.iter().position(|&a| a == address) {
            Some(at) => (
                order[..at].iter().rev().copied().collect(),
                order[at + 1..].to_vec(),
            ),
            None => Default::default(),
        })
    }

    /// The interview's passages in transcript order.
    fn passages_of(&mut self, interview: i64) -> tantivy::Result<&[DocAddress]> {
        if self.order.contains_key(&interview) {
            return Ok(&self.order[&interview]);
        }
        let query = TermQuery::new(
            Term::from_field_u64(self.fields.passage_of, interview as u64),
            IndexRecordOption::Basic,
        );
        let mut placed = Vec::new();
        for address in self.searcher.search(&query, &DocSetCollector)? {
            let starts = self
                .searcher
                .segment_reader(address.segment_ord)
                .fast_fields()
                .u64(START)?;
            placed.push((starts.first(address.doc_id).unwrap_or(0), address));
        }
        placed.sort_unstable();
        let order = placed.into_iter().map(|(_, a)| a).collect();
        Ok(self.order.entry(interview).or_insert(order))
    }

    fn stored(&mut self, address: DocAddress) -> tantivy::Result<&Stored> {
        if !self.read.contains_key(&address) {
            let doc: TantivyDocument = self.searcher.doc(address)?;
            let f = self.fields;
            let passage = Stored {
                text: stored_str(&doc, f.text).to_owned(),
                start: stored_u64(&doc, f.start) as usize,
                end: stored_u64(&doc, f.end) as usize,
            };
            self.read.insert(address, passage);
        }
        Ok(&self.read[&address])
    }
}

/// What stands for the white space between two passages, `gap` code points long, the second
/// opening a speaker turn or not.
fn separator(gap: usize, turn: bool) -> &'static str {
    match gap {
        0 => "",
        1 if turn => "\n",
        1 => " ",
        _ => "\n\n",
    }
}

/// The last `n` characters of `text`.
fn last_chars(text: &str, n: usize) -> &str {
    match n.checked_sub(1) {
        None => "",
        Some(k) => text
            .char_indices()
            .rev()
            .nth(k)
            .map_or(text, |(i, _)| &text[i..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_characters_are_counted_in_code_points() {
        assert_eq!(last_chars("però là", 0), "");
        assert_eq!(last_chars("però là", 2), "là");
        assert_eq!(last_chars("però là", 5), "rò là");
        assert_eq!(last_chars("però là", 50), "però là");
    }

    #[test]
    fn the_space_between_passages_reads_as_what_split_them() {
        assert_eq!(separator(0, false), "");
        assert_eq!(separator(1, false), " ");
        assert_eq!(separator(1, true), "\n");
        assert_eq!(separator(2, true), "\n\n");
        assert_eq!(separator(4, false), "\n\n");
    }
}
