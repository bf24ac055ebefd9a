//! The coding workflow: codebook operations, transcript edits that re-anchor quotations,
//! memos, and retrieval by codes.

use serde_json::{json, Value};
use tests::{error_code, id_number, with_paused, TestServer};

struct Study {
    server: TestServer,
    token: String,
    study: Value,
    interview: Value,
}

const TEXT: &str = "INT: Parliamo della casa.\n\nR: La casa popolare manca. Il lavoro pure. La casa è il primo problema.\n\nINT: E gli anziani?\n\nR: Gli anziani soli sono tanti, in città.";

async fn study() -> Study {
    let server = TestServer::empty().await;
    let token = server.admin().await;
    let c = server.corpus(&token, "Codifica", &[TEXT]).await;
    Study {
        study: c.study,
        interview: c.interviews[0].clone(),
        server,
        token,
    }
}

impl Study {
    async fn ok(&self, q: &str, v: Value) -> Value {
        self.server.ok(Some(&self.token), q, v).await
    }
    async fn gql(&self, q: &str, v: Value) -> Value {
        self.server.gql(Some(&self.token), q, v).await
    }
    async fn code(&self, name: &str, parent: Option<&Value>) -> Value {
        self.ok("mutation($s: ID!, $n: String!, $p: ID) { createCode(input: {studyId: $s, name: $n, parentId: $p}) { id } }", json!({"s": self.study, "n": name, "p": parent}))
            .await["createCode"]["id"]
            .clone()
    }
    /// Quotes the n-th occurrence (0-based) of `needle`.
    async fn quote(&self, needle: &str, nth: usize, codes: &[&Value]) -> Value {
        let (b, _) = TEXT.match_indices(needle).nth(nth).unwrap();
        let s = TEXT[..b].chars().count();
        self.ok(
            "mutation($i: ID!, $s: Int!, $e: Int!, $c: [ID!]!) { createQuotation(input: {interviewId: $i, start: $s, end: $e, codeIds: $c}) { id text version } }",
            json!({"i": self.interview["id"], "s": s, "e": s + needle.chars().count(), "c": codes}),
        )
        .await["createQuotation"]
        .clone()
    }
}

