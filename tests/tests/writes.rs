//! Writes: validation, code-point offsets, versions, tokens, atomicity and concurrency.

use futures::future::join_all;
use serde_json::{json, Value};
use tests::{error_code, id_number, TestServer};

/// Italian text with accents, curly apostrophes, a dash and an emoji (outside the BMP).
const TRANSCRIPT: &str =
    "INT: Com’è andata?\n\nR: Sì, la città è più unita — l’ente c’è 🙂 davvero, perché è così.";

struct Fixture {
    server: TestServer,
    admin: String,
    study: Value,
    case: Value,
    interview: Value,
    code: Value,
}

async fn fixture() -> Fixture {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let study = server
        .ok(Some(&admin), r#"mutation { createStudy(input: {title: "Scritture", authors: ["A. Rossi"], year: 2024, researchQuestions: ["Chi?"]}) { id authors year researchQuestions public } }"#, json!({}))
        .await["createStudy"]
        .clone();
    assert_eq!(study["authors"], json!(["A. Rossi"]));
    assert_eq!(study["public"], false);
    let case = server
        .ok(Some(&admin), "mutation($s: ID!) { createCase(input: {studyId: $s, label: \"Caso\"}) { id label study { id } } }", json!({"s": study["id"]}))
        .await["createCase"]
        .clone();
    let interview = server
        .ok(
            Some(&admin),
            "mutation($c: ID!, $t: String!) { createInterview(input: {caseId: $c, label: \"Int. 1\", transcript: $t, conductedOn: \"2021-05-12\", intervieweeRole: \"direttrice\"}) { id length language conductedOn } }",
            json!({"c": case["id"], "t": TRANSCRIPT}),
        )
        .await["createInterview"]
        .clone();
    let code = server
        .ok(Some(&admin), "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"Territorio\", color: \"#1f77b4\"}) { id color path } }", json!({"s": study["id"]}))
        .await["createCode"]
        .clone();
    Fixture {
        server,
        admin,
        study: study["id"].clone(),
        case: case["id"].clone(),
        interview,
        code,
    }
}

const CREATE_QUOTATION: &str = "mutation($i: ID!, $s: Int!, $e: Int!, $c: [ID!]!) { createQuotation(input: {interviewId: $i, start: $s, end: $e, codeIds: $c, memo: \"nota\"}) { id start end text version memo coder { name } codes { name } } }";

/// Code-point span of `needle` in TRANSCRIPT.
fn span(needle: &str) -> (usize, usize) {
    let b = TRANSCRIPT.find(needle).unwrap();
    let start = TRANSCRIPT[..b].chars().count();
    (start, start + needle.chars().count())
}

#[tokio::test]
async fn quotation_offsets_are_code_points_on_accented_text() {
    let f = fixture().await;
    assert_eq!(f.interview["length"], TRANSCRIPT.chars().count());
    assert_ne!(
        TRANSCRIPT.chars().count(),
        TRANSCRIPT.len(),
        "the text must have multi-byte characters"
    );
    assert_eq!(f.interview["language"], "it");
    assert_eq!(f.interview["conductedOn"], "2021-05-12");
    for needle in [
        "città",
        "l’ente c’è 🙂",
        "🙂",
        "— l’",
        "perché è così.",
        "Com’è",
    ] {
        let (s, e) = span(needle);
        let q = f
            .server
            .ok(
                Some(&f.admin),
                CREATE_QUOTATION,
                json!({"i": f.interview["id"], "s": s, "e": e, "c": [f.code["id"]]}),
            )
            .await["createQuotation"]
            .clone();
        assert_eq!(q["text"], needle);
        assert_eq!(
            (
                q["start"].as_u64().unwrap() as usize,
                q["end"].as_u64().unwrap() as usize
            ),
            (s, e)
        );
        assert_eq!(q["version"], 1);
        assert_eq!(q["coder"]["name"], "admin");
        let slice = f
            .server
            .ok(None, "query($i: ID!, $s: Int, $e: Int) { node(id: $i) { ... on Interview { transcript(start: $s, end: $e) } } }", json!({"i": f.interview["id"], "s": s, "e": e}))
            .await;
        // Anonymous callers cannot read a private study's interview.
        assert_eq!(slice["node"], Value::Null);
        let slice = f
            .server
            .ok(Some(&f.admin), "query($i: ID!, $s: Int, $e: Int) { node(id: $i) { ... on Interview { transcript(start: $s, end: $e) } } }", json!({"i": f.interview["id"], "s": s, "e": e}))
            .await;
        assert_eq!(slice["node"]["transcript"], needle);
    }
}

#[tokio::test]
async fn bad_input_gets_clear_codes_and_writes_nothing() {
    let f = fixture().await;
    let len = TRANSCRIPT.chars().count() as i64;
    let i = &f.interview["id"];
    let c = &f.code["id"];
    for (s, e) in [(5, 5), (6, 2), (-1, 4), (0, len + 1), (len, len + 1)] {
        let r = f
            .server
            .gql(
                Some(&f.admin),
                CREATE_QUOTATION,
                json!({"i": i, "s": s, "e": e, "c": [c]}),
            )
            .await;
        assert_eq!(error_code(&r), "BAD_USER_INPUT", "span [{s}, {e}): {r}");
    }
    // Exactly the whole transcript is fine.
    f.server
        .ok(
            Some(&f.admin),
            CREATE_QUOTATION,
            json!({"i": i, "s": 0, "e": len, "c": [c]}),
        )
        .await;
    // Unknown ids are NOT_FOUND, ids of the wrong kind BAD_USER_INPUT.
    let unknown_interview = "SW50ZXJ2aWV3Ojk5OTk"; // Interview:9999
    let r = f
        .server
        .gql(
            Some(&f.admin),
            CREATE_QUOTATION,
            json!({"i": unknown_interview, "s": 0, "e": 1, "c": [c]}),
        )
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND");
    let r = f
        .server
        .gql(
            Some(&f.admin),
            CREATE_QUOTATION,
            json!({"i": f.case, "s": 0, "e": 1, "c": [c]}),
        )
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT");
    // Codes from another study are refused and nothing is written.
    let other = f
        .server
        .ok(
            Some(&f.admin),
            r#"mutation { createStudy(input: {title: "Altro"}) { id } }"#,
            json!({}),
        )
        .await;
    let foreign = f
        .server
        .ok(
            Some(&f.admin),
            "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"Estraneo\"}) { id } }",
            json!({"s": other["createStudy"]["id"]}),
        )
        .await["createCode"]["id"]
        .clone();
    let r = f
        .server
        .gql(
            Some(&f.admin),
            CREATE_QUOTATION,
            json!({"i": i, "s": 0, "e": 3, "c": [c, foreign]}),
        )
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT");
    let count = f
        .server
        .ok(
            Some(&f.admin),
            "query($i: ID!) { node(id: $i) { ... on Interview { quotations { totalCount } } } }",
            json!({"i": i}),
        )
        .await;
    assert_eq!(
        count["node"]["quotations"]["totalCount"], 1,
        "only the valid quotation exists"
    );
    // Bad dates and colours.
    let r = f
        .server
        .gql(Some(&f.admin), "mutation($c: ID!) { createInterview(input: {caseId: $c, label: \"x\", transcript: \"testo\", conductedOn: \"2021-13-45\"}) { id } }", json!({"c": f.case}))
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT");
    let r = f
        .server
        .gql(None, r#"{ ambiti(at: "ieri") { totalCount } }"#, json!({}))
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT");
    let r = f
        .server
        .gql(Some(&f.admin), "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"Rosso\", color: \"red\"}) { id } }", json!({"s": f.study}))
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT");
    let r = f
        .server
        .gql(
            Some(&f.admin),
            "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"territorio\"}) { id } }",
            json!({"s": f.study}),
        )
        .await;
    assert_eq!(error_code(&r), "CONFLICT", "sibling names are unique: {r}");
    // A case with one unknown ambito is not created at all.
    let r = f
        .server
        .gql(Some(&f.admin), "mutation($s: ID!) { createCase(input: {studyId: $s, label: \"Mezzo\", ambitoCodes: [\"424242\"]}) { id } }", json!({"s": f.study}))
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND");
    let cases = f
        .server
        .ok(
            Some(&f.admin),
            "query($s: ID!) { cases(studyId: $s) { totalCount } }",
            json!({"s": f.study}),
        )
        .await;
    assert_eq!(cases["cases"]["totalCount"], 1);
    // Errors never carry SQL.
    let body = r.to_string().to_lowercase();
    assert!(
        !body.contains("select") && !body.contains("insert"),
        "{body}"
    );
}

const UPDATE: &str = "mutation($id: ID!, $v: Int!, $s: Int, $e: Int, $c: [ID!], $m: String) { updateQuotation(input: {id: $id, version: $v, start: $s, end: $e, codeIds: $c, memo: $m}) { id start end text version memo codes { name } } }";

#[tokio::test]
async fn stale_versions_conflict_and_fresh_ones_win() {
    let f = fixture().await;
    let (s, e) = span("città");
    let q = f
        .server
        .ok(
            Some(&f.admin),
            CREATE_QUOTATION,
            json!({"i": f.interview["id"], "s": s, "e": e, "c": [f.code["id"]]}),
        )
        .await["createQuotation"]
        .clone();
    let (s2, e2) = span("la città è più unita");
    let updated = f
        .server
        .ok(
            Some(&f.admin),
            UPDATE,
            json!({"id": q["id"], "v": 1, "s": s2, "e": e2, "c": [], "m": "allargata"}),
        )
        .await["updateQuotation"]
        .clone();
    assert_eq!(updated["text"], "la città è più unita");
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["memo"], "allargata");
    assert_eq!(updated["codes"], json!([]));
    let stale = f
        .server
        .gql(
            Some(&f.admin),
            UPDATE,
            json!({"id": q["id"], "v": 1, "m": "vecchia"}),
        )
        .await;
    assert_eq!(error_code(&stale), "CONFLICT");
    let stale = f
        .server
        .gql(
            Some(&f.admin),
            "mutation($id: ID!) { deleteQuotation(id: $id, version: 1) }",
            json!({"id": q["id"]}),
        )
        .await;
    assert_eq!(error_code(&stale), "CONFLICT");
    let past_end = f
        .server
        .gql(
            Some(&f.admin),
            UPDATE,
            json!({"id": q["id"], "v": 2, "e": 10_000}),
        )
        .await;
    assert_eq!(error_code(&past_end), "BAD_USER_INPUT");
    let deleted = f
        .server
        .ok(
            Some(&f.admin),
            "mutation($id: ID!) { deleteQuotation(id: $id, version: 2) }",
            json!({"id": q["id"]}),
        )
        .await;
    assert_eq!(deleted["deleteQuotation"], q["id"]);
    let gone = f
        .server
        .gql(
            Some(&f.admin),
            "mutation($id: ID!) { deleteQuotation(id: $id, version: 2) }",
            json!({"id": q["id"]}),
        )
        .await;
    assert_eq!(error_code(&gone), "NOT_FOUND");
}

#[tokio::test]
async fn writes_need_a_valid_token_and_the_right_role() {
    let f = fixture().await;
    let r = f
        .server
        .gql(
            None,
            r#"mutation { createStudy(input: {title: "x"}) { id } }"#,
            json!({}),
        )
        .await;
    assert_eq!(error_code(&r), "UNAUTHENTICATED");
    let r = f
        .server
        .gql(
            None,
            CREATE_QUOTATION,
            json!({"i": f.interview["id"], "s": 0, "e": 1, "c": []}),
        )
        .await;
    assert_eq!(
        error_code(&r),
        "UNAUTHENTICATED",
        "every write needs a token, whatever it touches"
    );
    let r = f
        .server
        .gql(Some("qdn_not-a-real-token"), "{ me { id } }", json!({}))
        .await;
    assert_eq!(error_code(&r), "UNAUTHENTICATED");
    let study = id_number(f.study.as_str().unwrap());
    let viewer = f.server.token("lettrice", "viewer", Some(study)).await;
    let analyst = f.server.token("analista", "analyst", Some(study)).await;
    let me = f
        .server
        .ok(Some(&viewer), "{ me { name } }", json!({}))
        .await;
    assert_eq!(me["me"]["name"], "lettrice");
    let r = f
        .server
        .gql(
            Some(&viewer),
            CREATE_QUOTATION,
            json!({"i": f.interview["id"], "s": 0, "e": 1, "c": []}),
        )
        .await;
    assert_eq!(error_code(&r), "FORBIDDEN");
    let r = f
        .server
        .gql(
            Some(&analyst),
            "mutation($s: ID!) { createCase(input: {studyId: $s, label: \"no\"}) { id } }",
            json!({"s": f.study}),
        )
        .await;
    assert_eq!(error_code(&r), "FORBIDDEN");
    let q = f
        .server
        .ok(
            Some(&analyst),
            CREATE_QUOTATION,
            json!({"i": f.interview["id"], "s": 0, "e": 3, "c": []}),
        )
        .await;
    assert_eq!(q["createQuotation"]["coder"]["name"], "analista");
    assert_eq!(q["createQuotation"]["text"], "INT");
}

#[tokio::test]
async fn concurrent_coders_lose_nothing() {
    let f = fixture().await;
    let study = id_number(f.study.as_str().unwrap());
    let mut tokens = Vec::new();
    for n in 0..4 {
        tokens.push(
            f.server
                .token(&format!("analista-{n}"), "analyst", Some(study))
                .await,
        );
    }
    let creates = (0..24).map(|n| {
        let token = tokens[n % tokens.len()].clone();
        let server = &f.server;
        let vars = json!({"i": f.interview["id"], "s": n, "e": n + 5, "c": [f.code["id"]]});
        async move { server.gql(Some(&token), CREATE_QUOTATION, vars).await }
    });
    let results = join_all(creates).await;
    for r in &results {
        assert!(r.get("errors").is_none(), "{r}");
    }
    let listed = f
        .server
        .ok(Some(&f.admin), "query($i: ID!) { node(id: $i) { ... on Interview { quotations(first: 100) { totalCount edges { node { coder { name } } } } } } }", json!({"i": f.interview["id"]}))
        .await;
    assert_eq!(listed["node"]["quotations"]["totalCount"], 24);
    // Ten analysts update the same quotation from the same version: exactly one wins.
    let target = results[0]["data"]["createQuotation"]["id"].clone();
    let updates = (0..10).map(|n| {
        let token = tokens[n % tokens.len()].clone();
        let server = &f.server;
        let vars = json!({"id": target, "v": 1, "m": format!("memo {n}")});
        async move { server.gql(Some(&token), UPDATE, vars).await }
    });
    let results = join_all(updates).await;
    let winners: Vec<&Value> = results
        .iter()
        .filter(|r| r.get("errors").is_none())
        .collect();
    assert_eq!(winners.len(), 1, "{results:#?}");
    for r in results.iter().filter(|r| r.get("errors").is_some()) {
        assert_eq!(error_code(r), "CONFLICT");
    }
    let now = f
        .server
        .ok(
            Some(&f.admin),
            "query($id: ID!) { node(id: $id) { ... on Quotation { version memo } } }",
            json!({"id": target}),
        )
        .await;
    assert_eq!(now["node"]["version"], 2);
    assert_eq!(
        now["node"]["memo"],
        winners[0]["data"]["updateQuotation"]["memo"]
    );
}
