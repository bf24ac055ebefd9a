//! One word, with the form as typed ranked first, among filters: the search analysts run most
//! (a word, in some cases or interviews).
//!
//! As tantivy's own queries this is an intersection of a required-optional scorer (the word,
//! the typed form) with a scorer per filter, each boxed and each scoring: every hit costs a
//! chain of dynamic calls through three levels of scorers. `WordAmong` runs the same search
//! as one loop led by the word's postings, each filter's next document becoming the word's
//! next target, with the same scores to the bit. On a one-case search of corpus L the
//! collection took 0.38 ms instead of 0.64 ms (BENCHMARKS.md, session 20).

use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::{Postings, SegmentPostings};
use tantivy::query::{
    AllScorer, Bm25Weight, BooleanQuery, ConstScoreQuery, EmptyScorer, EnableScoring, Explanation,
    Occur, Query, Scorer, TermQuery, Weight,
};
use tantivy::schema::{IndexRecordOption, Term};
use tantivy::{DocId, DocSet, Score, SegmentReader, TantivyError, TERMINATED};

use super::filter_sets::{AllBut, TermBlocks};

/// A single word: its term, scored, and the typed form's term, which adds `bonus` to the
/// passages holding it. As a query it is tantivy's term query, or boolean query of the two,
/// so that it behaves as any other clause where the word is one part of a longer query.
#[derive(Debug, Clone)]
pub struct Word {
    term: Term,
    typed: Option<(Term, Score)>,
}

impl Word {
    pub fn new(term: Term, typed: Option<(Term, Score)>) -> Self {
        Self { term, typed }
    }

    /// The word's term (its lemma, stem or folded form).
    pub fn term(&self) -> &Term {
        &self.term
    }

    fn as_tantivy_query(&self) -> Box<dyn Query> {
        match &self.typed {
            None => Box::new(scored_term(&self.term)),
            Some((form, bonus)) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, Box::new(scored_term(&self.term))),
                (
                    Occur::Should,
                    Box::new(ConstScoreQuery::new(Box::new(scored_term(form)), *bonus)),
                ),
            ])),
        }
    }

    /// The word restricted by `filters` (clauses that add nothing to the score).
    pub fn among(self, filters: Vec<Box<dyn Query>>) -> WordAmong {
        WordAmong {
            word: self,
            filters,
        }
    }
}

fn scored_term(term: &Term) -> TermQuery {
    TermQuery::new(term.clone(), IndexRecordOption::WithFreqs)
}

impl Query for Word {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        self.as_tantivy_query().weight(scoring)
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        // As the term queries visit them: no positions needed.
        visitor(&self.term, false);
        if let Some((form, _)) = &self.typed {
            visitor(form, false);
        }
    }
}

/// A word among filters, searched in one loop (see the module's comment). Without it, the
/// search builds tantivy's boolean query of the two (`among` in execute/compile.rs).
#[derive(Debug)]
pub struct WordAmong {
    word: Word,
    filters: Vec<Box<dyn Query>>,
}

impl Clone for WordAmong {
    fn clone(&self) -> Self {
        Self {
            word: self.word.clone(),
            filters: self.filters.iter().map(|f| f.box_clone()).collect(),
        }
    }
}

