//! HTTP: the GraphQL endpoint, GraphiQL, health, readiness and metrics. The caller is
//! resolved here, once per request, from the Bearer token. WebSockets, downloads and the
//! connection loop have their own modules.

mod connections;
mod downloads;
mod websocket;

pub use downloads::STUDY_EXPORTS_AT_ONCE;

pub use connections::{serve, HEADER_DEADLINE};

use async_graphql_axum::{rejection::GraphQLRejection, GraphQLRequest, GraphQLResponse};
use axum::extract::State;
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
use crate::graphql::documents::{selected_operation, ParsedDocuments};
use crate::graphql::error::{code_client_errors, outside_fields, refusal};
use crate::graphql::live::Events;
use crate::graphql::null_propagation::{self, FieldTypes};
use crate::graphql::{
    build_mutation_schema_with, build_schema_with, limits, QuadernoSchema, RequestCtx,
};
use crate::metrics::Metrics;
use crate::search::SearchIndex;
use crate::ServiceError;
use async_graphql::parser::types::OperationType;

/// What a deployment may tighten or loosen.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The largest request body accepted, uploads included.
    pub max_body_bytes: usize,
    /// Requests running longer are answered 408 and abandoned.
    pub request_timeout: Duration,
    /// A WebSocket that has not sent `connection_init` by then is closed with 4408.
    pub connection_init_timeout: Duration,
    pub introspection: bool,
    pub graphiql: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 8 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            connection_init_timeout: Duration::from_secs(10),
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
    /// Queries' and subscriptions' schema.
    pub schema: QuadernoSchema,
    /// Mutations' (`build_mutation_schema_with`).
    pub mutation_schema: QuadernoSchema,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
    pub documents: Arc<ParsedDocuments>,
    /// The schema's field types, for handling field errors as the spec does.
    pub field_types: Arc<FieldTypes>,
    /// Leave to build a study's download (read it whole, then write it): a few at a time,
    /// see `downloads::STUDY_EXPORTS_AT_ONCE`.
    pub study_exports: Arc<tokio::sync::Semaphore>,
    /// Leave to read an upload (`UPLOADS_AT_ONCE`): each file of one is a temporary file,
    /// an open file handle until the request is answered.
    pub uploads: Arc<tokio::sync::Semaphore>,
}

