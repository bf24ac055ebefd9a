//! Deleting interviews (an interviewee withdrawing consent), cases and studies: who may,
//! what goes with them, what search and the audit log keep afterwards, and deletions racing
//! the writes that would hang something on what they delete (PostgreSQL).

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};
use tests::{audit_summary, error_code, id_number, with_paused, TestServer};

/// The transcript to erase: its words "sportello", "Aurora" and "Lingotto" are in no other.
const ERASED: &str = "INT: Come è nato lo sportello?\n\nR: Lo sportello Aurora accoglie le fasce grigie del quartiere Lingotto.";
/// The transcript that stays, in the same case.
const KEPT: &str = "INT: E il consorzio?\n\nR: Il consorzio coordina i comuni della valle.";

const DELETE_INTERVIEW: &str =
    "mutation($i: ID!, $v: Int!) { deleteInterview(id: $i, version: $v) }";
const DELETE_CASE: &str = "mutation($i: ID!) { deleteCase(id: $i) }";
const DELETE_STUDY: &str = "mutation($i: ID!) { deleteStudy(id: $i) }";
const CREATE_QUOTATION: &str = "mutation($i: ID!, $s: Int!, $e: Int!, $c: [ID!]!) { createQuotation(input: {interviewId: $i, start: $s, end: $e, codeIds: $c}) { id } }";
const CREATE_MEMO: &str =
    "mutation($t: ID!, $x: String!) { createMemo(input: {targetId: $t, text: $x}) { id } }";
const TAG: &str = "mutation($i: TagDiscontinuityInput!) { tagDiscontinuity(input: $i) { id version evidence { id } } }";

struct Setup {
    server: TestServer,
    admin: String,
    study: Value,
    /// The study's number, for tokens.
    n: i64,
    case: Value,
    erased: Value,
    kept: Value,
    code: Value,
}

/// A private study (made by an admin, its owner) with one case, the two interviews and a code.
async fn setup() -> Setup {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let c = server.corpus(&admin, "Consenso", &[ERASED, KEPT]).await;
    let code = server
        .ok(
            Some(&admin),
            "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"Servizi\"}) { id } }",
            json!({"s": c.study}),
        )
        .await["createCode"]["id"]
        .clone();
    Setup {
        n: id_number(c.study.as_str().unwrap()),
        server,
        admin,
        study: c.study,
        case: c.case,
        erased: c.interviews[0]["id"].clone(),
        kept: c.interviews[1]["id"].clone(),
        code,
    }
}

/// The code-point span of `needle` in `text`.
fn span(text: &str, needle: &str) -> (usize, usize) {
    let b = text.find(needle).unwrap();
    let start = text[..b].chars().count();
    (start, start + needle.chars().count())
}

fn num(id: &Value) -> i64 {
    id_number(id.as_str().unwrap())
}

impl Setup {
    fn t(&self) -> Option<&str> {
        Some(&self.admin)
    }

    /// A quotation of `needle`, coded with the study's code, by `token`'s user.
    async fn quote(&self, token: &str, interview: &Value, text: &str, needle: &str) -> Value {
        let (s, e) = span(text, needle);
        self.server
            .ok(
                Some(token),
                CREATE_QUOTATION,
                json!({"i": interview, "s": s, "e": e, "c": [self.code]}),
            )
            .await["createQuotation"]["id"]
            .clone()
    }

    async fn memo(&self, token: &str, target: &Value, text: &str) -> Value {
        self.server
            .ok(Some(token), CREATE_MEMO, json!({"t": target, "x": text}))
            .await["createMemo"]["id"]
            .clone()
    }

