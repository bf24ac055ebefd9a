//! Connecting to SQLite or PostgreSQL (the URL decides), migrating, counting statements.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{
    AccessMode, ConnectOptions, ConnectionTrait, Database as SeaDatabase, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, ExecResult, IsolationLevel, QueryResult,
    SqliteTransactionMode, Statement, TransactionError, TransactionOptions, TransactionTrait,
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
    connect_within(url, max_connections, FIRST_CONNECTION_DEADLINE).await
}

/// How long a start waits for its first connection. A server that does not answer (down,
/// a wrong port, a host that drops packets) is retried by the pool until its acquire
/// timeout, which is for requests waiting on a busy pool (30 s), and then reported as a pool
/// timeout that does not name the server; a wrong password or database name, or a host name
/// that does not resolve, is refused at once, with the reason.
pub const FIRST_CONNECTION_DEADLINE: Duration = Duration::from_secs(10);

async fn connect_within(
    url: &str,
    max_connections: u32,
    deadline: Duration,
) -> Result<Database, DbErr> {
    let mut opt = ConnectOptions::new(url.to_owned());
    opt.max_connections(max_connections.max(1))
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    // sqlx pings a pooled connection on every checkout by default: a second round trip per
    // statement (on SQLite a second hop to the connection's thread: `SELECT 1` took 0.080 ms
    // with it, 0.035 ms without). A SQLite connection is a file handle in this process and
    // cannot go stale; a PostgreSQL one can (server restart, proxy or firewall timeouts), so
    // it is tested only after sitting idle.
    if url.starts_with("sqlite:") {
        opt.test_before_acquire(false);
        // WAL lets readers run beside the one writer; the busy timeout makes writers queue
        // instead of failing. Writers also begin IMMEDIATE (see `begin_write`).
        // secure_delete: what a delete or an update frees is overwritten with zeros, so that
        // an erased transcript does not stay readable in free pages (SECURITY.md).
        opt.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(30))
                .create_if_missing(true)
                .foreign_keys(true)
                .pragma("secure_delete", "ON")
        });
    } else {
        opt.test_before_acquire_if_idle_for(Duration::from_secs(30));
    }
    let mut conn = tokio::time::timeout(deadline, SeaDatabase::connect(opt))
        .await
        .map_err(|_| {
            DbErr::Conn(sea_orm::RuntimeErr::Internal(format!(
                "the database at {} did not answer within {} s: is it running, and are the \
                 host and port right?",
                without_credentials(url),
                deadline.as_secs_f64()
            )))
        })??;
    if conn.get_database_backend() == DbBackend::Postgres {
        require_utf8(&conn).await?;
    }
    let statements = Arc::new(AtomicU64::new(0));
    let counter = statements.clone();
    conn.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    Ok(Database { conn, statements })
}

/// Refuses a PostgreSQL database not encoded in UTF-8. Offsets into transcripts are code
/// points, and PostgreSQL counts the characters of `substr` (quotations' words are cut by the
/// database) in the database's encoding: in a SQL_ASCII one, what Debian makes under the C
/// locale, it counts bytes, and every quotation after an accent would lose its words.
async fn require_utf8(conn: &DatabaseConnection) -> Result<(), DbErr> {
    let show = Statement::from_string(DbBackend::Postgres, "SHOW server_encoding");
    let encoding: String = match conn.query_one_raw(show).await? {
        Some(row) => row.try_get_by_index(0)?,
        None => String::new(),
    };
    if encoding.eq_ignore_ascii_case("UTF8") {
        return Ok(());
    }
    Err(DbErr::Custom(format!(
        "the database is encoded in {encoding}, and quaderno needs UTF8 (transcript offsets \
         are code points, which PostgreSQL counts in the database's encoding): create it with \
         `CREATE DATABASE … ENCODING 'UTF8' TEMPLATE template0`"
    )))
}

