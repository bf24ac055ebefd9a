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
    // Ten updates of the same quotation from the same version, by its coder and by an admin
    // (other analysts may not change it): exactly one wins.
    let target = results[0]["data"]["createQuotation"]["id"].clone();
    let updates = (0..10).map(|n| {
        let token = [&tokens[0], &f.admin][n % 2].clone();
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

/// Runs `n` copies of one write at once (variables per copy) and splits the answers into
/// winners and the others, which must all be CONFLICT.
async fn race(
    server: &TestServer,
    token: &str,
    query: &str,
    n: usize,
    vars: impl Fn(usize) -> Value,
) -> (Vec<Value>, Vec<Value>) {
    let runs = (0..n).map(|k| {
        let v = vars(k);
        async move { server.gql(Some(token), query, v).await }
    });
    let (winners, losers): (Vec<Value>, Vec<Value>) = join_all(runs)
        .await
        .into_iter()
        .partition(|r| r.get("errors").is_none());
    for r in &losers {
        assert_eq!(error_code(r), "CONFLICT", "{r:#}");
    }
    (winners, losers)
}

#[tokio::test]
async fn writers_holding_one_version_cannot_both_win() {
    let f = fixture().await;
    let study = id_number(f.study.as_str().unwrap());
    let analyst = f.server.token("analista", "analyst", Some(study)).await;
    let memo = f
        .server
        .ok(
            Some(&analyst),
            "mutation($t: ID!) { createMemo(input: {targetId: $t, text: \"prima\"}) { id } }",
            json!({"t": f.interview["id"]}),
        )
        .await["createMemo"]["id"]
        .clone();
    const RELABEL: &str = "mutation($i: ID!, $v: Int!, $l: String!) { updateInterview(input: {id: $i, version: $v, label: $l}) { interview { label version } } }";
    const REWRITE: &str = "mutation($m: ID!, $v: Int!, $t: String!) { updateMemo(input: {id: $m, version: $v, text: $t}) { text version } }";
    const NOW: &str = "query($i: ID!) { node(id: $i) { ... on Interview { label version memos { text version } } } }";
    // A few rounds: one lost race in one of them was enough to show the bug on PostgreSQL.
    for version in 1..=4 {
        let (winners, _) = race(
            &f.server,
            &analyst,
            RELABEL,
            12,
            |k| json!({"i": f.interview["id"], "v": version, "l": format!("Int. {version}.{k}")}),
        )
        .await;
        assert_eq!(winners.len(), 1, "version {version}: {winners:#?}");
        let (memo_winners, _) = race(
            &f.server,
            &analyst,
            REWRITE,
            12,
            |k| json!({"m": memo, "v": version, "t": format!("testo {version}.{k}")}),
        )
        .await;
        assert_eq!(
            memo_winners.len(),
            1,
            "version {version}: {memo_winners:#?}"
        );
        let now = f
            .server
            .ok(Some(&f.admin), NOW, json!({"i": f.interview["id"]}))
            .await["node"]
            .clone();
        assert_eq!(now["version"], version + 1);
        assert_eq!(
            now["label"],
            winners[0]["data"]["updateInterview"]["interview"]["label"]
        );
        assert_eq!(now["memos"][0]["version"], version + 1);
        assert_eq!(
            now["memos"][0]["text"],
            memo_winners[0]["data"]["updateMemo"]["text"]
        );
    }
    // Deleting from a version read before someone else's update is refused too.
    let r = f
        .server
        .gql(
            Some(&analyst),
            "mutation($m: ID!) { deleteMemo(id: $m, version: 1) }",
            json!({"m": memo}),
        )
        .await;
    assert_eq!(error_code(&r), "CONFLICT");
}

#[tokio::test]
async fn a_failing_database_is_internal_never_not_found() {
    use sea_orm::ConnectionTrait;
    let f = fixture().await;
    let (s, e) = span("città");
    let q = f
        .server
        .ok(
            Some(&f.admin),
            CREATE_QUOTATION,
            json!({"i": f.interview["id"], "s": s, "e": e, "c": [f.code["id"]]}),
        )
        .await["createQuotation"]["id"]
        .clone();
    let memo = f
        .server
        .ok(
            Some(&f.admin),
            "mutation($t: ID!) { createMemo(input: {targetId: $t, text: \"nota\"}) { id } }",
            json!({"t": f.study}),
        )
        .await["createMemo"]["id"]
        .clone();
    let db = &f.server.db.conn;
    // A table gone missing under a found row: the read that checks the parent fails.
    let hide = |table: &'static str| async move {
        db.execute_unprepared(&format!("ALTER TABLE {table} RENAME TO {table}_hidden"))
            .await
            .unwrap();
    };
    let restore = |table: &'static str| async move {
        db.execute_unprepared(&format!("ALTER TABLE {table}_hidden RENAME TO {table}"))
            .await
            .unwrap();
    };
    let writes: [(&str, &str, Value); 5] = [
        (
            "study",
            "mutation($c: ID!) { createInterview(input: {caseId: $c, label: \"x\", transcript: \"testo\"}) { id } }",
            json!({"c": f.case}),
        ),
        (
            "study",
            "mutation($c: ID!) { updateCode(input: {id: $c, name: \"Altro\"}) { id } }",
            json!({"c": f.code["id"]}),
        ),
        (
            "study",
            "mutation($m: ID!) { updateMemo(input: {id: $m, version: 1, text: \"x\"}) { id } }",
            json!({"m": memo}),
        ),
        (
            "study_case",
            CREATE_QUOTATION,
            json!({"i": f.interview["id"], "s": 0, "e": 3, "c": []}),
        ),
        (
            "interview",
            UPDATE,
            json!({"id": q, "v": 1, "m": "x"}),
        ),
    ];
    for (table, query, vars) in writes {
        hide(table).await;
        let r = f.server.gql(Some(&f.admin), query, vars).await;
        restore(table).await;
        assert_eq!(error_code(&r), "INTERNAL", "{table} hidden: {r:#}");
    }
}

