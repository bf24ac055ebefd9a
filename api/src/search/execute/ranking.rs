//! The page of hits, best first, hits of equal score in the order of their place
//! (`ranked_page`): the collector that keeps every document that could be on the page
//! (`TopWithTies`), and the place columns it reads, cached per segment.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::index::SegmentId;
use tantivy::query::Query;
use tantivy::{DocAddress, DocId, Score, Searcher, SegmentOrdinal, SegmentReader};

use super::facets::{FacetCollector, FacetCounts};
use super::first_value;
use super::statistics::ReadableStatistics;
use crate::search::schema::{INTERVIEW_ID, QUOTATION_ID, START};

/// One query on one searcher, scored with the index's statistics or the readable ones.
pub(super) struct Run<'a> {
    pub(super) searcher: &'a Searcher,
    pub(super) query: &'a dyn Query,
    pub(super) statistics: Option<&'a ReadableStatistics>,
}

impl Run<'_> {
    fn collect<C: Collector>(&self, collector: &C) -> tantivy::Result<C::Fruit> {
        match self.statistics {
            None => self.searcher.search(self.query, collector),
            Some(statistics) => self
                .searcher
                .search_with_statistics_provider(self.query, collector, statistics),
        }
    }
}

/// Each segment's place columns (interview, start, quotation; see `ranked_page`),
/// opened once: opening a column looks its name up in the segment's column dictionary, which
/// cost a small search more than ranking its hits (BENCHMARKS.md, session 15). A segment's
/// fast fields never change, deletions or not. Entries of segments gone from the index are
/// dropped when a search sees fewer segments than the cache holds, which also lets the files
/// of merged segments go.
pub(crate) type PlaceColumns = Mutex<HashMap<SegmentId, Arc<[Column<u64>; 3]>>>;

/// The place columns of the searcher's segments, by segment ordinal.
fn place_columns(
    searcher: &Searcher,
    cache: &PlaceColumns,
) -> tantivy::Result<Vec<Arc<[Column<u64>; 3]>>> {
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    let mut columns = Vec::with_capacity(searcher.segment_readers().len());
    for reader in searcher.segment_readers() {
        let of_segment = match cache.get(&reader.segment_id()) {
            Some(c) => c.clone(),
            None => {
                let fast = reader.fast_fields();
                let c = Arc::new([
                    fast.u64(INTERVIEW_ID)?,
                    fast.u64(START)?,
                    fast.u64(QUOTATION_ID)?,
                ]);
                cache.insert(reader.segment_id(), c.clone());
                c
            }
        };
        columns.push(of_segment);
    }
    if cache.len() > columns.len() {
        let live: HashSet<SegmentId> = searcher
            .segment_readers()
            .iter()
            .map(|r| r.segment_id())
            .collect();
        cache.retain(|id, _| live.contains(id));
    }
    Ok(columns)
}

/// The page of hits from `offset`, best first, and the facet counts of every hit.
///
/// Hits of equal score are ordered by their place (interview, start, quotation), never by
/// their address in the index: addresses change when segments merge and differ between
/// replicas, so a client paging with offset cursors would meet a tied hit twice, or never.
/// (tantivy's `TopDocs` keeps, of tied documents, the first by address.) The collector keeps
/// every document that could be on the page (`TopWithTies`); places are read afterwards, and
/// only for hits that tie with another within the page's reach (or while collecting, when
/// ties pile up): a heap ordered by place read a place for each document entering it, which
/// cost a term query 5–10% (BENCHMARKS.md, session 15).
pub(super) fn ranked_page(
    run: &Run,
    places: &PlaceColumns,
    offset: usize,
    limit: usize,
    facets: FacetCollector,
) -> tantivy::Result<(Vec<(Score, DocAddress)>, FacetCounts)> {
    let wanted = offset.saturating_add(limit);
    let columns = place_columns(run.searcher, places)?;
    let top = TopWithTies {
        wanted,
        columns: &columns,
    };
    let (mut candidates, counted) = run.collect(&(top, facets))?;
    candidates.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    let place =
        |address: DocAddress| place_of(&columns[address.segment_ord as usize], address.doc_id);
    // Runs of equal score reaching into the page are put in place order.
    let mut from = 0;
    while from < wanted.min(candidates.len()) {
        let score = candidates[from].0;
        let to = from
            + candidates[from..]
                .iter()
                .take_while(|c| c.0 == score)
                .count();
        if to - from > 1 && to > offset {
            candidates[from..to].sort_by_cached_key(|c| place(c.1));
        }
        from = to;
    }
    candidates.truncate(wanted);
    Ok((candidates.split_off(offset.min(candidates.len())), counted))
}

