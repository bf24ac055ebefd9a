//! The one writer of the index. It tails `change_log` from the sequence recorded in the last
//! commit, rebuilds documents from the database (the source of truth), and commits in batches
//! so that many single edits do not leave many segments.
//!
//! On PostgreSQL sequence numbers are handed out when a row is inserted but become visible
//! when its transaction commits, so seq 7 can appear after seq 8 has been read. Numbers not
//! seen below the highest read are therefore kept as *gaps*, runs of consecutive numbers
//! however long (an import holds thousands), and every poll reads whatever has since been
//! committed inside them, in one statement whatever their number. A gap is waited for until
//! every transaction that could still commit into it has ended (a rolled-back insert leaves
//! a hole forever), however long that takes: neither its size nor its age gives it up, since
//! either would lose a change that commits later. Commits record the sequence below the oldest
//! gap, so a restart replays from there; replaying is harmless because every change is
//! rebuilt from the database's current state.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use entities::{case_ambito, change_log, code, interview, quotation, study_case};
use futures_util::FutureExt;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};
use serde::{Deserialize, Serialize};
use tantivy::schema::Term;
use tantivy::{IndexReader, IndexWriter, SegmentMeta, TantivyDocument};

use super::analyzer::ANALYZER_VERSION;
use super::schema::{Fields, KIND_PASSAGE, KIND_QUOTATION};
use super::{erasure, passages};
use super::{Position, Shared};
use crate::service::change_log::{max_seq, oldest_seq, Subject};
use crate::service::codes::Codebook;
use crate::service::quotations::codes_of_quotations;
use crate::text;

/// What each commit records: the analyzer it was built with, how the log was followed, and
/// the change up to which everything is applied.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Payload {
    pub analyzer: u32,
    /// `LOG_FOLLOWING`; missing (0) in indexes written before it was recorded.
    #[serde(default)]
    pub log: u32,
    pub seq: i64,
    /// The change-log entry numbered `seq` (see `Indexer::mark`): at start the database must
    /// hold the same one, else the index was built from another database or from a history
    /// this one does not have (a backup restored since). Missing when `seq` is 0 and in
    /// indexes written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Erased interviews whose documents some segment may still hold (`Indexer::purge`):
    /// a restart goes on purging them.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub unpurged: BTreeSet<i64>,
}

/// How the writer begins.
pub enum Start {
    /// Build the index from the database.
    Rebuild,
    /// Follow the log on from this commit, once the database confirms it.
    Resume(Payload),
}

/// How the log is followed. Indexes written while long jumps in the numbers and long-open
/// transactions were given up may have recorded a position past changes they never applied:
/// they are rebuilt rather than trusted.
pub const LOG_FOLLOWING: u32 = 1;

/// Changes read from the log in one batch (one commit).
const BATCH: u64 = 5_000;
/// Interviews per database round trip while rebuilding.
const REBUILD_CHUNK: usize = 100;
/// How often the log is polled for other replicas' writes (local ones wake the writer at once).
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// How long `Indexer::purge` waits after a failure, or after tantivy refused its merge
/// because one of the segments was being merged already.
const PURGE_RETRY: Duration = Duration::from_secs(2);
/// A gap younger than this is always waited for: the transaction that took the number may
/// not have an id yet, so the snapshot check below could miss it.
const GAP_GRACE: Duration = Duration::from_secs(1);
/// Failed polls in a row after which the index is reported unhealthy (`/readyz` 503).
const FAILURES_UNHEALTHY: u32 = 3;
/// A gap still open after this is worth telling operators about: some session holds the
/// recorded position back (a restart replays from there), though nothing is lost.
const LONG_WAIT: Duration = Duration::from_secs(600);

/// Consecutive sequence numbers, from its key in the map of gaps to `last`, not (yet) seen in
/// the log.
#[derive(Debug, Clone, Copy)]
struct Gap {
    last: i64,
    since: Instant,
    /// The next transaction id when the grace period ended: once every transaction older
    /// than that has finished, nobody can commit these numbers any more.
    horizon: Option<i64>,
    warned: bool,
}

impl Gap {
    fn new(last: i64) -> Self {
        Self {
            last,
            since: Instant::now(),
            horizon: None,
            warned: false,
        }
    }
}

/// What the database knew about transactions when a poll began, before it read the log.
#[derive(Debug, Clone, Copy)]
enum Finished {
    /// SQLite has one writer at a time, which takes its number and commits before the next
    /// begins: a hole is a rollback, never a change still to come.
    All,
    /// A PostgreSQL snapshot: every transaction id below `oldest` had ended, and `next` was
    /// the first id not handed out yet.
    Before { oldest: i64, next: i64, at: Instant },
    /// Not asked: no gap was old enough to ask about.
    Unknown,
}

/// Records the numbers a poll read (ascending) against `high`, the highest applied so far:
/// those read leave their gaps, those skipped open one. Returns the new highest.
fn record_read(gaps: &mut BTreeMap<i64, Gap>, mut high: i64, seqs: &[i64]) -> i64 {
    for &seq in seqs {
        if seq > high {
            if seq > high + 1 {
                gaps.insert(high + 1, Gap::new(seq - 1));
            }
            high = seq;
        } else {
            fill(gaps, seq);
        }
    }
    high
}

/// Takes `seq` out of the gap holding it, which may split in two.
fn fill(gaps: &mut BTreeMap<i64, Gap>, seq: i64) {
    let Some((&first, &gap)) = gaps.range(..=seq).next_back() else {
        return;
    };
    if gap.last < seq {
        return;
    }
    gaps.remove(&first);
    if first < seq {
        gaps.insert(
            first,
            Gap {
                last: seq - 1,
                ..gap
            },
        );
    }
    if seq < gap.last {
        gaps.insert(seq + 1, gap);
    }
}

/// Drops the gaps nobody can fill any more. `finished` must come from before a read that
/// looked into every gap and still missed them: a transaction it saw as ended had committed
/// before the read, so its row would have been read.
fn expire(gaps: &mut BTreeMap<i64, Gap>, finished: Finished, now: Instant) {
    let (oldest, next, at) = match finished {
        Finished::All => return gaps.clear(),
        Finished::Unknown => return,
        Finished::Before { oldest, next, at } => (oldest, next, at),
    };
    // Told once per gap, and in one line however many (an interleaved import opens many).
    let (mut long_waits, mut lowest) = (0, None);
    for (first, g) in gaps.iter_mut() {
        if g.horizon.is_none() && at.saturating_duration_since(g.since) >= GAP_GRACE {
            g.horizon = Some(next);
        }
        if !g.warned && now.saturating_duration_since(g.since) >= LONG_WAIT {
            g.warned = true;
            long_waits += 1;
            lowest.get_or_insert(*first);
        }
    }
    if let Some(first) = lowest {
        tracing::warn!(
            gaps = long_waits,
            first,
            "still waiting for change-log entries that a long-open transaction may commit; \
             the index position recorded for restarts stays below them until it ends"
        );
    }
    let before = gaps.len();
    gaps.retain(|_, g| g.horizon.is_none_or(|h| oldest < h));
    if gaps.len() != before {
        tracing::debug!(
            dropped = before - gaps.len(),
            "change-log gaps closed (rolled back)"
        );
    }
}

/// Everything up to the returned sequence is applied: below the oldest gap.
fn through(gaps: &BTreeMap<i64, Gap>, high: i64) -> i64 {
    gaps.keys().next().map_or(high, |first| first - 1)
}

pub(super) struct Indexer {
    /// Shared only with `spawn_blocking` closures: this task is the one writer.
    pub writer: Arc<Mutex<IndexWriter>>,
    pub reader: IndexReader,
    pub fields: Fields,
    pub db: DatabaseConnection,
    pub shared: Arc<Shared>,
    /// Changed only once what changed them is committed to the index: a failed batch leaves
    /// them as they were, to be read again.
    gaps: BTreeMap<i64, Gap>,
    /// Failed polls since the last one that succeeded.
    failures: u32,
    /// Erased interviews some segment may still hold (`purge`).
    unpurged: BTreeSet<i64>,
    /// The merge `purge` started last, until it ends.
    purging: Option<tokio::task::JoinHandle<tantivy::Result<Option<SegmentMeta>>>>,
    /// No purge is tried before then (the last one failed, or a segment was merging already).
    purge_after: Instant,
    /// The process's hold on the index directory (see `super::lock_index`): released when the
    /// writer is done with it.
    _lock: Option<std::fs::File>,
    #[cfg(test)]
    pauses: Vec<tests::Pause>,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("the index writer panicked")]
    Panicked,
    #[error("the index writer is stopping")]
    Stopped,
    /// Entries after the last one this index read (`high`) were pruned before it read them.
    #[error("the change log was pruned past entry {0}, which this index had reached")]
    PrunedPast(i64),
}

/// What one poll did.
struct Polled {
    applied: usize,
    /// Every gap was looked into: the poll saw every change committed before it began.
    whole: bool,
}

/// One step for the writer, in log order.
enum Op {
    Delete(Term),
    Add(TantivyDocument),
    DeleteAll,
    /// Forgets everything since the last commit.
    Rollback,
}

/// Everything needed to turn interviews and quotations into documents, loaded in batches.
#[derive(Default)]
struct Context {
    interviews: HashMap<i64, interview::Model>,
    cases: HashMap<i64, study_case::Model>,
    ambiti: HashMap<i64, Vec<i64>>,
    codes: Codebook,
}

