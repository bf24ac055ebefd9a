//! The end-to-end tests: each module drives a real server over HTTP (on SQLite, or on the
//! PostgreSQL that `QUADERNO_TEST_DATABASE_URL` names), one concern per module.
//!
//! One test binary rather than one per file: each binary links the whole server, and
//! relinking nineteen of them took 88 s, against 16 s for this one. The binary has one global
//! allocator, the counting one in `search` (per-thread counts, so tests running side by side
//! do not disturb each other's).

mod analysis;
mod coding;
mod deletion;
mod discontinuities;
mod exports;
mod import;
mod index_recovery;
mod judgments_deletion;
mod lemma;
mod live;
mod members;
mod reads;
mod refi;
mod requests;
mod search;
mod security;
mod seeds;
mod territory;
mod writes;
