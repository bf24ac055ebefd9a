//! Study membership through the API: who may grant and take back roles, the last owner, the
//! effect on a removed member's next request and subscription, the members list, removed
//! accounts, and the instance-wide audit log.

use futures::SinkExt;
use serde_json::{json, Value};
use tests::ws::{connect, next};
use tests::{error_code, id_number, TestServer};
use tokio_tungstenite::tungstenite::Message;

const SET: &str = "mutation($s: ID!, $u: String!, $r: StudyRole!) { setStudyMember(studyId: $s, userName: $u, role: $r) { role user { id name } } }";
const REMOVE: &str = "mutation($s: ID!, $u: ID!) { removeStudyMember(studyId: $s, userId: $u) }";
const MEMBERS: &str =
    "query($s: ID!) { node(id: $s) { ... on Study { members { role user { id name } } } } }";

/// A study made by `token`'s user (its only owner), private unless said otherwise.
async fn study(server: &TestServer, token: &str, title: &str, public: bool) -> Value {
    server
        .ok(
            Some(token),
            "mutation($t: String!, $p: Boolean) { createStudy(input: {title: $t, public: $p}) { id } }",
            json!({"t": title, "p": public}),
        )
        .await["createStudy"]["id"]
        .clone()
}

/// A token for a user with no role anywhere that matters here: a viewer of a study of their own
/// kept aside, so that they exist and may create studies.
async fn outsider(server: &TestServer, admin: &str, name: &str) -> String {
    let aside = study(server, admin, &format!("Altrove di {name}"), false).await;
    server
        .token(name, "viewer", Some(id_number(aside.as_str().unwrap())))
        .await
}

