//! Full-text search over transcripts and quotations (tantivy).
//!
//! The index is derived data: the database is the source of truth. Every write to searchable
//! data appends to `change_log` in its transaction; one writer task per process tails the log
//! (`indexer`), and each commit records the last sequence applied. At start a missing,
//! corrupt or outdated index, or one whose recorded position this database's log does not
//! hold (another database, a restored backup), is rebuilt, a lagging one caught up; `/readyz`
//! answers 503 until the index is usable, and again while its writer keeps failing.

pub mod analyzer;
mod context;
mod erasure;
mod execute;
mod filter_sets;
mod forms;
pub mod indexer;
pub mod lexicon;
pub mod passages;
pub mod query;
pub mod schema;
mod unscored;
mod word;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sea_orm::DatabaseConnection;
use tantivy::schema::Schema;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy};
use tokio::sync::{watch, Notify};

pub use execute::{
    ConcordanceLine, FacetSelection, Facets, Filter, Hit, Scope, SearchOutput, SearchRequest,
    INLINE_WORK, MAX_PHRASE_RESULTS_READ, WORK_PER_HIT,
};
use indexer::{Indexer, Payload, Start};
use schema::Fields;

/// Memory for the writer's indexing threads.
const WRITER_MEMORY: usize = 64 * 1024 * 1024;
/// How long a mutation waits for its change to become searchable.
const SYNC_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("{0}")]
    BadQuery(String),
    #[error("the search index is being built; try again shortly")]
    NotReady,
    #[error(transparent)]
    Tantivy(#[from] tantivy::TantivyError),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}

type Progress = Box<dyn Fn(usize, usize) + Send + Sync>;

/// How far the writer has followed the change log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    /// Every change numbered up to here is searchable; each commit records it.
    pub through: i64,
    /// The highest change applied (changes numbered below it may still be awaited).
    pub high: i64,
    /// Polls of the log finished and applied; a failed one does not count (see
    /// `SearchIndex::sync`).
    pub polls: u64,
}

/// How far the index trails the change log.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Lag {
    pub changes: i64,
    pub seconds: f64,
}

/// State shared between the searchers and the writer task.
pub(crate) struct Shared {
    pub position: watch::Sender<Position>,
    /// Polls of the log begun.
    pub polls_started: AtomicU64,
    /// Built and caught up once: searches can run.
    pub ready: AtomicBool,
    /// Cleared while the writer keeps failing, so that `/readyz` reports an index that no
    /// longer follows the database; set again once a poll succeeds.
    pub healthy: AtomicBool,
    /// Set while the writer builds the index from the database (at start, or after the log
    /// was pruned past it).
    pub rebuilding: AtomicBool,
    /// Set when the index's files fail their checksums: the writer rebuilds the index.
    pub damaged: AtomicBool,
    pub wake: Notify,
    pub stop: AtomicBool,
    pub progress: Option<Progress>,
}

impl Shared {
    pub fn new(start: Position, progress: Option<Progress>) -> Self {
        Self {
            position: watch::channel(start).0,
            polls_started: AtomicU64::new(0),
            ready: AtomicBool::new(false),
            healthy: AtomicBool::new(true),
            rebuilding: AtomicBool::new(false),
            damaged: AtomicBool::new(false),
            wake: Notify::new(),
            stop: AtomicBool::new(false),
            progress,
        }
    }

    /// Built, caught up once, and following the log.
    pub fn usable(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && self.healthy.load(Ordering::SeqCst)
    }

    /// See `SearchIndex::sync`.
    pub async fn sync(&self, db: &DatabaseConnection) -> Result<(), SearchError> {
        if self.stop.load(Ordering::SeqCst) {
            // No writer will apply anything any more.
            return Err(SearchError::NotReady);
        }
        if self.rebuilding.load(Ordering::SeqCst) {
            // Nothing becomes searchable before the rebuild ends, minutes on a large corpus
            // (a replica that found the log pruned past its index): waiting would hold every
            // mutation for SYNC_TIMEOUT, and one given a shorter request timeout would be
            // answered TIMEOUT although committed, and perhaps sent again.
            return Err(SearchError::NotReady);
        }
        let target = crate::service::change_log::max_seq(db).await?;
        // A poll that begins after this point sees every change committed before it,
        // including ones numbered below changes already applied; it counts once it has
        // applied them.
        let begun = self.polls_started.load(Ordering::SeqCst);
        let mut rx = self.position.subscribe();
        self.wake.notify_one();
        let reached = tokio::time::timeout(
            SYNC_TIMEOUT,
            rx.wait_for(|p| p.polls > begun && p.high >= target),
        )
        .await;
        if reached.is_err() {
            tracing::warn!(seq = target, "search index did not catch up in time");
            return Err(SearchError::NotReady);
        }
        Ok(())
    }
}