    /// A row count, read in the database.
    /// The study's audit log, as its owners read it.
    async fn audit(&self) -> Vec<Value> {
        self.server
            .ok(
                self.t(),
                "query($s: ID!) { auditLog(studyId: $s, first: 100) { edges { node { operation entity entityId summary user { name } } } } }",
                json!({"s": self.study}),
            )
            .await["auditLog"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"].clone())
            .collect()
    }

    /// Whether the admin still finds a node.
    async fn exists(&self, id: &Value) -> bool {
        !self
            .server
            .ok(
                self.t(),
                "query($i: ID!) { node(id: $i) { id } }",
                json!({"i": id}),
            )
            .await["node"]
            .is_null()
    }
}

/// Owners and admins delete interviews, cases and studies; analysts, evaluators and viewers
/// are FORBIDDEN, callers who cannot read the study NOT_FOUND, and a refused or stale
/// deletion changes nothing.
#[tokio::test]
async fn only_owners_and_admins_delete_and_a_refused_or_stale_deletion_changes_nothing() {
    let s = setup().await;
    let other = s
        .server
        .ok(
            s.t(),
            r#"mutation { createStudy(input: {title: "Altro"}) { id } }"#,
            json!({}),
        )
        .await["createStudy"]["id"]
        .clone();
    let empty_case = s
        .server
        .ok(
            s.t(),
            "mutation($s: ID!) { createCase(input: {studyId: $s, label: \"Vuoto\"}) { id } }",
            json!({"s": s.study}),
        )
        .await["createCase"]["id"]
        .clone();
    let q = s
        .quote(&s.admin, &s.erased, ERASED, "sportello Aurora")
        .await;
    for (role, expected) in [
        ("analyst", "FORBIDDEN"),
        ("evaluator", "FORBIDDEN"),
        ("viewer", "FORBIDDEN"),
        ("outsider", "NOT_FOUND"),
    ] {
        let token = if role == "outsider" {
            s.server.token(role, "owner", Some(num(&other))).await
        } else {
            s.server.token(role, role, Some(s.n)).await
        };
        let t = Some(token.as_str());
        let body = s
            .server
            .gql(t, DELETE_INTERVIEW, json!({"i": s.erased, "v": 1}))
            .await;
        assert_eq!(error_code(&body), expected, "{role}: {body}");
        let body = s.server.gql(t, DELETE_CASE, json!({"i": empty_case})).await;
        assert_eq!(error_code(&body), expected, "{role}: {body}");
        let body = s.server.gql(t, DELETE_STUDY, json!({"i": s.study})).await;
        assert_eq!(error_code(&body), expected, "{role}: {body}");
    }
    let stale = s
        .server
        .gql(s.t(), DELETE_INTERVIEW, json!({"i": s.erased, "v": 2}))
        .await;
    assert_eq!(error_code(&stale), "CONFLICT", "{stale}");
    assert!(
        stale["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("version 1"),
        "{stale}"
    );
    for id in [&s.erased, &q, &empty_case, &s.study] {
        assert!(s.exists(id).await, "{id} survives refused deletions");
    }

    let owner = s.server.token("olga", "owner", Some(s.n)).await;
    let o = Some(owner.as_str());
    let gone = s
        .server
        .ok(o, DELETE_INTERVIEW, json!({"i": s.erased, "v": 1}))
        .await;
    assert_eq!(gone["deleteInterview"], s.erased);
    let again = s
        .server
        .gql(o, DELETE_INTERVIEW, json!({"i": s.erased, "v": 1}))
        .await;
    assert_eq!(error_code(&again), "NOT_FOUND", "{again}");
    s.server.ok(o, DELETE_CASE, json!({"i": empty_case})).await;
    s.server
        .ok(s.t(), DELETE_INTERVIEW, json!({"i": s.kept, "v": 1}))
        .await;
    s.server.ok(s.t(), DELETE_CASE, json!({"i": s.case})).await;
    let gone = s.server.ok(o, DELETE_STUDY, json!({"i": s.study})).await;
    assert_eq!(gone["deleteStudy"], s.study);
    for id in [&s.erased, &q, &empty_case, &s.case, &s.study] {
        assert!(!s.exists(id).await, "{id} is gone");
    }
    assert!(s.exists(&other).await);
}

/// An erased interview takes its quotations, their codes, the memos on it and on them, and
/// their place as evidence: each judgment citing one gets a new version (a tag sent with the
/// old one is a CONFLICT). The other interview keeps everything. The audit log says what went,
/// and no entry holds a word of the transcript.
#[tokio::test]
async fn an_erased_interview_takes_its_quotations_codes_memos_and_evidence_with_it() {
    let s = setup().await;
    let ana = s.server.token("ana", "analyst", Some(s.n)).await;
    let eva = s.server.token("eva", "evaluator", Some(s.n)).await;
    let q1 = s.quote(&ana, &s.erased, ERASED, "sportello Aurora").await;
    let q2 = s.quote(&ana, &s.erased, ERASED, "fasce grigie").await;
    let k = s.quote(&ana, &s.kept, KEPT, "consorzio coordina").await;
    let on_interview = s.memo(&ana, &s.erased, "Aurora: da ricontattare").await;
    let on_quotation = s.memo(&ana, &q1, "Lingotto, zona nord").await;
    let on_kept = s.memo(&ana, &k, "coordinamento").await;
    let on_case = s.memo(&ana, &s.case, "caso pilota").await;
    let tag = |dimension: &str, evidence: Vec<&Value>, consensus: bool| {
        json!({"i": {"caseId": s.case, "dimension": dimension, "intensity": "SIGNIFICANT",
                     "evidenceQuotationIds": evidence, "consensus": consensus}})
    };
    let by_eva = s
        .server
        .ok(
            Some(&eva),
            TAG,
            tag("PROBLEM_DEFINITION", vec![&q1, &k], false),
        )
        .await["tagDiscontinuity"]
        .clone();
    let consensus = s
        .server
        .ok(s.t(), TAG, tag("PROBLEM_DEFINITION", vec![&q2], true))
        .await["tagDiscontinuity"]
        .clone();
    let untouched = s
        .server
        .ok(Some(&eva), TAG, tag("ACTOR_NETWORK", vec![&k], false))
        .await["tagDiscontinuity"]
        .clone();

    let erased = num(&s.erased);
    let (n1, n2, nk) = (num(&q1), num(&q2), num(&k));
    s.server
        .ok(s.t(), DELETE_INTERVIEW, json!({"i": s.erased, "v": 1}))
        .await;

    for id in [&s.erased, &q1, &q2, &on_interview, &on_quotation] {
        assert!(!s.exists(id).await, "{id} is gone");
    }
    for id in [&s.kept, &k, &on_kept, &on_case, &s.code, &s.case] {
        assert!(s.exists(id).await, "{id} stays");
    }
    assert_eq!(
        s.server
            .count(&format!(
                "SELECT count(*) FROM quotation WHERE interview_id = {erased}"
            ))
            .await,
        0
    );
    assert_eq!(
        s.server
            .count(&format!(
                "SELECT count(*) FROM quotation_code WHERE quotation_id IN ({n1}, {n2})"
            ))
            .await,
        0
    );
    assert_eq!(
        s.server
            .count(&format!(
                "SELECT count(*) FROM quotation_code WHERE quotation_id = {nk}"
            ))
            .await,
        1
    );
    assert_eq!(
        s.server
            .count(&format!(
            "SELECT count(*) FROM memo WHERE (target_kind = 'interview' AND target_id = {erased}) \
             OR (target_kind = 'quotation' AND target_id IN ({n1}, {n2}))"
        ))
            .await,
        0
    );
    assert_eq!(
        s.server
            .count(&format!(
                "SELECT count(*) FROM discontinuity_evidence WHERE quotation_id IN ({n1}, {n2})"
            ))
            .await,
        0
    );
    // The index is told once, of the interview: the quotations' documents go with it (the
    // search test below), and an erasure costs one entry however many quotations it takes.
    assert_eq!(
        s.server
            .count(&format!(
                "SELECT count(*) FROM change_log WHERE op = 'delete' AND \
             ((entity = 'quotation' AND entity_id IN ({n1}, {n2})) \
              OR (entity = 'interview' AND entity_id = {erased}))"
            ))
            .await,
        1
    );

    let judgments = s
        .server
        .ok(
            s.t(),
            "query($c: ID!) { node(id: $c) { ... on Case { discontinuities { id version evidence { id } } } } }",
            json!({"c": s.case}),
        )
        .await["node"]["discontinuities"]
        .as_array()
        .unwrap()
        .clone();
    let judgment = |id: &Value| judgments.iter().find(|j| j["id"] == *id).unwrap().clone();
    assert_eq!(judgment(&by_eva["id"])["version"], 2);
    assert_eq!(judgment(&by_eva["id"])["evidence"], json!([{"id": k}]));
    assert_eq!(judgment(&consensus["id"])["version"], 2);
    assert_eq!(judgment(&consensus["id"])["evidence"], json!([]));
    assert_eq!(judgment(&untouched["id"])["version"], 1);
    let mut retag = tag("PROBLEM_DEFINITION", vec![&k], false);
    retag["i"]["expectedVersion"] = json!(1);
    let stale = s.server.gql(Some(&eva), TAG, retag).await;
    assert_eq!(error_code(&stale), "CONFLICT", "{stale}");

    let log = s.audit().await;
    let by = |entity: &str| -> Vec<Value> {
        log.iter()
            .filter(|e| e["operation"] == "deleteInterview" && e["entity"] == entity)
            .cloned()
            .collect()
    };
    let entry = by("interview");
    assert_eq!(entry.len(), 1, "{log:#?}");
    assert_eq!(entry[0]["entityId"], s.erased);
    assert_eq!(entry[0]["user"]["name"], "admin");
    let summary_of = audit_summary(&entry[0]);
    assert_eq!(summary_of["before"]["label"], "Int. 1");
    assert_eq!(summary_of["before"]["case"], num(&s.case));
    assert_eq!(summary_of["before"]["length"], ERASED.chars().count());
    assert_eq!(summary_of["deletedQuotations"], json!([n1, n2]));
    let mut memos: Vec<Value> = by("memo").iter().map(|e| e["entityId"].clone()).collect();
    memos.sort_by_key(num);
    let mut expected = vec![on_interview.clone(), on_quotation.clone()];
    expected.sort_by_key(num);
    assert_eq!(memos, expected);
    assert_eq!(by("discontinuity").len(), 2, "{log:#?}");
    // Erasure: no entry of the whole log holds the transcript's words, nor the memos'.
    for word in ["sportello", "Aurora", "Lingotto", "grigie"] {
        assert_eq!(
            s.server
                .count(&format!(
                    "SELECT count(*) FROM audit_log WHERE summary LIKE '%{word}%'"
                ))
                .await,
            0,
            "{word}"
        );
    }
}

/// Once erased, neither the transcript's words nor its quotations are found, in either scope
/// or in a concordance; the other interview's still are.
#[tokio::test]
async fn search_no_longer_finds_an_erased_transcript_nor_its_quotations() {
    let s = setup().await;
    s.quote(&s.admin, &s.erased, ERASED, "sportello Aurora")
        .await;
    s.quote(&s.admin, &s.kept, KEPT, "consorzio coordina").await;
    let found = |q: &'static str, scope: &'static str| {
        let server = &s.server;
        let t = s.t();
        async move {
            server
                .ok(
                    t,
                    "query($q: String!, $s: SearchScope) { search(query: $q, scope: $s) { totalCount } }",
                    json!({"q": q, "s": scope}),
                )
                .await["search"]["totalCount"]
                .as_i64()
                .unwrap()
        }
    };
    let lines = |term: &'static str| {
        let server = &s.server;
        let t = s.t();
        async move {
            server
                .ok(
                    t,
                    "query($t: String!) { concordance(term: $t) { edges { node { start } } } }",
                    json!({"t": term}),
                )
                .await["concordance"]["edges"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    for scope in ["TRANSCRIPTS", "QUOTATIONS"] {
        assert!(found("Aurora", scope).await > 0, "{scope}");
        assert!(found("consorzio", scope).await > 0, "{scope}");
    }
    assert_eq!(lines("sportello").await, 2);

    s.server
        .ok(s.t(), DELETE_INTERVIEW, json!({"i": s.erased, "v": 1}))
        .await;
    for scope in ["TRANSCRIPTS", "QUOTATIONS"] {
        for word in ["Aurora", "sportello", "Lingotto"] {
            assert_eq!(found(word, scope).await, 0, "{word} in {scope}");
        }
        assert!(found("consorzio", scope).await > 0, "{scope}");
    }
    assert_eq!(lines("sportello").await, 0);
    assert_eq!(lines("consorzio").await, 2);
}

/// Erasure leaves no copy of the transcript where quaderno keeps its data. Deleted documents
/// keep their words in their segment's dictionaries until the segment is merged, so the
/// writer merges it; on SQLite, `secure_delete` zeroes the freed rows and the write-ahead
/// log, which held the pages as they were, is emptied. Both happen just after the erasure.
#[tokio::test]
async fn an_erased_transcript_leaves_no_copy_in_the_index_nor_in_sqlite_s_files() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let t = Some(admin.as_str());
    let c = server.corpus(&admin, "Consenso", &[]).await;
    // Imported together, so that both are indexed in one commit, and long, so that each of
    // the writer's threads takes passages of both: the segments are left holding the kept
    // transcript beside the erased one's deleted documents. (A segment of the erased
    // transcript alone is dropped whole once every document in it is deleted.)
    let turns = |text: &str| {
        (0..40)
            .map(|n| format!("{text}\n\nINT: E poi? ({n})\n\n"))
            .collect::<String>()
    };
    let (status, body) = super::import::upload(
        &server,
        t,
        "mutation($c: ID!, $files: [Upload!]!) { importTranscripts(caseId: $c, files: $files) { transcripts { interview { id version } } } }",
        json!({"c": c.case}),
        &[
            ("Erased.txt", turns(ERASED).into_bytes()),
            ("Kept.txt", turns(KEPT).into_bytes()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let erased = body["data"]["importTranscripts"]["transcripts"][0]["interview"].clone();
    let dir = server.data_dir.path().to_owned();
    let sqlite = server.db.conn.get_database_backend() == sea_orm::DbBackend::Sqlite;
    // In the words of the index's text fields, and in the database's files as written. An
    // index read just as a merge replaces its files counts as not clean yet: read again.
    let copies = || {
        let mut found = index_words_with(&dir.join("index"), "lingott")
            .unwrap_or_else(|e| vec![format!("an index being rewritten: {e}")]);
        if sqlite {
            for file in ["quaderno.db", "quaderno.db-wal"] {
                let bytes = std::fs::read(dir.join(file)).unwrap_or_default();
                if bytes.windows(8).any(|w| w == b"Lingotto") {
                    found.push(file.to_owned());
                }
            }
        }
        found
    };
    let before = copies();
    assert!(before.iter().any(|c| c.starts_with("text")), "{before:?}");
    if sqlite {
        assert!(
            before.iter().any(|c| c.starts_with("quaderno.db")),
            "{before:?}"
        );
    }

    server
        .ok(
            t,
            DELETE_INTERVIEW,
            json!({"i": erased["id"], "v": erased["version"]}),
        )
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut left = copies();
    while !left.is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        left = copies();
    }
    assert!(
        left.is_empty(),
        "still there a minute after the erasure: {left:?}"
    );
    // The merged segment held the kept transcript too: it is still found.
    let found = server
        .ok(
            t,
            "{ search(query: \"consorzio\") { totalCount } }",
            json!({}),
        )
        .await;
    assert!(found["search"]["totalCount"].as_i64().unwrap() > 0);
}

/// The text fields (and the segment) whose dictionary has a word containing `fragment`, in
/// the index in `dir` as committed, deleted documents' words included.
fn index_words_with(dir: &std::path::Path, fragment: &str) -> tantivy::Result<Vec<String>> {
    use tantivy::ReloadPolicy;
    let index = tantivy::Index::open_in_dir(dir)?;
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()?;
    let (_, f) = api::search::schema::build();
    let mut found = Vec::new();
    for segment in reader.searcher().segment_readers() {
        for (name, field) in [
            ("text", f.text),
            ("text_exact", f.text_exact),
            ("text_lemma", f.text_lemma),
            ("text_surface", f.text_surface),
        ] {
            let inverted = segment.inverted_index(field)?;
            let mut words = inverted.terms().stream()?;
            while words.advance() {
                if String::from_utf8_lossy(words.key()).contains(fragment) {
                    found.push(format!(
                        "{name} in {}",
                        segment.segment_id().short_uuid_string()
                    ));
                    break;
                }
            }
        }
    }
    Ok(found)
}

/// A case is deleted only without interviews, judgments and interventions (CONFLICT naming
/// what is left), then with its links and memos; a study only without cases, then with its
/// codebook, memos and members, audited without a study.
#[tokio::test]
async fn cases_and_studies_are_deleted_only_once_empty() {
    let server = TestServer::demo().await;
    let admin = server.admin().await;
    let t = Some(admin.as_str());
    let ambito = server
        .ok(
            t,
            "{ ambiti(first: 1) { edges { node { code } } } }",
            json!({}),
        )
        .await["ambiti"]["edges"][0]["node"]["code"]
        .clone();
    let project = server
        .ok(
            t,
            "{ projects(first: 1) { edges { node { id } } } }",
            json!({}),
        )
        .await["projects"]["edges"][0]["node"]["id"]
        .clone();
    let c = server.corpus(&admin, "Da chiudere", &[KEPT]).await;
    let case = |label: &'static str| {
        let server = &server;
        let study = c.study.clone();
        let (ambito, project) = (ambito.clone(), project.clone());
        async move {
            server
                .ok(
                    t,
                    "mutation($s: ID!, $l: String!, $a: [String!], $p: [ID!]) { createCase(input: {studyId: $s, label: $l, ambitoCodes: $a, projectIds: $p}) { id } }",
                    json!({"s": study, "l": label, "a": [ambito], "p": [project]}),
                )
                .await["createCase"]["id"]
                .clone()
        }
    };
    let judged = case("Giudicato").await;
    server
        .ok(
            t,
            TAG,
            json!({"i": {"caseId": judged, "dimension": "ACTOR_NETWORK", "intensity": "PARTIAL"}}),
        )
        .await;
    let acted = case("Con interventi").await;
    server
        .ok(
            t,
            "mutation($c: ID!) { createIntervention(input: {caseId: $c, label: \"Casa\"}) { id } }",
            json!({"c": acted}),
        )
        .await;
    let empty = case("Vuoto").await;
    let memo = server
        .ok(t, CREATE_MEMO, json!({"t": empty, "x": "da chiudere"}))
        .await["createMemo"]["id"]
        .clone();

    let refused = |id: Value, what: &'static str| {
        let server = &server;
        async move {
            let body = server.gql(t, DELETE_CASE, json!({"i": id})).await;
            assert_eq!(error_code(&body), "CONFLICT", "{body}");
            let message = body["errors"][0]["message"].as_str().unwrap();
            assert!(message.contains(what), "{message}");
        }
    };
    refused(c.case.clone(), "1 interview").await;
    refused(judged.clone(), "1 discontinuity judgment").await;
    refused(acted.clone(), "1 intervention").await;
    let body = server.gql(t, DELETE_STUDY, json!({"i": c.study})).await;
    assert_eq!(error_code(&body), "CONFLICT", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("4 cases"),
        "{body}"
    );

    let e = num(&empty);
    server.ok(t, DELETE_CASE, json!({"i": empty})).await;
    for table in ["case_ambito", "case_project", "study_case"] {
        let column = if table == "study_case" {
            "id"
        } else {
            "case_id"
        };
        assert_eq!(
            server
                .count(&format!(
                    "SELECT count(*) FROM {table} WHERE {column} = {e}"
                ))
                .await,
            0,
            "{table}"
        );
    }
    assert_eq!(
        server
            .count(&format!(
                "SELECT count(*) FROM memo WHERE id = {}",
                num(&memo)
            ))
            .await,
        0
    );
    let log = server
        .ok(
            t,
            "query($s: ID!) { auditLog(studyId: $s, first: 100) { edges { node { operation entity entityId summary } } } }",
            json!({"s": c.study}),
        )
        .await["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .filter(|n| n["operation"] == "deleteCase")
        .collect::<Vec<_>>();
    assert_eq!(log.len(), 2, "the case and its memo: {log:#?}");
    let entry = log.iter().find(|n| n["entity"] == "case").unwrap();
    assert_eq!(entry["entityId"], empty);
    let summary_of = audit_summary(entry);
    assert_eq!(summary_of["before"]["label"], "Vuoto");
    assert_eq!(summary_of["before"]["projects"], json!([num(&project)]));
    assert_eq!(summary_of["before"]["ambiti"].as_array().unwrap().len(), 1);

    // Emptied, the case goes too.
    server
        .ok(
            t,
            DELETE_INTERVIEW,
            json!({"i": c.interviews[0]["id"], "v": 1}),
        )
        .await;
    server.ok(t, DELETE_CASE, json!({"i": c.case})).await;

    // A study with a codebook, memos and a member, and one case.
    let s = server.corpus(&admin, "Da cancellare", &[]).await;
    let n = num(&s.study);
    let ana = server.token("ana", "analyst", Some(n)).await;
    let code = |name: &'static str, parent: Option<Value>| {
        let server = &server;
        let study = s.study.clone();
        async move {
            server
                .ok(
                    t,
                    "mutation($s: ID!, $n: String!, $p: ID) { createCode(input: {studyId: $s, name: $n, parentId: $p}) { id } }",
                    json!({"s": study, "n": name, "p": parent}),
                )
                .await["createCode"]["id"]
                .clone()
        }
    };
    let parent = code("Bisogni", None).await;
    let child = code("Casa", Some(parent.clone())).await;
    server
        .ok(
            Some(&ana),
            CREATE_MEMO,
            json!({"t": s.study, "x": "disegno"}),
        )
        .await;
    server
        .ok(
            Some(&ana),
            CREATE_MEMO,
            json!({"t": child, "x": "definizione"}),
        )
        .await;
    let body = server.gql(t, DELETE_STUDY, json!({"i": s.study})).await;
    assert_eq!(error_code(&body), "CONFLICT", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("1 case"),
        "{body}"
    );
    server.ok(t, DELETE_CASE, json!({"i": s.case})).await;
    server.ok(t, DELETE_STUDY, json!({"i": s.study})).await;
    for (table, column) in [
        ("study", "id"),
        ("code", "study_id"),
        ("memo", "study_id"),
        ("study_member", "study_id"),
    ] {
        assert_eq!(
            server
                .count(&format!(
                    "SELECT count(*) FROM {table} WHERE {column} = {n}"
                ))
                .await,
            0,
            "{table}"
        );
    }
    let seen = server
        .ok(
            Some(&ana),
            "query($i: ID!) { node(id: $i) { id } }",
            json!({"i": s.study}),
        )
        .await;
    assert!(seen["node"].is_null(), "{seen}");
    let again = server.gql(t, DELETE_STUDY, json!({"i": s.study})).await;
    assert_eq!(error_code(&again), "NOT_FOUND", "{again}");
    // Audited without a study (the study's own log cannot be read once it is gone).
    let db = &server.db.conn;
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT study_id, summary FROM audit_log WHERE operation = 'deleteStudy' AND entity = 'study' AND entity_id = {n}"
            ),
        ))
        .await
        .unwrap()
        .expect("a deleteStudy entry");
    assert_eq!(row.try_get::<Option<i64>>("", "study_id").unwrap(), None);
    let summary_of: Value =
        serde_json::from_str(&row.try_get::<String>("", "summary").unwrap()).unwrap();
    assert_eq!(summary_of["before"]["title"], "Da cancellare");
    assert_eq!(summary_of["deletedCodes"], 2);
    let roles: Vec<&str> = summary_of["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert!(
        roles.contains(&"ANALYST") && roles.contains(&"OWNER"),
        "{summary_of}"
    );
    assert_eq!(
        server.count(&format!("SELECT count(*) FROM audit_log WHERE operation = 'deleteStudy' AND entity = 'memo' AND study_id = {n}")
        )
        .await,
        2
    );
}

