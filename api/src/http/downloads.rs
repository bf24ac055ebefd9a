//! Downloads outside GraphQL: the discontinuity matrix and cascade (SVG, CSV) and a study's
//! exports (REFI-QDA project, quotations, code × case matrix). Each checks the caller's
//! token and rights as a GraphQL request does.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{caller_from_headers, AppState, CallerError};
use crate::auth::Caller;
use crate::db::begin_snapshot;
use crate::export;
use crate::export::Separator;
use crate::graphql::ids::{decode_any, Kind};
use crate::service::discontinuities::{self, Judgments};
use crate::service::exchange::StudyContent;
use crate::ServiceError;

/// Errors of the download routes, as HTTP statuses (the GraphQL edge has its own mapping).
pub(super) struct HttpError(StatusCode, String);

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
        let mut response = (self.0, self.1).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, super::bearer_challenge());
        }
        response
    }
}

#[derive(serde::Deserialize)]
pub(super) struct MatrixParams {
    rows: Option<String>,
    evaluator: Option<String>,
    #[serde(default)]
    separator: Separator,
}

/// `?separator=semicolon` for Excel in an Italian locale (`export::table::Separator`).
#[derive(serde::Deserialize)]
pub(super) struct TableParams {
    #[serde(default)]
    separator: Separator,
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

/// The evaluator whose judgments a download shows (`?evaluator=`), if one is asked for: a
/// user the caller cannot see is not found, as in the GraphQL fields, rather than drawn as
/// one without judgments.
async fn evaluator_asked(
    db: &impl sea_orm::ConnectionTrait,
    caller: &Caller,
    params: &MatrixParams,
) -> Result<Option<i64>, HttpError> {
    let Some(e) = params.evaluator.as_deref() else {
        return Ok(None);
    };
    let id = global_id(e, Kind::User)?;
    Ok(Some(
        crate::service::users::visible_user(db, caller, id).await?,
    ))
}

/// The caller, the study's judgments and the matrix rows a download asks for.
async fn matrix_for(
    state: &AppState,
    headers: &HeaderMap,
    study: &str,
    params: &MatrixParams,
) -> Result<(Judgments, Vec<discontinuities::MatrixRow>), HttpError> {
    let caller = caller_from_headers(&state.db, headers).await?;
    let study = global_id(study, Kind::Study)?;
    // One state of the judgments, their evidence and their causes, as a GraphQL query reads.
    let snapshot = begin_snapshot(&state.db.conn)
        .await
        .map_err(ServiceError::from)?;
    let judgments = Judgments::load(&snapshot, &caller, study).await?;
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
    let evaluator = evaluator_asked(&snapshot, &caller, params).await?;
    let matrix = discontinuities::matrix(&judgments, rows, evaluator);
    Ok((judgments, matrix))
}

pub(super) async fn matrix_svg(
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

pub(super) async fn matrix_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(study): Path<String>,
    Query(params): Query<MatrixParams>,
) -> Result<Response, HttpError> {
    let (judgments, rows) = matrix_for(&state, &headers, &study, &params).await?;
    let csv = export::discontinuities::matrix_csv(&judgments, &rows, params.separator)
        .map_err(export_failed)?;
    Ok(download(
        "text/csv; charset=utf-8",
        "discontinuities.csv".into(),
        csv.into_bytes(),
    ))
}

pub(super) async fn cascade_svg(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(case): Path<String>,
    Query(params): Query<MatrixParams>,
) -> Result<Response, HttpError> {
    let caller = caller_from_headers(&state.db, &headers).await?;
    let case_id = global_id(&case, Kind::Case)?;
    let snapshot = begin_snapshot(&state.db.conn)
        .await
        .map_err(ServiceError::from)?;
    let (case, study) = crate::service::studies::readable_case(&snapshot, &caller, case_id).await?;
    let judgments = Judgments::load(&snapshot, &caller, study.id).await?;
    let evaluator = evaluator_asked(&snapshot, &caller, &params).await?;
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

/// How many downloads of a whole study are built at once (the others wait their turn, within
/// the request timeout). Each holds the study in memory and seconds of CPU; a client asking
/// for many at once, and dropping each, would otherwise have them all built side by side.
pub const STUDY_EXPORTS_AT_ONCE: usize = 2;

/// A study's whole content for a download, checked readable by the caller, with the leave to
/// build it: held until the file is written, also past a request given up on.
async fn study_content(
    state: &AppState,
    headers: &HeaderMap,
    study: &str,
) -> Result<(StudyContent, tokio::sync::OwnedSemaphorePermit), HttpError> {
    let caller = caller_from_headers(&state.db, headers).await?;
    let id = global_id(study, Kind::Study)?;
    let permit = state
        .study_exports
        .clone()
        .acquire_owned()
        .await
        .map_err(export_failed)?;
    Ok((
        StudyContent::load(&state.db.conn, &caller, id).await?,
        permit,
    ))
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

pub(super) async fn export_qdpx(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(study): Path<String>,
) -> Result<Response, HttpError> {
    let (content, permit) = study_content(&state, &headers, &study).await?;
    let name = format!("study-{}.qdpx", content.study.id);
    // Deflating every transcript of a large study is seconds of CPU: off the async threads.
    let zip = tokio::task::spawn_blocking(move || {
        let _building = permit;
        export::qdpx::qdpx(&content)
    })
    .await
    .map_err(export_failed)?
    .map_err(export_failed)?;
    Ok(download("application/zip", name, zip))
}

pub(super) async fn quotations_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(study): Path<String>,
    Query(params): Query<TableParams>,
) -> Result<Response, HttpError> {
    study_csv(
        study_content(&state, &headers, &study).await?,
        "quotations",
        params.separator,
        export::quotations_csv::quotations_csv,
    )
    .await
}

pub(super) async fn code_case_matrix_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(study): Path<String>,
    Query(params): Query<TableParams>,
) -> Result<Response, HttpError> {
    study_csv(
        study_content(&state, &headers, &study).await?,
        "code-case-matrix",
        params.separator,
        export::quotations_csv::code_case_matrix_csv,
    )
    .await
}

/// A CSV table of a study, as `study-<id>-<what>.csv`, written off the async threads (a
/// large study's is seconds of text slicing).
async fn study_csv<E: std::fmt::Display + Send + 'static>(
    (content, permit): (StudyContent, tokio::sync::OwnedSemaphorePermit),
    what: &str,
    separator: Separator,
    table: fn(&StudyContent, Separator) -> Result<String, E>,
) -> Result<Response, HttpError> {
    let name = format!("study-{}-{what}.csv", content.study.id);
    let csv = tokio::task::spawn_blocking(move || {
        let _building = permit;
        table(&content, separator)
    })
    .await
    .map_err(export_failed)?
    .map_err(export_failed)?;
    Ok(download("text/csv; charset=utf-8", name, csv.into_bytes()))
}