pub struct SearchIndex {
    index: Index,
    dir: std::path::PathBuf,
    /// The writer's pool, also for the operational queries (lag) that should not count as
    /// requests' statements.
    db: DatabaseConnection,
    reader: IndexReader,
    fields: Fields,
    /// Per segment, the counts readable-only scoring sums (see execute/statistics.rs).
    readable_totals: execute::ReadableTotals,
    /// Per segment, the columns hits of equal score are ranked by (see execute/ranking.rs).
    place_columns: execute::PlaceColumns,
    shared: Arc<Shared>,
    writer_task: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for SearchIndex {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }
}

/// How to open the index.
#[derive(Default)]
pub struct OpenOptions {
    /// Rebuild even if the index looks current (`quaderno reindex`).
    pub force_rebuild: bool,
    /// Called as (done, total) interviews while rebuilding.
    pub progress: Option<Progress>,
    /// The directory's lock, taken already (`IndexLock::take`); taken here if not.
    pub lock: Option<IndexLock>,
}

/// This process's hold on an index directory (see `lock_index`). A server takes it before it
/// migrates or loads anything, so that one started by mistake on the data directory of a
/// running server stops before touching its database.
pub struct IndexLock(std::fs::File);

impl IndexLock {
    pub fn take(dir: &Path) -> anyhow::Result<Self> {
        lock_index(dir).map(Self)
    }
}

/// The index's last commit payload, if the index can be opened and was built by this version.
fn current_payload(index: &Index) -> Option<Payload> {
    let metas = index.load_metas().ok()?;
    let payload: Payload = serde_json::from_str(metas.payload.as_deref()?).ok()?;
    (payload.analyzer == analyzer::ANALYZER_VERSION && payload.log == indexer::LOG_FOLLOWING)
        .then_some(payload)
}

