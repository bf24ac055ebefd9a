//! quaderno's benchmark harness: a seeded corpus, the server driven over its public API
//! (GraphQL over HTTP, /metrics, /readyz), and in the same run the baselines a user would
//! otherwise pick (tantivy used directly, PostgreSQL full-text search). See BENCHMARKS.md.

pub mod corpus;
pub mod pg;
pub mod raw;
pub mod report;
pub mod server;
pub mod workloads;

use std::path::PathBuf;
use std::time::Duration;

pub use report::Report;

/// The workloads, by name.
pub const ALL: &[&str] = &["W1", "W2", "W3", "W4", "W5", "W6", "W7"];

#[derive(Debug, Clone)]
pub struct Config {
    pub size: corpus::Size,
    /// Interviews to generate (the size's count unless overridden).
    pub interviews: usize,
    pub seed: u64,
    /// Seed documents to learn the vocabulary from (optional).
    pub seeds_dir: Option<PathBuf>,
    /// Scratch space for the server's data and the baselines' indexes.
    pub work_dir: PathBuf,
    /// The executable that runs the server (`serve-quaderno`).
    pub exe: PathBuf,
    /// A PostgreSQL server for the server under test (a scratch database is made on it);
    /// None: SQLite.
    pub server_postgres: Option<String>,
    /// A PostgreSQL server for W7 (a scratch database is made and dropped).
    pub fts_postgres: Option<String>,
    pub workloads: Vec<String>,
    /// Timed runs of each W3 query (each side).
    pub search_iterations: usize,
    /// W3 and W4 search as a viewer of the corpus's study (who may not read the demo's
    /// private studies, so scores count statistics over readable studies), not as an admin.
    pub search_as_viewer: bool,
    /// W3: longest wait for the server to go idle after the import.
    pub settle_limit: Duration,
    /// W2: edits timed one by one until searchable.
    pub edit_samples: usize,
    /// W2: single edits in all, before the segment count is read.
    pub edits: usize,
    /// W4: seconds per concurrency level.
    pub concurrency_seconds: f64,
    pub concurrency_levels: Vec<usize>,
    /// Concurrent clients importing.
    pub import_clients: usize,
    /// Quotations created for W5; W5 reads pages of 10, 100 and this many.
    pub quotations: usize,
}

impl Config {
    pub fn new(size: corpus::Size, work_dir: PathBuf, exe: PathBuf) -> Self {
        Self {
            size,
            interviews: size.interviews(),
            seed: 8,
            seeds_dir: None,
            work_dir,
            exe,
            server_postgres: None,
            fts_postgres: None,
            workloads: ALL.iter().map(|s| s.to_string()).collect(),
            search_iterations: 200,
            search_as_viewer: false,
            settle_limit: Duration::from_secs(300),
            edit_samples: 200,
            edits: 10_000,
            concurrency_seconds: 10.0,
            concurrency_levels: vec![1, 8, 64],
            import_clients: 4,
            quotations: 1_000,
        }
    }

    /// Reduced counts for the smoke test: every workload runs, nothing is measured well.
    pub fn smoke(work_dir: PathBuf, exe: PathBuf) -> Self {
        Self {
            search_iterations: 3,
            settle_limit: Duration::from_secs(5),
            edit_samples: 5,
            edits: 30,
            concurrency_seconds: 0.3,
            concurrency_levels: vec![1, 8],
            quotations: 40,
            ..Self::new(corpus::Size::S, work_dir, exe)
        }
    }

    pub fn runs(&self, workload: &str) -> bool {
        self.workloads
            .iter()
            .any(|w| w.eq_ignore_ascii_case(workload))
    }
}

/// Runs the selected workloads and returns their results.
pub async fn run(config: &Config) -> anyhow::Result<Report> {
    workloads::run(config).await
}
