//! Discontinuities: tagging rules, the matrix, agreement statistics, the cross-case
//! comparison, the cascade, and their pictures and CSV.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tests::{error_code, id_number, TestServer};

const TAG: &str = "mutation($i: TagDiscontinuityInput!) { tagDiscontinuity(input: $i) { id version intensity kind isConsensus evaluator { id name } evidence { id } causes { id } } }";
const DIMS: [&str; 4] = [
    "PROBLEM_DEFINITION",
    "INTERVENTION_THEORY",
    "POLICY_INSTRUMENTS",
    "ACTOR_NETWORK",
];
const LEVELS: [&str; 4] = ["NONE", "PARTIAL", "SIGNIFICANT", "PARADIGMATIC"];

struct Setup {
    server: TestServer,
    admin: String,
    study: Value,
    cases: Vec<Value>,
    quotes: Vec<Value>,
}

/// A study with two cases, one interview and one quotation each.
async fn setup() -> Setup {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let t = Some(admin.as_str());
    let study = server
        .ok(
            t,
            r#"mutation { createStudy(input: {title: "Valutazione"}) { id } }"#,
            json!({}),
        )
        .await["createStudy"]["id"]
        .clone();
    let (mut cases, mut quotes) = (Vec::new(), Vec::new());
    for n in 0..2 {
        let case = server.ok(t, "mutation($s: ID!, $l: String!) { createCase(input: {studyId: $s, label: $l}) { id } }", json!({"s": study, "l": format!("Caso {n}")})).await["createCase"]["id"].clone();
        let interview = server
            .ok(t, "mutation($c: ID!) { createInterview(input: {caseId: $c, label: \"Int.\", transcript: \"R: Prima nessuno guardava alle fasce grigie.\"}) { id } }", json!({"c": case}))
            .await["createInterview"]["id"]
            .clone();
        let q = server
            .ok(t, "mutation($i: ID!) { createQuotation(input: {interviewId: $i, start: 3, end: 20, codeIds: []}) { id } }", json!({"i": interview}))
            .await["createQuotation"]["id"]
            .clone();
        cases.push(case);
        quotes.push(q);
    }
    Setup {
        server,
        admin,
        study,
        cases,
        quotes,
    }
}

#[tokio::test]
async fn tagging_follows_the_rules_and_writes_nothing_when_refused() {
    let s = setup().await;
    let study = id_number(s.study.as_str().unwrap());
    let eva = s.server.token("eva", "evaluator", Some(study)).await;
    let viewer = s.server.token("vera", "viewer", Some(study)).await;
    let e = Some(eva.as_str());
    let base = json!({"caseId": s.cases[0], "dimension": "PROBLEM_DEFINITION", "intensity": "SIGNIFICANT", "kind": "NEW_PROBLEM", "covidEffect": "ACCELERATED", "evidenceQuotationIds": [s.quotes[0]]});
    let first = s.server.ok(e, TAG, json!({"i": base})).await["tagDiscontinuity"].clone();
    assert_eq!(first["version"], 1);
    assert_eq!(first["evaluator"]["name"], "eva");
    assert_eq!(first["isConsensus"], false);
    let mut again = base.clone();
    again["intensity"] = json!("PARADIGMATIC");
    again["expectedVersion"] = json!(1);
    let second = s.server.ok(e, TAG, json!({"i": again})).await["tagDiscontinuity"].clone();
    assert_eq!(
        (
            second["id"].clone(),
            second["version"].clone(),
            second["intensity"].clone()
        ),
        (first["id"].clone(), json!(2), json!("PARADIGMATIC"))
    );
    assert_eq!(
        error_code(&s.server.gql(e, TAG, json!({"i": again})).await),
        "CONFLICT",
        "stale version"
    );
    // A cascade within the case, from another dimension.
    let mut theory = base.clone();
    theory["dimension"] = json!("INTERVENTION_THEORY");
    theory["causeIds"] = json!([first["id"]]);
    let t = s.server.ok(e, TAG, json!({"i": theory})).await["tagDiscontinuity"].clone();
    assert_eq!(t["causes"][0]["id"], first["id"]);
    // Refused: evidence from another case, a cascade across cases or onto its own dimension,
    // a consensus by a non-owner, a viewer, an unknown enum value.
    let count = || async {
        s.server
            .ok(
                Some(&s.admin),
                "query($c: ID!) { node(id: $c) { ... on Case { discontinuities { id } } } }",
                json!({"c": s.cases[1]}),
            )
            .await["node"]["discontinuities"]
            .as_array()
            .unwrap()
            .len()
    };
    let before = count().await;
    let mut foreign_evidence = base.clone();
    foreign_evidence["caseId"] = s.cases[1].clone();
    assert_eq!(
        error_code(&s.server.gql(e, TAG, json!({"i": foreign_evidence})).await),
        "BAD_USER_INPUT"
    );
    let mut cross_case = json!({"caseId": s.cases[1], "dimension": "ACTOR_NETWORK", "intensity": "PARTIAL", "causeIds": [first["id"]]});
    assert_eq!(
        error_code(&s.server.gql(e, TAG, json!({"i": cross_case})).await),
        "BAD_USER_INPUT"
    );
    cross_case["caseId"] = s.cases[0].clone();
    cross_case["dimension"] = json!("PROBLEM_DEFINITION");
    cross_case["expectedVersion"] = json!(2);
    assert_eq!(
        error_code(&s.server.gql(e, TAG, json!({"i": cross_case})).await),
        "BAD_USER_INPUT",
        "own dimension"
    );
    let mut consensus = base.clone();
    consensus["consensus"] = json!(true);
    assert_eq!(
        error_code(&s.server.gql(e, TAG, json!({"i": consensus})).await),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(&s.server.gql(Some(&viewer), TAG, json!({"i": base})).await),
        "FORBIDDEN"
    );
    let mut bad = base.clone();
    bad["intensity"] = json!("HUGE");
    assert_eq!(
        error_code(&s.server.gql(e, TAG, json!({"i": bad})).await),
        "BAD_USER_INPUT"
    );
    assert_eq!(count().await, before, "nothing half-written");
    // The owner sets the consensus; it is one per cell, separate from the evaluators'.
    let c = s
        .server
        .ok(Some(&s.admin), TAG, json!({"i": consensus}))
        .await["tagDiscontinuity"]
        .clone();
    assert_eq!(c["isConsensus"], true);
    assert_ne!(c["id"], first["id"]);
}

