//! What a caller may read, as a search filter: the documents of one scope in some studies
//! (`Readable`), planned per segment from its term dictionaries (`Plan`).

use std::sync::Arc;

use tantivy::columnar::Cardinality;
use tantivy::query::{
    AllScorer, BooleanQuery, EmptyScorer, EnableScoring, Exclude, Explanation, Query, Scorer,
    TermQuery, Weight,
};
use tantivy::schema::{Field, IndexRecordOption, Schema, Term};
use tantivy::{DocId, DocSet, Score, SegmentReader};

use super::{u64_term, Scope};
use crate::search::filter_sets::{AllBut, MOST_LEFT_OUT};
use crate::search::schema::{Fields, KIND_PASSAGE, KIND_QUOTATION};

pub(super) fn kind_of(scope: Scope) -> u64 {
    match scope {
        Scope::Transcripts => KIND_PASSAGE,
        Scope::Quotations => KIND_QUOTATION,
    }
}

/// Which of a segment's documents a filter on one kind (and some studies) keeps, and the
/// cheapest exact way to find them, read off the segment's term dictionaries.
///
/// The kept documents are those matched by a few postings lists (the scope's kind, the
/// studies), and tantivy's intersection leaps through the shortest list it is given. When
/// fewer documents are left out than kept, as for a viewer of the largest study or a
/// search of passages beside a few quotations, the left-out ones are matched instead: a
/// search then seeks through them alone, and a term's readable document frequency counts
/// them alone, rather than reading every occurrence of the term or seeking through the
/// lists of the kept (BENCHMARKS.md, session 17).
#[derive(Debug)]
pub(super) enum Plan {
    /// No document is kept.
    Nothing,
    /// Every document is kept.
    Everything,
    /// Every document but those this query matches (another kind, another study), at most
    /// the number given.
    AllBut(Box<dyn Query>, u64),
    /// The documents this query matches (the kind, the studies), from lists of as many
    /// postings as given.
    Among(Box<dyn Query>, u64),
}

impl Plan {
    /// The plan for the documents of `kind`, in one of `studies` (sorted) if given.
    pub(super) fn of(
        reader: &SegmentReader,
        kind_field: Field,
        study_field: Field,
        kind: u64,
        studies: Option<&[u64]>,
    ) -> tantivy::Result<Self> {
        let all = u64::from(reader.max_doc());
        let df = |field: Field, value: u64| -> tantivy::Result<u64> {
            let term = Term::from_field_u64(field, value);
            Ok(u64::from(reader.inverted_index(field)?.doc_freq(&term)?))
        };
        // Taking away is exact when each document holds exactly one kind and one study:
        // then the documents left out are those holding another.
        let exactly_one = |field: Field| -> tantivy::Result<bool> {
            let name = reader.schema().get_field_name(field);
            Ok(reader.fast_fields().u64(name)?.get_cardinality() == Cardinality::Full)
        };
        let of_kind = df(kind_field, kind)?;
        let in_studies = match studies {
            None => all,
            Some(ids) => ids
                .iter()
                .map(|&s| df(study_field, s))
                .sum::<tantivy::Result<u64>>()?,
        };
        if of_kind == 0 || in_studies == 0 {
            return Ok(Plan::Nothing);
        }
        let studies_exact = studies.is_none() || exactly_one(study_field)?;
        if of_kind == all && in_studies == all && studies_exact {
            return Ok(Plan::Everything);
        }
        let in_kind = u64_term(kind_field, kind);
        let left_out = (all - of_kind) + (all - in_studies.min(all));
        if left_out < of_kind.min(in_studies) && studies_exact && exactly_one(kind_field)? {
            let mut others = Vec::new();
            let mut every_key_read = true;
            let kinds = reader.inverted_index(kind_field)?;
            let mut stream = kinds.terms().stream()?;
            while stream.advance() {
                match u64_of_term_bytes(stream.key()) {
                    Some(value) if value == kind => {}
                    Some(value) => others.push(u64_term(kind_field, value)),
                    None => every_key_read = false,
                }
            }
            if let Some(ids) = studies {
                let of_study = reader.inverted_index(study_field)?;
                let mut stream = of_study.terms().stream()?;
                while stream.advance() {
                    match u64_of_term_bytes(stream.key()) {
                        Some(value) if ids.binary_search(&value).is_ok() => {}
                        Some(value) => others.push(u64_term(study_field, value)),
                        None => every_key_read = false,
                    }
                }
            }
            // A key this code cannot read could hide documents to leave out: match the kept.
            if every_key_read {
                return Ok(Plan::AllBut(
                    Box::new(BooleanQuery::union(others)),
                    left_out,
                ));
            }
        }
        let kept = match studies {
            None => in_kind,
            Some(ids) => Box::new(BooleanQuery::intersection(vec![
                in_kind,
                Box::new(BooleanQuery::union(
                    ids.iter().map(|&s| u64_term(study_field, s)).collect(),
                )),
            ])),
        };
        let reads = match studies {
            None => of_kind,
            Some(_) => of_kind + in_studies,
        };
        Ok(Plan::Among(kept, reads))
    }

