//! The service layer's error type. The GraphQL edge maps it to `extensions.code` once
//! (`graphql::error`); database details never leave the server.

use sea_orm::{DbErr, RuntimeErr, SqlErr};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ServiceError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("authentication required")]
    Unauthenticated,
    #[error("database error")]
    Database(#[source] DbErr),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// What a client is told when its write ran into another one made at the same time.
pub const CONCURRENT_CHANGE: &str =
    "someone else changed the same data at the same time; reload and retry";

impl From<DbErr> for ServiceError {
    /// Checks are made before writing, so a write the database itself refuses for a taken
    /// unique key, a referenced row gone, or a row that is no longer there to update ran
    /// into a concurrent write (PostgreSQL, READ COMMITTED): the client can reload and retry,
    /// which is a CONFLICT, not a server failure. The same holds for the transactions
    /// PostgreSQL aborts to break a deadlock or a serialisation failure.
    fn from(e: DbErr) -> Self {
        if is_concurrent_clash(&e) {
            tracing::warn!(error = %e, "write ran into a concurrent one: answered CONFLICT");
            Self::Conflict(CONCURRENT_CHANGE.to_owned())
        } else {
            Self::Database(e)
        }
    }
}

/// Whether a database error is a write colliding with a concurrent one (see `From<DbErr>`).
pub fn is_concurrent_clash(e: &DbErr) -> bool {
    if matches!(e, DbErr::RecordNotUpdated) || e.sql_err().is_some() {
        return true;
    }
    if let DbErr::Exec(RuntimeErr::SqlxError(sqlx)) | DbErr::Query(RuntimeErr::SqlxError(sqlx)) = e
    {
        // serialization_failure, deadlock_detected
        return sqlx
            .as_database_error()
            .and_then(|d| d.code())
            .is_some_and(|code| code == "40001" || code == "40P01");
    }
    false
}

/// For an update made on the condition that the row still has the version read: no row
/// updated means that version is gone, and `stale` makes the CONFLICT (`ServiceError::stale`).
pub fn or_stale(e: DbErr, stale: impl FnOnce() -> ServiceError) -> ServiceError {
    match e {
        DbErr::RecordNotUpdated => stale(),
        other => other.into(),
    }
}

/// Whether a database error is a unique key taken by a concurrent write.
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

impl ServiceError {
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }
    pub fn bad_input(msg: impl Into<String>) -> Self {
        Self::BadInput(msg.into())
    }
    /// A write based on version `sent` of the `what` (a memo, an interview…), which is at
    /// version `current` now: the client must see the other change before making its own.
    pub fn stale(what: &str, current: i32, sent: i32) -> Self {
        Self::Conflict(format!(
            "the {what} has changed: version {current}, you sent {sent}; reload and retry"
        ))
    }
    /// For a parent the caller may not see or that is gone: NOT_FOUND for the object asked
    /// for, so that nothing tells a hidden study from a missing one. Any other error (a
    /// database failure above all) stays what it is.
    pub fn hidden_as(self, what: &str) -> Self {
        match self {
            Self::NotFound(_) | Self::Forbidden(_) => Self::not_found(what),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_missing_or_hidden_parents_become_not_found() {
        let hidden = ServiceError::Forbidden("no".into()).hidden_as("memo");
        assert!(matches!(hidden, ServiceError::NotFound(w) if w == "memo"));
        let missing = ServiceError::not_found("study").hidden_as("memo");
        assert!(matches!(missing, ServiceError::NotFound(w) if w == "memo"));
        let failed = ServiceError::Database(DbErr::Custom("disk".into())).hidden_as("memo");
        assert!(matches!(failed, ServiceError::Database(_)));
    }

    #[test]
    fn a_row_gone_before_its_update_is_a_conflict() {
        assert!(matches!(
            ServiceError::from(DbErr::RecordNotUpdated),
            ServiceError::Conflict(_)
        ));
        assert!(matches!(
            ServiceError::from(DbErr::Custom("disk".into())),
            ServiceError::Database(_)
        ));
    }
}