/// A database URL as it may be shown: without its user and password, and without its
/// parameters (`?password=` is one way to give it).
fn without_credentials(url: &str) -> String {
    let url = url.split_once('?').map_or(url, |(place, _)| place);
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, place))) => format!("{scheme}://{place}"),
        _ => url.to_owned(),
    }
}

/// After an erasure, on SQLite: copies the write-ahead log into the database file and empties
/// it, in the background. `secure_delete` zeroed the erased rows in the pages the erasure
/// wrote, but the log still holds earlier images of those pages, and SQLite's own checkpoints
/// only write it over from its start, never shrink it. On PostgreSQL there is nothing to do
/// here: dead rows wait for VACUUM (SECURITY.md).
pub fn empty_write_ahead_log(conn: DatabaseConnection) {
    if conn.get_database_backend() != DbBackend::Sqlite {
        return;
    }
    // One at a time: a checkpoint waits for the writer of the moment (an import can write
    // for seconds) and holds a connection of the index writer's small pool meanwhile. One
    // waiting its turn holds none, and starts after the erasure that queued it committed.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    tokio::spawn(async move {
        let _turn = ONE_AT_A_TIME.lock().await;
        let checkpoint =
            Statement::from_string(DbBackend::Sqlite, "PRAGMA wal_checkpoint(TRUNCATE)");
        // One row: whether it was kept from finishing (busy), then the log's frames.
        match conn.query_one_raw(checkpoint).await {
            Ok(Some(row)) if row.try_get_by_index::<i32>(0).is_ok_and(|busy| busy == 0) => {
                tracing::debug!("write-ahead log emptied after an erasure");
            }
            Ok(_) => tracing::warn!(
                "the write-ahead log could not be emptied after an erasure (kept busy): it may \
                 hold the erased rows until the next erasure empties it"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "emptying the write-ahead log after an erasure failed")
            }
        }
    });
}

/// Applies pending migrations, all or none: a start killed halfway leaves the schema as it
/// was, not tables that the migration table does not know of (the next start would fail on
/// them). Processes starting together apply them once: on PostgreSQL an advisory lock orders
/// them, on SQLite the IMMEDIATE transaction (the second waits on the busy timeout, then
/// finds nothing pending).
pub async fn migrate(conn: &DatabaseConnection) -> Result<(), DbErr> {
    const LOCK_KEY: i64 = 0x7175_6164_6572; // "quader"
    if conn.get_database_backend() == DbBackend::Postgres {
        // A transaction-level lock, released by the commit itself: a session lock released
        // before the commit let the next replica in while the tables were still invisible
        // to it, and its CREATE TABLE then failed.
        let txn = conn.begin().await?;
        txn.execute_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT pg_advisory_xact_lock({LOCK_KEY})"),
        ))
        .await?;
        Migrator::up(&txn, None).await?;
        txn.commit().await
    } else {
        let txn = begin_write(conn).await?;
        Migrator::up(&txn, None).await?;
        txn.commit().await
    }
}

/// Runs `work` while holding a PostgreSQL advisory lock, so that of several replicas starting
/// at once only one does it at a time (loading the demo into an empty database: the others
/// then find it loaded). On SQLite it just runs. The lock is taken on `lock_conn`, which
/// `work` should not need.
pub async fn exclusively<T, F>(lock_conn: &DatabaseConnection, work: F) -> anyhow::Result<T>
where
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    const LOCK_KEY: i64 = 0x7175_6164_6473; // "quadds"
    if lock_conn.get_database_backend() != DbBackend::Postgres {
        return work.await;
    }
    // A transaction-level lock: released when the transaction ends, also if this process
    // dies.
    let holder = lock_conn.begin().await?;
    holder
        .execute_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT pg_advisory_xact_lock({LOCK_KEY})"),
        ))
        .await?;
    let result = work.await;
    holder.commit().await?;
    result
}

