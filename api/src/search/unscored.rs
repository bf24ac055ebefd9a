//! Filters: clauses that restrict a search without touching its ranking.

use tantivy::query::{
    AllScorer, ConstScorer, EmptyScorer, EnableScoring, Explanation, Query, Scorer, Weight,
};
use tantivy::schema::Term;
use tantivy::{DocId, DocSet, Score, SegmentReader, TantivyError};

/// Matches what its query matches and adds nothing to the score.
///
/// Its weight is built with scoring off, so that a term every document of a segment holds
/// (the passage kind, in a segment of passages) becomes tantivy's match-all scorer, which an
/// intersection leaves out: the filter then costs nothing per hit. Scored, the kind term cost
/// a BM25 computation and a posting-list seek per hit.
#[derive(Debug)]
pub struct Unscored(pub Box<dyn Query>);

impl Clone for Unscored {
    fn clone(&self) -> Self {
        Self(self.0.box_clone())
    }
}

impl Query for Unscored {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let off = match scoring.searcher() {
            Some(searcher) => EnableScoring::disabled_from_searcher(searcher),
            None => EnableScoring::disabled_from_schema(scoring.schema()),
        };
        Ok(Box::new(UnscoredWeight(self.0.weight(off)?)))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.0.query_terms(visitor);
    }
}

struct UnscoredWeight(Box<dyn Weight>);

impl Weight for UnscoredWeight {
    fn scorer(&self, reader: &SegmentReader, _boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let inner = self.0.scorer(reader, 1.0)?;
        // Both are recognised by the enclosing intersection: all-match is left out (it adds
        // no score there), empty ends the segment's search.
        if inner.is::<AllScorer>() || inner.is::<EmptyScorer>() {
            return Ok(inner);
        }
        Ok(Box::new(ConstScorer::new(inner, 0.0)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.doc() > doc || scorer.seek(doc) != doc {
            return Err(TantivyError::InvalidArgument(format!(
                "document {doc} does not match"
            )));
        }
        Ok(Explanation::new("filter", 0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::collector::TopDocs;
    use tantivy::query::{BooleanQuery, Occur, TermQuery};
    use tantivy::schema::{IndexRecordOption, Schema, INDEXED, TEXT};
    use tantivy::{doc, Index, IndexWriter};

    /// A segment where every document holds the filtered kind, and one where only some do.
    fn index() -> (Index, tantivy::schema::Field, tantivy::schema::Field) {
        let mut schema = Schema::builder();
        let kind = schema.add_u64_field("kind", INDEXED);
        let text = schema.add_text_field("text", TEXT);
        let index = Index::create_in_ram(schema.build());
        let mut writer: IndexWriter = index.writer(15_000_000).unwrap();
        for n in 0..40u64 {
            let words = if n % 3 == 0 {
                "casa casa lavoro"
            } else {
                "casa"
            };
            writer
                .add_document(doc!(kind => 1u64, text => words))
                .unwrap();
        }
        writer.commit().unwrap();
        for n in 0..40u64 {
            let words = if n % 4 == 0 {
                "casa lavoro"
            } else {
                "casa e lavoro e altro"
            };
            writer
                .add_document(doc!(kind => n % 2, text => words))
                .unwrap();
        }
        writer.commit().unwrap();
        (index, kind, text)
    }

    fn term(field: tantivy::schema::Field, word: &str) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(field, word),
            IndexRecordOption::WithFreqs,
        ))
    }

    #[test]
    fn a_filter_restricts_without_changing_scores_and_drops_out_where_all_match() {
        let (index, kind, text) = index();
        let searcher = index.reader().unwrap().searcher();
        assert_eq!(searcher.segment_readers().len(), 2);
        let kind_one: Box<dyn Query> = Box::new(TermQuery::new(
            Term::from_field_u64(kind, 1),
            IndexRecordOption::Basic,
        ));
        let filtered = BooleanQuery::new(vec![
            (Occur::Must, term(text, "casa")),
            (Occur::Must, Box::new(Unscored(kind_one.box_clone()))),
        ]);
        let top = TopDocs::with_limit(100).order_by_score();
        let hits = searcher.search(&filtered, &top).unwrap();
        // 40 in the first segment, 20 of kind 1 in the second.
        assert_eq!(hits.len(), 60);
        let unfiltered: std::collections::HashMap<_, _> = searcher
            .search(&*term(text, "casa"), &top)
            .unwrap()
            .into_iter()
            .map(|(score, address)| (address, score))
            .collect();
        for (score, address) in &hits {
            assert_eq!(Some(score), unfiltered.get(address), "{address:?}");
        }

        let weight = Unscored(kind_one)
            .weight(EnableScoring::enabled_from_searcher(&searcher))
            .unwrap();
        let mut all_match = 0;
        for reader in searcher.segment_readers() {
            let mut scorer = weight.scorer(reader, 1.0).unwrap();
            let holders = reader
                .inverted_index(kind)
                .unwrap()
                .doc_freq(&Term::from_field_u64(kind, 1))
                .unwrap();
            if holders == reader.max_doc() {
                assert!(scorer.is::<AllScorer>(), "every document holds the kind");
                all_match += 1;
            } else {
                assert!(scorer.is::<ConstScorer<Box<dyn Scorer>>>());
                assert_eq!(scorer.score(), 0.0);
            }
        }
        assert_eq!(all_match, 1);
    }
}
