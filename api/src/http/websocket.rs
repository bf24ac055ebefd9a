//! GraphQL over WebSockets: subscriptions, and queries and mutations sent over a socket.

use async_graphql::http::{
    ClientMessage, WebSocketProtocols as Protocols, WsMessage, ALL_WEBSOCKET_PROTOCOLS,
};
use async_graphql::parser::types::OperationType;
use axum::extract::ws::{CloseFrame, Message};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use futures_util::{future, SinkExt as _, StreamExt as _};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::{
    bearer_secret, caller_from_secret, error_codes, operation_type, timeout_error, AppState,
    CallerError,
};
use crate::graphql::error::{code_client_errors, outside_fields};
use crate::graphql::{limits, null_propagation, RequestCtx};

/// Subscriptions over graphql-transport-ws (or the older graphql-ws). Browsers cannot set
/// headers on WebSockets, so the token comes in the `connection_init` payload:
/// `{"Authorization": "Bearer <token>"}`; without one the caller is anonymous.
///
/// A bad token is refused at `connection_init`. A good one is looked up again for every
/// operation sent over the socket and before every event of a subscription, as for every
/// HTTP request: a revoked token stops working at once, also on a socket opened before.
///
/// async-graphql speaks the protocol; `Rules` adds the parts of graphql-transport-ws it
/// leaves out, and every close reason is cut to what a WebSocket close frame can carry.
pub(super) async fn graphql_ws(
    State(state): State<AppState>,
    upgrade: WebSocketUpgrade,
) -> Response {
    // The protocol the handshake announces (the first of the server's the client offers) is
    // the one served.
    let upgrade = upgrade.protocols(ALL_WEBSOCKET_PROTOCOLS);
    let Some(protocol) = upgrade
        .selected_protocol()
        .and_then(|p| p.to_str().ok()?.parse::<Protocols>().ok())
    else {
        return (
            StatusCode::BAD_REQUEST,
            "ask for the graphql-transport-ws (or graphql-ws) subprotocol",
        )
            .into_response();
    };
    // A message is a request like an HTTP body, and is bounded alike (tungstenite alone would
    // take 64 MiB messages).
    let max = state.limits.max_body_bytes;
    let init_timeout = state.limits.connection_init_timeout;
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            let (mut sink, stream) = socket.split();
            let rules = Arc::new(Mutex::new(Rules::new(protocol)));
            let admitted = rules.clone();
            // The socket's messages until it fails or closes, or until one breaks the rules.
            let input = stream
                .scan((), |(), message| future::ready(message.ok()))
                .filter_map(|message| {
                    future::ready(match message {
                        Message::Text(text) => Some(text.as_bytes().to_vec()),
                        Message::Binary(bytes) => Some(bytes.to_vec()),
                        _ => None,
                    })
                })
                .take_while(move |message| future::ready(lock(&admitted).admit(message)));
            let (db, initialising) = (state.db.clone(), rules.clone());
            let answers = async_graphql::http::WebSocket::new(Checked(state), input, protocol)
                .on_connection_init(move |payload| connection_init(db, initialising, payload));
            futures_util::pin_mut!(answers);
            // A socket that never sends its `connection_init`, in either protocol, would hold
            // its resources for ever. (One that did may stay idle, as a subscription waits.)
            let init_deadline = tokio::time::sleep(init_timeout);
            futures_util::pin_mut!(init_deadline);
            loop {
                let awaiting_init = lock(&rules).awaiting_init();
                let answer = tokio::select! {
                    answer = answers.next() => answer,
                    () = &mut init_deadline, if awaiting_init => {
                        // The `connection_init` may have come in during the wait: it is
                        // being answered, in time.
                        if lock(&rules).awaiting_init() {
                            let _ = sink
                                .send(close(4408, "Connection initialisation timeout"))
                                .await;
                            return;
                        }
                        continue;
                    }
                };
                let Some(answer) = answer else { break };
                let message = match answer {
                    WsMessage::Text(text) => {
                        lock(&rules).sent(&text);
                        Message::Text(text.into())
                    }
                    WsMessage::Close(code, reason) => close(lock(&rules).close_code(code), &reason),
                };
                if sink.send(message).await.is_err() {
                    return;
                }
            }
            let refusal = lock(&rules).refusal.take();
            if let Some((code, reason)) = refusal {
                let _ = sink.send(close(code, &reason)).await;
            }
        })
}