/// Where a hit is: interview, start, quotation (0 for a passage). Unique per document.
type Place = (u64, u64, u64);

fn place_of(columns: &[Column<u64>; 3], doc: DocId) -> Place {
    let [interview, start, quotation] = columns;
    (
        first_value(interview, doc).unwrap_or(0),
        first_value(start, doc).unwrap_or(0),
        first_value(quotation, doc).unwrap_or(0),
    )
}

/// Every document that could be among the best `wanted` by (score, place): per segment, the
/// best `wanted` by score in a heap whose worst score is the bar, and of the other documents
/// scoring exactly the bar, the first `wanted` by place. A document below a segment's bar has
/// `wanted` better ones beside it, and one at the bar past the first `wanted` by place has
/// `wanted` tied ones before it: neither is on any page up to `wanted`. Most documents fail
/// on their score alone; places are read only for documents at the bar, and only once
/// `2 × wanted` of them wait (a word whose passages nearly all score alike used to keep them
/// all). Requires `wanted > 0`.
struct TopWithTies<'a> {
    wanted: usize,
    /// Each segment's place columns, by segment ordinal.
    columns: &'a [Arc<[Column<u64>; 3]>],
}

/// A score and a document, the worst score first out of a `BinaryHeap`.
#[derive(Debug, Clone, Copy)]
struct Scored(Score, DocId);

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.0.total_cmp(&self.0)
    }
}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Scored {}

struct SegmentTop {
    wanted: usize,
    /// The best `wanted`, the worst on top.
    kept: std::collections::BinaryHeap<Scored>,
    /// Documents scoring the bar (the worst kept score) that are not kept.
    tied: Vec<DocId>,
    columns: Arc<[Column<u64>; 3]>,
    segment: SegmentOrdinal,
}

impl SegmentTop {
    /// Keeps the first `wanted` of the tied documents by place.
    fn trim_tied(&mut self) {
        let columns = &*self.columns;
        let wanted = self.wanted;
        self.tied
            .select_nth_unstable_by_key(wanted - 1, |&doc| place_of(columns, doc));
        self.tied.truncate(wanted);
    }
}

impl SegmentCollector for SegmentTop {
    type Fruit = Vec<(Score, DocAddress)>;

    fn collect(&mut self, doc: DocId, score: Score) {
        if self.kept.len() < self.wanted {
            self.kept.push(Scored(score, doc));
            return;
        }
        let Some(mut worst) = self.kept.peek_mut() else {
            return;
        };
        let bar = worst.0;
        if score < bar {
            return;
        }
        if score == bar {
            drop(worst);
            self.tied.push(doc);
            if self.tied.len() >= 2 * self.wanted {
                self.trim_tied();
            }
            return;
        }
        let out = std::mem::replace(&mut *worst, Scored(score, doc));
        drop(worst);
        // The bar rose: the documents at the old one are out of reach.
        match self.kept.peek() {
            Some(new) if new.0 == bar => {
                self.tied.push(out.1);
                if self.tied.len() >= 2 * self.wanted {
                    self.trim_tied();
                }
            }
            _ => self.tied.clear(),
        }
    }

    fn harvest(self) -> Self::Fruit {
        let segment = self.segment;
        let bar = self.kept.peek().map(|s| s.0);
        let tied = self.tied.into_iter().zip(std::iter::repeat(bar));
        self.kept
            .into_iter()
            .map(|Scored(score, doc)| (score, DocAddress::new(segment, doc)))
            .chain(tied.filter_map(|(doc, bar)| Some((bar?, DocAddress::new(segment, doc)))))
            .collect()
    }
}

