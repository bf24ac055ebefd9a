//! Analysis results equal a brute-force count over the raw data, on randomised coding.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tests::{error_code, TestServer};

struct Raw {
    /// code → parent
    parents: HashMap<String, Option<String>>,
    /// quotation → (interview, case, start, end, codes)
    quotations: Vec<(String, String, String, i64, i64, BTreeSet<String>)>,
}

impl Raw {
    fn subtree(&self, code: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::from([code.to_owned()]);
        loop {
            let before = out.len();
            for (c, p) in &self.parents {
                if p.as_ref().is_some_and(|p| out.contains(p)) {
                    out.insert(c.clone());
                }
            }
            if out.len() == before {
                return out;
            }
        }
    }

    fn tagged(&self, code: &str) -> Vec<usize> {
        let sub = self.subtree(code);
        (0..self.quotations.len())
            .filter(|&i| !self.quotations[i].5.is_disjoint(&sub))
            .collect()
    }
}

#[tokio::test]
async fn frequencies_cooccurrence_and_matrix_match_a_brute_force_count() {
    let server = TestServer::empty().await;
    let token = server.admin().await;
    let t = Some(token.as_str());
    let mut rng = StdRng::seed_from_u64(20261123);
    let study = server
        .ok(
            t,
            r#"mutation { createStudy(input: {title: "Casuale"}) { id } }"#,
            json!({}),
        )
        .await["createStudy"]["id"]
        .clone();
    let mut codes: Vec<Value> = Vec::new();
    for n in 0..8 {
        let parent = if n > 1 && rng.random_bool(0.6) {
            Some(codes[rng.random_range(0..codes.len())].clone())
        } else {
            None
        };
        let c = server
            .ok(t, "mutation($s: ID!, $n: String!, $p: ID) { createCode(input: {studyId: $s, name: $n, parentId: $p}) { id } }", json!({"s": study, "n": format!("codice {n}"), "p": parent}))
            .await;
        codes.push(c["createCode"]["id"].clone());
    }
    let text = "R: Una frase qualunque, con città e perché, ripetuta per avere spazio. ".repeat(6);
    let len = text.chars().count() as i64;
    let mut case_ids = Vec::new();
    let mut role_of: HashMap<String, Option<&str>> = HashMap::new();
    for c in 0..3 {
        let case = server.ok(t, "mutation($s: ID!, $l: String!) { createCase(input: {studyId: $s, label: $l}) { id } }", json!({"s": study, "l": format!("Caso {c}")})).await["createCase"]["id"].clone();
        case_ids.push(case.as_str().unwrap().to_owned());
        for i in 0..rng.random_range(1..4) {
            let role =
                [Some("dirigente"), Some("assistente sociale"), None][rng.random_range(0..3)];
            let interview = server
                .ok(t, "mutation($c: ID!, $l: String!, $t: String!, $r: String) { createInterview(input: {caseId: $c, label: $l, transcript: $t, intervieweeRole: $r}) { id } }", json!({"c": case, "l": format!("Int. {c}.{i}"), "t": text, "r": role}))
                .await["createInterview"]["id"]
                .clone();
            role_of.insert(interview.as_str().unwrap().to_owned(), role);
            for _ in 0..rng.random_range(2..9) {
                let start = rng.random_range(0..len - 40);
                let end = start + rng.random_range(1..40);
                let k = rng.random_range(0..4);
                let chosen: BTreeSet<usize> =
                    (0..k).map(|_| rng.random_range(0..codes.len())).collect();
                let ids: Vec<&Value> = chosen.iter().map(|&i| &codes[i]).collect();
                server
                    .ok(t, "mutation($i: ID!, $s: Int!, $e: Int!, $c: [ID!]!) { createQuotation(input: {interviewId: $i, start: $s, end: $e, codeIds: $c}) { id } }", json!({"i": interview, "s": start, "e": end, "c": ids}))
                    .await;
            }
        }
    }
    // The raw data, as any client can read it.
    let raw_codes = server.ok(t, "query($s: ID!) { node(id: $s) { ... on Study { codebook { ...C children { ...C children { ...C children { ...C } } } } } } } fragment C on Code { id parent { id } }", json!({"s": study})).await;
    let mut parents = HashMap::new();
    fn walk(v: &Value, parents: &mut HashMap<String, Option<String>>) {
        for c in v.as_array().into_iter().flatten() {
            parents.insert(
                c["id"].as_str().unwrap().to_owned(),
                c["parent"]["id"].as_str().map(str::to_owned),
            );
            walk(&c["children"], parents);
        }
    }
    walk(&raw_codes["node"]["codebook"], &mut parents);
    assert_eq!(parents.len(), codes.len());
    let listed = server.ok(t, "query($s: ID!) { quotations(filter: {studyIds: [$s]}, first: 1000) { edges { node { id start end interview { id case { id } } codes { id } } } } }", json!({"s": study})).await;
    let quotations = listed["quotations"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let n = &e["node"];
            (
                n["id"].as_str().unwrap().to_owned(),
                n["interview"]["id"].as_str().unwrap().to_owned(),
                n["interview"]["case"]["id"].as_str().unwrap().to_owned(),
                n["start"].as_i64().unwrap(),
                n["end"].as_i64().unwrap(),
                n["codes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["id"].as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect();
    let raw = Raw {
        parents,
        quotations,
    };

    // Frequencies, whole study and per case.
    let freq = server.ok(t, "query($s: ID!) { s: codeFrequencies(studyId: $s) { code { id } quotations interviews cases } c: codeFrequencies(studyId: $s, by: CASE) { code { id } case { id } quotations interviews cases } }", json!({"s": study})).await;
    for row in freq["s"].as_array().unwrap() {
        let tagged = raw.tagged(row["code"]["id"].as_str().unwrap());
        assert_eq!(row["quotations"].as_u64().unwrap() as usize, tagged.len());
        assert_eq!(
            row["interviews"].as_u64().unwrap() as usize,
            tagged
                .iter()
                .map(|&i| &raw.quotations[i].1)
                .collect::<BTreeSet<_>>()
                .len()
        );
        assert_eq!(
            row["cases"].as_u64().unwrap() as usize,
            tagged
                .iter()
                .map(|&i| &raw.quotations[i].2)
                .collect::<BTreeSet<_>>()
                .len()
        );
    }
    assert_eq!(freq["s"].as_array().unwrap().len(), codes.len());
    // Every case has its row for every code, with no quotations too.
    let mut per_case: BTreeMap<(String, String), usize> = BTreeMap::new();
    for code in raw.parents.keys() {
        for case in &case_ids {
            per_case.insert((code.clone(), case.clone()), 0);
        }
        for i in raw.tagged(code) {
            *per_case
                .entry((code.clone(), raw.quotations[i].2.clone()))
                .or_default() += 1;
        }
    }
    let got: BTreeMap<(String, String), usize> = freq["c"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                (
                    r["code"]["id"].as_str().unwrap().to_owned(),
                    r["case"]["id"].as_str().unwrap().to_owned(),
                ),
                r["quotations"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    assert_eq!(got, per_case);
    // Per interviewee role: a row for every role recorded, and one for interviews without.
    assert!(role_of.values().collect::<BTreeSet<_>>().len() >= 2);
    let by_role = server.ok(t, "query($s: ID!) { codeFrequencies(studyId: $s, by: INTERVIEWEE_ROLE) { code { id } intervieweeRole quotations interviews } }", json!({"s": study})).await;
    let mut per_role: BTreeMap<(String, Option<String>), (usize, BTreeSet<String>)> =
        BTreeMap::new();
    for code in raw.parents.keys() {
        for role in role_of.values() {
            per_role.insert((code.clone(), role.map(str::to_owned)), Default::default());
        }
        for i in raw.tagged(code) {
            let interview = &raw.quotations[i].1;
            let cell = per_role
                .get_mut(&(code.clone(), role_of[interview].map(str::to_owned)))
                .unwrap();
            cell.0 += 1;
            cell.1.insert(interview.clone());
        }
    }
    let expected: BTreeMap<(String, Option<String>), (usize, usize)> = per_role
        .into_iter()
        .map(|(k, (n, interviews))| (k, (n, interviews.len())))
        .collect();
    let got: BTreeMap<(String, Option<String>), (usize, usize)> = by_role["codeFrequencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                (
                    r["code"]["id"].as_str().unwrap().to_owned(),
                    r["intervieweeRole"].as_str().map(str::to_owned),
                ),
                (
                    r["quotations"].as_u64().unwrap() as usize,
                    r["interviews"].as_u64().unwrap() as usize,
                ),
            )
        })
        .collect();
    assert_eq!(got, expected);
    assert_eq!(
        got.len(),
        by_role["codeFrequencies"].as_array().unwrap().len(),
        "one row per code and role"
    );

    // Co-occurrence: both codes on one quotation, or one each on overlapping quotations; a
    // code and its ancestor, which co-occur by construction, are left out.
    let co = server
        .ok(
            t,
            "query($s: ID!) { codeCooccurrence(studyId: $s) { a { id } b { id } count } }",
            json!({"s": study}),
        )
        .await;
    let got: BTreeMap<(String, String), usize> = co["codeCooccurrence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let (a, b) = (
                c["a"]["id"].as_str().unwrap().to_owned(),
                c["b"]["id"].as_str().unwrap().to_owned(),
            );
            (
                if a < b { (a, b) } else { (b, a) },
                c["count"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    let mut expected = BTreeMap::new();
    let ids: Vec<&String> = raw.parents.keys().collect();
    for (x, a) in ids.iter().enumerate() {
        for b in &ids[x + 1..] {
            if raw.subtree(a).contains(*b) || raw.subtree(b).contains(*a) {
                continue;
            }
            let (qa, qb): (BTreeSet<usize>, BTreeSet<usize>) = (
                raw.tagged(a).into_iter().collect(),
                raw.tagged(b).into_iter().collect(),
            );
            let mut n = qa.intersection(&qb).count();
            for i in 0..raw.quotations.len() {
                for j in i + 1..raw.quotations.len() {
                    let (p, q) = (&raw.quotations[i], &raw.quotations[j]);
                    let overlap = p.1 == q.1 && p.3 < q.4 && q.3 < p.4;
                    if overlap
                        && ((qa.contains(&i) && qb.contains(&j))
                            || (qb.contains(&i) && qa.contains(&j)))
                    {
                        n += 1;
                    }
                }
            }
            if n > 0 {
                let key = if a < b {
                    ((*a).clone(), (*b).clone())
                } else {
                    ((*b).clone(), (*a).clone())
                };
                expected.insert(key, n);
            }
        }
    }
    assert_eq!(got, expected);
    assert!(!expected.is_empty());

    // The code × case matrix: counts and the quotations behind them.
    let m = server.ok(t, "query($s: ID!) { codeCaseMatrix(studyId: $s) { code { id } case { id } count quotations { id } } }", json!({"s": study})).await;
    for cell in m["codeCaseMatrix"].as_array().unwrap() {
        let (code, case) = (
            cell["code"]["id"].as_str().unwrap(),
            cell["case"]["id"].as_str().unwrap(),
        );
        let want: BTreeSet<String> = raw
            .tagged(code)
            .into_iter()
            .filter(|&i| raw.quotations[i].2 == case)
            .map(|i| raw.quotations[i].0.clone())
            .collect();
        let have: BTreeSet<String> = cell["quotations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(have, want);
        assert_eq!(cell["count"].as_u64().unwrap() as usize, want.len());
    }
    assert_eq!(
        m["codeCaseMatrix"].as_array().unwrap().len(),
        codes.len() * 3
    );
}

#[tokio::test]
async fn a_study_with_more_interviews_than_a_statement_takes_parameters_is_analysed() {
    let server = TestServer::empty().await;
    let token = server.admin().await;
    let t = Some(token.as_str());
    // 65,536 interviews, one quotation each.
    let (study, code) = server.crowded_study(&token, 16).await;
    let got = server
        .ok(t, "query($s: ID!) { codeFrequencies(studyId: $s) { code { id } quotations interviews cases } codeCaseMatrix(studyId: $s) { count } }", json!({"s": study}))
        .await;
    assert_eq!(
        got,
        json!({
            "codeFrequencies": [{"code": {"id": code}, "quotations": 65_536, "interviews": 65_536, "cases": 1}],
            "codeCaseMatrix": [{"count": 65_536}],
        })
    );
}

/// A study with the codes Servizi > Accesso (a child) and Comunità, and `quotations` of
/// "Là c’è l’unità più città, è così." coded with them: (start, end, code names).
async fn coded_study(
    server: &TestServer,
    token: &str,
    quotations: &[(i64, i64, &[&str])],
) -> (Value, HashMap<&'static str, Value>) {
    let t = Some(token);
    let corpus = server
        .corpus(token, "Piccolo", &["R: Là c’è l’unità più città, è così."])
        .await;
    let mut codes: HashMap<&'static str, Value> = HashMap::new();
    for (name, parent) in [
        ("Servizi", None),
        ("Accesso", Some("Servizi")),
        ("Comunità", None),
    ] {
        let id = server
            .ok(t, "mutation($s: ID!, $n: String!, $p: ID) { createCode(input: {studyId: $s, name: $n, parentId: $p}) { id } }", json!({"s": corpus.study, "n": name, "p": parent.map(|p| codes[p].clone())}))
            .await["createCode"]["id"]
            .clone();
        codes.insert(name, id);
    }
    for (start, end, names) in quotations {
        let ids: Vec<&Value> = names.iter().map(|n| &codes[n]).collect();
        server
            .ok(t, "mutation($i: ID!, $s: Int!, $e: Int!, $c: [ID!]!) { createQuotation(input: {interviewId: $i, start: $s, end: $e, codeIds: $c}) { id } }", json!({"i": corpus.interviews[0]["id"], "s": start, "e": end, "c": ids}))
            .await;
    }
    (corpus.study, codes)
}

/// A code id that is not in the study's codebook (missing, of another study, of a study the
/// caller may not read) is NOT_FOUND, all three alike; a code asked twice counts once.
#[tokio::test]
async fn codes_outside_the_codebook_are_not_found_and_a_code_asked_twice_counts_once() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let (study, codes) = coded_study(&server, &admin, &[(3, 5, &["Accesso"])]).await;
    let (other, other_codes) = coded_study(&server, &admin, &[]).await;
    let viewer = server
        .token(
            "lettrice",
            "viewer",
            Some(tests::id_number(study.as_str().unwrap())),
        )
        .await;
    assert_ne!(study, other);
    let missing = api::graphql::ids::encode(api::graphql::ids::Kind::Code, 987_654).0;
    let queries = [
        "query($s: ID!, $c: [ID!]) { r: codeFrequencies(studyId: $s, codeIds: $c) { quotations } }",
        "query($s: ID!, $c: [ID!]) { r: codeCooccurrence(studyId: $s, codeIds: $c) { count } }",
        "query($s: ID!, $c: [ID!]) { r: codeCaseMatrix(studyId: $s, codeIds: $c) { count } }",
    ];
    for query in queries {
        let mut answers = Vec::new();
        for (token, asked) in [
            (&admin, json!([missing])),
            (&admin, json!([codes["Accesso"], other_codes["Accesso"]])),
            // The other study is private to the admin: its code is no more than a missing one.
            (&viewer, json!([other_codes["Comunità"]])),
            (&viewer, json!([codes["Accesso"], missing])),
        ] {
            let r = server
                .gql(Some(token), query, json!({"s": study, "c": asked}))
                .await;
            assert_eq!(error_code(&r), "NOT_FOUND", "{query}, {asked}: {r}");
            answers.push(r["errors"][0]["message"].clone());
        }
        assert!(
            answers.iter().all(|m| *m == json!("code not found")),
            "{query}: {answers:?}"
        );
    }
    let twice = server
        .ok(
            Some(&viewer),
            "query($s: ID!, $c: [ID!]) { f: codeFrequencies(studyId: $s, codeIds: $c) { quotations } m: codeCaseMatrix(studyId: $s, codeIds: $c) { count } }",
            json!({"s": study, "c": [codes["Servizi"], codes["Servizi"]]}),
        )
        .await;
    assert_eq!(
        twice,
        json!({"f": [{"quotations": 1}], "m": [{"count": 1}]})
    );
}

/// A code counts with its descendants, so a code and its ancestor co-occur on every
/// quotation of the code: such a pair tells nothing and is left out, whether all codes or
/// the pair is asked for. Other pairs keep counting through the ancestor.
#[tokio::test]
async fn a_code_and_its_ancestor_are_not_reported_as_cooccurring() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let t = Some(admin.as_str());
    // "Là" with Accesso, overlapping "Là c’è" with Comunità; "città" with Servizi and Accesso.
    let (study, codes) = coded_study(
        &server,
        &admin,
        &[
            (3, 5, &["Accesso"]),
            (3, 8, &["Comunità"]),
            (22, 27, &["Servizi", "Accesso"]),
        ],
    )
    .await;
    let query = "query($s: ID!, $c: [ID!]) { codeCooccurrence(studyId: $s, codeIds: $c) { a { name } b { name } count } }";
    let all = server.ok(t, query, json!({"s": study, "c": null})).await;
    let mut pairs: Vec<(String, String, u64)> = all["codeCooccurrence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let (a, b) = (
                c["a"]["name"].as_str().unwrap().to_owned(),
                c["b"]["name"].as_str().unwrap().to_owned(),
            );
            let (a, b) = if a < b { (a, b) } else { (b, a) };
            (a, b, c["count"].as_u64().unwrap())
        })
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            ("Accesso".to_owned(), "Comunità".to_owned(), 1),
            ("Comunità".to_owned(), "Servizi".to_owned(), 1),
        ],
        "{all}"
    );
    let pair = server
        .ok(
            t,
            query,
            json!({"s": study, "c": [codes["Servizi"], codes["Accesso"]]}),
        )
        .await;
    assert_eq!(pair["codeCooccurrence"], json!([]));
}

