//! What an erased interview leaves in the index until it is purged.
//!
//! Deleting documents in tantivy only marks them: their text, stored and in the term
//! dictionaries, stays in their segment until that segment is merged, which the merge policy
//! may put off indefinitely for a large one. An interviewee who withdraws consent expects
//! the transcript gone, so after an erasure the writer merges the segments that still hold
//! it (`Indexer::purge`), and asks again on later polls until none does.

use tantivy::index::SegmentId;
use tantivy::schema::{IndexRecordOption, Term};
use tantivy::{DocSet, Searcher, SegmentReader, TERMINATED};

use super::schema::Fields;

/// The segments holding a deleted document of one of these interviews (a passage, or a
/// quotation of it): those that a merge would rewrite without it. Live documents under the
/// same id are not copies of what was erased, and do not count.
pub fn segments_holding(
    searcher: &Searcher,
    f: &Fields,
    interviews: &[i64],
) -> tantivy::Result<Vec<SegmentId>> {
    let mut holding = Vec::new();
    for segment in searcher.segment_readers() {
        if segment.num_deleted_docs() == 0 {
            continue;
        }
        for &id in interviews {
            let id = id as u64;
            if holds_deleted(segment, &Term::from_field_u64(f.passage_of, id))?
                || holds_deleted(segment, &Term::from_field_u64(f.quotation_interview, id))?
            {
                holding.push(segment.segment_id());
                break;
            }
        }
    }
    Ok(holding)
}

fn holds_deleted(segment: &SegmentReader, term: &Term) -> tantivy::Result<bool> {
    let Some(alive) = segment.alive_bitset() else {
        return Ok(false);
    };
    let Some(mut postings) = segment
        .inverted_index(term.field())?
        .read_postings(term, IndexRecordOption::Basic)?
    else {
        return Ok(false);
    };
    // Postings list deleted documents too: those are the ones looked for.
    let mut doc = postings.doc();
    while doc != TERMINATED {
        if !alive.is_alive(doc) {
            return Ok(true);
        }
        doc = postings.advance();
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use tantivy::{Index, IndexWriter, TantivyDocument};

    use super::*;
    use crate::search::{analyzer, schema};

    #[test]
    fn a_segment_is_named_while_it_holds_an_erased_interview_s_deleted_documents() {
        let (schema, f) = schema::build();
        let index = Index::create_in_ram(schema);
        analyzer::register(&index);
        let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
        let passage = |interview: u64| {
            let mut doc = TantivyDocument::default();
            doc.add_u64(f.passage_of, interview);
            doc
        };
        let quotation = |interview: u64| {
            let mut doc = TantivyDocument::default();
            doc.add_u64(f.quotation_interview, interview);
            doc
        };
        for d in [passage(1), passage(1), quotation(1), passage(2)] {
            writer.add_document(d).unwrap();
        }
        writer.commit().unwrap();
        let reader = index.reader().unwrap();
        let holding = |ids: &[i64]| {
            reader.reload().unwrap();
            segments_holding(&reader.searcher(), &f, ids).unwrap()
        };
        // Nothing deleted yet.
        assert!(holding(&[1, 2]).is_empty());
        let first = reader.searcher().segment_readers()[0].segment_id();

        // Interview 1's quotation alone goes: its segment holds it.
        writer.delete_term(Term::from_field_u64(f.quotation_interview, 1));
        writer.commit().unwrap();
        assert_eq!(holding(&[1]), vec![first]);
        // Interview 2's passage is alive there: nothing of it to purge.
        assert!(holding(&[2]).is_empty());

        // Then its passages; a live document under the same id, in a segment of its own,
        // is not a copy to purge.
        writer.delete_term(Term::from_field_u64(f.passage_of, 1));
        writer.add_document(passage(1)).unwrap();
        writer.commit().unwrap();
        assert_eq!(holding(&[1, 2]), vec![first]);

        writer.merge(&[first]).wait().unwrap();
        assert!(holding(&[1, 2]).is_empty());
        assert_eq!(reader.searcher().num_docs(), 2);
    }
}
