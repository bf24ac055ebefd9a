//! The Italian analyzers. One definition, versioned: an index built with another version is
//! rebuilt at start.
//!
//! Order matters: lower-case, then stop words (the list has accents: `più`, `perché`), then
//! the stemmer (Snowball Italian knows accented vowels), then accent folding, so that `citta`
//! finds "città". Elisions (`dell’ente`, `l'ente`) split at the apostrophe in the tokenizer;
//! the elided articles are stop words. Negations stay searchable.
//!
//! The lemma analyzer (the default match) replaces each word by the lemmas the lexicon gives
//! it, all at the word's position (`lavori` → lavoro and lavorare), so that phrases still
//! work. It looks the word up before folding it: an accent can make another word ("arrivò"
//! is arrivare, "arrivo" the noun), and the lexicon gives such spellings their own lemmas;
//! any other spelling is looked up folded (`puo`, `perchè`). A word the lexicon does not
//! know becomes `~` and its light (inflectional) stem: unknown words still find each other's
//! inflections (pandemia, pandemie) but never merge with a known word, whose terms carry no
//! `~`; one with no ending to strip (an acronym, "CISS") is whole, `~ciss~`, and never meets
//! a stem (`CISSA`, `~ciss`).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RawTokenizer, RemoveLongFilter, Stemmer,
    StopWordFilter, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer,
};
use tantivy::Index;

use super::lexicon::lexicon;

/// Bump whenever an analyzer, the index schema or the cutting of transcripts into passages
/// (`passages::split`, speaker turns) changes: existing indexes rebuild.
pub const ANALYZER_VERSION: u32 = 7;

/// Stemmed, stop words removed: the broad match (STEM).
pub const STEMMED: &str = "it_stem";
/// Lower-cased and accent-folded, nothing removed: exact forms, prefixes, typos.
pub const EXACT: &str = "it_exact";
/// Lower-cased only, accents kept: the surface forms reported to analysts (`città`).
pub const SURFACE: &str = "it_surface";
/// Lemmas of known words, `~stem` of unknown ones, stop words removed: the default (LEMMA).
pub const LEMMATISED: &str = "it_lemma";

/// Marks the stem of a word the lexicon does not know (before it; after it too when the word
/// had no ending to strip).
pub const UNKNOWN_MARK: char = '~';

/// Whether a character belongs to a word: a letter or a digit, but not the modifier letters
/// some keyboards and converters type for an apostrophe ("dellʼente", U+02BC): Unicode
/// counts them as letters, and the elision then made one unknown word that neither "ente"
/// nor "dell’ente" found.
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() && !matches!(c, '\u{2BB}' | '\u{2BC}' | '\u{2BD}')
}

/// tantivy's `SimpleTokenizer` (words of letters and digits, split at anything else), with
/// `is_word_char` for its letters.
#[derive(Clone, Default)]
pub struct WordTokenizer {
    token: Token,
}

pub struct WordStream<'a> {
    text: &'a str,
    chars: std::str::CharIndices<'a>,
    token: &'a mut Token,
}

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = WordStream<'a>;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordStream<'a> {
        self.token.reset();
        WordStream {
            text,
            chars: text.char_indices(),
            token: &mut self.token,
        }
    }
}

