//! HTTP: the GraphQL endpoint, GraphiQL, health, readiness and metrics. The caller is
//! resolved here, once per request, from the Bearer token.

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{
    rejection::GraphQLRejection, GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket,
};
use axum::extract::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::time::Duration;

use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use std::sync::Arc;

use crate::auth::{self, Caller};
use crate::db::Database;
use crate::export;
use crate::graphql::documents::ParsedDocuments;
use crate::graphql::ids::{decode_any, Kind};
use crate::graphql::live::Events;
use crate::graphql::null_propagation::{self, FieldTypes};
use crate::graphql::{build_schema_with, limits, QuadernoSchema, RequestCtx};
use crate::metrics::Metrics;
use crate::search::SearchIndex;
use crate::service::discontinuities::{self, Judgments};
use crate::ServiceError;
use async_graphql::parser::types::{DocumentOperations, OperationType};

/// How long a client has to send a request's headers, or to start its next request on a
/// kept-alive connection (hyper's default, which hyper applies only with a timer).
pub const HEADER_DEADLINE: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `shutdown` completes, then lets every connection finish
/// the request it is answering, as `axum::serve` does, with one thing it lacks: a deadline
/// for headers (`HEADER_DEADLINE`). Without it a client sending its headers a line at a time
/// holds its connection for ever, and a few hundred such clients every file descriptor of
/// the process: no request could be accepted any more.
///
/// Small writes go out at once (`TCP_NODELAY`): a subscription's events are small WebSocket
/// frames, and Nagle's algorithm would hold one back until the previous one is acknowledged,
/// which a peer delaying its ACKs makes up to 40 ms on Linux.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()>,
) {
    serve_with_deadline(listener, app, shutdown, HEADER_DEADLINE).await;
}

async fn serve_with_deadline(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()>,
    header_deadline: Duration,
) {
    // `stop` tells the connections to finish; each holds a `done` until it has.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (done_tx, done_rx) = tokio::sync::watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin, as axum does.
                    tracing::error!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        send_small_writes_at_once(&tcp);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let (mut stop, done) = (stop_rx.clone(), done_rx.clone());
        tokio::spawn(async move {
            let mut http1 = hyper::server::conn::http1::Builder::new();
            http1
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_deadline);
            let connection = http1
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                .with_upgrades();
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(e) = served {
                        tracing::debug!(error = %e, "connection ended");
                    }
                }
                () = async { let _ = stop.wait_for(|stop| *stop).await; } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(done);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(done_rx);
    done_tx.closed().await;
}

fn send_small_writes_at_once(tcp: &tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::warn!(error = %e, "could not set TCP_NODELAY");
    }
}

/// What a deployment may tighten or loosen.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The largest request body accepted, uploads included.
    pub max_body_bytes: usize,
    /// Requests running longer are answered 408 and abandoned.
    pub request_timeout: Duration,
    pub introspection: bool,
    pub graphiql: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 8 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            introspection: true,
            graphiql: true,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    pub search: Arc<SearchIndex>,
    pub events: Events,
    pub schema: QuadernoSchema,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
    pub documents: Arc<ParsedDocuments>,
    /// The schema's field types, for handling field errors as the spec does.
    pub field_types: Arc<FieldTypes>,
}

impl AppState {
    pub fn new(db: Database, search: Arc<SearchIndex>) -> Self {
        Self::with_limits(db, search, Limits::default())
    }

    pub fn with_limits(db: Database, search: Arc<SearchIndex>, limits: Limits) -> Self {
        let schema = build_schema_with(limits.introspection);
        Self {
            db,
            search,
            events: Events::default(),
            field_types: Arc::new(FieldTypes::of_sdl(&schema.sdl())),
            schema,
            limits,
            metrics: Arc::new(Metrics::new()),
            documents: Arc::default(),
        }
    }
}

pub fn router(state: AppState) -> Router {
    routes(state, true)
}