/// A quotation coded on an interview being erased: coded first, it is erased with the rest
/// (and listed); coded while the erasure holds the interview, it is NOT_FOUND. Never an
/// INTERNAL foreign key error, never a quotation left without its interview.
#[tokio::test]
async fn a_quotation_coded_while_its_interview_is_erased_goes_with_it_or_is_not_found() {
    let s = setup().await;
    let (start, end) = span(ERASED, "Aurora");
    let create = |interview: &Value| {
        s.server.gql(
            s.t(),
            CREATE_QUOTATION,
            json!({"i": interview, "s": start, "e": end, "c": [s.code]}),
        )
    };
    let delete = |interview: &Value| {
        s.server
            .gql(s.t(), DELETE_INTERVIEW, json!({"i": interview, "v": 1}))
    };

    // The quotation first.
    let (created, deleted) = with_paused(
        &s.server,
        &["createQuotation"],
        create(&s.erased),
        delete(&s.erased),
    )
    .await;
    assert!(created.get("errors").is_none(), "{created}");
    assert!(deleted.get("errors").is_none(), "{deleted}");
    let q = num(&created["data"]["createQuotation"]["id"]);
    let entry = s
        .audit()
        .await
        .into_iter()
        .find(|e| e["operation"] == "deleteInterview" && e["entity"] == "interview")
        .unwrap();
    assert_eq!(audit_summary(&entry)["deletedQuotations"], json!([q]));

    // The erasure first (the other interview has the same span).
    let (deleted, created) = with_paused(
        &s.server,
        &["deleteInterview"],
        delete(&s.kept),
        create(&s.kept),
    )
    .await;
    assert!(deleted.get("errors").is_none(), "{deleted}");
    assert_eq!(error_code(&created), "NOT_FOUND", "{created}");

    assert_eq!(
        s.server.count(
            "SELECT count(*) FROM quotation WHERE interview_id NOT IN (SELECT id FROM interview)"
        )
        .await,
        0
    );
    assert_eq!(s.server.count("SELECT count(*) FROM quotation").await, 0);
}

