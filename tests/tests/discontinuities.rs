//! Discontinuities: tagging rules, the matrix, agreement statistics, the cross-case
//! comparison, the cascade, and their pictures and CSV.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tests::{error_code, id_number, TestServer};

const TAG: &str = "mutation($i: TagDiscontinuityInput!) { tagDiscontinuity(input: $i) { id version intensity kind isConsensus evaluator { name } evidence { id } causes { id } } }";
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
    // One judgment per evaluator and cell: tagging again needs the version read.
    assert_eq!(
        error_code(&s.server.gql(e, TAG, json!({"i": base})).await),
        "CONFLICT"
    );
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
    const MATRIX: &str = "query($s: ID!, $r: MatrixRows, $e: ID) { discontinuityMatrix(studyId: $s, rows: $r, evaluatorId: $e) { dimensions svgUrl csvUrl rows { case { label } intervention { label } cells { dimension consensus { intensity isConsensus evidence { text } } assessments { intensity evaluator { id name } } } } } }";
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
    const AGREEMENT: &str = "query($s: ID!, $l: AgreementLevel) { discontinuityAgreement(studyId: $s, level: $l) { units evaluators percentAgreement krippendorffAlpha cohenKappa } }";
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
    const Q: &str = "query($s: ID!, $n: Int) { node(id: $s) { ... on Study { cases(first: $n) { edges { node { label cascade { cause { dimension evidence { id } } effect { dimension } } } } } } } }";
    let mut costs = Vec::new();
    for n in [1, 4] {
        let before = server.statements().await;
        let data = server.ok(None, Q, json!({"s": study, "n": n})).await;
        costs.push(server.statements().await - before);
        assert_eq!(
            data["node"]["cases"]["edges"].as_array().unwrap().len(),
            n as usize
        );
    }
    assert_eq!(
        costs[0], costs[1],
        "statements for 1 case vs 4 cases: {costs:?}"
    );
}

#[tokio::test]
async fn judgments_of_one_cell_made_at_once_leave_one() {
    let s = setup().await;
    let study = id_number(s.study.as_str().unwrap());
    let eva = s.server.token("eva", "evaluator", Some(study)).await;
    let e = Some(eva.as_str());
    let cell = json!({"caseId": s.cases[0], "dimension": "ACTOR_NETWORK", "evidenceQuotationIds": [s.quotes[0]]});
    let tag = |intensity: &str, version: Option<i32>| {
        let mut i = cell.clone();
        i["intensity"] = json!(intensity);
        i["expectedVersion"] = json!(version);
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
    // The first judgment of a cell, eight times at once.
    let first = check(futures::future::join_all((0..8).map(|k| tag(LEVELS[k % 4], None))).await);
    assert_eq!(first[0]["data"]["tagDiscontinuity"]["version"], 1);
    // Eight updates from the version read.
    let second =
        check(futures::future::join_all((0..8).map(|k| tag(LEVELS[k % 4], Some(1)))).await);
    let second = &second[0]["data"]["tagDiscontinuity"];
    assert_eq!(second["version"], 2);
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
        json!([{"id": second["id"], "version": 2, "intensity": second["intensity"], "evidence": [{"id": s.quotes[0]}]}])
    );
}