#[tokio::test]
async fn the_codebook_can_be_renamed_recoloured_moved_merged_and_pruned() {
    let s = study().await;
    let bisogni = s.code("Bisogni", None).await;
    let casa = s.code("Casa", Some(&bisogni)).await;
    let abitare = s.code("Abitare", None).await;
    let sfratti = s.code("Sfratti", Some(&abitare)).await;
    const UPDATE: &str = "mutation($i: UpdateCodeInput!) { updateCode(input: $i) { id name color description path parent { name } } }";
    let renamed = s.ok(UPDATE, json!({"i": {"id": casa, "name": "Casa e abitare", "color": "#00aa11", "description": "abitazioni"}})).await["updateCode"].clone();
    assert_eq!(renamed["path"], "Bisogni/Casa e abitare");
    assert_eq!(renamed["color"], "#00AA11");
    assert_eq!(
        error_code(
            &s.gql(UPDATE, json!({"i": {"id": casa, "color": "verde"}}))
                .await
        ),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        error_code(
            &s.gql(UPDATE, json!({"i": {"id": bisogni, "parentId": casa}}))
                .await
        ),
        "BAD_USER_INPUT",
        "no cycles"
    );
    assert_eq!(
        error_code(
            &s.gql(UPDATE, json!({"i": {"id": bisogni, "parentId": bisogni}}))
                .await
        ),
        "BAD_USER_INPUT"
    );
    let sibling = s.code("Lavoro", Some(&bisogni)).await;
    assert_eq!(
        error_code(
            &s.gql(
                UPDATE,
                json!({"i": {"id": sibling, "name": "casa E ABITARE"}})
            )
            .await
        ),
        "CONFLICT"
    );
    // Moving a code moves what search finds under its new parent.
    let q1 = s.quote("La casa popolare manca", 0, &[&casa]).await;
    let q2 = s
        .quote("La casa è il primo problema", 0, &[&casa, &sfratti])
        .await;
    const UNDER: &str = "query($c: [ID!]) { quotations(filter: {codeIds: $c}) { totalCount } search(query: \"casa\", scope: QUOTATIONS, filter: {codeIds: $c}) { totalCount } }";
    assert_eq!(
        s.ok(UNDER, json!({"c": [abitare]})).await["search"]["totalCount"],
        1
    );
    let moved = s
        .ok(UPDATE, json!({"i": {"id": casa, "parentId": abitare}}))
        .await["updateCode"]
        .clone();
    assert_eq!(moved["path"], "Abitare/Casa e abitare");
    let under = s.ok(UNDER, json!({"c": [abitare]})).await;
    assert_eq!(under["quotations"]["totalCount"], 2);
    assert_eq!(
        under["search"]["totalCount"], 2,
        "the index follows the move"
    );
    assert_eq!(
        s.ok(UNDER, json!({"c": [bisogni]})).await["search"]["totalCount"],
        0
    );
    let to_root = s
        .ok(UPDATE, json!({"i": {"id": casa, "parentId": null}}))
        .await["updateCode"]
        .clone();
    assert_eq!(to_root["parent"], Value::Null);
    // Deleting a code in use is refused; merging moves its quotations (one per quotation).
    assert_eq!(
        error_code(
            &s.gql(
                "mutation($c: ID!) { deleteCode(id: $c) }",
                json!({"c": sfratti})
            )
            .await
        ),
        "CONFLICT"
    );
    let memo = s.ok("mutation($t: ID!) { createMemo(input: {targetId: $t, text: \"nota sul codice\"}) { id } }", json!({"t": sfratti})).await;
    let merged = s.ok("mutation($a: ID!, $b: ID!) { mergeCodes(sourceId: $a, targetId: $b) { id quotationCount memos { text } } }", json!({"a": sfratti, "b": casa})).await["mergeCodes"].clone();
    assert_eq!(merged["quotationCount"], 2);
    assert_eq!(merged["memos"][0]["text"], "nota sul codice");
    assert!(memo["createMemo"]["id"].is_string());
    let q2codes = s
        .ok(
            "query($q: ID!) { node(id: $q) { ... on Quotation { codes { name } } } }",
            json!({"q": q2["id"]}),
        )
        .await;
    assert_eq!(
        q2codes["node"]["codes"],
        json!([{"name": "Casa e abitare"}]),
        "a quotation carrying both keeps one"
    );
    // The quotation whose codes the merge changed has a new version; the other does not.
    let versions = s
        .ok(
            "query($a: ID!, $b: ID!) { a: node(id: $a) { ... on Quotation { version } } b: node(id: $b) { ... on Quotation { version } } }",
            json!({"a": q1["id"], "b": q2["id"]}),
        )
        .await;
    assert_eq!(versions, json!({"a": {"version": 1}, "b": {"version": 2}}));
    assert!(s
        .ok(
            "query($c: ID!) { node(id: $c) { id } }",
            json!({"c": sfratti})
        )
        .await["node"]
        .is_null());
    assert_eq!(
        error_code(
            &s.gql(
                "mutation($a: ID!) { mergeCodes(sourceId: $a, targetId: $a) { id } }",
                json!({"a": casa})
            )
            .await
        ),
        "BAD_USER_INPUT"
    );
    // An unused code goes, with its unused children and their memos: the log keeps who
    // deleted each memo, and with what.
    let empty = s.code("Vuoto", None).await;
    let child = s.code("Figlio", Some(&empty)).await;
    let note = s.ok("mutation($t: ID!) { createMemo(input: {targetId: $t, text: \"Perché è qui?\"}) { id } }", json!({"t": child})).await["createMemo"]["id"].clone();
    s.ok(
        "mutation($c: ID!) { deleteCode(id: $c) }",
        json!({"c": empty}),
    )
    .await;
    let log = s
        .ok(
            "query($s: ID!) { auditLog(studyId: $s, first: 100) { edges { node { operation entity entityId } } } }",
            json!({"s": s.study}),
        )
        .await;
    let memo_entries: Vec<&Value> = log["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .filter(|n| n["entity"] == "memo" && n["operation"] == "deleteCode")
        .map(|n| &n["entityId"])
        .collect();
    assert_eq!(memo_entries, [&note], "{log}");
    let names: Vec<String> = s
        .ok(
            "query($s: ID!) { node(id: $s) { ... on Study { codebook { name } } } }",
            json!({"s": s.study}),
        )
        .await["node"]["codebook"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(!names.contains(&"Vuoto".to_owned()));
    assert!(q1["id"].is_string());
}

/// The codebook holds at most `MAX_CODE_DEPTH` (250) levels, whichever way a code gets
/// there: created under the deepest, moved with its children, or given a merged code's
/// children. Deeper trees could not be exported (REFI-QDA readers stop at 256 elements).
#[tokio::test]
async fn codes_nest_at_most_250_levels_whichever_way_they_get_there() {
    let s = study().await;
    let mut chain = vec![s.code("Livello 1", None).await];
    for level in 2..=250 {
        let below = s.code(&format!("Livello {level}"), chain.last()).await;
        chain.push(below);
    }
    let at = |level: usize| &chain[level - 1];
    const CREATE: &str = "mutation($s: ID!, $n: String!, $p: ID) { createCode(input: {studyId: $s, name: $n, parentId: $p}) { id path } }";
    let too_deep = s
        .gql(CREATE, json!({"s": s.study, "n": "Più giù", "p": at(250)}))
        .await;
    assert_eq!(error_code(&too_deep), "BAD_USER_INPUT", "{too_deep}");
    // A code with one child: two levels to place.
    let ramo = s.code("Ramo", None).await;
    let foglia = s.code("Foglia", Some(&ramo)).await;
    const MOVE: &str =
        "mutation($i: ID!, $p: ID) { updateCode(input: {id: $i, parentId: $p}) { path } }";
    let refused = s.gql(MOVE, json!({"i": ramo, "p": at(249)})).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
    let moved = s.ok(MOVE, json!({"i": ramo, "p": at(248)})).await;
    assert_eq!(
        moved["updateCode"]["path"]
            .as_str()
            .unwrap()
            .matches('/')
            .count(),
        248
    );
    // Back to the root; then merged: Ramo's child takes the target's level plus one.
    s.ok(MOVE, json!({"i": ramo, "p": null})).await;
    const MERGE: &str =
        "mutation($a: ID!, $b: ID!) { mergeCodes(sourceId: $a, targetId: $b) { id } }";
    let refused = s.gql(MERGE, json!({"a": ramo, "b": at(250)})).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
    s.ok(MERGE, json!({"a": ramo, "b": at(249)})).await;
    let deepest = s
        .ok(
            "query($i: ID!) { node(id: $i) { ... on Code { path parent { id } } } }",
            json!({"i": foglia}),
        )
        .await;
    assert_eq!(deepest["node"]["parent"]["id"], *at(249));
    assert_eq!(
        deepest["node"]["path"]
            .as_str()
            .unwrap()
            .matches('/')
            .count(),
        249
    );
    // Nothing refused was written: the deepest level still holds Livello 250 and Foglia.
    let codebook = s
        .ok(
            "query($i: ID!) { node(id: $i) { ... on Code { children { name } } } }",
            json!({"i": at(249)}),
        )
        .await;
    let mut names: Vec<&str> = codebook["node"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["Foglia", "Livello 250"]);
}

#[tokio::test]
async fn transcript_edits_reanchor_quotations_and_never_shift_them() {
    let s = study().await;
    let code = s.code("Casa", None).await;
    let first = s.quote("casa", 1, &[&code]).await; // "La casa popolare"
    let second = s.quote("casa", 2, &[&code]).await; // "La casa è il primo"
    let gone = s.quote("Il lavoro pure.", 0, &[&code]).await;
    let note = s
        .ok(
            "mutation($t: ID!) { createMemo(input: {targetId: $t, text: \"perché è così?\"}) { id } }",
            json!({"t": gone["id"]}),
        )
        .await["createMemo"]["id"]
        .clone();
    let edited = TEXT
        .replace(
            "INT: Parliamo della casa.",
            "INT: Buongiorno. Oggi parliamo della casa, con calma.",
        )
        .replace(" Il lavoro pure.", "");
    const EDIT: &str = "mutation($i: UpdateInterviewInput!) { updateInterview(input: $i) { movedQuotations lostQuotations { id text codeIds memos { id text author { name } } } interview { version length transcript } } }";
    let refused = s
        .gql(
            EDIT,
            json!({"i": {"id": s.interview["id"], "version": 1, "transcript": edited}}),
        )
        .await;
    assert_eq!(error_code(&refused), "CONFLICT");
    let message = refused["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("Il lavoro pure."), "{message}");
    // The memo written on it would go with it: the refusal says so.
    assert!(
        message.contains("the 1 memo(s) written on them"),
        "{message}"
    );
    let unchanged = s
        .ok(
            "query($i: ID!) { node(id: $i) { ... on Interview { version transcript } } }",
            json!({"i": s.interview["id"]}),
        )
        .await;
    assert_eq!(
        unchanged["node"]["version"], 1,
        "a refused edit changes nothing"
    );
    let done = s.ok(EDIT, json!({"i": {"id": s.interview["id"], "version": 1, "transcript": edited, "allowQuotationLoss": true}})).await["updateInterview"].clone();
    assert_eq!(done["movedQuotations"], 2);
    assert_eq!(done["lostQuotations"][0]["id"], gone["id"]);
    assert_eq!(done["lostQuotations"][0]["text"], "Il lavoro pure.");
    assert_eq!(done["lostQuotations"][0]["codeIds"], json!([code]));
    // Its memo, deleted with it, is listed as it was.
    let memos = &done["lostQuotations"][0]["memos"];
    assert_eq!(memos[0]["id"], note);
    assert_eq!(memos[0]["text"], "perché è così?");
    assert!(memos[0]["author"]["name"].is_string(), "{memos}");
    let gone_memo = s
        .ok("query($m: ID!) { node(id: $m) { id } }", json!({"m": note}))
        .await;
    assert!(gone_memo["node"].is_null(), "{gone_memo}");
    assert_eq!(done["interview"]["length"], edited.chars().count());
    // Each quotation still reads exactly its span, and the same words as before.
    let after = s.ok("query($i: ID!) { node(id: $i) { ... on Interview { transcript quotations { edges { node { id start end text version } } } } } }", json!({"i": s.interview["id"]})).await;
    let transcript = after["node"]["transcript"].as_str().unwrap();
    let quotations = after["node"]["quotations"]["edges"].as_array().unwrap();
    assert_eq!(quotations.len(), 2);
    for q in quotations {
        let n = &q["node"];
        let span: String = transcript
            .chars()
            .skip(n["start"].as_u64().unwrap() as usize)
            .take((n["end"].as_u64().unwrap() - n["start"].as_u64().unwrap()) as usize)
            .collect();
        assert_eq!(n["text"].as_str().unwrap(), span);
        assert_eq!(span, "casa");
        assert_eq!(n["version"], 2);
    }
    let starts: Vec<u64> = quotations
        .iter()
        .map(|q| q["node"]["start"].as_u64().unwrap())
        .collect();
    let context =
        |start: u64| -> String { transcript.chars().skip(start as usize).take(14).collect() };
    assert_eq!(context(starts[0]), "casa popolare ");
    assert_eq!(context(starts[1]), "casa è il prim");
    assert!(first["id"] != second["id"]);
    // Search sees the new transcript; a stale version is refused.
    let found = s
        .ok(
            "{ search(query: \"buongiorno\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(found["search"]["totalCount"], 1);
    let stale = s
        .gql(
            EDIT,
            json!({"i": {"id": s.interview["id"], "version": 1, "label": "x"}}),
        )
        .await;
    assert_eq!(error_code(&stale), "CONFLICT");
}

#[tokio::test]
async fn memos_annotate_studies_cases_interviews_codes_and_quotations() {
    let s = study().await;
    let code = s.code("Casa", None).await;
    let q = s.quote("casa", 1, &[&code]).await;
    let case = s
        .ok(
            "query($i: ID!) { node(id: $i) { ... on Interview { case { id } } } }",
            json!({"i": s.interview["id"]}),
        )
        .await["node"]["case"]["id"]
        .clone();
    for target in [&s.study, &case, &s.interview["id"], &code, &q["id"]] {
        let m = s.ok("mutation($t: ID!) { createMemo(input: {targetId: $t, text: \"Una nota: perché è così?\"}) { id version targetId author { name } } }", json!({"t": target})).await["createMemo"].clone();
        assert_eq!(&m["targetId"], target);
        assert_eq!(m["author"]["name"], "admin");
        let seen = s.ok("query($t: ID!) { node(id: $t) { ... on Study { memos { id } } ... on Case { memos { id } } ... on Interview { memos { id } } ... on Code { memos { id } } ... on Quotation { memos { id } } } }", json!({"t": target})).await;
        assert_eq!(seen["node"]["memos"][0]["id"], m["id"]);
    }
    let memo = s
        .ok(
            "mutation($t: ID!) { createMemo(input: {targetId: $t, text: \"prima\"}) { id } }",
            json!({"t": s.study}),
        )
        .await["createMemo"]["id"]
        .clone();
    let updated = s.ok("mutation($m: ID!) { updateMemo(input: {id: $m, version: 1, text: \"seconda\"}) { text version } }", json!({"m": memo})).await;
    assert_eq!(updated["updateMemo"]["version"], 2);
    assert_eq!(error_code(&s.gql("mutation($m: ID!) { updateMemo(input: {id: $m, version: 1, text: \"terza\"}) { text } }", json!({"m": memo})).await), "CONFLICT");
    // Saving the same text again writes nothing: the version stays, no audit entry.
    const AUDITED: &str = "query($s: ID!) { auditLog(studyId: $s, first: 1) { totalCount } }";
    let before = s.ok(AUDITED, json!({"s": s.study})).await;
    let same = s.ok("mutation($m: ID!) { updateMemo(input: {id: $m, version: 2, text: \"seconda\"}) { text version } }", json!({"m": memo})).await;
    assert_eq!(same["updateMemo"]["version"], 2);
    assert_eq!(s.ok(AUDITED, json!({"s": s.study})).await, before);
    // A control character an export could not carry is refused, not replaced later.
    let control = s
        .gql(
            "mutation($m: ID!, $t: String!) { updateMemo(input: {id: $m, version: 2, text: $t}) { version } }",
            json!({"m": memo, "t": "ctrl \u{b} end"}),
        )
        .await;
    assert_eq!(error_code(&control), "BAD_USER_INPUT", "{control}");
    let study_no = id_number(s.study.as_str().unwrap());
    let viewer = s.server.token("lettore", "viewer", Some(study_no)).await;
    let r = s
        .server
        .gql(
            Some(&viewer),
            "mutation($t: ID!) { createMemo(input: {targetId: $t, text: \"no\"}) { id } }",
            json!({"t": s.study}),
        )
        .await;
    assert_eq!(error_code(&r), "FORBIDDEN");
    let analyst = s.server.token("analista", "analyst", Some(study_no)).await;
    let r = s
        .server
        .gql(
            Some(&analyst),
            "mutation($m: ID!) { deleteMemo(id: $m, version: 2) }",
            json!({"m": memo}),
        )
        .await;
    assert_eq!(
        error_code(&r),
        "FORBIDDEN",
        "only authors and owners change a memo"
    );
    let r = s
        .server
        .gql(
            None,
            "mutation($t: ID!) { createMemo(input: {targetId: $t, text: \"no\"}) { id } }",
            json!({"t": s.study}),
        )
        .await;
    assert_eq!(error_code(&r), "UNAUTHENTICATED");
    s.ok(
        "mutation($m: ID!) { deleteMemo(id: $m, version: 2) }",
        json!({"m": memo}),
    )
    .await;
    // A deleted quotation takes its memos with it.
    s.ok(
        "mutation($q: ID!) { deleteQuotation(id: $q, version: 1) }",
        json!({"q": q["id"]}),
    )
    .await;
    let left: i64 = {
        use sea_orm::{EntityTrait, PaginatorTrait};
        api_entities::memo::Entity::find()
            .count(&s.server.db.conn)
            .await
            .unwrap() as i64
    };
    assert_eq!(left, 4);
}

#[tokio::test]
async fn quotations_are_retrieved_by_any_or_all_codes_in_transcript_order() {
    let s = study().await;
    let bisogni = s.code("Bisogni", None).await;
    let casa = s.code("Casa", Some(&bisogni)).await;
    let anziani = s.code("Anziani", Some(&bisogni)).await;
    let luogo = s.code("Luogo", None).await;
    let late = s.quote("in città", 0, &[&anziani, &luogo]).await;
    let early = s.quote("La casa popolare manca", 0, &[&casa]).await;
    let middle = s
        .quote("La casa è il primo problema", 0, &[&casa, &luogo])
        .await;
    let both_early = s.quote("casa", 0, &[&luogo]).await;
    const Q: &str = "query($f: QuotationFilter, $first: Int, $after: String) { quotations(filter: $f, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id start } } } }";
    let ids = |r: &Value| -> Vec<Value> {
        r["quotations"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].clone())
            .collect()
    };
    let all = s.ok(Q, json!({"f": {}})).await;
    assert_eq!(
        ids(&all),
        vec![
            both_early["id"].clone(),
            early["id"].clone(),
            middle["id"].clone(),
            late["id"].clone()
        ],
        "by position, not creation"
    );
    let any = s.ok(Q, json!({"f": {"codeIds": [bisogni]}})).await;
    assert_eq!(
        ids(&any),
        vec![
            early["id"].clone(),
            middle["id"].clone(),
            late["id"].clone()
        ],
        "descendants included"
    );
    let every = s
        .ok(
            Q,
            json!({"f": {"codeIds": [bisogni, luogo], "codeMatch": "ALL"}}),
        )
        .await;
    assert_eq!(ids(&every), vec![middle["id"].clone(), late["id"].clone()]);
    let coder = s.ok("{ me { id } }", json!({})).await["me"]["id"].clone();
    assert_eq!(
        s.ok(Q, json!({"f": {"coderIds": [coder]}})).await["quotations"]["totalCount"],
        4
    );
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = s.ok(Q, json!({"f": {}, "first": 1, "after": after})).await;
        paged.extend(ids(&page));
        if page["quotations"]["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["quotations"]["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_owned);
    }
    assert_eq!(paged, ids(&all));
}

#[tokio::test]
async fn a_code_listed_twice_in_an_all_match_counts_once() {
    let s = study().await;
    let casa = s.code("Casa", None).await;
    let luogo = s.code("Luogo", None).await;
    let q = s.quote("La casa popolare manca", 0, &[&casa]).await;
    s.quote("in città", 0, &[&luogo]).await;
    const Q: &str = "query($f: QuotationFilter) { quotations(filter: $f) { totalCount edges { node { id } } } }";
    for codes in [json!([casa, casa]), json!([casa])] {
        let r = s
            .ok(Q, json!({"f": {"codeIds": codes, "codeMatch": "ALL"}}))
            .await;
        assert_eq!(r["quotations"]["totalCount"], 1, "{codes}: {r}");
        assert_eq!(r["quotations"]["edges"][0]["node"]["id"], q["id"]);
    }
}

#[tokio::test]
async fn siblings_created_at_once_with_one_name_leave_one_code() {
    let s = study().await;
    let bisogni = s.code("Bisogni", None).await;
    for parent in [None, Some(&bisogni)] {
        let runs = (0..8).map(|k| {
            let name = if k % 2 == 0 { "Lavoro" } else { "lavoro" };
            s.gql(
                "mutation($s: ID!, $n: String!, $p: ID) { createCode(input: {studyId: $s, name: $n, parentId: $p}) { id } }",
                json!({"s": s.study, "n": name, "p": parent}),
            )
        });
        let results = futures::future::join_all(runs).await;
        let created = results.iter().filter(|r| r.get("errors").is_none()).count();
        assert_eq!(created, 1, "under {parent:?}: {results:#?}");
        for r in results.iter().filter(|r| r.get("errors").is_some()) {
            assert_eq!(error_code(r), "CONFLICT", "{r:#}");
        }
    }
    let codebook = s
        .ok(
            "query($s: ID!) { node(id: $s) { ... on Study { codebook { path children { path } } } } }",
            json!({"s": s.study}),
        )
        .await["node"]["codebook"]
        .clone();
    let mut paths: Vec<String> = codebook
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| std::iter::once(c).chain(c["children"].as_array().unwrap()))
        .map(|c| c["path"].as_str().unwrap().to_lowercase())
        .collect();
    paths.sort();
    assert_eq!(paths, ["bisogni", "bisogni/lavoro", "lavoro"]);
}

/// The codes of every quotation of the study, by id.
async fn codes_by_quotation(s: &Study) -> std::collections::HashMap<String, Vec<Value>> {
    let r = s
        .ok(
            "query($i: ID!) { node(id: $i) { ... on Interview { quotations(first: 1000) { edges { node { id codes { id } } } } } } }",
            json!({"i": s.interview["id"]}),
        )
        .await;
    r["node"]["quotations"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let codes = e["node"]["codes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].clone())
                .collect();
            (e["node"]["id"].as_str().unwrap().to_owned(), codes)
        })
        .collect()
}

#[tokio::test]
async fn a_merge_loses_no_coding_made_while_it_runs() {
    use std::time::Duration;
    let s = &study().await;
    for round in 0..4 {
        let source = s.code(&format!("Fonte {round}"), None).await;
        let target = s.code(&format!("Meta {round}"), None).await;
        let mut plain = Vec::new();
        for n in 0..12 {
            let q = s.ok(
                "mutation($i: ID!, $s: Int!) { createQuotation(input: {interviewId: $i, start: $s, end: 40, codeIds: []}) { id } }",
                json!({"i": s.interview["id"], "s": n}),
            )
            .await["createQuotation"]["id"]
            .clone();
            plain.push(q);
        }
        // Coders add the source code (to new and to existing quotations) before, during and
        // after the merge.
        let creates = (0..12).map(|n| {
            let source = source.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(3 * n)).await;
                s.gql(
                    "mutation($i: ID!, $s: Int!, $c: ID!) { createQuotation(input: {interviewId: $i, start: $s, end: 50, codeIds: [$c]}) { id } }",
                    json!({"i": s.interview["id"], "s": n, "c": source}),
                )
                .await
            }
        });
        let updates = plain.iter().enumerate().map(|(n, q)| {
            let source = source.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(3 * n as u64 + 1)).await;
                s.gql(
                    "mutation($q: ID!, $c: ID!) { updateQuotation(input: {id: $q, version: 1, codeIds: [$c]}) { id } }",
                    json!({"q": q, "c": source}),
                )
                .await
            }
        });
        let merge = async {
            tokio::time::sleep(Duration::from_millis(15)).await;
            s.gql(
                "mutation($a: ID!, $b: ID!) { mergeCodes(sourceId: $a, targetId: $b) { id } }",
                json!({"a": source, "b": target}),
            )
            .await
        };
        let (created, updated, merged) = tokio::join!(
            futures::future::join_all(creates),
            futures::future::join_all(updates),
            merge
        );
        assert!(merged.get("errors").is_none(), "{merged:#}");
        let codes = codes_by_quotation(s).await;
        let mut coded: Vec<(String, Value)> = Vec::new();
        for r in &created {
            match r.get("errors") {
                None => coded.push((
                    r["data"]["createQuotation"]["id"].as_str().unwrap().into(),
                    r.clone(),
                )),
                Some(_) => assert!(["NOT_FOUND", "CONFLICT"].contains(&error_code(r)), "{r:#}"),
            }
        }
        for (r, q) in updated.iter().zip(&plain) {
            match r.get("errors") {
                None => coded.push((q.as_str().unwrap().into(), r.clone())),
                Some(_) => assert!(["NOT_FOUND", "CONFLICT"].contains(&error_code(r)), "{r:#}"),
            }
        }
        for (q, answer) in coded {
            assert_eq!(
                codes[&q],
                vec![target.clone()],
                "round {round}: quotation {q} was coded ({answer}) and must carry the merged code"
            );
        }
    }
}