/// The router without `/metrics` (404 there), and one serving only `/metrics`, for a second
/// listener on an address that only monitoring reaches (`--metrics-bind`): the metrics name
/// operations and count the index's documents, which is no one else's business.
pub fn router_and_metrics(state: AppState) -> (Router, Router) {
    let metrics_only = Router::new()
        .route("/metrics", get(metrics))
        .with_state(state.clone());
    (routes(state, false), metrics_only)
}

fn routes(state: AppState, with_metrics: bool) -> Router {
    let limits = state.limits.clone();
    let graphql_get = if limits.graphiql {
        get(crate::graphiql::page)
    } else {
        get(|| async { (StatusCode::NOT_FOUND, "GraphiQL is switched off") })
    };
    let timeout =
        TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, limits.request_timeout);
    // POST /graphql keeps its own time, to answer as GraphQL does and be counted.
    let timed = Router::new()
        .route("/graphql/ws", get(graphql_ws))
        .route("/graphql/assets/{file}", get(crate::graphiql::asset))
        .route(
            "/studies/{study}/discontinuities/matrix.svg",
            get(matrix_svg),
        )
        .route("/studies/{study}/discontinuities.csv", get(matrix_csv))
        .route("/cases/{case}/cascade.svg", get(cascade_svg))
        .route("/studies/{study}/export.qdpx", get(export_qdpx))
        .route("/studies/{study}/quotations.csv", get(quotations_csv))
        .route(
            "/studies/{study}/code-case-matrix.csv",
            get(code_case_matrix_csv),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz));
    let timed = match with_metrics {
        true => timed.route("/metrics", get(metrics)),
        false => timed,
    }
    .layer(timeout);
    Router::new()
        .route("/graphql", graphql_get.layer(timeout).post(graphql))
        .merge(timed)
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(axum::middleware::map_response_with_state(
            limits.max_body_bytes,
            explain_too_large,
        ))
        // Outermost first on the way in: an id is set (kept if the client sent one), the
        // request's span carries it, and the response echoes it.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// The log span of one request, with its id (every log line inside it carries the id).
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        uri = %request.uri(),
    )
}

/// Why a request has no caller.
pub enum CallerError {
    /// A malformed header, or an unknown, revoked or expired token: the client's to fix.
    Refused(&'static str),
    /// The lookup itself failed (the database is down): the server's, not the token's.
    Failed(ServiceError),
}

impl CallerError {
    /// The answer of the GraphQL endpoint: 401 UNAUTHENTICATED, or 500 INTERNAL with a log id
    /// (a client told that its token is bad would throw a good one away).
    fn graphql_response(self) -> Response {
        let status = match self {
            Self::Refused(_) => StatusCode::UNAUTHORIZED,
            Self::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let body = serde_json::json!({
            "data": null,
            "errors": [outside_fields(self.into_graphql_error())]
        });
        (status, Json(body)).into_response()
    }

    /// The code of this error's GraphQL error, for the metrics.
    fn code(&self) -> &'static str {
        match self {
            Self::Refused(_) => "UNAUTHENTICATED",
            Self::Failed(_) => "INTERNAL",
        }
    }

    /// As the error of a WebSocket's `connection_init` or of one of its operations.
    fn into_graphql_error(self) -> async_graphql::Error {
        match self {
            Self::Refused(message) => crate::graphql::error::coded(message, "UNAUTHENTICATED"),
            Self::Failed(e) => e.into(),
        }
    }
}

/// An error raised before or between fields (no field, no position in the query).
fn outside_fields(e: async_graphql::Error) -> async_graphql::ServerError {
    let mut error = async_graphql::ServerError::new(e.message, None);
    error.extensions = e.extensions;
    error
}

/// Resolves the caller: anonymous without a header, an error for a bad or unknown token.
pub async fn caller_from_headers(
    db: &Database,
    headers: &HeaderMap,
) -> Result<Caller, CallerError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Caller::anonymous());
    };
    let value = value
        .to_str()
        .map_err(|_| CallerError::Refused("malformed Authorization header"))?;
    let secret = bearer_secret(value).ok_or(CallerError::Refused(
        "the Authorization header must be `Bearer <token>`",
    ))?;
    caller_from_secret(db, Some(secret)).await
}

