//! The document sets nearly every search is filtered by, consulted at every hit.
//!
//! - [`AllBut`]: a search of passages in a segment that also holds a few quotations (or a
//!   few documents of studies the caller may not read) keeps every document but those.
//!   tantivy's `Exclude` of an `AllScorer` does that with two boxed scorers; the left-out
//!   documents, once listed, are passed over by comparing with the next of them.
//! - [`TermBlocks`]: the documents of one case or interview. A case's passages come in long
//!   runs of consecutive documents (an interview's are indexed together), so most blocks of
//!   its postings hold consecutive documents: in such a block, a document is there when it
//!   lies between the block's ends, without searching the block.

use tantivy::postings::BlockSegmentPostings;
use tantivy::query::Scorer;
use tantivy::{DocId, DocSet, Score, TERMINATED};

/// Most documents listed to be left out; with more, the search keeps tantivy's `Exclude`,
/// which reads the left-out postings only where the search goes.
pub const MOST_LEFT_OUT: u64 = 4096;

#[derive(Debug)]
pub struct AllBut {
    /// Sorted.
    left_out: Vec<DocId>,
    /// The first of `left_out` not before `doc`.
    next: usize,
    doc: DocId,
    max_doc: DocId,
}

impl AllBut {
    /// The documents below `max_doc` that `left_out` does not hold.
    pub fn new(max_doc: DocId, left_out: &mut dyn DocSet) -> Self {
        let mut listed = Vec::with_capacity(left_out.size_hint() as usize);
        let mut doc = left_out.doc();
        while doc != TERMINATED {
            listed.push(doc);
            doc = left_out.advance();
        }
        let mut all_but = Self {
            left_out: listed,
            next: 0,
            doc: 0,
            max_doc,
        };
        all_but.doc = all_but.settle(0);
        all_but
    }

    /// The first kept document from `target`.
    #[inline]
    fn settle(&mut self, mut target: DocId) -> DocId {
        while let Some(&out) = self.left_out.get(self.next) {
            if out > target {
                break;
            }
            if out == target {
                target += 1;
            }
            self.next += 1;
        }
        if target >= self.max_doc {
            TERMINATED
        } else {
            target
        }
    }
}

impl DocSet for AllBut {
    #[inline]
    fn advance(&mut self) -> DocId {
        if self.doc != TERMINATED {
            self.doc = self.settle(self.doc + 1);
        }
        self.doc
    }

    #[inline]
    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc < target {
            self.doc = self.settle(target);
        }
        self.doc
    }

    #[inline]
    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.max_doc.saturating_sub(self.left_out.len() as u32)
    }
}

impl Scorer for AllBut {
    fn score(&mut self) -> Score {
        1.0
    }
}

/// A term's documents, read a block of postings at a time (see the module's comment). Only
/// the two calls a filter needs: `doc` and `seek`.
pub struct TermBlocks {
    postings: BlockSegmentPostings,
    /// `doc`'s index in the block.
    cur: usize,
    doc: DocId,
    /// The block's last document; `TERMINATED` in the last block when it is not full.
    last: DocId,
    /// The block holds every document from its first to `last`.
    consecutive: bool,
}

/// Documents in a full block of postings.
const BLOCK: usize = 128;

impl TermBlocks {
    pub fn new(postings: BlockSegmentPostings) -> Self {
        let mut blocks = Self {
            postings,
            cur: 0,
            doc: 0,
            last: 0,
            consecutive: false,
        };
        blocks.entered_block(0);
        blocks
    }

    /// Notes where the block just loaded ends, and stands on its `cur`th document.
    fn entered_block(&mut self, cur: usize) {
        // A block not full is padded with TERMINATED.
        self.last = self.postings.doc(BLOCK - 1);
        self.consecutive =
            self.last != TERMINATED && self.last - self.postings.doc(0) == BLOCK as DocId - 1;
        self.cur = cur;
        self.doc = self.postings.doc(cur);
    }

    #[inline]
    pub fn doc(&self) -> DocId {
        self.doc
    }

    /// The first document from `target` (or the current one if past it).
    #[inline]
    pub fn seek(&mut self, target: DocId) -> DocId {
        if target <= self.doc {
            return self.doc;
        }
        if target <= self.last {
            if self.consecutive {
                self.cur += (target - self.doc) as usize;
                self.doc = target;
            } else {
                // `last` (or the padding) is at least `target`: the search stops in the block.
                let mut cur = self.cur + 1;
                while self.postings.doc(cur) < target {
                    cur += 1;
                }
                self.cur = cur;
                self.doc = self.postings.doc(cur);
            }
            return self.doc;
        }
        let cur = self.postings.seek(target);
        self.entered_block(cur);
        self.doc
    }