#[tokio::test]
async fn transcript_edits_and_concurrent_coding_do_not_overwrite_each_other() {
    use std::time::Duration;
    let s = &study().await;
    let filler = "Premessa lunga che verrà tolta. ".repeat(12);
    let old = format!("R: {filler}La casa popolare manca.");
    let new = "R: La casa popolare manca.".to_owned();
    let at = |text: &str, needle: &str| -> (usize, usize) {
        let b = text.find(needle).unwrap();
        let start = text[..b].chars().count();
        (start, start + needle.chars().count())
    };
    let (casa, _) = at(&old, "casa popolare");
    let (popolare_start, popolare_end) = at(&old, "popolare");
    let case = s
        .ok(
            "query($i: ID!) { node(id: $i) { ... on Interview { case { id } } } }",
            json!({"i": s.interview["id"]}),
        )
        .await["node"]["case"]["id"]
        .clone();
    for round in 0..3 {
        let interview = s
            .ok(
                "mutation($c: ID!, $l: String!, $t: String!) { createInterview(input: {caseId: $c, label: $l, transcript: $t}) { id } }",
                json!({"c": case, "l": format!("Modifica {round}"), "t": old}),
            )
            .await["createInterview"]["id"]
            .clone();
        const CREATE: &str = "mutation($i: ID!, $s: Int!, $e: Int!) { createQuotation(input: {interviewId: $i, start: $s, end: $e, codeIds: []}) { id } }";
        let mut existing = Vec::new();
        for _ in 0..16 {
            existing.push(
                s.ok(CREATE, json!({"i": interview, "s": casa, "e": casa + 4}))
                    .await["createQuotation"]["id"]
                    .clone(),
            );
        }
        // Quoting "casa popolare" at its old place, and widening or moving older quotations
        // onto "popolare", while the transcript loses its long opening.
        let creates = (0..16).map(|n| {
            let interview = interview.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(2 * n)).await;
                s.gql(
                    CREATE,
                    json!({"i": interview, "s": casa, "e": casa + "casa popolare".len()}),
                )
                .await
            }
        });
        let updates = existing.iter().enumerate().map(|(n, q)| async move {
            tokio::time::sleep(Duration::from_millis(2 * n as u64 + 1)).await;
            s.gql(
                "mutation($q: ID!, $s: Int!, $e: Int!) { updateQuotation(input: {id: $q, version: 1, start: $s, end: $e}) { id } }",
                json!({"q": q, "s": popolare_start, "e": popolare_end}),
            )
            .await
        });
        let edit = async {
            tokio::time::sleep(Duration::from_millis(12)).await;
            s.gql(
                "mutation($i: ID!, $t: String!) { updateInterview(input: {id: $i, version: 1, transcript: $t}) { movedQuotations } }",
                json!({"i": interview, "t": new}),
            )
            .await
        };
        let (created, updated, edited) = tokio::join!(
            futures::future::join_all(creates),
            futures::future::join_all(updates),
            edit
        );
        assert!(edited.get("errors").is_none(), "{edited:#}");
        let after = s
            .ok(
                "query($i: ID!) { node(id: $i) { ... on Interview { transcript quotations(first: 1000) { edges { node { id start end } } } } } }",
                json!({"i": interview}),
            )
            .await;
        let transcript: Vec<char> = after["node"]["transcript"]
            .as_str()
            .unwrap()
            .chars()
            .collect();
        let text_of: std::collections::HashMap<String, String> = after["node"]["quotations"]
            ["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let n = &e["node"];
                let (a, b) = (
                    n["start"].as_u64().unwrap() as usize,
                    n["end"].as_u64().unwrap() as usize,
                );
                let text = transcript
                    .get(a..b)
                    .map(|t| t.iter().collect())
                    .unwrap_or_else(|| format!("[{a}, {b}) past the end"));
                (n["id"].as_str().unwrap().to_owned(), text)
            })
            .collect();
        for r in &created {
            match r.get("errors") {
                // Created before the edit: it followed its text.
                None => assert_eq!(
                    text_of[r["data"]["createQuotation"]["id"].as_str().unwrap()],
                    "casa popolare",
                    "round {round}"
                ),
                // After it: the old offsets no longer fit.
                Some(_) => assert_eq!(error_code(r), "BAD_USER_INPUT", "{r:#}"),
            }
        }
        for (r, q) in updated.iter().zip(&existing) {
            let want = match r.get("errors") {
                None => "popolare",
                Some(_) => {
                    assert_eq!(error_code(r), "CONFLICT", "{r:#}");
                    "casa"
                }
            };
            assert_eq!(text_of[q.as_str().unwrap()], want, "round {round}: {r}");
        }
    }
}

#[tokio::test]
async fn sibling_names_are_unique_in_the_database_too_and_old_clashes_are_renamed() {
    use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder};
    let s = study().await;
    let bisogni = s.code("Bisogni", None).await;
    let lavoro = s.code("Lavoro", None).await;
    let under = s.code("Lavoro", Some(&bisogni)).await;
    let db = &s.server.db.conn;
    let copy = |id: i64, name: &'static str| {
        format!("INSERT INTO code (study_id, parent_id, name, created_at) SELECT study_id, parent_id, '{name}', created_at FROM code WHERE id = {id}")
    };
    let (lavoro, under) = (
        id_number(lavoro.as_str().unwrap()),
        id_number(under.as_str().unwrap()),
    );
    // The index refuses what the services refuse, at the root (no parent) and below.
    for (id, name) in [(lavoro, "LAVORO"), (under, "lavoro")] {
        let e = db.execute_unprepared(&copy(id, name)).await.unwrap_err();
        assert!(api::error::is_unique_violation(&e), "{e}");
    }
    // A database from before the index, holding clashes that a race left behind.
    db.execute_unprepared("DROP INDEX ux_code_study_id_parent_id_name")
        .await
        .unwrap();
    db.execute_unprepared(
        "DELETE FROM seaql_migrations WHERE version = 'm20261123_000006_code_sibling_names'",
    )
    .await
    .unwrap();
    for (id, name) in [(lavoro, "LAVORO"), (lavoro, "lavoro"), (under, "lavoro")] {
        db.execute_unprepared(&copy(id, name)).await.unwrap();
    }
    api::db::migrate(db).await.unwrap();
    let codes: Vec<(i64, bool, String)> = api_entities::code::Entity::find()
        .order_by_asc(api_entities::code::Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.id, c.parent_id.is_some(), c.name))
        .collect();
    let b = id_number(bisogni.as_str().unwrap());
    assert_eq!(
        codes[..3],
        [
            (b, false, "Bisogni".to_owned()),
            (lavoro, false, "Lavoro".to_owned()),
            (under, true, "Lavoro".to_owned())
        ],
        "the oldest of each clash keeps its name"
    );
    let renamed: Vec<(bool, String)> = codes[3..]
        .iter()
        .map(|(id, below, name)| (*below, name.replace(&format!(" ({id})"), " (id)")))
        .collect();
    assert_eq!(
        renamed,
        [
            (false, "LAVORO (id)".to_owned()),
            (false, "lavoro (id)".to_owned()),
            (true, "lavoro (id)".to_owned())
        ]
    );
    let e = db
        .execute_unprepared(&copy(lavoro, "Lavoro"))
        .await
        .unwrap_err();
    assert!(api::error::is_unique_violation(&e), "{e}");
}

#[tokio::test]
async fn a_deleted_passage_is_reported_not_moved_onto_the_same_words_of_another_turn() {
    let server = TestServer::empty().await;
    let token = server.admin().await;
    let t = Some(token.as_str());
    let old = "INT: Come va il servizio?\nR1: Il servizio domiciliare è stato chiuso durante la pandemia.\nINT: E adesso?\nR1: Adesso il servizio domiciliare funziona benissimo.";
    let new = "INT: Come va il servizio?\nINT: E adesso?\nR1: Adesso il servizio domiciliare funziona benissimo.";
    let c = server.corpus(&token, "Servizi", &[old]).await;
    let interview = &c.interviews[0]["id"];
    let code = server
        .ok(
            t,
            "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"Chiusura\"}) { id } }",
            json!({"s": c.study}),
        )
        .await["createCode"]["id"]
        .clone();
    let quote = |start: usize| {
        server.ok(
            t,
            "mutation($i: ID!, $s: Int!, $e: Int!, $c: [ID!]!) { createQuotation(input: {interviewId: $i, start: $s, end: $e, codeIds: $c}) { id text } }",
            json!({"i": interview, "s": start, "e": start + 20, "c": [code]}),
        )
    };
    let closed = quote(33).await["createQuotation"].clone();
    let second = old.rfind("servizio domiciliare").unwrap();
    let working = quote(old[..second].chars().count()).await["createQuotation"].clone();
    assert_eq!(closed["text"], "servizio domiciliare");
    assert_eq!(working["text"], "servizio domiciliare");
    const EDIT: &str = "mutation($i: ID!, $t: String!, $loss: Boolean) { updateInterview(input: {id: $i, version: 1, transcript: $t, allowQuotationLoss: $loss}) { movedQuotations lostQuotations { id start end text codeIds } } }";
    let refused = server
        .gql(t, EDIT, json!({"i": interview, "t": new, "loss": false}))
        .await;
    assert_eq!(error_code(&refused), "CONFLICT", "{refused:#}");
    let done = server
        .ok(t, EDIT, json!({"i": interview, "t": new, "loss": true}))
        .await["updateInterview"]
        .clone();
    assert_eq!(
        done["lostQuotations"],
        json!([{"id": closed["id"], "start": 33, "end": 53, "text": "servizio domiciliare", "codeIds": [code]}])
    );
    assert_eq!(done["movedQuotations"], 1);
    let left = server
        .ok(t, "query($i: ID!) { node(id: $i) { ... on Interview { quotations { edges { node { id start end text } } } } } }", json!({"i": interview}))
        .await;
    let at = new.find("servizio domiciliare").unwrap();
    let start = new[..at].chars().count();
    assert_eq!(
        left["node"]["quotations"]["edges"],
        json!([{"node": {"id": working["id"], "start": start, "end": start + 20, "text": "servizio domiciliare"}}])
    );
}