/// Grouped by case or ambito, every case of the study (every ambito of its cases) has its
/// row for every code, with no quotations too, as the whole study has.
#[tokio::test]
async fn frequencies_by_case_and_ambito_have_a_row_for_every_group() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let t = Some(admin.as_str());
    for (code, name) in [
        ("24", "Ambito di Città di Castello"),
        ("38", "Ambito dell’Alto Tevere"),
    ] {
        api::service::territory::create_ambito(&server.db.conn, code, name, None, None)
            .await
            .unwrap();
    }
    let study = server
        .ok(
            t,
            "mutation { createStudy(input: {title: \"Città\"}) { id } }",
            json!({}),
        )
        .await["createStudy"]["id"]
        .clone();
    let mut codes = HashMap::new();
    for name in ["Servizi", "Comunità"] {
        let id = server
            .ok(t, "mutation($s: ID!, $n: String!) { createCode(input: {studyId: $s, name: $n}) { id } }", json!({"s": study, "n": name}))
            .await["createCode"]["id"]
            .clone();
        codes.insert(name, id);
    }
    // A case in ambito 24 with a quotation of Servizi; one in 38 with none.
    let mut cases = Vec::new();
    for (label, ambito) in [("Caso più pieno", "24"), ("Caso è vuoto", "38")] {
        let case = server
            .ok(t, "mutation($s: ID!, $l: String!, $a: String!) { createCase(input: {studyId: $s, label: $l, ambitoCodes: [$a]}) { id } }", json!({"s": study, "l": label, "a": ambito}))
            .await["createCase"]["id"]
            .clone();
        cases.push(case);
    }
    let interview = server
        .ok(t, "mutation($c: ID!) { createInterview(input: {caseId: $c, label: \"Int. 1\", transcript: \"R: Là c’è l’unità più città.\"}) { id } }", json!({"c": cases[0]}))
        .await["createInterview"]["id"]
        .clone();
    server
        .ok(t, "mutation($i: ID!, $c: ID!) { createQuotation(input: {interviewId: $i, start: 3, end: 5, codeIds: [$c]}) { id } }", json!({"i": interview, "c": codes["Servizi"]}))
        .await;
    let (first_case, second_case) = (cases[0].clone(), cases[1].clone());
    let got = server
        .ok(
            t,
            "query($s: ID!, $c: [ID!]) {
               c: codeFrequencies(studyId: $s, codeIds: $c, by: CASE) { case { id } quotations interviews cases }
               a: codeFrequencies(studyId: $s, codeIds: $c, by: AMBITO) { ambito { code } quotations interviews cases }
             }",
            json!({"s": study, "c": [codes["Servizi"], codes["Comunità"]]}),
        )
        .await;
    let row = |group: Value, n: u64| json!([group, n, n, n]);
    let rows = |list: &Value, key: &str, inner: &str| -> Vec<Value> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|r| json!([r[key][inner], r["quotations"], r["interviews"], r["cases"]]))
            .collect()
    };
    // Per code, its groups in id order: the first case, then the second.
    assert_eq!(
        rows(&got["c"], "case", "id"),
        [
            row(first_case.clone(), 1),
            row(second_case.clone(), 0),
            row(first_case, 0),
            row(second_case, 0),
        ],
        "{got}"
    );
    assert_eq!(
        rows(&got["a"], "ambito", "code"),
        [
            row(json!("24"), 1),
            row(json!("38"), 0),
            row(json!("24"), 0),
            row(json!("38"), 0),
        ],
        "{got}"
    );
}

