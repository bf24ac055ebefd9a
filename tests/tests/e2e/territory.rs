//! Ambiti, enti and their membership over time, on the demo data (001 Tabella 1.3).

use serde_json::{json, Value};
use tests::TestServer;

const MEMBERSHIP: &str = r#"
query ($code: String!, $at: Date) {
  ambito(code: $code, at: $at) { code validFrom validUntil enti { acronym legalForm } }
}"#;

async fn enti(server: &TestServer, code: &str, at: &str) -> Option<Vec<String>> {
    let data = server
        .ok(None, MEMBERSHIP, json!({"code": code, "at": at}))
        .await;
    let ambito = data["ambito"].as_object()?;
    let mut names: Vec<String> = ambito["enti"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["acronym"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    Some(names)
}

#[tokio::test]
async fn ambito_membership_follows_the_date_asked() {
    let server = TestServer::demo().await;
    // Ambito 24 held three enti in 2022 and was split into 24, 38 and 39 in 2023.
    assert_eq!(
        enti(&server, "24", "2022-06-01").await.unwrap(),
        ["C.I.S.S. 38", "C.I.S.S.A.C.", "IN.RE.TE."]
    );
    assert_eq!(
        enti(&server, "24", "2023-06-01").await.unwrap(),
        ["C.I.S.S. 38"]
    );
    assert_eq!(
        enti(&server, "38", "2023-06-01").await.unwrap(),
        ["C.I.S.S.A.C."]
    );
    assert_eq!(
        enti(&server, "39", "2023-06-01").await.unwrap(),
        ["IN.RE.TE."]
    );
    // From its constitution in 2016 (001: the three enti had long bid together before it).
    assert_eq!(
        enti(&server, "24", "2019-06-01").await.unwrap(),
        ["C.I.S.S. 38", "C.I.S.S.A.C.", "IN.RE.TE."]
    );
    // 38 was created in 2023: in 2022 there was no such ambito, not an empty one.
    assert!(enti(&server, "38", "2022-06-01").await.is_none());
    // Ambito 12 lost CISAS Castelletto Ticino to the new ambito 36 and stayed pluri-ente.
    assert_eq!(enti(&server, "12", "2022-06-01").await.unwrap().len(), 3);
    let twelve_2023 = enti(&server, "12", "2023-06-01").await.unwrap();
    assert_eq!(twelve_2023.len(), 2);
    assert!(!twelve_2023.iter().any(|e| e.contains("C.I.S.AS.")));
    assert_eq!(
        enti(&server, "36", "2023-06-01").await.unwrap(),
        ["C.I.S.AS."]
    );
    // The boundary is half-open: 2023-01-01 already belongs to the new arrangement.
    assert_eq!(enti(&server, "24", "2022-12-31").await.unwrap().len(), 3);
    assert_eq!(enti(&server, "24", "2023-01-01").await.unwrap().len(), 1);
    assert!(enti(&server, "99", "2023-01-01").await.is_none());
}

#[tokio::test]
async fn nested_enti_default_to_the_date_of_the_list_and_successions_are_linked() {
    let server = TestServer::demo().await;
    let data = server
        .ok(
            None,
            r#"{
              y2022: ambiti(at: "2022-06-01", first: 100) { totalCount edges { node { code enti { acronym } } } }
              y2023: ambiti(at: "2023-06-01", first: 100) { totalCount edges { node { code } } }
              a24: ambito(code: "24") { successors { code } predecessors { code } }
              a38: ambito(code: "38") { predecessors { code } validFrom }
            }"#,
            json!({}),
        )
        .await;
    let codes = |k: &str| -> Vec<String> {
        data[k]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["code"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(
        !codes("y2022").contains(&"38".to_owned()),
        "38 did not exist in 2022"
    );
    assert!(codes("y2023").contains(&"38".to_owned()));
    let a24_2022 = data["y2022"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["code"] == "24")
        .unwrap();
    assert_eq!(a24_2022["node"]["enti"].as_array().unwrap().len(), 3);
    let mut succ: Vec<&str> = data["a24"]["successors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["code"].as_str().unwrap())
        .collect();
    succ.sort();
    assert_eq!(succ, ["24", "38", "39"]);
    assert_eq!(data["a38"]["predecessors"][0]["code"], "24");
    assert_eq!(data["a38"]["validFrom"], "2023-01-01");
    assert_eq!(
        data["y2022"]["totalCount"].as_i64().unwrap(),
        codes("y2022").len() as i64
    );
}

#[tokio::test]
async fn enti_comuni_and_projects_keep_exact_figures() {
    let server = TestServer::demo().await;
    let data = server
        .ok(
            None,
            r#"{
              entiGestori(first: 100) { totalCount edges { node { id acronym seat population legalForm
                 comuni { name population ente { acronym } }
                 ambiti(at: "2022-06-01") { code } a23: ambiti(at: "2023-06-01") { code }
                 projects { title } } } }
              projects(first: 100) { edges { node { id title fundingEur population lead { acronym } partners { acronym } ambiti { code } } } }
            }"#,
            json!({}),
        )
        .await;
    let enti = data["entiGestori"]["edges"].as_array().unwrap();
    let cissac = enti
        .iter()
        .map(|e| &e["node"])
        .find(|e| e["seat"] == "Caluso")
        .expect("CISSAC");
    let comuni = cissac["comuni"].as_array().unwrap();
    assert_eq!(comuni.len(), 21);
    let inhabitants: i64 = comuni
        .iter()
        .map(|c| c["population"].as_i64().unwrap())
        .sum();
    assert_eq!(inhabitants, 38_880);
    assert_eq!(cissac["ambiti"][0]["code"], "24");
    assert_eq!(cissac["a23"][0]["code"], "38");
    assert_eq!(cissac["legalForm"], "CONSORZIO");
    let projects = data["projects"]["edges"].as_array().unwrap();
    let quadrante = projects
        .iter()
        .map(|p| &p["node"])
        .find(|p| p["title"] == "Quadrante AL&AT")
        .unwrap();
    // Money is an exact decimal string, never a float.
    assert_eq!(quadrante["fundingEur"], "867617.14");
    // A project can be reached from its lead ente, and through node(id:).
    let node = server
        .ok(
            None,
            "query($id: ID!) { node(id: $id) { id ... on Project { title } } }",
            json!({"id": quadrante["id"]}),
        )
        .await;
    assert_eq!(node["node"]["title"], "Quadrante AL&AT");
}

/// Following a split, each ambito is seen on the day it changed: the successors of 24 with
/// their enti from 1 January 2023, its predecessor with the enti of 31 December 2022, from
/// whichever date 24 or 38 was asked for.
#[tokio::test]
async fn successions_show_each_side_on_the_day_of_the_change() {
    let server = TestServer::demo().await;
    let data = server
        .ok(
            None,
            r#"{
              a24: ambito(code: "24", at: "2022-06-01") { successors { code enti { acronym } } }
              a38: ambito(code: "38", at: "2024-06-01") { predecessors { code enti { acronym } } }
              split: ambito(code: "24", at: "2023-01-01") { enti { acronym } }
              before: ambito(code: "24", at: "2022-12-31") { enti { acronym } }
              on38: ambito(code: "38", at: "2023-01-01") { enti { acronym } }
            }"#,
            json!({}),
        )
        .await;
    let successor = |code: &str| {
        data["a24"]["successors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["code"] == code)
            .unwrap()["enti"]
            .clone()
    };
    assert_eq!(successor("24"), data["split"]["enti"], "{data}");
    assert_eq!(successor("38"), data["on38"]["enti"], "{data}");
    assert!(!successor("38").as_array().unwrap().is_empty(), "{data}");
    assert_eq!(
        data["a38"]["predecessors"][0]["enti"], data["before"]["enti"],
        "{data}"
    );
    assert_eq!(data["before"]["enti"].as_array().unwrap().len(), 3);
}

/// `ambito(code:, at:)` answers for the ambiti that `ambiti(at:)` lists on that date and no
/// others: one created later, or ended before, is null then rather than an ambito with no
/// enti. Without `at` the code alone finds it.
#[tokio::test]
async fn an_ambito_asked_on_a_date_outside_its_period_is_null() {
    let server = TestServer::demo().await;
    api::service::territory::create_ambito(
        &server.db.conn,
        "41",
        "Alto Canavese – l’ambito di Cuorgnè",
        Some("2016-01-01".parse().unwrap()),
        Some("2023-01-01".parse().unwrap()),
    )
    .await
    .unwrap();
    let data = server
        .ok(
            None,
            r#"{
              early38: ambito(code: "38", at: "2010-01-01") { code enti { acronym } }
              late38: ambito(code: "38", at: "2023-06-01") { code enti { acronym } }
              undated38: ambito(code: "38") { code validFrom }
              y2022: ambito(code: "24", at: "2022-06-01") { name enti { acronym } }
              y2023: ambito(code: "24", at: "2023-06-01") { enti { acronym } }
              open41: ambito(code: "41", at: "2022-12-31") { name validUntil }
              ended41: ambito(code: "41", at: "2023-01-01") { name }
              undated41: ambito(code: "41") { name }
              list2010: ambiti(at: "2010-01-01", first: 100) { edges { node { code } } }
              list2022: ambiti(at: "2022-06-01", first: 100) { edges { node { code } } }
            }"#,
            json!({}),
        )
        .await;
    assert!(data["early38"].is_null(), "{data}");
    assert_eq!(data["late38"]["code"], "38", "{data}");
    assert_eq!(data["late38"]["enti"][0]["acronym"], "C.I.S.S.A.C.");
    assert_eq!(data["undated38"]["validFrom"], "2023-01-01");
    assert_eq!(data["y2022"]["name"], "Cuorgnè/Caluso/Ivrea");
    assert_eq!(data["y2022"]["enti"].as_array().unwrap().len(), 3);
    assert_eq!(data["y2023"]["enti"].as_array().unwrap().len(), 1);
    assert_eq!(
        data["open41"]["name"],
        "Alto Canavese – l’ambito di Cuorgnè"
    );
    assert_eq!(data["open41"]["validUntil"], "2023-01-01");
    assert!(data["ended41"].is_null(), "{data}");
    assert!(data["undated41"]["name"].is_string(), "{data}");
    // On each date, the single ambito answers exactly for the codes the list holds.
    for (date, list) in [("2010-01-01", "list2010"), ("2022-06-01", "list2022")] {
        let listed: Vec<&str> = data[list]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["code"].as_str().unwrap())
            .collect();
        for code in ["1", "24", "33", "38", "41"] {
            let one = server
                .ok(
                    None,
                    "query($c: String!, $at: Date) { ambito(code: $c, at: $at) { code } }",
                    json!({"c": code, "at": date}),
                )
                .await;
            assert_eq!(
                !one["ambito"].is_null(),
                listed.contains(&code),
                "ambito {code} on {date}: {one}"
            );
        }
    }
}

/// An ambito's name is dated like its enti: ambito 24 was "Cuorgnè/Caluso/Ivrea" until the
/// 2023 split and is Cuorgnè alone since, so a list of 2023 no longer shows the old name
/// beside "Caluso" and "Ivrea".
#[tokio::test]
async fn an_ambito_is_named_as_it_was_on_the_date_asked() {
    let server = TestServer::demo().await;
    let data = server
        .ok(
            None,
            r#"{
              y2022: ambito(code: "24", at: "2022-06-01") { name successors { code name } }
              y2023: ambito(code: "24", at: "2023-06-01") { name predecessors { code name } }
              today: ambito(code: "24") { name names { name validFrom validUntil } }
              list2023: ambiti(at: "2023-06-01", first: 100) { edges { node { code name } } }
              caluso: ambito(code: "38") { names { name validFrom validUntil } }
            }"#,
            json!({}),
        )
        .await;
    assert_eq!(data["y2022"]["name"], "Cuorgnè/Caluso/Ivrea", "{data}");
    // Successors are seen on the day of the split, predecessors the day before.
    let successors = data["y2022"]["successors"].as_array().unwrap();
    let itself = successors.iter().find(|a| a["code"] == "24").unwrap();
    assert_eq!(itself["name"], "Cuorgnè", "{data}");
    let predecessors = data["y2023"]["predecessors"].as_array().unwrap();
    assert_eq!(predecessors[0]["name"], "Cuorgnè/Caluso/Ivrea", "{data}");
    assert_eq!(data["y2023"]["name"], "Cuorgnè");
    assert_eq!(data["today"]["name"], "Cuorgnè");
    assert_eq!(
        data["today"]["names"],
        json!([
            {"name": "Cuorgnè/Caluso/Ivrea", "validFrom": "2016-01-01", "validUntil": "2023-01-01"},
            {"name": "Cuorgnè", "validFrom": "2023-01-01", "validUntil": null}
        ])
    );
    let names_2023: Vec<&str> = data["list2023"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap())
        .collect();
    assert!(names_2023.contains(&"Cuorgnè"), "{names_2023:?}");
    assert!(
        !names_2023.contains(&"Cuorgnè/Caluso/Ivrea"),
        "{names_2023:?}"
    );
    // An ambito never renamed has its one name over its whole period.
    assert_eq!(
        data["caluso"]["names"],
        json!([{"name": "Caluso", "validFrom": "2023-01-01", "validUntil": null}])
    );
}