impl TokenStream for WordStream<'_> {
    fn advance(&mut self) -> bool {
        self.token.text.clear();
        self.token.position = self.token.position.wrapping_add(1);
        while let Some((from, c)) = self.chars.next() {
            if is_word_char(c) {
                let to = self
                    .chars
                    .find(|(_, c)| !is_word_char(*c))
                    .map_or(self.text.len(), |(at, _)| at);
                self.token.offset_from = from;
                self.token.offset_to = to;
                self.token.text.push_str(&self.text[from..to]);
                return true;
            }
        }
        false
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

/// Snowball's Italian stop words without the negations ("non", "né", "senza") that
/// analysts search for, and without "stessi" and "stesse": Snowball lists them as forms of
/// stare, but in interviews they are the plurals of "stesso", which `stesso` must find.
const STOP_WORDS: &str = include_str!("stopwords_it.txt");

/// Stop words as transcribers also type them, without the accent ("perche'", "piu"): the
/// filter runs before accent folding (the stemmer wants the accents), so without these an
/// unaccented query found only the unaccented spellings and an accented one nothing. Only
/// those that are no other word: "sara" (sarà) is also a name.
const UNACCENTED_STOP_WORDS: [&str; 2] = ["perche", "piu"];

/// The stop words, with their unaccented spellings and those with the other accent
/// ("perchè", "piú", "é" for "è" written in capitals as "É"): the filter runs before accent
/// folding, and without them "perchè" was a word of the index that "perché" never found.
fn stop_word_list() -> impl Iterator<Item = &'static str> {
    static LIST: OnceLock<Vec<String>> = OnceLock::new();
    LIST.get_or_init(|| {
        let listed: Vec<&str> = STOP_WORDS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .chain(UNACCENTED_STOP_WORDS)
            .collect();
        let other_accents = listed
            .iter()
            .map(|w| w.chars().map(other_accent).collect::<String>())
            .filter(|w| !listed.contains(&w.as_str()));
        let mut all: Vec<String> = listed.iter().map(|w| (*w).to_owned()).collect();
        all.extend(other_accents);
        all
    })
    .iter()
    .map(String::as_str)
}

/// A vowel with the other accent (acute for grave, grave for acute); any other character
/// as it is.
fn other_accent(c: char) -> char {
    match c {
        'à' => 'á',
        'á' => 'à',
        'è' => 'é',
        'é' => 'è',
        'ì' => 'í',
        'í' => 'ì',
        'ò' => 'ó',
        'ó' => 'ò',
        'ù' => 'ú',
        'ú' => 'ù',
        other => other,
    }
}

/// Built once: analyzers are made per highlighted hit, and hashing the list each time was
/// the largest cost of a search's hits.
fn stop_words() -> StopWordFilter {
    static FILTER: OnceLock<StopWordFilter> = OnceLock::new();
    FILTER
        .get_or_init(|| StopWordFilter::remove(stop_word_list().map(str::to_owned)))
        .clone()
}

/// The stop words themselves (lower-cased, accents kept, as the filter compares them).
fn stop_word_set() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| stop_word_list().collect())
}

/// Whether a lower-cased spelling (accents kept) is left out of the stemmed and lemma
/// fields.
pub fn is_stop_word(spelling: &str) -> bool {
    stop_word_set().contains(spelling)
}

/// Whether some spelling of a folded form may be a stop word (`e` for "è", `perche` for
/// "perché"): only such forms need their spellings looked at to know whether the stemmed
/// and lemma fields hold them.
pub fn may_be_stop_word(folded: &str) -> bool {
    static FOLDED: OnceLock<HashSet<String>> = OnceLock::new();
    FOLDED
        .get_or_init(|| {
            let mut exact = exact();
            stop_word_set()
                .iter()
                .flat_map(|w| tokens(&mut exact, w))
                .map(|t| t.term)
                .collect()
        })
        .contains(folded)
}