/// What the demo dataset holds, counted in SQL.
async fn demo_counts(db: &api::db::Database) -> Vec<(&'static str, i64)> {
    use sea_orm::ConnectionTrait;
    let mut counts = Vec::new();
    for table in [
        "ambito",
        "ente_gestore",
        "study",
        "interview",
        "quotation",
        "discontinuity",
    ] {
        let row = db
            .conn
            .query_one_raw(sea_orm::Statement::from_string(
                db.conn.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        counts.push((table, row.try_get::<i64>("", "n").unwrap()));
    }
    counts
}

/// A first start killed while it loads the demo dataset leaves nothing behind, so the next
/// start loads all of it (it used to find part of it, take it for the demo and keep it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_demo_load_leaves_nothing_and_the_next_start_loads_it_all() {
    let fresh = || async {
        let dir = tempfile::tempdir().unwrap();
        let db = api::db::connect(&tests::fresh_database_url(&dir).await, 4)
            .await
            .unwrap();
        api::db::migrate(&db.conn).await.unwrap();
        (dir, db)
    };
    let (_whole_dir, whole) = fresh().await;
    let before = whole.statement_count();
    api::demo::load_if_empty(&whole.conn).await.unwrap();
    let statements = whole.statement_count() - before;
    let expected = demo_counts(&whole).await;
    assert!(expected.iter().all(|&(_, n)| n > 0), "{expected:?}");

    let (_dir, db) = fresh().await;
    let before = db.statement_count();
    let conn = db.conn.clone();
    let loading = tokio::spawn(async move { api::demo::load_if_empty(&conn).await });
    // Killed halfway: past the territory, with studies and interviews written.
    while db.statement_count() - before < statements / 2 {
        assert!(
            !loading.is_finished(),
            "the load ended before it was killed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    loading.abort();
    assert!(loading.await.unwrap_err().is_cancelled());
    let left = demo_counts(&db).await;
    assert!(left.iter().all(|&(_, n)| n == 0), "{left:?}");
    api::demo::load_if_empty(&db.conn).await.unwrap();
    assert_eq!(demo_counts(&db).await, expected);
}

/// Typed-in transcripts are stored as imported ones are, with LF line ends and in NFC (a
/// leading U+FEFF is a character there, kept); so a client that sends the same text back
/// with CRLF keeps its quotations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_in_transcripts_are_normalised_like_imported_ones() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let t = Some(admin.as_str());
    let sent = "\u{feff}INT: Com\u{2019}e\u{300} andata?\r\nR: Bene.\rINT: E poi?";
    let stored = "\u{feff}INT: Com\u{2019}\u{e8} andata?\nR: Bene.\nINT: E poi?";
    let c = server.corpus(&admin, "Normale", &[sent]).await;
    let interview = &c.interviews[0];
    let read = server
        .ok(
            t,
            "query($i: ID!) { node(id: $i) { ... on Interview { transcript length } } }",
            json!({"i": interview["id"]}),
        )
        .await;
    assert_eq!(read["node"]["transcript"], stored);
    assert_eq!(read["node"]["length"], stored.chars().count());
    // A quotation across a line end ("Bene.\nINT: E poi?"), then the same text sent back
    // with CRLF: nothing changed, nothing lost.
    let start = stored
        .find("Bene.")
        .map(|b| stored[..b].chars().count())
        .unwrap();
    let end = stored.chars().count();
    let q = server
        .ok(
            t,
            "mutation($i: ID!, $s: Int!, $e: Int!) { createQuotation(input: {interviewId: $i, start: $s, end: $e, codeIds: []}) { id text } }",
            json!({"i": interview["id"], "s": start, "e": end}),
        )
        .await["createQuotation"]
        .clone();
    assert_eq!(q["text"], "Bene.\nINT: E poi?");
    let edited = server
        .gql(
            t,
            "mutation($i: ID!, $t: String!) { updateInterview(input: {id: $i, version: 1, transcript: $t}) { movedQuotations lostQuotations { id } interview { transcript } } }",
            json!({"i": interview["id"], "t": stored.replace('\n', "\r\n")}),
        )
        .await;
    assert!(edited["errors"].is_null(), "{edited}");
    let edit = &edited["data"]["updateInterview"];
    assert_eq!(edit["interview"]["transcript"], stored, "{edited}");
    assert_eq!(edit["movedQuotations"], 0, "{edited}");
    assert_eq!(edit["lostQuotations"], json!([]), "{edited}");
}

/// A study's year is a plausible one, and its authors and research questions are not blank:
/// a typo would otherwise sort and filter as a real year, or show as an empty author.
#[tokio::test]
async fn a_study_needs_a_plausible_year_and_no_blank_authors_or_questions() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let create = "mutation($a: [String!], $y: Int, $q: [String!]) { createStudy(input: {title: \"Città\", authors: $a, year: $y, researchQuestions: $q}) { authors year researchQuestions } }";
    for (vars, named) in [
        (json!({"y": -5}), "year"),
        (json!({"y": 20025}), "year"),
        (json!({"y": 0}), "year"),
        (json!({"a": ["", "  "]}), "authors[0]"),
        (json!({"a": ["L. Mazzù", "\t "]}), "authors[1]"),
        (json!({"q": [" "]}), "researchQuestions[0]"),
    ] {
        let r = server.gql(Some(&admin), create, vars.clone()).await;
        assert_eq!(error_code(&r), "BAD_USER_INPUT", "{vars}: {r}");
        assert!(r.to_string().contains(named), "{vars}: {r}");
    }
    let studies = server
        .ok(Some(&admin), "{ studies { totalCount } }", json!({}))
        .await;
    assert_eq!(studies["studies"]["totalCount"], 0, "nothing written");
    let made = server
        .ok(
            Some(&admin),
            create,
            json!({"a": ["  L. Mazzù ", "N. D’Angelo"], "y": 2021, "q": [" Perché è cambiato? "]}),
        )
        .await;
    assert_eq!(
        made["createStudy"],
        json!({"authors": ["L. Mazzù", "N. D’Angelo"], "year": 2021, "researchQuestions": ["Perché è cambiato?"]})
    );
}

/// PostgreSQL aborts one of two transactions that deadlock, and a repeatable-read transaction
/// whose row another one changed meanwhile. Both are writes that ran into concurrent ones:
/// CONFLICT, for the client to reload and retry, never INTERNAL. (SQLite runs one writer at
/// a time, so neither happens there.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_s_deadlocks_and_serialization_failures_are_conflicts() {
    use api::error::ServiceError;
    use sea_orm::{ConnectionTrait, DbBackend, IsolationLevel, TransactionTrait};
    let server = TestServer::empty().await;
    let db = &server.db.conn;
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let conflict = |e: sea_orm::DbErr| {
        let mapped = ServiceError::from(e);
        assert!(matches!(mapped, ServiceError::Conflict(_)), "{mapped:?}");
    };
    async fn run(c: &impl ConnectionTrait, sql: &str) {
        c.execute_unprepared(sql).await.unwrap();
    }
    let bump = |id: i32| format!("UPDATE clash SET n = n + 1 WHERE id = {id}");
    run(
        db,
        "CREATE TABLE clash (id INT PRIMARY KEY, n INT NOT NULL)",
    )
    .await;
    run(db, "INSERT INTO clash VALUES (1, 0), (2, 0)").await;

    // A serialization failure (40001): the row changed after the snapshot was taken.
    let reader = db
        .begin_with_config(Some(IsolationLevel::RepeatableRead), None)
        .await
        .unwrap();
    run(&reader, "SELECT n FROM clash WHERE id = 1").await;
    run(db, &bump(1)).await;
    conflict(reader.execute_unprepared(&bump(1)).await.unwrap_err());
    reader.rollback().await.unwrap();

    // A deadlock (40P01): each holds the row the other one wants next.
    let (a, b) = (db.begin().await.unwrap(), db.begin().await.unwrap());
    run(&a, &bump(1)).await;
    run(&b, &bump(2)).await;
    let (two, one) = (bump(2), bump(1));
    let (ra, rb) = tokio::join!(a.execute_unprepared(&two), b.execute_unprepared(&one));
    let aborted = match (ra, rb) {
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => e,
        other => panic!("exactly one of the two is aborted: {other:?}"),
    };
    conflict(aborted);
    a.rollback().await.unwrap();
    b.rollback().await.unwrap();
}