#[tokio::test]
async fn the_demo_matrix_comparison_and_cascade_follow_the_judgments() {
    let server = TestServer::demo().await;
    let study = server
        .ok(None, "{ studies { edges { node { id } } } }", json!({}))
        .await["studies"]["edges"][0]["node"]["id"]
        .clone();
    const MATRIX: &str = "query($s: ID!, $r: MatrixRows, $e: ID) { discontinuityMatrix(studyId: $s, rows: $r, evaluatorId: $e) { dimensions svgUrl csvUrl rows { case { id label } intervention { label } cells { dimension consensus { intensity isConsensus evidence { text } } assessments { intensity evaluator { id name } } } } } }";
    let by_case = server.ok(None, MATRIX, json!({"s": study})).await["discontinuityMatrix"].clone();
    assert_eq!(by_case["dimensions"], json!(DIMS));
    assert_eq!(
        by_case["rows"].as_array().unwrap().len(),
        4,
        "the four cases of 004"
    );
    let by_intervention = server
        .ok(None, MATRIX, json!({"s": study, "r": "INTERVENTION"}))
        .await["discontinuityMatrix"]
        .clone();
    let rows = by_intervention["rows"].as_array().unwrap();
    assert!(rows.len() >= 8);
    let mut evaluators = BTreeMap::new();
    for row in rows {
        assert!(row["intervention"]["label"].is_string());
        for (cell, dim) in row["cells"].as_array().unwrap().iter().zip(DIMS) {
            assert_eq!(cell["dimension"], dim);
            if let Some(c) = cell["consensus"].as_object() {
                assert_eq!(c["isConsensus"], true);
            }
            for a in cell["assessments"].as_array().unwrap() {
                evaluators.insert(
                    a["evaluator"]["name"].as_str().unwrap().to_owned(),
                    a["evaluator"]["id"].clone(),
                );
            }
        }
    }
    assert!(evaluators.contains_key("valutatrice-a") && evaluators.contains_key("valutatrice-b"));
    // One evaluator's view holds only her judgments.
    let b = server
        .ok(
            None,
            MATRIX,
            json!({"s": study, "r": "INTERVENTION", "e": evaluators["valutatrice-b"]}),
        )
        .await["discontinuityMatrix"]
        .clone();
    for row in b["rows"].as_array().unwrap() {
        for cell in row["cells"].as_array().unwrap() {
            for a in cell["assessments"].as_array().unwrap() {
                assert_eq!(a["evaluator"]["name"], "valutatrice-b");
            }
        }
    }
    // An evaluator who does not exist is NOT_FOUND, not an evaluator who judged nothing.
    let nobody = "VXNlcjo5OTk5"; // User:9999
    for query in [
        MATRIX,
        "query($s: ID!, $e: ID) { discontinuityComparison(studyId: $s, evaluatorId: $e) { dimension } }",
    ] {
        let refused = server.gql(None, query, json!({"s": study, "e": nobody})).await;
        assert_eq!(error_code(&refused), "NOT_FOUND", "{refused}");
    }
    let svg = format!(
        "/studies/{}/discontinuities/matrix.svg?evaluator={nobody}",
        study.as_str().unwrap()
    );
    assert_eq!(server.get(&svg).await.0, 404);
    // So does a case's cascade picture (it drew an empty cascade).
    let case = by_case["rows"][0]["case"]["id"].as_str().unwrap();
    let cascade = format!("/cases/{case}/cascade.svg?evaluator={nobody}");
    assert_eq!(server.get(&cascade).await.0, 404);
    assert_eq!(
        server.get(&format!("/cases/{case}/cascade.svg")).await.0,
        200
    );
    // Alba's condominio changed how the problem is defined (the authors' conclusion).
    let alba = rows
        .iter()
        .find(|r| {
            r["case"]["label"].as_str().unwrap().starts_with("Alba")
                && r["intervention"]["label"]
                    .as_str()
                    .unwrap()
                    .contains("ondominio")
        })
        .expect("Alba condominio");
    assert_eq!(alba["cells"][0]["consensus"]["intensity"], "PARADIGMATIC");
    // The cross-case comparison: per dimension and kind, consensus judgments above NONE.
    let cmp = server.ok(None, "query($s: ID!) { discontinuityComparison(studyId: $s) { dimension kind discontinuities { intensity isConsensus case { label } evidence { id } } } }", json!({"s": study})).await;
    let groups = cmp["discontinuityComparison"].as_array().unwrap();
    assert!(
        groups.iter().any(|g| g["kind"] == "NEW_PROBLEM")
            && groups
                .iter()
                .any(|g| g["kind"] == "NEW_APPROACH_TO_ESTABLISHED_PROBLEM")
    );
    for g in groups {
        for d in g["discontinuities"].as_array().unwrap() {
            assert_ne!(d["intensity"], "NONE");
            assert_eq!(d["isConsensus"], true);
        }
    }
    // Cascades stay within the case and link different dimensions.
    let cases = server.ok(None, "query($s: ID!) { node(id: $s) { ... on Study { cases { edges { node { id label cascadeSvgUrl cascade { cause { dimension case { id } } effect { dimension case { id } evidence { id } } } } } } } } }", json!({"s": study})).await;
    let mut links = 0;
    for c in cases["node"]["cases"]["edges"].as_array().unwrap() {
        for l in c["node"]["cascade"].as_array().unwrap() {
            assert_eq!(l["cause"]["case"]["id"], c["node"]["id"]);
            assert_eq!(l["effect"]["case"]["id"], c["node"]["id"]);
            assert_ne!(l["cause"]["dimension"], l["effect"]["dimension"]);
            links += 1;
        }
    }
    assert!(links > 0);
    // The pictures are well-formed SVG with one cell per row and dimension; the CSV has a
    // line per judgment shown.
    let (status, svg) = server
        .get(by_intervention["svgUrl"].as_str().unwrap())
        .await;
    assert_eq!(status, 200);
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let cells = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.children().any(|c| c.has_tag_name("title")))
        .count();
    assert_eq!(cells, rows.len() * 4);
    let cascade_url = cases["node"]["cases"]["edges"][0]["node"]["cascadeSvgUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, svg) = server.get(&cascade_url).await;
    assert_eq!(status, 200);
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("ellipse"))
            .count(),
        4
    );
    let (status, csv) = server
        .get(by_intervention["csvUrl"].as_str().unwrap())
        .await;
    assert_eq!(status, 200);
    let shown: usize = rows
        .iter()
        .flat_map(|r| r["cells"].as_array().unwrap())
        .map(|c| {
            c["assessments"].as_array().unwrap().len() + usize::from(c["consensus"].is_object())
        })
        .sum();
    assert_eq!(csv.lines().count(), shown + 1);
    // Table downloads may open with a byte-order mark (for spreadsheets); the header follows.
    assert!(csv
        .trim_start_matches('\u{feff}')
        .starts_with("case,intervention,dimension,intensity,kind,covid_effect,evidence_count,evaluator,consensus"));
}