/// A memo written on an interview or a case being deleted: written first, it is deleted with
/// it (and audited); written while the deletion holds it, it is NOT_FOUND. Memos have no
/// foreign key to their target, so without the locks one could outlive it.
#[tokio::test]
async fn a_memo_written_while_its_interview_or_case_is_deleted_goes_with_it_or_is_not_found() {
    let s = setup().await;
    let memo = |target: &Value| {
        s.server
            .gql(s.t(), CREATE_MEMO, json!({"t": target, "x": "nota"}))
    };
    let delete = |interview: &Value| {
        s.server
            .gql(s.t(), DELETE_INTERVIEW, json!({"i": interview, "v": 1}))
    };

    let (written, deleted) = with_paused(
        &s.server,
        &["createMemo"],
        memo(&s.erased),
        delete(&s.erased),
    )
    .await;
    assert!(written.get("errors").is_none(), "{written}");
    assert!(deleted.get("errors").is_none(), "{deleted}");

    let (deleted, written) = with_paused(
        &s.server,
        &["deleteInterview"],
        delete(&s.kept),
        memo(&s.kept),
    )
    .await;
    assert!(deleted.get("errors").is_none(), "{deleted}");
    assert_eq!(error_code(&written), "NOT_FOUND", "{written}");

    let (deleted, written) = with_paused(
        &s.server,
        &["deleteCase"],
        s.server.gql(s.t(), DELETE_CASE, json!({"i": s.case})),
        memo(&s.case),
    )
    .await;
    assert!(deleted.get("errors").is_none(), "{deleted}");
    assert_eq!(error_code(&written), "NOT_FOUND", "{written}");

    assert_eq!(
        s.server.count("SELECT count(*) FROM memo").await,
        0,
        "no memo outlives its target"
    );
}