impl Query for WordAmong {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let off = match scoring.searcher() {
            Some(searcher) => EnableScoring::disabled_from_searcher(searcher),
            None => EnableScoring::disabled_from_schema(scoring.schema()),
        };
        let term = &self.word.term;
        let word = match scoring {
            // As tantivy's term query weighs it.
            EnableScoring::Enabled {
                statistics_provider,
                ..
            } => WordWeight::Scored {
                term: term.clone(),
                bm25: Bm25Weight::for_terms(statistics_provider, std::slice::from_ref(term))?,
            },
            EnableScoring::Disabled { .. } => WordWeight::Counting(scored_term(term).weight(off)?),
        };
        Ok(Box::new(WordAmongWeight {
            word,
            typed: self.word.typed.clone(),
            filters: self
                .filters
                .iter()
                .map(|f| match f.as_ref().downcast_ref::<TermQuery>() {
                    // A field not indexed is left to tantivy's term query, which refuses it.
                    Some(t) if off.schema().get_field_entry(t.term().field()).is_indexed() => {
                        Ok(FilterWeight::Term(t.term().clone()))
                    }
                    _ => f.weight(off).map(FilterWeight::Other),
                })
                .collect::<tantivy::Result<_>>()?,
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.word.query_terms(visitor);
        for f in &self.filters {
            f.query_terms(visitor);
        }
    }
}

enum WordWeight {
    Scored {
        term: Term,
        bm25: Bm25Weight,
    },
    /// Scores unused (counting): tantivy's own term weight.
    Counting(Box<dyn Weight>),
}

struct WordAmongWeight {
    word: WordWeight,
    typed: Option<(Term, Score)>,
    filters: Vec<FilterWeight>,
}

/// Only which documents a filter holds matters: a term's are read off its postings, any
/// other filter's off its weight, built with scoring off.
enum FilterWeight {
    Term(Term),
    Other(Box<dyn Weight>),
}

/// A filter in a segment. The filters of nearly every search, an id's documents (a case, an
/// interview) and every document but a few (passages beside a few quotations), are consulted
/// at every hit without a dynamic call, and an id's without searching its blocks of
/// consecutive documents (filter_sets.rs; BENCHMARKS.md, session 21).
enum Filter {
    /// Boxed: a block of postings is a kilobyte, the other variants a few words.
    Term(Box<TermBlocks>),
    AllBut(AllBut),
    Other(Box<dyn Scorer>),
}

impl Filter {
    #[inline]
    fn doc(&self) -> DocId {
        match self {
            Filter::Term(t) => t.doc(),
            Filter::AllBut(a) => a.doc(),
            Filter::Other(s) => s.doc(),
        }
    }

    #[inline]
    fn seek(&mut self, target: DocId) -> DocId {
        match self {
            Filter::Term(t) => t.seek(target),
            Filter::AllBut(a) => a.seek(target),
            Filter::Other(s) => s.seek(target),
        }
    }

    fn size_hint(&self) -> u32 {
        match self {
            Filter::Term(t) => t.size_hint(),
            Filter::AllBut(a) => a.size_hint(),
            Filter::Other(s) => s.size_hint(),
        }
    }
}

/// A segment's scorers: the word's postings scored in place where scores are wanted (the
/// loop's calls on them are then static), tantivy's boxed scorer otherwise.
enum Segment {
    Nothing,
    Scored(Box<WordScorer<Bm25Term>>),
    Counting(Box<WordScorer<Box<dyn Scorer>>>),
}

impl WordAmongWeight {
    fn segment(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Segment> {
        let mut filters = Vec::with_capacity(self.filters.len());
        for f in &self.filters {
            let filter = match f {
                FilterWeight::Term(term) => match reader
                    .inverted_index(term.field())?
                    .read_block_postings(term, IndexRecordOption::Basic)?
                {
                    Some(postings) => Filter::Term(Box::new(TermBlocks::new(postings))),
                    None => return Ok(Segment::Nothing),
                },
                FilterWeight::Other(weight) => {
                    let scorer = weight.scorer(reader, 1.0)?;
                    // Matches everything: nothing to check.
                    if scorer.is::<AllScorer>() {
                        continue;
                    }
                    match scorer.downcast::<AllBut>() {
                        Ok(all_but) => Filter::AllBut(*all_but),
                        Err(scorer) => Filter::Other(scorer),
                    }
                }
            };
            if filter.doc() == TERMINATED {
                return Ok(Segment::Nothing);
            }
            filters.push(filter);
        }
        Ok(match &self.word {
            WordWeight::Scored { term, bm25 } => {
                let Some(word) = Bm25Term::of(reader, term, bm25.boost_by(boost))? else {
                    return Ok(Segment::Nothing);
                };
                // Boosted as tantivy boosts a constant score.
                let typed = match &self.typed {
                    Some((form, bonus)) => reader
                        .inverted_index(form.field())?
                        .read_postings(form, IndexRecordOption::Basic)?
                        .map(|postings| (postings, bonus * boost)),
                    None => None,
                };
                Segment::Scored(Box::new(WordScorer::new(word, typed, filters)))
            }
            WordWeight::Counting(weight) => Segment::Counting(Box::new(WordScorer::new(
                weight.scorer(reader, boost)?,
                None,
                filters,
            ))),
        })
    }
}

/// A term's postings in a segment, scored by BM25 exactly as tantivy's term scorer scores
/// them (which tantivy does not export).
struct Bm25Term {
    postings: SegmentPostings,
    norms: FieldNormReader,
    bm25: Bm25Weight,
}

impl Bm25Term {
    fn of(reader: &SegmentReader, term: &Term, bm25: Bm25Weight) -> tantivy::Result<Option<Self>> {
        let inverted = reader.inverted_index(term.field())?;
        let Some(info) = inverted.get_term_info(term)? else {
            return Ok(None);
        };
        let postings = inverted.read_postings_from_terminfo(&info, IndexRecordOption::WithFreqs)?;
        let norms = match reader.fieldnorms_readers().get_field(term.field())? {
            Some(norms) => norms,
            None => FieldNormReader::constant(reader.max_doc(), 1),
        };
        Ok(Some(Self {
            postings,
            norms,
            bm25,
        }))
    }
}

impl DocSet for Bm25Term {
    #[inline]
    fn advance(&mut self) -> DocId {
        self.postings.advance()
    }

    #[inline]
    fn seek(&mut self, target: DocId) -> DocId {
        self.postings.seek(target)
    }

    #[inline]
    fn doc(&self) -> DocId {
        self.postings.doc()
    }

    fn size_hint(&self) -> u32 {
        self.postings.size_hint()
    }
}

impl Scorer for Bm25Term {
    #[inline]
    fn score(&mut self) -> Score {
        let norm = self.norms.fieldnorm_id(self.postings.doc());
        self.bm25.score(norm, self.postings.term_freq())
    }
}

impl Weight for WordAmongWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(match self.segment(reader, boost)? {
            Segment::Nothing => Box::new(EmptyScorer),
            Segment::Scored(s) => s,
            Segment::Counting(s) => s,
        })
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.doc() > doc || scorer.seek(doc) != doc {
            return Err(TantivyError::InvalidArgument(format!(
                "document {doc} does not match"
            )));
        }
        Ok(Explanation::new("word among filters", scorer.score()))
    }

    fn for_each(
        &self,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(DocId, Score),
    ) -> tantivy::Result<()> {
        match self.segment(reader, 1.0)? {
            Segment::Nothing => {}
            Segment::Scored(mut s) => s.for_each(callback),
            Segment::Counting(mut s) => s.for_each(callback),
        }
        Ok(())
    }
}

/// The word's documents that every filter holds, scored as tantivy scores the boolean query
/// `+word typed^bonus` (the filters add 0).
struct WordScorer<W> {
    word: W,
    typed: Option<(SegmentPostings, Score)>,
    filters: Vec<Filter>,
}

impl<W: Scorer> WordScorer<W> {
    fn new(word: W, typed: Option<(SegmentPostings, Score)>, filters: Vec<Filter>) -> Self {
        let mut scorer = Self {
            word,
            typed,
            filters,
        };
        let first = scorer.word.doc();
        scorer.align(first);
        scorer
    }

