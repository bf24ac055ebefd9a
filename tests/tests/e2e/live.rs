//! Live coding over graphql-transport-ws, with a real WebSocket client: two front ends see
//! each other's coding as it happens; authentication in connection_init.

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tests::ws::{connect, connect_to, next, open, Socket};
use tests::{id_number, TestServer};
use tokio_tungstenite::tungstenite::Message;

async fn subscribe(socket: &mut Socket, study: &Value) {
    let query = "subscription($s: ID!) { quotationChanged(studyId: $s) { kind id quotation { text version codes { name } } } }";
    socket
        .send(Message::text(json!({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": {"s": study}}}).to_string()))
        .await
        .unwrap();
}

/// A second server over the same data as `server`, whose events the test publishes itself:
/// its url, its event channel and its task (to abort at the end).
async fn publishing_server(
    server: &TestServer,
) -> (
    String,
    api::graphql::live::Events,
    tokio::task::JoinHandle<()>,
) {
    let (url, state, serving) = server.second_server().await;
    (url, state.events, serving)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coders_see_each_others_quotations_as_they_happen() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let corpus = server
        .corpus(
            &admin,
            "Insieme",
            &["R: La città è più bella — l’ente c’è."],
        )
        .await;
    let (study, interview) = (corpus.study, corpus.interviews[0]["id"].clone());
    let code = server
        .ok(
            Some(&admin),
            "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"Luogo\"}) { id } }",
            json!({"s": study}),
        )
        .await["createCode"]["id"]
        .clone();
    let number = id_number(study.as_str().unwrap());
    let anna = server.token("anna", "analyst", Some(number)).await;
    let bruno = server.token("bruno", "analyst", Some(number)).await;

    // Bruno watches; Anna codes.
    let mut watcher = connect(&server, Some(&bruno)).await;
    assert_eq!(next(&mut watcher).await["type"], "connection_ack");
    subscribe(&mut watcher, &study).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let q = server
        .ok(Some(&anna), "mutation($i: ID!, $c: ID!) { createQuotation(input: {interviewId: $i, start: 6, end: 11, codeIds: [$c]}) { id } }", json!({"i": interview, "c": code}))
        .await["createQuotation"]["id"]
        .clone();
    let created = next(&mut watcher).await;
    assert_eq!(created["type"], "next", "{created}");
    let change = &created["payload"]["data"]["quotationChanged"];
    assert_eq!(change["kind"], "CREATED");
    assert_eq!(change["id"], q);
    assert_eq!(change["quotation"]["text"], "città");
    assert_eq!(change["quotation"]["codes"], json!([{"name": "Luogo"}]));
    server.ok(Some(&anna), "mutation($q: ID!) { updateQuotation(input: {id: $q, version: 1, start: 6, end: 20, codeIds: []}) { id } }", json!({"q": q})).await;
    let updated = next(&mut watcher).await;
    let change = &updated["payload"]["data"]["quotationChanged"];
    assert_eq!(change["kind"], "UPDATED");
    assert_eq!(
        change["quotation"]["text"], "città è più be",
        "fresh data, not a cached copy"
    );
    assert_eq!(change["quotation"]["codes"], json!([]));
    server
        .ok(
            Some(&anna),
            "mutation($q: ID!) { deleteQuotation(id: $q, version: 2) }",
            json!({"q": q}),
        )
        .await;
    let deleted = next(&mut watcher).await;
    assert_eq!(
        deleted["payload"]["data"]["quotationChanged"],
        json!({"kind": "DELETED", "id": q, "quotation": null})
    );

    // Without a token, a private study cannot be watched.
    let mut stranger = connect(&server, None).await;
    assert_eq!(next(&mut stranger).await["type"], "connection_ack");
    subscribe(&mut stranger, &study).await;
    let refused = next(&mut stranger).await;
    // Execution errors travel in a `next` payload (graphql-transport-ws).
    assert_eq!(refused["payload"]["data"], Value::Null, "{refused}");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"],
        "NOT_FOUND"
    );

    // A bad token is refused at connection_init.
    let mut forger = connect(&server, Some("qdn_forged")).await;
    let answer = next(&mut forger).await;
    assert_eq!(answer["type"], "closed", "{answer}");
    assert_eq!(answer["code"], 4403, "{answer}");
}

/// The first error code of an answer to a socket operation: execution errors come in a
/// `next` payload, operations refused before they run may come as `error`.
fn socket_error_code(answer: &Value) -> &str {
    let errors = match answer["type"].as_str() {
        Some("error") => &answer["payload"],
        _ => &answer["payload"]["errors"],
    };
    errors[0]["extensions"]["code"].as_str().unwrap_or_default()
}

/// Operations sent over the socket pass the checks of an HTTP request: no mutation without a
/// token, no cyclic query; an ordinary query runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_operations_pass_the_same_checks_as_http_requests() {
    let server = TestServer::demo().await;
    let mut socket = connect(&server, None).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    let send = |id: &str, query: String| {
        Message::text(
            json!({"id": id, "type": "subscribe", "payload": {"query": query}}).to_string(),
        )
    };
    socket
        .send(send("1", "{ ambito(code: \"24\") { name } }".into()))
        .await
        .unwrap();
    let answer = next(&mut socket).await;
    assert!(
        answer["payload"]["data"]["ambito"]["name"].is_string(),
        "{answer}"
    );
    assert_eq!(next(&mut socket).await["type"], "complete");

    socket
        .send(send(
            "2",
            "mutation { createStudy(input: {title: \"Anonimo\"}) { id } }".into(),
        ))
        .await
        .unwrap();
    let answer = next(&mut socket).await;
    assert_eq!(socket_error_code(&answer), "UNAUTHENTICATED", "{answer}");
    // Refused at the edge, before the resolver (which would refuse it too).
    assert!(
        answer.to_string().contains("authentication required"),
        "{answer}"
    );

    let cyclic = format!(
        "{{ ambito(code: \"24\") {{ {}code{} }} }}",
        "enti { ambiti { ".repeat(6),
        " } }".repeat(6)
    );
    socket.send(send("3", cyclic)).await.unwrap();
    let mut answer = next(&mut socket).await;
    if answer["type"] == "complete" {
        answer = next(&mut socket).await;
    }
    assert_eq!(socket_error_code(&answer), "BAD_USER_INPUT", "{answer}");
}

/// The id of a user's only token.
async fn token_id(server: &TestServer, user: &str) -> i64 {
    let tokens = api::service::tokens::list_tokens(&server.db.conn)
        .await
        .unwrap();
    let mine: Vec<_> = tokens.iter().filter(|t| t.user == user).collect();
    assert_eq!(mine.len(), 1, "{tokens:?}");
    mine[0].id
}

/// A socket is looked at again for every operation and every event, as an HTTP request is:
/// a revoked token stops at once, a new role is seen by the next operation on a socket
/// opened before it, and a subscription runs on through a change of role until its caller
/// may no longer read the study.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_follows_its_token_revoked_or_changed() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let corpus = server
        .corpus(&admin, "Revoche", &["R: Perché l’ente è qui? Sì, è così."])
        .await;
    let (study, interview) = (corpus.study, corpus.interviews[0]["id"].clone());
    let number = id_number(study.as_str().unwrap());
    let carla = server.token("carla", "analyst", Some(number)).await;
    let dario = server.token("dario", "viewer", Some(number)).await;
    let create = |start: i64| {
        json!({"query": "mutation($i: ID!, $s: Int!) { createQuotation(input: {interviewId: $i, start: $s, end: 20, codeIds: []}) { id } }",
               "variables": {"i": interview, "s": start}})
    };

    let admin_quotes = |start: i64| {
        let (server, admin, body) = (&server, &admin, create(start));
        async move {
            let variables = body["variables"].clone();
            server
                .ok(Some(admin), body["query"].as_str().unwrap(), variables)
                .await
        }
    };
    let mut revoked = connect(&server, Some(&carla)).await;
    assert_eq!(next(&mut revoked).await["type"], "connection_ack");
    subscribe(&mut revoked, &study).await;
    let mut changed = connect(&server, Some(&dario)).await;
    assert_eq!(next(&mut changed).await["type"], "connection_ack");
    subscribe(&mut changed, &study).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    admin_quotes(3).await;
    for socket in [&mut revoked, &mut changed] {
        let event = next(socket).await;
        assert_eq!(
            event["payload"]["data"]["quotationChanged"]["kind"], "CREATED",
            "{event}"
        );
    }

    api::service::tokens::revoke_token(&server.db.conn, token_id(&server, "carla").await)
        .await
        .unwrap();
    // Dario becomes an owner: a new token for him changes his role in the study.
    let owner = server.token("dario", "owner", Some(number)).await;
    admin_quotes(4).await;
    let stopped = next(&mut revoked).await;
    assert_eq!(socket_error_code(&stopped), "UNAUTHENTICATED", "{stopped}");
    assert_eq!(next(&mut revoked).await["type"], "complete");
    // He still reads the study: his subscription goes on.
    let event = next(&mut changed).await;
    assert_eq!(
        event["payload"]["data"]["quotationChanged"]["kind"], "CREATED",
        "{event}"
    );

    // The revoked token can no longer write over its open socket.
    revoked
        .send(Message::text(
            json!({"id": "2", "type": "subscribe", "payload": create(5)}).to_string(),
        ))
        .await
        .unwrap();
    let refused = next(&mut revoked).await;
    assert_eq!(socket_error_code(&refused), "UNAUTHENTICATED", "{refused}");
    // Dario's socket, opened as a viewer, now writes as the owner he has become.
    changed
        .send(Message::text(
            json!({"id": "2", "type": "subscribe", "payload": create(6)}).to_string(),
        ))
        .await
        .unwrap();
    // The write's answer and completion (id 2), and its event (id 1), in any order.
    let mut seen = Vec::new();
    for _ in 0..3 {
        let m = next(&mut changed).await;
        seen.push((m["id"].as_str().unwrap_or_default().to_owned(), m));
    }
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        seen[0].1["payload"]["data"]["quotationChanged"]["kind"], "CREATED",
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(id, m)| id == "2" && m["payload"]["data"]["createQuotation"]["id"].is_string()),
        "{seen:?}"
    );

    // His role taken back, the private study is no longer his to read: the subscription
    // ends with the next event of the study, which he does not get.
    let dario = server.ok(Some(&owner), "{ me { id } }", json!({})).await["me"]["id"].clone();
    server
        .ok(
            Some(&admin),
            "mutation($s: ID!, $u: ID!) { removeStudyMember(studyId: $s, userId: $u) }",
            json!({"s": study, "u": dario}),
        )
        .await;
    admin_quotes(7).await;
    let ended = next(&mut changed).await;
    assert_eq!(socket_error_code(&ended), "FORBIDDEN", "{ended}");
    assert_eq!(ended["id"], "1");
    assert_eq!(next(&mut changed).await["type"], "complete");
}