/// Ids bound per statement where a list of ids that grows with the data (a study's quotations
/// or memos, an interview's quotations) is sent in chunks. Every value bound is a parameter,
/// and a statement with more than its backend takes fails outright: SQLite takes at most
/// 32,766, PostgreSQL 65,535. Where a list can be a subquery instead, nothing is bound at all.
pub const IDS_PER_STATEMENT: usize = 1000;

/// Where a write can run: the pool (directly, or as a mutation's `RequestDb`), or an
/// enclosing transaction. Inside one, a service's own transaction is a savepoint, and
/// nothing it writes is committed until the enclosing one is (the demo dataset loads whole
/// or not at all).
pub trait Writable:
    ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction> + Sync
{
}

impl<C: ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction> + Sync> Writable
    for C
{
}

/// Begins a write transaction. On SQLite it starts IMMEDIATE, so that two writers queue on the
/// busy timeout rather than failing when a read lock would have to be upgraded.
pub async fn begin_write(conn: &impl Writable) -> Result<DatabaseTransaction, DbErr> {
    conn.begin_with_options(TransactionOptions {
        isolation_level: None,
        access_mode: None,
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
    })
    .await
}

/// Begins a transaction whose reads all see one state of the database, so that what several
/// statements read fits together (a transcript with the quotation offsets of that same
/// version, quotations with codes of the codebook read). PostgreSQL's default READ
/// COMMITTED takes a snapshot per statement, REPEATABLE READ one per transaction; a SQLite
/// read transaction in WAL mode keeps the snapshot of its first read.
pub async fn begin_snapshot(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            db.begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await
        }
        _ => db.begin().await,
    }
}

/// The database as one GraphQL operation reads it.
///
/// A query reads one state of the database, whatever number of statements its fields take:
/// without it, a transcript and the offsets of its quotations, or a code and the quotations
/// tagged with it, could come from either side of an edit committed between two of them. Its
/// read transaction begins at its first statement (a query answered from the search index
/// alone takes no connection) and ends when the last handle is dropped.
///
/// A mutation's fields each write and then answer, and a subscription checks and then
/// answers each event (`Answers`).
#[derive(Clone, Debug)]
pub enum RequestDb {
    Snapshot(Arc<Snapshot>),
    Answers(Arc<Answers>),
}

#[derive(Debug)]
pub struct Snapshot {
    pool: DatabaseConnection,
    txn: tokio::sync::OnceCell<DatabaseTransaction>,
    /// Which snapshot it is, never reused by another in this process: what is read once
    /// per snapshot is kept under it (`graphql::RequestCtx`).
    id: u64,
}