/// A study created public by mistake is made private, and is hidden at once from everyone
/// without a role in it (its node, the list of studies, search), then public again. Its
/// description changes field by field; a change to nothing writes nothing.
#[tokio::test]
async fn a_study_is_made_private_and_public_again_and_described_anew() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let a = Some(admin.as_str());
    let c = server
        .corpus(&admin, "Aperto", &["R: la città è cambiata."])
        .await;
    const UPDATE: &str = "mutation($i: UpdateStudyInput!) { updateStudy(input: $i) { title authors year researchQuestions public } }";
    let update = |input: Value| server.gql(a, UPDATE, json!({"i": input}));
    let seen = || async {
        let r = server
            .ok(None, "query($s: ID!) { node(id: $s) { id } studies { totalCount } search(query: \"città\") { totalCount } }", json!({"s": c.study}))
            .await;
        (
            r["node"].is_object(),
            r["studies"]["totalCount"].as_i64().unwrap(),
            r["search"]["totalCount"].as_i64().unwrap(),
        )
    };
    assert_eq!(seen().await, (false, 0, 0));
    let public = update(json!({"id": c.study, "public": true})).await;
    assert_eq!(public["data"]["updateStudy"]["public"], true, "{public}");
    assert_eq!(seen().await, (true, 1, 1));
    update(json!({"id": c.study, "public": false})).await;
    assert_eq!(seen().await, (false, 0, 0));

    let described = update(json!({"id": c.study, "title": " Reti ", "authors": ["Rossi", "Bianchi"], "year": 2023, "researchQuestions": ["Che cosa cambia?"]})).await;
    assert_eq!(
        described["data"]["updateStudy"],
        json!({"title": "Reti", "authors": ["Rossi", "Bianchi"], "year": 2023, "researchQuestions": ["Che cosa cambia?"], "public": false})
    );
    // Left out keeps, null clears the year.
    let cleared = update(json!({"id": c.study, "year": null})).await;
    assert_eq!(cleared["data"]["updateStudy"]["year"], Value::Null);
    assert_eq!(cleared["data"]["updateStudy"]["title"], "Reti");
    for bad in [
        json!({"id": c.study, "title": "  "}),
        json!({"id": c.study, "year": 20023}),
        json!({"id": c.study, "authors": ["Rossi", ""]}),
    ] {
        assert_eq!(
            error_code(&update(bad.clone()).await),
            "BAD_USER_INPUT",
            "{bad}"
        );
    }
    let audit = || async {
        server
            .ok(
                a,
                "query($s: ID!) { auditLog(studyId: $s) { totalCount } }",
                json!({"s": c.study}),
            )
            .await["auditLog"]["totalCount"]
            .clone()
    };
    let entries = audit().await;
    let same = update(json!({"id": c.study, "title": "Reti", "public": false})).await;
    assert!(same.get("errors").is_none(), "{same}");
    assert_eq!(audit().await, entries, "a change to nothing is not audited");
    let missing = update(json!({"id": "U3R1ZHk6OTk5OQ", "title": "x"})).await; // Study:9999
    assert_eq!(error_code(&missing), "NOT_FOUND", "{missing}");
}

