//! /metrics: counters kept as requests run, and gauges read when Prometheus scrapes (index
//! lag and size, database pools). One registry per server, so that several servers in one
//! process (the tests) do not share counts.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use async_graphql::parser::types::DocumentOperations;
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use sea_orm::{DatabaseConnection, DbBackend};

use crate::db::Database;
use crate::search::SearchIndex;

/// Distinct operation names kept as labels; later ones are counted as `other`, so that
/// clients choosing names cannot grow the series without bound.
const MAX_OPERATIONS: usize = 200;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    errors: IntCounterVec,
    sql_statements: Mutex<IntCounter>,
    index: IntGaugeVec,
    index_lag_seconds: Gauge,
    pool: IntGaugeVec,
    operations: Mutex<HashSet<String>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "quaderno_graphql_requests_total",
                "GraphQL requests by operation name (anonymous without one).",
            ),
            &["operation"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "quaderno_graphql_request_duration_seconds",
                "Time to answer a GraphQL request, by operation name.",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["operation"],
        )
        .expect("valid metric");
        let errors = IntCounterVec::new(
            Opts::new(
                "quaderno_graphql_errors_total",
                "GraphQL errors by extensions.code and operation name.",
            ),
            &["code", "operation"],
        )
        .expect("valid metric");
        // Mirrors the database's own counter (kept in the connection's callback, outside
        // this registry), brought up to date at each scrape.
        let sql_statements = IntCounter::new(
            "quaderno_sql_statements_total",
            "SQL statements run by the request pool since start.",
        )
        .expect("valid metric");
        let index = IntGaugeVec::new(
            Opts::new(
                "quaderno_index",
                "The search index: applied_seq (every change up to it is searchable), \
                 lag_changes (logged changes not yet applied), size_bytes, docs, segments, \
                 ready (0 while it is being built).",
            ),
            &["measure"],
        )
        .expect("valid metric");
        let index_lag_seconds = Gauge::new(
            "quaderno_index_lag_seconds",
            "Age of the oldest logged change the search index has not applied (0 when caught up).",
        )
        .expect("valid metric");
        let pool = IntGaugeVec::new(
            Opts::new(
                "quaderno_db_pool_connections",
                "Database pool connections by pool (requests, index) and state (open, idle, max).",
            ),
            &["pool", "state"],
        )
        .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(errors.clone()),
            Box::new(sql_statements.clone()),
            Box::new(index.clone()),
            Box::new(index_lag_seconds.clone()),
            Box::new(pool.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        Self {
            registry,
            requests,
            latency,
            errors,
            sql_statements: Mutex::new(sql_statements),
            index,
            index_lag_seconds,
            pool,
            operations: Mutex::new(HashSet::new()),
        }
    }

    /// The label for an operation: bounded in number and length.
    fn operation_label(&self, name: &str) -> String {
        let mut known = self.operations.lock().unwrap_or_else(|e| e.into_inner());
        if known.contains(name) {
            return name.to_owned();
        }
        if known.len() >= MAX_OPERATIONS || name.len() > 100 {
            return "other".to_owned();
        }
        known.insert(name.to_owned());
        name.to_owned()
    }

    /// Records one answered GraphQL request; `codes` are its errors' extensions.code.
    pub fn observe<'a>(
        &self,
        operation: &str,
        took: Duration,
        codes: impl IntoIterator<Item = &'a str>,
    ) {
        let operation = self.operation_label(operation);
        self.requests.with_label_values(&[&operation]).inc();
        self.latency
            .with_label_values(&[&operation])
            .observe(took.as_secs_f64());
        for code in codes {
            self.errors.with_label_values(&[code, &operation]).inc();
        }
    }

    /// The text exposition, with the gauges read now.
    pub async fn render(&self, db: &Database, search: &SearchIndex) -> String {
        {
            let counter = self
                .sql_statements
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let now = db.statement_count();
            if now > counter.get() {
                counter.inc_by(now - counter.get());
            }
        }
        let position = search.position();
        let lag = search.lag().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "reading the index lag for /metrics failed");
            Default::default()
        });
        for (measure, value) in [
            ("applied_seq", position.through),
            ("lag_changes", lag.changes),
            ("size_bytes", search.size_bytes() as i64),
            ("docs", search.doc_count() as i64),
            ("segments", search.segment_count() as i64),
            ("ready", i64::from(search.is_ready())),
        ] {
            self.index.with_label_values(&[measure]).set(value);
        }
        self.index_lag_seconds.set(lag.seconds);
        for (name, conn) in [("requests", &db.conn), ("index", search.connection())] {
            let (open, idle, max) = pool_usage(conn);
            for (state, value) in [
                ("open", open as i64),
                ("idle", idle as i64),
                ("max", max as i64),
            ] {
                self.pool.with_label_values(&[name, state]).set(value);
            }
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

/// (open, idle, max) connections of a pool.
fn pool_usage(conn: &DatabaseConnection) -> (u32, usize, u32) {
    match conn.get_database_backend() {
        DbBackend::Postgres => {
            let p = conn.get_postgres_connection_pool();
            (p.size(), p.num_idle(), p.options().get_max_connections())
        }
        DbBackend::Sqlite => {
            let p = conn.get_sqlite_connection_pool();
            (p.size(), p.num_idle(), p.options().get_max_connections())
        }
        _ => (0, 0, 0),
    }
}

/// The name of the operation a request runs: `operationName`, else the name of its only
/// operation, else `anonymous` (or `invalid` when the query does not parse).
///
/// A document parsed here (when `ParsedDocuments` had none) stays in the request and the
/// executor reuses it: the second parse was 4.5% of the server's time in a one-case search.
pub fn operation_name(request: &mut async_graphql::Request) -> String {
    let asked = request.operation_name.clone();
    match (request.parsed_query(), asked) {
        (Err(_), _) => "invalid".to_owned(),
        // A name the document does not hold is refused by the executor: not a label of its
        // own, or a client sending made-up names would use up the labels (`MAX_OPERATIONS`).
        (Ok(doc), Some(name)) => match &doc.operations {
            DocumentOperations::Multiple(ops) if ops.keys().any(|n| n.as_str() == name) => name,
            _ => "unknown".to_owned(),
        },
        (Ok(doc), None) => match &doc.operations {
            DocumentOperations::Multiple(ops) if ops.len() == 1 => {
                ops.keys().next().map(|n| n.to_string()).unwrap_or_default()
            }
            _ => "anonymous".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_come_from_the_request_or_the_document() {
        let mut named = async_graphql::Request::new("query Lista { studies { totalCount } }");
        assert_eq!(operation_name(&mut named), "Lista");
        let mut anonymous = async_graphql::Request::new("{ studies { totalCount } }");
        assert_eq!(operation_name(&mut anonymous), "anonymous");
        let mut chosen =
            async_graphql::Request::new("query A { a } query B { b }").operation_name("B");
        assert_eq!(operation_name(&mut chosen), "B");
        assert_eq!(
            operation_name(&mut async_graphql::Request::new("{ broken")),
            "invalid"
        );
        let mut missing = async_graphql::Request::new("query A { a }").operation_name("Nessuna");
        assert_eq!(operation_name(&mut missing), "unknown");
        let mut unnamed = async_graphql::Request::new("{ a }").operation_name("Nessuna");
        assert_eq!(operation_name(&mut unnamed), "unknown");
    }

    #[test]
    fn operation_labels_are_bounded() {
        let m = Metrics::new();
        for n in 0..MAX_OPERATIONS + 5 {
            m.observe(&format!("Op{n}"), Duration::from_millis(1), []);
        }
        assert_eq!(m.operation_label("Op0"), "Op0");
        assert_eq!(m.operation_label("Op204"), "other");
    }
}
