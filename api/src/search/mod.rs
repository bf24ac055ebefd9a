//! Full-text search over transcripts and quotations (tantivy).
//!
//! The index is derived data: the database is the source of truth. Every write to searchable
//! data appends to `change_log` in its transaction; one writer task per process tails the log
//! (`indexer`), and each commit records the last sequence applied. At start a missing,
//! corrupt or outdated index is rebuilt, a lagging one caught up; `/readyz` answers 503 until
//! the index is usable.

pub mod analyzer;
mod execute;
mod forms;
pub mod indexer;
pub mod lexicon;
pub mod passages;
pub mod query;
pub mod schema;
mod unscored;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tantivy::{Index, IndexReader, ReloadPolicy};
use tokio::sync::{watch, Notify};

pub use execute::{
    ConcordanceLine, FacetSelection, Facets, Filter, Hit, Scope, SearchOutput, SearchRequest,
};
use indexer::{Indexer, Payload};
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
    pub ready: AtomicBool,
    pub wake: Notify,
    pub stop: AtomicBool,
    pub progress: Option<Progress>,
}

pub struct SearchIndex {
    index: Index,
    dir: std::path::PathBuf,
    /// The writer's pool, also for the operational queries (lag) that should not count as
    /// requests' statements.
    db: DatabaseConnection,
    reader: IndexReader,
    fields: Fields,
    /// Per segment, the counts readable-only scoring sums (see `execute::ReadableStatistics`).
    readable_totals: execute::ReadableTotals,
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
}

/// The index's last commit payload, if the index can be opened and was built by this version.
fn current_payload(index: &Index) -> Option<Payload> {
    let metas = index.load_metas().ok()?;
    let payload: Payload = serde_json::from_str(metas.payload.as_deref()?).ok()?;
    (payload.analyzer == analyzer::ANALYZER_VERSION && payload.log == indexer::LOG_FOLLOWING)
        .then_some(payload)
}

impl SearchIndex {
    /// Opens (or creates) the index in `dir` and starts its writer task on the current
    /// runtime. The index is usable once `is_ready()`.
    pub fn open(
        dir: &Path,
        db: DatabaseConnection,
        opts: OpenOptions,
    ) -> anyhow::Result<Arc<Self>> {
        let (schema, fields) = schema::build();
        std::fs::create_dir_all(dir)?;
        let existing = Index::open_in_dir(dir)
            .ok()
            .filter(|i| i.schema() == schema)
            .and_then(|i| current_payload(&i).map(|p| (i, p)));
        let (index, start_seq, rebuild) = match existing {
            Some((index, payload)) if !opts.force_rebuild => (index, payload.seq, false),
            found => {
                if found.is_none() && dir.join("meta.json").exists() {
                    tracing::warn!(dir = %dir.display(), "search index unreadable or outdated: rebuilding");
                }
                std::fs::remove_dir_all(dir)?;
                std::fs::create_dir_all(dir)?;
                (Index::create_in_dir(dir, schema)?, 0, true)
            }
        };
        analyzer::register(&index);
        let writer = index.writer(WRITER_MEMORY)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let (position, _) = watch::channel(Position {
            through: start_seq,
            high: start_seq,
            polls: 0,
        });
        let shared = Arc::new(Shared {
            position,
            polls_started: AtomicU64::new(0),
            ready: AtomicBool::new(false),
            wake: Notify::new(),
            stop: AtomicBool::new(false),
            progress: opts.progress,
        });
        let indexer = Indexer::new(writer, reader.clone(), fields, db.clone(), shared.clone());
        let task = tokio::spawn(indexer.run(rebuild));
        Ok(Arc::new(Self {
            index,
            dir: dir.to_owned(),
            db,
            reader,
            fields,
            readable_totals: Default::default(),
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

    /// Whether searches can run (built and caught up at least once).
    pub fn is_ready(&self) -> bool {
        self.shared.ready.load(Ordering::SeqCst)
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
        let target = indexer::max_seq(db).await?;
        // A poll that begins after this point sees every change committed before it,
        // including ones numbered below changes already applied; it counts once it has
        // applied them.
        let begun = self.shared.polls_started.load(Ordering::SeqCst);
        let mut rx = self.shared.position.subscribe();
        self.shared.wake.notify_one();
        let reached = tokio::time::timeout(
            SYNC_TIMEOUT,
            rx.wait_for(|p| p.polls > begun && p.high >= target),
        )
        .await;
        if reached.is_err() {
            tracing::warn!(seq = target, "search index did not catch up in time");
        }
        Ok(())
    }

    /// Waits until the index is ready (start-up rebuild done), then until it has caught up.
    pub async fn ready(&self, db: &DatabaseConnection) -> Result<(), SearchError> {
        while !self.is_ready() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.sync(db).await
    }

    /// How far the index trails the change log: changes logged but not applied, and the age
    /// of the oldest of them.
    pub async fn lag(&self) -> Result<Lag, SearchError> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        let high = self.position().high;
        let newest = indexer::max_seq(&self.db).await?;
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
        if self.is_ready() {
            Ok(())
        } else {
            Err(SearchError::NotReady)
        }
    }
}