/// The [start, end) of `needle` in `text`, in code points.
fn span(text: &str, needle: &str) -> (usize, usize) {
    let at = text.find(needle).expect("needle in text");
    let start = text[..at].chars().count();
    (start, start + needle.chars().count())
}

const AGREEMENT: &str = "query($s: ID!, $a: ID!, $b: ID!, $i: [ID!], $c: [ID!]) { codingAgreement(studyId: $s, coderA: $a, coderB: $b, interviewIds: $i, codeIds: $c) { coderA { name } coderB { name } interviews { label } codePoints codes { code { name } marks { both onlyA onlyB neither percentAgreement kappa } interviews { interview { label } marks { both onlyA onlyB neither kappa } } } } }";

/// Intercoder agreement counts code points (not bytes: the transcripts hold emoji and
/// accents) that two coders marked with each code, compares the interviews both coded unless
/// told which, and takes a code alone (a child's quotation is not its parent's).
#[tokio::test]
async fn two_coders_are_compared_code_point_by_code_point() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let texts = [
        "😀 INT: Com’è la città? R: Là è difficile, però…",
        "R: Con l’ente c’è più dialogo 🙂 sulla casa.",
        "R: A Torino è diverso.",
    ];
    let corpus = server.corpus(&admin, "Accordo", &texts).await;
    let study = corpus.study.clone();
    let interview = |n: usize| corpus.interviews[n]["id"].clone();
    let number = tests::id_number(study.as_str().unwrap());
    let anna = server.token("anna", "analyst", Some(number)).await;
    let bruno = server.token("bruno", "analyst", Some(number)).await;
    let code = |name: &'static str, parent: Option<Value>| {
        let (server, admin, study) = (&server, &admin, &study);
        async move {
            server
                .ok(Some(admin), "mutation($s: ID!, $n: String!, $p: ID) { createCode(input: {studyId: $s, name: $n, parentId: $p}) { id } }", json!({"s": study, "n": name, "p": parent}))
                .await["createCode"]["id"]
                .clone()
        }
    };
    let luogo = code("Luogo", None).await;
    let ente = code("Ente", None).await;
    let servizi = code("Servizi", None).await;
    let casa = code("Casa", Some(servizi.clone())).await;
    let quote = |token: &String, n: usize, needle: &str, code: &Value| {
        let (start, end) = span(texts[n], needle);
        let vars = json!({"i": interview(n), "s": start, "e": end, "c": [code]});
        let (server, token) = (&server, token.clone());
        async move {
            server
                .ok(Some(&token), "mutation($i: ID!, $s: Int!, $e: Int!, $c: [ID!]!) { createQuotation(input: {interviewId: $i, start: $s, end: $e, codeIds: $c}) { id } }", vars)
                .await;
        }
    };
    quote(&anna, 0, "la città", &luogo).await;
    quote(&bruno, 0, "città? R: Là", &luogo).await;
    quote(&anna, 1, "l’ente", &ente).await;
    // The same words twice are marked once.
    quote(&bruno, 1, "l’ente", &ente).await;
    quote(&bruno, 1, "l’ente c’è", &ente).await;
    quote(&anna, 1, "casa", &casa).await;
    quote(&bruno, 1, "casa", &servizi).await;
    // Only Anna coded the third interview.
    quote(&anna, 2, "Torino", &luogo).await;

    let members = server
        .ok(
            Some(&admin),
            "query($s: ID!) { node(id: $s) { ... on Study { members { user { id name } } } } }",
            json!({"s": study}),
        )
        .await;
    let user = |name: &str| {
        members["node"]["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["user"]["name"] == name)
            .map(|m| m["user"]["id"].clone())
            .unwrap()
    };
    let (a, b) = (user("anna"), user("bruno"));
    let ask = |i: Value, c: Value| json!({"s": study, "a": a, "b": b, "i": i, "c": c});
    let got = server
        .ok(Some(&admin), AGREEMENT, ask(Value::Null, Value::Null))
        .await;
    let got = &got["codingAgreement"];
    let lengths: Vec<u64> = texts.iter().map(|t| t.chars().count() as u64).collect();
    let compared = lengths[0] + lengths[1];
    assert_eq!(got["coderA"]["name"], "anna");
    assert_eq!(got["coderB"]["name"], "bruno");
    assert_eq!(
        got["interviews"],
        json!([{"label": "Int. 1"}, {"label": "Int. 2"}])
    );
    assert_eq!(got["codePoints"], compared);
    let marks: Vec<(&str, [u64; 4])> = got["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let m = &c["marks"];
            let n = |k: &str| m[k].as_u64().unwrap();
            (
                c["code"]["name"].as_str().unwrap(),
                [n("both"), n("onlyA"), n("onlyB"), n("neither")],
            )
        })
        .collect();
    // "la città" against "città? R: Là": "città" both, "la " Anna's, "? R: Là" Bruno's.
    let ente_c_e = "l’ente c’è".chars().count() as u64;
    assert_eq!(
        marks,
        [
            ("Luogo", [5, 3, 7, compared - 15]),
            ("Ente", [6, 0, ente_c_e - 6, compared - ente_c_e]),
            ("Servizi", [0, 0, 4, compared - 4]),
            ("Casa", [0, 4, 0, compared - 4]),
        ]
    );
    let kappa = |both: f64, a: f64, b: f64, neither: f64| {
        let n = both + a + b + neither;
        let po = (both + neither) / n;
        let pe = (both + a) / n * ((both + b) / n) + (b + neither) / n * ((a + neither) / n);
        (po - pe) / (1.0 - pe)
    };
    let luogo_kappa = got["codes"][0]["marks"]["kappa"].as_f64().unwrap();
    let expected = kappa(5.0, 3.0, 7.0, (compared - 15) as f64);
    assert!(
        (luogo_kappa - expected).abs() < 1e-9,
        "{luogo_kappa} {expected}"
    );
    let percent = got["codes"][0]["marks"]["percentAgreement"]
        .as_f64()
        .unwrap();
    assert!((percent - (compared - 10) as f64 / compared as f64).abs() < 1e-9);
    // A coder who chose the parent and one who chose the child agree on neither code.
    assert_eq!(got["codes"][2]["marks"]["kappa"], 0.0);
    assert_eq!(got["codes"][3]["marks"]["kappa"], 0.0);
    // Per interview: Luogo was not used in the second; there kappa is undefined.
    let luogo_by_interview = &got["codes"][0]["interviews"];
    assert_eq!(
        luogo_by_interview[1],
        json!({"interview": {"label": "Int. 2"}, "marks": {"both": 0, "onlyA": 0, "onlyB": 0, "neither": lengths[1], "kappa": null}})
    );

    // Interviews and codes asked for, in the order asked: the third counts Anna's "Torino".
    let got = server
        .ok(
            Some(&admin),
            AGREEMENT,
            ask(json!([interview(2), interview(0)]), json!([luogo])),
        )
        .await;
    let got = &got["codingAgreement"];
    assert_eq!(
        got["interviews"],
        json!([{"label": "Int. 3"}, {"label": "Int. 1"}])
    );
    assert_eq!(got["codePoints"], lengths[2] + lengths[0]);
    assert_eq!(
        got["codes"][0]["marks"],
        json!({"both": 5, "onlyA": 9, "onlyB": 7, "neither": lengths[2] + lengths[0] - 21,
               "percentAgreement": got["codes"][0]["marks"]["percentAgreement"],
               "kappa": got["codes"][0]["marks"]["kappa"]})
    );

    // Refusals: the same coder twice; an interview or a code of another study; a study the
    // caller may not read.
    let same = server
        .gql(Some(&admin), AGREEMENT, json!({"s": study, "a": a, "b": a}))
        .await;
    assert_eq!(error_code(&same), "BAD_USER_INPUT", "{same}");
    let other = server.corpus(&admin, "Altro", &["R: altro testo."]).await;
    let elsewhere = server
        .gql(
            Some(&admin),
            AGREEMENT,
            ask(json!([other.interviews[0]["id"]]), Value::Null),
        )
        .await;
    assert_eq!(error_code(&elsewhere), "NOT_FOUND", "{elsewhere}");
    let other_code = server
        .ok(
            Some(&admin),
            "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"Altrove\"}) { id } }",
            json!({"s": other.study}),
        )
        .await["createCode"]["id"]
        .clone();
    let foreign = server
        .gql(
            Some(&admin),
            AGREEMENT,
            ask(Value::Null, json!([other_code])),
        )
        .await;
    assert_eq!(error_code(&foreign), "NOT_FOUND", "{foreign}");
    let stranger = server
        .token(
            "carla",
            "viewer",
            Some(tests::id_number(other.study.as_str().unwrap())),
        )
        .await;
    let hidden = server
        .gql(Some(&stranger), AGREEMENT, ask(Value::Null, Value::Null))
        .await;
    assert_eq!(error_code(&hidden), "NOT_FOUND", "{hidden}");
}

