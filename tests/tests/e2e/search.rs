//! Full-text search: Italian analysis, operators, highlights that slice exactly the matched
//! words, search-then-code, facets that agree with totals, stable cursors, filters, bad
//! queries, access, concordance, and read-your-writes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashSet;

use api::search::{FacetSelection, Filter, SearchRequest};
use serde_json::{json, Value};
use tests::{error_code, id_number, TestServer};

/// Counts the bytes each thread allocates, so that a test can tell what a call builds
/// (`allocated_by`); it allocates through the system allocator.
struct Counting;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

fn count_allocation(bytes: usize) {
    // Not during the thread's teardown, when its counter is gone.
    let _ = ALLOCATED.try_with(|n| n.set(n.get() + bytes));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_allocation(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The bytes `f` allocates on this thread, and what it returns.
fn allocated_by<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = ALLOCATED.with(Cell::get);
    let out = f();
    (ALLOCATED.with(Cell::get) - before, out)
}

const SEARCH: &str = r#"
query($q: String!, $scope: SearchScope, $f: SearchFilter, $first: Int, $after: String, $fuzzy: Boolean) {
  search(query: $q, scope: $scope, filter: $f, first: $first, after: $after, fuzzy: $fuzzy) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { score start end snippet highlights { start end }
      interview { id label transcript } quotation { id text codes { name } } } }
    facets { cases { value label count } ambiti { value label count } interviews { value label count } codes { value label count } }
  }
}"#;

async fn search(server: &TestServer, token: Option<&str>, q: &str, extra: Value) -> Value {
    let mut vars = json!({"q": q, "first": 100});
    for (k, v) in extra.as_object().unwrap() {
        vars[k] = v.clone();
    }
    server.ok(token, SEARCH, vars).await["search"].clone()
}

fn slice(text: &str, start: i64, end: i64) -> String {
    text.chars()
        .skip(start as usize)
        .take((end - start) as usize)
        .collect()
}

/// Every highlight of every hit, as the text it slices from the transcript (lower-cased).
fn highlighted(results: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for e in results["edges"].as_array().unwrap() {
        let transcript = e["node"]["interview"]["transcript"].as_str().unwrap();
        let (ps, pe) = (
            e["node"]["start"].as_i64().unwrap(),
            e["node"]["end"].as_i64().unwrap(),
        );
        for h in e["node"]["highlights"].as_array().unwrap() {
            let (s, t) = (h["start"].as_i64().unwrap(), h["end"].as_i64().unwrap());
            assert!(ps <= s && t <= pe, "highlight outside its passage");
            out.push(slice(transcript, s, t).to_lowercase());
        }
    }
    out
}

/// A study with one case and interviews of the given texts; returns (token, study, case, ids).
async fn corpus(server: &TestServer, texts: &[&str]) -> (String, Value, Value, Vec<Value>) {
    let token = server.admin().await;
    let c = server.corpus(&token, "Corpus", texts).await;
    let ids = c.interviews.iter().map(|i| i["id"].clone()).collect();
    (token, c.study, c.case, ids)
}

#[tokio::test]
async fn italian_forms_elisions_and_accents_match_and_highlight_exactly() {
    let server = TestServer::demo().await;
    let cases: &[(&str, &[&str])] = &[
        ("pandemie", &["pandemia", "pandemie"]),
        ("progetti", &["progetto", "progetti"]),
        ("citta", &["città"]),
        ("ente", &["ente", "enti"]),
        ("non", &["non"]),
    ];
    for (query, forms) in cases {
        let r = search(&server, None, query, json!({})).await;
        assert!(
            r["totalCount"].as_i64().unwrap() > 0,
            "{query} found nothing"
        );
        let words: HashSet<String> = highlighted(&r).into_iter().collect();
        for w in &words {
            assert!(
                forms
                    .iter()
                    .any(|f| w.starts_with(&f.chars().take(5).collect::<String>())),
                "{query} highlighted {w:?}"
            );
        }
        assert!(
            words.iter().any(|w| forms.contains(&w.as_str())),
            "{query}: {words:?}"
        );
    }
    // `ente` is found inside "dell’ente" / "l’ente", and the highlight is the word alone.
    let r = search(&server, None, "ente", json!({})).await;
    let elided = r["edges"].as_array().unwrap().iter().any(|e| {
        let t = e["node"]["interview"]["transcript"].as_str().unwrap();
        e["node"]["highlights"].as_array().unwrap().iter().any(|h| {
            let s = h["start"].as_i64().unwrap();
            s >= 1 && matches!(slice(t, s - 1, s).as_str(), "’" | "'")
        })
    });
    assert!(elided, "no hit for ente after an apostrophe");
    assert!(highlighted(&r).iter().all(|w| w == "ente" || w == "enti"));
    // A phrase is highlighted as one span.
    let r = search(&server, None, "\"fasce grigie\"", json!({})).await;
    assert!(r["totalCount"].as_i64().unwrap() > 0);
    // A phrase matches its inflected forms too, and is highlighted as one span.
    let phrases = highlighted(&r);
    assert!(phrases.iter().any(|w| w == "fasce grigie"));
    assert!(
        phrases
            .iter()
            .all(|w| w.starts_with("fasc") && w.split(' ').count() == 2 && w.ends_with(['a', 'e'])),
        "{phrases:?}"
    );
    // Only stop words: an empty result, not an error.
    let r = search(&server, None, "di che per", json!({})).await;
    assert_eq!(r["totalCount"], 0);
}

#[tokio::test]
async fn operators_prefix_and_fuzzy() {
    let server = TestServer::empty().await;
    let (_token, _s, _c, _ids) = corpus(
        &server,
        &[
            "R: La casa popolare e il lavoro.",
            "R: Il lavoro manca, la casa no.",
            "R: Solo la casa, senza altro.",
            "R: La progettazione dei servizi; i progetti del consorzio.",
            "R: Un’assistente sociale parlava di anziani soli.",
        ],
    )
    .await;
    let count = |r: &Value| r["totalCount"].as_i64().unwrap();
    assert_eq!(
        count(&search(&server, Some(&server.admin().await), "casa", json!({})).await),
        3
    );
    let admin = server.admin().await;
    let t = Some(admin.as_str());
    assert_eq!(
        count(&search(&server, t, "casa lavoro", json!({})).await),
        2
    );
    assert_eq!(
        count(&search(&server, t, "casa AND lavoro", json!({})).await),
        2
    );
    assert_eq!(
        count(&search(&server, t, "casa OR anziani", json!({})).await),
        4
    );
    assert_eq!(
        count(&search(&server, t, "casa -lavoro", json!({})).await),
        1
    );
    assert_eq!(
        count(&search(&server, t, "casa NOT lavoro", json!({})).await),
        1
    );
    assert_eq!(
        count(&search(&server, t, "+casa +popolare", json!({})).await),
        1
    );
    assert_eq!(
        count(&search(&server, t, "(popolare OR manca) lavoro", json!({})).await),
        2
    );
    assert_eq!(
        count(&search(&server, t, "\"casa popolare\"", json!({})).await),
        1
    );
    assert_eq!(
        count(&search(&server, t, "\"popolare casa\"", json!({})).await),
        0
    );
    let prefix = search(&server, t, "progett*", json!({})).await;
    assert_eq!(count(&prefix), 1);
    let words: HashSet<String> = highlighted(&prefix).into_iter().collect();
    assert_eq!(
        words,
        HashSet::from(["progettazione".to_owned(), "progetti".to_owned()])
    );
    assert_eq!(count(&search(&server, t, "assistnte", json!({})).await), 0);
    let fuzzy = search(&server, t, "assistnte", json!({"fuzzy": true})).await;
    assert_eq!(count(&fuzzy), 1);
    assert_eq!(highlighted(&fuzzy), ["assistente"]);
}

