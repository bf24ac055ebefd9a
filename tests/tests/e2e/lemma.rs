//! Search precision (issue #10): lemma matching by default, EXACT and STEM modes, the
//! surface forms a query matched, leaving forms out, the typed form ranked first, and the
//! gold list's precision and recall per mode.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use tests::{error_code, TestServer};

const SEARCH: &str = r#"
query($q: String!, $m: MatchMode, $x: [String!], $first: Int) {
  search(query: $q, match: $m, excludeForms: $x, first: $first) {
    totalCount
    matchedForms { form count }
    edges { node { score start end highlights { start end } interview { transcript } } }
  }
}"#;

/// Each line is a speaker turn, so each is its own passage.
const TRANSCRIPT: &str = "INT: Com’era la casa?
R: La casa era piccola.
INT: E le case popolari?
R: Le case popolari mancano, case e case ovunque.
INT: Un caso tipico?
R: Nel caso di Asti i casi erano tre.
R: Il comune e i comuni vicini; la comunità locale.
R: Gli anziani soli, un’anziana, le anziane, l’anziano del paese.
R: La pandemia, anzi le pandemie.
R: I progetti e la progettazione del progetto.
R: Attività lavorative, contratto lavorativo; il lavoro non c’è.
R: La città dell’ente; la citta scritta senza accento.";

async fn search(server: &TestServer, token: &str, q: &str, vars: Value) -> Value {
    let mut v = json!({"q": q, "first": 100});
    for (k, x) in vars.as_object().unwrap() {
        v[k] = x.clone();
    }
    server.ok(Some(token), SEARCH, v).await["search"].clone()
}