/// A judgment given evidence from an interview while it is erased: given first, the evidence
/// is withdrawn as any other (a new version, an audit entry), not dropped unseen with the
/// quotation; given after, the quotation is gone (NOT_FOUND or CONFLICT).
#[tokio::test]
async fn evidence_given_while_its_interview_is_erased_is_withdrawn_with_a_new_version() {
    let s = setup().await;
    let delete = |_: &Value, interview: &Value| {
        s.server
            .gql(s.t(), DELETE_INTERVIEW, json!({"i": interview, "v": 1}))
    };
    evidence_race(&s, "deleteInterview", delete, &["NOT_FOUND", "CONFLICT"]).await;
}

/// The same race for one quotation: a judgment given it as evidence while it is deleted
/// loses it with a new version (the deletion waits for the tag, then withdraws the evidence),
/// or the tag waits for the deletion and finds no quotation. Before, the deletion read the
/// evidence before the tag committed, and the tag's row then went with the quotation unseen.
#[tokio::test]
async fn evidence_given_while_its_quotation_is_deleted_is_withdrawn_with_a_new_version() {
    let s = setup().await;
    let delete = |quotation: &Value, _: &Value| {
        s.server.gql(
            s.t(),
            "mutation($q: ID!) { deleteQuotation(id: $q, version: 1) }",
            json!({"q": quotation}),
        )
    };
    evidence_race(&s, "deleteQuotation", delete, &["NOT_FOUND"]).await;
}