/// A change of role in another study does not touch a subscription: it ran on to its next
/// event (it used to end with FORBIDDEN at any change of the caller's roles).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_changed_in_another_study_leaves_a_subscription_running() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let watched = server
        .corpus(
            &admin,
            "Osservato",
            &["R: Perché l’ente è qui? Sì, è così."],
        )
        .await;
    let other = server.corpus(&admin, "Altro", &["R: Altrove."]).await;
    let number = |s: &Value| id_number(s.as_str().unwrap());
    let viewer = server
        .token("elena", "viewer", Some(number(&watched.study)))
        .await;
    let mut socket = connect(&server, Some(&viewer)).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    subscribe(&mut socket, &watched.study).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    server
        .token("elena", "analyst", Some(number(&other.study)))
        .await;
    let q = server
        .ok(Some(&admin), "mutation($i: ID!) { createQuotation(input: {interviewId: $i, start: 3, end: 9, codeIds: []}) { id } }", json!({"i": watched.interviews[0]["id"]}))
        .await["createQuotation"]["id"]
        .clone();
    let event = next(&mut socket).await;
    assert_eq!(
        event["payload"]["data"]["quotationChanged"]["id"], q,
        "{event}"
    );
}

/// Every error over the socket carries a code, as over HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_errors_carry_codes() {
    let server = TestServer::demo().await;
    let mut socket = connect(&server, None).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    socket
        .send(Message::text(
            json!({"id": "1", "type": "subscribe", "payload": {"query": "{ nosuchfield }"}})
                .to_string(),
        ))
        .await
        .unwrap();
    let answer = next(&mut socket).await;
    assert_eq!(socket_error_code(&answer), "BAD_USER_INPUT", "{answer}");
}