impl Snapshot {
    fn new(pool: DatabaseConnection) -> Arc<Self> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Arc::new(Self {
            pool,
            txn: tokio::sync::OnceCell::new(),
            id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    async fn txn(&self) -> Result<&DatabaseTransaction, DbErr> {
        self.txn
            .get_or_try_init(|| begin_snapshot(&self.pool))
            .await
    }
}

/// A mutation's reads. Its fields run one after another, each a write (in transactions of
/// its own) and then its answer. While a field writes, it reads from the pool: it must see
/// what the fields before it wrote. Its answer reads one snapshot, begun at the answer's
/// first statement, after the write committed: so a transcript and its quotations' offsets
/// read there fit together like a query's, also while other edits commit. The switches are
/// made by `graphql::mutation_answers`, where each field begins and its answer does.
///
/// A subscription's events are answered the same way (`graphql::live`): the checks before
/// each event read the pool, its fields one snapshot, which the socket ends as soon as the
/// event is answered, before it sends it (a subscription lives for hours, and a client may
/// stop reading: neither must hold a connection).
#[derive(Debug)]
pub struct Answers {
    pool: DatabaseConnection,
    snapshot: std::sync::Mutex<Option<Arc<Snapshot>>>,
}

impl RequestDb {
    /// One snapshot for every read made through this handle and its clones.
    pub fn snapshot(pool: DatabaseConnection) -> Self {
        Self::Snapshot(Snapshot::new(pool))
    }

    /// A mutation's or a subscription's reads: from the pool until its first answer (see
    /// `Answers`).
    pub fn answers(pool: DatabaseConnection) -> Self {
        Self::Answers(Arc::new(Answers {
            pool,
            snapshot: Default::default(),
        }))
    }

    /// A mutation's field begins (a subscription waits for its next event): reads go to the
    /// pool again, and the last answer's snapshot ends (with its last statement), giving its
    /// connection back before the next write. A query's reads do not change.
    pub fn writing(&self) {
        if let Self::Answers(a) = self {
            a.slot().take();
        }
    }

    /// A mutation's field has written (a subscription's event has been checked): its answer
    /// reads one snapshot from its first statement on. Once per answer; a query's reads do
    /// not change.
    pub fn answering(&self) {
        if let Self::Answers(a) = self {
            a.slot()
                .get_or_insert_with(|| Snapshot::new(a.pool.clone()));
        }
    }

    /// The pool itself, for a mutation's or a subscription's work that is not the request's
    /// to read: waiting for the search index, which polls on its own pool, or checking a
    /// token again. Never in a query or below a mutation's field (its answer), which would
    /// hold a second connection beside their snapshot's (on a pool of one, waiting for
    /// itself).
    pub fn pool(&self) -> &DatabaseConnection {
        match self {
            Self::Snapshot(s) => &s.pool,
            Self::Answers(a) => &a.pool,
        }
    }

    /// The snapshot this handle reads now, else a new one of its pool (while a mutation's
    /// field writes): for reads that must fit together wherever they are made (an analysis
    /// of the codes).
    pub fn one_snapshot(&self) -> Self {
        match self.reading() {
            Some(s) => Self::Snapshot(s),
            None => Self::snapshot(self.pool().clone()),
        }
    }

    /// Which snapshot the next statement reads, if it reads one: a query's, or a mutation
    /// field's or a subscription event's answer. While it is the same, what was read stays
    /// true.
    pub fn snapshot_id(&self) -> Option<u64> {
        self.reading().map(|s| s.id)
    }

    /// The snapshot the next statement reads, if it reads one.
    fn reading(&self) -> Option<Arc<Snapshot>> {
        match self {
            Self::Snapshot(s) => Some(s.clone()),
            Self::Answers(a) => a.slot().clone(),
        }
    }

    fn writable_pool(&self) -> Result<&DatabaseConnection, DbErr> {
        match self {
            Self::Answers(a) => Ok(&a.pool),
            Self::Snapshot(_) => Err(DbErr::Custom(
                "a query reads one snapshot of the database and writes nothing".into(),
            )),
        }
    }
}

impl Answers {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Arc<Snapshot>>> {
        // Nothing panics while holding it; a poisoned lock still holds a valid Option.
        self.snapshot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for RequestDb {
    fn get_database_backend(&self) -> DbBackend {
        self.pool().get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self.reading() {
            Some(s) => s.txn().await?.execute_raw(stmt).await,
            None => self.pool().execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self.reading() {
            Some(s) => s.txn().await?.execute_unprepared(sql).await,
            None => self.pool().execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self.reading() {
            Some(s) => s.txn().await?.query_one_raw(stmt).await,
            None => self.pool().query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self.reading() {
            Some(s) => s.txn().await?.query_all_raw(stmt).await,
            None => self.pool().query_all_raw(stmt).await,
        }
    }
}

/// Transactions begin on the pool only. A snapshot writes nothing, and is not nested: a
/// savepoint in it would share its connection's lock with the query's other fields, and a
/// savepoint dropped while another holds that lock (a cancelled query) panics in sea-orm's
/// rollback on drop. Reads that must fit together read the request's snapshot itself
/// (`one_snapshot`).
#[async_trait::async_trait]
impl TransactionTrait for RequestDb {
    type Transaction = DatabaseTransaction;

    async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        self.writable_pool()?.begin().await
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<DatabaseTransaction, DbErr> {
        self.writable_pool()?
            .begin_with_config(isolation_level, access_mode)
            .await
    }

    async fn begin_with_options(
        &self,
        options: TransactionOptions,
    ) -> Result<DatabaseTransaction, DbErr> {
        self.writable_pool()?.begin_with_options(options).await
    }

    async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c DatabaseTransaction,
            ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        self.writable_pool()
            .map_err(TransactionError::Connection)?
            .transaction(callback)
            .await
    }

    async fn transaction_with_config<F, T, E>(
        &self,
        callback: F,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c DatabaseTransaction,
            ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        self.writable_pool()
            .map_err(TransactionError::Connection)?
            .transaction_with_config(callback, isolation_level, access_mode)
            .await
    }
}

/// A URL for a fresh, empty database for tests and benchmarks: a new database on the
/// PostgreSQL server of `postgres_base` when given, else a SQLite file in `dir`.
pub async fn scratch_database_url(
    postgres_base: Option<&str>,
    dir: &std::path::Path,
) -> Result<String, DbErr> {
    match postgres_base.filter(|b| b.starts_with("postgres")) {
        Some(base) => scratch_postgres_database(base, None).await,
        None => Ok(format!("sqlite://{}/quaderno.db?mode=rwc", dir.display())),
    }
}

/// A new database on the PostgreSQL server of `base` (a URL naming one of its databases),
/// empty or a copy of `template`, a database on that server no one is connected to.
pub async fn scratch_postgres_database(
    base: &str,
    template: Option<&str>,
) -> Result<String, DbErr> {
    let name = format!(
        "quaderno_test_{}_{:08x}",
        std::process::id(),
        rand::random::<u32>()
    );
    let admin = SeaDatabase::connect(base.to_owned()).await?;
    let create = match template {
        Some(template) => format!("CREATE DATABASE {name} TEMPLATE {template}"),
        // UTF8 whatever the cluster's default (SQL_ASCII under the C locale), which a
        // start refuses (`require_utf8`).
        None => format!("CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0"),
    };
    admin
        .execute_raw(Statement::from_string(DbBackend::Postgres, create))
        .await?;
    admin.close().await?;
    let (prefix, _) = base
        .rsplit_once('/')
        .ok_or_else(|| DbErr::Custom(format!("{base} names no database")))?;
    Ok(format!("{prefix}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SQLite database of one empty table `t`, in a directory removed when dropped.
    async fn table_t() -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/quaderno.db?mode=rwc", dir.path().display());
        let db = connect(&url, 2).await.unwrap();
        db.conn
            .execute_unprepared("CREATE TABLE t (x INTEGER)")
            .await
            .unwrap();
        (dir, db)
    }

    async fn count(db: impl ConnectionTrait) -> i64 {
        let sql = Statement::from_string(DbBackend::Sqlite, "SELECT count(*) FROM t");
        let row = db.query_one_raw(sql).await.unwrap().unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    }

    /// A snapshot reads the state of its first read while a write commits beside it, and
    /// begins no transaction: a write through it is refused (on SQLite it would have been
    /// rolled back with the snapshot, and lost).
    #[tokio::test]
    async fn a_snapshot_reads_one_state_and_refuses_to_write() {
        let (_dir, db) = table_t().await;
        let pool = db.conn.clone();
        pool.execute_unprepared("INSERT INTO t VALUES (1)")
            .await
            .unwrap();
        let snapshot = RequestDb::snapshot(db.conn.clone());
        assert_eq!(count(snapshot.clone()).await, 1);
        pool.execute_unprepared("INSERT INTO t VALUES (2)")
            .await
            .unwrap();
        assert_eq!(count(pool.clone()).await, 2);
        assert_eq!(count(snapshot.one_snapshot()).await, 1);
        assert!(begin_write(&snapshot).await.is_err());
        assert!(snapshot.begin().await.is_err());
        begin_write(&pool).await.unwrap().commit().await.unwrap();
    }

    /// A mutation's field reads the latest state while it writes; its answer reads one
    /// snapshot begun at the answer's first read, and the next field reads the latest again.
    #[tokio::test]
    async fn a_mutation_s_answer_reads_one_state_from_after_its_write() {
        let (_dir, db) = table_t().await;
        let pool = db.conn.clone();
        let insert = || async {
            let txn = begin_write(&pool).await.unwrap();
            txn.execute_unprepared("INSERT INTO t VALUES (1)")
                .await
                .unwrap();
            txn.commit().await.unwrap();
        };
        let mutation = RequestDb::answers(db.conn.clone());
        // The first field writes through the mutation's handle, and reads its write.
        mutation.writing();
        let txn = begin_write(&mutation).await.unwrap();
        txn.execute_unprepared("INSERT INTO t VALUES (1)")
            .await
            .unwrap();
        txn.commit().await.unwrap();
        assert_eq!(count(mutation.clone()).await, 1);
        // Its answer: one state, whatever commits beside it once it has begun.
        mutation.answering();
        assert_eq!(count(mutation.clone()).await, 1);
        insert().await;
        assert_eq!(count(mutation.clone()).await, 1);
        mutation.answering();
        assert_eq!(count(mutation.one_snapshot()).await, 1, "the answer's own");
        // The next field sees everything committed.
        mutation.writing();
        assert_eq!(count(mutation.clone()).await, 2);
        insert().await;
        assert_eq!(count(mutation.clone()).await, 3);
    }

    #[tokio::test]
    async fn sqlite_connections_are_not_pinged_at_every_checkout() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/quaderno.db?mode=rwc", dir.path().display());
        let db = connect(&url, 2).await.unwrap();
        let pool = db.conn.get_sqlite_connection_pool();
        assert!(!pool.options().get_test_before_acquire());
    }

    /// A server that does not answer is reported by its address, at the deadline, without
    /// the password of the URL. (Nothing listens on port 1; the pool would retry for its
    /// whole acquire timeout.)
    #[tokio::test]
    async fn an_unreachable_server_is_named_at_the_deadline() {
        let url = "postgres://quaderno:segreto@127.0.0.1:1/test";
        let started = std::time::Instant::now();
        let Err(e) = connect_within(url, 2, Duration::from_millis(500)).await else {
            panic!("connected to port 1");
        };
        assert!(started.elapsed() < Duration::from_secs(10), "{e}");
        let message = e.to_string();
        assert!(message.contains("postgres://127.0.0.1:1/test"), "{message}");
        assert!(message.contains("did not answer within 0.5 s"), "{message}");
        assert!(!message.contains("segreto"), "{message}");
        assert_eq!(
            without_credentials("postgres://db.example:5432/q?user=u&password=segreto"),
            "postgres://db.example:5432/q"
        );
        assert_eq!(
            without_credentials("sqlite:///tmp/q.db"),
            "sqlite:///tmp/q.db"
        );
    }

    /// A PostgreSQL database in another encoding than UTF8 is refused at the start, with how
    /// to make one that is taken (PostgreSQL only: QUADERNO_TEST_DATABASE_URL).
    #[tokio::test]
    async fn a_postgres_database_not_in_utf8_is_refused() {
        let Ok(base) = std::env::var("QUADERNO_TEST_DATABASE_URL") else {
            return;
        };
        let admin = connect(&base, 1).await.unwrap().conn;
        let name = format!("quaderno_ascii_{}", std::process::id());
        let run = |sql: String| {
            let admin = admin.clone();
            async move { admin.execute_unprepared(&sql).await }
        };
        run(format!("DROP DATABASE IF EXISTS {name}"))
            .await
            .unwrap();
        run(format!(
            "CREATE DATABASE {name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' \
             TEMPLATE template0"
        ))
        .await
        .unwrap();
        let (place, _) = base.rsplit_once('/').unwrap();
        let refused = connect(&format!("{place}/{name}"), 1).await;
        run(format!("DROP DATABASE {name} WITH (FORCE)"))
            .await
            .unwrap();
        let Err(e) = refused else {
            panic!("a SQL_ASCII database was taken");
        };
        let message = e.to_string();
        assert!(
            message.contains("encoded in SQL_ASCII") && message.contains("UTF8"),
            "{message}"
        );
    }

    /// Every foreign key can be followed backwards through an index: deleting a referenced
    /// row (ON DELETE CASCADE, or the checks before a delete) and the lookups from the other
    /// end read the referencing rows by that column, and PostgreSQL does not index foreign
    /// keys by itself. The keys are read from the schema, so a new table's are checked too.
    /// SQLite's plan says SCAN for a whole table and SEARCH for an index; PostgreSQL's planner
    /// may still scan tables this small, so the plans are read on SQLite only.
    #[tokio::test]
    async fn every_foreign_key_is_searched_through_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/quaderno.db?mode=rwc", dir.path().display());
        let db = connect(&url, 1).await.unwrap().conn;
        migrate(&db).await.unwrap();
        let keys = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT m.name AS tbl, f.\"from\" AS col FROM sqlite_master m, \
                 pragma_foreign_key_list(m.name) f WHERE m.type = 'table' ORDER BY 1, 2",
            ))
            .await
            .unwrap();
        assert!(keys.len() > 30, "{} foreign keys", keys.len());
        let mut unindexed = Vec::new();
        for key in keys {
            let table: String = key.try_get("", "tbl").unwrap();
            let column: String = key.try_get("", "col").unwrap();
            let sql = format!("EXPLAIN QUERY PLAN SELECT * FROM {table} WHERE {column} = 1");
            let plan: Vec<String> = db
                .query_all_raw(Statement::from_string(DbBackend::Sqlite, sql))
                .await
                .unwrap()
                .iter()
                .map(|row| row.try_get::<String>("", "detail").unwrap())
                .collect();
            if !plan.iter().all(|step| step.starts_with("SEARCH")) {
                unindexed.push(format!("{table}.{column}: {plan:?}"));
            }
        }
        assert!(unindexed.is_empty(), "{unindexed:#?}");
    }

    /// A migration that fails halfway leaves nothing of itself: on SQLite its tables used to
    /// stay, unrecorded, and every later start failed on "index already exists".
    #[tokio::test]
    async fn a_migration_that_fails_halfway_leaves_the_schema_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let base = std::env::var("QUADERNO_TEST_DATABASE_URL").ok();
        let url = scratch_database_url(base.as_deref(), dir.path())
            .await
            .unwrap();
        let db = connect(&url, 2).await.unwrap().conn;
        // Tables and indexes share one namespace on both backends: the first migration's
        // last index cannot be made while a table holds its name.
        let blocker = "ux_api_token_token_hash";
        db.execute_unprepared(&format!("CREATE TABLE {blocker} (x INTEGER)"))
            .await
            .unwrap();
        let failed = migrate(&db).await.unwrap_err();
        assert!(failed.to_string().contains(blocker), "{failed}");
        let tables = |db: DatabaseConnection| async move {
            let sql = match db.get_database_backend() {
                DbBackend::Postgres => {
                    "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'ambito'"
                }
                _ => "SELECT count(*) AS n FROM sqlite_master WHERE name = 'ambito'",
            };
            db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
                .await
                .unwrap()
                .unwrap()
                .try_get::<i64>("", "n")
                .unwrap()
        };
        assert_eq!(tables(db.clone()).await, 0, "the first table stayed");

        db.execute_unprepared(&format!("DROP TABLE {blocker}"))
            .await
            .unwrap();
        migrate(&db).await.unwrap();
        assert_eq!(tables(db.clone()).await, 1);
    }
}
