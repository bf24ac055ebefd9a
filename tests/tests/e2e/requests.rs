//! What one request sees: the fields of a mutation document in order (named or not), each
//! reading what the previous wrote; a database failing under the token's lookup, which is the
//! server's fault, not the token's; text holding NUL, refused wherever it is written; and one
//! operation text, parsed once, serving calls with other variables; and a field that fails,
//! null in its place or, where the schema promises a value, in its nearest nullable ancestor's.

use serde_json::json;
use tests::{error_code, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_mutation_of_a_document_reads_what_the_previous_wrote() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let t = Some(admin.as_str());
    let corpus = server
        .corpus(&admin, "Sequenze", &["R: Là c’è l’unità più città."])
        .await;
    let (study, interview) = (&corpus.study, &corpus.interviews[0]["id"]);
    let mut codes = Vec::new();
    for name in ["Luogo", "Comunità"] {
        let code = server
            .ok(
                t,
                "mutation($s: ID!, $n: String!) { createCode(input: {studyId: $s, name: $n}) { id } }",
                json!({"s": study, "n": name}),
            )
            .await["createCode"]["id"]
            .clone();
        codes.push(code);
    }
    let q = server
        .ok(
            t,
            "mutation($i: ID!) { createQuotation(input: {interviewId: $i, start: 3, end: 5, codeIds: []}) { id } }",
            json!({"i": interview}),
        )
        .await["createQuotation"]["id"]
        .clone();
    let both = server
        .ok(
            t,
            "mutation($q: ID!, $a: ID!, $b: ID!) {
               a: updateQuotation(input: {id: $q, version: 1, codeIds: [$a]}) { version text codes { name } }
               b: updateQuotation(input: {id: $q, version: 2, start: 22, end: 27, codeIds: [$b]}) { version text codes { name } }
             }",
            json!({"q": q, "a": codes[0], "b": codes[1]}),
        )
        .await;
    assert_eq!(
        both["a"],
        json!({"version": 2, "text": "Là", "codes": [{"name": "Luogo"}]})
    );
    assert_eq!(
        both["b"],
        json!({"version": 3, "text": "città", "codes": [{"name": "Comunità"}]}),
        "the second field reads the second write, not the first one's cached rows"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_token_lookup_is_internal_not_a_bad_token() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    server.ok(Some(&admin), "{ me { name } }", json!({})).await;
    // The server's pool is closed under it, as when the database goes away.
    server.db.conn.close_by_ref().await.unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{}/graphql", server.url))
        .bearer_auth(&admin)
        .json(&json!({"query": "{ me { name } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body), "INTERNAL", "{body:#}");
    assert!(
        body["errors"][0]["extensions"]["logId"].is_string(),
        "{body:#}"
    );
    // Downloads too: 500, not 401.
    let resp = reqwest::Client::new()
        .get(format!("{}/studies/U3R1ZHk6MQ/quotations.csv", server.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
}

/// U+0000 is refused wherever it comes, in variables or written in the query, before any
/// write: PostgreSQL cannot store it (a database error, INTERNAL) and SQLite would keep it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_holding_nul_is_refused_before_it_reaches_the_database() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let t = Some(admin.as_str());
    let corpus = server.corpus(&admin, "Nul", &["R: è così."]).await;
    let create = "mutation($c: ID!, $t: String!) { createInterview(input: {caseId: $c, label: \"Int\", transcript: $t}) { id } }";
    let sent = server
        .gql(
            t,
            create,
            json!({"c": corpus.case, "t": "R: sì\u{0}, è così."}),
        )
        .await;
    assert_eq!(error_code(&sent), "BAD_USER_INPUT", "{sent:#}");
    assert!(sent.to_string().contains("NUL"), "{sent:#}");
    let written = server
        .gql(
            t,
            "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"Casa\\u0000\"}) { id } }",
            json!({"s": corpus.study}),
        )
        .await;
    assert_eq!(error_code(&written), "BAD_USER_INPUT", "{written:#}");
    let left = server
        .ok(
            t,
            "query($c: ID!) { node(id: $c) { ... on Case { interviews { totalCount } } } }",
            json!({"c": corpus.case}),
        )
        .await;
    assert_eq!(
        left["node"]["interviews"]["totalCount"], 1,
        "nothing written"
    );
}

/// A document holding one named mutation, sent without `operationName`, runs as the
/// mutation it is: each field reads what the previous wrote (not a query's cached rows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_mutation_runs_as_a_mutation_without_an_operation_name() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let corpus = server
        .corpus(&admin, "Nominata", &["R: Là c’è l’unità più città."])
        .await;
    let both = server
        .ok(
            Some(&admin),
            "mutation Due($i: ID!) {
               a: createQuotation(input: {interviewId: $i, start: 3, end: 5, codeIds: []}) { interview { quotations { totalCount } } }
               b: createQuotation(input: {interviewId: $i, start: 22, end: 27, codeIds: []}) { interview { quotations { totalCount } } }
             }",
            json!({"i": corpus.interviews[0]["id"]}),
        )
        .await;
    assert_eq!(both["a"]["interview"]["quotations"]["totalCount"], 1);
    assert_eq!(
        both["b"]["interview"]["quotations"]["totalCount"], 2,
        "the second field reads the second write: {both}"
    );
}

/// A variable's default is written in the query like any other value: U+0000 there is
/// refused too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_variable_default_holding_nul_is_refused() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let t = Some(admin.as_str());
    let corpus = server.corpus(&admin, "Nul", &["R: è così."]).await;
    let refused = server
        .gql(
            t,
            "mutation($s: ID!, $n: String = \"Casa\\u0000\") { createCode(input: {studyId: $s, name: $n}) { id } }",
            json!({"s": corpus.study}),
        )
        .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused:#}");
    assert!(refused.to_string().contains("NUL"), "{refused:#}");
    let codebook = server
        .ok(
            t,
            "query($s: ID!) { node(id: $s) { ... on Study { codebook { name } } } }",
            json!({"s": corpus.study}),
        )
        .await;
    assert_eq!(codebook["node"]["codebook"], json!([]), "nothing written");
}

/// Only the operation that runs decides whether a token is needed: an anonymous client may
/// run the query of a document that also holds a mutation, never the mutation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_request_is_refused_only_when_the_selected_operation_is_a_mutation() {
    let server = TestServer::empty().await;
    let document = "query Leggi { __typename }
                    mutation Scrivi { createStudy(input: {title: \"Città è nostra\"}) { id } }";
    let send = |operation: &'static str| {
        reqwest::Client::new()
            .post(format!("{}/graphql", server.url))
            .json(&json!({"query": document, "operationName": operation}))
            .send()
    };
    let read: serde_json::Value = send("Leggi").await.unwrap().json().await.unwrap();
    assert!(read.get("errors").is_none(), "{read:#}");
    assert!(read["data"]["__typename"].is_string(), "{read:#}");
    let write: serde_json::Value = send("Scrivi").await.unwrap().json().await.unwrap();
    assert_eq!(error_code(&write), "UNAUTHENTICATED", "{write:#}");
    // Two operations and none named: the server cannot tell which runs, and runs neither.
    let unnamed: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/graphql", server.url))
        .json(&json!({"query": document}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(unnamed["errors"].is_array(), "{unnamed:#}");
    let admin = server.admin().await;
    let studies = server
        .ok(Some(&admin), "{ studies { totalCount } }", json!({}))
        .await;
    assert_eq!(studies["studies"]["totalCount"], 0, "nothing written");
}

/// A page of `first: 0` asks for counts alone and has no `endCursor`: it must not say there is
/// a next page, or a client following `hasNextPage` with `after: endCursor` starts over from
/// the first page forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_page_of_search_or_concordance_has_no_next_page() {
    let server = TestServer::demo().await;
    let got = server
        .ok(
            None,
            "{ search(query: \"comunità\", first: 0) { totalCount edges { cursor } pageInfo { hasNextPage endCursor } }
               concordance(term: \"comunità\", first: 0) { totalCount edges { cursor } pageInfo { hasNextPage endCursor } } }",
            json!({}),
        )
        .await;
    for list in ["search", "concordance"] {
        let page = &got[list];
        assert!(page["totalCount"].as_i64().unwrap() > 0, "{got:#}");
        assert_eq!(page["edges"], json!([]), "{list}");
        assert_eq!(
            page["pageInfo"],
            json!({"hasNextPage": false, "endCursor": null}),
            "{list}"
        );
    }
    // A page with hits still says whether more follow.
    let one = server
        .ok(
            None,
            "{ search(query: \"comunità\", first: 1) { pageInfo { hasNextPage endCursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(one["search"]["pageInfo"]["hasNextPage"], true, "{one:#}");
}

/// Ambito codes of a search or quotation filter that name no ambito are refused, named: left
/// out, they would narrow the search to the others (or to nothing) and pass for fewer hits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ambito_codes_in_a_filter_are_refused_by_name() {
    let server = TestServer::demo().await;
    let query = "query($f: SearchFilter) { search(query: \"comunità\", filter: $f) { totalCount facets { ambiti { value count } } } }";
    let all = server.ok(None, query, json!({"f": null})).await;
    let ambito = all["search"]["facets"]["ambiti"][0].clone();
    assert!(ambito["value"].is_string(), "{all:#}");
    let known = server
        .ok(
            None,
            query,
            json!({"f": {"ambitoCodes": [ambito["value"]]}}),
        )
        .await;
    assert_eq!(known["search"]["totalCount"], ambito["count"]);
    for codes in [json!(["XX"]), json!([ambito["value"], "TYPO", "Città"])] {
        let refused = server
            .gql(None, query, json!({"f": {"ambitoCodes": codes}}))
            .await;
        assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused:#}");
        let message = refused["errors"][0]["message"].as_str().unwrap();
        for code in codes.as_array().unwrap() {
            let code = code.as_str().unwrap();
            assert_eq!(
                message.contains(&format!("\"{code}\"")),
                code != ambito["value"],
                "{code} in {message}"
            );
        }
    }
    let quotations =
        "query($f: QuotationFilter) { quotations(filter: $f, first: 1) { totalCount } }";
    let all = server.ok(None, quotations, json!({"f": null})).await;
    assert!(
        all["quotations"]["totalCount"].as_i64().unwrap() > 0,
        "{all:#}"
    );
    let known = server
        .ok(
            None,
            quotations,
            json!({"f": {"ambitoCodes": [ambito["value"]]}}),
        )
        .await;
    let (all, known) = (
        all["quotations"]["totalCount"].as_i64().unwrap(),
        known["quotations"]["totalCount"].as_i64().unwrap(),
    );
    assert!(0 < known && known < all, "{known} of {all}");
    let refused = server
        .gql(
            None,
            quotations,
            json!({"f": {"ambitoCodes": [ambito["value"], "TYPO"]}}),
        )
        .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused:#}");
    let message = refused["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("\"TYPO\""), "{message}");
}

/// The server keeps each operation's parsed document by its text: a second call of the same
/// text answers for its own variables and its own `operationName`, never the first call's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_operation_text_answers_each_call_for_its_own_variables() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let titles = ["Città", "Comunità"];
    let mut studies = Vec::new();
    for title in titles {
        studies.push(server.corpus(&admin, title, &[]).await.study);
    }
    let text = "query Titolo($s: ID!) { node(id: $s) { ... on Study { title } } } \
                query Quanti { studies { totalCount } }";
    let (url, token) = (server.url.as_str(), admin.as_str());
    let send = |body: serde_json::Value| async move {
        reqwest::Client::new()
            .post(format!("{url}/graphql"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    for (study, title) in studies.iter().zip(titles).cycle().take(4) {
        let named = json!({"query": text, "operationName": "Titolo", "variables": {"s": study}});
        let answer = send(named).await;
        assert_eq!(answer["data"]["node"]["title"], title, "{answer}");
    }
    let counted = send(json!({"query": text, "operationName": "Quanti"})).await;
    assert_eq!(counted["data"]["studies"]["totalCount"], 2, "{counted}");
    assert!(counted["data"].get("node").is_none(), "{counted}");
}

/// A field that fails is null, and a null where the schema promises a value nulls the
/// nearest field that may be null, up to `data` (the spec's "Handling Execution Errors"):
/// never a selected key left out, which a client generated from the schema reads as a
/// broken promise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_field_is_null_or_nulls_its_nearest_nullable_ancestor() {
    let server = TestServer::demo().await;
    let failed = |body: &serde_json::Value, path: serde_json::Value| {
        assert_eq!(error_code(body), "BAD_USER_INPUT", "{body:#}");
        assert_eq!(body["errors"][0]["path"], path, "{body:#}");
        assert_eq!(body["errors"].as_array().unwrap().len(), 1, "{body:#}");
    };
    // `ambito` may be null: it is, beside its sibling.
    let nullable = server
        .gql(
            None,
            "{ a: ambiti(first: 1) { totalCount } m: ambito(code: \"24\", at: \"2023-02-30\") { code } }",
            json!({}),
        )
        .await;
    failed(&nullable, json!(["m"]));
    assert_eq!(
        nullable["data"]["m"],
        serde_json::Value::Null,
        "{nullable:#}"
    );
    assert!(
        nullable["data"]["a"]["totalCount"].as_i64().unwrap() > 0,
        "{nullable:#}"
    );
    // `entiGestori` may not: nothing above it may be null but `data`.
    let root = server
        .gql(
            None,
            "{ a: ambiti(first: 1) { totalCount } e: entiGestori(first: -1) { totalCount } }",
            json!({}),
        )
        .await;
    failed(&root, json!(["e"]));
    assert_eq!(root["data"], serde_json::Value::Null, "{root:#}");
    // Through a fragment: `Study.cases` may not be null, `node` may.
    let studies = server
        .ok(None, "{ studies { edges { node { id } } } }", json!({}))
        .await;
    let study = &studies["studies"]["edges"][0]["node"]["id"];
    let nested = server
        .gql(
            None,
            "query($s: ID!) { a: ambiti(first: 1) { totalCount } n: node(id: $s) { id ...Casi } }
             fragment Casi on Study { title cases(first: -1) { totalCount } }",
            json!({"s": study}),
        )
        .await;
    failed(&nested, json!(["n", "cases"]));
    assert_eq!(nested["data"]["n"], serde_json::Value::Null, "{nested:#}");
    assert!(
        nested["data"]["a"]["totalCount"].as_i64().unwrap() > 0,
        "{nested:#}"
    );
}

/// A query reads through one connection, its snapshot's, and asks the pool for no other while
/// it holds it; the snapshot ends with the request. A mutation's answer reads a snapshot of
/// its own, which ends before the next field writes. On a pool of one connection, queries
/// reading at several levels, a search, an analysis (in the query's snapshot) and mutations
/// of two fields each reading its answer all run side by side and all answer: a request
/// waiting for a second connection, or one keeping its own, would leave the others waiting
/// for the pool's timeout (30 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_one_connection_serves_queries_and_writes_side_by_side() {
    use std::time::Duration;
    let server = TestServer::start(tests::Options {
        db_connections: 1,
        ..Default::default()
    })
    .await;
    let admin = server.admin().await;
    let t = Some(admin.as_str());
    let c = server
        .corpus(
            &admin,
            "Una sola",
            &["R: La casa è lontana, l’ente più vicino è a Cuneo."],
        )
        .await;
    let code = server
        .ok(
            t,
            "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"Casa\"}) { id } }",
            json!({"s": c.study}),
        )
        .await["createCode"]["id"]
        .clone();
    let interview = c.interviews[0]["id"].clone();
    const QUOTE: &str = "mutation($i: ID!, $c: ID!) { \
        a: createQuotation(input: {interviewId: $i, start: 6, end: 10, codeIds: [$c]}) { id interview { quotations(first: 100) { nodes { text } } } } \
        b: createQuotation(input: {interviewId: $i, start: 6, end: 10, codeIds: [$c]}) { id interview { quotations(first: 100) { nodes { text } } } } }";
    const READ: &str = "query($i: ID!) { node(id: $i) { ... on Interview { transcript case { label study { title } } quotations(first: 100) { nodes { text codes { name } } } } } }";
    const SEARCH: &str = "query { search(query: \"casa\") { totalCount edges { node { interview { id label } } } } }";
    const ANALYSIS: &str = "query($s: ID!) { codeCooccurrence(studyId: $s) { count } }";
    let vars = json!({"i": interview, "c": code, "s": c.study});
    let run = |query: &'static str, times: usize| {
        let (server, vars) = (&server, &vars);
        async move {
            for _ in 0..times {
                server.ok(t, query, vars.clone()).await;
            }
        }
    };
    let side_by_side = async {
        tokio::join!(
            run(QUOTE, 10),
            run(READ, 20),
            run(READ, 20),
            run(SEARCH, 20),
            run(ANALYSIS, 20)
        )
    };
    tokio::time::timeout(Duration::from_secs(20), side_by_side)
        .await
        .expect("every request answers without waiting for the pool's timeout");
    let read = server.ok(t, READ, vars.clone()).await;
    assert_eq!(
        read["node"]["quotations"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        20
    );
    assert_eq!(read["node"]["quotations"]["nodes"][0]["text"], "casa");
}

/// Queries cut off at any point by the request timeout leave nothing behind: each answers
/// TIMEOUT or its data, and their snapshots' connections go back to the pool. An analysis
/// read in a savepoint of the query's snapshot, dropped by the cut while another field held
/// the snapshot's connection, panicked in its rollback (the connection closed, no answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_cut_off_by_the_timeout_give_their_connections_back() {
    const CUT: &str = "query($s: ID!) { a: codeCooccurrence(studyId: $s) { count } b: codeCooccurrence(studyId: $s) { count } node(id: $s) { ... on Study { cases(first: 10) { nodes { label interviews(first: 10) { nodes { transcript quotations(first: 50) { nodes { text codes { name } } } } } } } } } }";
    let (mut answered, mut cut) = (0, 0);
    // Cut at every stage of the query, whatever the machine's speed.
    for timeout in [5, 10, 20, 40, 80] {
        let server = TestServer::start(tests::Options {
            limits: api::http::Limits {
                request_timeout: std::time::Duration::from_millis(timeout),
                ..Default::default()
            },
            db_connections: 2,
            demo: true,
        })
        .await;
        // Set up past the API, which answers little within the timeout: the demo's coded
        // study.
        let admin = server.admin().await;
        let coded = server
            .count(
                "SELECT min(study_id) FROM code WHERE id IN (SELECT code_id FROM quotation_code)",
            )
            .await;
        let study = api::graphql::ids::encode(api::graphql::ids::Kind::Study, coded);
        for _ in 0..12 {
            let r = server.gql(Some(&admin), CUT, json!({"s": study})).await;
            if r.get("errors").is_some() {
                assert_eq!(error_code(&r), "TIMEOUT", "{r}");
                cut += 1;
            } else {
                answered += 1;
            }
        }
        // Both connections are back: two statements at once do not wait for the pool.
        let count = "SELECT count(*) FROM quotation";
        let both = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            tokio::join!(server.count(count), server.count(count))
        })
        .await
        .expect("the pool's connections are free again");
        assert!(both.0 > 0 && both.0 == both.1);
    }
    eprintln!("{answered} answered, {cut} cut off");
    assert!(cut > 0);
}
