//! A deterministic corpus of synthetic Italian interview transcripts.
//!
//! Every interview is a pure function of (seed, number), so that the harness can stream
//! 10,000 of them without holding 600 MB, and the API import, the raw tantivy baseline and
//! PostgreSQL all see the same text. Vocabulary: a word bigram model learnt at run time from
//! the seed documents when they are there (nothing from them is stored in the repository),
//! else a small built-in word list; either way mixed with the domain's words and phrases so
//! that the benchmark queries always match, and with the features the analyzer must handle:
//! speaker turns, accents, curly and straight apostrophes, elisions.

use std::collections::HashMap;
use std::path::Path;

/// Average transcript size: 60 KB, so that S ≈ 3 MB, M ≈ 60 MB, L ≈ 600 MB.
const TARGET_BYTES: usize = 60_000;
/// Cases per study; interview n belongs to case n % CASES.
pub const CASES: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    S,
    M,
    L,
}

impl Size {
    pub fn interviews(self) -> usize {
        match self {
            Size::S => 50,
            Size::M => 1_000,
            Size::L => 10_000,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "S" => Some(Size::S),
            "M" => Some(Size::M),
            "L" => Some(Size::L),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Size::S => "S",
            Size::M => "M",
            Size::L => "L",
        }
    }
}

/// SplitMix64: tiny, and stable across crate versions (rand's StdRng is not promised to be).
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability `p` (0..=1).
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Words every corpus has, written for this harness: the domain's vocabulary, with accents.
const BUILT_IN: &[&str] = &[
    "allora",
    "quando",
    "abbiamo",
    "avevamo",
    "sempre",
    "ancora",
    "proprio",
    "molto",
    "poco",
    "tanto",
    "quindi",
    "comunque",
    "insieme",
    "percorso",
    "tavolo",
    "tavoli",
    "regione",
    "comune",
    "comuni",
    "consorzio",
    "operatori",
    "operatrici",
    "utenti",
    "bisogni",
    "risposta",
    "risposte",
    "rete",
    "reti",
    "servizio",
    "servizi",
    "sociale",
    "sociali",
    "sanitario",
    "educativa",
    "domiciliare",
    "assistenza",
    "welfare",
    "politiche",
    "territorio",
    "territori",
    "famiglia",
    "famiglie",
    "giovani",
    "anziani",
    "disabili",
    "minori",
    "persone",
    "casa",
    "lavoro",
    "scuola",
    "salute",
    "povertà",
    "fragilità",
    "comunità",
    "attività",
    "città",
    "opportunità",
    "qualità",
    "difficoltà",
    "realtà",
    "è",
    "più",
    "perché",
    "così",
    "già",
    "cioè",
    "però",
    "poiché",
    "progetto",
    "progetti",
    "progettazione",
    "progettare",
    "programmazione",
    "coprogettazione",
    "finanziamento",
    "risorse",
    "bando",
    "fondi",
    "pandemia",
    "pandemie",
    "emergenza",
    "chiusura",
    "distanza",
    "volontari",
    "associazioni",
    "cooperative",
    "sindaci",
    "assessore",
    "direttore",
    "funzionari",
    "procedure",
    "modello",
    "innovazione",
    "cambiamento",
    "continuità",
    "discontinuità",
    "strumenti",
    "obiettivi",
    "valutazione",
    "monitoraggio",
    "formazione",
    "lavoravamo",
    "pensavamo",
    "dicevano",
    "racconto",
    "esperienza",
    "fatica",
    "fiducia",
    "relazione",
    "relazioni",
    "incontri",
    "riunioni",
    "sportello",
    "accoglienza",
    "inserimento",
    "abitare",
    "affitto",
    "emergenza",
    "non",
    "né",
    "senza",
    "mai",
    "nessuno",
    "niente",
];

/// Elided forms, each with the noun the analyzer must find on its own.
const ELISIONS: &[&str] = &[
    "dell’ente",
    "l’anziano",
    "l’ente",
    "all’interno",
    "nell’ambito",
    "un’assistente",
    "dall’inizio",
    "c’è",
    "sull’ambito",
    "l’assessore",
    "dell’anno",
    "un’esperienza",
    "l’operatore",
    "dell’ambito",
    "quell’idea",
    "l'ente",
    "dell'ente",
    "l'anziano",
];

/// Phrases the benchmark queries look for.
const PHRASES: &[&str] = &[
    "servizi sociali",
    "terzo settore",
    "presa in carico",
    "casa e lavoro",
    "fasce grigie",
    "tavolo di coprogettazione",
    "anziani soli",
    "durante la pandemia",
    "lavoro di rete",
];

const QUESTIONS: &[&str] = &[
    "Come è cambiato",
    "Che cosa è successo con",
    "Può raccontare",
    "Chi ha seguito",
    "Perché è stato difficile",
    "In che modo",
    "Quando è iniziato",
    "Che ruolo ha avuto",
];

/// A word bigram model.
pub struct Vocabulary {
    words: Vec<String>,
    next: HashMap<usize, Vec<usize>>,
}