/// A turn pasted twice by mistake, each copy coded: deleting either copy is no loss, as the
/// diff cannot tell which one went. Both quotations stay, on the copy that remains.
#[tokio::test]
async fn deleting_a_turn_pasted_twice_keeps_the_quotations_on_both_copies() {
    let server = TestServer::empty().await;
    let token = server.admin().await;
    let t = Some(token.as_str());
    let turn = "R1: Lo sportello unico dell’ambito è nato così, e funziona.\n";
    let old = format!("INT: Com’è andata?\n{turn}{turn}INT: Grazie.");
    let new = format!("INT: Com’è andata?\n{turn}INT: Grazie.");
    let c = server.corpus(&token, "Sportelli", &[&old]).await;
    let interview = &c.interviews[0]["id"];
    let code = server
        .ok(
            t,
            "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"Sportello\"}) { id } }",
            json!({"s": c.study}),
        )
        .await["createCode"]["id"]
        .clone();
    let words = "sportello unico dell’ambito";
    let at = |text: &str, nth: usize| {
        let (b, _) = text.match_indices(words).nth(nth).unwrap();
        text[..b].chars().count()
    };
    for nth in 0..2 {
        let quoted = server
            .ok(
                t,
                "mutation($i: ID!, $s: Int!, $e: Int!, $c: [ID!]!) { createQuotation(input: {interviewId: $i, start: $s, end: $e, codeIds: $c}) { text } }",
                json!({"i": interview, "s": at(&old, nth), "e": at(&old, nth) + 27, "c": [code]}),
            )
            .await;
        assert_eq!(quoted["createQuotation"]["text"], words);
    }
    let done = server
        .ok(
            t,
            "mutation($i: ID!, $t: String!) { updateInterview(input: {id: $i, version: 1, transcript: $t}) { movedQuotations lostQuotations { id } } }",
            json!({"i": interview, "t": new}),
        )
        .await["updateInterview"]
        .clone();
    assert_eq!(done["lostQuotations"], json!([]), "{done:#}");
    let left = server
        .ok(t, "query($i: ID!) { node(id: $i) { ... on Interview { quotations { edges { node { start text } } } } } }", json!({"i": interview}))
        .await;
    let kept = json!({"node": {"start": at(&new, 0), "text": words}});
    assert_eq!(left["node"]["quotations"]["edges"], json!([kept, kept]));
}

/// Search carries each quotation's codes with their ancestors, so a move or merge re-logs
/// every quotation under the codes it moves. A quotation coded while the move runs is either
/// among them or written after the move: either way filtering by the new parent finds it.
#[tokio::test]
async fn quotations_coded_while_codes_move_or_merge_are_found_under_their_new_parent() {
    let s = &study().await;
    let bisogni = s.code("Bisogni", None).await;
    let abitare = s.code("Abitare", None).await;
    let casa = s.code("Casa", Some(&bisogni)).await;
    let fonte = s.code("Fonte", None).await;
    let sotto = s.code("Sotto", Some(&fonte)).await;
    let meta = s.code("Meta", None).await;
    const UNDER: &str = "query($c: [ID!]) { quotations(filter: {codeIds: $c}) { totalCount } search(query: \"casa\", scope: QUOTATIONS, filter: {codeIds: $c}) { totalCount } }";

    let (moved, coded) = with_paused(
        &s.server,
        &["updateCode"],
        s.gql(
            "mutation($i: ID!, $p: ID) { updateCode(input: {id: $i, parentId: $p}) { path } }",
            json!({"i": casa, "p": abitare}),
        ),
        async { json!(s.quote("La casa popolare manca", 0, &[&casa]).await) },
    )
    .await;
    assert!(moved.get("errors").is_none(), "{moved:#}");
    assert!(coded["id"].is_string(), "{coded:#}");
    let under = s.ok(UNDER, json!({"c": [abitare]})).await;
    assert_eq!(under["quotations"]["totalCount"], 1);
    assert_eq!(under["search"]["totalCount"], 1, "search follows the move");
    assert_eq!(
        s.ok(UNDER, json!({"c": [bisogni]})).await["search"]["totalCount"],
        0
    );

    let (merged, coded) = with_paused(
        &s.server,
        &["mergeCodes"],
        s.gql(
            "mutation($a: ID!, $b: ID!) { mergeCodes(sourceId: $a, targetId: $b) { id } }",
            json!({"a": fonte, "b": meta}),
        ),
        async { json!(s.quote("La casa è il primo problema", 0, &[&sotto]).await) },
    )
    .await;
    assert!(merged.get("errors").is_none(), "{merged:#}");
    assert!(coded["id"].is_string(), "{coded:#}");
    let under = s.ok(UNDER, json!({"c": [meta]})).await;
    assert_eq!(under["quotations"]["totalCount"], 1);
    assert_eq!(
        under["search"]["totalCount"], 1,
        "search follows the merged code's children"
    );
}