/// A case is relabelled and moved to another ambito: search's ambito filter follows at once
/// (every passage carries its case's ambiti), and a list left out keeps its links.
#[tokio::test]
async fn a_case_moved_to_another_ambito_is_searched_under_it() {
    let server = TestServer::demo().await;
    let admin = server.admin().await;
    let a = Some(admin.as_str());
    let c = server
        .corpus(
            &admin,
            "Spostato",
            &["R: il quartiere Vallette è cambiato."],
        )
        .await;
    const UPDATE: &str = "mutation($i: UpdateCaseInput!) { updateCase(input: $i) { label ambiti { code } projects { id } } }";
    let found_in = |code: &'static str| {
        let server = &server;
        async move {
            server
                .ok(a, "query($a: [String!]) { search(query: \"Vallette\", filter: {ambitoCodes: $a}) { totalCount } }", json!({"a": [code]}))
                .await["search"]["totalCount"]
                .as_i64()
                .unwrap()
        }
    };
    let project = server
        .ok(
            None,
            "{ projects(first: 1) { edges { node { id } } } }",
            json!({}),
        )
        .await["projects"]["edges"][0]["node"]["id"]
        .clone();
    let moved = server
        .ok(a, UPDATE, json!({"i": {"id": c.case, "label": "Torino nord", "ambitoCodes": ["24", "24"], "projectIds": [project]}}))
        .await["updateCase"]
        .clone();
    assert_eq!(
        moved,
        json!({"label": "Torino nord", "ambiti": [{"code": "24"}], "projects": [{"id": project}]})
    );
    assert_eq!((found_in("24").await, found_in("38").await), (1, 0));
    let again = server
        .ok(
            a,
            UPDATE,
            json!({"i": {"id": c.case, "ambitoCodes": ["38"]}}),
        )
        .await["updateCase"]
        .clone();
    assert_eq!(again["label"], "Torino nord");
    assert_eq!(again["projects"], json!([{"id": project}]));
    assert_eq!((found_in("24").await, found_in("38").await), (0, 1));
    let unknown = server
        .gql(
            a,
            UPDATE,
            json!({"i": {"id": c.case, "ambitoCodes": ["99"]}}),
        )
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND", "{unknown}");
    assert_eq!(found_in("38").await, 1, "a refused change keeps the links");
}