/// The caller of a `connection_init` payload, kept as the socket's token.
async fn connection_init(
    db: crate::db::Database,
    rules: Arc<Mutex<Rules>>,
    payload: serde_json::Value,
) -> async_graphql::Result<async_graphql::Data> {
    // A payload that is not an object, or an Authorization that is not a string, is a
    // client's mistake: refused, rather than taken for no token and answered as an
    // anonymous caller.
    let malformed = |why| CallerError::Refused(why).into_graphql_error();
    let authorization = |fields: &serde_json::Map<String, serde_json::Value>| {
        fields
            .get("Authorization")
            .or_else(|| fields.get("authorization"))
            .cloned()
    };
    let value = match &payload {
        serde_json::Value::Null => None,
        // Some clients put their connection parameters under `headers`, as HTTP has them.
        serde_json::Value::Object(fields) => authorization(fields).or_else(|| {
            fields
                .get("headers")
                .and_then(serde_json::Value::as_object)
                .and_then(authorization)
        }),
        _ => {
            return Err(malformed(
                "the connection_init payload must be an object: \
                 {\"Authorization\": \"Bearer <token>\"}",
            ))
        }
    };
    // A credential under another name (`token`, `authToken`…) would otherwise be dropped
    // without a word, and the client told later that what it may read does not exist.
    let misnamed = payload.as_object().is_some_and(|fields| {
        fields.keys().any(|k| {
            let k = k.to_ascii_lowercase();
            k.contains("token") || k.contains("auth")
        })
    });
    if value.is_none() && misnamed {
        return Err(malformed(
            "the token goes in the connection_init payload as \
             {\"Authorization\": \"Bearer <token>\"}",
        ));
    }
    let secret = match &value {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(
            v.as_str()
                .and_then(bearer_secret)
                .ok_or_else(|| malformed("the Authorization value must be `Bearer <token>`"))?
                .to_owned(),
        ),
    };
    caller_from_secret(&db, secret.as_deref())
        .await
        .map_err(|e| {
            // Not the client's fault: closed as the server's error, which a client retries,
            // never as a rejected token, which it must not.
            if matches!(e, CallerError::Failed(_)) {
                lock(&rules).init_failed = true;
            }
            e.into_graphql_error()
        })?;
    let mut data = async_graphql::Data::default();
    data.insert(SocketToken(secret));
    Ok(data)
}

/// The longest reason a close frame carries: its payload is at most 125 bytes, two of them
/// the code (RFC 6455, 5.5). A longer one is not sent at all by some stacks, and makes
/// others drop the connection as a protocol error instead of reading the code.
const CLOSE_REASON_BYTES: usize = 123;

fn close(code: u16, reason: &str) -> Message {
    let mut end = reason.len().min(CLOSE_REASON_BYTES);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: reason[..end].into(),
    }))
}

fn lock(rules: &Mutex<Rules>) -> std::sync::MutexGuard<'_, Rules> {
    // The rules are plain data, consistent after every call: a panic elsewhere leaves them
    // usable.
    rules
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The most operations one socket runs at once (subscriptions, and queries being answered).
const MAX_RUNNING_OPERATIONS: usize = 100;
/// The longest operation id a socket may use (graphql-ws clients send UUIDs, 36 bytes).
const MAX_OPERATION_ID_BYTES: usize = 128;