/// The study's members as (name, role), in the list's order.
async fn members(server: &TestServer, token: &str, study: &Value) -> Vec<(String, String)> {
    let data = server.ok(Some(token), MEMBERS, json!({"s": study})).await;
    data["node"]["members"]
        .as_array()
        .unwrap_or_else(|| panic!("no members in {data}"))
        .iter()
        .map(|m| {
            (
                m["user"]["name"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn role_of(server: &TestServer, admin: &str, study: &Value, name: &str) -> Option<String> {
    members(server, admin, study)
        .await
        .into_iter()
        .find(|m| m.0 == name)
        .map(|m| m.1)
}

/// A user's global ID, as the members list shows it.
async fn user_id(server: &TestServer, admin: &str, study: &Value, name: &str) -> Value {
    let data = server.ok(Some(admin), MEMBERS, json!({"s": study})).await;
    data["node"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["name"] == name)
        .unwrap_or_else(|| panic!("{name} is no member: {data}"))["user"]["id"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_owners_and_admins_grant_and_take_back_roles() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let olga = outsider(&server, &admin, "olga").await;
    let s = study(&server, &olga, "Ruoli", false).await;
    let n = id_number(s.as_str().unwrap());
    let public = study(&server, &olga, "Ruoli pubblici", true).await;
    let analyst = server.token("anna", "analyst", Some(n)).await;
    let evaluator = server.token("eva", "evaluator", Some(n)).await;
    let viewer = server.token("vera", "viewer", Some(n)).await;
    let otto = outsider(&server, &admin, "otto").await;
    server.token("tina", "viewer", Some(n)).await;

    let set = |token: Option<String>, study: Value, role: &'static str| {
        let server = &server;
        async move {
            server
                .gql(
                    token.as_deref(),
                    SET,
                    json!({"s": study, "u": "tina", "r": role}),
                )
                .await
        }
    };
    for (who, token) in [
        ("analyst", &analyst),
        ("evaluator", &evaluator),
        ("viewer", &viewer),
    ] {
        let refused = set(Some(token.clone()), s.clone(), "OWNER").await;
        assert_eq!(error_code(&refused), "FORBIDDEN", "{who}: {refused}");
    }
    // An outsider is told nothing of a private study, and is refused on a public one.
    let hidden = set(Some(otto.clone()), s.clone(), "OWNER").await;
    assert_eq!(error_code(&hidden), "NOT_FOUND", "{hidden}");
    server
        .token("tina", "viewer", Some(id_number(public.as_str().unwrap())))
        .await;
    let refused = set(Some(otto.clone()), public.clone(), "OWNER").await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
    let anonymous = set(None, s.clone(), "OWNER").await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED", "{anonymous}");
    assert_eq!(
        role_of(&server, &admin, &s, "tina").await.as_deref(),
        Some("VIEWER")
    );

    // The owner, then an admin who is no member, replace tina's role.
    let granted = set(Some(olga.clone()), s.clone(), "ANALYST").await;
    assert!(granted.get("errors").is_none(), "{granted}");
    assert_eq!(granted["data"]["setStudyMember"]["role"], "ANALYST");
    assert_eq!(granted["data"]["setStudyMember"]["user"]["name"], "tina");
    let granted = set(Some(admin.clone()), s.clone(), "EVALUATOR").await;
    assert!(granted.get("errors").is_none(), "{granted}");
    assert_eq!(
        role_of(&server, &admin, &s, "tina").await.as_deref(),
        Some("EVALUATOR")
    );

    let tina = user_id(&server, &admin, &s, "tina").await;
    for (who, token) in [("analyst", &analyst), ("viewer", &viewer)] {
        let refused = server
            .gql(Some(token), REMOVE, json!({"s": s, "u": tina}))
            .await;
        assert_eq!(error_code(&refused), "FORBIDDEN", "{who}: {refused}");
    }
    let hidden = server
        .gql(Some(&otto), REMOVE, json!({"s": s, "u": tina}))
        .await;
    assert_eq!(error_code(&hidden), "NOT_FOUND", "{hidden}");
    assert!(role_of(&server, &admin, &s, "tina").await.is_some());
    let removed = server
        .ok(Some(&olga), REMOVE, json!({"s": s, "u": tina}))
        .await;
    assert_eq!(removed["removeStudyMember"], tina);
    assert_eq!(role_of(&server, &admin, &s, "tina").await, None);
    let vera = user_id(&server, &admin, &s, "vera").await;
    server
        .ok(Some(&admin), REMOVE, json!({"s": s, "u": vera}))
        .await;
    assert_eq!(role_of(&server, &admin, &s, "vera").await, None);

    // Each change is in the study's log, with the role before and after.
    let log = server
        .ok(
            Some(&olga),
            "query($s: ID!) { auditLog(studyId: $s) { edges { node { operation summary user { name } } } } }",
            json!({"s": s}),
        )
        .await;
    let entries: Vec<(String, Value, Value)> = log["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .filter(|e| e["operation"].as_str().unwrap().ends_with("StudyMember"))
        .map(|e| {
            (
                e["operation"].as_str().unwrap().to_owned(),
                serde_json::from_str(e["summary"].as_str().unwrap()).unwrap(),
                e["user"]["name"].clone(),
            )
        })
        .collect();
    let expected = [
        (
            "setStudyMember",
            "tina",
            json!("VIEWER"),
            json!("ANALYST"),
            "olga",
        ),
        (
            "setStudyMember",
            "tina",
            json!("ANALYST"),
            json!("EVALUATOR"),
            "admin",
        ),
        (
            "removeStudyMember",
            "tina",
            json!("EVALUATOR"),
            Value::Null,
            "olga",
        ),
        (
            "removeStudyMember",
            "vera",
            json!("VIEWER"),
            Value::Null,
            "admin",
        ),
    ];
    assert_eq!(entries.len(), expected.len(), "{log}");
    for ((op, summary, by), (e_op, e_user, before, after, e_by)) in entries.iter().zip(expected) {
        assert_eq!(op, e_op);
        assert_eq!(by, e_by, "{summary}");
        assert_eq!(summary["before"], json!({"user": e_user, "role": before}));
        assert_eq!(summary["after"], json!({"user": e_user, "role": after}));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_users_and_non_members_are_not_found() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let s = study(&server, &admin, "Sconosciuti", false).await;
    let unknown = server
        .gql(
            Some(&admin),
            SET,
            json!({"s": s, "u": "nessuno", "r": "VIEWER"}),
        )
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND", "{unknown}");
    let message = unknown["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("quaderno token create"), "{message}");

    // A user who exists but is no member of this study.
    let elsewhere = study(&server, &admin, "Altrove", false).await;
    server
        .token(
            "nina",
            "viewer",
            Some(id_number(elsewhere.as_str().unwrap())),
        )
        .await;
    let nina = user_id(&server, &admin, &elsewhere, "nina").await;
    let absent = server
        .gql(Some(&admin), REMOVE, json!({"s": s, "u": nina}))
        .await;
    assert_eq!(error_code(&absent), "NOT_FOUND", "{absent}");
    let missing_study = server
        .gql(
            Some(&admin),
            SET,
            json!({"s": "U3R1ZHk6OTk5", "u": "nina", "r": "VIEWER"}),
        )
        .await;
    assert_eq!(error_code(&missing_study), "NOT_FOUND", "{missing_study}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_study_keeps_its_last_owner() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let olga = outsider(&server, &admin, "olga").await;
    let s = study(&server, &olga, "Ultima proprietaria", false).await;
    let n = id_number(s.as_str().unwrap());
    let me = user_id(&server, &admin, &s, "olga").await;

    let demoted = server
        .gql(
            Some(&olga),
            SET,
            json!({"s": s, "u": "olga", "r": "ANALYST"}),
        )
        .await;
    assert_eq!(error_code(&demoted), "CONFLICT", "{demoted}");
    let removed = server
        .gql(Some(&admin), REMOVE, json!({"s": s, "u": me}))
        .await;
    assert_eq!(error_code(&removed), "CONFLICT", "{removed}");
    // Nor through a weaker token made on the command line.
    let weaker =
        api::service::tokens::create_token_for(&server.db.conn, "olga", "viewer", Some(n), None)
            .await;
    assert!(
        matches!(weaker, Err(api::error::ServiceError::Conflict(_))),
        "{weaker:?}"
    );
    assert_eq!(
        members(&server, &admin, &s).await,
        [("olga".to_owned(), "OWNER".to_owned())]
    );

    // With a second owner, the first may step down.
    server.token("paola", "viewer", Some(n)).await;
    server
        .ok(
            Some(&olga),
            SET,
            json!({"s": s, "u": "paola", "r": "OWNER"}),
        )
        .await;
    let stepped_down = server
        .ok(
            Some(&olga),
            SET,
            json!({"s": s, "u": "olga", "r": "VIEWER"}),
        )
        .await;
    assert_eq!(stepped_down["setStudyMember"]["role"], "VIEWER");
}

/// Two owners demoting each other at once: one wins, and the study keeps one owner (without
/// a lock on the study, both read two owners on PostgreSQL and both succeeded). Several
/// rounds, each on its own study, so that the two requests overlap in some.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_demoting_each_other_at_once_leave_one_owner() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let ada = outsider(&server, &admin, "ada").await;
    let bea = outsider(&server, &admin, "bea").await;
    for round in 0..8 {
        let s = study(&server, &ada, &format!("Contesa {round}"), false).await;
        server
            .token("bea", "viewer", Some(id_number(s.as_str().unwrap())))
            .await;
        server
            .ok(Some(&ada), SET, json!({"s": s, "u": "bea", "r": "OWNER"}))
            .await;
        let (a, b) = tokio::join!(
            server.gql(Some(&ada), SET, json!({"s": s, "u": "bea", "r": "VIEWER"})),
            server.gql(Some(&bea), SET, json!({"s": s, "u": "ada", "r": "VIEWER"})),
        );
        let won = [&a, &b]
            .iter()
            .filter(|r| r.get("errors").is_none())
            .count();
        assert_eq!(won, 1, "round {round}: {a} {b}");
        let lost = if a.get("errors").is_some() { &a } else { &b };
        assert!(
            ["CONFLICT", "FORBIDDEN"].contains(&error_code(lost)),
            "round {round}: {lost}"
        );
        let owners: Vec<_> = members(&server, &admin, &s)
            .await
            .into_iter()
            .filter(|m| m.1 == "OWNER")
            .collect();
        assert_eq!(owners.len(), 1, "round {round}: {owners:?}");
    }
}

/// Removal takes effect at once: the removed member's next request no longer reads the
/// private study, and their running subscription to it ends with FORBIDDEN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_is_refused_at_the_next_request_and_event() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let corpus = server
        .corpus(&admin, "Riservato", &["R: La casa popolare manca davvero."])
        .await;
    let (s, interview) = (corpus.study, corpus.interviews[0]["id"].clone());
    let carla = server
        .token("carla", "analyst", Some(id_number(s.as_str().unwrap())))
        .await;
    let node = "query($s: ID!) { node(id: $s) { id } }";
    let cases = "query($s: ID!) { cases(studyId: $s) { totalCount } }";
    let before = server.ok(Some(&carla), node, json!({"s": s})).await;
    assert_eq!(before["node"]["id"], s);
    server.ok(Some(&carla), cases, json!({"s": s})).await;

    let mut socket = connect(&server, Some(&carla)).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    let subscription = "subscription($s: ID!) { quotationChanged(studyId: $s) { kind id } }";
    socket
        .send(Message::text(
            json!({"id": "1", "type": "subscribe", "payload": {"query": subscription, "variables": {"s": s}}})
                .to_string(),
        ))
        .await
        .unwrap();
    let create = |start: i64| {
        let (server, admin, interview) = (&server, &admin, interview.clone());
        async move {
            server
                .ok(
                    Some(admin),
                    "mutation($i: ID!, $s: Int!) { createQuotation(input: {interviewId: $i, start: $s, end: 12, codeIds: []}) { id } }",
                    json!({"i": interview, "s": start}),
                )
                .await
        }
    };
    // Events are heard once the subscription is in place: write until one arrives.
    let mut heard = None;
    for start in 3..8 {
        create(start).await;
        let event =
            tokio::time::timeout(std::time::Duration::from_millis(500), next(&mut socket)).await;
        if let Ok(event) = event {
            heard = Some(event);
            break;
        }
    }
    let heard = heard.expect("an event while carla is a member");
    assert_eq!(
        heard["payload"]["data"]["quotationChanged"]["kind"], "CREATED",
        "{heard}"
    );

    let carla_id = user_id(&server, &admin, &s, "carla").await;
    server
        .ok(Some(&admin), REMOVE, json!({"s": s, "u": carla_id}))
        .await;
    let after = server.ok(Some(&carla), node, json!({"s": s})).await;
    assert_eq!(after["node"], Value::Null, "{after}");
    let after = server.gql(Some(&carla), cases, json!({"s": s})).await;
    assert_eq!(error_code(&after), "NOT_FOUND", "{after}");

    create(9).await;
    // Events sent while carla was still a member may come first.
    let ended = loop {
        let message = next(&mut socket).await;
        if message["payload"]["data"]["quotationChanged"]["kind"] != "CREATED" {
            break message;
        }
    };
    assert_eq!(
        ended["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{ended}"
    );
    assert_eq!(next(&mut socket).await["type"], "complete");
}

/// Who may see a study sees its members; the list costs the same statements for one study as
/// for several (one batch of members, one of users).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_are_listed_in_batches() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let first = study(&server, &admin, "Primo", false).await;
    let n = id_number(first.as_str().unwrap());
    let viewer = server.token("vera", "viewer", Some(n)).await;
    server.token("anna", "analyst", Some(n)).await;
    assert_eq!(
        members(&server, &viewer, &first).await,
        [
            ("admin".to_owned(), "OWNER".to_owned()),
            ("vera".to_owned(), "VIEWER".to_owned()),
            ("anna".to_owned(), "ANALYST".to_owned()),
        ]
    );
    // A public study's members are as public as the study; a private one's are not.
    let public = study(&server, &admin, "Pubblico", true).await;
    let listed = server.ok(None, MEMBERS, json!({"s": public})).await;
    assert_eq!(listed["node"]["members"][0]["user"]["name"], "admin");
    let outsider = outsider(&server, &admin, "otto").await;
    let hidden = server
        .ok(Some(&outsider), MEMBERS, json!({"s": first}))
        .await;
    assert_eq!(hidden["node"], Value::Null);

    let all = "{ studies { edges { node { title members { role user { id name } } } } } }";
    let statements = |expected_studies: usize| {
        let (server, admin) = (&server, &admin);
        async move {
            let mut counts = Vec::new();
            for _ in 0..3 {
                let before = server.statements().await;
                let data = server.ok(Some(admin), all, json!({})).await;
                counts.push(server.statements().await - before);
                let studies = data["studies"]["edges"].as_array().unwrap();
                assert_eq!(studies.len(), expected_studies);
                assert!(studies
                    .iter()
                    .all(|s| !s["node"]["members"].as_array().unwrap().is_empty()));
            }
            // The fewest of three (see reads.rs: a pool still growing on PostgreSQL may count
            // one more now and then); statements that grew with the rows grow in every read.
            counts.into_iter().min().unwrap()
        }
    };
    let few = statements(3).await;
    for k in 0..4 {
        let s = study(&server, &admin, &format!("Altro {k}"), false).await;
        let sn = id_number(s.as_str().unwrap());
        for name in ["vera", "anna", "eva"] {
            server.token(name, "evaluator", Some(sn)).await;
        }
    }
    let many = statements(3 + 4).await;
    assert_eq!(few, many, "statements grew with the studies listed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instance_audit_log_is_for_admins_and_lists_revocations() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let s = study(&server, &admin, "Istanza", false).await;
    let viewer = server
        .token("vera", "viewer", Some(id_number(s.as_str().unwrap())))
        .await;
    let ops = server.token("ops", "admin", None).await;
    let log = "query($after: String) { instanceAuditLog(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { operation entity entityId summary user { name } } } } }";
    let refused = server.gql(Some(&viewer), log, json!({})).await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
    let anonymous = server.gql(None, log, json!({})).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED", "{anonymous}");

    let tokens = api::service::tokens::list_tokens(&server.db.conn)
        .await
        .unwrap();
    let vera_token = tokens.iter().find(|t| t.user == "vera").unwrap().id;
    api::service::tokens::revoke_token(&server.db.conn, vera_token)
        .await
        .unwrap();
    api::service::members::revoke_admin(&server.db.conn, "ops")
        .await
        .unwrap();
    // ops is no admin any more: their token no longer reads it.
    let demoted = server.gql(Some(&ops), log, json!({})).await;
    assert_eq!(error_code(&demoted), "FORBIDDEN", "{demoted}");

    // Every entry without a study, paged, and nothing of the study's own log.
    let mut entries = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = server.ok(Some(&admin), log, json!({"after": after})).await;
        let conn = &page["instanceAuditLog"];
        assert_eq!(conn["totalCount"], 4, "{page}");
        entries.extend(
            conn["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"].clone()),
        );
        if conn["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
    }
    let operations: Vec<&str> = entries
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        operations,
        ["createToken", "createToken", "revokeToken", "revokeAdmin"],
        "{entries:?}"
    );
    let revoked = &entries[3];
    assert_eq!(revoked["entity"], "user");
    assert_eq!(revoked["user"], Value::Null, "the command line");
    let summary: Value = serde_json::from_str(revoked["summary"].as_str().unwrap()).unwrap();
    assert_eq!(summary["before"]["admin"], true);
    assert_eq!(summary["after"]["admin"], false);
}

/// A removed account (`quaderno user remove`) keeps what it wrote, shown under its new name
/// with `removedAt`; its token is refused at the next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_account_is_refused_and_keeps_its_memos_under_a_new_name() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let s = study(&server, &admin, "Account rimossi", false).await;
    let n = id_number(s.as_str().unwrap());
    let rita = server.token("Rita Bianchì", "analyst", Some(n)).await;
    server
        .ok(
            Some(&rita),
            "mutation($t: ID!) { createMemo(input: {targetId: $t, text: \"l’équipe è cambiata\"}) { id } }",
            json!({"t": s}),
        )
        .await;
    const MEMOS: &str = "query($s: ID!) { node(id: $s) { ... on Study { memos { text author { name removedAt } } } } }";
    let before = server.ok(Some(&admin), MEMOS, json!({"s": s})).await;
    assert_eq!(before["node"]["memos"][0]["author"]["name"], "Rita Bianchì");
    assert_eq!(
        before["node"]["memos"][0]["author"]["removedAt"],
        Value::Null
    );

    let removal = api::service::users::remove_user(&server.db.conn, "Rita Bianchì")
        .await
        .unwrap();
    let refused = server.gql(Some(&rita), "{ me { name } }", json!({})).await;
    assert_eq!(error_code(&refused), "UNAUTHENTICATED", "{refused}");
    let after = server.ok(Some(&admin), MEMOS, json!({"s": s})).await;
    let memo = &after["node"]["memos"][0];
    assert_eq!(memo["text"], "l’équipe è cambiata");
    assert_eq!(memo["author"]["name"], removal.name.as_str());
    assert!(memo["author"]["removedAt"].is_string(), "{memo}");
    assert_eq!(
        members(&server, &admin, &s).await,
        [("admin".to_owned(), "OWNER".to_owned())]
    );
}

/// A removal racing three grants to the same user: `setStudyMember` in a study they are not
/// in (held back only by the lock on the user), `setStudyMember` and `quaderno token create`
/// in the study they are in (which the removal locks too, after the user: the grants must
/// lock in that order, or PostgreSQL breaks the cycle with a CONFLICT). However they
/// interleave, none fails but as refused (NOT_FOUND, after the removal), and the removed
/// account ends with no role and no valid token; a token made after the removal goes to a
/// new account under the freed name. Several rounds, each on a new user, so that the requests
/// overlap in some (on SQLite, whose writers queue, they cannot).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_racing_grants_leaves_the_removed_account_nothing() {
    use api_entities::{api_token, study_member};
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let elsewhere = study(&server, &admin, "Corsa", false).await;
    let home = study(&server, &admin, "Partenza", false).await;
    let n = id_number(home.as_str().unwrap());
    let db = &server.db.conn;
    for round in 0..16 {
        let name = format!("corridore {round}");
        server.token(&name, "viewer", Some(n)).await;
        let id = account_id(&server, &name).await;
        let grant = |s: &Value| json!({"s": s, "u": name, "r": "ANALYST"});
        let (removal, outside, inside, tokened) = tokio::join!(
            api::service::users::remove_user(db, &name),
            server.gql(Some(&admin), SET, grant(&elsewhere)),
            server.gql(Some(&admin), SET, grant(&home)),
            api::service::tokens::create_token_for(db, &name, "evaluator", Some(n), None),
        );
        let removal = removal.unwrap_or_else(|e| panic!("round {round}: {e:?}"));
        assert_eq!(removal.user_id, id);
        for granted in [&outside, &inside] {
            if granted.get("errors").is_some() {
                assert_eq!(error_code(granted), "NOT_FOUND", "round {round}: {granted}");
            }
        }
        tokened.unwrap_or_else(|e| panic!("round {round}: {e:?}"));
        let roles = study_member::Entity::find()
            .filter(study_member::Column::UserId.eq(id))
            .count(db)
            .await
            .unwrap();
        let live = api_token::Entity::find()
            .filter(api_token::Column::UserId.eq(id))
            .filter(api_token::Column::RevokedAt.is_null())
            .count(db)
            .await
            .unwrap();
        assert_eq!((roles, live), (0, 0), "round {round}");
    }
}

/// A user creating a study while being removed: either the study comes first, and the removal
/// is refused (the user is its last owner), or the removal does, and the study is refused; a
/// removed account never owns a study (`grant_role` locks the user).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_study_created_during_the_removal_of_its_creator_is_refused_or_keeps_them() {
    use api_entities::{app_user, study_member};
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let db = &server.db.conn;
    let mut removed = 0;
    for round in 0..16 {
        let name = format!("fondatrice {round}");
        let token = outsider(&server, &admin, &name).await;
        let id = account_id(&server, &name).await;
        let (removal, created) = tokio::join!(
            api::service::users::remove_user(db, &name),
            server.gql(
                Some(&token),
                "mutation($t: String!) { createStudy(input: {title: $t}) { id } }",
                json!({"t": format!("Nuova {round}")}),
            ),
        );
        let account = app_user::Entity::find_by_id(id)
            .one(db)
            .await
            .unwrap()
            .unwrap();
        let roles = study_member::Entity::find()
            .filter(study_member::Column::UserId.eq(account.id))
            .count(db)
            .await
            .unwrap();
        match removal {
            Ok(_) => {
                removed += 1;
                assert!(created.get("errors").is_some(), "round {round}: {created}");
                assert_eq!(roles, 0, "round {round}");
            }
            Err(e) => {
                assert!(
                    matches!(e, api::error::ServiceError::Conflict(_)),
                    "round {round}: {e:?}"
                );
                assert!(created.get("errors").is_none(), "round {round}: {created}");
                assert!(account.removed_at.is_none(), "round {round}");
            }
        }
    }
    assert!(removed > 0, "the removal never came first");
}

/// The id of the account named so.
async fn account_id(server: &TestServer, name: &str) -> i64 {
    use api_entities::app_user;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    app_user::Entity::find()
        .filter(app_user::Column::Name.eq(name))
        .one(&server.db.conn)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no account {name:?}"))
        .id
}

/// Only those who manage a study learn from `setStudyMember` whether a user name exists: to
/// anyone else, an existing name and an unknown one get the same answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_cannot_manage_a_study_learns_no_user_names_from_it() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let olga = outsider(&server, &admin, "olga").await;
    let private = study(&server, &olga, "Nomi privati", false).await;
    let public = study(&server, &olga, "Nomi pubblici", true).await;
    let analyst = server
        .token(
            "anna",
            "analyst",
            Some(id_number(private.as_str().unwrap())),
        )
        .await;
    let otto = outsider(&server, &admin, "otto").await;
    outsider(&server, &admin, "mario").await;

    let answer = |token: String, study: Value, name: &'static str| {
        let server = &server;
        async move {
            let answer = server
                .gql(
                    Some(&token),
                    SET,
                    json!({"s": study, "u": name, "r": "VIEWER"}),
                )
                .await;
            let error = &answer["errors"][0];
            (
                error["extensions"]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                error["message"].as_str().unwrap_or_default().to_owned(),
            )
        }
    };
    let missing = json!("U3R1ZHk6OTk5");
    for (who, token, study, code) in [
        ("an outsider, private study", &otto, &private, "NOT_FOUND"),
        ("an outsider, missing study", &otto, &missing, "NOT_FOUND"),
        ("an outsider, public study", &otto, &public, "FORBIDDEN"),
        ("an analyst", &analyst, &private, "FORBIDDEN"),
    ] {
        let existing = answer(token.clone(), study.clone(), "mario").await;
        assert_eq!(existing.0, code, "{who}: {existing:?}");
        let unknown = answer(token.clone(), study.clone(), "nessuno").await;
        assert_eq!(unknown, existing, "{who}");
    }
    // The owner is told which names exist.
    let unknown = answer(olga.clone(), private.clone(), "nessuno").await;
    assert_eq!(unknown.0, "NOT_FOUND");
    assert!(unknown.1.contains("quaderno token create"), "{unknown:?}");
}

/// An account's name is stored as every label is: "José" with a combining accent is the
/// account "José", found by either spelling; a name of nothing visible, with a control
/// character, or dressed up as a removed account's is refused.
#[tokio::test]
async fn user_names_are_one_account_however_their_accents_are_typed() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let olga = outsider(&server, &admin, "olga").await;
    let private = study(&server, &olga, "Nomi", false).await;
    outsider(&server, &admin, "José").await;
    // A second token for the name typed with a combining accent is the same account.
    outsider(&server, &admin, "Jose\u{301}").await;
    let accounts = server
        .count("SELECT count(*) FROM app_user WHERE name LIKE 'Jos%'")
        .await;
    assert_eq!(accounts, 1);
    for spelling in ["Jose\u{301}", " José\u{200B}"] {
        let set = server
            .ok(
                Some(&olga),
                SET,
                json!({"s": private, "u": spelling, "r": "VIEWER"}),
            )
            .await;
        assert_eq!(
            set["setStudyMember"]["user"]["name"], "José",
            "{spelling:?}"
        );
    }
    for refused in [
        "\u{200B}",
        "Jo\u{1}sé",
        "removed\u{A0}user #5",
        "Removed uſer #5",
        "removed  user #5",
        "removed\u{200B} user #5",
    ] {
        let made = api::service::tokens::create_token_for(
            &server.db.conn,
            refused,
            "viewer",
            Some(id_number(private.as_str().unwrap())),
            None,
        )
        .await;
        assert!(
            matches!(&made, Err(api::error::ServiceError::BadInput(m)) if m.contains("the user name") || m.contains("removed accounts")),
            "{refused:?}: {made:?}"
        );
    }
}

