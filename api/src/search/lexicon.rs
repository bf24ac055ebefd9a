//! The Italian lemma lexicon: which dictionary words (lemmas) a surface form belongs to.
//!
//! Built from Morph-it! (via PyPI's `spacy-lookups-data`; see NOTICE and `lexicon/build.sh`)
//! into an `fst` map compiled into the binary, so that it costs nothing to load. Keys are
//! forms folded as the index folds them (lower case, no accents), and the accented spellings
//! whose lemmas are not their folded form's ("arrivò": arrivare; "arrivo" is the noun); a
//! value packs up to [`MAX_LEMMAS`] lemma ids, the first being what a query for that form
//! means: the form itself when it is a lemma (`lavoro` means the noun, not also `lavorare`),
//! otherwise the lemma of its likeliest part of speech.

use std::collections::HashMap;
use std::sync::OnceLock;

use fst::Streamer;

use super::analyzer;

/// Lemmas kept per form (a form rarely belongs to more: `lavori` → lavoro, lavorare).
pub const MAX_LEMMAS: usize = 3;
const ID_BITS: u32 = 21;
const ID_MASK: u64 = (1 << ID_BITS) - 1;

/// Packs lemma ids (at most [`MAX_LEMMAS`], each below 2^21) into a map value; 0 marks an
/// empty slot, so ids are stored plus one.
pub fn pack(ids: &[u64]) -> u64 {
    ids.iter()
        .take(MAX_LEMMAS)
        .enumerate()
        .fold(0, |acc, (slot, id)| {
            assert!(*id < ID_MASK, "lemma id {id} does not fit");
            acc | ((id + 1) << (slot as u32 * ID_BITS))
        })
}

fn unpack(value: u64) -> impl Iterator<Item = usize> {
    (0..MAX_LEMMAS as u32)
        .map(move |slot| (value >> (slot * ID_BITS)) & ID_MASK)
        .take_while(|id| *id != 0)
        .map(|id| id as usize - 1)
}

static FORMS: &[u8] = include_bytes!("lexicon/it_forms.fst");
static LEMMAS: &str = include_str!("lexicon/it_lemmas.txt");

pub struct Lexicon {
    forms: fst::Map<&'static [u8]>,
    lemmas: Vec<&'static str>,
    /// lemma → its forms, built on first use (only the matched-forms report needs it).
    forms_of: OnceLock<HashMap<&'static str, Vec<String>>>,
}

/// The lexicon, opened once per process.
pub fn lexicon() -> &'static Lexicon {
    static LEXICON: OnceLock<Lexicon> = OnceLock::new();
    LEXICON.get_or_init(|| Lexicon {
        forms: fst::Map::new(FORMS).expect("the committed lexicon is a valid fst"),
        lemmas: LEMMAS.lines().collect(),
        forms_of: OnceLock::new(),
    })
}

impl Lexicon {
    /// Every lemma of one key of the map, the query meaning first; empty if unknown. Tests
    /// only: a word's lemmas are `lemmas_of_spelling`'s, since a folded key ("arrivo") is
    /// not what its accented spelling ("arrivò") means.
    #[cfg(test)]
    pub fn lemmas(&self, form: &str) -> impl Iterator<Item = &'static str> + '_ {
        self.forms
            .get(form)
            .into_iter()
            .flat_map(unpack)
            .map(|id| self.lemmas[id])
    }

    /// Every lemma of a lower-cased spelling (accents kept): its own, if the lexicon gives an
    /// accented spelling any, else its folded form's. A word in ASCII is its folded form.
    pub fn lemmas_of_spelling(&self, spelling: &str) -> impl Iterator<Item = &'static str> + '_ {
        let value = match self.forms.get(spelling) {
            Some(value) => Some(value),
            None if !spelling.is_ascii() => self.forms.get(analyzer::fold(spelling).as_ref()),
            None => None,
        };
        value.into_iter().flat_map(unpack).map(|id| self.lemmas[id])
    }

