//! BM25 statistics counted over the caller's readable documents alone
//! (`ReadableStatistics`), from each segment's totals, counted once and cached.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tantivy::index::SegmentId;
use tantivy::query::Bm25StatisticsProvider;
use tantivy::schema::{Field, Schema, Term};
use tantivy::{DocId, Searcher, SegmentReader};

use super::first_value;
use super::readable::{kind_of, Plan};
use super::Scope;
use crate::search::schema::Fields;

/// A segment's readable totals are cached under its id and its number of deleted documents:
/// a segment never changes but for deletions, and those only grow, so the count tells which
/// documents are alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SegmentKey {
    segment: SegmentId,
    deleted: DocId,
}

impl SegmentKey {
    fn of(reader: &SegmentReader) -> Self {
        Self {
            segment: reader.segment_id(),
            deleted: reader.num_deleted_docs(),
        }
    }
}

/// Per segment, its live documents' totals by (kind, study): what `ReadableStatistics` sums
/// instead of reading every readable document on every search.
pub(crate) type ReadableTotals = Mutex<HashMap<SegmentKey, Arc<SegmentTotals>>>;

#[derive(Debug, Default)]
pub(crate) struct SegmentTotals {
    by_study: HashMap<(u64, u64), Totals>,
    /// Live documents of each kind, with a study or not.
    by_kind: HashMap<u64, u64>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Totals {
    docs: u64,
    /// Field-norm sums, one per field counted (in `scored_fields` order when cached).
    tokens: Vec<u64>,
}

/// The fields queries score, counted in the one pass that caches a segment's totals.
fn scored_fields(f: &Fields) -> [Field; 4] {
    [f.text, f.text_exact, f.text_lemma, f.text_surface]
}

/// One pass over a segment's live documents: their number and field-norm sums per (kind,
/// study). Documents without a study match no readable set: counted in their kind alone.
fn segment_totals(reader: &SegmentReader, fields: &[Field]) -> tantivy::Result<SegmentTotals> {
    let kinds = reader.fast_fields().u64("kind")?;
    let studies = reader.fast_fields().u64("study_id")?;
    let norms = fields
        .iter()
        .map(|&field| reader.get_fieldnorms_reader(field))
        .collect::<tantivy::Result<Vec<_>>>()?;
    let alive = reader.alive_bitset();
    let mut out = SegmentTotals::default();
    // Documents come interview by interview, so runs share a key: one map update per run.
    let mut run: Option<((u64, Option<u64>), Totals)> = None;
    for doc in 0..reader.max_doc() {
        if alive.is_some_and(|a| a.is_deleted(doc)) {
            continue;
        }
        let Some(kind) = first_value(&kinds, doc) else {
            continue;
        };
        let key = (kind, first_value(&studies, doc));
        if run.as_ref().is_none_or(|(k, _)| *k != key) {
            if let Some((k, t)) = run.take() {
                out.add(k, &t);
            }
            run = Some((
                key,
                Totals {
                    docs: 0,
                    tokens: vec![0; fields.len()],
                },
            ));
        }
        if let Some((_, t)) = run.as_mut() {
            t.docs += 1;
            for (sum, norms) in t.tokens.iter_mut().zip(&norms) {
                *sum += u64::from(norms.fieldnorm(doc));
            }
        }
    }
    if let Some((k, t)) = run {
        out.add(k, &t);
    }
    Ok(out)
}

impl SegmentTotals {
    fn add(&mut self, (kind, study): (u64, Option<u64>), from: &Totals) {
        *self.by_kind.entry(kind).or_default() += from.docs;
        let Some(study) = study else {
            return;
        };
        let into = self.by_study.entry((kind, study)).or_default();
        into.docs += from.docs;
        into.tokens.resize(from.tokens.len(), 0);
        for (a, b) in into.tokens.iter_mut().zip(&from.tokens) {
            *a += b;
        }
    }
}

/// One segment as the statistics read it.
struct ReadableSegment {
    reader: SegmentReader,
    plan: Plan,
}

/// BM25 statistics counted over the live documents of one scope in the caller's readable
/// studies, rather than over the whole index: see `SearchIndex::readable_studies`. Document
/// and token counts sum the segments' cached totals; a term's document frequency is counted
/// per segment as its `Plan` says.
pub(super) struct ReadableStatistics {
    segments: Vec<ReadableSegment>,
    schema: Schema,
    kind: u64,
    /// Sorted.
    studies: Vec<u64>,
    fields: [Field; 4],
    docs: u64,
    tokens: [u64; 4],
}

impl ReadableStatistics {
    pub(super) fn new(
        searcher: &Searcher,
        cache: &ReadableTotals,
        fields: &Fields,
        scope: Scope,
        study_ids: &[i64],
    ) -> tantivy::Result<Self> {
        let scored = scored_fields(fields);
        let kind = kind_of(scope);
        let mut studies: Vec<u64> = study_ids.iter().map(|&s| s as u64).collect();
        studies.sort_unstable();
        studies.dedup();
        let keys: Vec<SegmentKey> = searcher
            .segment_readers()
            .iter()
            .map(SegmentKey::of)
            .collect();
        let mut totals: Vec<Option<Arc<SegmentTotals>>> = {
            let cache = cache.lock().unwrap_or_else(|e| e.into_inner());
            keys.iter().map(|k| cache.get(k).cloned()).collect()
        };
        if totals.iter().any(Option::is_none) {
            // Counted outside the lock: a new segment's pass need not hold up other searches.
            let mut counted = Vec::new();
            for ((slot, reader), key) in
                totals.iter_mut().zip(searcher.segment_readers()).zip(&keys)
            {
                if slot.is_none() {
                    let t = Arc::new(segment_totals(reader, &scored)?);
                    counted.push((*key, t.clone()));
                    *slot = Some(t);
                }
            }
            let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
            let current: HashSet<&SegmentKey> = keys.iter().collect();
            cache.retain(|k, _| current.contains(k));
            cache.extend(counted);
        }
        let mut segments = Vec::with_capacity(keys.len());
        let (mut docs, mut tokens) = (0, [0; 4]);
        for (reader, t) in searcher.segment_readers().iter().zip(totals) {
            let t = t.unwrap_or_default();
            let mut segment_docs = 0;
            for study in &studies {
                if let Some(t) = t.by_study.get(&(kind, *study)) {
                    segment_docs += t.docs;
                    for (sum, n) in tokens.iter_mut().zip(&t.tokens) {
                        *sum += n;
                    }
                }
            }
            docs += segment_docs;
            segments.push(ReadableSegment {
                reader: reader.clone(),
                plan: Plan::of(reader, fields.kind, fields.study_id, kind, Some(&studies))?,
            });
        }
        Ok(Self {
            segments,
            schema: searcher.schema().clone(),
            kind,
            studies,
            fields: scored,
            docs,
            tokens,
        })
    }

