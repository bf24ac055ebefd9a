//! Builds the committed Italian lemma lexicon (`api/src/search/lexicon/`) from the Morph-it!
//! derived tables in PyPI's `spacy-lookups-data` (`it_lemma_lookup_<pos>.json.gz`).
//! Run through `api/src/search/lexicon/build.sh`, which fetches the package first.
//!
//! Output: `it_forms.fst` maps every folded form (lower-cased, accents folded exactly as the
//! index folds them) to up to three lemma ids packed in a u64; `it_lemmas.txt` lists the
//! lemmas, one per line, the line number being the id. See `search::lexicon` for the packing.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;

use anyhow::{bail, Context};
use api::search::lexicon::{pack, MAX_LEMMAS};

/// Parts of speech by preference: a query word that is not itself a lemma means the lemma of
/// its most likely part of speech (`politiche` → politica, not politico).
const POS: [&str; 9] = [
    "noun", "adj", "verb", "adv", "num", "pron", "det", "adp", "aux",
];

fn fold(word: &str) -> Option<String> {
    let toks = api::search::analyzer::tokens(&mut api::search::analyzer::exact(), word);
    match toks.as_slice() {
        [t] if t.from == 0 && t.to == word.len() => Some(t.term.clone()),
        _ => None,
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
    // form → (lemma, part of speech) in preference order.
    let mut forms: BTreeMap<String, Vec<(String, &str)>> = BTreeMap::new();
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
            let (Some(form), Some(lemma)) = (fold(&form), fold(&lemma)) else {
                continue;
            };
            // Suppletive comparatives (minori → piccolo, peggiore → cattivo) would make a
            // search for one word find another; verbs keep theirs (vado → andare).
            if pos != "verb" && form != lemma && common_prefix(&form, &lemma) < 2 {
                dropped += 1;
                continue;
            }
            let entry = forms.entry(form).or_default();
            if !entry.iter().any(|(l, _)| *l == lemma) {
                entry.push((lemma, pos));
            }
        }
    }
    // A noun in its dictionary form is that noun, not also a verb form: "lavoro" and
    // "progetto" in an interview are nouns, "abitante" is an inhabitant. Plurals (lavori,
    // progetti) keep both readings, and adjectives keep theirs: "lavorato" is a participle.
    let forms: BTreeMap<String, (Vec<String>, bool)> = forms
        .into_iter()
        .map(|(form, links)| {
            let nominal = links.iter().any(|(l, pos)| *l == form && *pos == "noun");
            let is_lemma = links.iter().any(|(l, _)| *l == form);
            let lemmas = links
                .into_iter()
                .filter(|(l, pos)| !nominal || *pos != "verb" || *l == form)
                .map(|(l, _)| l)
                .collect();
            (form, (lemmas, is_lemma))
        })
        .collect();
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
            let own = lemmas.iter().position(|l| *l == form).unwrap_or(0);
            let own = lemmas.remove(own);
            lemmas.insert(0, own);
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
        "{} lemmas; {dropped} suppletive links dropped; {truncated} forms kept their first {MAX_LEMMAS} lemmas",
        lemmas.len()
    );
    Ok(())
}