impl Collector for TopWithTies<'_> {
    type Fruit = Vec<(Score, DocAddress)>;
    type Child = SegmentTop;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        _: &SegmentReader,
    ) -> tantivy::Result<SegmentTop> {
        Ok(SegmentTop {
            wanted: self.wanted,
            kept: std::collections::BinaryHeap::with_capacity(self.wanted.min(1 << 16)),
            tied: Vec::new(),
            columns: self.columns[segment as usize].clone(),
            segment,
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, segments: Vec<Self::Fruit>) -> tantivy::Result<Self::Fruit> {
        Ok(segments.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::analyzer;
    use crate::search::execute::testing::{draws, unmerged_index};
    use crate::search::execute::{stored_u64, FacetSelection};
    use crate::search::schema::{self, KIND_PASSAGE};
    use tantivy::query::{BooleanQuery, Occur, TermQuery};
    use tantivy::schema::{IndexRecordOption, Term};
    use tantivy::{Index, TantivyDocument};

    /// Hits of equal score come in the order of their place (interview, start), whatever
    /// their address in the index: pages taken one after the other hold every hit once, and
    /// stay the same after the segments merge. Built so that addresses run against places:
    /// the later places are added first, in earlier segments.
    #[test]
    fn tied_hits_are_ranked_by_place_across_pages_and_merges() {
        let (index, mut writer, f) = unmerged_index();
        // (interview, start, text): one hit above the tied ones, one below.
        let mut docs = vec![(9, 0, "la casa è la casa")];
        for interview in [3u64, 1, 2] {
            for start in [4_000u64, 2_000, 0] {
                docs.push((interview, start, "la casa è grande"));
            }
        }
        docs.push((
            1,
            6_000,
            "una casa, ma più lontana di tutte le altre parole",
        ));
        for (n, (interview, start, text)) in docs.iter().enumerate() {
            let mut doc = TantivyDocument::default();
            doc.add_u64(f.kind, KIND_PASSAGE);
            doc.add_u64(f.interview_id, *interview);
            doc.add_u64(f.start, *start);
            f.add_text(&mut doc, text);
            writer.add_document(doc).unwrap();
            if n % 2 == 1 {
                writer.commit().unwrap();
            }
        }
        writer.commit().unwrap();
        let reader = index.reader().unwrap();
        let query = BooleanQuery::new(vec![(
            Occur::Must,
            Box::new(TermQuery::new(
                Term::from_field_text(f.text_exact, "casa"),
                IndexRecordOption::WithFreqs,
            )) as Box<dyn Query>,
        )]);
        let places = PlaceColumns::default();
        let page = |searcher: &Searcher, offset: usize, limit: usize| {
            let run = Run {
                searcher,
                query: &query,
                statistics: None,
            };
            let facets = FacetCollector(FacetSelection::default());
            let (hits, counted) = ranked_page(&run, &places, offset, limit, facets).unwrap();
            assert_eq!(counted.total, docs.len());
            hits.into_iter()
                .map(|(_, address)| {
                    let doc: TantivyDocument = searcher.doc(address).unwrap();
                    (stored_u64(&doc, f.interview_id), stored_u64(&doc, f.start))
                })
                .collect::<Vec<_>>()
        };
        let mut expected = vec![(9, 0)];
        for interview in 1..=3 {
            for start in [0, 2_000, 4_000] {
                expected.push((interview, start));
            }
        }
        expected.push((1, 6_000));
        let searcher = reader.searcher();
        assert!(searcher.segment_readers().len() > 3);
        // One page holding every hit, and pages of every size, cut inside the tied hits.
        assert_eq!(page(&searcher, 0, 11), expected);
        for size in 1..=4 {
            let paged: Vec<_> = (0..docs.len())
                .step_by(size)
                .flat_map(|offset| page(&searcher, offset, size))
                .collect();
            assert_eq!(paged, expected, "pages of {size}");
        }
        let segments: Vec<_> = searcher
            .segment_readers()
            .iter()
            .map(|r| r.segment_id())
            .collect();
        writer.merge(&segments).wait().unwrap();
        reader.reload().unwrap();
        let merged = reader.searcher();
        assert_eq!(merged.segment_readers().len(), 1);
        for size in [1, 3] {
            let paged: Vec<_> = (0..docs.len())
                .step_by(size)
                .flat_map(|offset| page(&merged, offset, size))
                .collect();
            assert_eq!(paged, expected, "pages of {size} after the merge");
        }
        // The merged segments' columns are let go.
        assert_eq!(places.lock().unwrap().len(), 1);
    }

    /// A word whose hits all score alike: a segment hands over fewer than `3 × wanted`
    /// candidates (the best `wanted` and fewer than `2 × wanted` tied ones; before, every
    /// tied document), and the page still holds the first by place.
    #[test]
    fn tied_hits_beyond_the_page_are_not_all_kept() {
        let (schema, f) = schema::build();
        let index = Index::create_in_ram(schema);
        analyzer::register(&index);
        let mut writer: tantivy::IndexWriter = index.writer(15_000_000).unwrap();
        // Added in the reverse of their places, in one segment.
        for interview in (1..=400u64).rev() {
            let mut doc = TantivyDocument::default();
            doc.add_u64(f.kind, KIND_PASSAGE);
            doc.add_u64(f.interview_id, interview);
            doc.add_u64(f.start, 0);
            f.add_text(&mut doc, "la casa è grande");
            writer.add_document(doc).unwrap();
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        assert_eq!(searcher.segment_readers().len(), 1);
        let query = TermQuery::new(
            Term::from_field_text(f.text_exact, "casa"),
            IndexRecordOption::WithFreqs,
        );
        let places = PlaceColumns::default();
        let columns = place_columns(&searcher, &places).unwrap();
        for wanted in [1, 5, 20] {
            let top = TopWithTies {
                wanted,
                columns: &columns,
            };
            let candidates = searcher.search(&query, &top).unwrap();
            assert!(
                (wanted..3 * wanted).contains(&candidates.len()),
                "{} candidates for {wanted}",
                candidates.len()
            );
        }
        let run = Run {
            searcher: &searcher,
            query: &BooleanQuery::new(vec![(Occur::Must, Box::new(query) as Box<dyn Query>)]),
            statistics: None,
        };
        let facets = FacetCollector(FacetSelection::default());
        let (page, counted) = ranked_page(&run, &places, 3, 4, facets).unwrap();
        assert_eq!(counted.total, 400);
        let interviews: Vec<u64> = page
            .into_iter()
            .map(|(_, a)| stored_u64(&searcher.doc::<TantivyDocument>(a).unwrap(), f.interview_id))
            .collect();
        assert_eq!(interviews, [4, 5, 6, 7]);
    }

    /// Against ranking every hit by (score, place) by hand: many documents with few distinct
    /// scores, added in an order unrelated to their places, over segments of different
    /// sizes, some with deletions; every page of several sizes, from every offset.
    #[test]
    fn pages_agree_with_ranking_every_hit_by_score_then_place() {
        let (index, mut writer, f) = unmerged_index();
        let mut next = draws(7);
        let mut placed = std::collections::BTreeSet::new();
        for n in 0..300u64 {
            let (interview, start) = (1 + next(12), 1000 * next(40));
            if !placed.insert((interview, start)) {
                continue;
            }
            let words = ["casa"; 3][..1 + next(3) as usize].join(" ");
            let filler = ["della", "comunità", "di", "valle", "oggi"][..next(5) as usize].join(" ");
            let mut doc = TantivyDocument::default();
            doc.add_u64(f.kind, KIND_PASSAGE);
            doc.add_u64(f.interview_id, interview);
            doc.add_u64(f.start, start);
            f.add_text(&mut doc, &format!("{words} {filler}"));
            writer.add_document(doc).unwrap();
            if next(9) == 0 {
                writer.commit().unwrap();
            }
            if n % 50 == 49 {
                writer.delete_term(Term::from_field_u64(f.interview_id, 1 + next(12)));
            }
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        assert!(searcher.segment_readers().len() > 5);
        let query = BooleanQuery::new(vec![(
            Occur::Must,
            Box::new(TermQuery::new(
                Term::from_field_text(f.text_exact, "casa"),
                IndexRecordOption::WithFreqs,
            )) as Box<dyn Query>,
        )]);
        let key = |address: DocAddress| {
            let doc: TantivyDocument = searcher.doc(address).unwrap();
            (stored_u64(&doc, f.interview_id), stored_u64(&doc, f.start))
        };
        let mut every: Vec<(Score, (u64, u64))> = searcher
            .search(
                &query,
                &tantivy::collector::TopDocs::with_limit(10_000).order_by_score(),
            )
            .unwrap()
            .into_iter()
            .map(|(score, address)| (score, key(address)))
            .collect();
        every.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let distinct: HashSet<u32> = every.iter().map(|e| e.0.to_bits()).collect();
        assert!(
            every.len() > 100 && distinct.len() < 20,
            "{} hits, {} scores",
            every.len(),
            distinct.len()
        );
        let places = PlaceColumns::default();
        let run = Run {
            searcher: &searcher,
            query: &query,
            statistics: None,
        };
        for limit in [1, 7, 20, 1000] {
            for offset in 0..every.len() + 1 {
                let facets = FacetCollector(FacetSelection::default());
                let (page, counted) = ranked_page(&run, &places, offset, limit, facets).unwrap();
                assert_eq!(counted.total, every.len());
                let got: Vec<_> = page.into_iter().map(|(s, a)| (s, key(a))).collect();
                let end = (offset + limit).min(every.len());
                assert_eq!(
                    got,
                    every[offset.min(end)..end],
                    "offset {offset}, limit {limit}"
                );
            }
        }
    }
}