pub fn stemmed() -> TextAnalyzer {
    TextAnalyzer::builder(WordTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(stop_words())
        .filter(Stemmer::new(Language::Italian))
        .filter(AsciiFoldingFilter)
        .build()
}

pub fn surface() -> TextAnalyzer {
    TextAnalyzer::builder(WordTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .build()
}

pub fn exact() -> TextAnalyzer {
    TextAnalyzer::builder(WordTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// Lower-cased, stop words removed, accents kept: a word as the lexicon is asked about it.
pub fn content() -> TextAnalyzer {
    TextAnalyzer::builder(WordTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(stop_words())
        .build()
}

/// Lower-cased, stop words removed, accent-folded.
pub fn folded_content() -> TextAnalyzer {
    TextAnalyzer::builder(WordTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(stop_words())
        .filter(AsciiFoldingFilter)
        .build()
}

/// The lemmatiser reads words with their accents and folds them itself (`lemma_terms`).
pub fn lemmatised() -> TextAnalyzer {
    TextAnalyzer::builder(WordTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(stop_words())
        .filter(Lemmatiser)
        .build()
}

/// A lower-cased word folded as the exact field folds it ("arrivò" → arrivo); a word in
/// ASCII, nearly every one, as it is.
pub fn fold(spelling: &str) -> Cow<'_, str> {
    if spelling.is_ascii() {
        return Cow::Borrowed(spelling);
    }
    // Italian's accented vowels, folded as the filter folds them, without building it.
    let vowel = |c: char| match c {
        'à' | 'á' => Some('a'),
        'è' | 'é' => Some('e'),
        'ì' | 'í' => Some('i'),
        'ò' | 'ó' => Some('o'),
        'ù' | 'ú' => Some('u'),
        c if c.is_ascii() => Some(c),
        _ => None,
    };
    if let Some(folded) = spelling.chars().map(vowel).collect::<Option<String>>() {
        return Cow::Owned(folded);
    }
    let mut folder = TextAnalyzer::builder(RawTokenizer::default())
        .filter(AsciiFoldingFilter)
        .build();
    let mut stream = folder.token_stream(spelling);
    let folded = if stream.advance() {
        stream.token().text.clone()
    } else {
        spelling.to_owned()
    };
    Cow::Owned(folded)
}

/// Registers the analyzers on an index (they are not persisted with it).
pub fn register(index: &Index) {
    index.tokenizers().register(STEMMED, stemmed());
    index.tokenizers().register(EXACT, exact());
    index.tokenizers().register(SURFACE, surface());
    index.tokenizers().register(LEMMATISED, lemmatised());
}

/// The terms a lower-cased word (accents kept) is indexed under: its lemmas, or `~stem`
/// when unknown.
pub fn lemma_terms(spelling: &str) -> Vec<String> {
    let known: Vec<String> = lexicon()
        .lemmas_of_spelling(spelling)
        .map(str::to_owned)
        .collect();
    if known.is_empty() {
        vec![unknown_term(&fold(spelling))]
    } else {
        known
    }
}

/// The single term a query word (lower-cased, accents kept) means: its query lemma, or
/// `~stem` when unknown.
pub fn query_lemma_term(spelling: &str) -> String {
    match lexicon().lemmas_of_spelling(spelling).next() {
        Some(lemma) => lemma.to_owned(),
        None => unknown_term(&fold(spelling)),
    }
}

/// The term of a folded word the lexicon does not know: `~` and its light stem, or `~`
/// on both sides of the whole word when it had no ending to strip.
pub fn unknown_term(folded: &str) -> String {
    match unknown_stem(folded) {
        (stem, false) => format!("{UNKNOWN_MARK}{stem}"),
        (whole, true) => format!("{UNKNOWN_MARK}{whole}{UNKNOWN_MARK}"),
    }
}

/// A folded unknown word's light stem, and whether it is the whole word. An acronym or a
/// word cut short ("ciss", "cio") has no inflection: were it its own stem, it would meet
/// every longer word whose stem it is ("cissa", "cioe").
pub fn unknown_stem(folded: &str) -> (&str, bool) {
    let stem = light_stem(folded);
    (stem, stem.len() == folded.len())
}

/// An inflectional ("light") stemmer for words the lexicon does not know: it strips number
/// and gender endings only (pandemia, pandemie → pandemi; servizio, servizi → serviz;
/// amiche, amico → amic), never derivational suffixes, so that `pandemico` stays apart from
/// `pandemia` as Snowball would not keep it. Short words are left whole.
pub fn light_stem(folded: &str) -> &str {
    if folded.chars().count() < 4 || !folded.is_ascii() {
        return folded;
    }
    for (ending, keep) in [("chi", 1), ("che", 1), ("ghi", 1), ("ghe", 1), ("io", 0)] {
        if let Some(stem) = folded.strip_suffix(ending) {
            return &folded[..stem.len() + keep];
        }
    }
    folded.strip_suffix(['a', 'e', 'i', 'o']).unwrap_or(folded)
}

/// Token filter: a folded word becomes its lemma terms, stacked at its position.
#[derive(Clone)]
struct Lemmatiser;

/// Words repeat (Zipf): most lookups are answered from here rather than the fst.
const CACHE_LIMIT: usize = 50_000;

impl TokenFilter for Lemmatiser {
    type Tokenizer<T: Tokenizer> = LemmatiserFilter<T>;

    fn transform<T: Tokenizer>(self, inner: T) -> LemmatiserFilter<T> {
        LemmatiserFilter {
            inner,
            cache: HashMap::new(),
        }
    }
}

#[derive(Clone)]
pub struct LemmatiserFilter<T> {
    inner: T,
    cache: HashMap<String, Vec<String>>,
}

impl<T: Tokenizer> Tokenizer for LemmatiserFilter<T> {
    type TokenStream<'a> = LemmatiserStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        if self.cache.len() > CACHE_LIMIT {
            self.cache.clear();
        }
        LemmatiserStream {
            tail: self.inner.token_stream(text),
            cache: &mut self.cache,
            stack: Vec::new(),
        }
    }
}

pub struct LemmatiserStream<'a, T> {
    tail: T,
    cache: &'a mut HashMap<String, Vec<String>>,
    /// The current word's remaining lemma tokens, the one being read last.
    stack: Vec<Token>,
}

impl<T: TokenStream> TokenStream for LemmatiserStream<'_, T> {
    fn advance(&mut self) -> bool {
        self.stack.pop();
        if !self.stack.is_empty() {
            return true;
        }
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token();
        let terms = self
            .cache
            .entry(token.text.clone())
            .or_insert_with(|| lemma_terms(&token.text));
        self.stack.extend(terms.iter().rev().map(|t| Token {
            text: t.clone(),
            ..token.clone()
        }));
        true
    }

    fn token(&self) -> &Token {
        self.stack.last().unwrap_or_else(|| self.tail.token())
    }

    fn token_mut(&mut self) -> &mut Token {
        match self.stack.last_mut() {
            Some(t) => t,
            None => self.tail.token_mut(),
        }
    }
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
    tokens_where(analyzer, text, |_| true)
}

/// The tokens of `text` whose term `keep` accepts; the others are read but not kept.
pub fn tokens_where(
    analyzer: &mut TextAnalyzer,
    text: &str,
    keep: impl Fn(&str) -> bool,
) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        let t = stream.token();
        if keep(&t.text) {
            out.push(Tok {
                term: t.text.clone(),
                position: t.position,
                from: t.offset_from,
                to: t.offset_to,
            });
        }
    }
    out
}