/// Multipart requests read at once. With `MAX_UPLOAD_FILES` and `MAX_UPLOAD_PATHS` each,
/// at most 512 open file handles, whoever sends them (the body is read before the token is
/// checked).
pub const UPLOADS_AT_ONCE: usize = 4;
/// Files in one multipart request: a folder of transcripts is sent in batches of this many.
pub const MAX_UPLOAD_FILES: usize = 64;
/// Places in the variables that the `map` of one multipart request puts files at: each is
/// another handle on the file.
pub const MAX_UPLOAD_PATHS: usize = 64;

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
            mutation_schema: build_mutation_schema_with(limits.introspection),
            limits,
            metrics: Arc::new(Metrics::new()),
            documents: Arc::default(),
            study_exports: Arc::new(tokio::sync::Semaphore::new(
                downloads::STUDY_EXPORTS_AT_ONCE,
            )),
            uploads: Arc::new(tokio::sync::Semaphore::new(UPLOADS_AT_ONCE)),
        }
    }

    /// The schema an operation of this type runs on.
    pub fn schema_for(&self, operation: OperationType) -> &QuadernoSchema {
        match operation {
            OperationType::Mutation => &self.mutation_schema,
            _ => &self.schema,
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
        .route("/graphql/ws", get(websocket::graphql_ws))
        .route("/graphql/assets/{file}", get(crate::graphiql::asset))
        .route(
            "/studies/{study}/discontinuities/matrix.svg",
            get(downloads::matrix_svg),
        )
        .route(
            "/studies/{study}/discontinuities.csv",
            get(downloads::matrix_csv),
        )
        .route("/cases/{case}/cascade.svg", get(downloads::cascade_svg))
        .route("/studies/{study}/export.qdpx", get(downloads::export_qdpx))
        .route(
            "/studies/{study}/quotations.csv",
            get(downloads::quotations_csv),
        )
        .route(
            "/studies/{study}/code-case-matrix.csv",
            get(downloads::code_case_matrix_csv),
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

/// The challenge a 401 carries (RFC 9110 §11.6.1): a token refused, and the scheme to send
/// one with.
pub(super) fn bearer_challenge() -> axum::http::HeaderValue {
    axum::http::HeaderValue::from_static(r#"Bearer realm="quaderno", error="invalid_token""#)
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
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, bearer_challenge());
        }
        response
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
    let mut error = refusal(
        format!(
            "the request took longer than {:.1} s and was abandoned; a mutation may have been \
             applied all the same (in whole or, over several fields, in part): reload what it \
             changes before retrying",
            limit.as_secs_f64()
        ),
        "TIMEOUT",
    );
    if let Some(extensions) = &mut error.extensions {
        extensions.set("timeoutMs", limit.as_millis() as u64);
    }
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
        let (mut request, permit) = read_operation(request, state).await?;
        state.documents.parse_into(&mut request);
        let name = crate::metrics::operation_name(&mut request);
        *operation_name = Some(name.clone());
        Ok::<_, Response>((request, name, permit))
    });
    // Held until the answer: the upload's files stay open until then.
    let (mut request, operation, _upload) = match operation {
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
            let execution = crate::graphql::batching::in_passes(
                state.schema_for(ty).execute(request.data(ctx)),
            );
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
/// An upload comes with its leave (see `UPLOADS_AT_ONCE`).
async fn read_operation(
    request: axum::extract::Request,
    state: &AppState,
) -> Result<
    (
        async_graphql::Request,
        Option<tokio::sync::OwnedSemaphorePermit>,
    ),
    Response,
> {
    let max_body_bytes = state.limits.max_body_bytes;
    let (request, permit) = match multipart_boundary(request.headers()) {
        Some(boundary) => {
            let (parts, body) = request.into_parts();
            // Read before the leave is taken: a client sending slowly holds memory (within
            // the body limit), not the leave of the others.
            let bytes = match axum::body::to_bytes(body, usize::MAX).await {
                Ok(bytes) => bytes,
                Err(e) if e.to_string().contains("length limit exceeded") => {
                    return Err(too_large_response(max_body_bytes))
                }
                Err(e) => return Err(unreadable(format!("the upload cannot be read: {e}"))),
            };
            check_upload_counts(&bytes, boundary).await?;
            let permit = state
                .uploads
                .clone()
                .acquire_owned()
                .await
                .expect("the uploads semaphore is never closed");
            let request = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
            (request, Some(permit))
        }
        None => (request, None),
    };
    read_graphql_request(request, max_body_bytes)
        .await
        .map(|r| (r, permit))
}

/// The boundary of a multipart body, if the request has one.
fn multipart_boundary(headers: &HeaderMap) -> Option<String> {
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)?
        .to_str()
        .ok()?;
    multer::parse_boundary(content_type).ok()
}

/// Refuses an upload of more files, or more places for them, than one request may hold
/// (`MAX_UPLOAD_FILES`, `MAX_UPLOAD_PATHS`), before the GraphQL parser opens a temporary
/// file for each. A body multer cannot read is left to that parser, which says why.
async fn check_upload_counts(bytes: &axum::body::Bytes, boundary: String) -> Result<(), Response> {
    let body = bytes.clone();
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let (mut files, mut paths) = (0, 0);
    // Told apart as async-graphql does: by name first, a file only if neither (a `map` sent
    // with a file name is still the map).
    while let Ok(Some(field)) = multipart.next_field().await {
        match field.name() {
            Some("operations") => {}
            Some("map") => {
                let map = field.text().await.ok().and_then(|text| {
                    serde_json::from_str::<std::collections::HashMap<String, Vec<String>>>(&text)
                        .ok()
                });
                paths = map.map_or(0, |m| m.values().map(Vec::len).sum());
            }
            _ if field.file_name().is_some() => files += 1,
            _ => {}
        }
    }
    if files > MAX_UPLOAD_FILES {
        return Err(unreadable(format!(
            "the request holds {files} files, more than {MAX_UPLOAD_FILES}: send them in batches of at most {MAX_UPLOAD_FILES}"
        )));
    }
    if paths > MAX_UPLOAD_PATHS {
        return Err(unreadable(format!(
            "the request's map puts files at {paths} places: at most {MAX_UPLOAD_PATHS}"
        )));
    }
    Ok(())
}

/// A 400 answer in GraphQL's shape, for a request that is not read.
fn unreadable(message: String) -> Response {
    let body = serde_json::json!({
        "data": null,
        "errors": [{ "message": message, "extensions": { "code": "BAD_USER_INPUT" } }]
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

async fn read_graphql_request(
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
    unreadable(format!("the request cannot be read: {}", chain.join(": ")))
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
    selected_operation(doc, name.as_deref()).map_or(OperationType::Query, |op| op.ty)
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