/// Names stored before they were normalised are normalised by a migration, so that they are
/// still found by name; one whose normal form another account holds gets its id appended.
#[tokio::test]
async fn names_stored_before_normalisation_are_migrated_to_it() {
    use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder};
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let db = &server.db.conn;
    db.execute_unprepared(
        "DELETE FROM seaql_migrations WHERE version = 'm20261208_000013_user_names_nfc'",
    )
    .await
    .unwrap();
    let now = "2026-01-01 00:00:00+00:00";
    for name in ["Mari\u{301}a ", "Lúca", "Lu\u{301}ca", "Ugo\u{200B}"] {
        db.execute_unprepared(&format!(
            "INSERT INTO app_user (name, is_admin, created_at) VALUES ('{name}', false, '{now}')"
        ))
        .await
        .unwrap();
    }
    api::db::migrate(db).await.unwrap();
    let names: Vec<(i64, String)> = api_entities::app_user::Entity::find()
        .order_by_asc(api_entities::app_user::Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect();
    let luca = names[3].0;
    assert_eq!(
        names[1..]
            .iter()
            .map(|(_, n)| n.as_str())
            .collect::<Vec<_>>(),
        ["María", "Lúca", &format!("Lúca ({luca})"), "Ugo"]
    );
    // Found by name: the same account, not a new one.
    let study = server
        .ok(
            Some(&admin),
            "mutation { createStudy(input: {title: \"Nomi\"}) { id } }",
            json!({}),
        )
        .await["createStudy"]["id"]
        .clone();
    let set = server
        .ok(
            Some(&admin),
            SET,
            json!({"s": study, "u": "Mari\u{301}a", "r": "VIEWER"}),
        )
        .await;
    assert_eq!(set["setStudyMember"]["user"]["name"], "María");
    assert_eq!(
        server
            .count("SELECT count(*) FROM app_user WHERE name LIKE 'Mar%'")
            .await,
        1
    );
}
