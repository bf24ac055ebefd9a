//! Builds the committed Italian lemma lexicon (`api/src/search/lexicon/`) from the Morph-it!
//! derived tables in PyPI's `spacy-lookups-data` (`it_lemma_lookup_<pos>.json.gz`).
//! Run through `api/src/search/lexicon/build.sh`, which fetches the package first.
//!
//! Output: `it_forms.fst` maps every folded form (lower-cased, accents folded exactly as the
//! index folds them) to up to three lemma ids packed in a u64, and an accented spelling
//! (lower-cased, accents kept) to its own where they differ from its folded form's
//! ("arrivò" → arrivare, "arrivo" → arrivo); `it_lemmas.txt` lists the lemmas, one per line,
//! the line number being the id. See `search::lexicon` for the packing.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;

use anyhow::{bail, Context};
use api::search::lexicon::{pack, MAX_LEMMAS};

/// Parts of speech by preference: a query word that is not itself a lemma means the lemma of
/// its most likely part of speech (`politiche` → politica, not politico).
const POS: [&str; 9] = [
    "noun", "adj", "verb", "adv", "num", "pron", "det", "adp", "aux",
];

/// The word as one token of `analyzer`, or `None` if it is not one word.
fn single(analyzer: &mut tantivy::tokenizer::TextAnalyzer, word: &str) -> Option<String> {
    let toks = api::search::analyzer::tokens(analyzer, word);
    match toks.as_slice() {
        [t] if t.from == 0 && t.to == word.len() => Some(t.term.clone()),
        _ => None,
    }
}

/// Lower-cased and accent-folded, as the index folds it.
fn fold(word: &str) -> Option<String> {
    single(&mut api::search::analyzer::exact(), word)
}

/// Lower-cased, accents kept: what the lemma analyzer looks up first.
fn spelling(word: &str) -> Option<String> {
    single(&mut api::search::analyzer::surface(), word)
}

/// The per-part-of-speech tables of spacy-lookups-data 1.0.5 hold every word beyond ASCII
/// as mojibake, its UTF-8 bytes read as Latin-1: "può" is "puÃ²", "resterà" "resterÃ\u{a0}".
/// Folded as they were, the forms in à, è, é, ì split at the second character and were
/// dropped, and those in ò, ù became other keys ("pua2", "pia1"). Decoded back; a string
/// that is no such thing (ASCII, or not valid UTF-8 once read as bytes) is kept as it is.
fn demojibake(s: &str) -> String {
    if s.is_ascii() || s.chars().any(|c| u32::from(c) > 0xFF) {
        return s.to_owned();
    }
    let bytes: Vec<u8> = s.chars().map(|c| u32::from(c) as u8).collect();
    String::from_utf8(bytes).unwrap_or_else(|_| s.to_owned())
}

/// A form whose links the rules below judge, each link a lemma and its part of speech.
type Links<'a> = Vec<(String, &'a str)>;

/// Whether `form` (folded) is the past participle of `verb`: it ends in -o and the verb
/// has it in -a, -i and -e too (fatto, fatta, fatti, fatte), but no third person plural
/// made on it (credo, credono: a first person). A first person of an -are verb (lavoro,
/// lavora, lavori) has no form in -e.
fn past_participle(form: &str, verb: &str, verb_forms: &HashMap<String, HashSet<String>>) -> bool {
    let (Some(stem), Some(forms)) = (form.strip_suffix('o'), verb_forms.get(verb)) else {
        return false;
    };
    ["a", "i", "e"]
        .iter()
        .all(|end| forms.contains(&format!("{stem}{end}")))
        && !forms.contains(&format!("{stem}ono"))
}

/// Whether `form` (folded) is the present participle of `verb` (abitante, abitanti of
/// abitare; dipendente of dipendere): in Italian a noun or an adjective, not a verb form.
fn present_participle(form: &str, verb: &str) -> bool {
    let (stem, infixes): (&str, &[&str]) = if let Some(stem) = verb.strip_suffix("are") {
        (stem, &["ant"])
    } else if let Some(stem) = verb.strip_suffix("ere") {
        (stem, &["ent"])
    } else if let Some(stem) = verb.strip_suffix("ire") {
        (stem, &["ent", "ient"])
    } else {
        return false;
    };
    infixes.iter().any(|infix| {
        form.strip_prefix(stem)
            .and_then(|rest| rest.strip_prefix(infix))
            .is_some_and(|end| end == "e" || end == "i")
    })
}

/// The lemmas a form keeps, its own first. A noun in its dictionary form is that noun,
/// not also a verb form: "lavoro" and "progetto" in an interview are nouns. But a past
/// participle stays one (fatto, detto: "abbiamo fatto"), as its plurals do (fatti), and a
/// present participle is no verb form, singular or plural, where the tables also give it
/// as a noun or an adjective (abitante, abitanti; importante). Adjectives keep theirs:
/// "lavorato" is a participle. `folded` is the form folded (the key may be a spelling).
fn judged(
    folded: &str,
    links: Links<'_>,
    verb_forms: &HashMap<String, HashSet<String>>,
) -> (Vec<String>, bool) {
    let nominal = links.iter().any(|(l, pos)| l == folded && *pos == "noun");
    let not_only_verb = links.iter().any(|(_, pos)| *pos != "verb");
    let is_lemma = links.iter().any(|(l, _)| l == folded);
    let lemmas = links
        .into_iter()
        .filter(|(l, pos)| {
            if *pos != "verb" || l == folded {
                return true;
            }
            if not_only_verb && present_participle(folded, l) {
                return false;
            }
            !nominal || past_participle(folded, l, verb_forms)
        })
        .map(|(l, _)| l)
        .collect();
    (lemmas, is_lemma)
}