/// Codes "Fonte" and "Meta", a quotation coded "Fonte", and the merge of Fonte into Meta
/// paused before it commits while the operation `meanwhile` makes of the quotation and Fonte
/// runs (`with_paused`). Returns the quotation and that operation's answer; the merge must
/// have succeeded.
async fn merge_fonte_into_meta_while(
    s: &Study,
    meanwhile: impl FnOnce(&Value, &Value) -> (&'static str, Value),
) -> (Value, Value) {
    let fonte = s.code("Fonte", None).await;
    let meta = s.code("Meta", None).await;
    let q = s.quote("La casa popolare manca", 0, &[&fonte]).await;
    let (operation, vars) = meanwhile(&q, &fonte);
    let (merged, answer) = with_paused(
        &s.server,
        &["mergeCodes"],
        s.gql(
            "mutation($a: ID!, $b: ID!) { mergeCodes(sourceId: $a, targetId: $b) { id } }",
            json!({"a": fonte, "b": meta}),
        ),
        s.gql(operation, vars),
    )
    .await;
    assert!(merged.get("errors").is_none(), "{merged:#}");
    (q, answer)
}

/// A merge gives the quotations carrying its source other codes, and a new version: an edit
/// sent from the version before, while the merge runs, waits for it and is refused, rather
/// than deadlocking with it or writing over what it did.
#[tokio::test]
async fn an_edit_from_before_a_merge_is_refused_after_it() {
    let s = &study().await;
    let (q, edited) = merge_fonte_into_meta_while(s, |q, fonte| {
        (
            "mutation($q: ID!, $c: ID!) { updateQuotation(input: {id: $q, version: 1, memo: \"vista\", codeIds: [$c]}) { version } }",
            json!({"q": q["id"], "c": fonte}),
        )
    })
    .await;
    // Not NOT_FOUND for the code merged away: the quotation changed, and reloading it shows how.
    assert_eq!(error_code(&edited), "CONFLICT", "{edited:#}");
    let now = s
        .ok(
            "query($q: ID!) { node(id: $q) { ... on Quotation { version memo codes { name } } } }",
            json!({"q": q["id"]}),
        )
        .await;
    assert_eq!(
        now["node"],
        json!({"version": 2, "memo": null, "codes": [{"name": "Meta"}]})
    );
}

/// A transcript edit that moves a quotation while a merge changes its codes: each gives it
/// a new version (the edit waits for the merge's lock on the quotation, then reads what the
/// merge wrote), never the same version for two different quotations.
#[tokio::test]
async fn a_quotation_moved_while_its_code_is_merged_gets_two_new_versions() {
    let s = &study().await;
    let (q, edited) = merge_fonte_into_meta_while(s, |_, _| {
        (
            "mutation($i: ID!, $t: String!) { updateInterview(input: {id: $i, version: 1, transcript: $t}) { movedQuotations } }",
            json!({"i": s.interview["id"], "t": format!("Premessa. {TEXT}")}),
        )
    })
    .await;
    assert_eq!(
        edited["data"]["updateInterview"]["movedQuotations"], 1,
        "{edited:#}"
    );
    let now = s
        .ok(
            "query($q: ID!) { node(id: $q) { ... on Quotation { version text codes { name } } } }",
            json!({"q": q["id"]}),
        )
        .await;
    assert_eq!(
        now["node"],
        json!({"version": 3, "text": "La casa popolare manca", "codes": [{"name": "Meta"}]})
    );
}

/// A quotation write locks its codes by id (`check_codes`), one after the other. A merge
/// locks its source, the source's children and the target in that same order, so a write
/// that holds a child of the source waits for nothing the merge holds: here the test's own
/// transaction plays the write, holding the child while the merge waits for it, then takes
/// the target. Locked in two steps (source and target first, then the children), the merge
/// held the target and PostgreSQL broke the deadlock by failing one of the two.
/// PostgreSQL only: SQLite runs one writer at a time.
#[tokio::test]
async fn a_merge_locks_its_codes_in_the_order_quotation_writes_do() {
    use sea_orm::{ConnectionTrait, DbBackend, TransactionTrait};
    use std::time::{Duration, Instant};
    let s = &study().await;
    let db = &s.server.db.conn;
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    // Ids in this order: source < child < target.
    let fonte = s.code("Fonte", None).await;
    let figlio = s.code("Figlio", Some(&fonte)).await;
    let meta = s.code("Meta", None).await;
    let key_share = |code: &Value| {
        format!(
            "SELECT id FROM code WHERE id = {} FOR KEY SHARE",
            id_number(code.as_str().unwrap())
        )
    };
    let write = db.begin().await.unwrap();
    write.execute_unprepared(&key_share(&figlio)).await.unwrap();
    let merge = s.gql(
        "mutation($a: ID!, $b: ID!) { mergeCodes(sourceId: $a, targetId: $b) { id } }",
        json!({"a": fonte, "b": meta}),
    );
    let meanwhile = async {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let waiting = tests::lock_waiters(db).await;
            if waiting > 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the merge never waited for the child"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        write
            .execute_unprepared("SET LOCAL lock_timeout = '5s'")
            .await
            .unwrap();
        let target = write.execute_unprepared(&key_share(&meta)).await;
        write.commit().await.unwrap();
        target
    };
    let (merged, target) = tokio::join!(merge, meanwhile);
    assert!(target.is_ok(), "{target:?}");
    assert!(merged.get("errors").is_none(), "{merged:#}");
}

/// A code in use is not deleted, and the refusal counts quotations, not their links: one
/// carrying the code and its child is one quotation (it said 2).
#[tokio::test]
async fn a_code_in_use_is_not_deleted_and_its_quotations_are_counted_once() {
    let s = &study().await;
    let parent = s.code("Casa", None).await;
    let child = s.code("Sfratti", Some(&parent)).await;
    s.quote("La casa popolare manca", 0, &[&parent, &child])
        .await;
    let refused = s
        .gql(
            "mutation($c: ID!) { deleteCode(id: $c) }",
            json!({"c": parent}),
        )
        .await;
    assert_eq!(error_code(&refused), "CONFLICT", "{refused}");
    let message = refused["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("on 1 quotation"), "{message}");
}

/// `importQdpx` into the study, as a browser sends it (see `TestServer::upload`).
async fn import_into(s: &Study, file_name: &str, bytes: Vec<u8>) -> Value {
    s.server
        .upload(
            Some(&s.token),
            "mutation($file: Upload!, $studyId: ID) { importQdpx(file: $file, studyId: $studyId) { codes quotations } }",
            json!({"file": null, "studyId": s.study}),
            "file",
            file_name,
            bytes,
        )
        .await
}

/// A code is deleted with its descendants, and not while any of them is on a quotation: a
/// child that an import gives it meanwhile, with a quotation, stops the deletion instead of
/// surviving it as a root.
#[tokio::test]
async fn a_code_deleted_while_an_import_gives_it_a_coded_child_is_kept() {
    let s = &study().await;
    let casa = s.code("Casa", None).await;
    let project = r#"<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="Sfratti">
<CodeBook><Codes><Code guid="eeeeeeee-0000-0000-0000-000000000001" name="Casa" isCodable="true"><Code guid="eeeeeeee-0000-0000-0000-000000000002" name="Sfratti" isCodable="true"/></Code></Codes></CodeBook>
<Sources><TextSource guid="eeeeeeee-0000-0000-0000-000000000003" name="Inquilina"><PlainTextContent>Lo sfratto è arrivato a marzo.</PlainTextContent><PlainTextSelection guid="eeeeeeee-0000-0000-0000-000000000004" startPosition="3" endPosition="10"><Coding guid="eeeeeeee-0000-0000-0000-000000000005"><CodeRef targetGUID="eeeeeeee-0000-0000-0000-000000000002"/></Coding></PlainTextSelection></TextSource></Sources></Project>"#;
    let (imported, deleted) = with_paused(
        &s.server,
        &["importQdpx"],
        import_into(s, "sfratti.qde", project.into()),
        s.gql(
            "mutation($c: ID!) { deleteCode(id: $c) }",
            json!({"c": casa}),
        ),
    )
    .await;
    assert!(imported.get("errors").is_none(), "{imported:#}");
    assert_eq!(imported["data"]["importQdpx"]["codes"], 1, "{imported:#}");
    assert_eq!(error_code(&deleted), "CONFLICT", "{deleted:#}");
    let codebook = s
        .ok(
            "query($s: ID!) { node(id: $s) { ... on Study { codebook { name children { name quotationCount } } } } }",
            json!({"s": s.study}),
        )
        .await;
    assert_eq!(
        codebook["node"]["codebook"],
        json!([{"name": "Casa", "children": [{"name": "Sfratti", "quotationCount": 1}]}])
    );
}

/// A code's ID says nothing to whoever may not read its study: given as a parent or as a
/// merge target, it is answered exactly as an ID no code has. Who may read both studies is
/// told what is wrong.
#[tokio::test]
async fn a_private_code_given_as_parent_is_answered_as_a_missing_one() {
    use base64::Engine as _;
    let s = study().await;
    let private = s.code("Riservato", None).await;
    let other = s.server.corpus(&s.token, "Altro", &[TEXT]).await;
    let owner = s
        .server
        .token(
            "ricercatrice",
            "owner",
            Some(id_number(other.study.as_str().unwrap())),
        )
        .await;
    let t = Some(owner.as_str());
    let mine = s
        .server
        .ok(
            t,
            "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"Mio\"}) { id } }",
            json!({"s": other.study}),
        )
        .await["createCode"]["id"]
        .clone();
    let missing = json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("Code:987654321"));
    let asks = [
        (
            "createCode",
            "mutation($s: ID!, $p: ID) { createCode(input: {studyId: $s, name: \"Figlio\", parentId: $p}) { id } }",
            json!({"s": other.study}),
            "p",
        ),
        (
            "updateCode",
            "mutation($i: ID!, $p: ID) { updateCode(input: {id: $i, parentId: $p}) { id } }",
            json!({"i": mine}),
            "p",
        ),
        (
            "mergeCodes",
            "mutation($a: ID!, $b: ID!) { mergeCodes(sourceId: $a, targetId: $b) { id } }",
            json!({"a": mine}),
            "b",
        ),
    ];
    for (what, query, vars, field) in asks {
        let answer = |id: &Value| {
            let mut v = vars.clone();
            v[field] = id.clone();
            s.server.gql(t, query, v)
        };
        let (hidden, absent) = (answer(&private).await, answer(&missing).await);
        assert_eq!(error_code(&hidden), "NOT_FOUND", "{what}: {hidden:#}");
        assert_eq!(
            hidden["errors"][0]["message"], absent["errors"][0]["message"],
            "{what}"
        );
        assert_eq!(
            hidden["errors"][0]["extensions"], absent["errors"][0]["extensions"],
            "{what}"
        );
        let mut v = vars.clone();
        v[field] = private.clone();
        let readable = s.server.gql(Some(&s.token), query, v).await;
        assert_eq!(
            error_code(&readable),
            "BAD_USER_INPUT",
            "{what}: {readable:#}"
        );
    }
}

/// A quotation's memo is a patch field: left out it stays, null clears it, and blank text is
/// no memo (so it clears too, and a new quotation starts without one).
#[tokio::test]
async fn a_quotation_memo_is_kept_when_left_out_and_cleared_by_null_or_blank_text() {
    let s = &study().await;
    let code = s.code("Casa", None).await;
    let q = s.quote("casa", 1, &[&code]).await;
    const UPDATE: &str =
        "mutation($i: UpdateQuotationInput!) { updateQuotation(input: $i) { version memo } }";
    let update = |input: Value| async move {
        s.ok(UPDATE, json!({"i": input})).await["updateQuotation"].clone()
    };
    let nota = "Perché l’ente è così? Sì, è lì.";
    let set = update(json!({"id": q["id"], "version": 1, "memo": nota})).await;
    assert_eq!(set, json!({"version": 2, "memo": nota}));
    let kept = update(json!({"id": q["id"], "version": 2, "codeIds": []})).await;
    assert_eq!(
        kept,
        json!({"version": 3, "memo": nota}),
        "left out, it stays"
    );
    let cleared = update(json!({"id": q["id"], "version": 3, "memo": null})).await;
    assert_eq!(
        cleared,
        json!({"version": 4, "memo": null}),
        "null clears it"
    );
    update(json!({"id": q["id"], "version": 4, "memo": "di nuovo è qui"})).await;
    let blank = update(json!({"id": q["id"], "version": 5, "memo": "  "})).await;
    assert_eq!(
        blank,
        json!({"version": 6, "memo": null}),
        "blank clears it"
    );
    let created = s
        .ok(
            "mutation($i: ID!) { createQuotation(input: {interviewId: $i, start: 0, end: 3, codeIds: [], memo: \"\"}) { memo } }",
            json!({"i": s.interview["id"]}),
        )
        .await;
    assert_eq!(created["createQuotation"]["memo"], Value::Null);
}

/// A code's name is stored in NFC, as transcripts are: "Città" typed with a combining accent
/// is "Città", and clashes with its sibling whatever the letter case; the refusal spells the
/// name in letters, not in escapes.
#[tokio::test]
async fn code_names_typed_with_combining_accents_are_the_same_names() {
    let s = study().await;
    s.code("Città", None).await;
    for clash in ["Citta\u{300}", "CITTA\u{300}", "  città "] {
        let body = s
            .gql(
                "mutation($s: ID!, $n: String!) { createCode(input: {studyId: $s, name: $n}) { id } }",
                json!({"s": s.study, "n": clash}),
            )
            .await;
        assert_eq!(error_code(&body), "CONFLICT", "{clash:?}: {body:#}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(!message.contains("\\u"), "{message}");
    }
    let perche = s.code("Perche\u{301}", None).await;
    let other = s.code("Altro", None).await;
    let read = s
        .ok(
            "query($c: ID!) { node(id: $c) { ... on Code { name } } }",
            json!({"c": perche}),
        )
        .await;
    assert_eq!(read["node"]["name"], "Perch\u{e9}");
    // Renamed into a clash, the decomposed way too.
    let body = s
        .gql(
            "mutation($c: ID!, $n: String!) { updateCode(input: {id: $c, name: $n}) { id } }",
            json!({"c": other, "n": "PERCHE\u{301}"}),
        )
        .await;
    assert_eq!(error_code(&body), "CONFLICT", "{body:#}");
}

/// Merging a code into its parent moves its children up beside what was the code itself: a
/// child named as its parent ("Barriere/barriere") takes the merged code's place.
#[tokio::test]
async fn a_code_merges_into_its_parent_even_with_a_child_of_its_own_name() {
    let s = study().await;
    let accesso = s.code("Accesso", None).await;
    let barriere = s.code("Barriere", Some(&accesso)).await;
    let child = s.code("barriere", Some(&barriere)).await;
    let q = s.quote("casa", 0, &[&barriere]).await;
    let merged = s
        .ok(
            "mutation($s: ID!, $t: ID!) { mergeCodes(sourceId: $s, targetId: $t) { id children { id name path } } }",
            json!({"s": barriere, "t": accesso}),
        )
        .await;
    assert_eq!(
        merged["mergeCodes"]["children"],
        json!([{"id": child, "name": "barriere", "path": "Accesso/barriere"}])
    );
    let coded = s
        .ok(
            "query($q: ID!) { node(id: $q) { ... on Quotation { codes { id } } } }",
            json!({"q": q["id"]}),
        )
        .await;
    assert_eq!(coded["node"]["codes"], json!([{"id": accesso}]));
    // A sibling of the target's own still clashes.
    s.code("Altro", Some(&accesso)).await;
    let moving = s.code("Nuovo", None).await;
    s.code("ALTRO", Some(&moving)).await;
    let body = s
        .gql(
            "mutation($s: ID!, $t: ID!) { mergeCodes(sourceId: $s, targetId: $t) { id } }",
            json!({"s": moving, "t": accesso}),
        )
        .await;
    assert_eq!(error_code(&body), "CONFLICT", "{body:#}");
}

/// A quotation filter's lists are bounded (they go to the database as one statement's bound
/// values, which SQLite caps at 32,766): a longer one is BAD_USER_INPUT naming it, never an
/// INTERNAL error; one at the bound is answered.
#[tokio::test]
async fn a_quotation_filter_listing_too_many_entries_is_bad_input() {
    use base64::Engine as _;
    let s = study().await;
    s.quote("casa", 0, &[]).await;
    let id = |n: usize| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("Interview:{n}"))
    };
    let mut interviews: Vec<String> = (1..=5000).map(id).collect();
    interviews[0] = s.interview["id"].as_str().unwrap().to_owned();
    let query = "query($f: QuotationFilter) { quotations(filter: $f) { totalCount } }";
    let bounded = s
        .ok(query, json!({"f": {"interviewIds": interviews}}))
        .await;
    assert_eq!(bounded["quotations"]["totalCount"], 1);
    for list in ["interviewIds", "coderIds", "caseIds"] {
        let kind = match list {
            "interviewIds" => "Interview",
            "coderIds" => "User",
            _ => "Case",
        };
        let many: Vec<String> = (1..=40_000)
            .map(|n| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}:{n}")))
            .collect();
        let body = s.gql(query, json!({"f": {list: many}})).await;
        assert_eq!(
            error_code(&body),
            "BAD_USER_INPUT",
            "{list}: {}",
            body["errors"]
        );
        assert!(body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(list));
    }
}

/// An edit that changes nothing writes nothing: the same transcript sent again with CRLF,
/// the same label, a quotation's own span, codes (in another order) and memo leave each
/// version where it was, so that a colleague holding it can still save; a real change then
/// moves it on.
#[tokio::test]
async fn an_edit_that_changes_nothing_keeps_the_version() {
    let s = study().await;
    let interview = &s.interview["id"];
    let crlf = TEXT.replace('\n', "\r\n");
    let label = s
        .ok(
            "query($i: ID!) { node(id: $i) { ... on Interview { label } } }",
            json!({"i": interview}),
        )
        .await["node"]["label"]
        .clone();
    assert!(label.is_string());
    const EDIT: &str = "mutation($i: UpdateInterviewInput!) { updateInterview(input: $i) { interview { version transcript } movedQuotations } }";
    let same = s
        .ok(
            EDIT,
            json!({"i": {"id": interview, "version": 1, "transcript": crlf, "label": label}}),
        )
        .await;
    assert_eq!(
        same["updateInterview"]["interview"]["version"], 1,
        "{same:#}"
    );
    assert_eq!(same["updateInterview"]["interview"]["transcript"], TEXT);
    let changed = s
        .ok(
            EDIT,
            json!({"i": {"id": interview, "version": 1, "label": "Un'altra intervista"}}),
        )
        .await;
    assert_eq!(changed["updateInterview"]["interview"]["version"], 2);

    let (a, b) = (s.code("Abitare", None).await, s.code("Lavoro", None).await);
    let q = s.quote("casa", 1, &[&a, &b]).await;
    const UPDATE: &str =
        "mutation($i: UpdateQuotationInput!) { updateQuotation(input: $i) { version start end } }";
    let unchanged = s
        .ok(
            UPDATE,
            json!({"i": {"id": q["id"], "version": q["version"], "codeIds": [b, a], "memo": "  "}}),
        )
        .await;
    assert_eq!(
        unchanged["updateQuotation"]["version"], q["version"],
        "{unchanged:#}"
    );
    let moved = s
        .ok(
            UPDATE,
            json!({"i": {"id": q["id"], "version": q["version"], "codeIds": [a]}}),
        )
        .await;
    assert_eq!(
        moved["updateQuotation"]["version"],
        q["version"].as_i64().unwrap() + 1
    );
}

/// A quotation made from offsets read at one version of the interview is refused once the
/// transcript has changed (CONFLICT, nothing written), rather than laid on other words; the
/// offsets of the version in hand are taken.
#[tokio::test]
async fn a_quotation_from_offsets_of_an_older_transcript_is_a_conflict() {
    let s = study().await;
    let interview = &s.interview["id"];
    const QUOTE: &str = "mutation($i: ID!, $v: Int) { createQuotation(input: {interviewId: $i, start: 0, end: 3, codeIds: [], interviewVersion: $v}) { id text } }";
    let first = s.ok(QUOTE, json!({"i": interview, "v": 1})).await;
    assert_eq!(first["createQuotation"]["text"], "INT");
    s.ok(
        "mutation($i: ID!, $t: String!) { updateInterview(input: {id: $i, version: 1, transcript: $t}) { interview { version } } }",
        json!({"i": interview, "t": format!("R: Premessa.\n\n{TEXT}")}),
    )
    .await;
    let count = || async {
        s.ok(
            "query($i: ID!) { node(id: $i) { ... on Interview { quotations { totalCount } } } }",
            json!({"i": interview}),
        )
        .await["node"]["quotations"]["totalCount"]
            .clone()
    };
    let before = count().await;
    let stale = s.gql(QUOTE, json!({"i": interview, "v": 1})).await;
    assert_eq!(error_code(&stale), "CONFLICT", "{stale:#}");
    assert_eq!(count().await, before);
    let fresh = s.ok(QUOTE, json!({"i": interview, "v": 2})).await;
    assert_eq!(fresh["createQuotation"]["text"], "R: ");
}

