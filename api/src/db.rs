//! Connecting to SQLite or PostgreSQL (the URL decides), migrating, counting statements.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database as SeaDatabase, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait,
};

/// A connection pool and the number of SQL statements it has run (for /metrics and the
/// N+1 tests).
#[derive(Clone)]
pub struct Database {
    pub conn: DatabaseConnection,
    pub statements: Arc<AtomicU64>,
}

impl Database {
    pub fn statement_count(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }
}

pub async fn connect(url: &str, max_connections: u32) -> Result<Database, DbErr> {
    let mut opt = ConnectOptions::new(url.to_owned());
    opt.max_connections(max_connections.max(1))
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        // WAL lets readers run beside the one writer; the busy timeout makes writers queue
        // instead of failing. Writers also begin IMMEDIATE (see `begin_write`).
        opt.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(30))
                .create_if_missing(true)
                .foreign_keys(true)
        });
    }
    let mut conn = SeaDatabase::connect(opt).await?;
    let statements = Arc::new(AtomicU64::new(0));
    let counter = statements.clone();
    conn.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    Ok(Database { conn, statements })
}

/// Applies pending migrations. On PostgreSQL an advisory lock makes replicas that start
/// together apply them once.
pub async fn migrate(conn: &DatabaseConnection) -> Result<(), DbErr> {
    const LOCK_KEY: i64 = 0x7175_6164_6572; // "quader"
    if conn.get_database_backend() == DbBackend::Postgres {
        let lock = Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT pg_advisory_lock({LOCK_KEY})"),
        );
        // The lock is per session: hold one connection for lock, migrate, unlock.
        let txn = conn.begin().await?;
        txn.execute_raw(lock).await?;
        let result = Migrator::up(&txn, None).await;
        txn.execute_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT pg_advisory_unlock({LOCK_KEY})"),
        ))
        .await?;
        result?;
        txn.commit().await
    } else {
        Migrator::up(conn, None).await
    }
}

/// Begins a write transaction. On SQLite it starts IMMEDIATE, so that two writers queue on the
/// busy timeout rather than failing when a read lock would have to be upgraded.
pub async fn begin_write(conn: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    conn.begin_with_options(TransactionOptions {
        isolation_level: None,
        access_mode: None,
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
    })
    .await
}

/// A URL for a fresh, empty database for tests and benchmarks: a new database on the
/// PostgreSQL server of `postgres_base` when given, else a SQLite file in `dir`.
pub async fn scratch_database_url(
    postgres_base: Option<&str>,
    dir: &std::path::Path,
) -> Result<String, DbErr> {
    let Some(base) = postgres_base.filter(|b| b.starts_with("postgres")) else {
        return Ok(format!("sqlite://{}/quaderno.db?mode=rwc", dir.display()));
    };
    let name = format!(
        "quaderno_test_{}_{:08x}",
        std::process::id(),
        rand::random::<u32>()
    );
    let admin = SeaDatabase::connect(base.to_owned()).await?;
    admin
        .execute_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("CREATE DATABASE {name}"),
        ))
        .await?;
    admin.close().await?;
    let (prefix, _) = base
        .rsplit_once('/')
        .ok_or_else(|| DbErr::Custom(format!("{base} names no database")))?;
    Ok(format!("{prefix}/{name}"))
}