/// A typo-tolerant word is ranked as a lone word is: the typed form first, then BM25 (its
/// hits all scored 1, in interview order); it reaches no stop word (`al`, `all` from
/// `ASL`), and a stop word typed finds nothing, as without `fuzzy`.
#[tokio::test]
async fn a_fuzzy_word_ranks_its_typed_form_first_and_reaches_no_stop_word() {
    let server = TestServer::empty().await;
    let (_token, _s, _c, _ids) = corpus(
        &server,
        &[
            "R: Il CISSA ha risposto subito.",
            "R: Siamo andati al mare, all’inizio.",
            "R: Il CISS e il CISSA insieme, il CISS soprattutto, il CISS prima di tutto.",
            "R: Il CISS.",
        ],
    )
    .await;
    let admin = server.admin().await;
    let t = Some(admin.as_str());
    let r = search(&server, t, "CISS", json!({"fuzzy": true})).await;
    let first: Vec<String> = r["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["snippet"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(r["totalCount"], 3, "{r:#}");
    assert!(
        !first[2].contains("CISS ") && first[2].contains("CISSA"),
        "{first:?}"
    );
    let scores: Vec<f64> = r["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["score"].as_f64().unwrap())
        .collect();
    assert!(scores[0] > scores[2], "{scores:?}");
    let asl = search(&server, t, "ASL", json!({"fuzzy": true})).await;
    assert_eq!(asl["totalCount"], 0, "{asl:#}");
    let stop = search(&server, t, "dei", json!({"fuzzy": true})).await;
    assert_eq!(stop["totalCount"], 0, "{stop:#}");
}

#[tokio::test]
async fn a_highlight_becomes_a_quotation_of_exactly_the_matched_text() {
    let server = TestServer::demo().await;
    let admin = server.admin().await;
    // `=` asks for this form only (the stem of "comunità" is shared with "comuni").
    let r = search(&server, Some(&admin), "=comunità", json!({})).await;
    let hit = &r["edges"][0]["node"];
    let h = &hit["highlights"][0];
    let transcript = hit["interview"]["transcript"].as_str().unwrap();
    let expected = slice(
        transcript,
        h["start"].as_i64().unwrap(),
        h["end"].as_i64().unwrap(),
    );
    assert_eq!(expected.to_lowercase(), "comunità");
    let code = server
        .ok(Some(&admin), "query($i: ID!) { node(id: $i) { ... on Interview { case { study { codebook { id } } } } } }", json!({"i": hit["interview"]["id"]}))
        .await["node"]["case"]["study"]["codebook"][0]["id"]
        .clone();
    let q = server
        .ok(
            Some(&admin),
            "mutation($i: ID!, $s: Int!, $e: Int!, $c: ID!) { createQuotation(input: {interviewId: $i, start: $s, end: $e, codeIds: [$c]}) { id text } }",
            json!({"i": hit["interview"]["id"], "s": h["start"], "e": h["end"], "c": code}),
        )
        .await["createQuotation"]
        .clone();
    assert_eq!(q["text"], expected);
    // The new quotation is searchable as soon as the mutation returns, and carries its code.
    let found = search(
        &server,
        Some(&admin),
        "=comunità",
        json!({"scope": "QUOTATIONS", "f": {"codeIds": [code]}}),
    )
    .await;
    let ids: Vec<&Value> = found["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"]["quotation"]["id"])
        .collect();
    assert!(ids.contains(&&q["id"]), "{found:#}");
    let facet_codes: i64 = found["facets"]["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_i64().unwrap())
        .max()
        .unwrap();
    assert!(facet_codes >= 1);
}

#[tokio::test]
async fn facets_agree_with_totals_and_cursors_walk_every_hit_once() {
    let server = TestServer::demo().await;
    for q in [
        "lavoro",
        "comune OR comuni",
        "famiglie",
        "\"centri famiglia\"",
    ] {
        let all = search(&server, None, q, json!({"first": 100})).await;
        let total = all["totalCount"].as_i64().unwrap();
        assert!(total > 0, "{q}");
        for facet in ["cases", "interviews"] {
            let sum: i64 = all["facets"][facet]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["count"].as_i64().unwrap())
                .sum();
            assert_eq!(sum, total, "{q}: {facet} facet counts do not add up");
        }
        let mut paged = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = search(&server, None, q, json!({"first": 3, "after": after})).await;
            assert_eq!(page["totalCount"], total);
            for e in page["edges"].as_array().unwrap() {
                paged.push((
                    e["node"]["interview"]["id"].clone(),
                    e["node"]["start"].clone(),
                ));
            }
            if page["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        }
        let whole: Vec<(Value, Value)> = all["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["node"]["interview"]["id"].clone(),
                    e["node"]["start"].clone(),
                )
            })
            .collect();
        assert_eq!(paged, whole, "{q}: pages differ from the single list");
    }
}

/// A facet list gives the values with the most hits first, as many as `first` asks (100
/// unless asked), and refuses a limit out of range.
#[tokio::test]
async fn facet_lists_are_ordered_by_hits_and_cut_at_first() {
    let server = TestServer::demo().await;
    let facets = |first: Value| {
        let server = &server;
        async move {
            server
                .gql(
                    None,
                    "query($n: Int!) { search(query: \"lavoro OR famiglie\") { facets { interviews(first: $n) { value count } all: interviews { value count } } } }",
                    json!({"n": first}),
                )
                .await
        }
    };
    let body = facets(json!(2)).await;
    let f = &body["data"]["search"]["facets"];
    let all = f["all"].as_array().unwrap();
    assert!(
        all.len() > 2,
        "the demo has more interviews with hits: {all:?}"
    );
    let counts: Vec<i64> = all.iter().map(|v| v["count"].as_i64().unwrap()).collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
    assert_eq!(f["interviews"].as_array().unwrap()[..], all[..2]);
    let none = facets(json!(0)).await;
    assert_eq!(none["data"]["search"]["facets"]["interviews"], json!([]));
    for bad in [json!(-1), json!(10_001)] {
        let refused = facets(bad.clone()).await;
        assert_eq!(
            error_code(&refused),
            "BAD_USER_INPUT",
            "first: {bad}: {refused}"
        );
    }
}

/// Only the facet lists a query selects are counted (each costs a map update per hit),
/// however the query selects them.
#[tokio::test]
async fn only_the_selected_facet_lists_are_counted() {
    let server = TestServer::demo().await;
    let request = |facets| SearchRequest {
        query: "lavoro OR famiglie".into(),
        limit: 0,
        facets,
        ..Default::default()
    };
    let cases_only = server
        .search
        .search(&request(FacetSelection {
            cases: true,
            ..Default::default()
        }))
        .unwrap();
    assert!(!cases_only.facets.cases.is_empty());
    assert!(cases_only.facets.interviews.is_empty());
    assert!(cases_only.facets.ambiti.is_empty());
    let all = server.search.search(&request(FacetSelection::ALL)).unwrap();
    assert_eq!(all.total, cases_only.total);
    assert_eq!(all.facets.cases, cases_only.facets.cases);
    assert!(!all.facets.interviews.is_empty());
    assert!(!all.facets.ambiti.is_empty());

    // Through GraphQL, a list selected in a fragment or under an alias is counted too.
    let body = server
        .ok(
            None,
            "{ search(query: \"lavoro OR famiglie\") { facets { ...Lists byCase: cases { count } } } } fragment Lists on SearchFacets { interviews { count } ambiti { count } }",
            json!({}),
        )
        .await;
    let facets = &body["search"]["facets"];
    let total = |list: &str| -> i64 {
        facets[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["count"].as_i64().unwrap())
            .sum()
    };
    assert_eq!(total("interviews") as usize, all.total);
    assert!(total("ambiti") > 0, "{facets}");
    assert_eq!(total("byCase") as usize, all.total);
}

#[tokio::test]
async fn filters_restrict_hits_and_counts() {
    let server = TestServer::demo().await;
    let all = search(&server, None, "lavoro", json!({})).await;
    let total = all["totalCount"].as_i64().unwrap();
    let case = &all["facets"]["cases"][0];
    let by_case = search(
        &server,
        None,
        "lavoro",
        json!({"f": {"caseIds": [case["value"]]}}),
    )
    .await;
    assert_eq!(by_case["totalCount"], case["count"]);
    let interview = &all["facets"]["interviews"][0];
    let by_interview = search(
        &server,
        None,
        "lavoro",
        json!({"f": {"interviewIds": [interview["value"]]}}),
    )
    .await;
    assert_eq!(by_interview["totalCount"], interview["count"]);
    if let Some(ambito) = all["facets"]["ambiti"].as_array().unwrap().first() {
        let by_ambito = search(
            &server,
            None,
            "lavoro",
            json!({"f": {"ambitoCodes": [ambito["value"]]}}),
        )
        .await;
        assert_eq!(by_ambito["totalCount"], ambito["count"]);
    }
    let early = search(
        &server,
        None,
        "lavoro",
        json!({"f": {"conductedTo": "2021-05-31"}}),
    )
    .await;
    let late = search(
        &server,
        None,
        "lavoro",
        json!({"f": {"conductedFrom": "2021-06-01"}}),
    )
    .await;
    assert_eq!(
        early["totalCount"].as_i64().unwrap() + late["totalCount"].as_i64().unwrap(),
        total
    );
    assert!(early["totalCount"].as_i64().unwrap() > 0 && late["totalCount"].as_i64().unwrap() > 0);
    // Codes: a parent code finds quotations coded with its children.
    let codebook = server
        .ok(
            None,
            "{ studies { edges { node { codebook { id name children { id } } } } } }",
            json!({}),
        )
        .await;
    let bisogni = codebook["studies"]["edges"][0]["node"]["codebook"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Bisogni")
        .unwrap()
        .clone();
    let parent = search(
        &server,
        None,
        "casa OR casi OR lavoro OR famiglie",
        json!({"scope": "QUOTATIONS", "f": {"codeIds": [bisogni["id"]]}}),
    )
    .await;
    let mut by_child = 0;
    for child in bisogni["children"].as_array().unwrap() {
        let r = search(
            &server,
            None,
            "casa OR casi OR lavoro OR famiglie",
            json!({"scope": "QUOTATIONS", "f": {"codeIds": [child["id"]]}}),
        )
        .await;
        by_child = by_child.max(r["totalCount"].as_i64().unwrap());
    }
    assert!(parent["totalCount"].as_i64().unwrap() >= by_child && by_child > 0);
    let wrong = server
        .gql(
            None,
            SEARCH,
            json!({"q": "casa", "f": {"codeIds": [bisogni["id"]]}}),
        )
        .await;
    assert_eq!(error_code(&wrong), "BAD_USER_INPUT");
}

#[tokio::test]
async fn bad_queries_get_bad_query_never_a_crash() {
    let server = TestServer::demo().await;
    let long = "parola ".repeat(1500);
    for q in [
        "\"fasce grigie",
        "AND",
        "casa OR",
        "-",
        "NOT",
        "(casa",
        "casa)",
        "campo:valore",
        "pro*gett",
        long.as_str(),
    ] {
        let r = server.gql(None, SEARCH, json!({"q": q})).await;
        assert_eq!(error_code(&r), "BAD_QUERY", "{q:.40}: {r}");
        assert!(!r["errors"][0]["message"].as_str().unwrap().is_empty());
    }
    for q in ["di per che", "casa\u{0007}lavoro", "   ", "🙂"] {
        let r = server.gql(None, SEARCH, json!({"q": q})).await;
        assert!(
            r.get("errors").is_none() || error_code(&r) == "BAD_QUERY",
            "{q:?}: {r}"
        );
    }
    // U+0000 is refused at the edge, as in any other text.
    let r = server
        .gql(None, SEARCH, json!({"q": "casa\u{0000}lavoro"}))
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
    // The server still answers.
    assert!(
        search(&server, None, "casa", json!({})).await["totalCount"]
            .as_i64()
            .unwrap()
            > 0
    );
}

#[tokio::test]
async fn a_private_study_leaves_no_trace_for_outsiders() {
    let server = TestServer::demo().await;
    let (token, study, _case, _ids) = corpus(
        &server,
        &["R: Il mirtillo rosso del bosco.", "R: Mirtilli ovunque."],
    )
    .await;
    let own = search(&server, Some(&token), "mirtillo", json!({})).await;
    assert_eq!(own["totalCount"], 2);
    let outsider = search(&server, None, "mirtillo", json!({})).await;
    assert_eq!(outsider["totalCount"], 0);
    for facet in ["cases", "ambiti", "interviews", "codes"] {
        assert_eq!(outsider["facets"][facet], json!([]), "{facet}");
    }
    let viewer_elsewhere = server.token("estranea", "viewer", Some(1)).await;
    let r = search(
        &server,
        Some(&viewer_elsewhere),
        "mirtillo",
        json!({"f": {"studyIds": [study]}}),
    )
    .await;
    assert_eq!(r["totalCount"], 0);
    let kwic = server
        .ok(
            None,
            "{ concordance(term: \"mirtillo\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(kwic["concordance"]["totalCount"], 0);
    assert!(id_number(study.as_str().unwrap()) > 1);
}

#[tokio::test]
async fn concordance_lists_every_occurrence_in_context() {
    let server = TestServer::demo().await;
    const KWIC: &str = "query($t: String!, $first: Int, $after: String) { concordance(term: $t, window: 30, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { start end left keyword right interview { id transcript } } } } }";
    let all = server
        .ok(None, KWIC, json!({"t": "pandemia", "first": 100}))
        .await["concordance"]
        .clone();
    let total = all["totalCount"].as_i64().unwrap();
    let hits = search(&server, None, "pandemia", json!({})).await;
    assert_eq!(
        total as usize,
        highlighted(&hits).len(),
        "one line per highlighted occurrence"
    );
    let mut last = (String::new(), -1);
    for e in all["edges"].as_array().unwrap() {
        let n = &e["node"];
        let t = n["interview"]["transcript"].as_str().unwrap();
        let (s, end) = (n["start"].as_i64().unwrap(), n["end"].as_i64().unwrap());
        assert_eq!(slice(t, s, end), n["keyword"].as_str().unwrap());
        assert!(n["keyword"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .starts_with("pandemi"));
        assert!(slice(t, 0, s).ends_with(n["left"].as_str().unwrap()));
        assert!(slice(t, end, end + 30).starts_with(n["right"].as_str().unwrap()));
        assert!(n["left"].as_str().unwrap().chars().count() <= 30);
        let key = (n["interview"]["id"].as_str().unwrap().to_owned(), s);
        assert!(key.0 != last.0 || key.1 > last.1, "not ordered by position");
        last = key;
    }
    let page = server
        .ok(None, KWIC, json!({"t": "pandemia", "first": 2}))
        .await["concordance"]
        .clone();
    let next = server
        .ok(
            None,
            KWIC,
            json!({"t": "pandemia", "first": 2, "after": page["pageInfo"]["endCursor"]}),
        )
        .await["concordance"]
        .clone();
    assert_eq!(
        next["edges"][0]["node"]["start"],
        all["edges"][2]["node"]["start"]
    );
}

#[tokio::test]
async fn edits_are_searchable_when_the_mutation_returns_and_commits_stay_batched() {
    let server = TestServer::empty().await;
    let (token, study, _case, ids) = corpus(
        &server,
        &["R: Nessuna parola speciale qui, solo testo comune e ancora testo."],
    )
    .await;
    let code = server
        .ok(
            Some(&token),
            "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"Tema\"}) { id } }",
            json!({"s": study}),
        )
        .await["createCode"]["id"]
        .clone();
    let q = server
        .ok(Some(&token), "mutation($i: ID!, $c: ID!) { createQuotation(input: {interviewId: $i, start: 3, end: 18, codeIds: [$c]}) { id version text } }", json!({"i": ids[0], "c": code}))
        .await["createQuotation"]
        .clone();
    assert_eq!(q["text"], "Nessuna parola ");
    let quotations = |r: Value| r["totalCount"].as_i64().unwrap();
    assert_eq!(
        quotations(
            search(
                &server,
                Some(&token),
                "parola",
                json!({"scope": "QUOTATIONS"})
            )
            .await
        ),
        1
    );
    server
        .ok(Some(&token), "mutation($id: ID!) { updateQuotation(input: {id: $id, version: 1, start: 43, end: 49}) { text } }", json!({"id": q["id"]}))
        .await;
    assert_eq!(
        quotations(
            search(
                &server,
                Some(&token),
                "parola",
                json!({"scope": "QUOTATIONS"})
            )
            .await
        ),
        0
    );
    assert_eq!(
        quotations(
            search(
                &server,
                Some(&token),
                "comune",
                json!({"scope": "QUOTATIONS"})
            )
            .await
        ),
        1
    );
    server
        .ok(
            Some(&token),
            "mutation($id: ID!) { deleteQuotation(id: $id, version: 2) }",
            json!({"id": q["id"]}),
        )
        .await;
    assert_eq!(
        quotations(
            search(
                &server,
                Some(&token),
                "comune",
                json!({"scope": "QUOTATIONS"})
            )
            .await
        ),
        0
    );
    // Two hundred single edits, each searchable at once, leave few segments.
    for n in 0..200 {
        server
            .ok(Some(&token), "mutation($i: ID!, $s: Int!) { createQuotation(input: {interviewId: $i, start: $s, end: 42, codeIds: []}) { id } }", json!({"i": ids[0], "s": n % 30}))
            .await;
    }
    assert_eq!(
        quotations(
            search(
                &server,
                Some(&token),
                "testo",
                json!({"scope": "QUOTATIONS"})
            )
            .await
        ),
        200
    );
    let segments = server.search.segment_count();
    assert!(segments <= 50, "{segments} segments after 200 single edits");
}

#[tokio::test]
async fn hits_name_their_interviews_from_the_index_and_read_the_rest_once() {
    let server = TestServer::empty().await;
    let (token, _study, _case, ids) = corpus(
        &server,
        &[
            "I: Com’è cambiata l’attività? R: La comunità è più unita, c’è più fiducia.",
            "I: E le famiglie? R: Più fiducia nei servizi, però l’attesa è lunga.",
            "R: Senza fiducia non si lavora: è così da quando è iniziato il progetto.",
        ],
    )
    .await;
    let t = Some(token.as_str());
    const HITS: &str = "query($q: String!) { search(query: $q) { totalCount edges { node { start interview { id label } } } } }";
    const COUNT: &str =
        "query($q: String!) { search(query: $q) { totalCount edges { node { start } } } }";
    const HEADS: &str = "query($q: String!) { search(query: $q) { edges { node { interview { id label length version case { label } } } } } }";
    let vars = json!({"q": "fiducia"});

    let statements = |query: &'static str| {
        let server = &server;
        let vars = vars.clone();
        async move {
            let before = server.statements().await;
            let data = server.ok(t, query, vars).await;
            (server.statements().await - before, data)
        }
    };
    let (bare, _) = statements(COUNT).await;
    let (named, data) = statements(HITS).await;
    assert_eq!(
        named,
        bare,
        "a page of hits named its interviews with {} more statements",
        named - bare
    );
    let mut labels: Vec<(String, String)> = data["search"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let i = &e["node"]["interview"];
            (
                i["id"].as_str().unwrap().into(),
                i["label"].as_str().unwrap().into(),
            )
        })
        .collect();
    labels.sort();
    let expected: Vec<(String, String)> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| (id.as_str().unwrap().into(), format!("Int. {}", n + 1)))
        .collect();
    assert_eq!(labels, expected);

    // Any other field reads the hits' interviews in one statement, and their cases in one.
    let (heads, data) = statements(HEADS).await;
    assert_eq!(heads, bare + 2, "{heads} statements against {bare}");
    for e in data["search"]["edges"].as_array().unwrap() {
        let i = &e["node"]["interview"];
        let n = server
            .ok(
                t,
                "query($id: ID!) { node(id: $id) { ... on Interview { label length version case { label } } } }",
                json!({"id": i["id"]}),
            )
            .await;
        for field in ["label", "length", "version", "case"] {
            assert_eq!(i[field], n["node"][field], "{field}");
        }
    }

    // A rename is in the hits once the mutation returns, in both scopes and the concordance.
    server
        .ok(
            t,
            "mutation($id: ID!) { updateInterview(input: {id: $id, version: 1, label: \"Int. 1 (responsabile d’area)\"}) { interview { label } } }",
            json!({"id": ids[0]}),
        )
        .await;
    server
        .ok(
            t,
            "mutation($i: ID!) { createQuotation(input: {interviewId: $i, start: 0, end: 40, codeIds: []}) { id } }",
            json!({"i": ids[0]}),
        )
        .await;
    let renamed = |data: &Value, list: &str| -> Vec<String> {
        data[list]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["node"]["interview"]["id"] == ids[0])
            .map(|e| e["node"]["interview"]["label"].as_str().unwrap().to_owned())
            .collect()
    };
    let passages = server.ok(t, HITS, vars.clone()).await;
    let quotations = server
        .ok(
            t,
            "query($q: String!) { search(query: $q, scope: QUOTATIONS) { edges { node { interview { id label } } } } }",
            json!({"q": "attività"}),
        )
        .await;
    let lines = server
        .ok(
            t,
            "query($q: String!) { concordance(term: $q) { edges { node { interview { id label } } } } }",
            vars.clone(),
        )
        .await;
    for (found, list) in [
        (&passages, "search"),
        (&quotations, "search"),
        (&lines, "concordance"),
    ] {
        let labels = renamed(found, list);
        assert!(
            !labels.is_empty(),
            "no hit of the renamed interview in {found}"
        );
        assert!(
            labels.iter().all(|l| l == "Int. 1 (responsabile d’area)"),
            "{labels:?}"
        );
    }
}