/// A quotation an edit of the transcript did not move keeps its version, so the version does
/// not tell a client that its new offsets were read from before the edit: `interviewVersion`
/// does, and a stale one is CONFLICT with the span left as it was.
#[tokio::test]
async fn a_quotation_moved_by_offsets_of_an_older_transcript_is_a_conflict() {
    let s = study().await;
    let interview = &s.interview["id"];
    let q = s
        .ok(
            "mutation($i: ID!) { createQuotation(input: {interviewId: $i, start: 0, end: 3, codeIds: []}) { id version } }",
            json!({"i": interview}),
        )
        .await["createQuotation"]
        .clone();
    s.ok(
        "mutation($i: ID!, $t: String!) { updateInterview(input: {id: $i, version: 1, transcript: $t}) { interview { version } } }",
        json!({"i": interview, "t": format!("{TEXT}\n\nR: Un’aggiunta più in là.")}),
    )
    .await;
    const MOVE: &str = "mutation($q: ID!, $v: Int!, $iv: Int) { updateQuotation(input: {id: $q, version: $v, end: 5, interviewVersion: $iv}) { start end text version } }";
    let stale = s
        .gql(MOVE, json!({"q": q["id"], "v": q["version"], "iv": 1}))
        .await;
    assert_eq!(error_code(&stale), "CONFLICT", "{stale:#}");
    let kept = s
        .ok(
            "query($q: ID!) { node(id: $q) { ... on Quotation { start end version } } }",
            json!({"q": q["id"]}),
        )
        .await;
    assert_eq!(
        kept["node"],
        json!({"start": 0, "end": 3, "version": q["version"]}),
        "the edit did not move it, and the refused update left it"
    );
    // A memo does not hang on the transcript: the version it was read at is not checked.
    let noted = s
        .ok(
            "mutation($q: ID!, $v: Int!) { updateQuotation(input: {id: $q, version: $v, memo: \"Già qui\", interviewVersion: 1}) { version } }",
            json!({"q": q["id"], "v": q["version"]}),
        )
        .await;
    let version = &noted["updateQuotation"]["version"];
    let fresh = s
        .ok(MOVE, json!({"q": q["id"], "v": version, "iv": 2}))
        .await;
    assert_eq!(fresh["updateQuotation"]["text"], "INT: ");
}

/// Every free text an export carries refuses the control characters it could not give back
/// (not only memos and names), and a name made of nothing visible is empty.
#[tokio::test]
async fn free_texts_refuse_what_an_export_cannot_carry_and_names_need_something_visible() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let corpus = server
        .corpus(&admin, "Testi", &["R: Là c’è più dialogo."])
        .await;
    let (study, case, interview) = (
        corpus.study.clone(),
        corpus.case.clone(),
        corpus.interviews[0]["id"].clone(),
    );
    let code = server
        .ok(
            Some(&admin),
            "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"Dialogo\"}) { id } }",
            json!({"s": study}),
        )
        .await["createCode"]["id"]
        .clone();
    let quotation = server
        .ok(Some(&admin), "mutation($i: ID!, $c: ID!) { createQuotation(input: {interviewId: $i, start: 3, end: 5, codeIds: [$c]}) { id } }", json!({"i": interview, "c": code}))
        .await["createQuotation"]["id"]
        .clone();
    let control = "prima\u{1}dopo";
    let refused = [
        ("mutation($i: ID!, $c: ID!, $t: String) { createQuotation(input: {interviewId: $i, start: 6, end: 8, codeIds: [$c], memo: $t}) { id } }", json!({"i": interview, "c": code, "t": control})),
        ("mutation($q: ID!, $t: String) { updateQuotation(input: {id: $q, version: 1, memo: $t}) { id } }", json!({"q": quotation, "t": control})),
        ("mutation($s: ID!, $t: String) { createCode(input: {studyId: $s, name: \"Altro\", description: $t}) { id } }", json!({"s": study, "t": control})),
        ("mutation($c: ID!, $t: String) { updateCode(input: {id: $c, description: $t}) { id } }", json!({"c": code, "t": control})),
        ("mutation($c: ID!, $t: String) { createInterview(input: {caseId: $c, label: \"Int. 2\", transcript: \"R: sì.\", intervieweeRole: $t}) { id } }", json!({"c": case, "t": control})),
        ("mutation($i: ID!, $t: String) { updateInterview(input: {id: $i, version: 1, intervieweeRole: $t}) { interview { id } } }", json!({"i": interview, "t": control})),
        ("mutation($c: ID!, $t: String) { tagDiscontinuity(input: {caseId: $c, dimension: PROBLEM_DEFINITION, intensity: PARTIAL, description: $t}) { id } }", json!({"c": case, "t": control})),
        // Names of nothing visible.
        ("mutation($s: ID!, $t: String!) { createCode(input: {studyId: $s, name: $t}) { id } }", json!({"s": study, "t": "\u{200B}\u{200B}"})),
        ("mutation($s: ID!, $t: String!) { createCase(input: {studyId: $s, label: $t}) { id } }", json!({"s": study, "t": "\u{FEFF}"})),
        ("mutation($t: String!) { createStudy(input: {title: $t}) { id } }", json!({"t": " \u{2060} "})),
        ("mutation($c: ID!, $t: String!) { createInterview(input: {caseId: $c, label: $t, transcript: \"R: sì.\"}) { id } }", json!({"c": case, "t": "\u{200D}"})),
    ];
    for (mutation, vars) in refused {
        let answer = server.gql(Some(&admin), mutation, vars).await;
        assert_eq!(
            error_code(&answer),
            "BAD_USER_INPUT",
            "{mutation}: {answer}"
        );
    }
    // Nothing of them was written: the quotation, code and interview are as they were.
    let state = server
        .ok(Some(&admin), "query($q: ID!, $c: ID!, $i: ID!) { q: node(id: $q) { ... on Quotation { version memo } } c: node(id: $c) { ... on Code { description } } i: node(id: $i) { ... on Interview { version intervieweeRole } } }", json!({"q": quotation, "c": code, "i": interview}))
        .await;
    assert_eq!(
        state,
        json!({"q": {"version": 1, "memo": null}, "c": {"description": null}, "i": {"version": 1, "intervieweeRole": null}})
    );
    // Invisible marks a copy and paste left around a name go.
    let pasted = server
        .ok(Some(&admin), "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"\u{FEFF}Luogo\u{200B} \"}) { name } }", json!({"s": study}))
        .await;
    assert_eq!(pasted["createCode"]["name"], "Luogo");
    // So do they around a role, which is then one group with the role typed clean
    // (`codeFrequencies(by: INTERVIEWEE_ROLE)`); a role of nothing visible is none.
    let role = |r: &str, v: i32| {
        let (server, admin, interview) = (&server, &admin, &interview);
        let r = r.to_owned();
        async move {
            server
                .ok(Some(admin), "mutation($i: ID!, $v: Int!, $r: String) { updateInterview(input: {id: $i, version: $v, intervieweeRole: $r}) { interview { version intervieweeRole } } }", json!({"i": interview, "v": v, "r": r}))
                .await["updateInterview"]["interview"]
                .clone()
        }
    };
    assert_eq!(
        role(" Direttrice\u{200B} ", 1).await,
        json!({"version": 2, "intervieweeRole": "Direttrice"})
    );
    assert_eq!(
        role("Direttrice ", 2).await,
        json!({"version": 2, "intervieweeRole": "Direttrice"})
    );
    assert_eq!(
        role(" \u{FEFF} ", 2).await,
        json!({"version": 3, "intervieweeRole": null})
    );
    let created = server
        .ok(Some(&admin), "mutation($c: ID!) { createInterview(input: {caseId: $c, label: \"Int. 3\", transcript: \"R: sì.\", intervieweeRole: \" direttore \"}) { intervieweeRole } }", json!({"c": case}))
        .await;
    assert_eq!(created["createInterview"]["intervieweeRole"], "direttore");

    // Stored before these checks (written here past the API): sent back as stored, they stop
    // no other change, and a name stored with an invisible mark is the same name as without.
    use sea_orm::ConnectionTrait as _;
    let db = &server.db.conn;
    db.execute_unprepared(&format!(
        "UPDATE quotation SET memo = 'vecchia\u{1}nota' WHERE id = {}",
        id_number(quotation.as_str().unwrap())
    ))
    .await
    .unwrap();
    db.execute_unprepared(&format!(
        "UPDATE code SET name = 'Dialogo\u{200B}', description = 'vecchia\u{1}descrizione' WHERE id = {}",
        id_number(code.as_str().unwrap())
    ))
    .await
    .unwrap();
    let moved = server
        .ok(Some(&admin), "mutation($q: ID!) { updateQuotation(input: {id: $q, version: 1, end: 6, memo: \"vecchia\u{1}nota\"}) { version text } }", json!({"q": quotation}))
        .await;
    assert_eq!(
        moved["updateQuotation"],
        json!({"version": 2, "text": "Là "})
    );
    let recoloured = server
        .ok(Some(&admin), "mutation($c: ID!) { updateCode(input: {id: $c, name: \"Dialogo\u{200B}\", description: \"vecchia\u{1}descrizione\", color: \"#112233\"}) { name color } }", json!({"c": code}))
        .await;
    assert_eq!(
        recoloured["updateCode"],
        json!({"name": "Dialogo\u{200B}", "color": "#112233"})
    );
    let twin = server
        .gql(
            Some(&admin),
            "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"Dialogo\"}) { id } }",
            json!({"s": study}),
        )
        .await;
    assert_eq!(error_code(&twin), "CONFLICT", "{twin}");
    // Twins stored so (the one without the mark written here past the API) can still be
    // recoloured, each keeping its name; renaming one to the other's name is refused.
    use sea_orm::EntityTrait as _;
    let stored = api_entities::code::Entity::find_by_id(id_number(code.as_str().unwrap()))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    db.execute_unprepared(&format!(
        "INSERT INTO code (study_id, name, created_at) VALUES ({}, 'Dialogo', '{}')",
        stored.study_id,
        stored.created_at.format("%Y-%m-%d %H:%M:%S")
    ))
    .await
    .unwrap();
    let recoloured = server
        .gql(
            Some(&admin),
            "mutation($c: ID!) { updateCode(input: {id: $c, color: \"#445566\"}) { color } }",
            json!({"c": code}),
        )
        .await;
    assert_eq!(
        recoloured["data"]["updateCode"]["color"], "#445566",
        "{recoloured}"
    );
    let renamed = server
        .gql(
            Some(&admin),
            "mutation($c: ID!) { updateCode(input: {id: $c, name: \"dialogo\"}) { name } }",
            json!({"c": code}),
        )
        .await;
    assert_eq!(error_code(&renamed), "CONFLICT", "{renamed}");
}

/// A quotation whose stored span is broken (its end before its start: nothing the API
/// writes, but a row mended by hand could be so) is refused alone, BAD_USER_INPUT, while the
/// quotations read with it in the same statement keep their words: PostgreSQL refuses a
/// negative `substr` length, which failed the whole batch.
#[tokio::test]
async fn a_broken_span_is_refused_alone() {
    use sea_orm::ConnectionTrait;
    let s = study().await;
    let (kept, broken) = (
        s.quote("casa", 0, &[]).await,
        s.quote("città", 0, &[]).await,
    );
    s.server
        .db
        .conn
        .execute_unprepared(&format!(
            "UPDATE quotation SET start_pos = end_pos, end_pos = start_pos WHERE id = {}",
            id_number(broken["id"].as_str().unwrap())
        ))
        .await
        .unwrap();
    let r = s
        .gql("query($a: ID!, $b: ID!) { a: node(id: $a) { ... on Quotation { text } } b: node(id: $b) { ... on Quotation { text } } }", json!({"a": kept["id"], "b": broken["id"]}))
        .await;
    assert_eq!(r["data"]["a"]["text"], "casa", "{r}");
    assert_eq!(r["data"]["b"], Value::Null, "{r}");
    let errors = r["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{r}");
    assert_eq!(errors[0]["extensions"]["code"], "BAD_USER_INPUT", "{r}");
    assert_eq!(errors[0]["path"], json!(["b", "text"]), "{r}");
}

