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
    let mut forms = match side {
        Side::Exact => return present(searcher, exact, [term.to_owned()]),
        Side::Lemma => match term.strip_prefix(UNKNOWN_MARK) {
            // A whole word (`~ciss~`) is its own prefix.
            Some(stem) => scan(
                searcher,
                exact,
                scan_prefix(stem.trim_end_matches(UNKNOWN_MARK)),
                |form| !lexicon().knows(form) && analyzer::unknown_term(form) == term,
            ),
            // A lemma's accented spellings with a key of their own ("arrivò", of arrivare)
            // are no terms of the exact field, which folds them: their folded form stands
            // for them. It may be another word's too ("arrivo", the noun), which a rewrite
            // onto the exact field then also finds: better than losing the verb's passages.
            None => {
                let folded: BTreeSet<String> = lexicon()
                    .forms_of(term)
                    .iter()
                    .map(|f| analyzer::fold(f).into_owned())
                    .collect();
                present(searcher, exact, folded)
            }
        },
        Side::Stemmed => {
            let mut stemmer = analyzer::stemmed();
            scan(
                searcher,
                exact,
                scan_prefix(term),
                |form| matches!(analyzer::tokens(&mut stemmer, form).as_slice(), [t] if t.term == term),
            )
        }
    }?;
    // The exact field keeps stop words, the stemmed and lemma fields do not: `e` is in the
    // exact field (from "e" and "è") and a form of essere in the lexicon, yet the lemma field
    // never holds it. Listed, it would be counted as a match and, with a form left out,
    // rewritten into the exact field, where it matches every "e".
    if forms.iter().any(|f| analyzer::may_be_stop_word(f)) {
        let surface = surface_field(searcher)?;
        let mut kept = Vec::with_capacity(forms.len());
        for form in forms {
            if !analyzer::may_be_stop_word(&form)
                || !spellings_on(searcher, surface, side, &form)?.is_empty()
            {
                kept.push(form);
            }
        }
        forms = kept;
    }
    Ok(forms)
}

/// The surface field, found by name: the compiler knows only the fields it searches.
pub fn surface_field(searcher: &Searcher) -> tantivy::Result<Field> {
    searcher.schema().get_field("text_surface")
}

/// The spellings of a folded form that the field of `side` holds: the stemmed and lemma
/// fields leave stop words out, so "da" is no form of dare there, though "dà" is.
pub fn spellings_on(
    searcher: &Searcher,
    surface: Field,
    side: Side,
    folded: &str,
) -> tantivy::Result<Vec<String>> {
    let mut all = spellings(searcher, surface, folded)?;
    if side != Side::Exact && analyzer::may_be_stop_word(folded) {
        all.retain(|s| !analyzer::is_stop_word(s));
    }
    Ok(all)
}

/// The spellings (lower-cased, accents kept) in `surface` of a folded form: `citta` is
/// written "città" or "citta", `e` "e" or "è".
///
/// The form itself is looked up. Any other spelling has a letter beyond ASCII; up to its
/// first such letter it is the folded form, and in the dictionary (sorted by UTF-8 bytes)
/// the words going on from a prefix with a letter beyond ASCII come after all those going
/// on with an ASCII one. So for each prefix of the form, the walk seeks straight to them,
/// reads the words under each such letter that folds to the form's next letters and seeks
/// past the others: a few seeks per letter of the form, whatever the size of the
/// dictionary (a scan from the form's beginning stopped after 2,000 terms and never reached
/// "sì" or "è").
pub fn spellings(
    searcher: &Searcher,
    surface: Field,
    folded: &str,
) -> tantivy::Result<Vec<String>> {
    let mut exact = analyzer::exact();
    let mut fold = |s: &str| match analyzer::tokens(&mut exact, s).as_slice() {
        [t] => Some(t.term.clone()),
        _ => None,
    };
    let mut out = BTreeSet::new();
    let ascii = folded.bytes().take_while(u8::is_ascii).count();
    for segment in searcher.segment_readers() {
        let inverted = segment.inverted_index(surface)?;
        let terms = inverted.terms();
        if terms.term_ord(folded)?.is_some() {
            out.insert(folded.to_owned());
        }
        for i in 0..=ascii {
            let prefix = &folded.as_bytes()[..i];
            let mut from = [prefix, &[0x80]].concat();
            loop {
                let mut stream = terms.range().ge(&from).into_stream()?;
                if !stream.advance() || !stream.key().starts_with(prefix) {
                    break;
                }
                let Some(letter) = std::str::from_utf8(&stream.key()[i..])
                    .ok()
                    .and_then(|rest| rest.chars().next())
                else {
                    break;
                };
                let head = stream.key()[..i + letter.len_utf8()].to_vec();
                let letter_fits = fold(letter.encode_utf8(&mut [0; 4]))
                    .is_some_and(|l| folded[i..].starts_with(&l));
                while letter_fits && stream.key().starts_with(&head) {
                    if let Ok(word) = std::str::from_utf8(stream.key()) {
                        if !out.contains(word) && fold(word).as_deref() == Some(folded) {
                            out.insert(word.to_owned());
                        }
                    }
                    if !stream.advance() {
                        break;
                    }
                }
                match successor(&head) {
                    Some(next) => from = next,
                    None => break,
                }
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// The first key after every key beginning with `prefix`, if there is one.
pub(super) fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut next = prefix.to_vec();
    while let Some(last) = next.pop() {
        if last < u8::MAX {
            next.push(last + 1);
            return Some(next);
        }
    }
    None
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

/// What the words a stem comes from begin with. Mostly the stem itself; but Snowball's
/// Italian stemmer rewrites -enza and -enze as -ente before it cuts the vowel, so the stem
/// `emergent` also comes from "emergenza", which does not begin with it.
fn scan_prefix(stem: &str) -> &str {
    stem.strip_suffix("ent")
        .map_or(stem, |_| &stem[..stem.len() - 1])
}

/// Dictionary terms starting with `prefix` that `keep` accepts. The words a stem comes from
/// all begin with its `scan_prefix`, so the scan finds them all.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::schema;
    use tantivy::{Index, TantivyDocument};

    /// Short forms whose spellings carry an accent ("sì", "è") are found however many words
    /// sort between the form and them: a scan from the form's beginning read 2,000 terms
    /// and stopped, before "sì" (after every "s…" word spelt in ASCII) and "è" (after every
    /// word beginning with an ASCII letter).
    #[test]
    fn accented_spellings_are_found_past_any_number_of_words() {
        let (schema, f) = schema::build();
        let index = Index::create_in_ram(schema);
        analyzer::register(&index);
        let mut writer: tantivy::IndexWriter = index.writer(15_000_000).unwrap();
        let filler: Vec<String> = (0..2_500).map(|n| format!("s{n} e{n}")).collect();
        for text in [
            filler.join(" "),
            "Sì, È così: si vede e si sente. La città, la citta, perché però.".to_owned(),
            "Ragù e caffè; l’ente è là, oltre la città.".to_owned(),
        ] {
            let mut doc = TantivyDocument::default();
            f.add_text(&mut doc, &text);
            writer.add_document(doc).unwrap();
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        for (folded, want) in [
            ("si", &["si", "sì"][..]),
            ("e", &["e", "è"]),
            ("citta", &["citta", "città"]),
            ("perche", &["perché"]),
            ("cosi", &["così"]),
            ("ragu", &["ragù"]),
            ("la", &["la", "là"]),
            ("ente", &["ente"]),
            ("assente", &[]),
        ] {
            assert_eq!(
                spellings(&searcher, f.text_surface, folded).unwrap(),
                want,
                "{folded}"
            );
        }
    }
}