    /// The first document from `candidate` (where the word is) that every filter holds,
    /// leaping: a filter's next document becomes the word's next target.
    #[inline]
    fn align(&mut self, mut candidate: DocId) -> DocId {
        'leap: while candidate != TERMINATED {
            for filter in &mut self.filters {
                let at = if filter.doc() < candidate {
                    filter.seek(candidate)
                } else {
                    filter.doc()
                };
                if at > candidate {
                    candidate = self.word.seek(at);
                    continue 'leap;
                }
            }
            return candidate;
        }
        TERMINATED
    }

    #[inline]
    fn for_each(&mut self, callback: &mut dyn FnMut(DocId, Score)) {
        let mut doc = self.word.doc();
        while doc != TERMINATED {
            callback(doc, self.score());
            doc = self.advance();
        }
    }
}

impl<W: Scorer> DocSet for WordScorer<W> {
    #[inline]
    fn advance(&mut self) -> DocId {
        let next = self.word.advance();
        self.align(next)
    }

    fn seek(&mut self, target: DocId) -> DocId {
        let next = self.word.seek(target);
        self.align(next)
    }

    #[inline]
    fn doc(&self) -> DocId {
        self.word.doc()
    }

    fn size_hint(&self) -> u32 {
        self.filters
            .iter()
            .map(|f| f.size_hint())
            .fold(self.word.size_hint(), u32::min)
    }
}