/// The rules of graphql-transport-ws (PROTOCOL.md of graphql-ws) that async-graphql's
/// handler breaks: it runs a `subscribe` sent before `connection_init` as an internal error
/// (1011) instead of 4401, replaces a running subscription whose id a new `subscribe` reuses
/// instead of closing with 4409, closes on an unknown message with 1002 and serde's whole
/// explanation instead of 4400, and on a refused `connection_init` with 1002 instead of
/// 4403, and it does not limit the wait for `connection_init` (4408: the socket's loop, with
/// `awaiting_init`, for both protocols). It does refuse a second `connection_init` itself
/// (4429). The older graphql-ws protocol has none of these rules, and is left as it is but
/// for the wait.
struct Rules {
    enforced: bool,
    initialised: bool,
    /// The ids of the operations running: from `subscribe` to a `complete` from either side.
    running: HashSet<String>,
    /// The close code and reason of the message that broke a rule.
    refusal: Option<(u16, String)>,
    /// The `connection_init` was refused because the database failed, not the token.
    init_failed: bool,
}

/// A message's type and id, the rest unread.
#[derive(serde::Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
}

impl Rules {
    fn new(protocol: Protocols) -> Self {
        Self {
            enforced: protocol == Protocols::GraphQLWS,
            initialised: false,
            running: HashSet::new(),
            refusal: None,
            init_failed: false,
        }
    }

    /// Whether the client's message may go on to async-graphql; if not, the socket closes
    /// with `refusal`.
    fn admit(&mut self, message: &[u8]) -> bool {
        if self.refusal.is_some() {
            return false;
        }
        if !self.enforced {
            return self.admit_older(message);
        }
        let envelope = match serde_json::from_slice::<Envelope>(message) {
            Ok(envelope) => envelope,
            Err(e) => return self.refuse(4400, format!("Invalid message: {e}")),
        };
        let kind = envelope.kind.as_str();
        if !matches!(
            kind,
            "connection_init" | "subscribe" | "complete" | "ping" | "pong"
        ) {
            return self.refuse(4400, format!("Invalid message: unknown type {kind:?}"));
        }
        // As async-graphql will read it: a message it cannot read is refused here, with the
        // protocol's code.
        if let Err(e) = ClientMessage::from_bytes(message) {
            return self.refuse(4400, format!("Invalid message: {e}"));
        }
        match (kind, envelope.id) {
            ("connection_init", _) => self.initialised = true,
            ("subscribe", _) if !self.initialised => {
                return self.refuse(4401, "Unauthorized: send connection_init first".into());
            }
            ("subscribe", Some(id)) => {
                if self.running.contains(&id) {
                    return self.refuse(4409, format!("Subscriber for {id} already exists"));
                }
                return self.start(id);
            }
            ("complete", Some(id)) => {
                self.running.remove(&id);
            }
            _ => {}
        }
        true
    }

    /// The older protocol (subscriptions-transport-ws) has no close codes of its own, and
    /// async-graphql answers what it cannot read there: only its operations are counted, as
    /// the newer protocol's are (`start` to `stop`, or the server's `complete` or `error`).
    /// async-graphql also takes the newer names there (`subscribe` for `start`, `complete`
    /// for `stop`), so they count alike. A `start` with a running id replaces that
    /// operation.
    fn admit_older(&mut self, message: &[u8]) -> bool {
        let Ok(envelope) = serde_json::from_slice::<Envelope>(message) else {
            return true;
        };
        match (envelope.kind.as_str(), envelope.id) {
            ("connection_init", _) => self.initialised = true,
            ("start" | "subscribe", Some(id)) if !self.running.contains(&id) => {
                return self.start(id)
            }
            ("stop" | "complete", Some(id)) => {
                self.running.remove(&id);
            }
            _ => {}
        }
        true
    }

    /// An operation starts, if the socket may run another. A reverse proxy sees one
    /// connection, however many operations run over it: their number, and the ids kept for
    /// each, are bounded here.
    fn start(&mut self, id: String) -> bool {
        if id.len() > MAX_OPERATION_ID_BYTES {
            return self.refuse(
                4400,
                format!("Invalid message: an id is at most {MAX_OPERATION_ID_BYTES} bytes"),
            );
        }
        if self.running.len() >= MAX_RUNNING_OPERATIONS {
            return self.refuse(
                4400,
                format!(
                    "Too many operations: at most {MAX_RUNNING_OPERATIONS} run at once on one \
                     socket"
                ),
            );
        }
        self.running.insert(id);
        true
    }

