//! The service layer's error type. The GraphQL edge maps it to `extensions.code` once
//! (`graphql::error`); database details never leave the server.

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
    Database(#[from] sea_orm::DbErr),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }
    pub fn bad_input(msg: impl Into<String>) -> Self {
        Self::BadInput(msg.into())
    }
}