/// Makes this process the one writer of the index in `dir`, before anything there is read,
/// removed or written: tantivy's own writer lock lives inside the directory, so a rebuild
/// that clears the directory would otherwise delete a running server's files and take a
/// second lock beside its. Released when the file is closed, by the writer task as it ends
/// (or by the operating system when the process dies).
fn lock_index(dir: &Path) -> anyhow::Result<std::fs::File> {
    let mut name = dir
        .file_name()
        .map(|n| n.to_owned())
        .unwrap_or_else(|| "index".into());
    name.push(".lock");
    let path = dir.with_file_name(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "the search index in {} is in use by another process \
             (is a server running on this data directory?)",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

/// A reader and the writer of `index`. The reader opens every segment's files, so a damaged
/// or missing one shows here rather than at the first search.
fn writer_and_reader(index: &Index) -> tantivy::Result<(IndexWriter, IndexReader)> {
    analyzer::register(index);
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()?;
    let writer = index.writer(WRITER_MEMORY)?;
    Ok((writer, reader))
}

/// An index found in `dir` that opens whole and was built by this version; why another is
/// not used is logged (the database still has to confirm the position it records).
fn open_existing(
    dir: &Path,
    schema: &Schema,
) -> Option<(Index, IndexWriter, IndexReader, Payload)> {
    if !dir.join("meta.json").exists() {
        return None;
    }
    let opened = Index::open_in_dir(dir)
        .map_err(|e| e.to_string())
        .and_then(|index| {
            if index.schema() != *schema {
                return Err("built with another schema".to_owned());
            }
            let payload =
                current_payload(&index).ok_or("built by another version or unreadable")?;
            let (writer, reader) = writer_and_reader(&index).map_err(|e| e.to_string())?;
            Ok((index, writer, reader, payload))
        });
    match opened {
        Ok(found) => Some(found),
        Err(reason) => {
            tracing::warn!(dir = %dir.display(), %reason, "search index unusable: rebuilding");
            None
        }
    }
}

impl SearchIndex {
    /// Opens (or creates) the index in `dir` and starts its writer task on the current
    /// runtime. The index is usable once `is_ready()`. Fails if another process holds the
    /// index, without touching it.
    pub fn open(
        dir: &Path,
        db: DatabaseConnection,
        opts: OpenOptions,
    ) -> anyhow::Result<Arc<Self>> {
        let (schema, fields) = schema::build();
        std::fs::create_dir_all(dir)?;
        let lock = match opts.lock {
            Some(IndexLock(file)) => file,
            None => lock_index(dir)?,
        };
        let found = if opts.force_rebuild {
            None
        } else {
            open_existing(dir, &schema)
        };
        let (index, writer, reader, start) = match found {
            Some((index, writer, reader, payload)) => {
                (index, writer, reader, Start::Resume(payload))
            }
            None => {
                // The database is the source of truth: whatever is left here goes, and this
                // process alone holds the directory.
                std::fs::remove_dir_all(dir)?;
                std::fs::create_dir_all(dir)?;
                let index = Index::create_in_dir(dir, schema)?;
                let (writer, reader) = writer_and_reader(&index)?;
                (index, writer, reader, Start::Rebuild)
            }
        };
        let start_seq = match &start {
            Start::Resume(payload) => payload.seq,
            Start::Rebuild => 0,
        };
        let shared = Arc::new(Shared::new(
            Position {
                through: start_seq,
                high: start_seq,
                polls: 0,
            },
            opts.progress,
        ));
        let indexer = Indexer::new(
            writer,
            reader.clone(),
            fields,
            db.clone(),
            shared.clone(),
            Some(lock),
        );
        let task = tokio::spawn(indexer.run(start));
        Ok(Arc::new(Self {
            index,
            dir: dir.to_owned(),
            db,
            reader,
            fields,
            readable_totals: Default::default(),
            place_columns: Default::default(),
            shared,
            writer_task: tokio::sync::Mutex::new(Some(task)),
        }))
    }

    /// Stops the writer after its current batch, waits for merges, and releases the index
    /// lock. Searches keep working on the last commit.
    pub async fn shutdown(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
        if let Some(task) = self.writer_task.lock().await.take() {
            let _ = task.await;
        }
    }

    /// Whether the index can be relied on (`/readyz`): built, caught up at least once, and
    /// its writer not failing over and over. Searches run once it is built, on the last
    /// commit, even while the writer fails.
    pub fn is_ready(&self) -> bool {
        self.shared.usable()
    }

    /// Every change-log sequence up to this one is searchable.
    pub fn applied_seq(&self) -> i64 {
        self.shared.position.borrow().through
    }

    /// How far the writer has followed the change log.
    pub fn position(&self) -> Position {
        *self.shared.position.borrow()
    }

    /// Waits until every change committed to the database so far is searchable (bounded).
    /// Mutations call it so that a search after they return sees them.
    pub async fn sync(&self, db: &DatabaseConnection) -> Result<(), SearchError> {
        self.shared.sync(db).await
    }

    /// Waits until the index is built (a rebuild, at start or later, done), then until it has
    /// caught up.
    pub async fn ready(&self, db: &DatabaseConnection) -> Result<(), SearchError> {
        while !self.shared.ready.load(Ordering::SeqCst)
            || self.shared.rebuilding.load(Ordering::SeqCst)
        {
            if self.shared.stop.load(Ordering::SeqCst) {
                return Err(SearchError::NotReady);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.sync(db).await
    }

    /// How far the index trails the change log: changes logged but not applied, and the age
    /// of the oldest of them.
    pub async fn lag(&self) -> Result<Lag, SearchError> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        let high = self.position().high;
        let newest = crate::service::change_log::max_seq(&self.db).await?;
        if newest <= high {
            return Ok(Lag::default());
        }
        let oldest = entities::change_log::Entity::find()
            .filter(entities::change_log::Column::Seq.gt(high))
            .order_by_asc(entities::change_log::Column::Seq)
            .one(&self.db)
            .await?;
        let seconds = oldest.map_or(0.0, |c| {
            (chrono::Utc::now() - c.created_at)
                .num_milliseconds()
                .max(0) as f64
                / 1000.0
        });
        Ok(Lag {
            changes: newest - high,
            seconds,
        })
    }

    /// The writer's database pool.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Bytes of the index's files on disk.
    pub fn size_bytes(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.metadata().ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Documents (passages and quotations) searchable now.
    pub fn doc_count(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Number of segments in the index (operations: merges keep it low).
    pub fn segment_count(&self) -> usize {
        self.index
            .searchable_segment_ids()
            .map(|s| s.len())
            .unwrap_or(0)
    }

    fn check_ready(&self) -> Result<(), SearchError> {
        if self.shared.ready.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(SearchError::NotReady)
        }
    }
}
