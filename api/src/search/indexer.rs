//! The one writer of the index. It tails `change_log` from the sequence recorded in the last
//! commit, rebuilds documents from the database (the source of truth), and commits in batches
//! so that many single edits do not leave many segments.
//!
//! On PostgreSQL sequence numbers are handed out when a row is inserted but become visible
//! when its transaction commits, so seq 7 can appear after seq 8 has been read. A hole in the
//! numbers is therefore kept as a *gap* and asked for again on every poll until it shows up,
//! or until every transaction that could still commit it has ended (a rolled-back insert
//! leaves a hole forever). Commits record the sequence below the oldest open gap, so a
//! restart replays from there; replaying is harmless because every change is rebuilt from
//! the database's current state.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use entities::{case_ambito, change_log, code, interview, quotation, quotation_code, study_case};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde::{Deserialize, Serialize};
use tantivy::schema::Term;
use tantivy::{IndexReader, IndexWriter, TantivyDocument};

use super::analyzer::ANALYZER_VERSION;
use super::passages;
use super::schema::{Fields, KIND_PASSAGE, KIND_QUOTATION};
use super::{Position, Shared};
use crate::text;

/// What each commit records: the analyzer it was built with and the last change applied.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Payload {
    pub analyzer: u32,
    pub seq: i64,
}

/// Changes read from the log in one batch (one commit).
const BATCH: u64 = 5_000;
/// Interviews per database round trip while rebuilding.
const REBUILD_CHUNK: usize = 100;
/// How often the log is polled for other replicas' writes (local ones wake the writer at once).
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// A gap younger than this is always waited for: the transaction that took the number may
/// not have an id yet, so the snapshot check below could miss it.
const GAP_GRACE: Duration = Duration::from_secs(1);
/// A gap is given up after this whatever the database says, so that one stuck session cannot
/// hold the recorded position back forever.
const GAP_GIVE_UP: Duration = Duration::from_secs(600);
/// At most this many missing numbers are tracked; a larger jump (a sequence reset by hand)
/// is taken as it is.
const MAX_GAPS: i64 = 10_000;
/// After a rebuild, holes among this many latest numbers are treated as gaps.
const REBUILD_GAP_WINDOW: i64 = 1_000;

/// A sequence number not (yet) seen in the log.
#[derive(Debug, Clone, Copy)]
struct Gap {
    since: Instant,
    /// The next transaction id when the grace period ended: once every transaction older
    /// than that has finished, nobody can commit this number any more.
    horizon: Option<i64>,
}

impl Gap {
    fn new() -> Self {
        Self {
            since: Instant::now(),
            horizon: None,
        }
    }
}

pub(super) struct Indexer {
    /// Shared only with `spawn_blocking` closures: this task is the one writer.
    pub writer: Arc<Mutex<IndexWriter>>,
    pub reader: IndexReader,
    pub fields: Fields,
    pub db: DatabaseConnection,
    pub shared: Arc<Shared>,
    gaps: BTreeMap<i64, Gap>,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("the index writer panicked")]
    Panicked,
}

/// One step for the writer, in log order.
enum Op {
    Delete(Term),
    Add(TantivyDocument),
    DeleteAll,
}

pub async fn max_seq<C: ConnectionTrait>(db: &C) -> Result<i64, sea_orm::DbErr> {
    let last: Option<i64> = change_log::Entity::find()
        .select_only()
        .column(change_log::Column::Seq)
        .order_by_desc(change_log::Column::Seq)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    Ok(last.unwrap_or(0))
}