/// Adds a lemma to a key's links, once.
fn link<'a>(map: &mut BTreeMap<String, Links<'a>>, key: String, lemma: &str, pos: &'a str) {
    let entry = map.entry(key).or_default();
    if !entry.iter().any(|(l, _)| l == lemma) {
        entry.push((lemma.to_owned(), pos));
    }
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        bail!("usage: build_lexicon <dir with it_lemma_lookup_*.json.gz> <output dir>");
    };
    let (input, output) = (PathBuf::from(input), PathBuf::from(output));
    // folded form → (lemma, part of speech) in preference order; the same for accented
    // spellings, by spelling.
    let mut forms: BTreeMap<String, Links<'_>> = BTreeMap::new();
    let mut spellings: BTreeMap<String, Links<'_>> = BTreeMap::new();
    let mut dropped = 0usize;
    for pos in POS {
        let path = input.join(format!("it_lemma_lookup_{pos}.json.gz"));
        let mut json = String::new();
        flate2::read::GzDecoder::new(
            std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?,
        )
        .read_to_string(&mut json)?;
        let table: BTreeMap<String, String> = serde_json::from_str(&json)?;
        for (form, lemma) in table {
            let (form, lemma) = (demojibake(&form), demojibake(&lemma));
            let (Some(written), Some(form), Some(lemma)) =
                (spelling(&form), fold(&form), fold(&lemma))
            else {
                continue;
            };
            // Suppletive comparatives (minori → piccolo, peggiore → cattivo) would make a
            // search for one word find another; verbs keep theirs (vado → andare).
            if pos != "verb" && form != lemma && common_prefix(&form, &lemma) < 2 {
                dropped += 1;
                continue;
            }
            if !written.is_ascii() {
                link(&mut spellings, written, &lemma, pos);
            }
            link(&mut forms, form, &lemma, pos);
        }
    }
    let mut verb_forms: HashMap<String, HashSet<String>> = HashMap::new();
    for (form, links) in &forms {
        for (lemma, _) in links.iter().filter(|(_, pos)| *pos == "verb") {
            verb_forms
                .entry(lemma.clone())
                .or_default()
                .insert(form.clone());
        }
    }
    let mut judged_spellings = Vec::new();
    for (written, links) in spellings {
        let folded = fold(&written).expect("a spelling folds to one word");
        let kept = judged(&folded, links, &verb_forms);
        judged_spellings.push((written, folded, kept));
    }
    let mut forms: BTreeMap<String, (Vec<String>, bool)> = forms
        .into_iter()
        .map(|(form, links)| {
            let kept = judged(&form, links, &verb_forms);
            (form, kept)
        })
        .collect();
    // An accented spelling gets its own key only where it means something else than its
    // folded form: "arrivò" (arrivare) is not "arrivo" (the noun), "può" is "puo".
    let mut own = 0usize;
    for (written, folded, kept) in judged_spellings {
        if forms.get(&folded).map(|(l, _)| l) != Some(&kept.0) {
            own += 1;
            forms.insert(written, kept);
        }
    }
    let lemmas: BTreeSet<String> = forms
        .values()
        .flat_map(|(l, _)| l.iter().cloned())
        .collect();
    let ids: BTreeMap<&str, u64> = lemmas
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i as u64))
        .collect();

    std::fs::create_dir_all(&output)?;
    let mut list = BufWriter::new(std::fs::File::create(output.join("it_lemmas.txt"))?);
    for lemma in &lemmas {
        writeln!(list, "{lemma}")?;
    }
    list.flush()?;

    let mut builder = fst::MapBuilder::new(BufWriter::new(std::fs::File::create(
        output.join("it_forms.fst"),
    )?))?;
    let mut truncated = 0usize;
    for (form, (mut lemmas, is_lemma)) in forms {
        // The form's own lemma first: it is what a query for the form means.
        if is_lemma {
            let folded = fold(&form).expect("a key folds to one word");
            if let Some(own) = lemmas.iter().position(|l| *l == folded) {
                let own = lemmas.remove(own);
                lemmas.insert(0, own);
            }
        }
        if lemmas.len() > MAX_LEMMAS {
            truncated += 1;
            lemmas.truncate(MAX_LEMMAS);
        }
        let packed: Vec<u64> = lemmas.iter().map(|l| ids[l.as_str()]).collect();
        builder.insert(form.as_bytes(), pack(&packed))?;
    }
    builder.finish()?;
    eprintln!(
        "{} lemmas; {own} accented spellings with lemmas of their own; {dropped} suppletive \
         links dropped; {truncated} forms kept their first {MAX_LEMMAS} lemmas",
        lemmas.len()
    );
    Ok(())
}