fn forms(r: &Value) -> BTreeMap<String, i64> {
    r["matchedForms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["form"].as_str().unwrap().to_owned(),
                f["count"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn form_set(r: &Value) -> BTreeSet<String> {
    forms(r).into_keys().collect()
}

fn set(words: &[&str]) -> BTreeSet<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// The words the hits highlight, as written in the transcript (lower-cased).
fn highlighted(r: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in r["edges"].as_array().unwrap() {
        let t: Vec<char> = e["node"]["interview"]["transcript"]
            .as_str()
            .unwrap()
            .chars()
            .collect();
        for h in e["node"]["highlights"].as_array().unwrap() {
            let (s, x) = (h["start"].as_u64().unwrap(), h["end"].as_u64().unwrap());
            out.insert(
                t[s as usize..x as usize]
                    .iter()
                    .collect::<String>()
                    .to_lowercase(),
            );
        }
    }
    out
}

/// A study holding the texts; returns the token that reads it.
async fn corpus(server: &TestServer, texts: &[&str]) -> String {
    let token = server.admin().await;
    server.corpus(&token, "Lemmi", texts).await;
    token
}

#[tokio::test]
async fn words_match_their_own_inflections_and_not_other_words() {
    let server = TestServer::empty().await;
    let t = corpus(&server, &[TRANSCRIPT]).await;
    let expect: &[(&str, &[&str])] = &[
        ("casa", &["casa", "case"]),
        ("caso", &["caso", "casi"]),
        ("comune", &["comune", "comuni"]),
        ("comunità", &["comunità"]),
        ("anziano", &["anziano", "anziani", "anziana", "anziane"]),
        ("pandemie", &["pandemia", "pandemie"]),
        ("progetto", &["progetto", "progetti"]),
        ("lavorativo", &["lavorativo", "lavorative"]),
        ("citta", &["città", "citta"]),
        ("ente", &["ente"]),
    ];
    for (q, want) in expect {
        let r = search(&server, &t, q, json!({})).await;
        assert_eq!(form_set(&r), set(want), "LEMMA {q}: {}", r["matchedForms"]);
        // The highlights are exactly the matched forms.
        assert_eq!(highlighted(&r), set(want), "highlights of {q}");
    }
    // Counts are passages holding the form: "case" is in two turns, three times in one.
    let r = search(&server, &t, "casa", json!({})).await;
    assert_eq!(forms(&r)["case"], 2);
    assert_eq!(forms(&r)["casa"], 2);
    assert_eq!(r["totalCount"], 4);
    // Spellings are reported apart: "città" once, "citta" once.
    let r = search(&server, &t, "città", json!({})).await;
    assert_eq!(
        forms(&r),
        BTreeMap::from([("città".into(), 1), ("citta".into(), 1)])
    );
}

#[tokio::test]
async fn exact_and_stem_modes_and_inline_exact() {
    let server = TestServer::empty().await;
    let t = corpus(&server, &[TRANSCRIPT]).await;
    let exact = search(&server, &t, "casa", json!({"m": "EXACT"})).await;
    assert_eq!(form_set(&exact), set(&["casa"]));
    assert_eq!(exact["totalCount"], 2);
    // Accents and case still do not matter in EXACT.
    let exact = search(&server, &t, "CITTÀ", json!({"m": "EXACT"})).await;
    assert_eq!(form_set(&exact), set(&["città", "citta"]));
    // `=word` is EXACT for one word inside a LEMMA query.
    let inline = search(&server, &t, "=anziane", json!({})).await;
    assert_eq!(form_set(&inline), set(&["anziane"]));
    // STEM is the old broad match: casa finds caso and casi, comune finds comunità.
    let stem = search(&server, &t, "casa", json!({"m": "STEM"})).await;
    assert!(form_set(&stem).is_superset(&set(&["casa", "case", "caso", "casi"])));
    let stem = search(&server, &t, "comunità", json!({"m": "STEM"})).await;
    assert!(
        form_set(&stem).contains("comuni"),
        "{}",
        stem["matchedForms"]
    );
}

#[tokio::test]
async fn forms_can_be_left_out_by_argument_or_inline() {
    let server = TestServer::empty().await;
    let t = corpus(&server, &[TRANSCRIPT]).await;
    let broad = search(&server, &t, "casa", json!({"m": "STEM"})).await;
    let narrowed = search(
        &server,
        &t,
        "casa",
        json!({"m": "STEM", "x": ["caso", "Casi"]}),
    )
    .await;
    assert_eq!(form_set(&narrowed), set(&["casa", "case"]));
    assert!(narrowed["totalCount"].as_i64() < broad["totalCount"].as_i64());
    assert!(highlighted(&narrowed)
        .iter()
        .all(|w| w == "casa" || w == "case"));
    // Inline: `-form:case` keeps only the passages saying "casa".
    let r = search(&server, &t, "casa -form:case", json!({})).await;
    assert_eq!(form_set(&r), set(&["casa"]));
    assert_eq!(r["totalCount"], 2);
    // A passage holding both the kept and the excluded form still matches.
    let r = search(&server, &t, "anziano", json!({"x": ["anziani"]})).await;
    assert_eq!(form_set(&r), set(&["anziano", "anziana", "anziane"]));
    assert_eq!(r["totalCount"], 1);
    // Excluding every form leaves nothing, not an error.
    let r = search(&server, &t, "ente", json!({"x": ["ente"]})).await;
    assert_eq!(r["totalCount"], 0);
    // `form:` alone is not a search.
    let r = server
        .gql(Some(&t), SEARCH, json!({"q": "form:casa"}))
        .await;
    assert_eq!(error_code(&r), "BAD_QUERY");
}

#[tokio::test]
async fn the_typed_form_ranks_first() {
    let server = TestServer::empty().await;
    let t = corpus(
        &server,
        &[
            "R: Le case, le case, ancora case: case ovunque nelle case.",
            "R: Una casa in affitto, lontano dal centro del paese, con un giardino e due stanze.",
        ],
    )
    .await;
    let order = |r: &Value| -> Vec<String> {
        r["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let t: Vec<char> = e["node"]["interview"]["transcript"]
                    .as_str()
                    .unwrap()
                    .chars()
                    .collect();
                let h = &e["node"]["highlights"][0];
                t[h["start"].as_u64().unwrap() as usize..h["end"].as_u64().unwrap() as usize]
                    .iter()
                    .collect::<String>()
                    .to_lowercase()
            })
            .collect()
    };
    assert_eq!(
        order(&search(&server, &t, "casa", json!({})).await),
        ["casa", "case"]
    );
    // BM25 alone would put the short passage repeating "case" five times first.
    assert_eq!(
        order(&search(&server, &t, "case", json!({})).await),
        ["case", "casa"]
    );
}

/// Forms the lexicon lost or mistook (QA on the demo data): verb forms in an accented
/// vowel ("può", "resterà", "arrivò"), past participles that are also nouns ("fatto",
/// "detto"), present participles that are nouns ("abitanti"), and unknown words cut to
/// the same stem ("CISS", "CISSA"; "cioè", "ciò").
#[tokio::test]
async fn accented_verb_forms_participles_and_acronyms() {
    let server = TestServer::empty().await;
    let t = corpus(
        &server,
        &["R: Non può venire.
R: Arrivò tardi.
R: L’arrivo del treno.
R: Cambiò idea.
R: Poi cambiò tutto.
R: Il cambio di passo.
R: Resterà qui, vedrà.
R: Abbiamo fatto tanto.
R: Lo ha detto lui.
R: Gli abitanti del paese.
R: Parla il CISS.
R: Parla il CISSA.
R: Cioè no.
R: Ciò che conta."],
    )
    .await;
    let expect: &[(&str, &[&str])] = &[
        ("potere", &["può"]),
        ("possono", &["può"]),
        ("arrivare", &["arrivò"]),
        ("arrivò", &["arrivò"]),
        ("arrivo", &["arrivo"]),
        ("cambiò", &["cambiò"]),
        ("restare", &["resterà"]),
        ("vedere", &["vedrà"]),
        ("fare", &["fatto"]),
        ("dire", &["detto"]),
        ("abitare", &[]),
        ("abitante", &["abitanti"]),
        ("CISSA", &["cissa"]),
        ("CISS", &["ciss"]),
        ("cioè", &["cioè"]),
        ("ciò", &["ciò"]),
    ];
    for (q, want) in expect {
        let r = search(&server, &t, q, json!({})).await;
        assert_eq!(highlighted(&r), set(want), "LEMMA {q}: {r}");
    }
    // Rewritten onto the exact field (a form left out, a phrase ending in a stop word), an
    // accented form is still found: it was lost there, having no term of its own.
    let r = search(&server, &t, "cambiare", json!({"x": ["cambiato"]})).await;
    assert!(highlighted(&r).contains("cambiò"), "{r}");
    let r = search(&server, &t, "\"cambiò tutto\"", json!({})).await;
    assert_eq!(highlighted(&r), set(&["cambiò tutto"]), "{r}");
}

/// Precision and recall of each mode on the hand-checked gold list (tests/data), each form
/// in its own passage. The numbers are printed (BENCHMARKS.md records them); LEMMA must get
/// every issue example right and beat the Snowball stemmer (STEM) on precision.
#[tokio::test]
async fn gold_list_precision_and_recall_per_mode() {
    let gold_text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/lemma_gold.tsv"),
    )
    .expect("gold list");
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let gold: Vec<(String, Vec<String>, Vec<String>)> = gold_text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 3, "gold line {l:?}");
            (cols[0].to_owned(), split(cols[1]), split(cols[2]))
        })
        .collect();
    assert!(gold.len() >= 40, "the gold list has {} words", gold.len());
    let all_forms: BTreeSet<&String> = gold
        .iter()
        .flat_map(|(_, must, not)| must.iter().chain(not))
        .collect();
    // One turn per form, in interviews of 50 turns.
    let turns: Vec<String> = all_forms
        .iter()
        .map(|f| format!("R: ne abbiamo parlato: {f}."))
        .collect();
    let texts: Vec<String> = turns.chunks(50).map(|c| c.join("\n")).collect();
    let server = TestServer::empty().await;
    let t = corpus(
        &server,
        &texts.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;

    let issue_examples = [
        "casa",
        "caso",
        "comune",
        "anziano",
        "pandemie",
        "progetto",
        "lavorativo",
        "città",
        "ente",
    ];
    let mut report = String::from("mode   precision  recall   (micro-averaged over forms)\n");
    let mut precision_of = BTreeMap::new();
    for mode in ["LEMMA", "STEM", "EXACT"] {
        let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
        let mut misses = Vec::new();
        for (q, must, not) in &gold {
            let r = search(&server, &t, q, json!({"m": mode})).await;
            let found = form_set(&r);
            let lower = |w: &String| w.to_lowercase();
            let must: BTreeSet<String> = must.iter().map(lower).collect();
            let not: BTreeSet<String> = not.iter().map(lower).collect();
            let hit = must.intersection(&found).count();
            let wrong: Vec<&String> = not.intersection(&found).collect();
            let missed: Vec<&String> = must.difference(&found).collect();
            tp += hit;
            fp += wrong.len();
            fn_ += missed.len();
            if mode == "LEMMA" && (!wrong.is_empty() || !missed.is_empty()) {
                misses.push(format!("{q}: wrong {wrong:?} missed {missed:?}"));
                assert!(
                    !issue_examples.contains(&q.as_str()),
                    "issue example {q}: wrong {wrong:?} missed {missed:?}"
                );
            }
        }
        let precision = tp as f64 / (tp + fp).max(1) as f64;
        let recall = tp as f64 / (tp + fn_).max(1) as f64;
        precision_of.insert(mode, precision);
        report.push_str(&format!(
            "{mode:<6} {precision:>9.3} {recall:>7.3}   tp {tp} fp {fp} fn {fn_}\n"
        ));
        if !misses.is_empty() {
            report.push_str(&format!("  LEMMA errors: {}\n", misses.join("; ")));
        }
    }
    println!("gold list: {} query words\n{report}", gold.len());
    assert!(
        precision_of["LEMMA"] > precision_of["STEM"],
        "LEMMA must be more precise than the stemmer\n{report}"
    );
    assert!(precision_of["LEMMA"] >= 0.95, "{report}");
}
