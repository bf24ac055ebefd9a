//! The Italian analyzers. One definition, versioned: an index built with another version is
//! rebuilt at start.
//!
//! Order matters: lower-case, then stop words (the list has accents: `più`, `perché`), then
//! the stemmer (Snowball Italian knows accented vowels), then accent folding, so that `citta`
//! finds "città". Elisions (`dell’ente`, `l'ente`) split at the apostrophe in the tokenizer;
//! the elided articles are stop words. Negations stay searchable.

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer, TokenStream,
};
use tantivy::Index;

/// Bump whenever an analyzer or the index schema changes: existing indexes rebuild.
pub const ANALYZER_VERSION: u32 = 1;

/// Stemmed, stop words removed: the broad match (STEM).
pub const STEMMED: &str = "it_stem";
/// Lower-cased and accent-folded, nothing removed: exact forms, prefixes, typos.
pub const EXACT: &str = "it_exact";

/// Snowball's Italian stop words without the negations ("non", "né", "senza") that
/// analysts search for.
const STOP_WORDS: &str = include_str!("stopwords_it.txt");

fn stop_words() -> StopWordFilter {
    StopWordFilter::remove(
        STOP_WORDS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned),
    )
}

pub fn stemmed() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(stop_words())
        .filter(Stemmer::new(Language::Italian))
        .filter(AsciiFoldingFilter)
        .build()
}

pub fn exact() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// Registers the analyzers on an index (they are not persisted with it).
pub fn register(index: &Index) {
    index.tokenizers().register(STEMMED, stemmed());
    index.tokenizers().register(EXACT, exact());
}

/// A token: its term, its position, and its byte span in the analysed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tok {
    pub term: String,
    pub position: usize,
    pub from: usize,
    pub to: usize,
}

pub fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        let t = stream.token();
        out.push(Tok {
            term: t.text.clone(),
            position: t.position,
            from: t.offset_from,
            to: t.offset_to,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(a: &mut TextAnalyzer, s: &str) -> Vec<String> {
        tokens(a, s).into_iter().map(|t| t.term).collect()
    }

    #[test]
    fn elisions_accents_stems_and_negations() {
        let mut a = stemmed();
        assert_eq!(terms(&mut a, "dell’ente"), terms(&mut a, "ente"));
        assert_eq!(terms(&mut a, "l'ente"), terms(&mut a, "ente"));
        assert_eq!(terms(&mut a, "città"), terms(&mut a, "citta"));
        assert_eq!(terms(&mut a, "pandemie"), terms(&mut a, "pandemia"));
        assert_eq!(terms(&mut a, "progetti"), terms(&mut a, "progetto"));
        assert_eq!(terms(&mut a, "Non lo so"), ["non", "so"]);
        assert!(
            terms(&mut a, "più di quello che").is_empty(),
            "stop words, accents included"
        );
        let mut e = exact();
        assert_eq!(terms(&mut e, "Città dell’Ente"), ["citta", "dell", "ente"]);
    }

    #[test]
    fn token_offsets_are_bytes_in_the_text() {
        let mut a = stemmed();
        let text = "La città è più unita";
        let t = tokens(&mut a, text);
        let citta = t.iter().find(|t| t.term == "citt").unwrap();
        assert_eq!(&text[citta.from..citta.to], "città");
        assert_eq!(citta.position, 1);
    }
}