/// A transcript holds at most 2,000,000 characters (code points: "è" and "🙂" count one)
/// and no NUL, typed in or edited, on both databases alike: PostgreSQL could not store a NUL
/// (INTERNAL) while SQLite took it, and an unbounded text made edits take seconds.
#[tokio::test]
async fn a_transcript_holds_at_most_two_million_characters_and_no_nul() {
    let f = fixture().await;
    let t = Some(f.admin.as_str());
    const CREATE: &str = "mutation($c: ID!, $t: String!) { createInterview(input: {caseId: $c, label: \"Lungo\", transcript: $t}) { id version length } }";
    const UPDATE: &str = "mutation($i: ID!, $v: Int!, $t: String!) { updateInterview(input: {id: $i, version: $v, transcript: $t}) { interview { length } } }";
    let longest = format!("R: {}", "è🙂".repeat(999_998) + "o");
    assert_eq!(longest.chars().count(), 2_000_000);
    let created = f
        .server
        .ok(t, CREATE, json!({"c": f.case, "t": longest}))
        .await["createInterview"]
        .clone();
    assert_eq!(created["length"], 2_000_000);
    let before = f.server.count("SELECT COUNT(*) FROM interview").await;
    for (text, why) in [
        (format!("{longest}!"), "at most 2000000"),
        ("R: sì\u{0}no".to_owned(), "U+0000"),
    ] {
        let r = f
            .server
            .gql(t, CREATE, json!({"c": f.case, "t": text}))
            .await;
        assert_eq!(error_code(&r), "BAD_USER_INPUT", "{why}");
        assert!(r.to_string().contains(why), "{r}");
        let r = f
            .server
            .gql(
                t,
                UPDATE,
                json!({"i": f.interview["id"], "v": 1, "t": text}),
            )
            .await;
        assert_eq!(error_code(&r), "BAD_USER_INPUT", "{why}");
        assert!(r.to_string().contains(why), "{r}");
    }
    assert_eq!(
        f.server.count("SELECT COUNT(*) FROM interview").await,
        before
    );
    let kept = f
        .server
        .ok(
            t,
            "query($i: ID!) { node(id: $i) { ... on Interview { version transcript } } }",
            json!({"i": f.interview["id"]}),
        )
        .await;
    assert_eq!(kept["node"]["transcript"], TRANSCRIPT);
    assert_eq!(kept["node"]["version"], 1);
}