/// Tags a judgment with a quotation as evidence while `delete(quotation, its interview)`
/// (the mutation `deleting`) takes that quotation away, both ways round: first the tag is held
/// before it commits, then the deletion. The tag that comes second is refused with one of
/// `refused`; no evidence row outlives its quotation.
async fn evidence_race<F, D>(s: &Setup, deleting: &str, delete: D, refused: &[&str])
where
    D: Fn(&Value, &Value) -> F,
    F: std::future::Future<Output = Value>,
{
    let q = s
        .quote(&s.admin, &s.erased, ERASED, "sportello Aurora")
        .await;
    let k = s.quote(&s.admin, &s.kept, KEPT, "consorzio coordina").await;
    let tag = |dimension: &str, evidence: &Value| {
        s.server.gql(
            s.t(),
            TAG,
            json!({"i": {"caseId": s.case, "dimension": dimension, "intensity": "SIGNIFICANT",
                         "evidenceQuotationIds": [evidence]}}),
        )
    };

    let (tagged, deleted) = with_paused(
        &s.server,
        &["tagDiscontinuity"],
        tag("PROBLEM_DEFINITION", &q),
        delete(&q, &s.erased),
    )
    .await;
    assert!(tagged.get("errors").is_none(), "{tagged}");
    assert!(deleted.get("errors").is_none(), "{deleted}");
    let now = s
        .server
        .ok(
            s.t(),
            "query($j: ID!) { node(id: $j) { ... on Discontinuity { version evidence { id } } } }",
            json!({"j": tagged["data"]["tagDiscontinuity"]["id"]}),
        )
        .await["node"]
        .clone();
    assert_eq!(now, json!({"version": 2, "evidence": []}));

    let (deleted, tagged) = with_paused(
        &s.server,
        &[deleting],
        delete(&k, &s.kept),
        tag("ACTOR_NETWORK", &k),
    )
    .await;
    assert!(deleted.get("errors").is_none(), "{deleted}");
    let code = error_code(&tagged);
    assert!(refused.contains(&code), "{tagged}");
    assert_eq!(
        s.server
            .count("SELECT count(*) FROM discontinuity_evidence")
            .await,
        0
    );
}