/// The tokens `lemmatised()` makes of `text` whose term is in `wanted`, in the same order.
///
/// Highlighting looks for a query's few lemmas in every hit: looking each word up in the
/// lexicon and comparing, without building a token for every lemma of every word, took
/// highlighting from 14% to 8% of the server's time in a one-case search.
pub fn lemma_tokens_among(text: &str, wanted: &HashSet<&str>) -> Vec<Tok> {
    // (stem, whole word), as `unknown_stem` gives them.
    let unknown_stems: Vec<(&str, bool)> = wanted
        .iter()
        .filter_map(|t| t.strip_prefix(UNKNOWN_MARK))
        .map(|t| match t.strip_suffix(UNKNOWN_MARK) {
            Some(whole) => (whole, true),
            None => (t, false),
        })
        .collect();
    let mut out = Vec::new();
    let mut analyzer = content();
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        let t = stream.token();
        let tok = |term: &str| Tok {
            term: term.to_owned(),
            position: t.position,
            from: t.offset_from,
            to: t.offset_to,
        };
        let mut known = false;
        for lemma in lexicon().lemmas_of_spelling(&t.text) {
            known = true;
            if wanted.contains(lemma) {
                out.push(tok(lemma));
            }
        }
        if !known && !unknown_stems.is_empty() {
            let folded = fold(&t.text);
            if unknown_stems.contains(&unknown_stem(&folded)) {
                out.push(tok(&unknown_term(&folded)));
            }
        }
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
        // With the other accent, as transcribers also type them, and in capitals.
        for spelling in ["perchè", "piú", "É", "é", "sará"] {
            assert!(terms(&mut a, spelling).is_empty(), "{spelling}");
        }
        // An elision typed with U+02BC splits as one typed with an apostrophe does.
        assert_eq!(terms(&mut a, "dell\u{2BC}ente"), terms(&mut a, "ente"));
        assert_eq!(terms(&mut exact(), "lʼente"), ["l", "ente"]);
        // Only the stop words' other spellings: "né", a negation, is not one, nor is "nè".
        assert_eq!(terms(&mut a, "nè"), terms(&mut a, "né"));
        assert!(!terms(&mut a, "nè").is_empty());
        let mut e = exact();
        assert_eq!(terms(&mut e, "Città dell’Ente"), ["citta", "dell", "ente"]);
    }

    #[test]
    fn lemmas_stack_at_the_word_position() {
        let mut l = lemmatised();
        let t = tokens(&mut l, "I lavori nelle case");
        let at = |p: usize| -> Vec<&str> {
            t.iter()
                .filter(|t| t.position == p)
                .map(|t| t.term.as_str())
                .collect()
        };
        assert_eq!(at(1), ["lavoro", "lavorare"]);
        assert_eq!(at(3), ["casa"]);
        assert_eq!(&"I lavori nelle case"[t[0].from..t[0].to], "lavori");
        // Unknown words: marked stems, so pandemia and pandemie meet, città and citta too,
        // but comunità never meets the known word comune.
        assert_eq!(terms(&mut l, "pandemie"), terms(&mut l, "pandemia"));
        assert_ne!(terms(&mut l, "pandemico"), terms(&mut l, "pandemia"));
        assert_eq!(terms(&mut l, "pandemici"), terms(&mut l, "pandemico"));
        assert_eq!(terms(&mut l, "città"), terms(&mut l, "citta"));
        assert_ne!(terms(&mut l, "comunità"), terms(&mut l, "comune"));
        assert_eq!(terms(&mut l, "comuni"), ["comune"]);
        assert_eq!(terms(&mut l, "dell’ente"), ["ente"]);
        assert!(terms(&mut l, "più di quello che").is_empty());
        // Not stop words: the plurals of "stesso" in interviews, not forms of stare.
        for plural in ["stessi", "stesse"] {
            assert!(
                terms(&mut l, plural).contains(&"stesso".to_owned()),
                "{plural}"
            );
        }
    }

    /// Looking for a few lemmas finds exactly the tokens the full lemma analysis would
    /// make for them: known words with several lemmas, unknown words, elisions, accents.
    #[test]
    fn lemma_tokens_among_agree_with_the_full_analysis() {
        let text = "Nelle case dell’ente i lavori per la comunità sono ripresi dopo la pandemia; \
                    le pandemie passate e l'ente pubblico: casa per casa, città per città, \
                    lavorare insieme è più facile. Il caso dei casi pandemici.";
        let all = tokens(&mut lemmatised(), text);
        let terms: Vec<&str> = all.iter().map(|t| t.term.as_str()).collect();
        assert!(
            terms.iter().any(|t| t.starts_with(UNKNOWN_MARK)),
            "{terms:?}"
        );
        let key = |t: &Tok| (t.position, t.from, t.to, t.term.clone());
        let sets: Vec<Vec<&str>> = vec![
            vec!["casa"],
            vec!["lavoro", "lavorare"],
            vec![terms[0]],
            terms
                .iter()
                .copied()
                .filter(|t| t.starts_with(UNKNOWN_MARK))
                .collect(),
            terms.clone(),
            vec!["assente", "~nessun"],
        ];
        for wanted in sets {
            let wanted: HashSet<&str> = wanted.into_iter().collect();
            let mut expected: Vec<_> = all
                .iter()
                .filter(|t| wanted.contains(t.term.as_str()))
                .map(key)
                .collect();
            let mut found: Vec<_> = lemma_tokens_among(text, &wanted).iter().map(key).collect();
            expected.sort();
            found.sort();
            assert_eq!(found, expected, "{wanted:?}");
        }
    }

    /// An unknown word with no ending to strip stays whole: acronyms of different bodies
    /// ("CISS", "CISSA") and short words ("ciò" beside "cioè", were they unknown) no longer
    /// meet, while an unknown word's inflections still do.
    #[test]
    fn unknown_words_without_an_ending_stay_whole() {
        let mut l = lemmatised();
        assert_eq!(terms(&mut l, "CISS"), ["~ciss~"]);
        assert_eq!(terms(&mut l, "CISSA"), ["~ciss"]);
        assert_eq!(terms(&mut l, "cisse"), terms(&mut l, "CISSA"));
        assert_ne!(unknown_term("cio"), unknown_term("cioe"));
        assert_ne!(terms(&mut l, "ciò"), terms(&mut l, "cioè"));
        // Highlighting finds the same tokens.
        let text = "Il CISS e il CISSA, le cisse.";
        for wanted in [["~ciss~"], ["~ciss"]] {
            let wanted: HashSet<&str> = wanted.into_iter().collect();
            let expected: Vec<Tok> = tokens(&mut lemmatised(), text)
                .into_iter()
                .filter(|t| wanted.contains(t.term.as_str()))
                .collect();
            assert!(!expected.is_empty());
            assert_eq!(lemma_tokens_among(text, &wanted), expected);
        }
    }

    /// The lemma analyzer looks a word up with its accents: "arrivò" is a form of arrivare,
    /// "arrivo" the noun; accented forms the lexicon used to lose are found ("può",
    /// "resterà"), with or without their accent.
    #[test]
    fn accented_forms_are_looked_up_with_their_accents() {
        let mut l = lemmatised();
        assert_eq!(terms(&mut l, "arrivò"), ["arrivare"]);
        assert_eq!(terms(&mut l, "arrivo"), ["arrivo"]);
        assert_eq!(terms(&mut l, "cambiò"), ["cambiare"]);
        assert_eq!(terms(&mut l, "può"), ["potere"]);
        assert_eq!(terms(&mut l, "puo"), ["potere"]);
        assert!(terms(&mut l, "resterà").contains(&"restare".to_owned()));
        for w in ["città", "perché", "ragù", "così", "però", "naïve", "œuvre"] {
            assert_eq!(fold(w), tokens(&mut exact(), w)[0].term, "{w}");
        }
        assert_eq!(query_lemma_term("arrivò"), "arrivare");
        assert_eq!(query_lemma_term("arrivo"), "arrivo");
        let text = "Arrivò tardi: l'arrivo del treno, e può darsi che resterà.";
        let wanted: HashSet<&str> = ["arrivare", "arrivo", "potere"].into_iter().collect();
        let found: Vec<(String, &str)> = lemma_tokens_among(text, &wanted)
            .into_iter()
            .map(|t| (t.term, &text[t.from..t.to]))
            .collect();
        assert_eq!(
            found,
            [
                ("arrivare".to_owned(), "Arrivò"),
                ("arrivo".to_owned(), "arrivo"),
                ("potere".to_owned(), "può")
            ]
        );
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
