//! The one place where errors become GraphQL errors with a stable `extensions.code`.
//! Database errors are logged with an id and reach the client as INTERNAL without details;
//! a write that ran into a concurrent one is a CONFLICT already (`ServiceError::from(DbErr)`).

use std::sync::Arc;

use async_graphql::ErrorExtensions;
use sea_orm::DbErr;

use crate::error::ServiceError;

pub fn coded(message: impl Into<String>, code: &'static str) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code))
}

/// An error refusing a whole request, raised before or between its fields.
pub fn refusal(message: impl Into<String>, code: &'static str) -> async_graphql::ServerError {
    outside_fields(coded(message, code))
}

/// An error raised before or between fields: no field, no position in the query.
pub fn outside_fields(e: async_graphql::Error) -> async_graphql::ServerError {
    let mut error = async_graphql::ServerError::new(e.message, None);
    error.extensions = e.extensions;
    error
}

/// Every error the server raises carries a code; the ones without are async-graphql's own
/// parse, validation and input-coercion errors: the client's input.
pub fn code_client_errors(errors: &mut [async_graphql::ServerError]) {
    for e in errors {
        let ext = e.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_none() {
            ext.set("code", "BAD_USER_INPUT");
        }
    }
}

pub fn bad_input(message: impl Into<String>) -> async_graphql::Error {
    coded(message, "BAD_USER_INPUT")
}

pub fn not_found(what: &str) -> async_graphql::Error {
    coded(format!("{what} not found"), "NOT_FOUND")
}

pub(super) fn internal(detail: &dyn std::fmt::Display) -> async_graphql::Error {
    let log_id = format!("{:016x}", rand::random::<u64>());
    tracing::error!(log_id, error = %detail, "internal error");
    async_graphql::Error::new(format!("internal error (log id {log_id})")).extend_with(|_, e| {
        e.set("code", "INTERNAL");
        e.set("logId", log_id.clone());
    })
}

impl From<ServiceError> for async_graphql::Error {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound(_) => coded(e.to_string(), "NOT_FOUND"),
            ServiceError::BadInput(m) => coded(m, "BAD_USER_INPUT"),
            ServiceError::Conflict(m) => coded(m, "CONFLICT"),
            ServiceError::Forbidden(m) => coded(m, "FORBIDDEN"),
            ServiceError::Unauthenticated => coded(e.to_string(), "UNAUTHENTICATED"),
            ServiceError::Database(db) => internal(&db),
        }
    }
}

/// A DataLoader failure (loaders need a `Clone` error).
#[derive(Debug, Clone)]
pub struct LoadError(pub Arc<DbErr>);

impl From<DbErr> for LoadError {
    fn from(e: DbErr) -> Self {
        Self(Arc::new(e))
    }
}

impl From<LoadError> for async_graphql::Error {
    fn from(e: LoadError) -> Self {
        internal(&e.0)
    }
}

impl From<crate::search::SearchError> for async_graphql::Error {
    fn from(e: crate::search::SearchError) -> Self {
        use crate::search::SearchError;
        match e {
            SearchError::BadQuery(m) => coded(m, "BAD_QUERY"),
            SearchError::NotReady => coded(e.to_string(), "UNAVAILABLE"),
            SearchError::Tantivy(t) => internal(&t),
            SearchError::Db(d) => internal(&d),
        }
    }
}