    /// Whether the socket is still to send its `connection_init`, in either protocol.
    fn awaiting_init(&self) -> bool {
        !self.initialised && self.refusal.is_none()
    }

    /// Notes a message the server sends: a `complete` or `error` ends its operation.
    fn sent(&mut self, message: &str) {
        // Events are most of what is sent, and end nothing: not parsed.
        if message.starts_with(r#"{"type":"next""#) || message.starts_with(r#"{"type":"data""#) {
            return;
        }
        if let Ok(Envelope { kind, id: Some(id) }) = serde_json::from_str(message) {
            if kind == "complete" || kind == "error" {
                self.running.remove(&id);
            }
        }
    }

    /// The code of a close async-graphql decided. Once `Rules` has read every message, its
    /// only 1002 left is a refused `connection_init`: 4403, Forbidden, unless the database
    /// failed under it (1011, the server's error).
    fn close_code(&self, code: u16) -> u16 {
        match code {
            1002 if self.init_failed => 1011,
            1002 if self.enforced => 4403,
            other => other,
        }
    }

    fn refuse(&mut self, code: u16, reason: String) -> bool {
        self.refusal = Some((code, reason));
        false
    }
}

/// The token a WebSocket was opened with.
struct SocketToken(Option<String>);

/// The schema as the WebSocket endpoint runs it: every operation is run as an HTTP request
/// is, with the caller looked up again from the socket's token, the same checks, the same
/// context for its type and error codes on every error.
#[derive(Clone)]
struct Checked(AppState);