    /// The kept documents of the segment, live or not (collectors skip the deleted).
    fn scorer(&self, reader: &SegmentReader, schema: &Schema) -> tantivy::Result<Box<dyn Scorer>> {
        let off = || EnableScoring::disabled_from_schema(schema);
        Ok(match self {
            Plan::Nothing => Box::new(EmptyScorer),
            Plan::Everything => Box::new(AllScorer::new(reader.max_doc())),
            Plan::AllBut(left_out, most) => {
                let mut left_out = left_out.weight(off())?.scorer(reader, 1.0)?;
                if *most <= MOST_LEFT_OUT {
                    Box::new(AllBut::new(reader.max_doc(), &mut left_out))
                } else {
                    Box::new(Exclude::new(AllScorer::new(reader.max_doc()), left_out))
                }
            }
            Plan::Among(kept, _) => kept.weight(off())?.scorer(reader, 1.0)?,
        })
    }

    /// The kept live documents holding `term`.
    pub(super) fn count(
        &self,
        reader: &SegmentReader,
        schema: &Schema,
        term: &Term,
    ) -> tantivy::Result<u64> {
        let holding = || -> Box<dyn Query> {
            Box::new(TermQuery::new(term.clone(), IndexRecordOption::Basic))
        };
        let count = |query: &dyn Query| -> tantivy::Result<u64> {
            let weight = query.weight(EnableScoring::disabled_from_schema(schema))?;
            Ok(u64::from(weight.count(reader)?))
        };
        let both = |q: &dyn Query| BooleanQuery::intersection(vec![holding(), q.box_clone()]);
        Ok(match self {
            Plan::Nothing => 0,
            Plan::Everything => count(holding().as_ref())?,
            Plan::AllBut(left_out, _) => {
                count(holding().as_ref())? - count(&both(left_out.as_ref()))?
            }
            Plan::Among(kept, _) => count(&both(kept.as_ref()))?,
        })
    }

    /// At most how many postings the plan's scorer reads in a whole search: the documents
    /// it leaves out, or those it keeps, read once (its unions go through them in windows,
    /// whatever the seeks).
    pub(super) fn reads(&self) -> u64 {
        match self {
            Plan::Nothing | Plan::Everything => 0,
            Plan::AllBut(_, most) => *most,
            Plan::Among(_, reads) => *reads,
        }
    }

    /// At most how many postings `count` reads for a term with `df` documents in the
    /// segment: the plan's own, and the term's where deleted documents make tantivy read
    /// them to leave those out (else it takes the document frequency).
    pub(super) fn count_work(&self, reader: &SegmentReader, df: u64) -> u64 {
        let term = match self {
            Plan::Everything | Plan::AllBut(..) if reader.has_deletes() => df,
            _ => 0,
        };
        term + self.reads()
    }
}

/// A u64 term's value from its key in a term dictionary (eight bytes, big-endian, as
/// tantivy writes it).
fn u64_of_term_bytes(key: &[u8]) -> Option<u64> {
    key.try_into().ok().map(u64::from_be_bytes)
}

/// The documents of one scope in some studies (or in all), as a search filter: planned per
/// segment (see `Plan`), so that the kind and the readable studies, which nearly every
/// document of a segment may share, cost a search little.
#[derive(Debug, Clone)]
pub(super) struct Readable {
    kind_field: Field,
    study_field: Field,
    kind: u64,
    /// Sorted, deduplicated.
    studies: Option<Arc<[u64]>>,
}

impl Readable {
    pub(super) fn new(fields: &Fields, kind: u64, study_ids: Option<&[i64]>) -> Self {
        let studies = study_ids.map(|ids| {
            let mut ids: Vec<u64> = ids.iter().map(|&s| s as u64).collect();
            ids.sort_unstable();
            ids.dedup();
            ids.into()
        });
        Self {
            kind_field: fields.kind,
            study_field: fields.study_id,
            kind,
            studies,
        }
    }

    pub(super) fn plan(&self, reader: &SegmentReader) -> tantivy::Result<Plan> {
        Plan::of(
            reader,
            self.kind_field,
            self.study_field,
            self.kind,
            self.studies.as_deref(),
        )
    }
}

impl Query for Readable {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(ReadableWeight {
            readable: self.clone(),
            schema: scoring.schema().clone(),
        }))
    }
}

struct ReadableWeight {
    readable: Readable,
    schema: Schema,
}