/// A date is `YYYY-MM-DD` and nothing else: the shapes chrono would also take ("2022-6-1",
/// a leading space, a sign, a fifth digit) are refused, as the error says, and so cannot
/// list no ambiti where every other view of the territory answers (a five-digit year
/// compares before "2016" as text).
#[tokio::test]
async fn a_date_is_refused_unless_it_is_written_yyyy_mm_dd() {
    let server = TestServer::demo().await;
    let query = "query($at: Date) { ambiti(at: $at) { totalCount } }";
    for at in [
        "2022-6-1",
        " 2022-06-01",
        "+2022-06-01",
        "+10000-01-01",
        "-0001-01-01",
        "2022-06-01 ",
    ] {
        let body = server.gql(None, query, json!({"at": at})).await;
        assert_eq!(
            tests::error_code(&body),
            "BAD_USER_INPUT",
            "{at:?}: {body:#}"
        );
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("is not a date (YYYY-MM-DD)"), "{message}");
    }
    let later = server.ok(None, query, json!({"at": "9999-12-31"})).await;
    assert!(
        later["ambiti"]["totalCount"].as_i64().unwrap() > 0,
        "{later:#}"
    );
}

/// A date a view was asked for carries down through comuni to their ente's ambiti, and a
/// project's ente and ambiti are seen on the day it started: CISSAC Caluso was in ambito 24
/// until the 2023 split, and a project it led in 2019 shows it there, among its ambito's
/// enti.
#[tokio::test]
async fn nested_territory_keeps_the_date_it_was_reached_at() {
    let server = TestServer::demo().await;
    let data = server
        .ok(
            None,
            r#"{
              a24: ambito(code: "24", at: "2022-06-01") { enti { acronym comuni { ente { acronym ambiti { code } } } } }
              projects(first: 100) { edges { node { title startedOn lead { acronym ambiti { code } } ambiti { code enti { acronym } } } } }
            }"#,
            json!({}),
        )
        .await;
    let enti = data["a24"]["enti"].as_array().unwrap();
    assert_eq!(enti.len(), 3, "{enti:#?}");
    let mut comuni = 0;
    for ente in enti {
        for comune in ente["comuni"].as_array().unwrap() {
            assert_eq!(comune["ente"]["acronym"], ente["acronym"]);
            assert_eq!(
                comune["ente"]["ambiti"],
                json!([{"code": "24"}]),
                "{comune}"
            );
            comuni += 1;
        }
    }
    assert!(comuni > 0);
    let projects = data["projects"]["edges"].as_array().unwrap();
    let led_before_the_split: Vec<&Value> = projects
        .iter()
        .map(|e| &e["node"])
        .filter(|p| {
            p["startedOn"].as_str().is_some_and(|d| d < "2023")
                && p["lead"]["ambiti"] == json!([{"code": "24"}])
        })
        .collect();
    assert!(!led_before_the_split.is_empty(), "{projects:#?}");
    for p in led_before_the_split {
        let ambito = p["ambiti"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["code"] == "24")
            .unwrap_or_else(|| panic!("{p}"));
        assert_eq!(ambito["enti"].as_array().unwrap().len(), 3, "{p}");
        assert!(
            ambito["enti"]
                .as_array()
                .unwrap()
                .contains(&json!({"acronym": p["lead"]["acronym"]})),
            "{p}"
        );
    }
}
