//! The `quaderno` binary as an operator runs it (serve, the CLI, crashes, replicas, backups),
//! GraphiQL in a browser, migrations over existing data, and the checked-in SDL.
//!
//! One test binary rather than one per file: each binary links the whole server.

mod common;

mod cli;
mod cli_import;
mod cli_refi;
mod cli_roles;
mod crash;
mod graphiql;
mod migrations;
mod ops;
mod replicas;
mod schema;