impl<W: Scorer> Scorer for WordScorer<W> {
    #[inline]
    fn score(&mut self) -> Score {
        let doc = self.word.doc();
        // As tantivy's sum: the required clause's score, then the optional one's.
        let mut score = self.word.score();
        if let Some((typed, bonus)) = &mut self.typed {
            let at = if typed.doc() < doc {
                typed.seek(doc)
            } else {
                typed.doc()
            };
            if at == doc {
                score += *bonus;
            }
        }
        score
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use tantivy::collector::{Collector, Count, SegmentCollector, TopDocs};
    use tantivy::query::{AllQuery, Bm25StatisticsProvider};
    use tantivy::schema::{Field, Schema, INDEXED, STRING, TEXT};
    use tantivy::{doc, DocAddress, Index, IndexWriter, Searcher, SegmentOrdinal};

    use super::*;
    use crate::search::unscored::Unscored;

    /// Every matching document with the bits of its score, collected through `for_each`.
    struct Every;

    impl Collector for Every {
        type Fruit = Vec<(DocAddress, u32)>;
        type Child = EverySegment;

        fn for_segment(
            &self,
            segment: SegmentOrdinal,
            _: &SegmentReader,
        ) -> tantivy::Result<EverySegment> {
            Ok(EverySegment(segment, Vec::new()))
        }

        fn requires_scoring(&self) -> bool {
            true
        }

        fn merge_fruits(&self, fruits: Vec<Self::Fruit>) -> tantivy::Result<Self::Fruit> {
            Ok(fruits.into_iter().flatten().collect())
        }
    }

    struct EverySegment(SegmentOrdinal, Vec<(DocAddress, u32)>);

    fn every_sorted(every: &[(DocAddress, u32)]) -> Vec<(DocAddress, u32)> {
        let mut sorted = every.to_vec();
        sorted.sort();
        sorted
    }

    impl SegmentCollector for EverySegment {
        type Fruit = Vec<(DocAddress, u32)>;

        fn collect(&mut self, doc: DocId, score: Score) {
            self.1.push((DocAddress::new(self.0, doc), score.to_bits()));
        }

        fn harvest(self) -> Self::Fruit {
            self.1
        }
    }

    struct Fields {
        id: Field,
        text: Field,
        exact: Field,
        case: Field,
        /// Runs of 50 consecutive documents, as an interview's passages are indexed.
        interview: Field,
    }

    /// Three segments of passages with the words of `WORDS` in varying numbers, some typed
    /// as "Territori" (another form), some deleted.
    fn index() -> (Index, Fields) {
        let mut schema = Schema::builder();
        let f = Fields {
            id: schema.add_u64_field("id", INDEXED),
            text: schema.add_text_field("text", TEXT),
            exact: schema.add_text_field("exact", STRING),
            case: schema.add_u64_field("case", INDEXED),
            interview: schema.add_u64_field("interview", INDEXED),
        };
        let index = Index::create_in_ram(schema.build());
        let mut writer: IndexWriter = index.writer(15_000_000).unwrap();
        let mut n = 0u64;
        for segment in 0..3u64 {
            // Past 128 hits a word's postings take several blocks: seeks leap between them.
            for _ in 0..1000 {
                n += 1;
                let r = n.wrapping_mul(2_654_435_761) >> 7;
                let mut words = vec!["e"; 1 + (r % 9) as usize];
                words.extend(std::iter::repeat_n("territorio", (r % 4) as usize));
                words.extend(std::iter::repeat_n("casa", ((r >> 3) % 3) as usize));
                let typed = if (r >> 5).is_multiple_of(3) {
                    "territori"
                } else {
                    "altro"
                };
                writer
                    .add_document(doc!(
                        f.id => n,
                        f.text => words.join(" "),
                        f.exact => typed,
                        // The first segment holds case 1 only: its filter matches everything.
                        // Elsewhere a case is every third document: several blocks of
                        // its postings, none of them consecutive documents.
                        f.case => if segment == 0 { 1 } else { n % 3 },
                        f.interview => n / 50,
                    ))
                    .unwrap();
            }
            writer.commit().unwrap();
        }
        for n in (7..n).step_by(11) {
            writer.delete_term(Term::from_field_u64(f.id, n));
        }
        writer.commit().unwrap();
        (index, f)
    }

    fn cases(f: &Fields, ids: &[u64]) -> Box<dyn Query> {
        let terms = ids
            .iter()
            .map(|&c| {
                Box::new(TermQuery::new(
                    Term::from_field_u64(f.case, c),
                    IndexRecordOption::Basic,
                )) as Box<dyn Query>
            })
            .collect();
        Box::new(BooleanQuery::union(terms))
    }

    /// One id, as the search filters by a single case or interview (a term query).
    fn one(field: Field, id: u64) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_u64(field, id),
            IndexRecordOption::Basic,
        ))
    }

    /// Every document but those of some cases, as `AllBut` (what a search keeps of a segment
    /// holding a few quotations); tantivy's own side reads it as an exclusion.
    #[derive(Debug, Clone)]
    struct AllButCases(Vec<u64>, Field);

    impl Query for AllButCases {
        fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
            Ok(Box::new(AllButCasesWeight(
                cases_of(self.1, &self.0).weight(scoring)?,
            )))
        }
    }

    fn cases_of(field: Field, ids: &[u64]) -> BooleanQuery {
        BooleanQuery::union(ids.iter().map(|&c| one(field, c)).collect())
    }

    struct AllButCasesWeight(Box<dyn Weight>);

    impl Weight for AllButCasesWeight {
        fn scorer(&self, reader: &SegmentReader, _: Score) -> tantivy::Result<Box<dyn Scorer>> {
            let mut left_out = self.0.scorer(reader, 1.0)?;
            Ok(Box::new(AllBut::new(reader.max_doc(), &mut left_out)))
        }

        fn explain(&self, _: &SegmentReader, _: DocId) -> tantivy::Result<Explanation> {
            unimplemented!()
        }
    }

    fn all_but_cases(f: &Fields, ids: &[u64]) -> (Box<dyn Query>, Box<dyn Query>) {
        let tantivys = BooleanQuery::new(vec![
            (Occur::Must, Box::new(AllQuery) as Box<dyn Query>),
            (Occur::MustNot, Box::new(cases_of(f.case, ids))),
        ]);
        (
            Box::new(AllButCases(ids.to_vec(), f.case)),
            Box::new(tantivys),
        )
    }

    /// BM25 statistics other than the index's, as a viewer's search uses (execute/statistics.rs).
    struct Skewed<'a>(&'a Searcher);

    impl Bm25StatisticsProvider for Skewed<'_> {
        fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
            Ok(self.0.total_num_tokens(field)?.div_ceil(3))
        }

        fn total_num_docs(&self) -> tantivy::Result<u64> {
            Ok(self.0.total_num_docs()? / 2)
        }

        fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
            Ok(self.0.doc_freq(term)?.div_ceil(4))
        }
    }

    /// Filters for `WordAmong`, and the same documents as tantivy's boolean query reads them.
    type FilterSet = (Vec<Box<dyn Query>>, Vec<Box<dyn Query>>);

    /// `WordAmong` with `filters` and tantivy's boolean query with `theirs` (the same
    /// documents) find and score alike.
    fn same_results(
        searcher: &Searcher,
        word: &Word,
        filters: &[Box<dyn Query>],
        theirs: &[Box<dyn Query>],
    ) -> usize {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, Box::new(word.clone()))];
        // As the search builds it without `WordAmong`.
        clauses.extend(theirs.iter().map(|f| {
            (
                Occur::Must,
                Box::new(Unscored(f.box_clone())) as Box<dyn Query>,
            )
        }));
        let tantivy_own = BooleanQuery::new(clauses);
        let among = word
            .clone()
            .among(filters.iter().map(|f| f.box_clone()).collect());
        let context = format!("{word:?} among {filters:?}");

        let every = searcher.search(&among, &Every).unwrap();
        let mut expected = searcher.search(&tantivy_own, &Every).unwrap();
        let mut got = every.clone();
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "{context}");
        let skewed = Skewed(searcher);
        let mut expected = searcher
            .search_with_statistics_provider(&tantivy_own, &Every, &skewed)
            .unwrap();
        let mut got = searcher
            .search_with_statistics_provider(&among, &Every, &skewed)
            .unwrap();
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "{context}, other statistics");
        if !got.is_empty() {
            assert_ne!(
                got,
                every_sorted(&every),
                "{context}: the statistics changed nothing"
            );
        }
        // Counting (scores off) and ranking through the scorer (tantivy's pruning loop).
        assert_eq!(
            searcher.search(&among, &Count).unwrap(),
            searcher.search(&tantivy_own, &Count).unwrap(),
            "{context}"
        );
        let top = TopDocs::with_limit(15).order_by_score();
        let scores = |hits: Vec<(Score, DocAddress)>| -> Vec<(u32, DocAddress)> {
            hits.into_iter().map(|(s, a)| (s.to_bits(), a)).collect()
        };
        assert_eq!(
            scores(searcher.search(&among, &top).unwrap()),
            scores(searcher.search(&tantivy_own, &top).unwrap()),
            "{context}"
        );
        every.len()
    }

    #[test]
    fn a_word_among_filters_finds_and_scores_what_tantivys_boolean_query_does() {
        let (index, f) = index();
        let searcher = index.reader().unwrap().searcher();
        assert_eq!(searcher.segment_readers().len(), 3);
        assert!(searcher.segment_readers().iter().all(|r| r.has_deletes()));
        let word = |w: &str, typed: Option<&str>| {
            Word::new(
                Term::from_field_text(f.text, w),
                typed.map(|t| (Term::from_field_text(f.exact, t), 100.0)),
            )
        };
        let same = |filters: Vec<Box<dyn Query>>| {
            let theirs = filters.iter().map(|f| f.box_clone()).collect();
            (filters, theirs)
        };
        let (all_but, exclusion) = all_but_cases(&f, &[2, 3]);
        let filter_sets: Vec<FilterSet> = vec![
            same(vec![]),
            same(vec![cases(&f, &[1])]),
            same(vec![cases(&f, &[2, 4])]),
            same(vec![cases(&f, &[1, 2]), cases(&f, &[2, 3])]),
            same(vec![cases(&f, &[99])]),
            same(vec![Box::new(AllQuery)]),
            // One id's postings, read a block at a time: case 1 fills the first segment
            // (every block consecutive), case 2 is every third document elsewhere, and an
            // interview's 50 documents start in a block's middle.
            same(vec![one(f.case, 1)]),
            same(vec![one(f.case, 2)]),
            same(vec![one(f.interview, 3)]),
            same(vec![one(f.interview, 25), cases(&f, &[1, 2])]),
            same(vec![one(f.case, 99)]),
            (vec![all_but], vec![exclusion]),
            {
                let (all_but, exclusion) = all_but_cases(&f, &[0, 4]);
                (
                    vec![all_but, one(f.interview, 12)],
                    vec![exclusion, one(f.interview, 12)],
                )
            },
        ];
        let mut found = BTreeSet::new();
        for w in ["territorio", "casa", "assente"] {
            for typed in [None, Some("territori"), Some("assente")] {
                for (filters, theirs) in &filter_sets {
                    found.insert(same_results(&searcher, &word(w, typed), filters, theirs));
                }
            }
        }
        // Not vacuous: searches found nothing, a few and many documents.
        assert!(
            found.contains(&0) && found.iter().any(|&n| n > 500),
            "{found:?}"
        );
        assert!(found.len() > 5, "{found:?}");
    }

    #[test]
    fn a_word_among_filters_ranks_the_typed_form_first() {
        let (index, f) = index();
        let searcher = index.reader().unwrap().searcher();
        let query = Word::new(
            Term::from_field_text(f.text, "territorio"),
            Some((Term::from_field_text(f.exact, "territori"), 100.0)),
        )
        .among(vec![cases(&f, &[2, 3])]);
        let hits = searcher
            .search(&query, &TopDocs::with_limit(500).order_by_score())
            .unwrap();
        let typed = |address: DocAddress| {
            let reader = searcher.segment_reader(address.segment_ord);
            let inverted = reader.inverted_index(f.exact).unwrap();
            let mut postings = inverted
                .read_postings(
                    &Term::from_field_text(f.exact, "territori"),
                    IndexRecordOption::Basic,
                )
                .unwrap()
                .unwrap();
            postings.doc() <= address.doc_id && postings.seek(address.doc_id) == address.doc_id
        };
        let marks: Vec<bool> = hits.iter().map(|h| typed(h.1)).collect();
        let first_untyped = marks.iter().position(|t| !t).unwrap();
        assert!(first_untyped > 0, "{marks:?}");
        assert!(marks[first_untyped..].iter().all(|t| !t), "{marks:?}");
        assert!(hits[0].0 > 100.0 && hits[first_untyped].0 < 100.0);
    }

    /// A term filter on a field without postings is refused, as tantivy's term query
    /// refuses it, rather than read as matching nothing.
    #[test]
    fn a_filter_on_a_field_not_indexed_is_refused_as_tantivy_refuses_it() {
        let mut schema = Schema::builder();
        let text = schema.add_text_field("text", TEXT);
        let stored = schema.add_u64_field("stored", tantivy::schema::STORED);
        let index = Index::create_in_ram(schema.build());
        let mut writer: IndexWriter = index.writer(15_000_000).unwrap();
        writer
            .add_document(doc!(text => "territorio", stored => 1u64))
            .unwrap();
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let word = Word::new(Term::from_field_text(text, "territorio"), None);
        let filter = || one(stored, 1);
        let tantivys = BooleanQuery::new(vec![
            (Occur::Must, Box::new(word.clone()) as Box<dyn Query>),
            (Occur::Must, Box::new(Unscored(filter()))),
        ]);
        assert!(searcher.search(&tantivys, &Count).is_err());
        assert!(searcher
            .search(&word.clone().among(vec![filter()]), &Count)
            .is_err());
        // Without the filter, the word finds its document.
        assert_eq!(searcher.search(&word.among(vec![]), &Count).unwrap(), 1);
    }
}