/// A subscription written as a named operation, sent without `operationName` (what
/// graphql-ws clients do with a one-operation document), runs as a subscription.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_subscription_runs_without_an_operation_name() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let corpus = server
        .corpus(&admin, "Nomi", &["R: La città è più bella."])
        .await;
    let mut socket = connect(&server, Some(&admin)).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    let query = "subscription Watch($s: ID!) { quotationChanged(studyId: $s) { kind id } }";
    socket
        .send(Message::text(
            json!({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": {"s": corpus.study}}})
                .to_string(),
        ))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let q = server
        .ok(Some(&admin), "mutation($i: ID!) { createQuotation(input: {interviewId: $i, start: 3, end: 5, codeIds: []}) { id } }", json!({"i": corpus.interviews[0]["id"]}))
        .await["createQuotation"]["id"]
        .clone();
    let event = next(&mut socket).await;
    assert_eq!(
        event["payload"]["data"]["quotationChanged"],
        json!({"kind": "CREATED", "id": q}),
        "{event}"
    );
}

/// A socket message is bounded as an HTTP body is (`--max-body-mb`), not by tungstenite's
/// 64 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_messages_are_bounded_like_request_bodies() {
    let server = TestServer::start(tests::Options {
        limits: api::http::Limits {
            max_body_bytes: 64 * 1024,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let padded = |bytes: usize| {
        let query = format!("{{ __typename }} #{}", "x".repeat(bytes));
        Message::text(
            json!({"id": "1", "type": "subscribe", "payload": {"query": query}}).to_string(),
        )
    };
    let mut socket = connect(&server, None).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    socket.send(padded(32 * 1024)).await.unwrap();
    let answer = next(&mut socket).await;
    assert_eq!(answer["payload"]["data"]["__typename"], "Query", "{answer}");
    assert_eq!(next(&mut socket).await["type"], "complete");
    // Over the limit: the server drops the socket rather than reading the message.
    let _ = socket.send(padded(100 * 1024)).await;
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("the server ends the socket in time");
        match msg {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                assert!(
                    v["type"] == "ping" || v["type"] == "pong",
                    "the oversize message was answered: {v}"
                );
            }
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            Some(Ok(_)) => {}
        }
    }
}

/// A subscriber that falls behind the channel (more than its 1,024 changes) is told so and
/// ended, rather than silently missing changes. The changes are published straight into the
/// channel of a second server over the same data, on this one thread, so that no subscriber
/// can take them as they come.
#[tokio::test]
async fn a_subscriber_that_falls_behind_is_told_to_reload() {
    let server = TestServer::demo().await;
    let (url, events, serving) = publishing_server(&server).await;
    let studies = server
        .ok(None, "{ studies { edges { node { id } } } }", json!({}))
        .await;
    let study = studies["studies"]["edges"][0]["node"]["id"].clone();
    let study_id = id_number(study.as_str().unwrap());
    let change = |quotation_id| api::graphql::live::QuotationEvent {
        study_id,
        change: api::graphql::live::Change::One {
            kind: api::graphql::live::ChangeKind::Created,
            quotation_id,
        },
    };
    let mut socket = connect_to(&url, None).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    subscribe(&mut socket, &study).await;
    // Once a change comes through, the subscription is listening.
    let first = loop {
        events.publish(change(1));
        match tokio::time::timeout(std::time::Duration::from_millis(100), next(&mut socket)).await {
            Ok(event) => break event,
            Err(_) => continue,
        }
    };
    assert_eq!(
        first["payload"]["data"]["quotationChanged"]["kind"], "CREATED",
        "{first}"
    );
    // Drain what the loop above may have published twice.
    while let Ok(event) =
        tokio::time::timeout(std::time::Duration::from_millis(100), next(&mut socket)).await
    {
        assert_eq!(event["type"], "next", "{event}");
    }
    for n in 0..2_000 {
        events.publish(change(n));
    }
    // An event the drain gave up on (read slower than 100 ms on a busy machine) may come
    // first; the changes published after it are past the channel's capacity.
    let told = loop {
        let event = next(&mut socket).await;
        if event["type"] != "next" || event["payload"].get("errors").is_some() {
            break event;
        }
    };
    assert_eq!(
        told["payload"]["errors"][0]["extensions"]["code"], "UNAVAILABLE",
        "{told}"
    );
    assert!(told.to_string().contains("subscribe again"), "{told}");
    assert_eq!(next(&mut socket).await["type"], "complete");
    serving.abort();
}

/// A query or mutation over a socket is abandoned after the request timeout as over HTTP,
/// with the same TIMEOUT error, rolled back if it had not committed, and counted in
/// `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_operations_time_out_like_http_requests() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let limits = api::http::Limits {
        request_timeout: std::time::Duration::from_millis(500),
        ..Default::default()
    };
    let server = TestServer::start(tests::Options {
        limits,
        ..Default::default()
    })
    .await;
    let admin = server.admin().await;
    let corpus = server.corpus(&admin, "Attesa", &[]).await;
    let code = server
        .ok(
            Some(&admin),
            "mutation($s: ID!) { createCode(input: {studyId: $s, name: \"Attesa\"}) { id } }",
            json!({"s": corpus.study}),
        )
        .await["createCode"]
        .clone();
    // Another writer holds the code's row (on SQLite, the database's write lock), so the
    // mutation below waits for certain: a fast operation could beat any short timeout.
    let holder = server.db.conn.begin().await.unwrap();
    holder
        .execute_unprepared(&format!(
            "UPDATE code SET name = name WHERE id = {}",
            id_number(code["id"].as_str().unwrap())
        ))
        .await
        .unwrap();
    let mut socket = connect(&server, Some(&admin)).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    let rename =
        "mutation Rinomina($c: ID!) { updateCode(input: {id: $c, name: \"Pazienza\"}) { name } }";
    socket
        .send(Message::text(
            json!({"id": "1", "type": "subscribe", "payload": {"query": rename, "variables": {"c": code["id"]}}}).to_string(),
        ))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let answer = next(&mut socket).await;
    assert_eq!(socket_error_code(&answer), "TIMEOUT", "{answer}");
    assert!(answer.to_string().contains("reload"), "{answer}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    holder.rollback().await.unwrap();
    // The abandoned mutation was rolled back: the code keeps its name.
    let kept = server
        .ok(
            Some(&admin),
            "query($c: ID!) { node(id: $c) { ... on Code { name } } }",
            json!({"c": code["id"]}),
        )
        .await;
    assert_eq!(kept["node"]["name"], "Attesa", "{kept}");
    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metrics.contains(r#"quaderno_graphql_errors_total{code="TIMEOUT",operation="Rinomina"} 1"#),
        "{metrics}"
    );
}