/// Live coders watching the study hear each quotation of an erased interview DELETED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_hear_the_quotations_of_an_erased_interview_deleted() {
    use futures::{SinkExt, StreamExt};
    use std::time::Duration;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;

    let s = setup().await;
    let ana = s.server.token("ana", "analyst", Some(s.n)).await;
    let mut request = format!("{}/graphql/ws", s.server.url.replace("http", "ws"))
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let query = "subscription($s: ID!) { quotationChanged(studyId: $s) { kind id } }";
    for message in [
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {ana}")}}),
        json!({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": {"s": s.study}}}),
    ] {
        socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
    }
    // The next change heard, if one comes within `wait`.
    async fn heard(
        socket: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
                  + Unpin),
        wait: Duration,
    ) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(wait, socket.next()).await.ok()?;
            if let Message::Text(t) = msg.expect("the socket stays open").unwrap() {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "next" {
                    return Some(v["payload"]["data"]["quotationChanged"].clone());
                }
            }
        }
    }
    // Quotations coded until one is heard: the subscription is listening from then on (the
    // protocol does not say when it starts). Those coded before were not heard.
    let mut coded = Vec::new();
    loop {
        coded.push(s.quote(&s.admin, &s.erased, ERASED, "sportello").await);
        if let Some(change) = heard(&mut socket, Duration::from_millis(500)).await {
            assert_eq!(
                change,
                json!({"kind": "CREATED", "id": coded.last().unwrap()})
            );
            break;
        }
    }
    coded.push(s.quote(&s.admin, &s.erased, ERASED, "Lingotto").await);
    assert_eq!(
        heard(&mut socket, Duration::from_secs(10)).await,
        Some(json!({"kind": "CREATED", "id": coded.last().unwrap()}))
    );

    s.server
        .ok(s.t(), DELETE_INTERVIEW, json!({"i": s.erased, "v": 1}))
        .await;
    let mut changes = Vec::new();
    for _ in 0..coded.len() {
        changes.push(heard(&mut socket, Duration::from_secs(10)).await);
    }
    let expected: Vec<Option<Value>> = coded
        .iter()
        .map(|q| Some(json!({"kind": "DELETED", "id": q})))
        .collect();
    assert_eq!(changes, expected);
}
