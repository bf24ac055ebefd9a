//! A fast run of the whole harness on corpus S with reduced iteration counts, so that it
//! keeps working. It asserts what does not depend on timing: the GraphQL results agree with
//! the raw tantivy searcher, no response under concurrency carries an error, nested reads
//! are batched, and single edits do not pile up segments. Timings are printed, never judged.
//!
//! With QUADERNO_TEST_DATABASE_URL naming a PostgreSQL server, the server under test runs
//! on a scratch database there and W7 (PostgreSQL full-text search) runs too; otherwise the
//! server uses SQLite and W7 is skipped.

use std::path::PathBuf;

#[test]
fn harness_runs_every_workload_on_corpus_s() {
    let dir = tempfile::tempdir().expect("temp dir");
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_quaderno-bench"));
    let mut config = bench::Config::smoke(dir.path().join("work"), exe);
    let seeds = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/seeds");
    config.seeds_dir = seeds.is_dir().then_some(seeds);
    let postgres = std::env::var("QUADERNO_TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"));
    config.server_postgres = postgres.clone();
    config.fts_postgres = postgres.clone();

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let report = runtime.block_on(bench::run(&config)).expect("harness run");
    println!("{}", report.markdown());

    for w in ["W1", "W2", "W3", "W4", "W5", "W6"] {
        assert!(
            report.rows.iter().any(|r| r.workload == w),
            "{w} reported nothing"
        );
    }
    assert!(
        report.rows.iter().any(|r| r.metric.contains("in process")),
        "W3 in process reported nothing"
    );
    if postgres.is_some() {
        assert!(report.rows.iter().any(|r| r.workload == "W7"));
    }
    assert!(report.mismatches.is_empty(), "{:?}", report.mismatches);
    assert_eq!(report.errors, 0, "responses with errors under concurrency");
    assert!(report.statements.len() >= 2, "{:?}", report.statements);
    let (small, large) = (report.statements[0], *report.statements.last().unwrap());
    assert_eq!(large.0, config.quotations);
    // An N+1 read costs a statement or more per row; this only rules that out. That the
    // count is exactly the same whatever the rows is asserted in tests/tests/e2e/reads.rs.
    assert!(
        large.1.saturating_sub(small.1) < (large.0 - small.0) as u64 / 2,
        "statements grow with rows: {:?}",
        report.statements
    );
    let segments = report.segments_after_edits.expect("segment count");
    assert!(segments <= 50, "{segments} segments after single edits");
}