/// The code × case matrix comes out in the order of codes, then cases, its quotations in
/// the order they were made, whatever order the database keeps its rows in: on PostgreSQL
/// an updated row moves to the end of its table, and a read without an order followed it.
#[tokio::test]
async fn the_code_case_matrix_keeps_its_order_when_rows_are_updated() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let t = Some(admin.as_str());
    let study = server
        .ok(
            t,
            "mutation { createStudy(input: {title: \"Ordine\"}) { id } }",
            json!({}),
        )
        .await["createStudy"]["id"]
        .clone();
    let code = server
        .ok(
            t,
            "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"Casa\"}) { id } }",
            json!({"s": study}),
        )
        .await["createCode"]["id"]
        .clone();
    let (mut cases, mut quotations) = (Vec::new(), Vec::new());
    for n in 0..3 {
        let case = server
            .ok(t, "mutation($s: ID!, $l: String!) { createCase(input: {studyId: $s, label: $l}) { id } }", json!({"s": study, "l": format!("Caso {n}")}))
            .await["createCase"]["id"]
            .clone();
        let interview = server
            .ok(t, "mutation($c: ID!) { createInterview(input: {caseId: $c, label: \"Int.\", transcript: \"R: La casa è lì, più in là.\"}) { id } }", json!({"c": case}))
            .await["createInterview"]["id"]
            .clone();
        for start in [6, 3] {
            let q = server
                .ok(t, "mutation($i: ID!, $s: Int!, $c: ID!) { createQuotation(input: {interviewId: $i, start: $s, end: 10, codeIds: [$c]}) { id version } }", json!({"i": interview, "s": start, "c": code}))
                .await["createQuotation"]
                .clone();
            quotations.push(q);
        }
        cases.push(case);
    }
    const MATRIX: &str =
        "query($s: ID!) { codeCaseMatrix(studyId: $s) { case { id } quotations { id } } }";
    let expected: Vec<Value> = cases
        .iter()
        .zip(quotations.chunks(2))
        .map(|(case, qs)| json!({"case": {"id": case}, "quotations": [{"id": qs[0]["id"]}, {"id": qs[1]["id"]}]}))
        .collect();
    let before = server.ok(t, MATRIX, json!({"s": study})).await;
    assert_eq!(before["codeCaseMatrix"], json!(expected));
    server
        .ok(
            t,
            "mutation($c: ID!) { updateCase(input: {id: $c, label: \"Caso primo\"}) { id } }",
            json!({"c": cases[0]}),
        )
        .await;
    server
        .ok(t, "mutation($q: ID!, $v: Int!) { updateQuotation(input: {id: $q, version: $v, memo: \"già\"}) { id } }", json!({"q": quotations[0]["id"], "v": quotations[0]["version"]}))
        .await;
    let after = server.ok(t, MATRIX, json!({"s": study})).await;
    assert_eq!(after["codeCaseMatrix"], json!(expected));
}