/// Quotes each of `words` where it first stands in `text`, the interview's transcript.
async fn quote_each(
    server: &TestServer,
    token: &str,
    interview: &Value,
    text: &str,
    words: &[String],
) {
    for word in words {
        let at = text
            .find(&format!("{word} "))
            .or_else(|| text.find(word.as_str()))
            .unwrap();
        let start = text[..at].chars().count();
        server
            .ok(Some(token), "mutation($i: ID!, $s: Int!, $e: Int!) { createQuotation(input: {interviewId: $i, start: $s, end: $e, codeIds: []}) { id } }", json!({"i": interview, "s": start, "e": start + word.chars().count()}))
            .await;
    }
}

/// A study of one interview, "R: là0 ’ là1 ’ … là39", with each of its forty words quoted.
pub(crate) async fn forty_quoted_words(
    server: &TestServer,
    token: &str,
    title: &str,
) -> (tests::Corpus, Vec<String>) {
    let words: Vec<String> = (0..40).map(|n| format!("là{n}")).collect();
    let text = format!("R: {}", words.join(" ’ "));
    let c = server.corpus(token, title, &[&text]).await;
    quote_each(server, token, &c.interviews[0]["id"], &text, &words).await;
    (c, words)
}

/// The words a quotation read with `start end interview { transcript }` spans there.
pub(crate) fn cut_from_its_transcript(quotation: &Value) -> String {
    let (start, end) = (
        quotation["start"].as_u64().unwrap() as usize,
        quotation["end"].as_u64().unwrap() as usize,
    );
    quotation["interview"]["transcript"]
        .as_str()
        .unwrap()
        .chars()
        .skip(start)
        .take(end - start)
        .collect()
}

/// `times` edits of the interview's transcript (at version 1), each putting "è " before it:
/// every quotation moves two code points each time.
pub(crate) async fn move_every_quotation(
    server: &TestServer,
    token: &str,
    interview: &Value,
    times: i64,
) {
    for version in 1..=times {
        let t = server
            .ok(
                Some(token),
                "query($i: ID!) { node(id: $i) { ... on Interview { transcript } } }",
                json!({"i": interview}),
            )
            .await["node"]["transcript"]
            .as_str()
            .unwrap()
            .to_owned();
        server
            .ok(Some(token), "mutation($i: ID!, $v: Int!, $t: String!) { updateInterview(input: {id: $i, version: $v, transcript: $t}) { movedQuotations } }", json!({"i": interview, "v": version, "t": format!("è {t}")}))
            .await;
    }
}

/// A query reads one state of the database, whatever number of statements its fields take:
/// while edits that move every quotation commit, quotations' spans and words read in one
/// pass of the executor and their interview's transcript read passes later always fit
/// together, and no read is refused. Read at two moments, the transcript of before an edit
/// and the spans of after it were CONFLICT (so were a quotation's span and words, read in
/// two statements, before they were read in one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_reads_one_state_of_the_database() {
    read_while_every_quotation_moves(
        "query($i: ID!) { node(id: $i) { ... on Interview { quotations(first: 100) { nodes { start end text interview { transcript } } } } } }",
        |data| &data["node"]["quotations"]["nodes"],
        Over::Http,
    )
    .await;
}

/// A mutation whose answer reads the spans, words and transcript of the case's quotations.
const RELABEL_AND_READ: &str = "mutation($c: ID!) { updateCase(input: {id: $c, label: \"Istantanea\"}) { interviews(first: 1) { nodes { quotations(first: 100) { nodes { start end text interview { transcript } } } } } } }";

/// So does a mutation's answer, read after its write: the same reads below a case relabelled
/// fit together while the edits commit. Read from the pool, a statement at a time, they were
/// CONFLICT (a quotation's span moved before its words were read) or a transcript that was
/// not the one of the spans.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutation_answers_from_one_state_of_the_database() {
    read_while_every_quotation_moves(
        RELABEL_AND_READ,
        |data| &data["updateCase"]["interviews"]["nodes"][0]["quotations"]["nodes"],
        Over::Http,
    )
    .await;
}

/// And so does one sent over a WebSocket, which runs mutations on the same schema as HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutation_over_a_socket_answers_from_one_state_of_the_database() {
    read_while_every_quotation_moves(
        RELABEL_AND_READ,
        |data| &data["updateCase"]["interviews"]["nodes"][0]["quotations"]["nodes"],
        Over::Socket,
    )
    .await;
}

/// How a reader sends its operations.
#[derive(Clone, Copy, PartialEq)]
enum Over {
    Http,
    Socket,
}

/// Two readers run `read` (given the interview `$i` and its case `$c`) again and again, `over`
/// HTTP or a WebSocket each, while forty edits move every quotation of the interview: each
/// read's quotations, found in its data by `quotations`, must cut their own words, from their
/// text and from the transcript.
async fn read_while_every_quotation_moves(
    read: &str,
    quotations: fn(&Value) -> &Value,
    over: Over,
) {
    use futures::SinkExt;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use tokio_tungstenite::tungstenite::Message;
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let (c, words) = forty_quoted_words(&server, &admin, "Istantanea").await;
    let interview = c.interviews[0]["id"].clone();
    let editing = AtomicBool::new(true);
    let editor = async {
        move_every_quotation(&server, &admin, &interview, 40).await;
        editing.store(false, Ordering::SeqCst);
    };
    let reads = AtomicUsize::new(0);
    let variables = json!({"i": interview, "c": c.case});
    let reader = || {
        let (server, admin, variables) = (&server, &admin, &variables);
        let (editing, reads, words) = (&editing, &reads, &words);
        async move {
            let mut socket = match over {
                Over::Http => None,
                Over::Socket => {
                    let mut socket = tests::ws::connect(server, Some(admin)).await;
                    assert_eq!(tests::ws::next(&mut socket).await["type"], "connection_ack");
                    Some(socket)
                }
            };
            while editing.load(Ordering::SeqCst) {
                // The spans first, the transcript under each of them at the next levels.
                let r = match &mut socket {
                    None => server.ok(Some(admin), read, variables.clone()).await,
                    Some(socket) => {
                        let id = reads.load(Ordering::SeqCst).to_string();
                        let subscribe = json!({"id": id, "type": "subscribe", "payload": {"query": read, "variables": variables}});
                        socket
                            .send(Message::text(subscribe.to_string()))
                            .await
                            .unwrap();
                        let answer = tests::ws::next(socket).await;
                        assert!(answer["payload"].get("errors").is_none(), "{answer}");
                        assert_eq!(tests::ws::next(socket).await["type"], "complete");
                        answer["payload"]["data"].clone()
                    }
                };
                let nodes = quotations(&r).as_array().unwrap();
                let texts: Vec<&str> = nodes.iter().map(|q| q["text"].as_str().unwrap()).collect();
                assert_eq!(texts, *words, "{r}");
                let quoted: Vec<String> = nodes.iter().map(cut_from_its_transcript).collect();
                assert_eq!(quoted, *words, "{r}");
                reads.fetch_add(1, Ordering::SeqCst);
            }
        }
    };
    tokio::join!(editor, reader(), reader());
    assert!(reads.load(Ordering::SeqCst) > 2);
    eprintln!("{} reads", reads.load(Ordering::SeqCst));
}

/// A quotation write answers with the words at its offsets as it wrote them, even when an
/// edit of the transcript moves the quotation the moment after: quotes made while the
/// transcript is edited again and again each answer with the word they quoted (some read
/// the transcript's text after the edit, other words at the old offsets).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quotation_answers_with_its_own_words_while_the_transcript_is_edited() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let words: Vec<String> = (0..120).map(|n| format!("città{n}")).collect();
    let text = format!("R: {}", words.join(" "));
    let c = server.corpus(&admin, "Corsa", &[&text]).await;
    let interview = c.interviews[0]["id"].clone();
    const READ: &str =
        "query($i: ID!) { node(id: $i) { ... on Interview { version transcript } } }";
    // A version and its text, whole: read while an edit commits, the two came from two
    // states (the text cut to the other's length); now that is CONFLICT, and read again.
    let read = || async {
        loop {
            let r = server
                .gql(Some(&admin), READ, json!({"i": interview}))
                .await;
            if r.get("errors").is_some() {
                assert_eq!(error_code(&r), "CONFLICT", "{r}");
                continue;
            }
            break (
                r["data"]["node"]["version"].as_i64().unwrap(),
                r["data"]["node"]["transcript"].as_str().unwrap().to_owned(),
            );
        }
    };
    let editing = AtomicBool::new(true);
    let editor = async {
        for _ in 0..40 {
            let (version, transcript) = read().await;
            server
                .gql(Some(&admin), "mutation($i: ID!, $v: Int!, $t: String!) { updateInterview(input: {id: $i, version: $v, transcript: $t}) { movedQuotations } }", json!({"i": interview, "v": version, "t": format!("è {transcript}")}))
                .await;
        }
        editing.store(false, Ordering::SeqCst);
    };
    let written = AtomicUsize::new(0);
    let quoter = |first: usize| {
        let (read, editing, written, words) = (&read, &editing, &written, &words);
        let (server, admin, interview) = (&server, &admin, &interview);
        async move {
            let mut k = first;
            while editing.load(Ordering::SeqCst) {
                k = (k + 7) % words.len();
                let (version, transcript) = read().await;
                let word = &words[k];
                let at = transcript
                    .find(&format!(" {word} "))
                    .or_else(|| transcript.find(&format!(" {word}")))
                    .unwrap_or_else(|| panic!("{word} not in {transcript:?}"))
                    + 1;
                let start = transcript[..at].chars().count();
                let r = server
                    .gql(Some(admin), "mutation($i: ID!, $v: Int!, $s: Int!, $e: Int!) { createQuotation(input: {interviewId: $i, interviewVersion: $v, start: $s, end: $e, codeIds: []}) { start end text } }", json!({"i": interview, "v": version, "s": start, "e": start + word.chars().count()}))
                    .await;
                if r.get("errors").is_some() {
                    assert_eq!(error_code(&r), "CONFLICT", "{r}");
                    continue;
                }
                assert_eq!(r["data"]["createQuotation"]["text"], word.as_str(), "{r}");
                written.fetch_add(1, Ordering::SeqCst);
            }
        }
    };
    tokio::join!(editor, quoter(0), quoter(1), quoter(2));
    assert!(written.load(Ordering::SeqCst) > 0);
}