/// A subscription's event reads one state of the database, as a query does: while edits move
/// every quotation of an interview, each event's quotation cuts its own words, also from the
/// transcript read under it. Read a statement at a time (on PostgreSQL), an edit committed
/// between them made the span one the transcript was not (CONFLICT, or other words).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_reads_one_state_of_the_database() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let (c, words) = crate::coding::forty_quoted_words(&server, &admin, "Evento").await;
    let interview = c.interviews[0]["id"].clone();
    let mut watcher = connect(&server, Some(&admin)).await;
    assert_eq!(next(&mut watcher).await["type"], "connection_ack");
    let query = "subscription($s: ID!) { quotationChanged(studyId: $s) { quotation { start end text interview { transcript } } } }";
    watcher
        .send(Message::text(json!({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": {"s": c.study}}}).to_string()))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // Ten edits of forty moved quotations: fewer than the 1,024 events a subscriber may fall
    // behind.
    const EDITS: i64 = 10;
    let heard = async {
        for _ in 0..EDITS as usize * words.len() {
            let event = next(&mut watcher).await;
            assert!(event["payload"].get("errors").is_none(), "{event}");
            let q = &event["payload"]["data"]["quotationChanged"]["quotation"];
            let cut = crate::coding::cut_from_its_transcript(q);
            assert_eq!(cut, q["text"].as_str().unwrap(), "{event}");
            assert!(words.contains(&cut), "{event}");
        }
    };
    tokio::join!(
        crate::coding::move_every_quotation(&server, &admin, &interview, EDITS),
        heard
    );
}

/// A transcript edit is heard like the quotation mutations: moved quotations as UPDATED with
/// their new place, lost ones as DELETED; an edit moving more than a hundred ends the
/// subscription with UNAVAILABLE (reload) instead of flooding the channel every study shares.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcript_edits_are_heard_as_quotation_changes() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let t = Some(admin.as_str());
    let old = "R: La città è bella.\n\nR: Il paese è piccolo.";
    let corpus = server.corpus(&admin, "Ascolto", &[old]).await;
    let (study, interview) = (corpus.study, corpus.interviews[0]["id"].clone());
    let quote = |start: usize, end: usize| {
        let interview = interview.clone();
        let server = &server;
        async move {
            server
                .ok(t, "mutation($i: ID!, $s: Int!, $e: Int!) { createQuotation(input: {interviewId: $i, start: $s, end: $e, codeIds: []}) { id } }", json!({"i": interview, "s": start, "e": end}))
                .await["createQuotation"]["id"]
                .clone()
        }
    };
    let città = quote(6, 11).await;
    let paese = quote(28, 33).await;
    let mut watcher = connect(&server, Some(&admin)).await;
    assert_eq!(next(&mut watcher).await["type"], "connection_ack");
    subscribe(&mut watcher, &study).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // "città" moves two places right; "paese" is gone.
    let new = "R: Sì, la città è bella.\n\nR: Il borgo è piccolo.";
    let edit = "mutation($i: ID!, $v: Int!, $t: String!) { updateInterview(input: {id: $i, version: $v, transcript: $t, allowQuotationLoss: true}) { movedQuotations } }";
    server
        .ok(t, edit, json!({"i": interview, "v": 1, "t": new}))
        .await;
    let moved = next(&mut watcher).await;
    let change = &moved["payload"]["data"]["quotationChanged"];
    assert_eq!(change["kind"], "UPDATED", "{moved}");
    assert_eq!(change["id"], città);
    assert_eq!(change["quotation"]["text"], "città");
    let lost = next(&mut watcher).await;
    assert_eq!(
        lost["payload"]["data"]["quotationChanged"],
        json!({"kind": "DELETED", "id": paese, "quotation": null}),
        "{lost}"
    );

    // 101 quotations moved by one edit.
    let long = format!("R: {}", "casa ".repeat(101));
    let many = server.corpus(&admin, "Molte", &[&long]).await;
    let interview = many.interviews[0]["id"].clone();
    for n in 0..101 {
        let start = 3 + 5 * n;
        server
            .ok(t, "mutation($i: ID!, $s: Int!, $e: Int!) { createQuotation(input: {interviewId: $i, start: $s, end: $e, codeIds: []}) { id } }", json!({"i": interview, "s": start, "e": start + 4}))
            .await;
    }
    let mut watcher = connect(&server, Some(&admin)).await;
    assert_eq!(next(&mut watcher).await["type"], "connection_ack");
    subscribe(&mut watcher, &many.study).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let edited = server
        .ok(
            t,
            edit,
            json!({"i": interview, "v": 1, "t": format!("INT: Allora?\n\n{long}")}),
        )
        .await;
    assert_eq!(edited["updateInterview"]["movedQuotations"], 101);
    let told = next(&mut watcher).await;
    assert_eq!(
        told["payload"]["errors"][0]["extensions"]["code"], "UNAVAILABLE",
        "{told}"
    );
    assert!(told.to_string().contains("101 quotations"), "{told}");
    assert_eq!(next(&mut watcher).await["type"], "complete");
}

/// Code merges and imports into a study are heard like the quotation mutations: the
/// quotations a merge re-filed as UPDATED (with their new codes), those an import brought as
/// CREATED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merges_and_imports_are_heard_as_quotation_changes() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let t = Some(admin.as_str());
    let corpus = server
        .corpus(&admin, "Fusioni", &["R: La casa è lì, però cara."])
        .await;
    let (study, interview) = (corpus.study, corpus.interviews[0]["id"].clone());
    let code = |name: &str| {
        let study = study.clone();
        let name = name.to_owned();
        let server = &server;
        async move {
            server
                .ok(t, "mutation($s: ID!, $n: String!) { createCode(input: {studyId: $s, name: $n}) { id } }", json!({"s": study, "n": name}))
                .await["createCode"]["id"]
                .clone()
        }
    };
    let (abitare, casa) = (code("Abitare").await, code("Casa").await);
    let q = server
        .ok(t, "mutation($i: ID!, $c: ID!) { createQuotation(input: {interviewId: $i, start: 6, end: 10, codeIds: [$c]}) { id } }", json!({"i": interview, "c": casa}))
        .await["createQuotation"]["id"]
        .clone();
    let mut watcher = connect(&server, Some(&admin)).await;
    assert_eq!(next(&mut watcher).await["type"], "connection_ack");
    subscribe(&mut watcher, &study).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    server
        .ok(
            t,
            "mutation($s: ID!, $t: ID!) { mergeCodes(sourceId: $s, targetId: $t) { id } }",
            json!({"s": casa, "t": abitare}),
        )
        .await;
    let merged = next(&mut watcher).await;
    let change = &merged["payload"]["data"]["quotationChanged"];
    assert_eq!(change["kind"], "UPDATED", "{merged}");
    assert_eq!(change["id"], q);
    assert_eq!(change["quotation"]["codes"], json!([{"name": "Abitare"}]));

    let qde = r#"<Project xmlns="urn:QDA-XML:project:1.0" name="p"><Sources><TextSource guid="eeeeeeee-0000-0000-0000-000000000003" name="Nuova"><PlainTextContent>Città è però.</PlainTextContent><PlainTextSelection guid="eeeeeeee-0000-0000-0000-000000000004" startPosition="0" endPosition="5"/></TextSource></Sources></Project>"#;
    let imported = server
        .upload(
            t,
            "mutation($f: Upload!, $s: ID) { importQdpx(file: $f, studyId: $s) { quotations } }",
            json!({"f": null, "s": study}),
            "f",
            "p.qde",
            qde.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(
        imported["data"]["importQdpx"]["quotations"], 1,
        "{imported}"
    );
    let created = next(&mut watcher).await;
    let change = &created["payload"]["data"]["quotationChanged"];
    assert_eq!(change["kind"], "CREATED", "{created}");
    assert_eq!(change["quotation"]["text"], "Città");
}

/// A renamed code changes how every quotation under it reads (its name, or a descendant's
/// path), a recoloured one those it tags: subscribers hear of them, and of nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renamed_and_recoloured_codes_are_heard_as_quotation_changes() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let t = Some(admin.as_str());
    let corpus = server
        .corpus(&admin, "Nomi", &["R: L’àmbito è lì, però è lontano."])
        .await;
    let (study, interview) = (corpus.study, corpus.interviews[0]["id"].clone());
    let create = "mutation($s: ID!, $n: String!, $p: ID) { createCode(input: {studyId: $s, name: $n, parentId: $p}) { id } }";
    let abitare = server
        .ok(t, create, json!({"s": study, "n": "Abitare", "p": null}))
        .await["createCode"]["id"]
        .clone();
    let casa = server
        .ok(t, create, json!({"s": study, "n": "Casa", "p": abitare}))
        .await["createCode"]["id"]
        .clone();
    let lavoro = server
        .ok(t, create, json!({"s": study, "n": "Lavoro", "p": null}))
        .await["createCode"]["id"]
        .clone();
    let quote = "mutation($i: ID!, $s: Int!, $e: Int!, $c: ID!) { createQuotation(input: {interviewId: $i, start: $s, end: $e, codeIds: [$c]}) { id } }";
    let under_casa = server
        .ok(
            t,
            quote,
            json!({"i": interview, "s": 3, "e": 11, "c": casa}),
        )
        .await["createQuotation"]["id"]
        .clone();
    let under_lavoro = server
        .ok(
            t,
            quote,
            json!({"i": interview, "s": 18, "e": 22, "c": lavoro}),
        )
        .await["createQuotation"]["id"]
        .clone();
    let mut watcher = connect(&server, Some(&admin)).await;
    assert_eq!(next(&mut watcher).await["type"], "connection_ack");
    subscribe(&mut watcher, &study).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let update = "mutation($i: ID!, $n: String, $c: String) { updateCode(input: {id: $i, name: $n, color: $c}) { id } }";
    // The parent's new name reaches the quotation filed under its child, not the other one.
    server
        .ok(t, update, json!({"i": abitare, "n": "Abitare e città"}))
        .await;
    let renamed = next(&mut watcher).await;
    let change = &renamed["payload"]["data"]["quotationChanged"];
    assert_eq!(change["kind"], "UPDATED", "{renamed}");
    assert_eq!(change["id"], under_casa);
    // A description alone changes nothing a quotation shows: no event. The recolour after it
    // is the next thing heard, for the one quotation the recoloured code tags.
    server
        .ok(
            t,
            "mutation($i: ID!) { updateCode(input: {id: $i, description: \"Lavoro e reddito\"}) { id } }",
            json!({"i": lavoro}),
        )
        .await;
    server
        .ok(t, update, json!({"i": lavoro, "c": "#AA3300"}))
        .await;
    let recoloured = next(&mut watcher).await;
    let change = &recoloured["payload"]["data"]["quotationChanged"];
    assert_eq!(change["kind"], "UPDATED", "{recoloured}");
    assert_eq!(change["id"], under_lavoro);
}

/// A watcher of a public study that is made private is told why its subscription ends:
/// FORBIDDEN, then complete, as every other ending carries a code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_to_a_study_made_private_ends_with_forbidden() {
    use sea_orm::ConnectionTrait;

    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let t = Some(admin.as_str());
    let study = server
        .ok(
            t,
            "mutation { createStudy(input: {title: \"Aperto a tutti, poi no\", public: true}) { id } }",
            json!({}),
        )
        .await["createStudy"]["id"]
        .clone();
    let case = server
        .ok(
            t,
            "mutation($s: ID!) { createCase(input: {studyId: $s, label: \"Caso\"}) { id } }",
            json!({"s": study}),
        )
        .await["createCase"]["id"]
        .clone();
    let interview = server
        .ok(
            t,
            "mutation($c: ID!) { createInterview(input: {caseId: $c, label: \"Int.\", transcript: \"R: Perché l’ente è qui? Sì, è così.\"}) { id } }",
            json!({"c": case}),
        )
        .await["createInterview"]["id"]
        .clone();
    let create = |start: i64| {
        let interview = interview.clone();
        let server = &server;
        async move {
            server
                .ok(
                    t,
                    "mutation($i: ID!, $s: Int!) { createQuotation(input: {interviewId: $i, start: $s, end: 20, codeIds: []}) { id } }",
                    json!({"i": interview, "s": start}),
                )
                .await;
        }
    };
    // Anyone may watch a public study, without a token.
    let mut watcher = connect(&server, None).await;
    assert_eq!(next(&mut watcher).await["type"], "connection_ack");
    subscribe(&mut watcher, &study).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    create(3).await;
    let heard = next(&mut watcher).await;
    assert_eq!(
        heard["payload"]["data"]["quotationChanged"]["kind"], "CREATED",
        "{heard}"
    );

    // No mutation makes a study private yet: the owner's decision is written directly.
    server
        .db
        .conn
        .execute_unprepared(&format!(
            "UPDATE study SET is_public = false WHERE id = {}",
            id_number(study.as_str().unwrap())
        ))
        .await
        .unwrap();
    create(4).await;
    let ended = next(&mut watcher).await;
    assert_eq!(socket_error_code(&ended), "FORBIDDEN", "{ended}");
    assert_eq!(next(&mut watcher).await["type"], "complete");
}

