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