/// The token of a `Bearer <token>` credential. The scheme's name is case-insensitive (RFC
/// 9110, 11.1): clients and proxies that send `bearer` are not refused.
fn bearer_secret(value: &str) -> Option<&str> {
    let (scheme, secret) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(secret.trim())
}

/// The caller of a token's secret (anonymous without one).
async fn caller_from_secret(db: &Database, secret: Option<&str>) -> Result<Caller, CallerError> {
    let Some(secret) = secret else {
        return Ok(Caller::anonymous());
    };
    match auth::caller_from_token(&db.conn, secret).await {
        Ok(c) => Ok(c),
        Err(ServiceError::Unauthenticated) => {
            Err(CallerError::Refused("unknown, revoked or expired token"))
        }
        Err(e) => Err(CallerError::Failed(e)),
    }
}

/// A GraphQL request over HTTP, abandoned after the request timeout (reading its body
/// included) with a GraphQL error, counted in the metrics like any other.
async fn graphql(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Response {
    let started = std::time::Instant::now();
    let limit = state.limits.request_timeout;
    let mut operation = None;
    let answered = tokio::time::timeout(
        limit,
        answer_graphql(&state, headers, request, started, &mut operation),
    )
    .await;
    match answered {
        Ok(response) => response,
        Err(_) => {
            let operation = operation.as_deref().unwrap_or("anonymous");
            state
                .metrics
                .observe(operation, started.elapsed(), ["TIMEOUT"]);
            timed_out(limit)
        }
    }
}

/// The answer to a request that outlived the timeout.
fn timed_out(limit: Duration) -> Response {
    let body = serde_json::json!({ "data": null, "errors": [timeout_error(limit)] });
    (StatusCode::REQUEST_TIMEOUT, Json(body)).into_response()
}

/// The error of an operation that outlived the timeout, over HTTP or a socket. Abandoning it
/// rolls back a write still in its transaction, but not one committed already (a mutation
/// returns only once its change is searchable, well after its commit): the client must look
/// before retrying.
fn timeout_error(limit: Duration) -> async_graphql::ServerError {
    let mut error = async_graphql::ServerError::new(
        format!(
            "the request took longer than {:.1} s and was abandoned; a mutation may have been \
             applied all the same (in whole or, over several fields, in part): reload what it \
             changes before retrying",
            limit.as_secs_f64()
        ),
        None,
    );
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", "TIMEOUT");
    extensions.set("timeoutMs", limit.as_millis() as u64);
    error.extensions = Some(extensions);
    error
}

/// The codes of a response's errors, for the metrics.
fn error_codes(response: &async_graphql::Response) -> impl Iterator<Item = &str> {
    response.errors.iter().map(|e| {
        e.extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .and_then(|c| match c {
                async_graphql::Value::String(s) => Some(s.as_str()),
                _ => None,
            })
            .unwrap_or("BAD_USER_INPUT")
    })
}

async fn answer_graphql(
    state: &AppState,
    headers: HeaderMap,
    request: axum::extract::Request,
    started: std::time::Instant,
    operation_name: &mut Option<String>,
) -> Response {
    // The token's statement is mostly a wait for the database: the body is read and the
    // document parsed (naming the operation parses it, once) during that wait. `join!` polls
    // the lookup first, so its statement is under way before the rest starts.
    let (caller, operation) = tokio::join!(caller_from_headers(&state.db, &headers), async {
        let mut request = read_operation(request, state.limits.max_body_bytes).await?;
        state.documents.parse_into(&mut request);
        let name = crate::metrics::operation_name(&mut request);
        *operation_name = Some(name.clone());
        Ok::<_, Response>((request, name))
    });
    let (mut request, operation) = match operation {
        Ok(read) => read,
        Err(refusal) => return refusal,
    };
    let caller = match caller {
        Ok(c) => c,
        Err(refused) => {
            state
                .metrics
                .observe(&operation, started.elapsed(), [refused.code()]);
            return refused.graphql_response();
        }
    };
    let ty = operation_type(&mut request);
    let ctx = RequestCtx::for_operation(
        ty,
        state.db.conn.clone(),
        caller,
        state.search.clone(),
        state.events.clone(),
    );
    let pages = ctx.pages.clone();
    let mut resp = match limits::check_request(&mut request, &ctx.caller) {
        Ok(()) => {
            let (query, name) = (request.query.clone(), request.operation_name.clone());
            let execution =
                crate::graphql::batching::in_passes(state.schema.execute(request.data(ctx)));
            let mut resp = limits::within_budget(&pages, ty, execution)
                .await
                .unwrap_or_else(|refused| async_graphql::Response::from_errors(vec![refused]));
            null_propagation::propagate(&state.field_types, &query, name.as_deref(), &mut resp);
            resp
        }
        Err(refused) => async_graphql::Response::from_errors(vec![refused]),
    };
    code_client_errors(&mut resp.errors);
    state
        .metrics
        .observe(&operation, started.elapsed(), error_codes(&resp));
    GraphQLResponse::from(resp).into_response()
}

/// The GraphQL request in the body (JSON or a multipart upload), or the response refusing it.
async fn read_operation(
    request: axum::extract::Request,
    max_body_bytes: usize,
) -> Result<async_graphql::Request, Response> {
    // The multipart parser reports a body cut short by the limit only as "failed to read
    // stream"; watching the body tells an oversize upload from a malformed one.
    let over_limit = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = over_limit.clone();
    let request = request.map(|body| {
        use futures_util::StreamExt as _;
        axum::body::Body::from_stream(body.into_data_stream().inspect(move |chunk| {
            if chunk
                .as_ref()
                .is_err_and(|e| e.to_string().contains("length limit exceeded"))
            {
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }))
    });
    match <GraphQLRequest as axum::extract::FromRequest<()>>::from_request(request, &()).await {
        Ok(r) => Ok(r.into_inner()),
        Err(_) if over_limit.load(std::sync::atomic::Ordering::Relaxed) => {
            Err(too_large_response(max_body_bytes))
        }
        Err(rejection) => Err(unreadable_request(rejection, max_body_bytes)),
    }
}

/// A GraphQL-shaped error for a request that could not be read (malformed JSON or multipart,
/// a batch, a body over the limit), so that upload clients see a sentence and a code.
fn unreadable_request(rejection: GraphQLRejection, max_body_bytes: usize) -> Response {
    let err = rejection.0;
    let mut chain: Vec<String> = vec![err.to_string()];
    let mut source = std::error::Error::source(&err);
    while let Some(e) = source {
        chain.push(e.to_string());
        source = e.source();
    }
    let too_large = matches!(err, async_graphql::ParseRequestError::PayloadTooLarge)
        || chain.iter().any(|m| m.contains("length limit exceeded"));
    if too_large {
        return too_large_response(max_body_bytes);
    }
    let body = serde_json::json!({
        "data": null,
        "errors": [{
            "message": format!("the request cannot be read: {}", chain.join(": ")),
            "extensions": { "code": "BAD_USER_INPUT" }
        }]
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

fn too_large_response(max_body_bytes: usize) -> Response {
    let body = serde_json::json!({
        "data": null,
        "errors": [{
            "message": format!(
                "the request body is larger than the {max_body_bytes} bytes this server accepts \
                 (uploads included); send fewer or smaller files per request, or raise \
                 --max-body-mb (QUADERNO_MAX_BODY_MB)"
            ),
            "extensions": { "code": "BAD_USER_INPUT", "maxBodyBytes": max_body_bytes }
        }]
    });
    (StatusCode::PAYLOAD_TOO_LARGE, Json(body)).into_response()
}

/// The body limit answers a declared oversize body with a bare 413; say why, as GraphQL does.
async fn explain_too_large(State(max_body_bytes): State<usize>, response: Response) -> Response {
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && plain {
        too_large_response(max_body_bytes)
    } else {
        response
    }
}

/// The type of the operation a request runs, chosen as the executor chooses it: the one
/// named by `operationName`, else the document's only operation, named or not (a query when
/// that names none: the executor then reports the request's mistake).
fn operation_type(request: &mut async_graphql::Request) -> OperationType {
    let name = request.operation_name.clone();
    let Ok(doc) = request.parsed_query() else {
        return OperationType::Query;
    };
    let operation = match (&doc.operations, name) {
        (DocumentOperations::Single(op), None) => Some(op),
        (DocumentOperations::Single(_), Some(_)) => None,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name.as_str()),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        (DocumentOperations::Multiple(_), None) => None,
    };
    operation.map_or(OperationType::Query, |op| op.node.ty)
}

/// Every error the server raises carries a code (see `graphql::error`); the ones without are
/// async-graphql's own parse, validation and input-coercion errors: the client's input.
fn code_client_errors(errors: &mut [async_graphql::ServerError]) {
    for e in errors {
        let ext = e.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_none() {
            ext.set("code", "BAD_USER_INPUT");
        }
    }
}

/// Subscriptions over graphql-transport-ws (or the older graphql-ws). Browsers cannot set
/// headers on WebSockets, so the token comes in the `connection_init` payload:
/// `{"Authorization": "Bearer <token>"}`; without one the caller is anonymous.
///
/// A bad token is refused at `connection_init`. A good one is looked up again for every
/// operation sent over the socket and before every event of a subscription, as for every
/// HTTP request: a revoked token stops working at once, also on a socket opened before.
async fn graphql_ws(
    State(state): State<AppState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    // A message is a request like an HTTP body, and is bounded alike (tungstenite alone would
    // take 64 MiB messages).
    let max = state.limits.max_body_bytes;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            let db = state.db.clone();
            GraphQLWebSocket::new(socket, Checked(state), protocol)
                .on_connection_init(move |payload| async move {
                    // A payload that is not an object, or an Authorization that is not a
                    // string, is a client's mistake: refused, rather than taken for no token
                    // and answered as an anonymous caller.
                    let malformed = |why| CallerError::Refused(why).into_graphql_error();
                    let value = match &payload {
                        serde_json::Value::Null => None,
                        serde_json::Value::Object(fields) => fields
                            .get("Authorization")
                            .or_else(|| fields.get("authorization")),
                        _ => {
                            return Err(malformed(
                                "the connection_init payload must be an object: \
                                 {\"Authorization\": \"Bearer <token>\"}",
                            ))
                        }
                    };
                    let secret = match value {
                        None | Some(serde_json::Value::Null) => None,
                        Some(v) => Some(
                            v.as_str()
                                .and_then(bearer_secret)
                                .ok_or_else(|| {
                                    malformed("the Authorization value must be `Bearer <token>`")
                                })?
                                .to_owned(),
                        ),
                    };
                    caller_from_secret(&db, secret.as_deref())
                        .await
                        .map_err(CallerError::into_graphql_error)?;
                    let mut data = async_graphql::Data::default();
                    data.insert(SocketToken(secret));
                    Ok(data)
                })
                .serve()
                .await
        })
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
            let pages = ctx.pages.clone();
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
                let schema = state.schema.clone();
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
                let (pages, mended) = (pages.clone(), mended.clone());
                async move {
                    let mut events = events?;
                    // Each event is bounded alone: a subscription may live for days.
                    pages.reset();
                    let event = match limits::within_budget(&pages, ty, events.next()).await {
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

/// Errors of the download routes, as HTTP statuses (the GraphQL edge has its own mapping).
struct HttpError(StatusCode, String);

impl From<ServiceError> for HttpError {
    fn from(e: ServiceError) -> Self {
        let status = match &e {
            ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
            ServiceError::BadInput(_) => StatusCode::BAD_REQUEST,
            ServiceError::Conflict(_) => StatusCode::CONFLICT,
            ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
            ServiceError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ServiceError::Database(db) => {
                tracing::error!(error = %db, "download failed");
                return Self(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into());
            }
        };
        Self(status, e.to_string())
    }
}

impl From<CallerError> for HttpError {
    fn from(e: CallerError) -> Self {
        match e {
            CallerError::Refused(m) => Self(StatusCode::UNAUTHORIZED, m.into()),
            CallerError::Failed(e) => e.into(),
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

#[derive(serde::Deserialize)]
struct MatrixParams {
    rows: Option<String>,
    evaluator: Option<String>,
}

fn global_id(raw: &str, kind: Kind) -> Result<i64, HttpError> {
    match decode_any(raw) {
        Some((k, n)) if k == kind => Ok(n),
        _ => Err(HttpError(
            StatusCode::BAD_REQUEST,
            format!("{raw:?} is not a {} ID", kind.name()),
        )),
    }
}

/// The caller, the study's judgments and the matrix rows a download asks for.
async fn matrix_for(
    state: &AppState,
    headers: &HeaderMap,
    study: &str,
    params: &MatrixParams,
) -> Result<(Judgments, Vec<discontinuities::MatrixRow>), HttpError> {
    let caller = caller_from_headers(&state.db, headers).await?;
    let judgments =
        Judgments::load(&state.db.conn, &caller, global_id(study, Kind::Study)?).await?;
    let rows = match params.rows.as_deref() {
        None | Some("case") => discontinuities::Rows::Case,
        Some("intervention") => discontinuities::Rows::Intervention,
        Some(other) => {
            return Err(HttpError(
                StatusCode::BAD_REQUEST,
                format!("rows={other}: use case or intervention"),
            ))
        }
    };
    let evaluator = match params.evaluator.as_deref() {
        None => None,
        Some(e) => Some(
            crate::service::users::visible_user(&state.db.conn, &caller, global_id(e, Kind::User)?)
                .await?,
        ),
    };
    let matrix = discontinuities::matrix(&judgments, rows, evaluator);
    Ok((judgments, matrix))
}

async fn matrix_svg(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(study): Path<String>,
    Query(params): Query<MatrixParams>,
) -> Result<Response, HttpError> {
    let (judgments, rows) = matrix_for(&state, &headers, &study, &params).await?;
    let svg =
        export::discontinuities::matrix_svg(&judgments, &rows, "Discontinuità per dimensione");
    Ok((
        [(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")],
        svg,
    )
        .into_response())
}

async fn matrix_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(study): Path<String>,
    Query(params): Query<MatrixParams>,
) -> Result<Response, HttpError> {
    let (judgments, rows) = matrix_for(&state, &headers, &study, &params).await?;
    let csv = export::discontinuities::matrix_csv(&judgments, &rows)
        .map_err(|e| HttpError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(download(
        "text/csv; charset=utf-8",
        "discontinuities.csv".into(),
        csv.into_bytes(),
    ))
}

async fn cascade_svg(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(case): Path<String>,
    Query(params): Query<MatrixParams>,
) -> Result<Response, HttpError> {
    let caller = caller_from_headers(&state.db, &headers).await?;
    let case_id = global_id(&case, Kind::Case)?;
    let (case, study) =
        crate::service::studies::readable_case(&state.db.conn, &caller, case_id).await?;
    let judgments = Judgments::load(&state.db.conn, &caller, study.id).await?;
    let evaluator = params
        .evaluator
        .as_deref()
        .map(|e| global_id(e, Kind::User))
        .transpose()?;
    let links: Vec<(i64, i64)> = discontinuities::cascade(&judgments, case.id, evaluator)
        .iter()
        .map(|(c, e)| (c.id, e.id))
        .collect();
    let svg = export::discontinuities::cascade_svg(
        &judgments,
        case.id,
        &links,
        evaluator,
        &format!("Cascata — {}", case.label),
    );
    Ok((
        [(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")],
        svg,
    )
        .into_response())
}

/// A study's whole content for a download, checked readable by the caller.
async fn study_content(
    state: &AppState,
    headers: &HeaderMap,
    study: &str,
) -> Result<crate::service::exchange::StudyContent, HttpError> {
    let caller = caller_from_headers(&state.db, headers).await?;
    let id = global_id(study, Kind::Study)?;
    Ok(crate::service::exchange::StudyContent::load(&state.db.conn, &caller, id).await?)
}

fn download(content_type: &'static str, file_name: String, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

fn export_failed(e: impl std::fmt::Display) -> HttpError {
    tracing::error!(error = %e, "export failed");
    HttpError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
}

async fn export_qdpx(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(study): Path<String>,
) -> Result<Response, HttpError> {
    let content = study_content(&state, &headers, &study).await?;
    let name = format!("study-{}.qdpx", content.study.id);
    // Deflating every transcript of a large study is seconds of CPU: off the async threads.
    let zip = tokio::task::spawn_blocking(move || export::qdpx::qdpx(&content))
        .await
        .map_err(export_failed)?
        .map_err(export_failed)?;
    Ok(download("application/zip", name, zip))
}

async fn quotations_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(study): Path<String>,
) -> Result<Response, HttpError> {
    let content = study_content(&state, &headers, &study).await?;
    let csv = export::quotations_csv::quotations_csv(&content).map_err(export_failed)?;
    Ok(download(
        "text/csv; charset=utf-8",
        format!("study-{}-quotations.csv", content.study.id),
        csv.into_bytes(),
    ))
}

async fn code_case_matrix_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(study): Path<String>,
) -> Result<Response, HttpError> {
    let content = study_content(&state, &headers, &study).await?;
    let csv = export::quotations_csv::code_case_matrix_csv(&content).map_err(export_failed)?;
    Ok(download(
        "text/csv; charset=utf-8",
        format!("study-{}-code-case-matrix.csv", content.study.id),
        csv.into_bytes(),
    ))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.db.conn.ping().await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable");
    }
    if !state.search.is_ready() {
        return (StatusCode::SERVICE_UNAVAILABLE, "search index being built");
    }
    (StatusCode::OK, "ready")
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let body = state.metrics.render(&state.db, &state.search).await;
    ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_send_small_writes_at_once() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (server_side, _) = listener.accept().await.unwrap();
        send_small_writes_at_once(&server_side);
        assert!(server_side.nodelay().unwrap());
    }

    /// A client sending its headers a line at a time (slowloris) loses its connection at the
    /// deadline, while a prompt one on the same server is answered, before and after.
    #[tokio::test]
    async fn headers_sent_too_slowly_lose_the_connection() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/healthz", get(|| async { "ok" }));
        let deadline = Duration::from_millis(300);
        tokio::spawn(serve_with_deadline(
            listener,
            app,
            std::future::pending(),
            deadline,
        ));
        let get_healthz = || async move {
            let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
            c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut answer = String::new();
            c.read_to_string(&mut answer).await.unwrap();
            answer
        };
        assert!(get_healthz().await.starts_with("HTTP/1.1 200"));
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        let started = std::time::Instant::now();
        let mut cut = false;
        // A header line every 100 ms: never the end of the headers. (Ten seconds is a guard
        // against hanging, not a measure.)
        while started.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if slow.write_all(b"X-Slow: 1\r\n").await.is_err() {
                cut = true;
                break;
            }
            let mut byte = [0u8; 1];
            match tokio::time::timeout(Duration::from_millis(1), slow.read(&mut byte)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    cut = true;
                    break;
                }
                _ => {}
            }
        }
        assert!(cut, "a slow client kept its connection");
        assert!(started.elapsed() >= deadline);
        assert!(get_healthz().await.starts_with("HTTP/1.1 200"));
    }

    #[test]
    fn the_bearer_scheme_is_read_in_any_case() {
        for value in [
            "Bearer qdn_x",
            "bearer qdn_x",
            "BEARER  qdn_x ",
            " Bearer qdn_x",
        ] {
            assert_eq!(bearer_secret(value), Some("qdn_x"), "{value:?}");
        }
        for value in ["Basic qdn_x", "Bearerqdn_x", "Bearer", "qdn_x"] {
            assert_eq!(bearer_secret(value), None, "{value:?}");
        }
    }
}