/// A `connection_init` payload that is not an object, or an Authorization that is not a
/// string, is refused (it was taken for no token: an anonymous caller); a subscription with
/// two root fields is BAD_USER_INPUT (it ran both under one id).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_socket_payloads_and_two_field_subscriptions_are_refused() {
    let server = TestServer::demo().await;
    for payload in [
        json!("notobject"),
        json!({"Authorization": 5}),
        // A credential under another name is not taken for none.
        json!({"token": "abc"}),
        json!({"authToken": "abc"}),
    ] {
        let mut socket = open(&server.url).await;
        let init = json!({"type": "connection_init", "payload": payload});
        socket.send(Message::text(init.to_string())).await.unwrap();
        let answer = next(&mut socket).await;
        assert_eq!(answer["type"], "closed", "{payload}: {answer}");
        assert_eq!(answer["code"], 4403, "{payload}: {answer}");
        let reason = answer["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("Authorization"), "{payload}: {answer}");
    }
    // Under `headers`, as some clients send their connection parameters, the token counts.
    let admin = server.admin().await;
    let mut socket = open(&server.url).await;
    let init = json!({"type": "connection_init", "payload": {"headers": {"Authorization": format!("Bearer {admin}")}}});
    socket.send(Message::text(init.to_string())).await.unwrap();
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    let me = json!({"id": "m", "type": "subscribe", "payload": {"query": "{ me { name } }"}});
    socket.send(Message::text(me.to_string())).await.unwrap();
    let answer = next(&mut socket).await;
    assert_eq!(answer["payload"]["data"]["me"]["name"], "admin", "{answer}");
    let study = server
        .ok(None, "{ studies { edges { node { id } } } }", json!({}))
        .await["studies"]["edges"][0]["node"]["id"]
        .clone();
    let mut socket = connect(&server, None).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    let twice = "subscription($s: ID!) { a: quotationChanged(studyId: $s) { kind } ...More } fragment More on Subscription { b: quotationChanged(studyId: $s) { kind } }";
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {"query": twice, "variables": {"s": study}}});
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
    let refused = next(&mut socket).await;
    assert_eq!(socket_error_code(&refused), "BAD_USER_INPUT", "{refused}");
}