/// Coders change and delete their own quotations; another coder's take a study owner (as
/// another author's memo does), since coders do not undo the work `codingAgreement` compares.
/// A transcript edit that would lose another coder's quotations is a deletion of them.
#[tokio::test]
async fn analysts_change_and_delete_only_their_own_quotations() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let text = "R: La casa è lì, però cara. Il lavoro pure, più o meno.";
    let corpus = server.corpus(&admin, "Di chi", &[text]).await;
    let study = id_number(corpus.study.as_str().unwrap());
    let interview = corpus.interviews[0]["id"].clone();
    let anna = server.token("anna", "analyst", Some(study)).await;
    let bruno = server.token("bruno", "analyst", Some(study)).await;
    let olga = server.token("olga", "owner", Some(study)).await;
    const QUOTE: &str = "mutation($i: ID!, $s: Int!, $e: Int!) { createQuotation(input: {interviewId: $i, start: $s, end: $e, codeIds: []}) { id } }";
    const MOVE: &str = "mutation($q: ID!, $v: Int!, $e: Int!) { updateQuotation(input: {id: $q, version: $v, end: $e}) { text version } }";
    const DELETE: &str = "mutation($q: ID!, $v: Int!) { deleteQuotation(id: $q, version: $v) }";
    const EDIT: &str = "mutation($i: ID!, $v: Int!, $t: String!, $loss: Boolean!) { updateInterview(input: {id: $i, version: $v, transcript: $t, allowQuotationLoss: $loss}) { interview { version } } }";
    let quote = |token: &str, s: i64, e: i64| {
        let (server, interview) = (&server, &interview);
        let token = token.to_owned();
        async move {
            server
                .ok(Some(&token), QUOTE, json!({"i": interview, "s": s, "e": e}))
                .await["createQuotation"]["id"]
                .clone()
        }
    };
    let casa = quote(&anna, 6, 10).await;
    let lavoro = quote(&bruno, 31, 37).await;
    let state = || async {
        server
            .ok(
                Some(&admin),
                "query($i: ID!) { node(id: $i) { ... on Interview { version transcript quotations { edges { node { text version } } } } } }",
                json!({"i": interview}),
            )
            .await["node"]
            .clone()
    };
    let before = state().await;
    for refused in [
        server
            .gql(Some(&bruno), MOVE, json!({"q": casa, "v": 1, "e": 11}))
            .await,
        server
            .gql(Some(&bruno), DELETE, json!({"q": casa, "v": 1}))
            .await,
        server
            .gql(Some(&anna), DELETE, json!({"q": lavoro, "v": 1}))
            .await,
    ] {
        assert_eq!(error_code(&refused), "FORBIDDEN", "{refused:#}");
        assert!(
            refused
                .to_string()
                .contains("this quotation was coded by someone else"),
            "{refused:#}"
        );
    }
    assert_eq!(state().await, before, "nothing changed");

    // Each coder's own, and an owner anyone's.
    let moved = server
        .ok(Some(&anna), MOVE, json!({"q": casa, "v": 1, "e": 12}))
        .await;
    assert_eq!(moved["updateQuotation"]["text"], "casa è");
    let moved = server
        .ok(Some(&olga), MOVE, json!({"q": lavoro, "v": 1, "e": 42}))
        .await;
    assert_eq!(moved["updateQuotation"]["text"], "lavoro pure");

    // Anna's edit takes out "lavoro pure", bruno's quotation: refused as his deletion would
    // be, with leave to lose quotations or without, the transcript as it was.
    let without_lavoro = text.replace("Il lavoro pure, più", "Più");
    let edit = |token: &str, v: i64, t: &str, loss: bool| {
        let (server, interview) = (&server, &interview);
        let (token, t) = (token.to_owned(), t.to_owned());
        async move {
            server
                .gql(
                    Some(&token),
                    EDIT,
                    json!({"i": interview, "v": v, "t": t, "loss": loss}),
                )
                .await
        }
    };
    for loss in [true, false] {
        let refused = edit(&anna, 1, &without_lavoro, loss).await;
        assert_eq!(error_code(&refused), "FORBIDDEN", "{refused:#}");
        assert!(
            refused
                .to_string()
                .contains("would lose 1 quotation(s) coded by someone else"),
            "{refused:#}"
        );
    }
    let kept = state().await;
    assert_eq!(kept["version"], 1);
    assert_eq!(kept["transcript"], text);
    // Her own quotation she may lose, with leave (CONFLICT without, as ever); the owner may
    // lose his.
    let without_casa = text.replace("La casa è lì", "Là");
    let conflict = edit(&anna, 1, &without_casa, false).await;
    assert_eq!(error_code(&conflict), "CONFLICT", "{conflict:#}");
    let lost = edit(&anna, 1, &without_casa, true).await;
    assert!(lost.get("errors").is_none(), "{lost:#}");
    let without_both = without_casa.replace("Il lavoro pure, più", "Più");
    let lost = edit(&olga, 2, &without_both, true).await;
    assert!(lost.get("errors").is_none(), "{lost:#}");
    let after = state().await;
    assert_eq!(after["transcript"], without_both);
    assert_eq!(after["quotations"]["edges"], json!([]));
}

/// Every code an ALL match names is a condition of its own: up to 100 of them are met
/// together; more are refused up front (1,001 overflowed the server's stack building the
/// statement, on SQLite and PostgreSQL alike: the process aborted).
#[tokio::test]
async fn an_all_match_takes_up_to_100_codes() {
    let s = study().await;
    let mut codes = Vec::new();
    for n in 0..101 {
        codes.push(s.code(&format!("Tema {n}"), None).await);
    }
    let (hundred, ninety_nine) = (&codes[..100], &codes[1..100]);
    let all: Vec<&Value> = hundred.iter().collect();
    let q = s.quote("casa", 0, &all).await;
    let fewer: Vec<&Value> = ninety_nine.iter().collect();
    s.quote("casa", 0, &fewer).await;
    const Q: &str = "query($f: QuotationFilter) { quotations(filter: $f) { totalCount edges { node { id } } } }";
    let r = s
        .ok(Q, json!({"f": {"codeIds": hundred, "codeMatch": "ALL"}}))
        .await;
    assert_eq!(r["quotations"]["totalCount"], 1, "{r}");
    assert_eq!(r["quotations"]["edges"][0]["node"]["id"], q["id"]);
    let r = s
        .gql(Q, json!({"f": {"codeIds": codes, "codeMatch": "ALL"}}))
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("at most 100 codes"),
        "{r}"
    );
    // Any of them is one condition, however many.
    let r = s.ok(Q, json!({"f": {"codeIds": codes}})).await;
    assert_eq!(r["quotations"]["totalCount"], 2, "{r}");
}

/// Codes carry a version: a change made to an older one is a CONFLICT and changes nothing,
/// so that one analyst's rename is not undone by another's form saved over it. A change sent
/// as the code already is keeps the version; a merge moves the children's on (their parent
/// changed); left out, a change applies to the code as it is.
#[tokio::test]
async fn a_code_changed_since_it_was_read_is_a_conflict() {
    let s = study().await;
    let casa = s.code("Casa", None).await;
    let abitare = s.code("Abitare", None).await;
    let figlia = s.code("Affitto", Some(&casa)).await;
    const UPDATE: &str =
        "mutation($i: UpdateCodeInput!) { updateCode(input: $i) { name description version } }";
    const READ: &str = "query($c: ID!) { node(id: $c) { ... on Code { name description version parent { name } } } }";
    let read = |id: &Value| {
        let id = id.clone();
        let s = &s;
        async move { s.ok(READ, json!({"c": id})).await["node"].clone() }
    };
    assert_eq!(read(&casa).await["version"], 1);
    // Bruno renames; Ada's form, read at version 1, saves a description.
    let renamed = s
        .ok(
            UPDATE,
            json!({"i": {"id": casa, "name": "Abitazione", "version": 1}}),
        )
        .await["updateCode"]
        .clone();
    assert_eq!(renamed["version"], 2);
    let stale = s
        .gql(
            UPDATE,
            json!({"i": {"id": casa, "name": "Casa", "description": "Dove si vive", "version": 1}}),
        )
        .await;
    assert_eq!(error_code(&stale), "CONFLICT", "{stale}");
    assert!(stale.to_string().contains("version 2"), "{stale}");
    assert_eq!(
        read(&casa).await,
        json!({"name": "Abitazione", "description": null, "version": 2, "parent": null})
    );
    // At the current version it applies; sent again as it now is, nothing moves on.
    let described = s
        .ok(
            UPDATE,
            json!({"i": {"id": casa, "description": "Dove si vive", "version": 2}}),
        )
        .await["updateCode"]
        .clone();
    assert_eq!(described["version"], 3);
    let same = s
        .ok(UPDATE, json!({"i": {"id": casa, "name": "Abitazione", "description": "Dove si vive", "version": 3}}))
        .await["updateCode"]
        .clone();
    assert_eq!(same["version"], 3);
    // Without a version, as before.
    let recoloured = s
        .ok(UPDATE, json!({"i": {"id": casa, "color": "#aa0000"}}))
        .await["updateCode"]
        .clone();
    assert_eq!(recoloured["version"], 4);
    // A merge moves the child under the target: its version moves on.
    assert_eq!(read(&figlia).await["version"], 1);
    s.ok(
        "mutation($a: ID!, $b: ID!) { mergeCodes(sourceId: $a, targetId: $b) { id } }",
        json!({"a": casa, "b": abitare}),
    )
    .await;
    let child = read(&figlia).await;
    assert_eq!(
        (child["version"].clone(), child["parent"]["name"].clone()),
        (json!(2), json!("Abitare"))
    );
    let moved = s
        .gql(
            UPDATE,
            json!({"i": {"id": figlia, "name": "Canone", "version": 1}}),
        )
        .await;
    assert_eq!(error_code(&moved), "CONFLICT", "{moved}");
}

/// A merge whose moved child clashes with a child of the target only as the database folds
/// case (PostgreSQL's lower("İstanbul") is "istanbul", Rust's is not) says which names
/// clash: it said "reload and retry", which never helps.
#[tokio::test]
async fn a_merge_clashing_in_the_database_s_case_folding_names_the_clash() {
    use sea_orm::{ConnectionTrait, Statement};
    let s = study().await;
    let db = &s.server.db.conn;
    let same: i32 = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT CASE WHEN lower('İstanbul') = lower('Istanbul') THEN 1 ELSE 0 END AS same",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "same")
        .unwrap();
    let luoghi = s.code("Luoghi", None).await;
    s.code("Istanbul", Some(&luoghi)).await;
    let citta = s.code("Città", None).await;
    s.code("İstanbul", Some(&citta)).await;
    let merged = s
        .gql(
            "mutation($a: ID!, $b: ID!) { mergeCodes(sourceId: $a, targetId: $b) { children { name } } }",
            json!({"a": citta, "b": luoghi}),
        )
        .await;
    if same == 1 {
        assert_eq!(error_code(&merged), "CONFLICT", "{merged}");
        let message = merged["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("\"İstanbul\" already exists"), "{message}");
        let codebook = s
            .ok(
                "query($s: ID!) { node(id: $s) { ... on Study { codebook { name } } } }",
                json!({"s": s.study}),
            )
            .await;
        assert_eq!(
            codebook["node"]["codebook"].as_array().unwrap().len(),
            2,
            "nothing merged"
        );
    } else {
        assert!(merged.get("errors").is_none(), "{merged}");
        assert_eq!(
            merged["data"]["mergeCodes"]["children"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
}

/// Deleting a quotation or a code deletes its memos: while they hold another user's memo,
/// only an owner may (FORBIDDEN, nothing deleted), whether by deleting the quotation, by a
/// transcript edit that loses it, or by deleting the code; memos of one's own do not stop
/// one.
#[tokio::test]
async fn what_carries_another_user_s_memo_is_deleted_only_by_an_owner() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let text = "R: La casa è lì, però cara.";
    let corpus = server.corpus(&admin, "Note altrui", &[text]).await;
    let study = id_number(corpus.study.as_str().unwrap());
    let interview = corpus.interviews[0]["id"].clone();
    let anna = server.token("anna", "analyst", Some(study)).await;
    let bruno = server.token("bruno", "analyst", Some(study)).await;
    let a = Some(anna.as_str());
    const MEMO: &str =
        "mutation($t: ID!, $x: String!) { createMemo(input: {targetId: $t, text: $x}) { id } }";
    let quotation = server
        .ok(a, "mutation($i: ID!) { createQuotation(input: {interviewId: $i, start: 6, end: 10, codeIds: []}) { id } }", json!({"i": interview}))
        .await["createQuotation"]["id"]
        .clone();
    let code = server
        .ok(
            a,
            "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"Abitare\"}) { id } }",
            json!({"s": corpus.study}),
        )
        .await["createCode"]["id"]
        .clone();
    for target in [&quotation, &code] {
        server.ok(a, MEMO, json!({"t": target, "x": "mia"})).await;
        server
            .ok(
                Some(&bruno),
                MEMO,
                json!({"t": target, "x": "di Bruno: è più di una casa"}),
            )
            .await;
    }
    let memos = || server.count("SELECT COUNT(*) FROM memo");
    let before = memos().await;
    let refused = [
        server
            .gql(a, "mutation($q: ID!) { deleteQuotation(id: $q, version: 1) }", json!({"q": quotation}))
            .await,
        server
            .gql(a, "mutation($i: ID!) { updateInterview(input: {id: $i, version: 1, transcript: \"R: Tutto nuovo.\", allowQuotationLoss: true}) { interview { version } } }", json!({"i": interview}))
            .await,
        server
            .gql(a, "mutation($c: ID!) { deleteCode(id: $c) }", json!({"c": code}))
            .await,
    ];
    for r in &refused {
        assert_eq!(error_code(r), "FORBIDDEN", "{r:#}");
        assert!(r.to_string().contains("1 memo(s) of other users"), "{r:#}");
    }
    assert_eq!(memos().await, before, "nothing deleted");
    // An owner may delete what carries anyone's memos.
    server
        .ok(
            Some(&admin),
            "mutation($c: ID!) { deleteCode(id: $c) }",
            json!({"c": code}),
        )
        .await;
    server
        .ok(
            Some(&admin),
            "mutation($q: ID!) { deleteQuotation(id: $q, version: 1) }",
            json!({"q": quotation}),
        )
        .await;
    assert_eq!(memos().await, before - 4);
    // Her own memo does not stop the coder.
    let own = server
        .ok(a, "mutation($i: ID!) { createQuotation(input: {interviewId: $i, start: 6, end: 10, codeIds: []}) { id } }", json!({"i": interview}))
        .await["createQuotation"]["id"]
        .clone();
    server.ok(a, MEMO, json!({"t": own, "x": "solo mia"})).await;
    server
        .ok(
            a,
            "mutation($q: ID!) { deleteQuotation(id: $q, version: 1) }",
            json!({"q": own}),
        )
        .await;
}
