//! quaderno: a GraphQL server for research teams that study local welfare policy through
//! interviews. See README.md for the architecture; in short:
//!
//! - [`http`] serves the routes and resolves the caller from the Bearer token;
//! - [`graphql`] parses, authorises and maps errors, one module per domain concept;
//! - [`service`] holds the domain rules over a database connection, free of HTTP and GraphQL;
//! - [`db`] connects and migrates; [`demo`] loads the demo dataset through the services.

pub mod auth;
pub mod cli;
pub mod db;
pub mod demo;
pub mod error;
pub mod export;
pub mod graphql;
pub mod http;
pub mod import;
pub mod service;
pub mod text;

pub use error::{ServiceError, ServiceResult};
pub mod search;