/// The rules of graphql-transport-ws that async-graphql's own handler leaves out: no
/// `subscribe` before `connection_init` (4401), no second operation under a running one's id
/// (4409), no unknown message (4400), and close reasons a close frame can carry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_keep_the_rules_of_graphql_transport_ws() {
    let server = TestServer::demo().await;
    let study = server
        .ok(None, "{ studies { edges { node { id } } } }", json!({}))
        .await["studies"]["edges"][0]["node"]["id"]
        .clone();
    let typename = |id: &str| {
        Message::text(
            json!({"id": id, "type": "subscribe", "payload": {"query": "{ __typename }"}})
                .to_string(),
        )
    };

    let mut early = open(&server.url).await;
    early.send(typename("1")).await.unwrap();
    let closed = next(&mut early).await;
    assert_eq!(closed["code"], 4401, "{closed}");

    let mut socket = connect(&server, None).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    // An id is free again once the server has completed its operation...
    for _ in 0..2 {
        socket.send(typename("q")).await.unwrap();
        assert_eq!(
            next(&mut socket).await["payload"]["data"]["__typename"],
            "Query"
        );
        assert_eq!(next(&mut socket).await["type"], "complete");
    }
    // ...or the client has.
    subscribe(&mut socket, &study).await;
    let complete = json!({"id": "1", "type": "complete"});
    socket
        .send(Message::text(complete.to_string()))
        .await
        .unwrap();
    assert_eq!(next(&mut socket).await["type"], "complete");
    subscribe(&mut socket, &study).await;
    socket.send(typename("q")).await.unwrap();
    assert_eq!(
        next(&mut socket).await["payload"]["data"]["__typename"],
        "Query"
    );
    assert_eq!(next(&mut socket).await["type"], "complete");
    // Subscription "1" runs: its id cannot be taken.
    subscribe(&mut socket, &study).await;
    let closed = next(&mut socket).await;
    assert_eq!(closed["type"], "closed", "{closed}");
    assert_eq!(closed["code"], 4409, "{closed}");
    assert_eq!(closed["reason"], "Subscriber for 1 already exists");

    for unknown in [
        json!({"type": "è".repeat(200)}),
        json!({"type": "start", "id": "2", "payload": {"query": "{ __typename }"}}),
        json!({"type": "subscribe", "payload": {"query": "{ __typename }"}}),
        json!(["connection_init"]),
    ] {
        let mut socket = connect(&server, None).await;
        assert_eq!(next(&mut socket).await["type"], "connection_ack");
        socket
            .send(Message::text(unknown.to_string()))
            .await
            .unwrap();
        let closed = next(&mut socket).await;
        assert_eq!(closed["code"], 4400, "{unknown}: {closed}");
        let reason = closed["reason"].as_str().unwrap();
        assert!(reason.starts_with("Invalid message"), "{reason}");
        assert!(reason.len() <= 123, "{} bytes: {reason}", reason.len());
    }
}