    pub fn size_hint(&self) -> u32 {
        self.postings.doc_freq()
    }
}

#[cfg(test)]
mod tests {
    use tantivy::query::{AllScorer, BitSetDocSet, Exclude};
    use tantivy::schema::{IndexRecordOption, Schema, Term, INDEXED};
    use tantivy::{doc, BitSet, Index, IndexWriter};

    use super::*;

    fn docs(max_doc: DocId, listed: &[DocId]) -> BitSetDocSet {
        let mut set = BitSet::with_max_value(max_doc);
        for &d in listed {
            set.insert(d);
        }
        BitSetDocSet::from(set)
    }

    fn drain(d: &mut dyn DocSet) -> Vec<DocId> {
        let mut out = Vec::new();
        let mut doc = d.doc();
        while doc != TERMINATED {
            out.push(doc);
            doc = d.advance();
        }
        out
    }

    /// Every case tantivy's `Exclude` of an `AllScorer` answers, answered alike: left-out
    /// documents at the start, at the end, in runs and alone, or none; stepped through and
    /// sought.
    #[test]
    fn keeps_what_tantivys_exclude_keeps() {
        let max_doc = 40;
        let cases: [&[DocId]; 6] = [
            &[],
            &[0],
            &[0, 1, 2, 7, 8, 20, 39],
            &[5, 6, 7, 8, 9, 10, 11, 12],
            &[38, 39],
            &(0..40).collect::<Vec<_>>(),
        ];
        for left_out in cases {
            let exclude = || Exclude::new(AllScorer::new(max_doc), docs(max_doc, left_out));
            let ours = || AllBut::new(max_doc, &mut docs(max_doc, left_out));
            assert_eq!(drain(&mut ours()), drain(&mut exclude()), "{left_out:?}");
            assert_eq!(ours().size_hint(), max_doc - left_out.len() as u32);
            for step in 1..6 {
                let (mut a, mut b) = (ours(), exclude());
                let mut target = 0;
                while target < max_doc + 2 {
                    let (x, y) = (a.seek(target.max(a.doc())), b.seek(target.max(b.doc())));
                    assert_eq!(x, y, "{left_out:?} seeking {target}");
                    if x == TERMINATED {
                        break;
                    }
                    target += step;
                }
            }
        }
    }

    /// Seeks land where the term's own postings land: in blocks of consecutive documents,
    /// in blocks with gaps, in a full last block and in a last block not full, stepping by
    /// one and leaping.
    #[test]
    fn term_blocks_find_what_the_postings_find() {
        let mut schema = Schema::builder();
        let run = schema.add_u64_field("run", INDEXED);
        let index = Index::create_in_ram(schema.build());
        let mut writer: IndexWriter = index.writer(15_000_000).unwrap();
        // Run 0: 512 consecutive documents (four full blocks, the last one full too); run 1:
        // every third document of the next 900; run 2: 300 consecutive ones, then 40 more
        // every other document (a last block not full).
        let mut runs = Vec::new();
        runs.extend(std::iter::repeat_n(0u64, 512));
        runs.extend((0..900).map(|i| if i % 3 == 0 { 1 } else { 9 }));
        runs.extend(std::iter::repeat_n(2u64, 300));
        runs.extend((0..80).map(|i| if i % 2 == 0 { 2 } else { 9 }));
        for &r in &runs {
            writer.add_document(doc!(run => r)).unwrap();
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let segment = &searcher.segment_readers()[0];
        let inverted = segment.inverted_index(run).unwrap();
        let mut checked = 0;
        for value in [0u64, 1, 2] {
            let term = Term::from_field_u64(run, value);
            for step in [1, 2, 5, 127, 129, 300] {
                let mut ours = TermBlocks::new(
                    inverted
                        .read_block_postings(&term, IndexRecordOption::Basic)
                        .unwrap()
                        .unwrap(),
                );
                let mut theirs = inverted
                    .read_postings(&term, IndexRecordOption::Basic)
                    .unwrap()
                    .unwrap();
                assert_eq!(ours.doc(), theirs.doc());
                assert_eq!(ours.size_hint(), theirs.size_hint());
                let mut target = 0;
                loop {
                    let expected = theirs.seek(target.max(theirs.doc()));
                    assert_eq!(ours.seek(target), expected, "run {value}, seeking {target}");
                    assert_eq!(ours.doc(), expected);
                    checked += 1;
                    if expected == TERMINATED {
                        break;
                    }
                    target += step;
                }
            }
        }
        assert!(checked > 2000, "{checked}");
    }
}