impl Context {
    async fn load(db: &DatabaseConnection, interview_ids: &[i64]) -> Result<Self, sea_orm::DbErr> {
        let interviews: HashMap<i64, interview::Model> = interview::Entity::find()
            .filter(interview::Column::Id.is_in(interview_ids.iter().copied()))
            .all(db)
            .await?
            .into_iter()
            .map(|i| (i.id, i))
            .collect();
        let case_ids: Vec<i64> = interviews.values().map(|i| i.case_id).collect();
        let cases: HashMap<i64, study_case::Model> = study_case::Entity::find()
            .filter(study_case::Column::Id.is_in(case_ids.clone()))
            .all(db)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let mut ambiti: HashMap<i64, Vec<i64>> = HashMap::new();
        for link in case_ambito::Entity::find()
            .filter(case_ambito::Column::CaseId.is_in(case_ids))
            .all(db)
            .await?
        {
            ambiti.entry(link.case_id).or_default().push(link.ambito_id);
        }
        let study_ids: Vec<i64> = cases.values().map(|c| c.study_id).collect();
        let codes = code::Entity::find()
            .filter(code::Column::StudyId.is_in(study_ids))
            .all(db)
            .await?;
        let codes = Codebook::new(codes);
        Ok(Self {
            interviews,
            cases,
            ambiti,
            codes,
        })
    }

    /// The fields every document of an interview carries.
    fn common(&self, f: &Fields, doc: &mut TantivyDocument, i: &interview::Model) {
        doc.add_u64(f.interview_id, i.id as u64);
        doc.add_text(f.interview_label, &i.label);
        if let Some(c) = self.cases.get(&i.case_id) {
            doc.add_u64(f.study_id, c.study_id as u64);
            doc.add_u64(f.case_id, c.id as u64);
        }
        for a in self.ambiti.get(&i.case_id).into_iter().flatten() {
            doc.add_u64(f.ambito_id, *a as u64);
        }
        if let Some(d) = i.conducted_on {
            doc.add_u64(f.conducted, day_number(d));
        }
    }

    fn passages(&self, f: &Fields, i: &interview::Model) -> Vec<TantivyDocument> {
        passages::split(&i.transcript)
            .into_iter()
            .map(|p| {
                let mut doc = TantivyDocument::default();
                doc.add_u64(f.kind, KIND_PASSAGE);
                doc.add_u64(f.passage_of, i.id as u64);
                self.common(f, &mut doc, i);
                doc.add_u64(f.start, p.start as u64);
                doc.add_u64(f.end, p.end as u64);
                f.add_text(&mut doc, &p.text);
                doc
            })
            .collect()
    }

    fn quotation(
        &self,
        f: &Fields,
        q: &quotation::Model,
        code_ids: &BTreeSet<i64>,
    ) -> Option<TantivyDocument> {
        let i = self.interviews.get(&q.interview_id)?;
        let quoted = text::slice(&i.transcript, q.start_pos as usize, q.end_pos as usize)?;
        let mut doc = TantivyDocument::default();
        doc.add_u64(f.kind, KIND_QUOTATION);
        doc.add_u64(f.quotation_id, q.id as u64);
        doc.add_u64(f.quotation_interview, i.id as u64);
        self.common(f, &mut doc, i);
        for c in code_ids {
            doc.add_u64(f.code_direct, *c as u64);
        }
        let with_ancestors: BTreeSet<i64> = code_ids
            .iter()
            .flat_map(|&c| self.codes.lineage(c).map(|a| a.id))
            .collect();
        for c in with_ancestors {
            doc.add_u64(f.code_id, c as u64);
        }
        doc.add_u64(f.start, q.start_pos as u64);
        doc.add_u64(f.end, q.end_pos as u64);
        f.add_text(&mut doc, quoted);
        Some(doc)
    }
}

/// Days since 0001-01-01, the unit of the `conducted` field.
pub fn day_number(d: chrono::NaiveDate) -> u64 {
    use chrono::Datelike;
    d.num_days_from_ce().max(0) as u64
}

impl Indexer {
    /// Documents for the passages and quotations of these interviews. Returns those of them
    /// the database no longer has (erased).
    async fn interview_docs(&self, ids: &[i64], ops: &mut Vec<Op>) -> Result<Vec<i64>, IndexError> {
        let ctx = Context::load(&self.db, ids).await?;
        let erased = ids
            .iter()
            .copied()
            .filter(|id| !ctx.interviews.contains_key(id))
            .collect();
        let f = self.fields;
        for i in ctx.interviews.values() {
            ops.extend(ctx.passages(&f, i).into_iter().map(Op::Add));
        }
        let quotations = quotation::Entity::find()
            .filter(quotation::Column::InterviewId.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?;
        let codes = codes_of_quotations(&self.db, quotations.iter().map(|q| q.id)).await?;
        let none = BTreeSet::new();
        for q in &quotations {
            let code_ids = codes.get(&q.id).unwrap_or(&none);
            if let Some(doc) = ctx.quotation(&f, q, code_ids) {
                ops.push(Op::Add(doc));
            }
        }
        Ok(erased)
    }

    /// Documents for these quotations, except those of the `skip` interviews.
    async fn quotation_docs(
        &self,
        ids: &[i64],
        skip: &HashSet<i64>,
        ops: &mut Vec<Op>,
    ) -> Result<(), IndexError> {
        let mut quotations = quotation::Entity::find()
            .filter(quotation::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?;
        quotations.retain(|q| !skip.contains(&q.interview_id));
        let interview_ids: Vec<i64> = quotations.iter().map(|q| q.interview_id).collect();
        let ctx = Context::load(&self.db, &interview_ids).await?;
        let codes = codes_of_quotations(&self.db, ids.iter().copied()).await?;
        let none = BTreeSet::new();
        let f = self.fields;
        for q in &quotations {
            let code_ids = codes.get(&q.id).unwrap_or(&none);
            if let Some(doc) = ctx.quotation(&f, q, code_ids) {
                ops.push(Op::Add(doc));
            }
        }
        Ok(())
    }

    /// Applies the operations off the async runtime; with `commit`, records `seq` with them.
    async fn apply(&self, ops: Vec<Op>, commit: Option<i64>) -> Result<(), IndexError> {
        let at = match commit {
            Some(seq) => self.mark(seq).await?,
            None => None,
        };
        let writer = self.writer.clone();
        let reader = self.reader.clone();
        let unpurged = self.unpurged.clone();
        tokio::task::spawn_blocking(move || -> Result<(), IndexError> {
            let mut w = writer.lock().map_err(|_| IndexError::Panicked)?;
            for op in ops {
                match op {
                    Op::Delete(t) => {
                        w.delete_term(t);
                    }
                    Op::Add(d) => {
                        w.add_document(d)?;
                    }
                    Op::DeleteAll => {
                        w.delete_all_documents()?;
                    }
                    Op::Rollback => {
                        w.rollback()?;
                    }
                }
            }
            if let Some(seq) = commit {
                let payload = serde_json::to_string(&Payload {
                    analyzer: ANALYZER_VERSION,
                    log: LOG_FOLLOWING,
                    seq,
                    at,
                    unpurged,
                })
                .expect("payload serialises");
                let mut prepared = w.prepare_commit()?;
                prepared.set_payload(&payload);
                prepared.commit()?;
                reader.reload()?;
            }
            Ok(())
        })
        .await
        .map_err(|_| IndexError::Panicked)??;
        Ok(())
    }

    pub fn new(
        writer: IndexWriter,
        reader: IndexReader,
        fields: Fields,
        db: DatabaseConnection,
        shared: Arc<Shared>,
        lock: Option<std::fs::File>,
    ) -> Self {
        Self {
            writer: Arc::new(Mutex::new(writer)),
            reader,
            fields,
            db,
            shared,
            gaps: BTreeMap::new(),
            failures: 0,
            unpurged: BTreeSet::new(),
            purging: None,
            purge_after: Instant::now(),
            _lock: lock,
            #[cfg(test)]
            pauses: Vec::new(),
        }
    }

    /// Lets a test act between two steps of the writer (commit a transaction there).
    async fn pause(&self, _at: &str) {
        #[cfg(test)]
        if let Some(p) = self.pauses.iter().find(|p| p.at == _at) {
            p.reached.notify_one();
            p.resume.notified().await;
        }
    }

    /// What identifies the change-log entry `seq` in this database: its time and what it
    /// changed. Another database, or this one restored from a backup and written since, holds
    /// another entry under that number, or none.
    async fn mark(&self, seq: i64) -> Result<Option<String>, IndexError> {
        if seq == 0 {
            return Ok(None);
        }
        let entry = change_log::Entity::find_by_id(seq).one(&self.db).await?;
        Ok(entry.map(|c| {
            format!(
                "{} {} {} {}",
                c.created_at.to_rfc3339(),
                c.entity,
                c.entity_id,
                c.op
            )
        }))
    }

    /// Whether the database confirms the position an existing index recorded: it holds the
    /// very change the index stopped at. Otherwise the index may hold documents the database
    /// no longer has, and the log numbers it believes applied may be new changes.
    async fn trusts(&self, saved: &Payload) -> Result<bool, IndexError> {
        let newest = max_seq(&self.db).await?;
        let doubt = if saved.seq > newest {
            Some("it records changes past the end of the change log (a restored backup?)")
        } else if saved.seq == 0 {
            // Nothing to compare, and replaying the log from its start would miss what was
            // pruned from it: building from the database costs the same and misses nothing.
            tracing::info!("search index records no position in the change log: rebuilding");
            return Ok(false);
        } else if saved.at.is_none() || saved.at != self.mark(saved.seq).await? {
            Some(
                "the change it stopped at is not in this database's log (pruned since, another \
                 database, or a restored backup)",
            )
        } else {
            None
        };
        if let Some(reason) = doubt {
            tracing::warn!(
                recorded = saved.seq,
                newest,
                reason,
                "search index cannot resume from its last commit: rebuilding"
            );
        }
        Ok(doubt.is_none())
    }

    /// Until rebuilt, nothing of this database is known to be applied.
    fn forget_position(&self) {
        self.shared.position.send_modify(|p| {
            p.through = 0;
            p.high = 0;
        });
    }

    fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::SeqCst)
    }