/// A socket must send its `connection_init` in time (4408 after the server's wait, in either
/// subprotocol) and only once (4429); one that did is not closed when the wait runs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_must_initialise_in_time_and_once() {
    let wait = std::time::Duration::from_millis(400);
    let server = TestServer::start(tests::Options {
        limits: api::http::Limits {
            connection_init_timeout: wait,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;

    let started = std::time::Instant::now();
    let mut silent = open(&server.url).await;
    let closed = next(&mut silent).await;
    assert_eq!(closed["type"], "closed", "{closed}");
    assert_eq!(closed["code"], 4408, "{closed}");
    assert_eq!(closed["reason"], "Connection initialisation timeout");
    assert!(
        started.elapsed() >= wait,
        "closed after {:?}",
        started.elapsed()
    );

    let mut socket = connect(&server, None).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    tokio::time::sleep(wait * 2).await;
    let query = json!({"id": "q", "type": "subscribe", "payload": {"query": "{ __typename }"}});
    socket.send(Message::text(query.to_string())).await.unwrap();
    assert_eq!(
        next(&mut socket).await["payload"]["data"]["__typename"],
        "Query"
    );
    assert_eq!(next(&mut socket).await["type"], "complete");
    let init = json!({"type": "connection_init", "payload": {}});
    socket.send(Message::text(init.to_string())).await.unwrap();
    let closed = next(&mut socket).await;
    assert_eq!(closed["code"], 4429, "{closed}");

    // The older protocol (graphql-ws) has the same wait.
    let mut legacy = older_protocol_socket(&server).await;
    let closed = next(&mut legacy).await;
    assert_eq!(closed["code"], 4408, "{closed}");
}

/// An event's answer reads one snapshot, and gives its connection back as soon as it is
/// answered: before the token is looked up again (which asks the pool for a connection) and
/// before the socket sends it (a client that stops reading would otherwise hold a
/// connection, and an open transaction, for as long as it liked). On a pool of one
/// connection, a subscriber with a token hears each change with its quotation's text, and
/// the server answers requests in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_gives_its_connection_back_once_answered() {
    let server = TestServer::start(tests::Options {
        db_connections: 1,
        ..Default::default()
    })
    .await;
    let admin = server.admin().await;
    let t = Some(admin.as_str());
    let corpus = server
        .corpus(
            &admin,
            "Una sola",
            &["R: La città è più bella, l’ente c’è."],
        )
        .await;
    let (study, interview) = (corpus.study, corpus.interviews[0]["id"].clone());
    let mut watcher = connect(&server, Some(&admin)).await;
    assert_eq!(next(&mut watcher).await["type"], "connection_ack");
    subscribe(&mut watcher, &study).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for (start, text) in [(6, "città"), (25, "l’ente")] {
        let end = start + text.chars().count();
        let started = std::time::Instant::now();
        server
            .ok(t, "mutation($i: ID!, $s: Int!, $e: Int!) { createQuotation(input: {interviewId: $i, start: $s, end: $e, codeIds: []}) { id } }", json!({"i": interview, "s": start, "e": end}))
            .await;
        let heard = next(&mut watcher).await;
        assert_eq!(
            heard["payload"]["data"]["quotationChanged"]["quotation"]["text"], text,
            "{heard}"
        );
        server.ok(t, "{ studies { totalCount } }", json!({})).await;
        // The pool's timeout is 30 s: a request waiting for it would be seen here.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }
}

/// A subscriber who may no longer read the study learns nothing more of it: not even that
/// many of its quotations changed at once, or that it fell behind. Those endings, too, come
/// after the study is checked again, and say FORBIDDEN.
#[tokio::test]
async fn a_subscriber_who_lost_the_study_hears_not_even_how_much_changed() {
    use sea_orm::ConnectionTrait;

    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let study = server
        .ok(
            Some(&admin),
            "mutation { createStudy(input: {title: \"Aperto, poi chiuso\", public: true}) { id } }",
            json!({}),
        )
        .await["createStudy"]["id"]
        .clone();
    let study_id = id_number(study.as_str().unwrap());
    let (url, events, serving) = publishing_server(&server).await;
    let event = |change| api::graphql::live::QuotationEvent { study_id, change };
    let mut socket = connect_to(&url, None).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    subscribe(&mut socket, &study).await;
    // Once a change comes through, the subscription is listening.
    loop {
        events.publish(event(api::graphql::live::Change::One {
            kind: api::graphql::live::ChangeKind::Deleted,
            quotation_id: 1,
        }));
        if tokio::time::timeout(std::time::Duration::from_millis(100), next(&mut socket))
            .await
            .is_ok()
        {
            break;
        }
    }
    while tokio::time::timeout(std::time::Duration::from_millis(100), next(&mut socket))
        .await
        .is_ok()
    {}
    server
        .db
        .conn
        .execute_unprepared(&format!(
            "UPDATE study SET is_public = false WHERE id = {study_id}"
        ))
        .await
        .unwrap();
    events.publish(event(api::graphql::live::Change::Many(150)));
    let ended = next(&mut socket).await;
    assert_eq!(
        ended["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{ended}"
    );
    assert!(!ended.to_string().contains("150"), "{ended}");
    assert_eq!(next(&mut socket).await["type"], "complete");
    serving.abort();
}

/// A `connection_init` whose token cannot be looked up because the database failed is the
/// server's error (1011, which clients retry), not a rejected token (4403, which they must
/// not retry with the same token).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_token_lookup_at_connection_init_is_not_a_bad_token() {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let mut socket = connect(&server, Some(&admin)).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    server.db.conn.close_by_ref().await.unwrap();
    let mut socket = connect(&server, Some(&admin)).await;
    let closed = next(&mut socket).await;
    assert_eq!(closed["type"], "closed", "{closed}");
    assert_eq!(closed["code"], 1011, "{closed}");
    let mut forger = connect(&server, Some("qdn_forged")).await;
    assert_eq!(next(&mut forger).await["code"], 1011);
}

/// The older protocol (graphql-ws) runs at most 100 operations on one socket too: the 101st
/// `start` closes it with 4400, as the 101st `subscribe` does in graphql-transport-ws.
#[tokio::test]
async fn the_older_protocol_runs_at_most_100_operations_on_a_socket() {
    let server = TestServer::demo().await;
    let study = server
        .ok(None, "{ studies { edges { node { id } } } }", json!({}))
        .await["studies"]["edges"][0]["node"]["id"]
        .clone();
    let mut legacy = older_protocol_socket(&server).await;
    let init = json!({"type": "connection_init", "payload": {}});
    legacy.send(Message::text(init.to_string())).await.unwrap();
    assert_eq!(next(&mut legacy).await["type"], "connection_ack");
    let query = "subscription($s: ID!) { quotationChanged(studyId: $s) { kind } }";
    for n in 0..=100 {
        let start = json!({"id": n.to_string(), "type": "start", "payload": {"query": query, "variables": {"s": study}}});
        legacy.send(Message::text(start.to_string())).await.unwrap();
    }
    let closed = loop {
        let message = next(&mut legacy).await;
        if message.get("code").is_some() {
            break message;
        }
        assert_eq!(message["type"], "ka", "{message}");
    };
    assert_eq!(closed["code"], 4400, "{closed}");
    assert!(
        closed["reason"].as_str().unwrap().contains("at most 100"),
        "{closed}"
    );
}

/// A socket speaking the older protocol, graphql-ws (subscriptions-transport-ws).
async fn older_protocol_socket(server: &TestServer) -> Socket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("{}/graphql/ws", server.url.replace("http", "ws"))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "graphql-ws".parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}