/// A cursor is the client's to forge: past the result window or negative it is refused, and
/// the server keeps answering. (A cursor far out once made tantivy reserve room for every hit
/// up to it, and the process aborted on the allocation.)
#[tokio::test]
async fn forged_search_cursors_are_refused_and_the_server_keeps_answering() {
    use base64::Engine as _;
    let server = TestServer::demo().await;
    let cursor = |raw: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("cursor:{raw}"))
    };
    for (raw, says) in [
        ("1000000000000", "10000"),
        ("9223372036854775807", "10000"),
        ("9999", "10000"),
        ("-1", "negative"),
        ("-9223372036854775808", "negative"),
    ] {
        let r = server
            .gql(
                None,
                SEARCH,
                json!({"q": "casa", "first": 20, "after": cursor(raw)}),
            )
            .await;
        assert_eq!(error_code(&r), "BAD_USER_INPUT", "{raw}: {r}");
        let message = r["errors"][0]["message"].as_str().unwrap().replace(',', "");
        assert!(message.contains(says), "{raw}: {message}");
    }
    // The last position of the window is still a page (of what is left of the window).
    let last = search(
        &server,
        None,
        "casa",
        json!({"first": 20, "after": cursor("9998")}),
    )
    .await;
    assert_eq!(last["edges"], json!([]));
    assert_eq!(last["pageInfo"]["hasNextPage"], false);

    // A concordance has no window (it reads every occurrence whatever the page), but a
    // negative cursor is refused there too.
    const KWIC: &str = "query($t: String!, $after: String) { concordance(term: $t, after: $after) { totalCount edges { cursor } } }";
    let r = server
        .gql(None, KWIC, json!({"t": "casa", "after": cursor("-2")}))
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
    let far = server
        .ok(
            None,
            KWIC,
            json!({"t": "casa", "after": cursor("9223372036854775807")}),
        )
        .await;
    assert_eq!(far["concordance"]["edges"], json!([]));
    assert!(far["concordance"]["totalCount"].as_i64().unwrap() > 0);

    // Still serving.
    assert!(
        search(&server, None, "casa", json!({})).await["totalCount"]
            .as_i64()
            .unwrap()
            > 0
    );
}

