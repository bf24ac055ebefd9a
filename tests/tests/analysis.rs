//! Analysis results equal a brute-force count over the raw data, on randomised coding.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tests::TestServer;

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
    for c in 0..3 {
        let case = server.ok(t, "mutation($s: ID!, $l: String!) { createCase(input: {studyId: $s, label: $l}) { id } }", json!({"s": study, "l": format!("Caso {c}")})).await["createCase"]["id"].clone();
        for i in 0..rng.random_range(1..4) {
            let interview = server
                .ok(t, "mutation($c: ID!, $l: String!, $t: String!) { createInterview(input: {caseId: $c, label: $l, transcript: $t}) { id } }", json!({"c": case, "l": format!("Int. {c}.{i}"), "t": text}))
                .await["createInterview"]["id"]
                .clone();
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
    let mut per_case: BTreeMap<(String, String), usize> = BTreeMap::new();
    for code in raw.parents.keys() {
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

    // Co-occurrence: both codes on one quotation, or one each on overlapping quotations.
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