    /// Waits `pause`, or less if the writer is woken (to stop, for one).
    async fn idle(&self, pause: Duration) {
        let _ = tokio::time::timeout(pause, self.shared.wake.notified()).await;
    }

    /// Builds the whole index from the database. Stopping interrupts it between chunks and
    /// leaves the last commit as it was.
    pub async fn rebuild(&mut self) -> Result<(), IndexError> {
        // Read the log before the data: changes numbered above `seq` are replayed after, and
        // those below it not committed yet are gaps to wait for. Read after the data, a
        // change committed in between would look present although the rebuild missed it.
        let seq = max_seq(&self.db).await?;
        self.gaps.clear();
        let gaps = self.gaps_through(seq).await?;
        self.apply(vec![Op::DeleteAll], None).await?;
        let ids: Vec<i64> = interview::Entity::find()
            .select_only()
            .column(interview::Column::Id)
            .order_by_asc(interview::Column::Id)
            .into_tuple()
            .all(&self.db)
            .await?;
        let total = ids.len();
        for (n, chunk) in ids.chunks(REBUILD_CHUNK).enumerate() {
            if self.stopping() {
                self.apply(vec![Op::Rollback], None).await?;
                return Err(IndexError::Stopped);
            }
            let mut ops = Vec::new();
            self.interview_docs(chunk, &mut ops).await?;
            self.apply(ops, None).await?;
            if let Some(progress) = &self.shared.progress {
                progress(((n + 1) * REBUILD_CHUNK).min(total), total);
            }
        }
        self.pause("rebuild: documents read").await;
        let through = through(&gaps, seq);
        self.apply(Vec::new(), Some(through)).await?;
        self.gaps = gaps;
        self.shared.position.send_modify(|p| {
            p.through = through;
            p.high = seq;
        });
        tracing::info!(interviews = total, seq, "search index rebuilt");
        Ok(())
    }