impl async_graphql::Executor for Checked {
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        use futures_util::StreamExt as _;
        self.execute_stream(request, None)
            .next()
            .await
            .unwrap_or_default()
    }

    fn execute_stream(
        &self,
        mut request: async_graphql::Request,
        session: Option<Arc<async_graphql::Data>>,
    ) -> futures_util::stream::BoxStream<'static, async_graphql::Response> {
        use futures_util::{stream, StreamExt as _};
        let state = self.0.clone();
        let secret = session
            .as_deref()
            .and_then(|d| d.get(&std::any::TypeId::of::<SocketToken>()))
            .and_then(|t| t.downcast_ref::<SocketToken>())
            .and_then(|t| t.0.clone());
        let refusal = |e: CallerError| {
            async_graphql::Response::from_errors(vec![outside_fields(e.into_graphql_error())])
        };
        // A query or mutation is timed and counted as over HTTP; a subscription, which may
        // live for days, only when it is refused before its first event.
        let started = std::time::Instant::now();
        state.documents.parse_into(&mut request);
        let operation = crate::metrics::operation_name(&mut request);
        let metrics = state.metrics.clone();
        let observed = move |answer: async_graphql::Response| {
            metrics.observe(&operation, started.elapsed(), error_codes(&answer));
            answer
        };
        let answers = async move {
            let caller = match caller_from_secret(&state.db, secret.as_deref()).await {
                Ok(c) => c,
                Err(e) => return stream::once(async move { observed(refusal(e)) }).boxed(),
            };
            if let Err(refused) = limits::check_request(&mut request, &caller) {
                let refused = async_graphql::Response::from_errors(vec![refused]);
                return stream::once(async move { observed(refused) }).boxed();
            }
            let ty = operation_type(&mut request);
            let ctx = RequestCtx::for_operation(
                ty,
                state.db.conn.clone(),
                caller.clone(),
                state.search.clone(),
                state.events.clone(),
            )
            .over_socket(secret.clone());
            let (pages, request_db) = (ctx.pages.clone(), ctx.db.clone());
            let operation = Arc::new((request.query.clone(), request.operation_name.clone()));
            let field_types = state.field_types.clone();
            let mended = move |mut answer: async_graphql::Response| {
                let (query, name) = &*operation;
                null_propagation::propagate(&field_types, query, name.as_deref(), &mut answer);
                answer
            };
            let request = request.data(ctx);
            let over_budget = |refused| async_graphql::Response::from_errors(vec![refused]);
            if ty != OperationType::Subscription {
                let schema = state.schema_for(ty).clone();
                let limit = state.limits.request_timeout;
                return stream::once(async move {
                    let execution = crate::graphql::batching::in_passes(schema.execute(request));
                    let answer =
                        tokio::time::timeout(limit, limits::within_budget(&pages, ty, execution))
                            .await
                            .map_or_else(
                                |_| {
                                    async_graphql::Response::from_errors(vec![timeout_error(limit)])
                                },
                                |done| done.map(mended).unwrap_or_else(over_budget),
                            );
                    observed(answer)
                })
                .boxed();
            }
            // Each event goes out only if the token still stands: a revoked one ends the
            // subscription with the reason. (Whether the caller, roles as they are now, may
            // still read what it subscribed to is the subscription's own check.)
            let events = state.schema.execute_stream(request);
            stream::unfold(Some(events), move |events| {
                let (db, secret) = (state.db.clone(), secret.clone());
                let (pages, mended, request_db) =
                    (pages.clone(), mended.clone(), request_db.clone());
                async move {
                    let mut events = events?;
                    // Each event is bounded alone: a subscription may live for days.
                    pages.reset();
                    let event = limits::within_budget(&pages, ty, events.next()).await;
                    // The event has been answered: its snapshot ends here, not when the next
                    // event is asked for, which is after the token's lookup below (a second
                    // connection: on a pool of one, waiting for itself) and after the socket
                    // has sent this one (a client that stops reading would hold a connection
                    // and an open transaction for as long as it likes).
                    request_db.writing();
                    let event = match event {
                        Ok(event) => mended(event?),
                        Err(refused) => return Some((over_budget(refused), None)),
                    };
                    match caller_from_secret(&db, secret.as_deref()).await {
                        Ok(_) => Some((event, Some(events))),
                        Err(e) => Some((refusal(e), None)),
                    }
                }
            })
            .boxed()
        };
        stream::once(answers)
            .flatten()
            .map(|mut answer| {
                code_client_errors(&mut answer.errors);
                answer
            })
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_are_cut_to_a_close_frame_on_a_character_boundary() {
        let reason = format!("x{}", "è".repeat(100));
        let Message::Close(Some(frame)) = close(4400, &reason) else {
            panic!("not a close frame");
        };
        // 1 + 61 × 2 = 123 bytes: the 62nd `è` would end at 125.
        assert_eq!(frame.reason.len(), 123);
        assert!(reason.starts_with(frame.reason.as_str()));
        let Message::Close(Some(frame)) = close(1000, "bye") else {
            panic!("not a close frame");
        };
        assert_eq!(frame.reason.as_str(), "bye");
    }

    #[test]
    fn the_older_protocol_is_left_to_async_graphql_but_for_its_operations_count() {
        let start =
            |id: &str| format!(r#"{{"type":"start","id":"{id}","payload":{{"query":"{{ a }}"}}}}"#);
        let mut rules = Rules::new(Protocols::SubscriptionsTransportWS);
        assert!(rules.admit(br#"{"type":"connection_init"}"#));
        assert!(rules.admit(start("1").as_bytes()));
        assert!(
            rules.admit(start("1").as_bytes()),
            "replaces the running one"
        );
        assert!(rules.admit(b"not json"));
        assert!(rules.refusal.is_none());
        for n in 2..=100 {
            assert!(rules.admit(start(&n.to_string()).as_bytes()), "{n}");
        }
        // One stopped by the client, one completed by the server: two more may start.
        assert!(rules.admit(br#"{"type":"stop","id":"1"}"#));
        rules.sent(r#"{"type":"data","id":"2","payload":{"data":{"a":1}}}"#);
        rules.sent(r#"{"type":"complete","id":"2"}"#);
        assert!(rules.admit(start("101").as_bytes()));
        assert!(rules.admit(start("102").as_bytes()));
        assert!(!rules.admit(start("103").as_bytes()));
        let (code, reason) = rules.refusal.clone().unwrap();
        assert_eq!(code, 4400);
        assert!(reason.contains("at most 100"), "{reason}");

        let mut rules = Rules::new(Protocols::SubscriptionsTransportWS);
        assert!(!rules.admit(start(&"x".repeat(129)).as_bytes()));

        // The newer names, which async-graphql also takes there, count alike.
        let subscribe = |id: &str| start(id).replace(r#""start""#, r#""subscribe""#);
        let mut rules = Rules::new(Protocols::SubscriptionsTransportWS);
        for n in 0..100 {
            assert!(rules.admit(subscribe(&n.to_string()).as_bytes()), "{n}");
        }
        assert!(rules.admit(br#"{"type":"complete","id":"0"}"#));
        assert!(rules.admit(subscribe("100").as_bytes()));
        assert!(!rules.admit(subscribe("101").as_bytes()));
    }

    #[test]
    fn an_id_is_running_from_subscribe_to_either_sides_complete() {
        let subscribe = br#"{"type":"subscribe","id":"7","payload":{"query":"{ a }"}}"#;
        let mut rules = Rules::new(Protocols::GraphQLWS);
        assert!(rules.admit(br#"{"type":"connection_init"}"#));
        assert!(rules.admit(subscribe));
        rules.sent(r#"{"type":"next","id":"7","payload":{"data":{"a":1}}}"#);
        rules.sent(r#"{"type":"complete","id":"7"}"#);
        assert!(rules.admit(subscribe));
        assert!(rules.admit(br#"{"type":"complete","id":"7"}"#));
        assert!(rules.admit(subscribe));
        rules.sent(r#"{"type":"error","id":"7","payload":[]}"#);
        assert!(rules.admit(subscribe));
        assert!(!rules.admit(subscribe));
        assert_eq!(rules.refusal.as_ref().unwrap().0, 4409);
        // Once refused, nothing more is read.
        assert!(!rules.admit(br#"{"type":"ping"}"#));
    }

    #[test]
    fn a_socket_runs_at_most_100_operations_with_ids_of_at_most_128_bytes() {
        let subscribe = |id: &str| {
            format!(r#"{{"type":"subscribe","id":"{id}","payload":{{"query":"{{ a }}"}}}}"#)
        };
        let mut rules = Rules::new(Protocols::GraphQLWS);
        assert!(rules.admit(br#"{"type":"connection_init"}"#));
        for n in 0..100 {
            assert!(rules.admit(subscribe(&n.to_string()).as_bytes()), "{n}");
        }
        // One ends: another may start; then none more.
        rules.sent(r#"{"type":"complete","id":"3"}"#);
        assert!(rules.admit(subscribe("100").as_bytes()));
        assert!(!rules.admit(subscribe("101").as_bytes()));
        let (code, reason) = rules.refusal.clone().unwrap();
        assert_eq!(code, 4400);
        assert!(reason.contains("at most 100"), "{reason}");

        let mut rules = Rules::new(Protocols::GraphQLWS);
        assert!(rules.admit(br#"{"type":"connection_init"}"#));
        assert!(rules.admit(subscribe(&"é".repeat(64)).as_bytes()));
        assert!(!rules.admit(subscribe(&format!("x{}", "é".repeat(64))).as_bytes()));
        assert_eq!(rules.refusal.as_ref().unwrap().0, 4400);
    }

    #[test]
    fn a_connection_init_refused_by_a_failing_database_is_the_server_s_error() {
        let mut rules = Rules::new(Protocols::GraphQLWS);
        assert_eq!(rules.close_code(1002), 4403);
        rules.init_failed = true;
        assert_eq!(rules.close_code(1002), 1011);
        assert_eq!(rules.close_code(1000), 1000);
    }

    #[test]
    fn a_socket_awaits_its_connection_init_in_either_protocol() {
        for protocol in [Protocols::GraphQLWS, Protocols::SubscriptionsTransportWS] {
            let mut rules = Rules::new(protocol);
            assert!(rules.awaiting_init());
            assert!(rules.admit(br#"{"type":"ping"}"#));
            assert!(rules.awaiting_init());
            assert!(rules.admit(br#"{"type":"connection_init","payload":{}}"#));
            assert!(!rules.awaiting_init());
        }
    }
}