    /// The statistics, if every segment's totals are cached (`None` otherwise): counting a
    /// segment's totals reads all its documents. (A search of a newer searcher may drop
    /// the entries in between; they are then counted, as for any search.)
    pub(super) fn cached(
        searcher: &Searcher,
        cache: &ReadableTotals,
        fields: &Fields,
        scope: Scope,
        study_ids: &[i64],
    ) -> tantivy::Result<Option<Self>> {
        let every_segment_counted = {
            let cache = cache.lock().unwrap_or_else(|e| e.into_inner());
            searcher
                .segment_readers()
                .iter()
                .all(|r| cache.contains_key(&SegmentKey::of(r)))
        };
        if !every_segment_counted {
            return Ok(None);
        }
        Self::new(searcher, cache, fields, scope, study_ids).map(Some)
    }

    /// At most how many postings counting `term`'s readable documents reads.
    pub(super) fn count_work(&self, term: &Term) -> tantivy::Result<u64> {
        let mut work = 0;
        for segment in &self.segments {
            let df = segment
                .reader
                .inverted_index(term.field())?
                .doc_freq(term)?;
            work += segment.plan.count_work(&segment.reader, u64::from(df));
        }
        Ok(work)
    }
}

impl Bm25StatisticsProvider for ReadableStatistics {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        if let Some(i) = self.fields.iter().position(|&f| f == field) {
            return Ok(self.tokens[i]);
        }
        // No query scores another field; should one, it is counted, uncached, all the same.
        let mut total = 0;
        for segment in &self.segments {
            let t = segment_totals(&segment.reader, &[field])?;
            for study in &self.studies {
                if let Some(t) = t.by_study.get(&(self.kind, *study)) {
                    total += t.tokens[0];
                }
            }
        }
        Ok(total)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        // At least one, as the index-wide count: an average over no documents is not wanted
        // even where nothing is scored.
        Ok(self.docs.max(1))
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        let mut n = 0;
        for segment in &self.segments {
            n += segment.plan.count(&segment.reader, &self.schema, term)?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::analyzer;
    use crate::search::schema::{self, KIND_PASSAGE, KIND_QUOTATION};
    use tantivy::{Index, TantivyDocument};

    /// Statistics over the readable documents are those of an index holding only them: other
    /// studies, the other scope and deleted documents count for nothing, across segments.
    /// Totals cached before a segment gains a deletion are counted again after it.
    #[test]
    fn readable_statistics_are_those_of_the_readable_documents_alone() {
        let (schema, f) = schema::build();
        let docs: &[(u64, u64, &str)] = &[
            (KIND_PASSAGE, 1, "rossi zzqxw"),
            (KIND_PASSAGE, 1, "la casa di rossi è grande"),
            (KIND_PASSAGE, 2, "rossi rossi rossi e ancora rossi"),
            (KIND_QUOTATION, 1, "rossi"),
            (KIND_PASSAGE, 2, "casa"),
            (KIND_PASSAGE, 1, "nessuna parola cercata"),
            (KIND_PASSAGE, 1, "rossi cancellato"),
        ];
        // With `readable`, its documents alone, but for those numbered in `gone`.
        let build = |readable: Option<&[u64]>, gone: &[usize]| {
            let index = Index::create_in_ram(schema.clone());
            analyzer::register(&index);
            let mut writer: tantivy::IndexWriter = index.writer(15_000_000).unwrap();
            // Segments stay as committed: the deletion below must land in a cached one.
            writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
            for (n, &(kind, study, text)) in docs.iter().enumerate() {
                let deleted = text.contains("cancellato");
                if readable.is_some_and(|r| {
                    kind != KIND_PASSAGE || !r.contains(&study) || deleted || gone.contains(&n)
                }) {
                    continue;
                }
                let mut doc = TantivyDocument::default();
                doc.add_u64(f.kind, kind);
                doc.add_u64(f.study_id, study);
                doc.add_u64(f.interview_id, n as u64);
                f.add_text(&mut doc, text);
                writer.add_document(doc).unwrap();
                if n % 3 == 2 {
                    writer.commit().unwrap();
                }
            }
            writer.commit().unwrap();
            if readable.is_none() {
                writer.delete_term(Term::from_field_u64(f.interview_id, docs.len() as u64 - 1));
                writer.commit().unwrap();
            }
            (index, writer)
        };
        let check = |all: &Searcher,
                     cache: &ReadableTotals,
                     studies: &[i64],
                     alone: &Searcher,
                     docs: u64| {
            let stats =
                ReadableStatistics::new(all, cache, &f, Scope::Transcripts, studies).unwrap();
            let expected: &dyn Bm25StatisticsProvider = alone;
            assert_eq!(stats.total_num_docs().unwrap(), docs);
            assert_eq!(
                stats.total_num_docs().unwrap(),
                expected.total_num_docs().unwrap()
            );
            for field in [f.text, f.text_exact, f.text_lemma] {
                assert_eq!(
                    stats.total_num_tokens(field).unwrap(),
                    expected.total_num_tokens(field).unwrap()
                );
            }
            for word in ["rossi", "casa", "zzqxw", "ancora", "assente", "grande"] {
                let term = Term::from_field_text(f.text_exact, word);
                assert_eq!(
                    stats.doc_freq(&term).unwrap(),
                    expected.doc_freq(&term).unwrap(),
                    "{word}"
                );
            }
        };
        let (all_index, mut writer) = build(None, &[]);
        let reader = all_index.reader().unwrap();
        let all = reader.searcher();
        let alone = build(Some(&[1]), &[]).0.reader().unwrap().searcher();
        assert!(all.segment_readers().len() > 1);
        let cache = ReadableTotals::default();
        check(&all, &cache, &[1], &alone, 3);
        // Counted again from the cache, the same.
        check(&all, &cache, &[1], &alone, 3);
        let segments = |s: &Searcher| {
            let mut ids: Vec<_> = s.segment_readers().iter().map(|r| r.segment_id()).collect();
            ids.sort();
            ids
        };
        assert_eq!(cache.lock().unwrap().len(), all.segment_readers().len());
        // Both studies: a segment of readable passages alone, one with a quotation besides.
        let both = build(Some(&[1, 2]), &[]).0.reader().unwrap().searcher();
        check(&all, &cache, &[1, 2], &both, 5);

        // "la casa di rossi è grande" goes from a segment whose totals are cached.
        writer.delete_term(Term::from_field_u64(f.interview_id, 1));
        writer.commit().unwrap();
        reader.reload().unwrap();
        let after = reader.searcher();
        assert_eq!(
            segments(&after),
            segments(&all),
            "the deletion made a new segment"
        );
        let alone = build(Some(&[1]), &[1]).0.reader().unwrap().searcher();
        check(&after, &cache, &[1], &alone, 2);
        let both = build(Some(&[1, 2]), &[1]).0.reader().unwrap().searcher();
        check(&after, &cache, &[1, 2], &both, 4);
        // The segment's totals before the deletion are dropped.
        assert_eq!(cache.lock().unwrap().len(), after.segment_readers().len());
    }
}