    /// Every number up to `seq` missing from the log, as gaps: on PostgreSQL any of them may
    /// belong to a transaction still open, however far below `seq` (a long import). SQLite
    /// has none to wait for: its one writer commits or rolls back before the next begins.
    async fn gaps_through(&self, seq: i64) -> Result<BTreeMap<i64, Gap>, IndexError> {
        if self.db.get_database_backend() != DbBackend::Postgres {
            return Ok(BTreeMap::new());
        }
        // Only the holes come back, not the log: one row per run of missing numbers.
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT previous + 1 AS first_seq, seq - 1 AS last_seq FROM ( \
                   SELECT seq, lag(seq, 1, 0::bigint) OVER (ORDER BY seq) AS previous \
                   FROM change_log WHERE seq <= $1) numbers \
                 WHERE seq > previous + 1",
                [seq.into()],
            ))
            .await?;
        let mut gaps = BTreeMap::new();
        for row in rows {
            let first: i64 = row.try_get("", "first_seq")?;
            gaps.insert(first, Gap::new(row.try_get("", "last_seq")?));
        }
        Ok(gaps)
    }

    /// The changes committed inside the gaps since they opened, the lowest `limit` of them.
    /// The gaps go in as one or two bound lists, so that the statement's parameters do not
    /// grow with them (see `db::IDS_PER_STATEMENT`); each gap is looked up by its range
    /// of numbers, so that the work grows with the gaps and what they hold, not with the log.
    async fn read_gaps(&self, limit: u64) -> Result<Vec<change_log::Model>, IndexError> {
        let backend = self.db.get_database_backend();
        let limit = (limit as i64).into();
        let statement = match backend {
            DbBackend::Postgres => {
                let list = |numbers: &mut dyn Iterator<Item = i64>| {
                    let numbers: Vec<String> = numbers.map(|n| n.to_string()).collect();
                    format!("{{{}}}", numbers.join(","))
                };
                // LATERAL puts the gaps in the outer loop: ordered by seq under a LIMIT, the
                // planner would otherwise walk the log and scan the list for every entry.
                Statement::from_sql_and_values(
                    backend,
                    "SELECT c.* FROM unnest($1::text::int8[], $2::text::int8[]) \
                       AS gap (first_seq, last_seq) \
                     CROSS JOIN LATERAL ( \
                       SELECT * FROM change_log \
                       WHERE seq BETWEEN gap.first_seq AND gap.last_seq \
                       ORDER BY seq LIMIT $3) c \
                     ORDER BY c.seq LIMIT $3",
                    [
                        list(&mut self.gaps.keys().copied()).into(),
                        list(&mut self.gaps.values().map(|g| g.last)).into(),
                        limit,
                    ],
                )
            }
            _ => {
                let pairs: Vec<String> = self
                    .gaps
                    .iter()
                    .map(|(first, g)| format!("[{first},{}]", g.last))
                    .collect();
                // SQLite runs the left side of a CROSS JOIN as the outer loop.
                Statement::from_sql_and_values(
                    backend,
                    "SELECT c.* FROM json_each(?) AS gap CROSS JOIN change_log c \
                     WHERE c.seq BETWEEN gap.value ->> 0 AND gap.value ->> 1 \
                     ORDER BY c.seq LIMIT ?",
                    [format!("[{}]", pairs.join(",")).into(), limit],
                )
            }
        };
        let read = change_log::Entity::find()
            .from_raw_sql(statement)
            .all(&self.db)
            .await?;
        Ok(read)
    }

    /// What the database says about the transactions that could still fill the gaps; asked
    /// only on PostgreSQL, and only when some gap is old enough for the answer to matter.
    async fn finished(&self) -> Result<Finished, IndexError> {
        if self.db.get_database_backend() != DbBackend::Postgres {
            return Ok(Finished::All);
        }
        let now = Instant::now();
        if !self
            .gaps
            .values()
            .any(|g| g.horizon.is_some() || now.duration_since(g.since) >= GAP_GRACE)
        {
            return Ok(Finished::Unknown);
        }
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS oldest, \
                        pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next",
            ))
            .await?;
        let Some(row) = row else {
            return Ok(Finished::Unknown);
        };
        Ok(Finished::Before {
            oldest: row.try_get("", "oldest")?,
            next: row.try_get("", "next")?,
            at: now,
        })
    }

    /// Applies the next batch of logged changes; returns how many there were.
    pub async fn catch_up(&mut self) -> Result<usize, IndexError> {
        // Counted before reading, so that `SearchIndex::sync` knows this poll saw every
        // change committed before it started.
        let poll = self.shared.polls_started.fetch_add(1, Ordering::SeqCst) + 1;
        let result = self.poll_once().await;
        // A failed poll applied nothing, and one that left changes in the gaps unread did not
        // see them all: counting either would let `sync` return before the caller's change is
        // searchable.
        if let Ok(Polled { whole: true, .. }) = result {
            self.shared
                .position
                .send_modify(|p| p.polls = p.polls.max(poll));
        }
        result.map(|p| p.applied)
    }

    async fn poll_once(&mut self) -> Result<Polled, IndexError> {
        let start = *self.shared.position.borrow();
        // Asked before the log is read: a transaction that commits after the read but
        // before the question would otherwise have its number given up as rolled back.
        let finished = self.finished().await?;
        self.pause("poll: transactions checked").await;
        let mut changes = if self.gaps.is_empty() {
            Vec::new()
        } else {
            self.read_gaps(BATCH).await?
        };
        // A full batch from the gaps may have left later ones unread: the new changes wait
        // for the next poll, and no gap is judged on this read.
        let whole = (changes.len() as u64) < BATCH;
        if whole {
            let read = change_log::Entity::find()
                .filter(change_log::Column::Seq.gt(start.high))
                .order_by_asc(change_log::Column::Seq)
                .limit(BATCH - changes.len() as u64)
                .all(&self.db)
                .await?;
            // Numbers skipped after the highest read belong to transactions still open or
            // rolled back, or to entries pruned before this index read them (another
            // replica's pruning, while this one was down or failing). Pruning takes a run
            // from the log's start, so in that case nothing up to `high` is left either:
            // asked only on a jump, the oldest entry tells.
            if start.high > 0
                && read.first().is_some_and(|c| c.seq > start.high + 1)
                && oldest_seq(&self.db).await? > start.high
            {
                return Err(IndexError::PrunedPast(start.high));
            }
            changes.extend(read);
        }
        let mut gaps = self.gaps.clone();
        let seqs: Vec<i64> = changes.iter().map(|c| c.seq).collect();
        let high = record_read(&mut gaps, start.high, &seqs);
        if whole {
            expire(&mut gaps, finished, Instant::now());
        }
        let through = through(&gaps, high);
        if changes.is_empty() {
            if through != start.through {
                // Recorded, so that a restart does not replay from below gaps now closed.
                self.apply(Vec::new(), Some(through)).await?;
                self.shared.position.send_modify(|p| p.through = through);
            }
            self.gaps = gaps;
            return Ok(Polled { applied: 0, whole });
        }
        // Only the latest state matters: rebuild each touched entity once, in log order.
        let mut touched: BTreeMap<i64, (String, i64)> = BTreeMap::new();
        let mut seen: HashMap<(String, i64), i64> = HashMap::new();
        for c in &changes {
            if let Some(old) = seen.insert((c.entity.clone(), c.entity_id), c.seq) {
                touched.remove(&old);
            }
            touched.insert(c.seq, (c.entity.clone(), c.entity_id));
        }
        let mut interviews = Vec::new();
        let mut quotations = Vec::new();
        for (entity, id) in touched.into_values() {
            match Subject::from_column(&entity) {
                Some(Subject::Interview) => interviews.push(id),
                Some(Subject::Quotation) => quotations.push(id),
                None => tracing::warn!(entity, "unknown entity in change_log"),
            }
        }
        // Every delete before any add: a delete removes only documents added before it.
        let f = self.fields;
        let mut ops = Vec::new();
        for &id in &interviews {
            ops.push(Op::Delete(Term::from_field_u64(f.passage_of, id as u64)));
            ops.push(Op::Delete(Term::from_field_u64(
                f.quotation_interview,
                id as u64,
            )));
        }
        for &id in &quotations {
            ops.push(Op::Delete(Term::from_field_u64(f.quotation_id, id as u64)));
        }
        // Loaded a chunk at a time (a bulk import logs thousands of interviews) and handed to
        // the writer as they come, so that reading the database and indexing overlap.
        let mut erased = Vec::new();
        for chunk in interviews.chunks(REBUILD_CHUNK) {
            erased.extend(self.interview_docs(chunk, &mut ops).await?);
            self.apply(std::mem::take(&mut ops), None).await?;
        }
        // Quotations of a re-read interview were added with it.
        let reread: HashSet<i64> = interviews.iter().copied().collect();
        for chunk in quotations.chunks(REBUILD_CHUNK) {
            self.quotation_docs(chunk, &reread, &mut ops).await?;
        }
        // Recorded by the commit that deletes their documents.
        self.unpurged.extend(&erased);
        self.apply(ops, Some(through)).await?;
        if !erased.is_empty() {
            crate::db::empty_write_ahead_log(self.db.clone());
        }
        self.gaps = gaps;
        self.shared.position.send_modify(|p| {
            *p = Position {
                through,
                high,
                ..*p
            }
        });
        Ok(Polled {
            applied: changes.len(),
            whole,
        })
    }

    /// One poll of the running writer, counted towards its health: after repeated failures
    /// the index is reported unhealthy until a poll succeeds again.
    async fn poll(&mut self) -> Result<usize, IndexError> {
        let result = self.catch_up().await;
        match &result {
            // Not a failure of the writer: `run` rebuilds.
            Err(IndexError::PrunedPast(_)) => {}
            Ok(_) => {
                self.failures = 0;
                if !self.shared.healthy.swap(true, Ordering::SeqCst) {
                    tracing::info!("the search index follows the change log again");
                }
                if !self.unpurged.is_empty() {
                    self.purge().await;
                }
            }
            Err(e) => {
                self.failures += 1;
                let failures = self.failures;
                tracing::error!(error = %e, failures, "applying changes to the index failed");
                if self.failures == FAILURES_UNHEALTHY {
                    self.shared.healthy.store(false, Ordering::SeqCst);
                    tracing::error!(
                        "the search index no longer follows the database: reported not ready \
                         until the writer recovers"
                    );
                }
            }
        }
        result
    }

    /// Merges the segments still holding erased interviews' documents (`super::erasure`);
    /// once none does, they are forgotten. Asked again at each poll until then: a merge
    /// already running on such a segment (the merge policy's) keeps the documents, marked
    /// deleted, if the erasure came while it ran.
    async fn purge(&mut self) {
        if let Some(merge) = &mut self.purging {
            match merge.now_or_never() {
                None => return,
                Some(Ok(Ok(_))) => {}
                Some(Ok(Err(e))) => self.purge_later("merging an erased interview's segment", &e),
                Some(Err(e)) => self.purge_later("merging an erased interview's segment", &e),
            }
            self.purging = None;
        }
        if Instant::now() < self.purge_after {
            return;
        }
        let (writer, reader, fields) = (self.writer.clone(), self.reader.clone(), self.fields);
        let ids: Vec<i64> = self.unpurged.iter().copied().collect();
        let checked = tokio::task::spawn_blocking(move || -> Result<_, IndexError> {
            // A merge ends with no commit of this writer to reload the reader.
            reader.reload()?;
            let holding = erasure::segments_holding(&reader.searcher(), &fields, &ids)?;
            if holding.is_empty() {
                return Ok(None);
            }
            let mut w = writer.lock().map_err(|_| IndexError::Panicked)?;
            Ok(Some(w.merge(&holding)))
        })
        .await
        .map_err(|_| IndexError::Panicked);
        match checked {
            Ok(Ok(None)) => {
                let purged = std::mem::take(&mut self.unpurged);
                // A commit with nothing new but the list, so that a restart does not look
                // for them again.
                let through = self.shared.position.borrow().through;
                match self.apply(Vec::new(), Some(through)).await {
                    Ok(()) => tracing::info!(
                        interviews = purged.len(),
                        "erased interviews purged from the search index"
                    ),
                    Err(e) => {
                        self.unpurged = purged;
                        self.purge_later("recording erased interviews purged", &e);
                    }
                }
            }
            // Refused if one of the segments is being merged already: the next poll hears it.
            Ok(Ok(Some(merge))) => self.purging = Some(tokio::spawn(merge)),
            Ok(Err(e)) | Err(e) => self.purge_later("purging erased interviews", &e),
        }
    }

    fn purge_later(&mut self, doing: &str, error: &dyn std::fmt::Display) {
        tracing::warn!(%error, "{doing} failed; tried again in {PURGE_RETRY:?}");
        self.purge_after = Instant::now() + PURGE_RETRY;
    }

    /// The writer loop: rebuild if needed, then apply changes as they are logged. Other
    /// replicas' writes are picked up by polling; local ones wake it at once. Every wait
    /// gives way to stopping, start-up included.
    pub async fn run(mut self, start: Start) {
        if matches!(start, Start::Resume(_)) {
            self.check_files_in_the_background();
        }
        let mut rebuild = match start {
            Start::Rebuild => true,
            Start::Resume(saved) => loop {
                if self.stopping() {
                    return self.finish().await;
                }
                match self.trusts(&saved).await {
                    Ok(true) => {
                        self.unpurged = saved.unpurged;
                        break false;
                    }
                    Ok(false) => {
                        self.forget_position();
                        break true;
                    }
                    Err(e) => {
                        let doing = "checking the search index against the database";
                        tracing::error!(error = %e, "{doing} failed; retrying");
                        self.idle(Duration::from_secs(1)).await;
                    }
                }
            },
        };
        // Once a turn: (re)build if needed, catch up, follow the log. A turn ends early when
        // the log turns out pruned past this index (`IndexError::PrunedPast`), which only a
        // rebuild mends; the last commit serves searches meanwhile.
        loop {
            if rebuild {
                self.shared.rebuilding.store(true, Ordering::SeqCst);
                loop {
                    if self.stopping() {
                        return self.finish().await;
                    }
                    match self.rebuild().await {
                        Ok(()) => break,
                        Err(IndexError::Stopped) => {}
                        Err(e) => {
                            tracing::error!(error = %e, "rebuilding the search index failed; retrying");
                            self.idle(Duration::from_secs(2)).await;
                        }
                    }
                }
                self.shared.rebuilding.store(false, Ordering::SeqCst);
            }
            // Ready means caught up: replay what the database committed since the last commit.
            let caught_up = loop {
                if self.stopping() {
                    return self.finish().await;
                }
                match self.catch_up().await {
                    Ok(0) => break true,
                    Ok(_) => {}
                    Err(IndexError::PrunedPast(_)) => break false,
                    Err(e) => {
                        tracing::error!(error = %e, "catching up the search index failed; retrying");
                        self.idle(Duration::from_secs(1)).await;
                    }
                }
            };
            if caught_up {
                self.shared.ready.store(true, Ordering::SeqCst);
                loop {
                    if self.stopping() {
                        return self.finish().await;
                    }
                    if self.shared.damaged.swap(false, Ordering::SeqCst) {
                        break;
                    }
                    match self.poll().await {
                        Ok(0) => self.idle(POLL_INTERVAL).await,
                        Ok(_) => {}
                        Err(IndexError::PrunedPast(high)) => {
                            tracing::warn!(
                                high,
                                "the change log was pruned past changes this index had not \
                                 read: rebuilding"
                            );
                            break;
                        }
                        Err(_) => self.idle(Duration::from_secs(1)).await,
                    }
                }
            } else {
                tracing::warn!(
                    high = self.shared.position.borrow().high,
                    "the change log was pruned past changes this index had not read: rebuilding"
                );
            }
            rebuild = true;
        }
    }

    /// Reads every file of the last commit against its checksum, beside the writer's work: a
    /// segment damaged at rest (a bad disk, a bad copy) opens fine, and fails only the
    /// searches that read its damaged part while `/readyz` says ready. Found damaged, the
    /// index is rebuilt from the database. Reading the whole index takes a while on a large
    /// one, so it does not hold up the start; a file merged away while it is read is not
    /// damage, only a check that could not finish.
    fn check_files_in_the_background(&self) {
        let (index, shared) = (self.reader.searcher().index().clone(), self.shared.clone());
        tokio::task::spawn_blocking(move || match index.validate_checksum() {
            Ok(damaged) if damaged.is_empty() => {}
            Ok(damaged) => {
                tracing::error!(files = ?damaged, "search index files are damaged: rebuilding");
                shared.damaged.store(true, Ordering::SeqCst);
                shared.wake.notify_one();
            }
            Err(e) => tracing::warn!(error = %e, "could not check the search index's files"),
        });
    }

    /// Lets merges finish and releases the index: every batch was committed, and what a
    /// rebuild left uncommitted was rolled back.
    async fn finish(self) {
        if let Ok(writer) = Arc::try_unwrap(self.writer) {
            let finished = tokio::task::spawn_blocking(move || match writer.into_inner() {
                Ok(w) => w.wait_merging_threads().is_ok(),
                Err(_) => false,
            })
            .await;
            if !matches!(finished, Ok(true)) {
                tracing::warn!("the search index writer did not shut down cleanly");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveModelTrait, Set, TransactionTrait};
    use tantivy::collector::Count;
    use tantivy::query::TermQuery;
    use tantivy::schema::IndexRecordOption;
    use tantivy::{Index, ReloadPolicy};
    use tokio::sync::Notify;

    use super::*;
    use crate::auth::Caller;
    use crate::search::{analyzer, schema};
    use crate::service::{change_log as log, interviews, studies};

    /// A point where the writer waits for the test (see `Indexer::pause`).
    pub(super) struct Pause {
        pub at: &'static str,
        pub reached: Arc<Notify>,
        pub resume: Arc<Notify>,
    }

    #[test]
    fn numbers_read_fill_gaps_and_numbers_skipped_open_them() {
        let runs = |gaps: &BTreeMap<i64, Gap>| -> Vec<(i64, i64)> {
            gaps.iter().map(|(first, g)| (*first, g.last)).collect()
        };
        let mut gaps = BTreeMap::new();
        assert_eq!(record_read(&mut gaps, 4, &[5, 8]), 8);
        assert_eq!(runs(&gaps), [(6, 7)]);
        assert_eq!(through(&gaps, 8), 5);
        // A gap filled below the highest leaves the highest alone.
        assert_eq!(record_read(&mut gaps, 8, &[6]), 8);
        assert_eq!(through(&gaps, 8), 6);
        assert_eq!(record_read(&mut gaps, 8, &[7, 9]), 9);
        assert!(gaps.is_empty());
        // However far the numbers jump (an import holding them is still open), the numbers
        // skipped are waited for, as one run.
        let far = 9 + 1_000_000_000;
        assert_eq!(record_read(&mut gaps, 9, &[far]), far);
        assert_eq!(runs(&gaps), [(10, far - 1)]);
        assert_eq!(through(&gaps, far), 9);
        // Numbers read inside it split it; at its ends they shorten it.
        assert_eq!(record_read(&mut gaps, far, &[10, 20, 30, far - 1]), far);
        assert_eq!(runs(&gaps), [(11, 19), (21, 29), (31, far - 2)]);
        assert_eq!(record_read(&mut gaps, far, &[5, far + 1]), far + 1);
        assert_eq!(runs(&gaps), [(11, 19), (21, 29), (31, far - 2)]);
        assert_eq!(through(&gaps, far + 1), 10);
    }

    /// A gap is given up only when a snapshot taken before the read that still missed it
    /// saw every transaction that could fill it end.
    #[test]
    fn a_gap_is_given_up_once_its_transactions_ended_before_the_read() {
        // Times are taken after the gaps opened (a monotonic clock may not reach back far).
        let opened = Instant::now();
        let at = opened + GAP_GRACE * 2;
        let gap = |seq, since| {
            (
                seq,
                Gap {
                    since,
                    ..Gap::new(seq)
                },
            )
        };
        let mut gaps = BTreeMap::from([gap(3, opened), gap(4, at)]);
        let snapshot = |oldest, next| Finished::Before { oldest, next, at };
        // Past its grace, the older gap takes the next transaction id as its horizon; the
        // young one waits (its transaction may have no id yet).
        expire(&mut gaps, snapshot(90, 100), at);
        assert_eq!(gaps[&3].horizon, Some(100));
        assert_eq!(gaps[&4].horizon, None);
        // Transactions below the horizon still running: kept.
        expire(&mut gaps, snapshot(99, 120), at);
        assert_eq!(gaps.len(), 2);
        // All of them ended before the read: given up.
        expire(&mut gaps, snapshot(100, 120), at);
        assert_eq!(gaps.keys().copied().collect::<Vec<_>>(), [4]);
        // Not asked: nothing changes; SQLite: every hole is a rollback.
        expire(&mut gaps, Finished::Unknown, at);
        assert_eq!(gaps.len(), 1);
        expire(&mut gaps, Finished::All, at);
        assert!(gaps.is_empty());
        // However long the session that may fill it stays open, a gap is waited for.
        let mut gaps = BTreeMap::from([gap(5, opened)]);
        let late = opened + Duration::from_secs(24 * 3_600);
        let running = Finished::Before {
            oldest: 1,
            next: 2,
            at: late,
        };
        expire(&mut gaps, running, late);
        expire(&mut gaps, running, late);
        assert_eq!(
            gaps.len(),
            1,
            "a gap was given up while its transaction ran"
        );
    }

    struct Setup {
        _dir: tempfile::TempDir,
        db: DatabaseConnection,
        caller: Caller,
        case_id: i64,
        indexer: Indexer,
    }

    /// A fresh database (PostgreSQL when `QUADERNO_TEST_DATABASE_URL` names a server) with
    /// one study and case, and an indexer over an index in memory that nothing runs.
    async fn setup() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let base = std::env::var("QUADERNO_TEST_DATABASE_URL").ok();
        let url = crate::db::scratch_database_url(base.as_deref(), dir.path())
            .await
            .unwrap();
        let db = crate::db::connect(&url, 4).await.unwrap().conn;
        crate::db::migrate(&db).await.unwrap();
        let secret = crate::service::tokens::create_token_for(&db, "ops", "admin", None, None)
            .await
            .unwrap();
        let caller = crate::auth::caller_from_token(&db, &secret).await.unwrap();
        let study = studies::create_study(
            &db,
            &caller,
            studies::NewStudy {
                title: "Buchi".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let case_id = studies::create_case(
            &db,
            &caller,
            studies::NewCase {
                study_id: study.id,
                label: "Asti".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
        let (schema, fields) = schema::build();
        let index = Index::create_in_ram(schema);
        analyzer::register(&index);
        let writer = index.writer(15_000_000).unwrap();
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .unwrap();
        let shared = Arc::new(Shared::new(Position::default(), None));
        let index_db = crate::db::connect(&url, 2).await.unwrap().conn;
        let indexer = Indexer::new(writer, reader, fields, index_db, shared, None);
        Setup {
            _dir: dir,
            db,
            caller,
            case_id,
            indexer,
        }
    }

    impl Setup {
        async fn interview(&self, transcript: &str) -> i64 {
            interviews::create_interview(
                &self.db,
                &self.caller,
                interviews::NewInterview {
                    case_id: self.case_id,
                    label: "Int.".into(),
                    transcript: transcript.into(),
                    language: "it".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .id
        }

        /// An interview written with its change-log entry by a transaction left open: its
        /// number is taken, its row invisible until it commits.
        async fn open_interview(&self, transcript: &str) -> (sea_orm::DatabaseTransaction, i64) {
            let txn = self.db.begin().await.unwrap();
            let now = chrono::Utc::now();
            let row = interview::ActiveModel {
                case_id: Set(self.case_id),
                label: Set("Int. lenta".into()),
                language: Set("it".into()),
                transcript: Set(transcript.into()),
                length: Set(transcript.chars().count() as i32),
                version: Set(1),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await
            .unwrap();
            let seq = log::append(&txn, log::Subject::Interview, row.id, log::Op::Upsert)
                .await
                .unwrap();
            (txn, seq)
        }

        /// Copies of the log entry `seq`, numbered from `first` to `last` with this parity
        /// (1: odd, 0: even), written through `db`: the rest of an import, or a colleague's
        /// changes interleaved with it.
        async fn log_rows<C: ConnectionTrait>(
            db: &C,
            seq: i64,
            first: i64,
            last: i64,
            parity: i64,
        ) {
            db.execute_unprepared(&format!(
                "INSERT INTO change_log (seq, entity, entity_id, op, created_at) \
                 SELECT n, l.entity, l.entity_id, l.op, l.created_at \
                 FROM change_log l, generate_series({first}, {last}) n \
                 WHERE l.seq = {seq} AND n % 2 = {parity}"
            ))
            .await
            .unwrap();
        }

        /// Takes `count` consecutive numbers from the log's sequence (PostgreSQL); returns
        /// the first.
        async fn take_numbers(&self, count: i64) -> i64 {
            let row = self
                .db
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    format!(
                        "SELECT min(n) AS first FROM (SELECT nextval(pg_get_serial_sequence(\
                         'change_log', 'seq')) AS n FROM generate_series(1, {count})) t"
                    ),
                ))
                .await
                .unwrap()
                .unwrap();
            // Nothing else draws meanwhile: they are consecutive.
            row.try_get("", "first").unwrap()
        }

        /// Polls until a poll finds nothing new (a bounded number of times).
        async fn drain(&mut self) {
            for _ in 0..100 {
                if self.indexer.catch_up().await.unwrap() == 0 {
                    return;
                }
            }
            panic!("the log never ran dry");
        }

        /// Passages and quotations holding this (lower-case, unaccented) word.
        fn docs_with(&self, word: &str) -> usize {
            count(&self.indexer.reader, &self.indexer.fields, word)
        }

        fn position(&self) -> Position {
            *self.indexer.shared.position.borrow()
        }

        async fn rename(&self, from: &str, to: &str) {
            self.db
                .execute_unprepared(&format!("ALTER TABLE {from} RENAME TO {to}"))
                .await
                .unwrap();
        }

        /// Makes the writer wait at `at`: it notifies the first and waits for the second.
        fn pause_at(&mut self, at: &'static str) -> (Arc<Notify>, Arc<Notify>) {
            let (reached, resume) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
            self.indexer.pauses.push(Pause {
                at,
                reached: reached.clone(),
                resume: resume.clone(),
            });
            (reached, resume)
        }

        /// Polls (or rebuilds) in a task that waits at `at`, commits `txn` there and lets
        /// the writer go on; returns the changes the poll applied.
        async fn commit_at(
            mut self,
            at: &'static str,
            txn: sea_orm::DatabaseTransaction,
        ) -> (Self, Result<usize, IndexError>) {
            let (reached, resume) = self.pause_at(at);
            let mut indexer = self.indexer;
            let task = tokio::spawn(async move {
                let result = if at.starts_with("rebuild") {
                    indexer.rebuild().await.map(|()| 0)
                } else {
                    indexer.catch_up().await
                };
                (indexer, result)
            });
            reached.notified().await;
            txn.commit().await.unwrap();
            resume.notify_one();
            let (mut indexer, result) = task.await.unwrap();
            indexer.pauses.clear();
            self.indexer = indexer;
            (self, result)
        }
    }

    /// A writer failing poll after poll reports the index unhealthy (`/readyz` answers 503),
    /// and healthy again once a poll succeeds.
    #[tokio::test]
    async fn repeated_failures_make_the_index_unhealthy_until_a_poll_succeeds() {
        let mut s = setup().await;
        s.interview("R: La casa popolare, finalmente.").await;
        s.indexer.rebuild().await.unwrap();
        s.indexer.shared.ready.store(true, Ordering::SeqCst);
        assert!(s.indexer.shared.usable());

        s.rename("change_log", "change_log_away").await;
        assert!(s.indexer.poll().await.is_err());
        assert!(
            s.indexer.shared.usable(),
            "one failure already reported the index unhealthy"
        );
        for _ in 1..FAILURES_UNHEALTHY {
            assert!(s.indexer.poll().await.is_err());
        }
        assert!(
            !s.indexer.shared.usable(),
            "a writer failing over and over was reported ready"
        );

        s.rename("change_log_away", "change_log").await;
        s.interview("R: Serve una zanzariera nuova, perché è rotta.")
            .await;
        assert_eq!(s.indexer.poll().await.unwrap(), 1);
        assert!(
            s.indexer.shared.usable(),
            "the recovered writer stayed unhealthy"
        );
        assert_eq!(s.docs_with("zanzariera"), 1);
    }

    /// Stopping ends a start-up rebuild that keeps failing: shutdown waits for the writer.
    #[tokio::test]
    async fn stopping_ends_a_start_up_rebuild_that_keeps_failing() {
        let s = setup().await;
        s.interview("R: La casa popolare, finalmente.").await;
        s.rename("interview", "interview_away").await;
        let shared = s.indexer.shared.clone();
        let writer = tokio::spawn(s.indexer.run(Start::Rebuild));
        stop(shared.clone(), writer).await;
        assert!(!shared.ready.load(Ordering::SeqCst));
    }

    /// A rebuild stopped between chunks leaves the last commit as it was: nothing it did
    /// (clearing the index first) is committed with the next batch.
    #[tokio::test]
    async fn a_rebuild_stopped_between_chunks_keeps_the_last_commit() {
        let mut s = setup().await;
        s.interview("R: La casa popolare, finalmente.").await;
        s.indexer.rebuild().await.unwrap();
        s.interview("R: Serve una zanzariera nuova, perché è rotta.")
            .await;

        s.indexer.shared.stop.store(true, Ordering::SeqCst);
        assert!(matches!(
            s.indexer.rebuild().await,
            Err(IndexError::Stopped)
        ));
        s.indexer.shared.stop.store(false, Ordering::SeqCst);
        s.drain().await;
        assert_eq!(
            s.docs_with("casa"),
            1,
            "the interrupted rebuild's clearing was committed"
        );
        assert_eq!(s.docs_with("zanzariera"), 1);
    }

    /// A batch that fails after the log was read (here: its documents cannot be read) is
    /// read again whole, gaps it filled included, and is not counted as a poll, so that
    /// `SearchIndex::sync` does not return on it.
    #[tokio::test]
    async fn a_failed_batch_keeps_its_gaps_and_is_not_counted_as_a_poll() {
        let mut s = setup().await;
        let first = s.interview("R: La casa popolare, finalmente.").await;
        s.indexer.rebuild().await.unwrap();
        assert_eq!(s.docs_with("casa"), 1);
        s.interview("R: Serve una zanzariera nuova.").await;
        let next = log::append(&s.db, log::Subject::Interview, first, log::Op::Upsert)
            .await
            .unwrap();
        let late_seq = next - 1;
        // As on PostgreSQL when the later number was applied while the earlier one's
        // transaction was still open.
        s.indexer.gaps.insert(late_seq, Gap::new(late_seq));
        s.indexer.shared.position.send_modify(|p| {
            p.high = next;
            p.through = late_seq - 1;
        });
        let before = s.position();

        s.rename("interview", "interview_away").await;
        assert!(s.indexer.catch_up().await.is_err());
        assert_eq!(s.position(), before, "a failed poll moved the position");
        assert!(
            s.indexer.gaps.contains_key(&late_seq),
            "the gap was forgotten"
        );

        s.rename("interview_away", "interview").await;
        assert_eq!(s.indexer.catch_up().await.unwrap(), 1);
        assert_eq!(
            s.docs_with("zanzariera"),
            1,
            "the filled gap was never applied"
        );
        let after = s.position();
        assert_eq!((after.through, after.high), (next, next));
        assert!(after.polls > before.polls);
    }

    /// PostgreSQL: a transaction holding a gap's number that commits between the poll's
    /// check of running transactions and its read of the log is read, not given up as
    /// rolled back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_gap_committed_between_the_check_and_the_read_is_applied() {
        if std::env::var("QUADERNO_TEST_DATABASE_URL").is_err() {
            eprintln!(
                "skipped: SQLite has no concurrent writers (QUADERNO_TEST_DATABASE_URL unset)"
            );
            return;
        }
        let mut s = setup().await;
        s.interview("R: La casa popolare, finalmente.").await;
        s.indexer.rebuild().await.unwrap();
        let (slow, slow_seq) = s
            .open_interview("R: Il tavolo di co-progettazione è partito in ritardo.")
            .await;
        s.interview("R: La domiciliarità è cresciuta.").await;
        s.indexer.catch_up().await.unwrap();
        assert!(s.indexer.gaps.contains_key(&slow_seq));
        // Past its grace the gap gets a horizon above the open transaction's id.
        tokio::time::sleep(GAP_GRACE + Duration::from_millis(100)).await;
        s.indexer.catch_up().await.unwrap();
        assert!(s.indexer.gaps[&slow_seq].horizon.is_some());

        let (s, polled) = s.commit_at("poll: transactions checked", slow).await;
        assert_eq!(polled.unwrap(), 1);
        assert_eq!(
            s.docs_with("ritardo"),
            1,
            "the gap was given up although committed"
        );
        assert!(s.indexer.gaps.is_empty());
        assert_eq!(s.position().through, s.position().high);
    }

    /// PostgreSQL: a change numbered below the log's end when a rebuild began, committed
    /// after the rebuild read the documents, is applied after it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_change_committed_during_a_rebuild_is_applied_after_it() {
        if std::env::var("QUADERNO_TEST_DATABASE_URL").is_err() {
            eprintln!(
                "skipped: SQLite has no concurrent writers (QUADERNO_TEST_DATABASE_URL unset)"
            );
            return;
        }
        let s = setup().await;
        s.interview("R: La casa popolare, finalmente.").await;
        let (slow, slow_seq) = s
            .open_interview("R: Il tavolo di co-progettazione è partito in ritardo.")
            .await;
        s.interview("R: La domiciliarità è cresciuta.").await;
        let (mut s, rebuilt) = s.commit_at("rebuild: documents read", slow).await;
        rebuilt.unwrap();
        assert_eq!(s.docs_with("domiciliarita"), 1);
        assert!(s.position().through < slow_seq);
        s.indexer.catch_up().await.unwrap();
        assert_eq!(
            s.docs_with("ritardo"),
            1,
            "the change was lost by the rebuild"
        );
        assert_eq!(s.position().through, s.position().high);
    }

    fn on_postgres() -> bool {
        let on = std::env::var("QUADERNO_TEST_DATABASE_URL").is_ok();
        if !on {
            eprintln!(
                "skipped: SQLite has no concurrent writers (QUADERNO_TEST_DATABASE_URL unset)"
            );
        }
        on
    }

    /// PostgreSQL: an import takes 12,001 numbers in one transaction; a colleague's change
    /// numbered after them commits first. The import's changes are applied once it commits,
    /// however far the numbers jumped (more than the 10,000 missing numbers once tracked).
    #[tokio::test]
    async fn an_import_committed_after_a_long_jump_in_the_numbers_is_applied() {
        if !on_postgres() {
            return;
        }
        let mut s = setup().await;
        s.interview("R: La casa popolare, finalmente.").await;
        let other = max_seq(&s.db).await.unwrap();
        s.indexer.rebuild().await.unwrap();
        let (import, seq) = s
            .open_interview("R: Il tavolo di co-progettazione è partito in ritardo.")
            .await;
        let first = s.take_numbers(12_000).await;
        Setup::log_rows(&import, other, first, first + 11_999, 0).await;
        Setup::log_rows(&import, other, first, first + 11_999, 1).await;
        s.interview("R: La domiciliarità è cresciuta.").await;
        s.drain().await;
        assert_eq!(s.docs_with("domiciliarita"), 1);
        assert!(s.position().through < seq);

        import.commit().await.unwrap();
        s.drain().await;
        assert_eq!(
            s.docs_with("ritardo"),
            1,
            "the import's changes were never read"
        );
        assert_eq!(s.position().through, s.position().high);
    }

    /// PostgreSQL: an import and a colleague take numbers in turn, 70,000 each; the
    /// colleague commits first. More numbers are outstanding than one statement may bind
    /// (see `db::IDS_PER_STATEMENT`), and polling goes on; the import is applied when it
    /// commits.
    #[tokio::test]
    async fn more_outstanding_numbers_than_a_statement_binds_do_not_stop_polling() {
        if !on_postgres() {
            return;
        }
        let mut s = setup().await;
        s.interview("R: La casa popolare, finalmente.").await;
        let other = max_seq(&s.db).await.unwrap();
        s.indexer.rebuild().await.unwrap();
        let (import, seq) = s
            .open_interview("R: Il tavolo di co-progettazione è partito in ritardo.")
            .await;
        let first = s.take_numbers(140_000).await;
        let last = first + 139_999;
        Setup::log_rows(&import, other, first, last, first % 2).await;
        Setup::log_rows(&s.db, other, first, last, (first + 1) % 2).await;
        s.drain().await;
        assert_eq!(s.position().high, last);
        assert!(s.position().through < seq);

        import.commit().await.unwrap();
        // A batch from the gaps that may have left some unread does not count as a poll
        // that saw every change committed before it.
        let polls = s.position().polls;
        assert_eq!(s.indexer.catch_up().await.unwrap(), BATCH as usize);
        assert_eq!(s.position().polls, polls);
        s.drain().await;
        assert_eq!(
            s.docs_with("ritardo"),
            1,
            "the import's changes were never read"
        );
        assert_eq!(s.position().through, last);
        assert!(s.position().polls > polls);
    }

    /// PostgreSQL: a transaction that stays open longer than any patience (here: its number
    /// has been missing for an hour) still has its change applied when it commits.
    #[tokio::test]
    async fn a_transaction_open_for_an_hour_is_applied_when_it_commits() {
        if !on_postgres() {
            return;
        }
        let mut s = setup().await;
        s.interview("R: La casa popolare, finalmente.").await;
        s.indexer.rebuild().await.unwrap();
        let (slow, slow_seq) = s
            .open_interview("R: Il tavolo di co-progettazione è partito in ritardo.")
            .await;
        s.interview("R: La domiciliarità è cresciuta.").await;
        s.drain().await;
        let hour_ago = Instant::now()
            .checked_sub(Duration::from_secs(3_600))
            .expect("the monotonic clock reaches an hour back");
        for g in s.indexer.gaps.values_mut() {
            g.since = hour_ago;
        }
        s.drain().await;
        s.drain().await;
        assert!(
            s.position().through < slow_seq,
            "the open transaction was given up"
        );

        slow.commit().await.unwrap();
        s.drain().await;
        assert_eq!(s.docs_with("ritardo"), 1, "the late change was lost");
        assert_eq!(s.position().through, s.position().high);
    }

    /// PostgreSQL: numbers an import took and rolled back are given up once it has ended,
    /// however many, and the position recorded for restarts moves past them.
    #[tokio::test]
    async fn a_rolled_back_import_is_given_up_once_it_ended() {
        if !on_postgres() {
            return;
        }
        let mut s = setup().await;
        s.interview("R: La casa popolare, finalmente.").await;
        let other = max_seq(&s.db).await.unwrap();
        s.indexer.rebuild().await.unwrap();
        let (import, seq) = s
            .open_interview("R: Il tavolo di co-progettazione è partito in ritardo.")
            .await;
        let first = s.take_numbers(12_000).await;
        Setup::log_rows(&import, other, first, first + 11_999, 1).await;
        s.interview("R: La domiciliarità è cresciuta.").await;
        s.drain().await;
        assert!(s.position().through < seq);

        import.rollback().await.unwrap();
        // Once past their grace the gaps take a horizon, and a later poll sees it passed. The
        // horizon is the whole server's: other tests' transactions open beside this one hold
        // it back until they end, so the gaps must go within a bound, not at the first poll.
        tokio::time::sleep(GAP_GRACE + Duration::from_millis(100)).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            s.drain().await;
            if s.indexer.gaps.is_empty() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the rolled-back import's gaps were never given up"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let position = s.position();
        assert_eq!(position.through, position.high);
        let metas = s.indexer.reader.searcher().index().load_metas().unwrap();
        let recorded: Payload = serde_json::from_str(metas.payload.as_deref().unwrap()).unwrap();
        assert_eq!(recorded.seq, position.high);
        assert_eq!(s.docs_with("ritardo"), 0);
    }

    /// PostgreSQL: a rebuild that begins while an import holding numbers far below the log's
    /// end is still open waits for all of them, not only for the latest thousand.
    #[tokio::test]
    async fn a_rebuild_waits_for_an_import_far_below_the_end_of_the_log() {
        if !on_postgres() {
            return;
        }
        let mut s = setup().await;
        s.interview("R: La casa popolare, finalmente.").await;
        let other = max_seq(&s.db).await.unwrap();
        let (import, _) = s
            .open_interview("R: Il tavolo di co-progettazione è partito in ritardo.")
            .await;
        let first = s.take_numbers(12_000).await;
        Setup::log_rows(&import, other, first, first + 11_999, 0).await;
        Setup::log_rows(&import, other, first, first + 11_999, 1).await;
        s.interview("R: La domiciliarità è cresciuta.").await;
        s.indexer.rebuild().await.unwrap();
        s.drain().await;
        assert_eq!(s.docs_with("domiciliarita"), 1);

        import.commit().await.unwrap();
        s.drain().await;
        assert_eq!(
            s.docs_with("ritardo"),
            1,
            "the import was lost by the rebuild"
        );
        assert_eq!(s.position().through, s.position().high);
    }

    /// A quotation's codes are read `db::IDS_PER_STATEMENT` quotations at a time. One
    /// interview can hold more quotations than one statement may bind (here a few more than
    /// the backend's limit, given there): reading all their codes at once failed, and the
    /// rebuild retried forever.
    #[tokio::test]
    async fn an_interview_with_more_quotations_than_a_statement_binds_is_indexed() {
        use crate::service::codes;
        let mut s = setup().await;
        let transcript = "R: Il tavolo di co-progettazione è partito, però in ritardo.";
        let interview = s.interview(transcript).await;
        let study_id = study_case::Entity::find_by_id(s.case_id)
            .one(&s.db)
            .await
            .unwrap()
            .unwrap()
            .study_id;
        let code = codes::create_code(
            &s.db,
            &s.caller,
            codes::NewCode {
                study_id,
                name: "Governance".into(),
                parent_id: None,
                description: None,
                color: None,
            },
        )
        .await
        .unwrap();
        let quotations: usize = match s.db.get_database_backend() {
            DbBackend::Postgres => 66_000,
            _ => 33_000,
        };
        let now = chrono::Utc::now();
        let first = quotation::ActiveModel {
            interview_id: Set(interview),
            start_pos: Set(3),
            end_pos: Set(transcript.chars().count() as i32),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&s.db)
        .await
        .unwrap();
        s.db.execute_unprepared(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {more}) \
             INSERT INTO quotation (interview_id, start_pos, end_pos, version, created_at, \
             updated_at) SELECT q.interview_id, q.start_pos, q.end_pos, q.version, \
             q.created_at, q.updated_at FROM quotation q, n WHERE q.id = {id}",
            more = quotations - 1,
            id = first.id,
        ))
        .await
        .unwrap();
        s.db.execute_unprepared(&format!(
            "INSERT INTO quotation_code (quotation_id, code_id) \
             SELECT id, {} FROM quotation WHERE interview_id = {interview}",
            code.id
        ))
        .await
        .unwrap();

        s.indexer.rebuild().await.unwrap();
        assert_eq!(s.docs_with("ritardo"), 1 + quotations);
        let coded = TermQuery::new(
            Term::from_field_u64(s.indexer.fields.code_id, code.id as u64),
            IndexRecordOption::Basic,
        );
        let searcher = s.indexer.reader.searcher();
        assert_eq!(searcher.search(&coded, &Count).unwrap(), quotations);
    }

    /// The log's entry numbers, in order.
    async fn log_seqs(db: &DatabaseConnection) -> Vec<i64> {
        change_log::Entity::find()
            .select_only()
            .column(change_log::Column::Seq)
            .order_by_asc(change_log::Column::Seq)
            .into_tuple()
            .all(db)
            .await
            .unwrap()
    }

    /// Dates the entries numbered up to `last` (all but `except`) `days` back.
    async fn age(db: &DatabaseConnection, last: i64, except: Option<i64>, days: i64) {
        let then = chrono::Utc::now() - chrono::Duration::days(days);
        let mut aged = change_log::Entity::update_many()
            .col_expr(
                change_log::Column::CreatedAt,
                sea_orm::sea_query::Expr::value(then),
            )
            .filter(change_log::Column::Seq.lte(last));
        if let Some(seq) = except {
            aged = aged.filter(change_log::Column::Seq.ne(seq));
        }
        aged.exec(db).await.unwrap();
    }

    /// What the last commit of `s`'s index records, as the next start reads it.
    async fn saved(s: &Setup) -> Payload {
        let seq = s.position().through;
        Payload {
            analyzer: ANALYZER_VERSION,
            log: LOG_FOLLOWING,
            seq,
            at: s.indexer.mark(seq).await.unwrap(),
            unpurged: BTreeSet::new(),
        }
    }

    /// Pruning takes only a run from the start of the log: old entries below the first
    /// recent one (whatever the dates after it), below the pruning index's own position, and
    /// never the newest.
    #[tokio::test]
    async fn pruning_takes_a_run_from_the_start_and_keeps_the_newest() {
        let s = setup().await;
        for text in ["R: Uno.", "R: Due.", "R: Tre.", "R: Quattro."] {
            s.interview(text).await;
        }
        let seqs = log_seqs(&s.db).await;
        assert_eq!(seqs.len(), 4, "{seqs:?}");
        let month_ago = chrono::Utc::now() - chrono::Duration::days(30);
        // The second is recent (a replica's clock ahead, say): nothing after it goes.
        age(&s.db, seqs[3], Some(seqs[1]), 40).await;
        let pruned = log::prune(&s.db, month_ago, i64::MAX).await.unwrap();
        assert_eq!((pruned, log_seqs(&s.db).await), (1, seqs[1..].to_vec()));
        // All old now; an index that has applied up to the third keeps the third.
        age(&s.db, seqs[3], None, 40).await;
        let pruned = log::prune(&s.db, month_ago, seqs[2]).await.unwrap();
        assert_eq!((pruned, log_seqs(&s.db).await), (1, seqs[2..].to_vec()));
        let pruned = log::prune(&s.db, month_ago, i64::MAX).await.unwrap();
        assert_eq!((pruned, log_seqs(&s.db).await), (1, vec![seqs[3]]));
        assert_eq!(log::prune(&s.db, month_ago, i64::MAX).await.unwrap(), 0);
    }

    /// An index that applied one interview ("casa") and stopped; a second ("zanzariera")
    /// logged after it; both entries dated 40 days back (before the commit is read, since it
    /// records its entry's date).
    async fn stopped_before_an_old_change() -> (Setup, Payload) {
        let mut s = setup().await;
        s.interview("R: La casa popolare, finalmente.").await;
        s.drain().await;
        s.interview("R: Serve una zanzariera nuova.").await;
        let last = *log_seqs(&s.db).await.last().unwrap();
        age(&s.db, last, None, 40).await;
        let stopped = saved(&s).await;
        (s, stopped)
    }

    /// Nothing becomes searchable while the writer rebuilds the index (minutes on a large
    /// corpus, after the log was pruned past it): a mutation's wait for its write returns at
    /// once rather than after SYNC_TIMEOUT, and the write is searchable once the rebuild
    /// ends, when waiting works again.
    #[tokio::test]
    async fn waiting_for_a_write_during_a_rebuild_returns_at_once() {
        let mut s = setup().await;
        s.interview("R: La casa popolare, finalmente.").await;
        let (reached, resume) = s.pause_at("rebuild: documents read");
        let Setup {
            _dir,
            db,
            caller,
            case_id,
            indexer,
        } = s;
        let (reader, fields, shared) = (
            indexer.reader.clone(),
            indexer.fields,
            indexer.shared.clone(),
        );
        let writer = tokio::spawn(indexer.run(Start::Rebuild));
        reached.notified().await;
        interviews::create_interview(
            &db,
            &caller,
            interviews::NewInterview {
                case_id,
                label: "Int. durante".into(),
                transcript: "R: Serve una zanzariera nuova.".into(),
                language: "it".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        // A guard against hanging, far below SYNC_TIMEOUT: not a measure of speed.
        let waited = tokio::time::timeout(Duration::from_secs(3), shared.sync(&db)).await;
        assert!(
            matches!(waited, Ok(Err(crate::search::SearchError::NotReady))),
            "a wait during the rebuild did not return at once"
        );
        resume.notify_one();
        wait_until_ready(&shared).await;
        shared.sync(&db).await.unwrap();
        reader.reload().unwrap();
        assert_eq!(count(&reader, &fields, "zanzariera"), 1);
        assert_eq!(count(&reader, &fields, "casa"), 1);
        stop(shared, writer).await;
    }

    /// An index that stopped at an entry pruned since does not resume from it: it rebuilds,
    /// and finds the change it never read.
    #[tokio::test]
    async fn an_index_that_stopped_at_a_pruned_entry_rebuilds() {
        let (s, stopped) = stopped_before_an_old_change().await;
        assert!(s.indexer.trusts(&stopped).await.unwrap());
        let month_ago = chrono::Utc::now() - chrono::Duration::days(30);
        assert_eq!(log::prune(&s.db, month_ago, i64::MAX).await.unwrap(), 1);
        assert!(!s.indexer.trusts(&stopped).await.unwrap());
        let (reader, fields) = (s.indexer.reader.clone(), s.indexer.fields);
        let shared = s.indexer.shared.clone();
        let writer = tokio::spawn(s.indexer.run(Start::Resume(stopped)));
        wait_until_ready(&shared).await;
        assert_eq!(count(&reader, &fields, "zanzariera"), 1);
        stop(shared, writer).await;
    }

    /// Pruning by another replica while this index catches up from an old commit may take
    /// entries it has not read: once caught up it finds the entry it resumed from gone, and
    /// rebuilds instead of serving an index without those changes.
    #[tokio::test]
    async fn pruning_while_the_index_catches_up_makes_it_rebuild() {
        let (mut s, stopped) = stopped_before_an_old_change().await;
        s.interview("R: E poi la lavatrice.").await;
        // Each poll of the writer waits for a go after checking the transactions, before it
        // reads the log; the first go comes once the pruning is done.
        let (reached, resume) = s.pause_at("poll: transactions checked");
        let (reader, fields) = (s.indexer.reader.clone(), s.indexer.fields);
        let shared = s.indexer.shared.clone();
        let writer = tokio::spawn(s.indexer.run(Start::Resume(stopped)));
        reached.notified().await;
        let month_ago = chrono::Utc::now() - chrono::Duration::days(30);
        assert_eq!(log::prune(&s.db, month_ago, i64::MAX).await.unwrap(), 2);
        let goes = tokio::spawn(async move {
            loop {
                resume.notify_one();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        wait_until_ready(&shared).await;
        assert_eq!(
            count(&reader, &fields, "zanzariera"),
            1,
            "the entry pruned unread"
        );
        assert_eq!(count(&reader, &fields, "lavatrice"), 1);
        stop(shared, writer).await;
        goes.abort();
    }

    /// An erased interview is named by every commit from the one deleting its documents
    /// until no segment holds them; an index resumed from such a commit goes on purging it,
    /// merges the segment that holds it beside another interview's documents, and then
    /// commits without it.
    #[tokio::test]
    async fn an_erased_interview_is_named_in_the_commits_until_purged_also_after_a_restart() {
        let mut s = setup().await;
        let turns = |w: &str| {
            (0..40)
                .map(|n| format!("R: {w}, risposta {n}.\n\n"))
                .collect::<String>()
        };
        // One batch, one commit: each of the writer's two threads takes passages of both.
        let id = s.interview(&turns("Lingotto")).await;
        s.interview(&turns("Consorzio")).await;
        s.drain().await;
        assert_eq!(s.docs_with("lingotto"), 40);
        interviews::delete_interview(&s.db, &s.caller, id, 1)
            .await
            .unwrap();
        // Applied, not purged: `catch_up` does not purge, `poll` does.
        s.drain().await;
        assert_eq!(s.docs_with("lingotto"), 0);
        let (reader, fields) = (s.indexer.reader.clone(), s.indexer.fields);
        let committed = |reader: &IndexReader| -> Payload {
            let metas = reader.searcher().index().load_metas().unwrap();
            serde_json::from_str(metas.payload.as_deref().unwrap()).unwrap()
        };
        let holding = |reader: &IndexReader| {
            reader.reload().unwrap();
            erasure::segments_holding(&reader.searcher(), &fields, &[id]).unwrap()
        };
        let stopped = committed(&reader);
        assert_eq!(stopped.unpurged, BTreeSet::from([id]));
        assert!(!holding(&reader).is_empty());

        // As after a restart: nothing in memory, the commit's list alone.
        s.indexer.unpurged.clear();
        let shared = s.indexer.shared.clone();
        let writer = tokio::spawn(s.indexer.run(Start::Resume(stopped)));
        wait_until_ready(&shared).await;
        // A guard against hanging the test run, not a measure of speed.
        for _ in 0..600 {
            if committed(&reader).unpurged.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(committed(&reader).unpurged.is_empty());
        assert!(holding(&reader).is_empty());
        assert_eq!(count(&reader, &fields, "consorzio"), 40);
        stop(shared, writer).await;
    }

    async fn wait_until_ready(shared: &Shared) {
        // A guard against hanging the test run, not a measure of speed.
        for _ in 0..1_000 {
            if shared.ready.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the writer never got ready");
    }

    /// Stops the writer and waits for it to end.
    async fn stop(shared: Arc<Shared>, writer: tokio::task::JoinHandle<()>) {
        shared.stop.store(true, Ordering::SeqCst);
        shared.wake.notify_one();
        // A guard against hanging the test run, not a measure of speed.
        tokio::time::timeout(Duration::from_secs(60), writer)
            .await
            .expect("the writer never stopped")
            .unwrap();
    }

    /// Passages and quotations holding this (lower-case, unaccented) word.
    fn count(reader: &IndexReader, fields: &Fields, word: &str) -> usize {
        let term = Term::from_field_text(fields.text_exact, word);
        reader
            .searcher()
            .search(&TermQuery::new(term, IndexRecordOption::Basic), &Count)
            .unwrap()
    }
}