/// Everything needed to turn interviews and quotations into documents, loaded in batches.
#[derive(Default)]
struct Context {
    interviews: HashMap<i64, interview::Model>,
    cases: HashMap<i64, study_case::Model>,
    ambiti: HashMap<i64, Vec<i64>>,
    codes: HashMap<i64, code::Model>,
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
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
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
        code_ids: &[i64],
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
        let mut with_ancestors: Vec<i64> = Vec::new();
        for &c in code_ids {
            let mut cur = Some(c);
            while let Some(id) = cur.filter(|id| !with_ancestors.contains(id)) {
                with_ancestors.push(id);
                cur = self.codes.get(&id).and_then(|m| m.parent_id);
            }
        }
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

async fn codes_of(
    db: &DatabaseConnection,
    quotation_ids: &[i64],
) -> Result<HashMap<i64, Vec<i64>>, sea_orm::DbErr> {
    let mut out: HashMap<i64, Vec<i64>> = HashMap::new();
    for link in quotation_code::Entity::find()
        .filter(quotation_code::Column::QuotationId.is_in(quotation_ids.iter().copied()))
        .all(db)
        .await?
    {
        out.entry(link.quotation_id).or_default().push(link.code_id);
    }
    Ok(out)
}

impl Indexer {
    /// Documents for the passages and quotations of these interviews.
    async fn interview_docs(&self, ids: &[i64], ops: &mut Vec<Op>) -> Result<(), IndexError> {
        let ctx = Context::load(&self.db, ids).await?;
        let f = self.fields;
        for i in ctx.interviews.values() {
            ops.extend(ctx.passages(&f, i).into_iter().map(Op::Add));
        }
        let quotations = quotation::Entity::find()
            .filter(quotation::Column::InterviewId.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?;
        let codes = codes_of(
            &self.db,
            &quotations.iter().map(|q| q.id).collect::<Vec<_>>(),
        )
        .await?;
        for q in &quotations {
            let code_ids = codes.get(&q.id).map(Vec::as_slice).unwrap_or(&[]);
            if let Some(doc) = ctx.quotation(&f, q, code_ids) {
                ops.push(Op::Add(doc));
            }
        }
        Ok(())
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
        let codes = codes_of(&self.db, ids).await?;
        let f = self.fields;
        for q in &quotations {
            let code_ids = codes.get(&q.id).map(Vec::as_slice).unwrap_or(&[]);
            if let Some(doc) = ctx.quotation(&f, q, code_ids) {
                ops.push(Op::Add(doc));
            }
        }
        Ok(())
    }

    /// Applies the operations off the async runtime; with `commit`, records `seq` with them.
    async fn apply(&self, ops: Vec<Op>, commit: Option<i64>) -> Result<(), IndexError> {
        let writer = self.writer.clone();
        let reader = self.reader.clone();
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
                }
            }
            if let Some(seq) = commit {
                let payload = serde_json::to_string(&Payload {
                    analyzer: ANALYZER_VERSION,
                    seq,
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
    ) -> Self {
        Self {
            writer: Arc::new(Mutex::new(writer)),
            reader,
            fields,
            db,
            shared,
            gaps: BTreeMap::new(),
        }
    }

    /// Builds the whole index from the database.
    pub async fn rebuild(&mut self) -> Result<(), IndexError> {
        // Read the log position first: changes made while rebuilding are replayed after.
        let seq = max_seq(&self.db).await?;
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
            let mut ops = Vec::new();
            self.interview_docs(chunk, &mut ops).await?;
            self.apply(ops, None).await?;
            if let Some(progress) = &self.shared.progress {
                progress(((n + 1) * REBUILD_CHUNK).min(total), total);
            }
        }
        // Changes numbered below `seq` but not yet committed when it was read were not in
        // the rebuild: wait for them like for any gap.
        self.gaps.clear();
        let recent: Vec<i64> = change_log::Entity::find()
            .select_only()
            .column(change_log::Column::Seq)
            .filter(change_log::Column::Seq.gt(seq - REBUILD_GAP_WINDOW))
            .filter(change_log::Column::Seq.lte(seq))
            .into_tuple()
            .all(&self.db)
            .await?;
        let present: HashSet<i64> = recent.into_iter().collect();
        for missing in (seq - REBUILD_GAP_WINDOW + 1).max(1)..=seq {
            if !present.contains(&missing) {
                self.gaps.insert(missing, Gap::new());
            }
        }
        self.expire_gaps().await?;
        let through = self.through(seq);
        self.apply(Vec::new(), Some(through)).await?;
        self.shared.position.send_modify(|p| {
            p.through = through;
            p.high = seq;
        });
        tracing::info!(interviews = total, seq, "search index rebuilt");
        Ok(())
    }

    /// Everything up to the returned sequence is applied: below the oldest gap.
    fn through(&self, high: i64) -> i64 {
        self.gaps.keys().next().map_or(high, |g| g - 1)
    }

    /// Drops the gaps nobody can fill any more.
    async fn expire_gaps(&mut self) -> Result<(), IndexError> {
        if self.gaps.is_empty() {
            return Ok(());
        }
        if self.db.get_database_backend() != DbBackend::Postgres {
            // SQLite has one writer at a time, which takes its number and commits before the
            // next begins: a hole is a rollback, never a change still to come.
            self.gaps.clear();
            return Ok(());
        }
        let now = Instant::now();
        let waiting = |g: &Gap| g.horizon.is_none() && now.duration_since(g.since) >= GAP_GRACE;
        if !self
            .gaps
            .values()
            .any(|g| waiting(g) || g.horizon.is_some())
        {
            return Ok(());
        }
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS oldest, \
                        pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next",
            ))
            .await?;
        let Some(row) = row else { return Ok(()) };
        let oldest: i64 = row.try_get("", "oldest")?;
        let next: i64 = row.try_get("", "next")?;
        for g in self.gaps.values_mut() {
            if waiting(g) {
                g.horizon = Some(next);
            }
        }
        let before = self.gaps.len();
        self.gaps.retain(|seq, g| {
            let ended = g.horizon.is_some_and(|h| oldest >= h);
            let stale = now.duration_since(g.since) >= GAP_GIVE_UP;
            if stale && !ended {
                tracing::warn!(seq, "gave up waiting for change-log entry");
            }
            !(ended || stale)
        });
        if self.gaps.len() != before {
            tracing::debug!(
                dropped = before - self.gaps.len(),
                "change-log gaps closed (rolled back)"
            );
        }
        Ok(())
    }