/// A group of exclusions restricts the conjunction it stands in (`casa (-affitto)` is
/// `casa -affitto`); it used to compile to nothing and be dropped, so the exclusion was
/// silently ignored. On one side of OR it excludes from nothing and is refused.
#[tokio::test]
async fn a_group_of_exclusions_excludes() {
    let server = TestServer::empty().await;
    let (token, _s, _c, _ids) = corpus(
        &server,
        &[
            "R: Cerchiamo una casa in affitto vicino al centro.",
            "R: La casa l'abbiamo comprata con il mutuo, vent'anni fa.",
            "R: Una casa popolare, finalmente, per tutta la famiglia.",
            "R: L'affitto è troppo alto per le famiglie giovani.",
        ],
    )
    .await;
    let t = Some(token.as_str());
    let count = |r: &Value| r["totalCount"].as_i64().unwrap();
    for (q, n) in [
        ("casa", 3),
        ("casa -affitto", 2),
        ("casa (-affitto)", 2),
        ("casa AND (NOT affitto)", 2),
        ("(NOT affitto) casa", 2),
        ("casa +(-affitto)", 2),
        ("casa (-affitto -mutuo)", 1),
        ("casa (NOT affitto NOT mutuo)", 1),
        ("casa ((-affitto) -mutuo)", 1),
        ("casa (-(affitto OR mutuo))", 1),
        // Stop words leave the group with exclusions alone: they still apply.
        ("casa (per -affitto)", 2),
        ("(casa OR famiglie) (-affitto)", 2),
        ("(casa (-mutuo)) OR famiglie", 3),
    ] {
        let r = search(&server, t, q, json!({})).await;
        assert_eq!(count(&r), n, "{q}: {r:#}");
    }
    // The excluded word is not a highlight.
    let r = search(&server, t, "casa (-mutuo)", json!({})).await;
    assert!(
        highlighted(&r).iter().all(|w| w == "casa"),
        "{:?}",
        highlighted(&r)
    );
    // Exclusions alone on a side of OR (or negated again) are explained, not ignored.
    for q in [
        "-affitto OR casa",
        "casa OR -affitto",
        "casa OR (NOT affitto)",
        "casa (mutuo OR -affitto)",
        "casa -(-affitto)",
    ] {
        let r = server.gql(t, SEARCH, json!({"q": q})).await;
        assert_eq!(error_code(&r), "BAD_QUERY", "{q}: {r}");
        let message = r["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("affitto"), "{q}: {message}");
    }
}

/// Occurrences of `word` (any case) in `text`, as code-point spans.
fn occurrences(text: &str, word: &str) -> Vec<(i64, i64)> {
    let chars: Vec<char> = text.to_lowercase().chars().collect();
    let word: Vec<char> = word.chars().collect();
    (0..chars.len().saturating_sub(word.len() - 1))
        .filter(|&i| chars[i..i + word.len()] == word[..])
        .map(|i| (i as i64, (i + word.len()) as i64))
        .collect()
}

/// An analyst reads a concordance line as the transcript: a keyword at the start of an
/// answer has the question before it, one at the end of a turn the next turn after it, and a
/// long paragraph the index cut in pieces reads on across the cut. The context comes from the
/// passages next to the line's, however short they are.
#[tokio::test]
async fn concordance_context_reads_across_turns_paragraphs_and_cuts() {
    let server = TestServer::empty().await;
    let long = "l’unità della comunità è già là, ".repeat(80);
    let long = long.trim_end();
    let transcript = format!(
        "INT: Sì.\nR: No.\nINT: Perché?\nR: Comunità.\nINT: E poi?\n\nUn paragrafo: comunità\n\n{long}\nINT: Però comunità"
    );
    let (token, _s, _c, ids) = corpus(&server, &[transcript.as_str()]).await;
    // The long paragraph is cut (as `search` hits show): one hit ends where the next starts.
    let hits = server
        .ok(
            Some(&token),
            "{ search(query: \"unità\", first: 100) { edges { node { start end } } } }",
            json!({}),
        )
        .await["search"]["edges"]
        .as_array()
        .unwrap()
        .len();
    assert!(hits >= 2, "the paragraph was not cut: {hits} passages");
    const KWIC: &str = "query($w: Int) { concordance(term: \"comunità\", window: $w, first: 1000) { totalCount edges { node { start end left keyword right interview { id } } } } }";
    let expected = occurrences(&transcript, "comunità");
    assert_eq!(expected.len(), 83);
    for window in [0, 7, 30, 200] {
        let lines =
            server.ok(Some(&token), KWIC, json!({"w": window})).await["concordance"].clone();
        assert_eq!(lines["totalCount"], 83);
        let lines = lines["edges"].as_array().unwrap();
        assert_eq!(lines.len(), expected.len());
        for (line, &(s, e)) in lines.iter().zip(&expected) {
            let n = &line["node"];
            assert_eq!(n["interview"]["id"], ids[0]);
            assert_eq!((n["start"].as_i64(), n["end"].as_i64()), (Some(s), Some(e)));
            assert_eq!(
                n["left"].as_str().unwrap(),
                slice(&transcript, (s - window).max(0), s),
                "left of {s} with window {window}"
            );
            assert_eq!(
                n["right"].as_str().unwrap(),
                slice(&transcript, e, e + window),
                "right of {e} with window {window}"
            );
        }
    }
    // Three turns before the fourth's keyword, whole.
    let first = server.ok(Some(&token), KWIC, json!({"w": 40})).await["concordance"]["edges"][0]
        ["node"]
        .clone();
    assert_eq!(first["left"], "INT: Sì.\nR: No.\nINT: Perché?\nR: ");
}

/// A concordance's first pass keeps only where each matching passage is and how many lines
/// it gives; the text of a line (context, keyword, label) is built for the page alone. Every
/// page is the corresponding part of the whole list, in interview and transcript order, and
/// the context a page asks for costs nothing for the lines before or after it.
#[tokio::test]
async fn concordance_pages_build_only_their_own_lines() {
    let server = TestServer::empty().await;
    let turn = |n: usize| {
        let phrase = [
            "la comunità è già là, ",
            "però la Comunità c’è: ",
            "una comunità più unita… ",
        ][n % 3];
        format!("R: {}fine.", phrase.repeat(40))
    };
    let transcripts: Vec<String> = (0..3)
        .map(|i| {
            (0..5)
                .map(|t| turn(i + t))
                .collect::<Vec<_>>()
                .join("\n\nINT: E poi?\n\n")
        })
        .collect();
    let texts: Vec<&str> = transcripts.iter().map(String::as_str).collect();
    let (token, _s, _c, ids) = corpus(&server, &texts).await;
    let t = Some(token.as_str());
    let expected: Vec<(String, i64, i64)> = ids
        .iter()
        .zip(&transcripts)
        .flat_map(|(id, text)| {
            occurrences(text, "comunità")
                .into_iter()
                .map(|(s, e)| (id.as_str().unwrap().to_owned(), s, e))
        })
        .collect();
    assert_eq!(expected.len(), 600);

    const KWIC: &str = "query($first: Int, $after: String) { concordance(term: \"comunità\", window: 30, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { start end left keyword right interview { id label } } } } }";
    let line = |n: &Value| -> (String, i64, i64) {
        (
            n["interview"]["id"].as_str().unwrap().to_owned(),
            n["start"].as_i64().unwrap(),
            n["end"].as_i64().unwrap(),
        )
    };
    let whole = server.ok(t, KWIC, json!({"first": 1000})).await["concordance"].clone();
    assert_eq!(whole["totalCount"], 600);
    let whole: Vec<Value> = whole["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    assert_eq!(whole.iter().map(line).collect::<Vec<_>>(), expected);
    for n in &whole {
        let (id, s, e) = line(n);
        let text = &transcripts[ids.iter().position(|i| i == id.as_str()).unwrap()];
        assert_eq!(n["keyword"].as_str().unwrap(), slice(text, s, e));
        // The context is the transcript's, across the turns' ends (a blank line between
        // them here, as the concordance shows it).
        let (left, right) = (n["left"].as_str().unwrap(), n["right"].as_str().unwrap());
        assert_eq!(left, slice(text, (s - 30).max(0), s));
        assert_eq!(right, slice(text, e, e + 30));
        assert!(n["interview"]["label"]
            .as_str()
            .unwrap()
            .starts_with("Int. "));
    }
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = server
            .ok(t, KWIC, json!({"first": 7, "after": after}))
            .await["concordance"]
            .clone();
        assert_eq!(page["totalCount"], 600);
        paged.extend(
            page["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"].clone()),
        );
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(paged, whole, "the pages differ from the whole list");

    // The same page with 500 characters of context each side, or none: only the page's
    // line is built, so they differ by that line's context alone. (Built for every line
    // before the page was cut, the context cost 600 lines' worth.)
    let page = |window| {
        server
            .search
            .concordance("comunità", &Filter::default(), window, 300, 1)
            .unwrap()
    };
    page(500);
    let (bare, (total, lines)) = allocated_by(|| page(0));
    assert_eq!((total, lines.len()), (600, 1));
    assert_eq!(lines[0].left, "");
    let (wide, (total, lines)) = allocated_by(|| page(500));
    assert_eq!((total, lines.len()), (600, 1));
    assert!(lines[0].left.chars().count() > 100);
    assert_eq!(
        (lines[0].start as i64, lines[0].end as i64),
        (expected[300].1, expected[300].2)
    );
    // The line's context reaches into the turns around its own, read from the document
    // store (a block decompressed for them); 600 lines' context is over 600 KB.
    let context = wide.saturating_sub(bare);
    assert!(
        context < 64 * 1024,
        "500 characters of context on one line allocated {context} bytes"
    );

    // The hits of a search over the same passages highlight each occurrence exactly.
    let hits = search(&server, t, "comunità", json!({})).await;
    assert_eq!(hits["totalCount"], 15);
    let words = highlighted(&hits);
    assert_eq!(words.len(), 600);
    assert!(words.iter().all(|w| w == "comunità"), "{words:?}");
}

/// A prefix on an elided or hyphenated word used to find nothing, silently, and to empty
/// any conjunction it stood in: its leading articles now drop as from any word, and the
/// rest is a phrase ending in the prefix. A `*` after no word is a BAD_QUERY.
#[tokio::test]
async fn prefixes_on_elided_and_hyphenated_words_find_their_words() {
    let server = TestServer::empty().await;
    let (token, _s, _c, _ids) = corpus(
        &server,
        &[
            "R: L’anziano vive solo; l’anziana sta con la figlia.",
            "R: Gli anziani del paese e le anziane sole.",
            "R: Il tavolo di co-progettazione è partito, però la co-progettazione chiede tempo.",
            "R: La progettazione dell’ente è in ritardo.",
        ],
    )
    .await;
    let t = Some(token.as_str());
    for (q, n, words) in [
        (
            "l’anzian*",
            2,
            &["anziano", "anziana", "anziani", "anziane"][..],
        ),
        ("l’anzian* sole", 1, &["anziani", "anziane", "sole"]),
        ("dell’ent* ritardo", 1, &["ente", "ritardo"]),
        ("co-progett*", 1, &["co-progettazione"]),
        ("co-progett* tempo", 1, &["co-progettazione", "tempo"]),
    ] {
        let r = search(&server, t, q, json!({})).await;
        assert_eq!(r["totalCount"], n, "{q}: {r:#}");
        let found: HashSet<String> = highlighted(&r).into_iter().collect();
        let want: HashSet<String> = words.iter().map(|w| w.to_string()).collect();
        assert_eq!(found, want, "{q}");
    }
    for q in ["co-*", "l’*", "l’a*"] {
        let r = server.gql(t, SEARCH, json!({"q": q})).await;
        assert_eq!(error_code(&r), "BAD_QUERY", "{q}: {r}");
        assert!(r["errors"][0]["message"].as_str().unwrap().contains('*'));
    }
}

const WITH_FORMS: &str = r#"
query($q: String!, $x: [String!], $fuzzy: Boolean, $m: MatchMode) {
  search(query: $q, excludeForms: $x, fuzzy: $fuzzy, match: $m, first: 100) {
    totalCount
    matchedForms { form count }
    edges { node { start end highlights { start end } interview { transcript } } }
  }
}"#;

/// `WITH_FORMS` for query `q`, with `vars` beside it.
async fn with_forms(server: &TestServer, token: &str, q: &str, vars: Value) -> Value {
    let mut v = json!({"q": q});
    for (k, x) in vars.as_object().unwrap() {
        v[k] = x.clone();
    }
    server.ok(Some(token), WITH_FORMS, v).await["search"].clone()
}

/// A form left out (`excludeForms`, `-form:`) is left out of phrases and typo-tolerant
/// words too, as of every word: they used to ignore it. A phrase then matches only
/// through the forms left, and a passage holding it through them still matches.
#[tokio::test]
async fn left_out_forms_are_left_out_of_phrases_and_typo_tolerant_words() {
    let server = TestServer::empty().await;
    let (token, _s, _c, _ids) = corpus(
        &server,
        &[
            "R: La casa popolare è lontana dal centro.\n\nR: Le case popolari sono poche, città per città.\n\nR: Case popolari qui, e una casa popolare là.",
            "R: La cosa più difficile è la casa.\n\nR: Una cassa comune per la comunità.\n\nR: Una cosa sola: più fiducia.",
        ],
    )
    .await;
    let run = |q: &'static str, vars: Value| with_forms(&server, &token, q, vars);
    let forms = |r: &Value| -> HashSet<String> {
        r["matchedForms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["form"].as_str().unwrap().to_owned())
            .collect()
    };
    let set = |w: &[&str]| -> HashSet<String> { w.iter().map(|w| w.to_string()).collect() };

    let all = run("\"casa popolare\"", json!({})).await;
    assert_eq!(all["totalCount"], 3);
    for r in [
        run("\"casa popolare\"", json!({"x": ["case"]})).await,
        run("\"casa popolare\" -form:case", json!({})).await,
        run("\"casa popolare\"~2", json!({"x": ["Case"]})).await,
    ] {
        assert_eq!(r["totalCount"], 2, "{r:#}");
        // Counted inside the phrase: "popolari", said elsewhere in a passage, is not.
        assert_eq!(forms(&r), set(&["casa", "popolare"]));
        assert!(highlighted(&r).iter().all(|w| w == "casa popolare"));
    }
    let r = run("\"casa popolare\"", json!({"x": ["casa", "case"]})).await;
    assert_eq!(r["totalCount"], 0);

    let fuzzy = run("casa", json!({"fuzzy": true})).await;
    assert_eq!(fuzzy["totalCount"], 6);
    // The forms a typo-tolerant word matched are listed too: what an analyst leaves out.
    assert_eq!(
        fuzzy["matchedForms"],
        json!([{"form": "casa", "count": 3}, {"form": "case", "count": 2}, {"form": "cosa", "count": 2}, {"form": "cassa", "count": 1}]),
        "{fuzzy:#}"
    );
    let r = run("casa", json!({"fuzzy": true, "x": ["cosa"]})).await;
    assert_eq!(r["totalCount"], 5, "{r:#}");
    let words: HashSet<String> = highlighted(&r).into_iter().collect();
    assert!(
        !words.contains("cosa") && words.contains("cassa"),
        "{words:?}"
    );
    assert!(!forms(&r).contains("cosa"));
    let r = run("casa -form:cosa -form:cassa", json!({"fuzzy": true})).await;
    assert_eq!(r["totalCount"], 4, "{r:#}");
}

/// A phrase's forms are counted inside its occurrences, as highlighted: they used to be
/// every form of each of its words anywhere in the passages found ("case" below).
#[tokio::test]
async fn phrase_forms_are_counted_inside_the_phrase() {
    let server = TestServer::empty().await;
    let (token, _s, _c, _ids) = corpus(
        &server,
        &["R: La casa popolare è bella, le case no.\n\nR: Le case popolari e la casa.\n\nR: Le case sono care."],
    )
    .await;
    let r = with_forms(&server, &token, "\"casa popolare\"", json!({})).await;
    assert_eq!(r["totalCount"], 2, "{r:#}");
    let mut forms = matched(&r);
    forms.sort();
    // Without the fix: casa 2 and case 2, each passage holding both.
    let once = |w: &str| (w.to_owned(), 1);
    assert_eq!(
        forms,
        [
            once("casa"),
            once("case"),
            once("popolare"),
            once("popolari")
        ]
    );
    // A word beside the phrase still counts in every hit.
    let r = with_forms(&server, &token, "\"casa popolare\" case", json!({})).await;
    assert!(matched(&r).contains(&("case".to_owned(), 2)), "{r:#}");
}

/// A phrase that begins or ends with a stop word keeps it (on the demo data): `"non è"`
/// used to find every "non", as many passages as LEMMA `non`.
#[tokio::test]
async fn a_phrase_keeps_its_stop_words_at_its_ends() {
    let server = TestServer::demo().await;
    let token = server.admin().await;
    let total = |q: &'static str, m: &'static str| {
        let (server, token) = (&server, &token);
        async move { with_forms(server, token, q, json!({"m": m})).await["totalCount"].clone() }
    };
    let exact = total("\"non è\"", "EXACT").await;
    assert!(exact.as_i64().unwrap() > 0);
    assert_eq!(total("\"non è\"", "LEMMA").await, exact);
    assert_ne!(
        total("\"non è\"", "LEMMA").await,
        total("non", "LEMMA").await
    );
    assert_ne!(
        total("\"idea era\"", "LEMMA").await,
        total("idea", "LEMMA").await
    );
    // As in EXACT, "è" is folded: "non e" is the phrase too.
    let r = with_forms(&server, &token, "\"non è\"", json!({})).await;
    assert!(
        highlighted(&r).iter().all(|w| w == "non è" || w == "non e"),
        "{r:#}"
    );
}

/// `matchedForms` reports the accented spellings of short forms ("sì", "è") however many
/// words sort between them and the form: a scan of 2,000 dictionary terms from the form's
/// beginning stopped before them.
#[tokio::test]
async fn matched_forms_keep_short_accented_spellings() {
    let server = TestServer::empty().await;
    // The scan read 2,000 terms of each index segment, and the writer spreads one commit
    // over up to four: enough words for more than 2,000 in each.
    let filler: Vec<String> = (0..12_000).map(|n| format!("s{n} e{n}")).collect();
    let transcript = format!(
        "R: {}\n\nR: Sì, è così: si vede e si sente.\n\nR: È vero, sì.\n\nR: Si e no.",
        filler.join(" ")
    );
    let (token, _s, _c, _ids) = corpus(&server, &[&transcript]).await;
    let t = Some(token.as_str());
    for (q, want) in [
        ("e", &[("e", 2), ("è", 2)][..]),
        ("si", &[("si", 2), ("sì", 2)]),
        ("cosi", &[("così", 1)]),
    ] {
        let r = server
            .ok(t, WITH_FORMS, json!({"q": q, "m": "EXACT"}))
            .await["search"]
            .clone();
        let mut found: Vec<(String, i64)> = r["matchedForms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["form"].as_str().unwrap().to_owned(),
                    f["count"].as_i64().unwrap(),
                )
            })
            .collect();
        found.sort();
        let want: Vec<(String, i64)> = want.iter().map(|(f, n)| (f.to_string(), *n)).collect();
        assert_eq!(found, want, "{q}");
    }
}