    /// What a query for this key means: one lemma, or `None` for an unknown word (tests
    /// only, as `lemmas`).
    #[cfg(test)]
    pub fn query_lemma(&self, form: &str) -> Option<&'static str> {
        self.lemmas(form).next()
    }

    pub fn knows(&self, form: &str) -> bool {
        self.forms.contains_key(form)
    }

    /// Every form that belongs to a lemma (the lemma itself included when it is a form).
    pub fn forms_of(&self, lemma: &str) -> &[String] {
        let map = self.forms_of.get_or_init(|| {
            let mut map: HashMap<&'static str, Vec<String>> = HashMap::new();
            let mut stream = self.forms.stream();
            while let Some((form, value)) = stream.next() {
                let form = String::from_utf8_lossy(form).into_owned();
                for id in unpack(value) {
                    map.entry(self.lemmas[id]).or_default().push(form.clone());
                }
            }
            map
        });
        map.get(lemma).map(Vec::as_slice).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lemmas(form: &str) -> Vec<&'static str> {
        lexicon().lemmas(form).collect()
    }

    #[test]
    fn packing_round_trips() {
        for ids in [vec![], vec![0], vec![5, 0, 2_000_000], vec![7, 8]] {
            assert_eq!(
                unpack(pack(&ids)).map(|i| i as u64).collect::<Vec<_>>(),
                ids
            );
        }
    }

    #[test]
    fn forms_know_their_lemmas() {
        assert_eq!(lexicon().query_lemma("case"), Some("casa"));
        assert_eq!(lexicon().query_lemma("casi"), Some("caso"));
        assert_eq!(lexicon().query_lemma("anziane"), Some("anziana"));
        assert!(lemmas("anziane").contains(&"anziano"));
        // A noun in its dictionary form is the noun, not also a verb form; its plural is both.
        assert_eq!(lemmas("lavoro"), ["lavoro"]);
        assert_eq!(lemmas("lavori"), ["lavoro", "lavorare"]);
        assert_eq!(lemmas("abitante"), ["abitante"]);
        assert_eq!(lexicon().query_lemma("politiche"), Some("politica"));
        // A spelling without its own key is its folded form.
        let of = |s: &str| lexicon().lemmas_of_spelling(s).collect::<Vec<_>>();
        assert_eq!(of("città"), of("citta"));
        assert_eq!(of("perchè"), of("perché"));
        // Suppletive comparatives were dropped.
        assert!(!lemmas("minori").contains(&"piccolo"));
        // Missing words are unknown, and fall back to the stemmer.
        assert!(!lexicon().knows("pandemie"));
    }

    /// The tables hold every word beyond ASCII as mojibake ("puÃ²"): read back, forms in
    /// an accented vowel belong to their verb, and no lemma is made of the mojibake.
    #[test]
    fn accented_forms_belong_to_their_lemmas() {
        let of = |s: &str| lexicon().lemmas_of_spelling(s).collect::<Vec<_>>();
        assert_eq!(of("può"), ["potere"]);
        assert_eq!(lemmas("puo"), ["potere"]);
        for (form, lemma) in [
            ("resterà", "restare"),
            ("vedrà", "vedere"),
            ("verrà", "venire"),
            ("continuerà", "continuare"),
            ("comunità", "comunita"),
        ] {
            assert!(of(form).contains(&lemma), "{form}: {:?}", of(form));
        }
        // An accent that makes another word: the verb, not the noun.
        assert_eq!(of("arrivò"), ["arrivare"]);
        assert_eq!(of("cambiò"), ["cambiare"]);
        assert_eq!(of("arrivo"), ["arrivo"]);
        assert_eq!(of("cioè"), ["cioe"]);
        assert_eq!(of("ciò"), ["cio"]);
        assert_eq!(lexicon().query_lemma("piu"), Some("piu"));
        for mojibake in ["pua2", "pia1", "cia2"] {
            assert!(!lexicon().knows(mojibake), "{mojibake}");
        }
    }

    /// A noun's dictionary form is not also a verb form, unless it is the verb's past
    /// participle ("abbiamo fatto"); a present participle is a noun or an adjective, in the
    /// plural too (abitanti), never a verb form.
    #[test]
    fn participles_and_nouns() {
        assert_eq!(lemmas("fatto"), ["fatto", "fare"]);
        assert!(lemmas("detto").contains(&"dire"));
        assert_eq!(lemmas("abitanti"), ["abitante"]);
        assert_eq!(lemmas("importanti"), ["importante"]);
        assert_eq!(lemmas("lavoro"), ["lavoro"]);
        assert_eq!(lemmas("progetto"), ["progetto"]);
        assert_eq!(lemmas("lavori"), ["lavoro", "lavorare"]);
        assert!(!lexicon()
            .forms_of("abitare")
            .iter()
            .any(|f| f.starts_with("abitant")));
        assert!(lexicon().forms_of("fare").iter().any(|f| f == "fatto"));
    }

    #[test]
    fn lemmas_know_their_forms() {
        let forms = lexicon().forms_of("anziano");
        for f in ["anziano", "anziani", "anziana", "anziane"] {
            assert!(forms.iter().any(|x| x == f), "{f} in {forms:?}");
        }
        assert!(!lexicon().forms_of("casa").iter().any(|f| f == "caso"));
    }
}