    /// Applies the next batch of logged changes; returns how many there were.
    pub async fn catch_up(&mut self) -> Result<usize, IndexError> {
        // Counted before reading, so that `SearchIndex::sync` knows this poll saw every
        // change committed before it started.
        let poll = self.shared.polls_started.fetch_add(1, Ordering::SeqCst) + 1;
        let result = self.poll_once().await;
        self.shared
            .position
            .send_modify(|p| p.polls = p.polls.max(poll));
        result
    }

    async fn poll_once(&mut self) -> Result<usize, IndexError> {
        let start = *self.shared.position.borrow();
        let mut wanted = Condition::any().add(change_log::Column::Seq.gt(start.high));
        if !self.gaps.is_empty() {
            wanted = wanted.add(change_log::Column::Seq.is_in(self.gaps.keys().copied()));
        }
        let changes = change_log::Entity::find()
            .filter(wanted)
            .order_by_asc(change_log::Column::Seq)
            .limit(BATCH)
            .all(&self.db)
            .await?;
        let mut high = start.high;
        for c in &changes {
            // Also for numbers above `high`: a failed poll may have left them as gaps.
            self.gaps.remove(&c.seq);
            if c.seq > high {
                if c.seq - high <= MAX_GAPS {
                    for missing in high + 1..c.seq {
                        self.gaps.entry(missing).or_insert_with(Gap::new);
                    }
                } else {
                    tracing::warn!(
                        from = high,
                        to = c.seq,
                        "change-log numbers jump; not waiting for the hole"
                    );
                }
                high = c.seq;
            }
        }
        self.expire_gaps().await?;
        let through = self.through(high);
        if changes.is_empty() {
            if through != start.through {
                self.shared.position.send_modify(|p| p.through = through);
            }
            return Ok(0);
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
            match entity.as_str() {
                "interview" => interviews.push(id),
                "quotation" => quotations.push(id),
                other => tracing::warn!(entity = other, "unknown entity in change_log"),
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
        for chunk in interviews.chunks(REBUILD_CHUNK) {
            self.interview_docs(chunk, &mut ops).await?;
            self.apply(std::mem::take(&mut ops), None).await?;
        }
        // Quotations of a re-read interview were added with it.
        let reread: HashSet<i64> = interviews.iter().copied().collect();
        for chunk in quotations.chunks(REBUILD_CHUNK) {
            self.quotation_docs(chunk, &reread, &mut ops).await?;
        }
        self.apply(ops, Some(through)).await?;
        self.shared.position.send_modify(|p| {
            *p = Position {
                through,
                high,
                ..*p
            }
        });
        Ok(changes.len())
    }

    /// The writer loop: rebuild if asked, then apply changes as they are logged. Other
    /// replicas' writes are picked up by polling; local ones wake it at once.
    pub async fn run(mut self, rebuild_first: bool) {
        if rebuild_first {
            while let Err(e) = self.rebuild().await {
                tracing::error!(error = %e, "rebuilding the search index failed; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
        // Ready means caught up: replay what the database committed since the last commit.
        loop {
            match self.catch_up().await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "catching up the search index failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        self.shared.ready.store(true, Ordering::SeqCst);
        while !self.shared.stop.load(Ordering::SeqCst) {
            match self.catch_up().await {
                Ok(0) => {
                    let _ = tokio::time::timeout(POLL_INTERVAL, self.shared.wake.notified()).await;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "applying changes to the search index failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        // Every batch was committed; let merges finish and release the lock.
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
