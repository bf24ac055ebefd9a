//! Facet counts: hits per case, ambito, interview and code over the whole result set,
//! tallied per segment in arrays indexed by id.

use std::collections::HashMap;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Cardinality, Column};
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use super::{FacetSelection, Facets};
use crate::search::schema::INTERVIEW_ID;

/// Counts hits per case, ambito, interview and (quotations) code over the whole result set:
/// the lists selected, and always the total.
pub(super) struct FacetCollector(pub(super) FacetSelection);

#[derive(Default)]
pub(super) struct FacetCounts {
    pub(super) total: usize,
    cases: HashMap<u64, usize>,
    ambiti: HashMap<u64, usize>,
    interviews: HashMap<u64, usize>,
    codes: HashMap<u64, usize>,
}

#[derive(Clone, Copy)]
enum Facet {
    Case,
    Ambito,
    Interview,
    Code,
}

fn sorted(map: HashMap<u64, usize>) -> Vec<(i64, usize)> {
    let mut v: Vec<(i64, usize)> = map.into_iter().map(|(k, n)| (k as i64, n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

impl FacetCounts {
    fn of(&mut self, facet: Facet) -> &mut HashMap<u64, usize> {
        match facet {
            Facet::Case => &mut self.cases,
            Facet::Ambito => &mut self.ambiti,
            Facet::Interview => &mut self.interviews,
            Facet::Code => &mut self.codes,
        }
    }

    pub(super) fn into_facets(self) -> Facets {
        Facets {
            cases: sorted(self.cases),
            ambiti: sorted(self.ambiti),
            interviews: sorted(self.interviews),
            codes: sorted(self.codes),
        }
    }
}

pub(super) struct SegmentFacets {
    counts: FacetCounts,
    /// One tally per facet counted.
    tallies: Vec<Tally>,
}

/// Widest range of values a segment counts in an array: 4 bytes each, per facet.
const DENSE_RANGE: u64 = 1 << 18;

/// Hits per value of one fast field in one segment. The values are database ids, so a
/// segment's usually span a short range and are counted in an array indexed by value: a
/// hash-map update per hit (SipHash) was a quarter of a faceted search's time. Values outside
/// the array (a range too wide for one) are counted in a map.
struct Tally {
    facet: Facet,
    column: Column<u64>,
    /// One value per document: read it directly rather than through the column's index.
    single: bool,
    counts: Counts,
}

struct Counts {
    min: u64,
    by_offset: Vec<u32>,
    others: HashMap<u64, usize>,
}

impl Counts {
    fn add(&mut self, value: u64) {
        let slot = value
            .checked_sub(self.min)
            .and_then(|offset| self.by_offset.get_mut(offset as usize));
        match slot {
            Some(n) => *n += 1,
            None => *self.others.entry(value).or_default() += 1,
        }
    }
}

impl Tally {
    fn new(facet: Facet, column: Column<u64>) -> Self {
        let (min, max) = (column.min_value(), column.max_value());
        let width = match max.checked_sub(min) {
            Some(span) if span < DENSE_RANGE => span as usize + 1,
            _ => 0,
        };
        Self {
            facet,
            single: column.get_cardinality() == Cardinality::Full,
            column,
            counts: Counts {
                min,
                by_offset: vec![0; width],
                others: HashMap::new(),
            },
        }
    }

    fn count(&mut self, doc: DocId) {
        if self.single {
            self.counts.add(self.column.values.get_val(doc));
        } else {
            for value in self.column.values_for_doc(doc) {
                self.counts.add(value);
            }
        }
    }

    fn into_map(self) -> HashMap<u64, usize> {
        let Counts {
            min,
            by_offset,
            mut others,
        } = self.counts;
        for (offset, n) in by_offset.into_iter().enumerate() {
            if n > 0 {
                *others.entry(min + offset as u64).or_default() += n as usize;
            }
        }
        others
    }
}

impl Collector for FacetCollector {
    type Fruit = FacetCounts;
    type Child = SegmentFacets;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentFacets> {
        let ff = reader.fast_fields();
        let selected = &self.0;
        let mut tallies = Vec::new();
        for (wanted, field, facet) in [
            (selected.cases, "case_id", Facet::Case),
            (selected.ambiti, "ambito_id", Facet::Ambito),
            (selected.interviews, INTERVIEW_ID, Facet::Interview),
            (selected.codes, "code_direct", Facet::Code),
        ] {
            if wanted {
                tallies.push(Tally::new(facet, ff.u64(field)?));
            }
        }
        Ok(SegmentFacets {
            counts: FacetCounts::default(),
            tallies,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<FacetCounts>) -> tantivy::Result<FacetCounts> {
        let mut all = FacetCounts::default();
        for f in fruits {
            all.total += f.total;
            for (target, source) in [
                (&mut all.cases, f.cases),
                (&mut all.ambiti, f.ambiti),
                (&mut all.interviews, f.interviews),
                (&mut all.codes, f.codes),
            ] {
                for (k, n) in source {
                    *target.entry(k).or_default() += n;
                }
            }
        }
        Ok(all)
    }
}

impl SegmentCollector for SegmentFacets {
    type Fruit = FacetCounts;

    fn collect(&mut self, doc: DocId, _: Score) {
        self.counts.total += 1;
        for tally in &mut self.tallies {
            tally.count(doc);
        }
    }

    fn harvest(mut self) -> FacetCounts {
        for tally in self.tallies {
            let facet = tally.facet;
            *self.counts.of(facet) = tally.into_map();
        }
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::analyzer;
    use crate::search::schema::{self, KIND_QUOTATION};
    use tantivy::query::AllQuery;
    use tantivy::{Index, TantivyDocument};

    /// The array-backed tallies count what a plain map would: ids close together, ids too
    /// far apart for one array (counted in the map), several codes on one quotation, and
    /// documents without a case.
    #[test]
    fn facet_counts_match_a_plain_count_across_segments() {
        let (schema, f) = schema::build();
        let index = Index::create_in_ram(schema);
        analyzer::register(&index);
        let mut writer: tantivy::IndexWriter = index.writer(15_000_000).unwrap();
        let far = 1 << 40;
        let mut expected: [HashMap<u64, usize>; 3] = Default::default();
        for segment in 0..3u64 {
            for n in 0..500u64 {
                let mut doc = TantivyDocument::default();
                doc.add_u64(f.kind, KIND_QUOTATION);
                let interview = if n % 7 == 0 { far + n } else { 1 + n % 40 };
                doc.add_u64(f.interview_id, interview);
                *expected[0].entry(interview).or_default() += 1;
                if n % 5 != 0 {
                    let case = 100 + (n + segment) % 3;
                    doc.add_u64(f.case_id, case);
                    *expected[1].entry(case).or_default() += 1;
                }
                for code in [n % 4, 10 + n % 2] {
                    doc.add_u64(f.code_direct, code);
                    *expected[2].entry(code).or_default() += 1;
                }
                writer.add_document(doc).unwrap();
            }
            writer.commit().unwrap();
        }
        let searcher = index.reader().unwrap().searcher();
        assert_eq!(searcher.segment_readers().len(), 3);
        let counts = searcher
            .search(&AllQuery, &FacetCollector(FacetSelection::ALL))
            .unwrap();
        assert_eq!(counts.total, 1500);
        for (got, want) in [&counts.interviews, &counts.cases, &counts.codes]
            .into_iter()
            .zip(&expected)
        {
            assert_eq!(got, want);
        }
    }
}