const EXACT_SEARCH: &str = r#"
query($q: String!, $f: SearchFilter) {
  search(query: $q, filter: $f, match: EXACT, first: 100) {
    totalCount edges { node { score } }
  }
}"#;

/// Scores say nothing about studies the caller cannot read: BM25's statistics (how many
/// documents hold a word, how long documents are) are counted over the caller's readable
/// documents. Otherwise a word's score in one's own study drops when private studies hold it,
/// and one could tell whether (and how often) a word occurs where one cannot read.
#[tokio::test]
async fn scores_do_not_depend_on_studies_the_caller_cannot_read() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let lobby = server
        .corpus(&admin, "Anticamera", &["R: Nulla di notevole qui."])
        .await;
    let lobby_no = id_number(lobby.study.as_str().unwrap());
    let user = server.token("ricercatrice", "viewer", Some(lobby_no)).await;
    let own = server.corpus(&user, "Mia", &["R: zzqxw rossi"]).await;
    let private = server
        .corpus(
            &admin,
            "Riservato",
            &[
                "R: Il signor rossi è arrivato.",
                "R: Ne parlava rossi, rossi soltanto.",
                "R: Poi rossi è ripartito.",
            ],
        )
        .await;
    let score = |word: &'static str| {
        let (server, user, study) = (&server, &user, own.study.clone());
        async move {
            let r = server
                .ok(
                    Some(user),
                    EXACT_SEARCH,
                    json!({"q": word, "f": {"studyIds": [study]}}),
                )
                .await["search"]
                .clone();
            assert_eq!(r["totalCount"], 1, "{word}: {r:#}");
            r["edges"][0]["node"]["score"].as_f64().unwrap()
        }
    };
    let (rare, shared) = (score("zzqxw").await, score("rossi").await);
    assert!(
        (rare - shared).abs() < 1e-6,
        "a word private studies also hold scores {shared}, one they do not {rare}"
    );
    for n in 0..5 {
        server
            .ok(
                Some(&admin),
                "mutation($c: ID!, $l: String!) { createInterview(input: {caseId: $c, label: $l, transcript: \"R: Ancora rossi, e rossi di nuovo.\"}) { id } }",
                json!({"c": private.case, "l": format!("Altro {n}")}),
            )
            .await;
    }
    let after = score("rossi").await;
    assert!(
        (after - shared).abs() < 1e-6,
        "the score moved from {shared} to {after} as a private study gained the word"
    );
    let everyone = server
        .ok(Some(&admin), EXACT_SEARCH, json!({"q": "rossi"}))
        .await["search"]
        .clone();
    assert_eq!(everyone["totalCount"], 9);
    assert!(everyone["edges"][0]["node"]["score"].as_f64().unwrap() > 0.0);
}