impl Vocabulary {
    /// Learns from the `.txt` files in `seeds` (if it exists), plus the built-in words.
    pub fn load(seeds: Option<&Path>) -> Self {
        let mut v = Vocabulary {
            words: Vec::new(),
            next: HashMap::new(),
        };
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut id = |w: &str, v: &mut Vocabulary| -> usize {
            *index.entry(w.to_owned()).or_insert_with(|| {
                v.words.push(w.to_owned());
                v.words.len() - 1
            })
        };
        for w in BUILT_IN {
            id(w, &mut v);
        }
        let mut texts: Vec<String> = Vec::new();
        if let Some(dir) = seeds {
            if let Ok(entries) = std::fs::read_dir(dir) {
                let mut paths: Vec<_> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "txt"))
                    .collect();
                paths.sort();
                for p in paths {
                    if let Ok(t) = std::fs::read_to_string(&p) {
                        texts.push(t);
                    }
                }
            }
        }
        for text in &texts {
            let mut prev: Option<usize> = None;
            for raw in text.split_whitespace() {
                let w = raw
                    .trim_matches(|c: char| !c.is_alphabetic())
                    .to_lowercase();
                // PDF extraction leaves ligature debris ("proge!o") and hyphenated line ends.
                let clean = !w.is_empty()
                    && w.chars().count() <= 20
                    && w.chars()
                        .all(|c| c.is_alphabetic() || c == '’' || c == '\'');
                if !clean {
                    prev = None;
                    continue;
                }
                let cur = id(&w, &mut v);
                if let Some(p) = prev {
                    v.next.entry(p).or_default().push(cur);
                }
                // A sentence end breaks the chain: sentences are recombined, never copied.
                prev = if raw.ends_with(['.', '?', '!', ';', ':']) {
                    None
                } else {
                    Some(cur)
                };
            }
        }
        v
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    fn word(&self, rng: &mut Rng, prev: Option<usize>) -> usize {
        if let Some(next) = prev.and_then(|p| self.next.get(&p)) {
            if rng.chance(0.6) {
                return *rng.pick(next);
            }
        }
        if rng.chance(0.5) {
            // The built-in list has a repeated word, so it holds one entry fewer than
            // BUILT_IN; clamping keeps seeded corpora as they were measured.
            rng.below(BUILT_IN.len()).min(self.words.len() - 1)
        } else {
            rng.below(self.words.len())
        }
    }

    fn sentence(&self, rng: &mut Rng, out: &mut String, min: usize, max: usize, end: char) {
        let n = min + rng.below(max - min + 1);
        let mut prev = None;
        let start = out.len();
        for k in 0..n {
            if k > 0 {
                out.push(' ');
            }
            let roll = rng.below(100);
            if roll < 4 {
                out.push_str(rng.pick::<&str>(ELISIONS));
                prev = None;
            } else if roll < 7 {
                out.push_str(rng.pick::<&str>(PHRASES));
                prev = None;
            } else {
                let w = self.word(rng, prev);
                out.push_str(&self.words[w]);
                prev = Some(w);
            }
            if k + 1 < n && rng.chance(0.06) {
                out.push(',');
            }
        }
        // Capitalise the first letter (it may be accented).
        if let Some(first) = out[start..].chars().next() {
            let upper: String = first.to_uppercase().collect();
            out.replace_range(start..start + first.len_utf8(), &upper);
        }
        out.push(end);
    }
}

/// One generated interview.
pub struct Interview {
    pub number: usize,
    pub case: usize,
    pub label: String,
    pub transcript: String,
}

pub struct Corpus {
    pub seed: u64,
    pub vocabulary: Vocabulary,
}

impl Corpus {
    pub fn new(seed: u64, seeds_dir: Option<&Path>) -> Self {
        Self {
            seed,
            vocabulary: Vocabulary::load(seeds_dir),
        }
    }

    /// Interview `n`: always the same text for the same seed and vocabulary.
    pub fn interview(&self, n: usize) -> Interview {
        self.interview_of_size(n, TARGET_BYTES)
    }

    /// A transcript of about `target` bytes (short ones for the edit workload).
    pub fn interview_of_size(&self, n: usize, target: usize) -> Interview {
        let mut rng = Rng::new(self.seed ^ (n as u64).wrapping_mul(0xA24B_AED4_963E_E407));
        // ±30% around the target, averaging the target.
        let size = target * (70 + rng.below(61)) / 100;
        let mut t = String::with_capacity(size + 2_000);
        while t.len() < size {
            t.push_str("INT: ");
            t.push_str(rng.pick::<&str>(QUESTIONS));
            t.push(' ');
            self.vocabulary.sentence(&mut rng, &mut t, 4, 12, '?');
            t.push('\n');
            t.push_str("R: ");
            let sentences = 2 + rng.below(12);
            for s in 0..sentences {
                if s > 0 {
                    // Some answers run over several paragraphs.
                    t.push_str(if rng.chance(0.1) { "\n\n" } else { " " });
                }
                let end = if rng.chance(0.1) { '…' } else { '.' };
                self.vocabulary.sentence(&mut rng, &mut t, 6, 28, end);
            }
            t.push('\n');
        }
        Interview {
            number: n,
            case: n % CASES,
            label: format!("Int. {}", n + 1),
            transcript: t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_with_turns_accents_and_elisions() {
        let c = Corpus::new(7, None);
        let a = c.interview(3);
        let b = Corpus::new(7, None).interview(3);
        assert_eq!(a.transcript, b.transcript);
        assert_ne!(a.transcript, c.interview(4).transcript);
        assert!(a.transcript.starts_with("INT: "));
        assert!(a.transcript.contains("\nR: "));
        assert!(a.transcript.contains('’'));
        assert!(a.transcript.contains('à') || a.transcript.contains('è'));
        let len = a.transcript.len();
        assert!((30_000..100_000).contains(&len), "{len}");
    }
}