#[tokio::test]
async fn pictures_of_a_private_study_are_not_found_for_strangers() {
    let s = setup().await;
    let (status, _) = s
        .server
        .get(&format!(
            "/studies/{}/discontinuities/matrix.svg",
            s.study.as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 404);
    let (status, _) = s
        .server
        .get(&format!(
            "/cases/{}/cascade.svg",
            s.cases[0].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 404);
    let (status, _) = s.server.get("/studies/not-an-id/discontinuities.csv").await;
    assert_eq!(status, 400);
}

/// Krippendorff's alpha computed directly from pairs of values (not through the coincidence
/// matrix the server uses): D_o over pairs within units, D_e over all pairs.
fn alpha_by_pairs(units: &[Vec<u32>], ordinal: bool) -> f64 {
    let units: Vec<&Vec<u32>> = units.iter().filter(|u| u.len() >= 2).collect();
    let values: Vec<u32> = units.iter().flat_map(|u| u.iter().copied()).collect();
    let n = values.len() as f64;
    let count = |v: u32| values.iter().filter(|&&x| x == v).count() as f64;
    let d2 = |a: u32, b: u32| -> f64 {
        if !ordinal {
            return f64::from(u8::from(a != b));
        }
        let (lo, hi) = (a.min(b), a.max(b));
        let between: f64 = (lo..=hi).map(count).sum();
        (between - (count(a) + count(b)) / 2.0).powi(2)
    };
    let mut observed = 0.0;
    for u in &units {
        let m = u.len() as f64;
        for i in 0..u.len() {
            for j in 0..u.len() {
                if i != j {
                    observed += d2(u[i], u[j]) / (m - 1.0);
                }
            }
        }
    }
    let mut expected = 0.0;
    for i in 0..values.len() {
        for j in 0..values.len() {
            if i != j {
                expected += d2(values[i], values[j]);
            }
        }
    }
    1.0 - (observed / n) / (expected / (n * (n - 1.0)))
}

/// (case, dimension)
type Unit = (usize, &'static str);

fn kappa(pairs: &[(u32, u32)]) -> f64 {
    let n = pairs.len() as f64;
    let po = pairs.iter().filter(|(a, b)| a == b).count() as f64 / n;
    let pe: f64 = (0..4)
        .map(|c| {
            let a = pairs.iter().filter(|p| p.0 == c).count() as f64 / n;
            let b = pairs.iter().filter(|p| p.1 == c).count() as f64 / n;
            a * b
        })
        .sum();
    (po - pe) / (1.0 - pe)
}

/// Cohen's kappa with quadratic weights, from the proportions as textbooks write it.
fn weighted_kappa(pairs: &[(u32, u32)]) -> f64 {
    let n = pairs.len() as f64;
    let w = |a: u32, b: u32| (f64::from(a) - f64::from(b)).powi(2);
    let observed: f64 = pairs.iter().map(|&(a, b)| w(a, b)).sum::<f64>() / n;
    let share = |c: u32, first: bool| {
        pairs
            .iter()
            .filter(|p| if first { p.0 == c } else { p.1 == c })
            .count() as f64
            / n
    };
    let expected: f64 = (0..4)
        .flat_map(|c| (0..4).map(move |k| (c, k)))
        .map(|(c, k)| share(c, true) * share(k, false) * w(c, k))
        .sum();
    1.0 - observed / expected
}

#[tokio::test]
async fn agreement_matches_an_independent_computation_on_random_judgments() {
    let s = setup().await;
    let study = id_number(s.study.as_str().unwrap());
    let mut rng = StdRng::seed_from_u64(4);
    let evaluators = [
        s.server.token("e1", "evaluator", Some(study)).await,
        s.server.token("e2", "evaluator", Some(study)).await,
        s.server.token("e3", "evaluator", Some(study)).await,
    ];
    const AGREEMENT: &str = "query($s: ID!, $l: AgreementLevel) { discontinuityAgreement(studyId: $s, level: $l) { units evaluators percentAgreement krippendorffAlpha cohenKappa weightedKappa } }";
    let close = |v: &Value, x: f64| assert!((v.as_f64().unwrap() - x).abs() < 1e-9, "{v} vs {x}");
    let mut units: BTreeMap<Unit, Vec<u32>> = BTreeMap::new();
    let mut pairs_of_two: BTreeMap<Unit, (Option<u32>, Option<u32>)> = BTreeMap::new();
    for (e, token) in evaluators.iter().enumerate() {
        for (c, case) in s.cases.iter().enumerate() {
            for dim in DIMS {
                if rng.random_bool(0.2) {
                    continue; // a missing judgment
                }
                // Evaluators mostly agree with a shared "true" value.
                let truth = ((c * 7 + dim.len()) % 4) as u32;
                let v = if rng.random_bool(0.7) {
                    truth
                } else {
                    rng.random_range(0..4)
                };
                s.server.ok(Some(token), TAG, json!({"i": {"caseId": case, "dimension": dim, "intensity": LEVELS[v as usize]}})).await;
                units.entry((c, dim)).or_default().push(v);
                let slot = pairs_of_two.entry((c, dim)).or_default();
                match e {
                    0 => slot.0 = Some(v),
                    1 => slot.1 = Some(v),
                    _ => {}
                }
            }
        }
        if e == 1 {
            // Exactly two evaluators so far: Cohen's kappa over the units both judged.
            let both: Vec<(u32, u32)> = pairs_of_two
                .values()
                .filter_map(|(a, b)| Some(((*a)?, (*b)?)))
                .collect();
            let two = s
                .server
                .ok(Some(&s.admin), AGREEMENT, json!({"s": s.study}))
                .await["discontinuityAgreement"]
                .clone();
            assert_eq!(two["evaluators"], 2);
            close(&two["cohenKappa"], kappa(&both));
            close(&two["weightedKappa"], weighted_kappa(&both));
        }
    }
    let nominal = s
        .server
        .ok(Some(&s.admin), AGREEMENT, json!({"s": s.study}))
        .await["discontinuityAgreement"]
        .clone();
    let ordinal = s
        .server
        .ok(
            Some(&s.admin),
            AGREEMENT,
            json!({"s": s.study, "l": "ORDINAL"}),
        )
        .await["discontinuityAgreement"]
        .clone();
    let all: Vec<Vec<u32>> = units.values().cloned().collect();
    let pairable = all.iter().filter(|u| u.len() >= 2).count();
    assert_eq!(nominal["units"], pairable);
    assert_eq!(nominal["evaluators"], 3);
    assert_eq!(
        nominal["cohenKappa"],
        Value::Null,
        "three evaluators: no Cohen's kappa"
    );
    assert_eq!(nominal["weightedKappa"], Value::Null);
    close(&nominal["krippendorffAlpha"], alpha_by_pairs(&all, false));
    close(&ordinal["krippendorffAlpha"], alpha_by_pairs(&all, true));
    let (mut agree, mut pairs) = (0, 0);
    for u in &all {
        for i in 0..u.len() {
            for j in i + 1..u.len() {
                pairs += 1;
                agree += usize::from(u[i] == u[j]);
            }
        }
    }
    close(&nominal["percentAgreement"], agree as f64 / pairs as f64);
    // Anonymous callers do not see a private study's agreement.
    let hidden = s.server.gql(None, AGREEMENT, json!({"s": s.study})).await;
    assert_eq!(error_code(&hidden), "NOT_FOUND");
}

#[tokio::test]
async fn cascades_of_many_cases_cost_what_one_costs() {
    let server = TestServer::demo().await;
    let study = server
        .ok(None, "{ studies { edges { node { id } } } }", json!({}))
        .await["studies"]["edges"][0]["node"]["id"]
        .clone();
    // The consensus cascade, and one evaluator's (named by her id: checked once, not per case).
    const Q: &str = "query($s: ID!, $n: Int, $e: ID) { node(id: $s) { ... on Study { cases(first: $n) { edges { node { label cascade(evaluatorId: $e) { cause { dimension evidence { id } } effect { dimension } } } } } } } }";
    let evaluator = server
        .ok(None, "query($s: ID!) { discontinuityMatrix(studyId: $s) { rows { cells { assessments { evaluator { id } } } } } }", json!({"s": study}))
        .await["discontinuityMatrix"]["rows"][0]["cells"][0]["assessments"][0]["evaluator"]["id"]
        .clone();
    assert!(evaluator.is_string());
    for e in [Value::Null, evaluator] {
        let mut costs = Vec::new();
        for n in [1, 4] {
            let before = server.statements().await;
            let data = server
                .ok(None, Q, json!({"s": study, "n": n, "e": e}))
                .await;
            costs.push(server.statements().await - before);
            assert_eq!(
                data["node"]["cases"]["edges"].as_array().unwrap().len(),
                n as usize
            );
        }
        assert_eq!(
            costs[0], costs[1],
            "statements for 1 case vs 4 cases, evaluator {e}: {costs:?}"
        );
    }
    // In a mutation's answer too (and in each of two answers, which each read anew).
    let admin = server.admin().await;
    const M: &str = "mutation($s: ID!, $n: Int) { a: updateStudy(input: {id: $s}) { cases(first: $n) { edges { node { cascade { effect { dimension } } } } } } b: updateStudy(input: {id: $s}) { cases(first: $n) { edges { node { cascade { effect { dimension } } } } } } }";
    let mut costs = Vec::new();
    for n in [1, 4] {
        let before = server.statements().await;
        let data = server
            .ok(Some(&admin), M, json!({"s": study, "n": n}))
            .await;
        costs.push(server.statements().await - before);
        for answer in ["a", "b"] {
            assert_eq!(
                data[answer]["cases"]["edges"].as_array().unwrap().len(),
                n as usize
            );
        }
    }
    assert_eq!(
        costs[0], costs[1],
        "statements for 1 case vs 4 cases in a mutation: {costs:?}"
    );
}

#[tokio::test]
async fn judgments_of_one_cell_made_at_once_leave_one() {
    let s = setup().await;
    let study = id_number(s.study.as_str().unwrap());
    let eva = s.server.token("eva", "evaluator", Some(study)).await;
    let e = Some(eva.as_str());
    let cell = json!({"caseId": s.cases[0], "dimension": "ACTOR_NETWORK", "evidenceQuotationIds": [s.quotes[0]]});
    // Each tag says something new (its own description): one that repeats the judgment as
    // it stands changes nothing and keeps the version.
    let said = std::sync::atomic::AtomicUsize::new(0);
    let tag = |intensity: &str, version: Option<i32>| {
        let mut i = cell.clone();
        i["intensity"] = json!(intensity);
        i["expectedVersion"] = json!(version);
        let n = said.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        i["description"] = json!(format!("parere {n}"));
        s.server.gql(e, TAG, json!({"i": i}))
    };
    let check = |results: Vec<Value>| -> Vec<Value> {
        let (won, lost): (Vec<Value>, Vec<Value>) =
            results.into_iter().partition(|r| r.get("errors").is_none());
        for r in &lost {
            assert_eq!(error_code(r), "CONFLICT", "{r:#}");
        }
        assert_eq!(won.len(), 1, "{won:#?}");
        won
    };
    // The first judgment of a cell, eight times at once and without a version: each one
    // replaces the cell in turn, so all succeed and one judgment remains.
    let first = futures::future::join_all((0..8).map(|k| tag(LEVELS[k % 4], None))).await;
    let mut versions: Vec<i64> = first
        .iter()
        .map(|r| {
            assert!(r.get("errors").is_none(), "{r:#}");
            r["data"]["tagDiscontinuity"]["version"].as_i64().unwrap()
        })
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=8).collect::<Vec<i64>>());
    // Eight updates from the version read: one wins.
    let second =
        check(futures::future::join_all((0..8).map(|k| tag(LEVELS[k % 4], Some(8)))).await);
    let second = &second[0]["data"]["tagDiscontinuity"];
    assert_eq!(second["version"], 9);
    let now = s
        .server
        .ok(
            Some(&s.admin),
            "query($c: ID!) { node(id: $c) { ... on Case { discontinuities { id version intensity evidence { id } } } } }",
            json!({"c": s.cases[0]}),
        )
        .await["node"]["discontinuities"]
        .clone();
    assert_eq!(
        now,
        json!([{"id": second["id"], "version": 9, "intensity": second["intensity"], "evidence": [{"id": s.quotes[0]}]}])
    );
}

const AGREEMENT_OF: &str = "query($s: ID!) { discontinuityAgreement(studyId: $s) { units evaluators percentAgreement krippendorffAlpha cohenKappa } }";

#[tokio::test]
async fn kappa_is_over_the_two_evaluators_who_judged_the_compared_units() {
    let s = setup().await;
    let study = id_number(s.study.as_str().unwrap());
    let mut tokens = Vec::new();
    for name in ["e1", "e2", "e3"] {
        tokens.push(s.server.token(name, "evaluator", Some(study)).await);
    }
    // e1 and e2 judge the same two units; e3 only a unit nobody else judged.
    let judgments = [
        (0, 0, "PROBLEM_DEFINITION", "PARTIAL"),
        (0, 0, "INTERVENTION_THEORY", "NONE"),
        (1, 0, "PROBLEM_DEFINITION", "PARTIAL"),
        (1, 0, "INTERVENTION_THEORY", "SIGNIFICANT"),
        (2, 1, "ACTOR_NETWORK", "PARADIGMATIC"),
    ];
    for (e, c, dim, intensity) in judgments {
        s.server
            .ok(
                Some(&tokens[e]),
                TAG,
                json!({"i": {"caseId": s.cases[c], "dimension": dim, "intensity": intensity}}),
            )
            .await;
    }
    let a = s
        .server
        .ok(Some(&s.admin), AGREEMENT_OF, json!({"s": s.study}))
        .await["discontinuityAgreement"]
        .clone();
    assert_eq!(
        (a["units"].clone(), a["evaluators"].clone()),
        (json!(2), json!(2))
    );
    // Pairs (1, 1) and (0, 2): po = 1/2, pe = 1/4, kappa = 1/3.
    let kappa = a["cohenKappa"]
        .as_f64()
        .unwrap_or_else(|| panic!("no kappa: {a}"));
    assert!((kappa - 1.0 / 3.0).abs() < 1e-9, "{a}");
}

/// GET with a token.
async fn get_as(s: &Setup, token: &str, path: &str) -> (u16, String) {
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", s.server.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// The tooltip of each cell of a matrix picture, row by row.
fn svg_cells(svg: &str) -> Vec<Vec<String>> {
    let doc = roxmltree::Document::parse(svg).expect("well-formed SVG");
    let titles: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect"))
        .filter_map(|n| n.children().find(|c| c.has_tag_name("title")))
        .map(|t| t.text().unwrap_or_default().to_owned())
        .collect();
    titles.chunks(4).map(<[String]>::to_vec).collect()
}

#[tokio::test]
async fn the_matrix_picture_shows_the_evaluator_asked_for_and_the_most_intense_judgment() {
    let s = setup().await;
    let study = id_number(s.study.as_str().unwrap());
    let eva = s.server.token("eva", "evaluator", Some(study)).await;
    let e = Some(eva.as_str());
    let a = Some(s.admin.as_str());
    // Case 0: the consensus says NONE on the problem and PARTIAL on the theory; eva judges
    // the problem PARADIGMATIC and leaves the theory alone.
    s.server.ok(a, TAG, json!({"i": {"caseId": s.cases[0], "dimension": "PROBLEM_DEFINITION", "intensity": "NONE", "consensus": true}})).await;
    s.server.ok(a, TAG, json!({"i": {"caseId": s.cases[0], "dimension": "INTERVENTION_THEORY", "intensity": "PARTIAL", "consensus": true}})).await;
    let mine = s.server.ok(e, TAG, json!({"i": {"caseId": s.cases[0], "dimension": "PROBLEM_DEFINITION", "intensity": "PARADIGMATIC"}})).await["tagDiscontinuity"].clone();
    // Case 1, no consensus: eva judges two interventions, the less intense one first.
    for (label, intensity) in [("Condominio", "PARTIAL"), ("Portierato", "SIGNIFICANT")] {
        let i = s.server.ok(a, "mutation($c: ID!, $l: String!) { createIntervention(input: {caseId: $c, label: $l}) { id } }", json!({"c": s.cases[1], "l": label})).await["createIntervention"]["id"].clone();
        s.server.ok(e, TAG, json!({"i": {"caseId": s.cases[1], "interventionId": i, "dimension": "PROBLEM_DEFINITION", "intensity": intensity}})).await;
    }
    let base = format!(
        "/studies/{}/discontinuities/matrix.svg",
        s.study.as_str().unwrap()
    );
    let (status, svg) = get_as(&s, &s.admin, &base).await;
    assert_eq!(status, 200);
    let all = svg_cells(&svg);
    assert!(all[0][0].contains("assente"), "consensus: {all:?}");
    assert!(all[1][0].contains("significativa"), "most intense: {all:?}");
    let evaluator = mine["evaluator"]["id"].as_str().unwrap();
    let (status, svg) = get_as(&s, &s.admin, &format!("{base}?evaluator={evaluator}")).await;
    assert_eq!(status, 200);
    let hers = svg_cells(&svg);
    assert!(
        hers[0][0].contains("paradigmatica"),
        "eva's judgment: {hers:?}"
    );
    assert!(
        hers[0][1].contains("non valutata"),
        "eva did not judge it: {hers:?}"
    );
    assert!(
        hers[1][0].contains("significativa"),
        "most intense: {hers:?}"
    );
}

/// What each node of a cascade picture says below its dimension, in `DIMS` order.
fn cascade_nodes(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).expect("well-formed SVG");
    doc.descendants()
        .filter(|n| n.has_tag_name("text") && n.attribute("font-weight").is_none())
        .map(|t| t.text().unwrap_or_default().to_owned())
        .collect()
}

/// What each cell of a matrix picture says, row by row.
fn matrix_texts(svg: &str) -> Vec<Vec<String>> {
    let doc = roxmltree::Document::parse(svg).expect("well-formed SVG");
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text") && n.attribute("text-anchor") == Some("middle"))
        .filter(|n| n.attribute("font-weight").is_none())
        .map(|t| t.text().unwrap_or_default().to_owned())
        .collect();
    texts.chunks(4).map(<[String]>::to_vec).collect()
}

#[tokio::test]
async fn the_cascade_picture_shows_the_judgments_the_matrix_shows() {
    let s = setup().await;
    let a = Some(s.admin.as_str());
    let mut interventions = Vec::new();
    for label in ["Condominio", "Portierato"] {
        interventions.push(s.server.ok(a, "mutation($c: ID!, $l: String!) { createIntervention(input: {caseId: $c, label: $l}) { id } }", json!({"c": s.cases[0], "l": label})).await["createIntervention"]["id"].clone());
    }
    let consensus = |dim: &str,
                     intervention: Option<&Value>,
                     intensity: &str,
                     evidence: &[&Value]| json!({"i": {"caseId": s.cases[0], "interventionId": intervention, "dimension": dim, "intensity": intensity, "evidenceQuotationIds": evidence, "consensus": true}});
    // The problem: the whole case is judged PARTIAL, one intervention more intense.
    s.server
        .ok(a, TAG, consensus(DIMS[0], None, "PARTIAL", &[]))
        .await;
    s.server
        .ok(
            a,
            TAG,
            consensus(DIMS[0], Some(&interventions[0]), "PARADIGMATIC", &[]),
        )
        .await;
    // The theory: two interventions judged alike, only the earlier judgment with evidence.
    s.server
        .ok(
            a,
            TAG,
            consensus(
                DIMS[1],
                Some(&interventions[0]),
                "SIGNIFICANT",
                &[&s.quotes[0]],
            ),
        )
        .await;
    s.server
        .ok(
            a,
            TAG,
            consensus(DIMS[1], Some(&interventions[1]), "SIGNIFICANT", &[]),
        )
        .await;
    let (status, matrix) = get_as(
        &s,
        &s.admin,
        &format!(
            "/studies/{}/discontinuities/matrix.svg",
            s.study.as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(status, 200);
    let (status, cascade) = get_as(
        &s,
        &s.admin,
        &format!("/cases/{}/cascade.svg", s.cases[0].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, 200);
    let matrix = matrix_texts(&matrix);
    assert_eq!(
        matrix[0],
        ["parziale · 0 ev.", "significativa · 1 ev.", "n.v.", "n.v."],
        "the whole-case judgment, then the earlier of equals"
    );
    let unjudged = |t: &String| {
        if t == "n.v." {
            "non valutata".to_owned()
        } else {
            t.clone()
        }
    };
    assert_eq!(
        cascade_nodes(&cascade),
        matrix[0].iter().map(unjudged).collect::<Vec<String>>()
    );
}

#[tokio::test]
async fn a_cascade_links_judgments_of_one_judge() {
    let s = setup().await;
    let study = id_number(s.study.as_str().unwrap());
    let eva = s.server.token("eva", "evaluator", Some(study)).await;
    let ugo = s.server.token("ugo", "evaluator", Some(study)).await;
    let (e, u, a) = (
        Some(eva.as_str()),
        Some(ugo.as_str()),
        Some(s.admin.as_str()),
    );
    let cell = |dim: &str, causes: Value, consensus: bool| json!({"i": {"caseId": s.cases[0], "dimension": dim, "intensity": "PARTIAL", "causeIds": causes, "consensus": consensus}});
    let evas = s
        .server
        .ok(e, TAG, cell("PROBLEM_DEFINITION", json!([]), false))
        .await["tagDiscontinuity"]["id"]
        .clone();
    let agreed = s
        .server
        .ok(a, TAG, cell("PROBLEM_DEFINITION", json!([]), true))
        .await["tagDiscontinuity"]["id"]
        .clone();
    for (who, input, what) in [
        (
            u,
            cell("INTERVENTION_THEORY", json!([evas]), false),
            "another evaluator's",
        ),
        (
            a,
            cell("INTERVENTION_THEORY", json!([evas]), true),
            "the consensus from an evaluator's",
        ),
        (
            e,
            cell("INTERVENTION_THEORY", json!([agreed]), false),
            "an evaluator's from the consensus",
        ),
    ] {
        assert_eq!(
            error_code(&s.server.gql(who, TAG, input).await),
            "BAD_USER_INPUT",
            "{what}"
        );
    }
    // Within one judge's judgments the cascade is allowed and shows.
    s.server
        .ok(e, TAG, cell("INTERVENTION_THEORY", json!([evas]), false))
        .await;
    s.server
        .ok(a, TAG, cell("INTERVENTION_THEORY", json!([agreed]), true))
        .await;
    let effects = s
        .server
        .ok(a, "query($c: ID!) { node(id: $c) { ... on Case { discontinuities { id isConsensus evaluator { name } effects { id isConsensus evaluator { name } } } } } }", json!({"c": s.cases[0]}))
        .await["node"]["discontinuities"]
        .clone();
    for d in effects.as_array().unwrap() {
        for effect in d["effects"].as_array().unwrap() {
            assert_eq!(effect["isConsensus"], d["isConsensus"], "{effects:#}");
            assert_eq!(effect["evaluator"], d["evaluator"], "{effects:#}");
        }
    }
    assert_eq!(
        effects
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["effects"].as_array().unwrap().len())
            .sum::<usize>(),
        2
    );
}

#[tokio::test]
async fn tagging_without_a_version_replaces_the_cell_and_a_version_guards_it() {
    let s = setup().await;
    let study = id_number(s.study.as_str().unwrap());
    let eva = s.server.token("eva", "evaluator", Some(study)).await;
    let e = Some(eva.as_str());
    let input = |intensity: &str, version: Option<i32>| json!({"i": {"caseId": s.cases[0], "dimension": "POLICY_INSTRUMENTS", "intensity": intensity, "expectedVersion": version}});
    let first = s.server.ok(e, TAG, input("PARTIAL", None)).await["tagDiscontinuity"].clone();
    // What a contract client sends (no expectedVersion at all) changes the judgment.
    let contract = json!({"i": {"caseId": s.cases[0], "dimension": "POLICY_INSTRUMENTS", "intensity": "SIGNIFICANT"}});
    let second = s.server.ok(e, TAG, contract).await["tagDiscontinuity"].clone();
    assert_eq!(
        (
            second["id"].clone(),
            second["version"].clone(),
            second["intensity"].clone()
        ),
        (first["id"].clone(), json!(2), json!("SIGNIFICANT"))
    );
    assert_eq!(
        error_code(&s.server.gql(e, TAG, input("NONE", Some(1))).await),
        "CONFLICT",
        "stale version"
    );
    let third = s.server.ok(e, TAG, input("NONE", Some(2))).await["tagDiscontinuity"].clone();
    assert_eq!(
        (third["version"].clone(), third["intensity"].clone()),
        (json!(3), json!("NONE"))
    );
    // The field says so in the schema.
    let field = s
        .server
        .ok(
            None,
            r#"{ __type(name: "TagDiscontinuityInput") { inputFields { name description } } }"#,
            json!({}),
        )
        .await["__type"]["inputFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "expectedVersion")
        .cloned()
        .expect("expectedVersion");
    assert!(
        field["description"].as_str().unwrap().contains("replaces"),
        "{field}"
    );
}

#[tokio::test]
async fn a_tag_keeps_what_it_leaves_out_and_clears_what_it_nulls() {
    let s = setup().await;
    let study = id_number(s.study.as_str().unwrap());
    let eva = s.server.token("eva", "evaluator", Some(study)).await;
    let e = Some(eva.as_str());
    const FULL: &str = "mutation($i: TagDiscontinuityInput!) { tagDiscontinuity(input: $i) { id version intensity kind description covidEffect evidence { id } causes { id } } }";
    let cause = s.server.ok(e, TAG, json!({"i": {"caseId": s.cases[0], "dimension": "PROBLEM_DEFINITION", "intensity": "PARTIAL"}})).await["tagDiscontinuity"]["id"].clone();
    let cell = json!({"caseId": s.cases[0], "dimension": "ACTOR_NETWORK"});
    let with = |fields: Value| {
        let mut i = cell.clone();
        for (k, v) in fields.as_object().unwrap() {
            i[k] = v.clone();
        }
        json!({"i": i})
    };
    let first = s.server.ok(e, FULL, with(json!({"intensity": "SIGNIFICANT", "kind": "NEW_PROBLEM", "description": "Nuovi attori", "covidEffect": "MIXED", "evidenceQuotationIds": [s.quotes[0]], "causeIds": [cause]}))).await["tagDiscontinuity"].clone();
    // Only the intensity: the rest stays.
    let second = s
        .server
        .ok(
            e,
            FULL,
            with(json!({"intensity": "PARADIGMATIC", "expectedVersion": 1})),
        )
        .await["tagDiscontinuity"]
        .clone();
    assert_eq!(second["version"], 2);
    assert_eq!(second["intensity"], "PARADIGMATIC");
    for field in ["kind", "description", "covidEffect", "evidence", "causes"] {
        assert_eq!(second[field], first[field], "{field} kept");
    }
    // An explicit null or [] clears.
    let third = s.server.ok(e, FULL, with(json!({"intensity": "PARADIGMATIC", "kind": null, "evidenceQuotationIds": [], "causeIds": null, "expectedVersion": 2}))).await["tagDiscontinuity"].clone();
    assert_eq!(
        (
            third["kind"].clone(),
            third["evidence"].clone(),
            third["causes"].clone()
        ),
        (Value::Null, json!([]), json!([]))
    );
    assert_eq!(third["description"], "Nuovi attori");
    assert_eq!(third["covidEffect"], "MIXED");
    // The audit log says which evidence and causes went.
    let log = s
        .server
        .ok(
            Some(&s.admin),
            "query($s: ID!) { auditLog(studyId: $s, first: 100) { edges { node { operation entityId summary } } } }",
            json!({"s": s.study}),
        )
        .await["auditLog"]["edges"]
        .clone();
    let last: Value = log
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| {
            e["node"]["operation"] == "tagDiscontinuity" && e["node"]["entityId"] == first["id"]
        })
        .map(|e| serde_json::from_str(e["node"]["summary"].as_str().unwrap()).unwrap())
        .expect("audit entry");
    let q = id_number(s.quotes[0].as_str().unwrap());
    let c = id_number(cause.as_str().unwrap());
    assert_eq!(last["before"]["evidence"], json!([q]), "{last}");
    assert_eq!(last["before"]["causes"], json!([c]), "{last}");
    assert_eq!(last["after"]["evidence"], json!([]), "{last}");
    assert_eq!(last["after"]["causes"], json!([]), "{last}");
}

/// Another ID of the same kind that names nothing.
fn missing_like(id: &Value) -> Value {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let raw = String::from_utf8(engine.decode(id.as_str().unwrap()).unwrap()).unwrap();
    let (kind, _) = raw.rsplit_once(':').unwrap();
    json!(engine.encode(format!("{kind}:987654321")))
}

/// The first error's code and message.
fn refusal(body: &Value) -> (String, String) {
    (
        error_code(body).to_owned(),
        body["errors"][0]["message"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn references_into_a_study_the_caller_cannot_read_are_not_found() {
    let s = setup().await;
    let study = id_number(s.study.as_str().unwrap());
    let eva = s.server.token("eva", "evaluator", Some(study)).await;
    let e = Some(eva.as_str());
    let a = Some(s.admin.as_str());
    // Another private study, which eva cannot read.
    let other = s
        .server
        .ok(
            a,
            r#"mutation { createStudy(input: {title: "Riservato"}) { id } }"#,
            json!({}),
        )
        .await["createStudy"]["id"]
        .clone();
    let case = s
        .server
        .ok(
            a,
            "mutation($s: ID!) { createCase(input: {studyId: $s, label: \"Altro\"}) { id } }",
            json!({"s": other}),
        )
        .await["createCase"]["id"]
        .clone();
    let interview = s.server.ok(a, "mutation($c: ID!) { createInterview(input: {caseId: $c, label: \"Int.\", transcript: \"R: Nessuno lo sapeva.\"}) { id } }", json!({"c": case})).await["createInterview"]["id"].clone();
    let quote = s.server.ok(a, "mutation($i: ID!) { createQuotation(input: {interviewId: $i, start: 3, end: 10, codeIds: []}) { id } }", json!({"i": interview})).await["createQuotation"]["id"].clone();
    let intervention = s.server.ok(a, "mutation($c: ID!) { createIntervention(input: {caseId: $c, label: \"Sportello\"}) { id } }", json!({"c": case})).await["createIntervention"]["id"].clone();
    let judgment = s.server.ok(a, TAG, json!({"i": {"caseId": case, "dimension": "PROBLEM_DEFINITION", "intensity": "PARTIAL"}})).await["tagDiscontinuity"]["id"].clone();
    let base =
        json!({"caseId": s.cases[0], "dimension": "INTERVENTION_THEORY", "intensity": "PARTIAL"});
    let with = |field: &str, value: Value| {
        let mut i = base.clone();
        i[field] = value;
        json!({"i": i})
    };
    for (field, hidden) in [
        ("evidenceQuotationIds", json!([quote])),
        ("causeIds", json!([judgment])),
        ("interventionId", intervention.clone()),
    ] {
        let missing = match &hidden {
            Value::Array(ids) => json!([missing_like(&ids[0])]),
            id => missing_like(id),
        };
        let refused = refusal(&s.server.gql(e, TAG, with(field, hidden)).await);
        let absent = refusal(&s.server.gql(e, TAG, with(field, missing)).await);
        assert_eq!(refused, absent, "{field}");
        assert_eq!(refused.0, "NOT_FOUND", "{field}");
    }
    // What the caller can read elsewhere is refused for what it is.
    let own_intervention = s.server.ok(a, "mutation($c: ID!) { createIntervention(input: {caseId: $c, label: \"Altrove\"}) { id } }", json!({"c": s.cases[1]})).await["createIntervention"]["id"].clone();
    assert_eq!(
        error_code(
            &s.server
                .gql(e, TAG, with("interventionId", own_intervention))
                .await
        ),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        error_code(
            &s.server
                .gql(e, TAG, with("evidenceQuotationIds", json!([s.quotes[1]])))
                .await
        ),
        "BAD_USER_INPUT"
    );
    // The admin reads every study: the other study's quotation is refused as off the case.
    let mut admin_input = with("evidenceQuotationIds", json!([quote]));
    admin_input["i"]["consensus"] = json!(true);
    assert_eq!(
        error_code(&s.server.gql(a, TAG, admin_input).await),
        "BAD_USER_INPUT"
    );
}

#[tokio::test]
async fn percent_agreement_of_no_compared_unit_is_documented() {
    let s = setup().await;
    let study = id_number(s.study.as_str().unwrap());
    let eva = s.server.token("eva", "evaluator", Some(study)).await;
    s.server.ok(Some(&eva), TAG, json!({"i": {"caseId": s.cases[0], "dimension": "PROBLEM_DEFINITION", "intensity": "PARTIAL"}})).await;
    let a = s
        .server
        .ok(Some(&s.admin), AGREEMENT_OF, json!({"s": s.study}))
        .await["discontinuityAgreement"]
        .clone();
    // The contract makes the field non-null: 0 stands for "nothing compared", which the
    // schema says, so that a front end reads `units` first.
    assert_eq!(a["units"], 0);
    assert_eq!(a["percentAgreement"], 0.0);
    let fields = s
        .server
        .ok(
            None,
            r#"{ __type(name: "Agreement") { fields { name description } } }"#,
            json!({}),
        )
        .await["__type"]["fields"]
        .clone();
    let percent = fields
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "percentAgreement")
        .cloned()
        .unwrap();
    let doc = percent["description"].as_str().unwrap_or_default();
    assert!(doc.contains("units") && doc.contains('0'), "{percent}");
}

/// The entries of a study's audit log about one kind of entity.
async fn audited(s: &Setup, entity: &str) -> Vec<Value> {
    s.server
        .ok(
            Some(&s.admin),
            "query($s: ID!) { auditLog(studyId: $s, first: 100) { edges { node { operation entity entityId summary user { name } } } } }",
            json!({"s": s.study}),
        )
        .await["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .filter(|n| n["entity"] == entity)
        .collect()
}

/// A quotation deleted, or lost to a transcript edit, leaves the evidence of every judgment
/// citing it, other evaluators' and the consensus too: each such judgment changes version,
/// so that a tag sent with the version read before is a CONFLICT, and the audit log says
/// which judgment lost what and why, as it does for other users' memos on the quotation.
#[tokio::test]
async fn a_deleted_quotation_leaves_the_evidence_of_judgments_with_a_new_version_and_a_log_entry() {
    let s = &setup().await;
    let study = id_number(s.study.as_str().unwrap());
    let eva = s.server.token("eva", "evaluator", Some(study)).await;
    let ugo = s.server.token("ugo", "evaluator", Some(study)).await;
    let ada = s.server.token("ada", "analyst", Some(study)).await;
    let cell = |case: &Value, consensus: bool| {
        let quote = if case == &s.cases[0] {
            &s.quotes[0]
        } else {
            &s.quotes[1]
        };
        json!({"i": {"caseId": case, "dimension": "PROBLEM_DEFINITION", "intensity": "SIGNIFICANT",
                     "description": "Perché è cambiata l’idea di fragilità", "consensus": consensus,
                     "evidenceQuotationIds": [quote]}})
    };
    // A later tag, sent with the version its sender read; no evidence, as what it cited is gone.
    let retag = |case: &Value, consensus: bool, version: i32| {
        json!({"i": {"caseId": case, "dimension": "PROBLEM_DEFINITION", "intensity": "PARADIGMATIC",
                     "consensus": consensus, "expectedVersion": version}})
    };
    let tag = |token: &str, input: Value| {
        let token = token.to_owned();
        let server = &s.server;
        async move { server.ok(Some(&token), TAG, input).await["tagDiscontinuity"].clone() }
    };
    let by_eva = tag(&eva, cell(&s.cases[0], false)).await;
    let by_ugo = tag(&ugo, cell(&s.cases[0], false)).await;
    let consensus = tag(&s.admin, cell(&s.cases[0], true)).await;
    let other_case = tag(&eva, cell(&s.cases[1], false)).await;
    for j in [&by_eva, &by_ugo, &consensus, &other_case] {
        assert_eq!(j["version"], 1, "{j}");
        assert_eq!(j["evidence"].as_array().unwrap().len(), 1, "{j}");
    }
    // Ada's note on the quotation Eva cites.
    let memo = s
        .server
        .ok(
            Some(&ada),
            "mutation($t: ID!) { createMemo(input: {targetId: $t, text: \"Citazione dubbia: è così?\"}) { id } }",
            json!({"t": s.quotes[0]}),
        )
        .await["createMemo"]["id"]
        .clone();

    s.server
        .ok(
            Some(&s.admin),
            "mutation($q: ID!) { deleteQuotation(id: $q, version: 1) }",
            json!({"q": s.quotes[0]}),
        )
        .await;
    let judgments = |case: &Value| {
        let case = case.clone();
        async move {
            s.server
                .ok(
                    Some(&s.admin),
                    "query($c: ID!) { node(id: $c) { ... on Case { discontinuities { id version evidence { id } } } } }",
                    json!({"c": case}),
                )
                .await["node"]["discontinuities"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    let after = judgments(&s.cases[0]).await;
    assert_eq!(after.len(), 3);
    for j in &after {
        assert_eq!(j["version"], 2, "every judgment citing it changed: {j}");
        assert_eq!(j["evidence"], json!([]), "{j}");
    }
    assert_eq!(
        judgments(&s.cases[1]).await[0]["version"],
        1,
        "a judgment citing other quotations is left alone"
    );
    // Whoever read a judgment before the deletion is told it has changed.
    let stale = s
        .server
        .gql(Some(&eva), TAG, retag(&s.cases[0], false, 1))
        .await;
    assert_eq!(error_code(&stale), "CONFLICT", "{stale}");
    let stale = s
        .server
        .gql(Some(&s.admin), TAG, retag(&s.cases[0], true, 1))
        .await;
    assert_eq!(error_code(&stale), "CONFLICT", "{stale}");
    let mut log = audited(s, "discontinuity").await;
    log.retain(|n| n["operation"] == "deleteQuotation");
    let mut logged: Vec<&Value> = log.iter().map(|n| &n["entityId"]).collect();
    logged.sort_by_key(|v| v.to_string());
    let mut expected = vec![&by_eva["id"], &by_ugo["id"], &consensus["id"]];
    expected.sort_by_key(|v| v.to_string());
    assert_eq!(logged, expected, "{log:#?}");
    let quote = id_number(s.quotes[0].as_str().unwrap());
    for n in &log {
        assert_eq!(n["user"]["name"], "admin");
        let summary: Value = serde_json::from_str(n["summary"].as_str().unwrap()).unwrap();
        assert_eq!(summary["before"]["version"], 1, "{summary}");
        assert_eq!(summary["after"]["version"], 2, "{summary}");
        assert_eq!(summary["before"]["evidence"], json!([quote]), "{summary}");
        assert_eq!(summary["after"]["evidence"], json!([]), "{summary}");
    }
    let memos = audited(s, "memo").await;
    let gone: Vec<&Value> = memos
        .iter()
        .filter(|n| n["operation"] == "deleteQuotation")
        .collect();
    assert_eq!(gone.len(), 1, "{memos:#?}");
    assert_eq!(gone[0]["entityId"], memo);
    assert_eq!(gone[0]["user"]["name"], "admin");

    // A transcript edit that loses the other quotation does the same, under its own name.
    let interview = s
        .server
        .ok(
            Some(&s.admin),
            "query($c: ID!) { node(id: $c) { ... on Case { interviews(first: 1) { edges { node { id version } } } } } }",
            json!({"c": s.cases[1]}),
        )
        .await["node"]["interviews"]["edges"][0]["node"]
        .clone();
    let edit = json!({"i": {"id": interview["id"], "version": interview["version"],
                            "transcript": "R: Oggi tutti guardano già alle fasce grigie.", "allowQuotationLoss": true}});
    let lost = s
        .server
        .ok(
            Some(&s.admin),
            "mutation($i: UpdateInterviewInput!) { updateInterview(input: $i) { lostQuotations { id } } }",
            edit,
        )
        .await;
    assert_eq!(
        lost["updateInterview"]["lostQuotations"][0]["id"],
        s.quotes[1]
    );
    let j = &judgments(&s.cases[1]).await[0];
    assert_eq!(
        (&j["version"], &j["evidence"]),
        (&json!(2), &json!([])),
        "{j}"
    );
    let stale = s
        .server
        .gql(Some(&eva), TAG, retag(&s.cases[1], false, 1))
        .await;
    assert_eq!(error_code(&stale), "CONFLICT", "{stale}");
    let log = audited(s, "discontinuity").await;
    assert!(
        log.iter()
            .any(|n| n["operation"] == "updateInterview" && n["entityId"] == other_case["id"]),
        "{log:#?}"
    );
}

/// Two tags at once that would each add half of a circle, through links that neither
/// tag's own rows carry (problem ← theory ← instruments ← network ← problem, the first and
/// third links added at once): the second waits for the first (on PostgreSQL it is run
/// while the first holds its locks, before it commits), then sees its link and is refused.
/// Without the wait both were saved and the circle stored.
#[tokio::test]
async fn two_tags_at_once_cannot_close_a_circle() {
    let s = setup().await;
    let a = Some(s.admin.as_str());
    let cell = |dim: &str, causes: Value| json!({"i": {"caseId": s.cases[0], "dimension": dim, "intensity": "PARTIAL", "causeIds": causes, "consensus": true}});
    let id = |answer: Value| answer["data"]["tagDiscontinuity"]["id"].clone();
    let tag = |dim: &str, causes: Value| s.server.gql(a, TAG, cell(dim, causes));
    let problem = id(tag("PROBLEM_DEFINITION", json!([])).await);
    let instruments = id(tag("POLICY_INSTRUMENTS", json!([])).await);
    let theory = id(tag("INTERVENTION_THEORY", json!([instruments])).await);
    let network = id(tag("ACTOR_NETWORK", json!([problem])).await);
    let (first, second) = tests::with_paused(
        &s.server,
        &["tagDiscontinuity"],
        tag("PROBLEM_DEFINITION", json!([theory])),
        tag("POLICY_INSTRUMENTS", json!([network])),
    )
    .await;
    assert!(first.get("errors").is_none(), "{first}");
    assert_eq!(error_code(&second), "BAD_USER_INPUT", "{second}");
    let judgments = s
        .server
        .ok(a, "query($c: ID!) { node(id: $c) { ... on Case { discontinuities { id causes { id } } } } }", json!({"c": s.cases[0]}))
        .await;
    let causes: BTreeMap<String, Value> = judgments["node"]["discontinuities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["id"].as_str().unwrap().to_owned(), d["causes"].clone()))
        .collect();
    assert_eq!(causes[problem.as_str().unwrap()], json!([{"id": theory}]));
    assert_eq!(causes[instruments.as_str().unwrap()], json!([]));
}

/// A cascade says which change led to which: a link that would bring it back round to the
/// dimension being tagged, directly or through others, is refused and writes nothing.
#[tokio::test]
async fn a_cascade_cannot_go_round_in_a_circle() {
    let s = setup().await;
    let study = id_number(s.study.as_str().unwrap());
    let eva = s.server.token("eva", "evaluator", Some(study)).await;
    let a = Some(s.admin.as_str());
    let cell = |dim: &str, causes: Value, consensus: bool| json!({"i": {"caseId": s.cases[0], "dimension": dim, "intensity": "PARTIAL", "causeIds": causes, "consensus": consensus}});
    let tag = |who: Option<&str>, input: Value| {
        let server = &s.server;
        let who = who.map(str::to_owned);
        async move { server.gql(who.as_deref(), TAG, input).await }
    };
    let id = |answer: Value| answer["data"]["tagDiscontinuity"]["id"].clone();
    // The consensus: problem definition → theory → instruments.
    let problem = id(tag(a, cell("PROBLEM_DEFINITION", json!([]), true)).await);
    let theory = id(tag(a, cell("INTERVENTION_THEORY", json!([problem]), true)).await);
    let instruments = id(tag(a, cell("POLICY_INSTRUMENTS", json!([theory]), true)).await);
    // Following from two causes of the chain is no circle.
    let network = tag(
        a,
        cell("ACTOR_NETWORK", json!([problem, instruments]), true),
    )
    .await;
    assert!(network.get("errors").is_none(), "{network}");
    // Problem definition following from instruments would close the circle.
    let round = tag(a, cell("PROBLEM_DEFINITION", json!([instruments]), true)).await;
    assert_eq!(error_code(&round), "BAD_USER_INPUT", "{round}");
    let message = round["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("circle"), "{message}");
    // One evaluator's own two-step circle.
    let e = Some(eva.as_str());
    let network = id(tag(e, cell("ACTOR_NETWORK", json!([]), false)).await);
    let instruments_e = tag(e, cell("POLICY_INSTRUMENTS", json!([network]), false)).await;
    assert!(instruments_e.get("errors").is_none(), "{instruments_e}");
    let back = tag(e, cell("ACTOR_NETWORK", json!([id(instruments_e)]), false)).await;
    assert_eq!(error_code(&back), "BAD_USER_INPUT", "{back}");
    // Nothing written: the problem definition still follows from nothing, at version 1.
    let judgments = s
        .server
        .ok(a, "query($c: ID!) { node(id: $c) { ... on Case { discontinuities { id version causes { id } } } } }", json!({"c": s.cases[0]}))
        .await;
    let first = judgments["node"]["discontinuities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == problem)
        .cloned()
        .unwrap();
    assert_eq!(first["version"], 1);
    assert_eq!(first["causes"], json!([]));

    // Judgments, not dimensions, go round: across interventions a theory may follow from a
    // problem definition in one, and a problem definition from that theory in another (the
    // picture draws two arrows, as in the demo).
    let intervention = |label: &'static str| {
        let server = &s.server;
        let case = s.cases[1].clone();
        async move {
            server.ok(a, "mutation($c: ID!, $l: String!) { createIntervention(input: {caseId: $c, label: $l}) { id } }", json!({"c": case, "l": label})).await["createIntervention"]["id"].clone()
        }
    };
    let (x, y) = (intervention("X").await, intervention("Y").await);
    let on = |i: &Value, dim: &str, causes: Value| json!({"i": {"caseId": s.cases[1], "interventionId": i, "dimension": dim, "intensity": "PARTIAL", "causeIds": causes, "consensus": true}});
    let problem_x = id(tag(a, on(&x, "PROBLEM_DEFINITION", json!([]))).await);
    let theory_x = id(tag(a, on(&x, "INTERVENTION_THEORY", json!([problem_x]))).await);
    let problem_y = tag(a, on(&y, "PROBLEM_DEFINITION", json!([theory_x]))).await;
    assert!(problem_y.get("errors").is_none(), "{problem_y}");

    // A circle stored before this rule (written here past the API) does not stop its
    // judgments from being saved again with the causes they have.
    use sea_orm::ConnectionTrait as _;
    s.server
        .db
        .conn
        .execute_unprepared(&format!(
            "INSERT INTO discontinuity_cause (effect_id, cause_id) VALUES ({}, {})",
            id_number(problem_x.as_str().unwrap()),
            id_number(theory_x.as_str().unwrap())
        ))
        .await
        .unwrap();
    let mut again = on(&x, "PROBLEM_DEFINITION", json!([theory_x]));
    again["i"]["intensity"] = json!("SIGNIFICANT");
    let again = tag(a, again).await;
    assert!(again.get("errors").is_none(), "{again}");
}

/// A cell tagged again with its judgment as it is writes nothing: the version stays (so
/// that another owner's edit from that version still applies) and nothing is audited. Any
/// difference, in a field or a link, is a new version.
#[tokio::test]
async fn a_tag_that_changes_nothing_keeps_the_version() {
    let s = setup().await;
    let a = Some(s.admin.as_str());
    let cell = |extra: Value| {
        let mut i = json!({"caseId": s.cases[0], "dimension": "ACTOR_NETWORK", "intensity": "PARTIAL", "kind": "NEW_PROBLEM", "description": "reti più larghe", "evidenceQuotationIds": [s.quotes[0]]});
        i.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"i": i})
    };
    let audited = || async {
        s.server
            .ok(
                a,
                "query($s: ID!) { auditLog(studyId: $s) { totalCount } }",
                json!({"s": s.study}),
            )
            .await["auditLog"]["totalCount"]
            .as_i64()
            .unwrap()
    };
    let first = s.server.ok(a, TAG, cell(json!({}))).await["tagDiscontinuity"].clone();
    assert_eq!(first["version"], 1);
    let entries = audited().await;
    for same in [
        cell(json!({})),
        // What is left out keeps its value: still the same judgment.
        json!({"i": {"caseId": s.cases[0], "dimension": "ACTOR_NETWORK", "intensity": "PARTIAL"}}),
        cell(json!({"expectedVersion": 1})),
    ] {
        let again = s.server.ok(a, TAG, same).await["tagDiscontinuity"].clone();
        assert_eq!(again["version"], 1, "{again}");
        assert_eq!(again["id"], first["id"]);
    }
    assert_eq!(audited().await, entries, "nothing audited");
    // Each change alone, applied on top of the ones before, is a new version.
    let cause = s
        .server
        .ok(a, TAG, json!({"i": {"caseId": s.cases[0], "dimension": "PROBLEM_DEFINITION", "intensity": "PARTIAL"}}))
        .await["tagDiscontinuity"]["id"]
        .clone();
    let mut input = cell(json!({}));
    for (n, changed) in [
        json!({"description": "reti più strette"}),
        json!({"evidenceQuotationIds": []}),
        json!({"intensity": "SIGNIFICANT"}),
        json!({"kind": "NEW_APPROACH_TO_ESTABLISHED_PROBLEM"}),
        json!({"covidEffect": "ACCELERATED"}),
        json!({"causeIds": [cause]}),
    ]
    .into_iter()
    .enumerate()
    {
        input["i"]
            .as_object_mut()
            .unwrap()
            .extend(changed.as_object().unwrap().clone());
        let again = s.server.ok(a, TAG, input.clone()).await["tagDiscontinuity"].clone();
        assert_eq!(again["version"], n + 2, "{changed}: {again}");
        // The same again changes nothing.
        let same = s.server.ok(a, TAG, input.clone()).await["tagDiscontinuity"].clone();
        assert_eq!(same["version"], n + 2, "{changed}: {same}");
    }
}

/// A study's judgments are read by subqueries, not lists of ids: 8,192 cases judged on four
/// dimensions by two evaluators (65,536 judgments) bind more than SQLite (32,766) and
/// PostgreSQL (65,535) take in one statement. Both judged every unit alike, one intensity
/// everywhere: kappa is undefined (null), not 1.
#[tokio::test]
async fn agreement_over_more_judgments_than_a_statement_binds() {
    use sea_orm::ConnectionTrait;
    let s = setup().await;
    let study = id_number(s.study.as_str().unwrap());
    let eva = s.server.token("eva", "evaluator", Some(study)).await;
    for token in [&s.admin, &eva] {
        let base = json!({"caseId": s.cases[0], "dimension": DIMS[0], "intensity": "PARTIAL"});
        s.server.ok(Some(token), TAG, json!({"i": base})).await;
    }
    let db = &s.server.db.conn;
    for _ in 0..12 {
        db.execute_unprepared(&format!(
            "INSERT INTO study_case (study_id, label) SELECT study_id, label FROM study_case WHERE study_id = {study}"
        ))
        .await
        .unwrap();
    }
    let dimensions = DIMS
        .iter()
        .map(|d| format!("SELECT '{d}' AS dimension"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    db.execute_unprepared(&format!(
        "INSERT INTO discontinuity (case_id, intervention_id, intervention_key, dimension, intensity, kind, description, covid_effect, evaluator_id, evaluator_slot, is_consensus, version, created_at, updated_at) \
         SELECT c.id, d.intervention_id, d.intervention_key, dims.dimension, d.intensity, d.kind, d.description, d.covid_effect, d.evaluator_id, d.evaluator_slot, d.is_consensus, d.version, d.created_at, d.updated_at \
         FROM study_case c CROSS JOIN discontinuity d CROSS JOIN ({dimensions}) dims \
         WHERE c.study_id = {study} AND NOT (c.id = d.case_id AND dims.dimension = d.dimension)"
    ))
    .await
    .unwrap();
    assert_eq!(
        s.server.count("SELECT COUNT(*) FROM discontinuity").await,
        65_536
    );
    let agreement = s
        .server
        .ok(
            Some(&s.admin),
            "query($s: ID!) { discontinuityAgreement(studyId: $s) { units evaluators percentAgreement krippendorffAlpha cohenKappa } }",
            json!({"s": s.study}),
        )
        .await;
    assert_eq!(
        agreement["discontinuityAgreement"],
        json!({"units": 32_768, "evaluators": 2, "percentAgreement": 1.0, "krippendorffAlpha": null, "cohenKappa": null})
    );
}

/// A matrix's download links are built from the ids it was asked for, not from the strings
/// the client sent: ids with white space round them (which decoding forgives) give the same
/// links, and the links download.
#[tokio::test]
async fn matrix_links_are_built_from_the_ids_not_the_strings_sent() {
    let server = TestServer::demo().await;
    const MATRIX: &str = "query($s: ID!, $e: ID) { discontinuityMatrix(studyId: $s, evaluatorId: $e) { svgUrl csvUrl rows { cells { assessments { evaluator { id } } } } } }";
    let study = server
        .ok(None, "{ studies { edges { node { id } } } }", json!({}))
        .await["studies"]["edges"][0]["node"]["id"]
        .clone();
    let all = server.ok(None, MATRIX, json!({"s": study})).await["discontinuityMatrix"].clone();
    let evaluator = all["rows"][0]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|c| c["assessments"][0]["evaluator"]["id"].as_str())
        .unwrap()
        .to_owned();
    let clean = server
        .ok(None, MATRIX, json!({"s": study, "e": evaluator}))
        .await["discontinuityMatrix"]
        .clone();
    let padded = server
        .ok(
            None,
            MATRIX,
            json!({"s": format!(" {}\n", study.as_str().unwrap()), "e": format!("\t{evaluator} ")}),
        )
        .await["discontinuityMatrix"]
        .clone();
    for link in ["svgUrl", "csvUrl"] {
        let url = padded[link].as_str().unwrap();
        assert_eq!(url, clean[link].as_str().unwrap());
        assert!(!url.contains(char::is_whitespace), "{url}");
        assert_eq!(server.get(url).await.0, 200, "{url}");
    }
}

/// A case's cascade lists its links in one order (by effect, then cause), whatever was
/// re-tagged since: a judgment tagged again with the same cause writes its link anew.
#[tokio::test]
async fn a_cascade_keeps_its_order_when_a_judgment_is_re_tagged() {
    let s = setup().await;
    let study = id_number(s.study.as_str().unwrap());
    let eva = s.server.token("eva", "evaluator", Some(study)).await;
    let e = Some(eva.as_str());
    let tag = |dim: &str, causes: Value, version: Option<i64>| json!({"i": {"caseId": s.cases[0], "dimension": dim, "intensity": "PARTIAL", "causeIds": causes, "expectedVersion": version}});
    let cause = s
        .server
        .ok(e, TAG, tag("PROBLEM_DEFINITION", json!([]), None))
        .await["tagDiscontinuity"]["id"]
        .clone();
    for dim in ["INTERVENTION_THEORY", "POLICY_INSTRUMENTS", "ACTOR_NETWORK"] {
        s.server.ok(e, TAG, tag(dim, json!([cause]), None)).await;
    }
    let eva_id = s.server.ok(e, "{ me { id } }", json!({})).await["me"]["id"].clone();
    let cascade = || async {
        s.server
            .ok(e, "query($c: ID!, $e: ID) { node(id: $c) { ... on Case { cascade(evaluatorId: $e) { cause { dimension } effect { dimension } } } } }", json!({"c": s.cases[0], "e": eva_id}))
            .await["node"]["cascade"]
            .clone()
    };
    let before = cascade().await;
    assert_eq!(before.as_array().unwrap().len(), 3, "{before:#}");
    // The first effect is tagged again with the same cause: its link is written anew.
    s.server
        .ok(e, TAG, tag("INTERVENTION_THEORY", json!([cause]), Some(1)))
        .await;
    assert_eq!(cascade().await, before);
}

/// discontinuities.csv lists every judgment of a cell: in a case row, the consensus on the
/// whole case and the consensus on each of its interventions, as it lists every assessment
/// (it listed only the consensus the picture shows, dropping the others).
#[tokio::test]
async fn the_judgments_table_lists_every_consensus_of_a_case_row() {
    let s = setup().await;
    let a = Some(s.admin.as_str());
    let intervention = s
        .server
        .ok(a, "mutation($c: ID!) { createIntervention(input: {caseId: $c, label: \"Sportello unico\"}) { id } }", json!({"c": s.cases[0]}))
        .await["createIntervention"]["id"]
        .clone();
    for (intervention, intensity) in [(Value::Null, "PARTIAL"), (intervention, "PARADIGMATIC")] {
        s.server
            .ok(a, TAG, json!({"i": {"caseId": s.cases[0], "interventionId": intervention, "dimension": "PROBLEM_DEFINITION", "intensity": intensity, "consensus": true}}))
            .await;
    }
    let url = format!(
        "{}/studies/{}/discontinuities.csv?rows=case",
        s.server.url,
        s.study.as_str().unwrap()
    );
    let csv = reqwest::Client::new()
        .get(url)
        .bearer_auth(&s.admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut lines: Vec<&str> = csv.lines().skip(1).collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "Caso 0,,PROBLEM_DEFINITION,PARTIAL,,,0,admin,true",
            "Caso 0,Sportello unico,PROBLEM_DEFINITION,PARADIGMATIC,,,0,admin,true",
        ],
        "{csv}"
    );
}

/// A judgment that dropped a cause or a piece of evidence while that was being deleted has
/// nothing taken away by the deletion, and keeps the version its tag gave it: an evaluator
/// holding that version must not meet a CONFLICT for a change that never happened.
#[tokio::test]
async fn a_deletion_leaves_the_version_of_a_judgment_that_dropped_it_meanwhile() {
    let s = setup().await;
    let a = Some(s.admin.as_str());
    let cell = |dim: &str, causes: Value, evidence: Value| json!({"i": {"caseId": s.cases[0], "dimension": dim, "intensity": "PARTIAL", "causeIds": causes, "evidenceQuotationIds": evidence, "consensus": true}});
    let cause = s
        .server
        .ok(a, TAG, cell("PROBLEM_DEFINITION", json!([]), json!([])))
        .await["tagDiscontinuity"]
        .clone();
    let effect = cell(
        "INTERVENTION_THEORY",
        json!([cause["id"]]),
        json!([s.quotes[0]]),
    );
    s.server.ok(a, TAG, effect).await;
    let version_of = |answer: &Value| answer["data"]["tagDiscontinuity"]["version"].clone();
    let current = || async {
        s.server
            .ok(a, "query($c: ID!) { node(id: $c) { ... on Case { discontinuities { dimension version causes { id } evidence { id } } } } }", json!({"c": s.cases[0]}))
            .await["node"]["discontinuities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["dimension"] == "INTERVENTION_THEORY")
            .unwrap()
            .clone()
    };
    let (dropped, deleted) = tests::with_paused(
        &s.server,
        &["tagDiscontinuity"],
        s.server.gql(
            a,
            TAG,
            cell("INTERVENTION_THEORY", json!([]), json!([s.quotes[0]])),
        ),
        s.server.gql(
            a,
            "mutation($i: ID!, $v: Int!) { deleteDiscontinuity(id: $i, version: $v) }",
            json!({"i": cause["id"], "v": cause["version"]}),
        ),
    )
    .await;
    assert!(deleted.get("errors").is_none(), "{deleted}");
    let judgment = current().await;
    assert_eq!(judgment["causes"], json!([]));
    assert_eq!(judgment["version"], version_of(&dropped), "{dropped}");
    let (dropped, deleted) = tests::with_paused(
        &s.server,
        &["tagDiscontinuity"],
        s.server
            .gql(a, TAG, cell("INTERVENTION_THEORY", json!([]), json!([]))),
        s.server.gql(
            a,
            "mutation($i: ID!) { deleteQuotation(id: $i, version: 1) }",
            json!({"i": s.quotes[0]}),
        ),
    )
    .await;
    assert!(deleted.get("errors").is_none(), "{deleted}");
    let judgment = current().await;
    assert_eq!(judgment["evidence"], json!([]));
    assert_eq!(judgment["version"], version_of(&dropped), "{dropped}");
}
