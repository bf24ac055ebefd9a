//! Real text: the five source documents of ../shared/seeds, read at run time and imported as
//! transcripts, searched with the queries analysts type.

use std::path::PathBuf;

use serde_json::{json, Value};
use tests::TestServer;

fn seeds() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/seeds");
    let mut docs: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    docs.sort();
    docs
}

fn chars(text: &str, start: i64, end: i64) -> String {
    text.chars()
        .skip(start as usize)
        .take((end - start) as usize)
        .collect()
}

/// (query, what every highlight must look like once lower-cased).
type Check = (&'static str, fn(&str) -> bool);

#[tokio::test]
async fn real_documents_are_found_by_phrase_inflection_accent_and_elision() {
    let server = TestServer::empty().await;
    let token = server.admin().await;
    let docs = seeds();
    assert_eq!(docs.len(), 5);
    let texts: Vec<&str> = docs.iter().map(|(_, t)| t.as_str()).collect();
    let corpus = server.corpus(&token, "Fonti", &texts).await;
    let mut transcripts = std::collections::HashMap::new();
    for (i, text) in corpus.interviews.iter().zip(&texts) {
        assert_eq!(i["length"].as_u64().unwrap() as usize, text.chars().count());
        transcripts.insert(i["id"].as_str().unwrap().to_owned(), text.to_string());
    }
    let checks: &[Check] = &[
        ("\"innovazione sociale\"", |w| {
            w.starts_with("innovazion") && w.ends_with([' ', 'e', 'i']) && w.contains(" social")
        }),
        ("progetti", |w| w.starts_with("progett")),
        ("citta", |w| w == "città" || w == "citta"),
        ("ente", |w| w == "ente" || w == "enti"),
        ("welfare AND comunità", |w| {
            w == "welfare" || w.starts_with("comun")
        }),
        ("coprogettazione OR co-progettazione", |w| {
            w.contains("progett")
        }),
    ];
    for (query, ok) in checks {
        let r = server
            .ok(
                Some(&token),
                "query($q: String!) { search(query: $q, first: 100) { totalCount edges { node { start end highlights { start end } interview { id } } } } }",
                json!({"q": query}),
            )
            .await["search"]
            .clone();
        assert!(
            r["totalCount"].as_i64().unwrap() > 0,
            "{query}: nothing found"
        );
        for e in r["edges"].as_array().unwrap() {
            let text = &transcripts[e["node"]["interview"]["id"].as_str().unwrap()];
            let highlights = e["node"]["highlights"].as_array().unwrap();
            assert!(!highlights.is_empty(), "{query}: a hit without highlights");
            for h in highlights {
                let exact = chars(
                    text,
                    h["start"].as_i64().unwrap(),
                    h["end"].as_i64().unwrap(),
                )
                .to_lowercase();
                // A phrase may run over a line break (or an underscore, in a file name): the
                // span is the text as written, its words are what matched.
                let word = exact
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                assert!(ok(&word), "{query}: highlight {exact:?}");
            }
        }
    }
    // "dell’ente" (curly apostrophe) is found by `ente`, the highlight skipping the article.
    let r: Value = server
        .ok(Some(&token), "{ concordance(term: \"ente\", window: 6, first: 1000) { totalCount edges { node { left keyword } } } }", json!({}))
        .await;
    let lines = r["concordance"]["edges"].as_array().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l["node"]["left"].as_str().unwrap().ends_with("dell’")),
        "no dell’ente"
    );
    assert!(lines.iter().all(|l| l["node"]["keyword"]
        .as_str()
        .unwrap()
        .to_lowercase()
        .starts_with("ent")));
}

/// The stemming errors on real text: what each mode matches in the five documents.
/// LEMMA must not merge the words Snowball merges; the table is printed for BENCHMARKS.md.
#[tokio::test]
async fn lemma_matching_on_real_documents_keeps_words_apart() {
    let server = TestServer::empty().await;
    let token = server.admin().await;
    let docs = seeds();
    let texts: Vec<&str> = docs.iter().map(|(_, t)| t.as_str()).collect();
    server.corpus(&token, "Fonti", &texts).await;
    let checks: &[(&str, &[&str])] = &[
        ("casa", &["caso", "casi"]),
        ("comune", &["comunità", "comunitario", "comunitaria"]),
        ("anziano", &["anzi"]),
        (
            "progetti",
            &["progettazione", "progettuale", "progettualità"],
        ),
        ("lavorative", &["lavoro", "lavori"]),
        ("territorio", &["territoriale", "territoriali"]),
        ("servizi", &["servire"]),
        ("sociale", &["società", "socialità"]),
    ];
    let mut table = String::from("query | mode | passages | matched forms\n");
    for (query, never) in checks {
        let mut lemma_total = 0;
        let mut stem_total = 0;
        for mode in ["LEMMA", "STEM"] {
            let r = server
                .ok(
                    Some(&token),
                    "query($q: String!, $m: MatchMode) { search(query: $q, match: $m, first: 0) { totalCount matchedForms { form count } } }",
                    json!({"q": query, "m": mode}),
                )
                .await["search"]
                .clone();
            let forms: Vec<String> = r["matchedForms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| format!("{} {}", f["form"].as_str().unwrap(), f["count"]))
                .collect();
            let total = r["totalCount"].as_i64().unwrap();
            if mode == "LEMMA" {
                lemma_total = total;
                for f in r["matchedForms"].as_array().unwrap() {
                    let form = f["form"].as_str().unwrap();
                    assert!(!never.contains(&form), "LEMMA {query} matched {form}");
                }
            } else {
                stem_total = total;
            }
            table.push_str(&format!(
                "{query} | {mode} | {total} | {}\n",
                forms.join(", ")
            ));
        }
        assert!(lemma_total > 0, "{query}: nothing in the documents");
        let _ = stem_total;
    }
    println!("{table}");
}