impl Weight for ReadableWeight {
    fn scorer(&self, reader: &SegmentReader, _boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        self.readable.plan(reader)?.scorer(reader, &self.schema)
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.doc() > doc || scorer.seek(doc) != doc {
            return Err(tantivy::TantivyError::InvalidArgument(format!(
                "document {doc} is not readable"
            )));
        }
        Ok(Explanation::new("readable", 0.0))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::search::execute::first_value;
    use crate::search::execute::statistics::{ReadableStatistics, ReadableTotals};
    use crate::search::execute::testing::{draws, unmerged_index};
    use crate::search::unscored::Unscored;
    use tantivy::collector::DocSetCollector;
    use tantivy::query::Bm25StatisticsProvider;
    use tantivy::{DocAddress, SegmentOrdinal, TantivyDocument, TERMINATED};

    /// What the readable filter keeps, and a term's readable document frequency, against
    /// reading every live document: segments of one study, of several, with quotations, with
    /// documents lacking a study, with deletions; every set of readable studies and none, so
    /// that each plan is taken.
    #[test]
    fn readable_filter_and_frequencies_agree_with_reading_every_document() {
        let (index, mut writer, f) = unmerged_index();
        let mut next = draws(11);
        let words = ["rossi", "casa", "comunità", "perché", "ambito"];
        // Per segment: the studies its documents come from (0: no study), in proportion.
        let segments: [&[u64]; 6] = [
            &[1, 1, 1, 1, 1, 1, 1, 2],
            &[1, 2, 2, 2, 3],
            &[3],
            &[1, 1, 1, 0],
            &[2, 3],
            &[1, 1, 1, 1, 2, 3],
        ];
        let mut interview = 0;
        for (s, studies) in segments.iter().enumerate() {
            for _ in 0..120 {
                interview += 1;
                let study = studies[next(studies.len() as u64) as usize];
                let mut doc = TantivyDocument::default();
                // The third segment holds passages alone: all readable to a reader of 3.
                let kind = if s != 2 && next(6) == 0 {
                    KIND_QUOTATION
                } else {
                    KIND_PASSAGE
                };
                doc.add_u64(f.kind, kind);
                if study > 0 {
                    doc.add_u64(f.study_id, study);
                }
                doc.add_u64(f.interview_id, interview);
                let text: Vec<&str> = (0..1 + next(4))
                    .map(|_| words[next(words.len() as u64) as usize])
                    .collect();
                f.add_text(&mut doc, &text.join(" "));
                writer.add_document(doc).unwrap();
            }
            writer.commit().unwrap();
            if s % 2 == 1 {
                for _ in 0..15 {
                    let gone = interview - next(120);
                    writer.delete_term(Term::from_field_u64(f.interview_id, gone));
                }
                writer.commit().unwrap();
            }
        }
        let searcher = index.reader().unwrap().searcher();
        assert_eq!(searcher.segment_readers().len(), segments.len());
        // The live documents of `kind` (in `studies`) holding `term`, read one by one.
        let by_reading = |studies: Option<&[u64]>, kind: u64, term: &Term| {
            let mut found = HashSet::new();
            for (ord, reader) in searcher.segment_readers().iter().enumerate() {
                let kinds = reader.fast_fields().u64("kind").unwrap();
                let of_study = reader.fast_fields().u64("study_id").unwrap();
                let inverted = reader.inverted_index(term.field()).unwrap();
                let Some(mut postings) = inverted
                    .read_postings(term, IndexRecordOption::Basic)
                    .unwrap()
                else {
                    continue;
                };
                while postings.doc() != TERMINATED {
                    let doc = postings.doc();
                    if reader.alive_bitset().is_none_or(|a| a.is_alive(doc))
                        && first_value(&kinds, doc) == Some(kind)
                        && studies.is_none_or(|ids| {
                            first_value(&of_study, doc).is_some_and(|s| ids.contains(&s))
                        })
                    {
                        found.insert(DocAddress::new(ord as SegmentOrdinal, doc));
                    }
                    postings.advance();
                }
            }
            found
        };
        let cache = ReadableTotals::default();
        let mut plans = HashSet::new();
        let sets = [&[1][..], &[2], &[3], &[1, 2], &[1, 3], &[2, 3], &[1, 2, 3]];
        for scope in [Scope::Transcripts, Scope::Quotations] {
            for studies in sets.iter().map(|&s| Some(s)).chain([None]) {
                let ids: Option<Vec<i64>> = studies.map(|s| s.iter().map(|&s| s as i64).collect());
                let stats = studies.map(|_| {
                    ReadableStatistics::new(&searcher, &cache, &f, scope, ids.as_deref().unwrap())
                        .unwrap()
                });
                let filter = Readable::new(&f, kind_of(scope), ids.as_deref());
                for reader in searcher.segment_readers() {
                    plans.insert(match filter.plan(reader).unwrap() {
                        Plan::Nothing => "nothing",
                        Plan::Everything => "everything",
                        Plan::AllBut(..) => "all but",
                        Plan::Among(..) => "among",
                    });
                }
                for word in words {
                    for field in [f.text_exact, f.text] {
                        let term = Term::from_field_text(field, word);
                        let expected = by_reading(studies, kind_of(scope), &term);
                        let context = format!("{word} in {studies:?}, {scope:?}");
                        if let Some(stats) = &stats {
                            let n = stats.doc_freq(&term).unwrap();
                            assert_eq!(n, expected.len() as u64, "{context}");
                        }
                        let query = BooleanQuery::intersection(vec![
                            Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
                            Box::new(Unscored(Box::new(filter.clone()))),
                        ]);
                        let found = searcher.search(&query, &DocSetCollector).unwrap();
                        assert_eq!(found, expected, "{context}");
                    }
                }
            }
        }
        assert_eq!(plans.len(), 4, "{plans:?}");
    }
}
