//! Surface forms: which words of the transcripts a query term stands for. They are what an
//! analyst sees in `matchedForms` and what `excludeForms` takes away, so they come from the
//! index itself (the exact field's dictionary), not from the lexicon alone.

use std::collections::BTreeSet;

use tantivy::schema::{Field, Term};
use tantivy::Searcher;

use super::analyzer::{self, UNKNOWN_MARK};
use super::lexicon::lexicon;
use super::query::Side;

/// Most dictionary terms one stem scan reads.
const MAX_SCAN: usize = 2000;

/// The folded surface forms present in the index that `term` (analysed on `side`) matches.
pub fn forms_of_term(
    searcher: &Searcher,
    exact: Field,
    side: Side,
    term: &str,
) -> tantivy::Result<Vec<String>> {
    match side {
        Side::Exact => present(searcher, exact, [term.to_owned()]),
        Side::Lemma => match term.strip_prefix(UNKNOWN_MARK) {
            Some(stem) => scan(searcher, exact, stem, |form| {
                !lexicon().knows(form) && analyzer::unknown_term(form) == term
            }),
            None => present(searcher, exact, lexicon().forms_of(term).iter().cloned()),
        },
        Side::Stemmed => {
            let mut stemmer = analyzer::stemmed();
            scan(
                searcher,
                exact,
                term,
                |form| matches!(analyzer::tokens(&mut stemmer, form).as_slice(), [t] if t.term == term),
            )
        }
    }
}

/// The spellings (lower-cased, accents kept) in `surface` of a folded form: `citta` is
/// written "città" or "citta". Italian accents sit on the last vowel, so the spellings share
/// the folded form's prefix but its last letter.
pub fn spellings(
    searcher: &Searcher,
    surface: Field,
    folded: &str,
) -> tantivy::Result<Vec<String>> {
    let prefix: String = {
        let mut chars: Vec<char> = folded.chars().collect();
        chars.pop();
        chars.into_iter().collect()
    };
    let mut exact = analyzer::exact();
    scan(
        searcher,
        surface,
        &prefix,
        |s| matches!(analyzer::tokens(&mut exact, s).as_slice(), [t] if t.term == folded),
    )
}

fn present(
    searcher: &Searcher,
    field: Field,
    forms: impl IntoIterator<Item = String>,
) -> tantivy::Result<Vec<String>> {
    let mut out = Vec::new();
    for form in forms {
        if searcher.doc_freq(&Term::from_field_text(field, &form))? > 0 {
            out.push(form);
        }
    }
    Ok(out)
}

/// Dictionary terms starting with `prefix` that `keep` accepts. A stem is a prefix of the
/// (folded) words it comes from, so the scan finds them all.
fn scan(
    searcher: &Searcher,
    field: Field,
    prefix: &str,
    mut keep: impl FnMut(&str) -> bool,
) -> tantivy::Result<Vec<String>> {
    let mut out = BTreeSet::new();
    for segment in searcher.segment_readers() {
        let inverted = segment.inverted_index(field)?;
        let mut stream = inverted
            .terms()
            .range()
            .ge(prefix.as_bytes())
            .into_stream()?;
        let mut read = 0;
        while stream.advance() && read < MAX_SCAN {
            read += 1;
            let key = stream.key();
            if !key.starts_with(prefix.as_bytes()) {
                break;
            }
            let form = String::from_utf8_lossy(key);
            if !out.contains(form.as_ref()) && keep(&form) {
                out.insert(form.into_owned());
            }
        }
    }
    Ok(out.into_iter().collect())
}