/// The (form, count) pairs of `matchedForms`.
fn matched(r: &Value) -> Vec<(String, i64)> {
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

/// In LEMMA mode stop words are left out before lemmatising, so "sono" and "fanno" are
/// never found as forms of essere or fare. They used to be listed in `matchedForms` (counted
/// in every hit saying "sono"), and a left-out form rewrote the word into the forms left,
/// these included: `essere -form:esserci` found every "sono", `fare -form:farlo` "fanno".
#[tokio::test]
async fn stop_words_are_no_forms_of_a_lemma() {
    let server = TestServer::empty().await;
    let (token, _s, _c, _ids) = corpus(
        &server,
        &[
            "R: Sono arrivati tardi e la casa è pronta.",
            "R: Loro fanno sempre così, e non cambia niente.",
            "R: Esserci sempre, per loro, conta.",
            "R: Bisogna fare presto e bene, in città.",
            "R: Essere presenti conta, sono d’accordo.",
            "R: Farlo insieme è più facile.",
        ],
    )
    .await;
    let t = Some(token.as_str());
    let run = |q: &'static str, m: &'static str| {
        let server = &server;
        async move {
            let r = server.ok(t, WITH_FORMS, json!({"q": q, "m": m})).await["search"].clone();
            let mut forms = matched(&r);
            forms.sort();
            (r, forms)
        }
    };
    let pairs = |w: &[(&str, i64)]| -> Vec<(String, i64)> {
        w.iter().map(|(f, n)| (f.to_string(), *n)).collect()
    };
    let (r, forms) = run("essere", "LEMMA").await;
    assert_eq!(r["totalCount"], 2, "{r:#}");
    assert_eq!(forms, pairs(&[("esserci", 1), ("essere", 1)]));
    let (r, forms) = run("essere -form:esserci", "LEMMA").await;
    assert_eq!(r["totalCount"], 1, "{r:#}");
    assert_eq!(highlighted(&r), ["essere"]);
    assert_eq!(forms, pairs(&[("essere", 1)]));
    let (r, forms) = run("fare -form:farlo", "LEMMA").await;
    assert_eq!(r["totalCount"], 1, "{r:#}");
    assert_eq!(highlighted(&r), ["fare"]);
    assert_eq!(forms, pairs(&[("fare", 1)]));
    // In EXACT mode the stop words are words like any other.
    let (_, forms) = run("e", "EXACT").await;
    assert_eq!(forms, pairs(&[("e", 3), ("è", 2)]));
}

/// `matchedForms` counts every form before keeping the most frequent: it used to keep the
/// first 200 found and count those, so a prefix's expansions filled the list, the other
/// words' forms were never counted, and the list depended on the order of the words.
#[tokio::test]
async fn matched_forms_count_every_form_before_cutting() {
    let server = TestServer::empty().await;
    // Three interviews of one passage each (a passage is at most 2,000 characters).
    let many: Vec<String> = (0..250).map(|n| format!("progettazione{n:03}")).collect();
    let mut texts: Vec<String> = many
        .chunks(84)
        .map(|words| format!("R: La casa della città: {}.", words.join(" ")))
        .collect();
    texts.push("R: Le case popolari e la progettazione000, i progetti partecipati.".into());
    texts.push("R: Una casa, però senza progetti.".into());
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (token, _s, _c, _ids) = corpus(&server, &texts).await;
    let t = Some(token.as_str());
    let mut lists = Vec::new();
    for q in ["progett* casa", "casa progett*"] {
        let r = server.ok(t, WITH_FORMS, json!({"q": q})).await["search"].clone();
        assert_eq!(r["totalCount"], 5, "{q}");
        let forms = matched(&r);
        assert_eq!(forms.len(), 200, "{q}");
        for want in [
            ("casa", 4),
            ("case", 1),
            ("progettazione000", 2),
            ("progetti", 2),
        ] {
            assert!(
                forms.contains(&(want.0.to_owned(), want.1)),
                "{q}: {want:?} not in {:?}",
                &forms[..6]
            );
        }
        assert!(forms.windows(2).all(|w| w[0].1 >= w[1].1), "{q}");
        lists.push(forms);
    }
    assert_eq!(lists[0], lists[1]);
}

/// A phrase's forms are read off its results' text, at most 10,000 of them: beyond, the
/// counts are those of the results read, and `matchedFormsComplete` says the list is not
/// whole. Every result was read before, however many a common phrase had on a large corpus.
#[tokio::test]
async fn a_phrase_s_forms_are_counted_in_at_most_ten_thousand_results() {
    let server = TestServer::empty().await;
    // One passage per turn: 10,001 of the phrase, in two forms, and three of another.
    let mut text: String = (0..10_001)
        .map(|n| {
            if n % 2 == 0 {
                "R: la casa popolare.\n"
            } else {
                "R: le case popolari.\n"
            }
        })
        .collect();
    text.push_str(&"R: il quartiere nuovo è là.\n".repeat(3));
    let (token, _s, _c, _ids) = corpus(&server, &[&text]).await;
    const FORMS: &str = "query($q: String!) { search(query: $q, first: 1) { totalCount matchedForms { form count } matchedFormsComplete } }";
    let t = Some(token.as_str());
    let common = server.ok(t, FORMS, json!({"q": "\"casa popolare\""})).await["search"].clone();
    assert_eq!(common["totalCount"], 10_001);
    assert_eq!(common["matchedFormsComplete"], false);
    let forms = matched(&common);
    let count = |form: &str| forms.iter().find(|(f, _)| f == form).map_or(0, |f| f.1);
    // Each result read holds one form of each word.
    assert_eq!(count("casa") + count("case"), 10_000, "{forms:?}");
    assert_eq!(count("popolare") + count("popolari"), 10_000, "{forms:?}");
    assert!(count("case") > 0 && count("casa") > 0, "{forms:?}");
    // Asked for alone, the flag still reads the phrase's results to know.
    let alone = server
        .ok(
            t,
            "query($q: String!) { search(query: $q, first: 0) { matchedFormsComplete } }",
            json!({"q": "\"casa popolare\""}),
        )
        .await;
    assert_eq!(alone["search"]["matchedFormsComplete"], false);
    let rare = server
        .ok(t, FORMS, json!({"q": "\"quartiere nuovo\""}))
        .await["search"]
        .clone();
    assert_eq!(rare["matchedFormsComplete"], true);
    assert_eq!(
        matched(&rare),
        [("nuovo".to_owned(), 3), ("quartiere".to_owned(), 3)]
    );
}

/// A phrase with slop matches its words in either order, as tantivy matches it: such a
/// hit used to have no highlight (its snippet fell back to the passage's start) and the
/// concordance left it out, so that it counted fewer lines than search highlighted.
#[tokio::test]
async fn a_sloppy_phrase_in_reverse_order_is_highlighted_and_in_the_concordance() {
    let server = TestServer::empty().await;
    let (token, _s, _c, _ids) = corpus(
        &server,
        &[
            "R: La casa popolare è lontana dal centro.",
            "R: Popolare casa? Così dicono in città, però.",
            "R: Una casa, poi la vita popolare di quartiere.",
        ],
    )
    .await;
    let t = Some(token.as_str());
    const KWIC: &str = "query($t: String!) { concordance(term: $t, first: 100) { totalCount edges { node { keyword } } } }";
    for (q, n, words) in [
        (
            "\"casa popolare\"~2",
            2,
            &["casa popolare", "popolare casa"][..],
        ),
        (
            "\"casa popolare\"~3",
            3,
            &[
                "casa popolare",
                "popolare casa",
                "casa, poi la vita popolare",
            ],
        ),
    ] {
        let r = search(&server, t, q, json!({})).await;
        assert_eq!(r["totalCount"], n, "{q}");
        let mut found = highlighted(&r);
        found.sort();
        let mut want: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        want.sort();
        assert_eq!(found, want, "{q}");
        for e in r["edges"].as_array().unwrap() {
            let snippet = e["node"]["snippet"].as_str().unwrap().to_lowercase();
            assert!(snippet.contains("casa"), "{q}: {snippet}");
        }
        let kwic = server.ok(t, KWIC, json!({"t": q})).await["concordance"].clone();
        assert_eq!(kwic["totalCount"], n, "{q}: {kwic:#}");
        let mut lines: Vec<String> = kwic["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["keyword"].as_str().unwrap().to_lowercase())
            .collect();
        lines.sort();
        assert_eq!(lines, want, "{q}");
    }
}

/// A typo-tolerant elided or hyphenated word: its article drops (`l` one edit away matched
/// and highlighted every short word, and `dell’assistente` needed a word like "del"), and
/// its parts stay together (they were each required anywhere in the passage).
#[tokio::test]
async fn typo_tolerant_elided_and_hyphenated_words_stay_one_word() {
    let server = TestServer::empty().await;
    let (token, _s, _c, _ids) = corpus(
        &server,
        &[
            "R: L’anziano vive da solo, e la figlia è lontana.",
            "R: L’assistente sociale è arrivata tardi.",
            "R: La progettazione del comune: co-working e altro.",
            "R: La co-progettazione è partita; le co-progettazioni pure.",
        ],
    )
    .await;
    let t = Some(token.as_str());
    let fuzzy = json!({"fuzzy": true});
    for (q, words) in [
        ("l’anziano", &["anziano"][..]),
        ("dell’assistente", &["assistente"]),
        (
            "co-progettazione",
            &["co-progettazione", "co-progettazioni"],
        ),
    ] {
        let r = search(&server, t, q, fuzzy.clone()).await;
        assert_eq!(r["totalCount"], 1, "{q}: {r:#}");
        assert_eq!(highlighted(&r), words, "{q}");
    }
}

/// Lucene's syntax where this language has none is a BAD_QUERY that says what to write,
/// never silently misread: `*` inside quotes was dropped, `casa~1` searched the phrase
/// "casa 1", and `~2` after a space the word "2". A left-out form of several words
/// (`co-progettazione`) is refused too: each of its words was left out on its own, so that
/// "progettazione" itself was.
#[tokio::test]
async fn lucene_marks_and_compound_forms_are_bad_queries() {
    let server = TestServer::empty().await;
    let (token, _s, _c, _ids) = corpus(
        &server,
        &[
            "R: La progettazione è lenta; la co-progettazione è partita.",
            "R: L’anziana è sola, l’anziano no.",
        ],
    )
    .await;
    let t = Some(token.as_str());
    for (q, says) in [
        ("\"casa popolar*\"", "quotes"),
        ("casa~", "fuzzy: true"),
        ("casa~1", "fuzzy: true"),
        ("\"casa popolare\" ~2", "\"casa popolare\"~2"),
        (
            "progettazione -form:co-progettazione",
            "-\"co-progettazione\"",
        ),
    ] {
        let r = server.gql(t, SEARCH, json!({"q": q})).await;
        assert_eq!(error_code(&r), "BAD_QUERY", "{q}: {r}");
        let message = r["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(says), "{q}: {message}");
    }
    let r = server
        .gql(
            t,
            WITH_FORMS,
            json!({"q": "progettazione", "x": ["co-progettazione"]}),
        )
        .await;
    assert_eq!(error_code(&r), "BAD_QUERY", "{r}");
    // An elided article before a form drops: the form is the word.
    let r = server
        .ok(t, WITH_FORMS, json!({"q": "anziano", "x": ["l’anziana"]}))
        .await["search"]
        .clone();
    assert_eq!(r["totalCount"], 1);
    assert_eq!(highlighted(&r), ["anziano"]);
}

/// A lone word among at most one id per filter runs on the request's thread when its bound
/// allows (`search_if_small`), with the very results of the blocking pool's search, and
/// every other search is left to the pool. The bound is never below the postings the search
/// must read: every hit is one of them, and is counted in each facet list (the exact bound
/// is the next test's).
#[tokio::test]
async fn small_searches_run_in_place_with_the_same_results_and_others_are_left_to_the_pool() {
    let server = TestServer::demo().await;
    let all = search(&server, None, "lavoro", json!({})).await;
    let case = id_number(all["facets"]["cases"][0]["value"].as_str().unwrap());
    let studies: Vec<i64> = server
        .ok(None, "{ studies(first: 100) { nodes { id } } }", json!({}))
        .await["studies"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| id_number(s["id"].as_str().unwrap()))
        .collect();
    let one_case = Filter {
        case_ids: Some(vec![case]),
        ..Default::default()
    };
    let as_viewer = Filter {
        study_ids: Some(studies),
        statistics_of_these_studies: true,
        ..one_case.clone()
    };
    let request = |query: &str, filter: &Filter| SearchRequest {
        query: query.into(),
        filter: filter.clone(),
        limit: 20,
        facets: FacetSelection::ALL,
        ..Default::default()
    };
    let summary = |out: &api::search::SearchOutput| {
        let hits: Vec<_> = out
            .hits
            .iter()
            .map(|h| (h.score, h.interview_id, h.start, h.highlights.clone()))
            .collect();
        (out.total, hits, format!("{:?}", out.facets))
    };
    for (query, filter) in [
        ("lavoro", &Filter::default()),
        ("lavoro", &one_case),
        ("=lavoro", &one_case),
        ("lavoro", &as_viewer),
    ] {
        let req = request(query, filter);
        // The pool's search counts the statistics' totals, which the small one only reads.
        let pooled = server.search.search(&req).unwrap();
        assert!(pooled.total > 0, "{query} {filter:?}");
        let small = server
            .search
            .search_if_small(&req, u64::MAX)
            .unwrap()
            .unwrap_or_else(|| panic!("{query} {filter:?} is small"));
        assert_eq!(summary(&small), summary(&pooled), "{query} {filter:?}");
        // Each hit is read, and counted in three facet lists (codes are for quotations).
        let page = 20 * api::search::WORK_PER_HIT;
        let below_the_hits = page + 4 * pooled.total as u64 - 1;
        assert!(
            server
                .search
                .search_if_small(&req, below_the_hits)
                .unwrap()
                .is_none(),
            "{query} {filter:?}: a bound under the hits"
        );
        assert!(server
            .search
            .search_if_small(&req, api::search::INLINE_WORK)
            .unwrap()
            .is_some());
    }
    let two_cases = Filter {
        case_ids: Some(vec![case, case + 1]),
        ..Default::default()
    };
    let dated = Filter {
        conducted_to: chrono::NaiveDate::from_ymd_opt(2030, 1, 1),
        ..Default::default()
    };
    let mut others = vec![
        request("lavor*", &one_case),
        request("\"il lavoro\"", &one_case),
        request("lavoro famiglie", &one_case),
        request("lavoro OR famiglie", &one_case),
        request("lavoro", &two_cases),
        request("lavoro", &dated),
    ];
    others.push(SearchRequest {
        fuzzy: true,
        ..request("lavoro", &one_case)
    });
    others.push(SearchRequest {
        with_forms: true,
        ..request("lavoro", &one_case)
    });
    others.push(SearchRequest {
        exclude_forms: vec!["lavori".into()],
        ..request("lavoro", &one_case)
    });
    for req in others {
        server.search.search(&req).unwrap();
        assert!(
            server
                .search
                .search_if_small(&req, u64::MAX)
                .unwrap()
                .is_none(),
            "{req:?} is not known small"
        );
    }
}

/// Where a small search reads nothing but the word's postings (one case holding every
/// passage, as an admin, no quotations), its bound is exact: each hit, once more per facet
/// list, and the page. Accents and elisions are the word's forms as anywhere.
#[tokio::test]
async fn a_small_search_s_bound_counts_its_hits_its_facet_lists_and_its_page() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let corpus = server
        .corpus(
            &admin,
            "Ascolti",
            &[
                "R: Un ascolto attento, perché è lì che si capisce.\n\nINT: E poi?\n\nR: Ancora ascolto, più vicino alla città.",
                "R: L’ascolto è tutto, dicono all’ente.",
                "R: Qui nulla di simile.",
            ],
        )
        .await;
    let case = id_number(corpus.case.as_str().unwrap());
    let page = 20 * api::search::WORK_PER_HIT;
    for (facets, lists) in [(FacetSelection::default(), 0), (FacetSelection::ALL, 3)] {
        let req = SearchRequest {
            query: "ascolto".into(),
            filter: Filter {
                case_ids: Some(vec![case]),
                ..Default::default()
            },
            limit: 20,
            facets,
            ..Default::default()
        };
        let hits = server.search.search(&req).unwrap().total as u64;
        assert!(hits >= 3, "{hits}");
        let bound = hits * (1 + lists) + page;
        let small = |most| server.search.search_if_small(&req, most).unwrap();
        assert_eq!(small(bound).map(|out| out.total as u64), Some(hits));
        assert!(small(bound - 1).is_none(), "{lists} lists: {bound}");
    }
}

/// In STEM mode the forms of "emergenza" are listed and can be left out, although Snowball's
/// stem of it (`emergent`) is no prefix of it; and a stop word typed without its accent, as
/// transcribers do ("perche'", "piu"), is a stop word like the accented one, not a word
/// found only in its unaccented spellings.
#[tokio::test]
async fn stem_forms_of_enza_words_and_unaccented_stop_words() {
    let server = TestServer::empty().await;
    let (token, _s, _c, _ids) = corpus(
        &server,
        &[
            "R: L’emergenza è finita.\n\nR: Le emergenze sono tante.\n\nR: Un servizio emergente.",
            "R: Non lo so perché. Perche' no? Perche no.\n\nR: Ce n’è di più, di piu' e di piu.",
        ],
    )
    .await;
    let run = |q: &'static str, vars: Value| with_forms(&server, &token, q, vars);
    let forms = |r: &Value| -> Vec<String> {
        let mut f: Vec<String> = r["matchedForms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["form"].as_str().unwrap().to_owned())
            .collect();
        f.sort();
        f
    };
    let stem = run("emergenza", json!({"m": "STEM"})).await;
    assert_eq!(stem["totalCount"], 3, "{stem:#}");
    assert_eq!(forms(&stem), ["emergente", "emergenza", "emergenze"]);
    let left_out = run(
        "emergenza",
        json!({"m": "STEM", "x": ["emergenza", "emergente"]}),
    )
    .await;
    assert_eq!(left_out["totalCount"], 1, "{left_out:#}");
    assert_eq!(forms(&left_out), ["emergenze"]);

    for q in ["perché", "perche", "più", "piu"] {
        let r = run(q, json!({})).await;
        assert_eq!(r["totalCount"], 0, "{q}: a stop word, however typed: {r:#}");
    }
    // Searched as written, every spelling is there.
    let exact = run("perche", json!({"m": "EXACT"})).await;
    assert_eq!(exact["totalCount"], 1);
    assert_eq!(highlighted(&exact).len(), 3, "{exact:#}");
}
