//! The change log: every write to searchable data appends a row in the same transaction.
//! Search indexes tail it by sequence number, which keeps them consistent with the database,
//! after a crash and across replicas. Old entries are pruned (`prune`): an index needs only
//! those it has not applied yet, and one that stopped at a pruned entry rebuilds.

use chrono::{DateTime, Utc};
use entities::change_log;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set,
};

use crate::error::ServiceResult;

/// What a change is about: the two kinds of searchable rows. (Not to be confused with
/// `change_log::Entity`, the table's sea-orm entity.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Interview,
    Quotation,
}

impl Subject {
    /// As written in the table's `entity` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Interview => "interview",
            Self::Quotation => "quotation",
        }
    }

    pub fn from_column(entity: &str) -> Option<Self> {
        [Self::Interview, Self::Quotation]
            .into_iter()
            .find(|s| s.as_str() == entity)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Upsert,
    Delete,
}

/// Appends one change; returns its sequence number.
pub async fn append<C: ConnectionTrait>(
    db: &C,
    subject: Subject,
    entity_id: i64,
    op: Op,
) -> ServiceResult<i64> {
    let row = change_log::ActiveModel {
        entity: Set(subject.as_str().to_owned()),
        entity_id: Set(entity_id),
        op: Set(match op {
            Op::Upsert => "upsert",
            Op::Delete => "delete",
        }
        .to_owned()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(row.seq)
}

/// The newest entry's number (0 for an empty log).
pub async fn max_seq<C: ConnectionTrait>(db: &C) -> Result<i64, sea_orm::DbErr> {
    end_of_log(db, sea_orm::Order::Desc).await
}

/// The oldest entry's number (0 for an empty log).
pub async fn oldest_seq<C: ConnectionTrait>(db: &C) -> Result<i64, sea_orm::DbErr> {
    end_of_log(db, sea_orm::Order::Asc).await
}

async fn end_of_log<C: ConnectionTrait>(
    db: &C,
    order: sea_orm::Order,
) -> Result<i64, sea_orm::DbErr> {
    let seq: Option<i64> = change_log::Entity::find()
        .select_only()
        .column(change_log::Column::Seq)
        .order_by(change_log::Column::Seq, order)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    Ok(seq.unwrap_or(0))
}

/// Entries deleted per statement while pruning, so that SQLite's one writer is never held
/// for long.
const PRUNE_BATCH: u64 = 10_000;

/// Deletes the oldest entries: those numbered below `below` (the position of the index
/// pruning, which keeps its own), below the first entry made at or after `before`, and below
/// the newest (where an index that followed the log to its end stands, and what a new entry
/// follows). What goes is always a run from the start of the log, whatever the clocks of the
/// replicas that dated the entries, so an index that still finds the entry it stopped at has
/// missed none after it. Returns how many went.
///
/// An index whose last commit recorded a pruned entry does not trust itself, and one that
/// finds entries pruned before it read them stops following the log; both rebuild from the
/// database (`Indexer::run`), so pruning loses nothing. The retention is the longest a
/// replica may stay down and still catch up from the log. It must also be longer than any
/// write transaction runs: an entry is numbered when its transaction writes it but seen when
/// it commits, and one pruned in between would be missed by the indexes still waiting for it.
pub async fn prune<C: ConnectionTrait>(
    db: &C,
    before: DateTime<Utc>,
    below: i64,
) -> ServiceResult<u64> {
    let newest = max_seq(db).await?;
    // Read in number order: the old entries lead the primary key, so this stops at the first
    // recent one rather than reading the log.
    let first_recent: Option<i64> = change_log::Entity::find()
        .select_only()
        .column(change_log::Column::Seq)
        .filter(change_log::Column::CreatedAt.gte(before))
        .order_by_asc(change_log::Column::Seq)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    let horizon = below.min(newest).min(first_recent.unwrap_or(i64::MAX));
    let mut pruned = 0;
    loop {
        let batch = change_log::Entity::find()
            .select_only()
            .column(change_log::Column::Seq)
            .filter(change_log::Column::Seq.lt(horizon))
            .order_by_asc(change_log::Column::Seq)
            .limit(PRUNE_BATCH)
            .into_query();
        let deleted = change_log::Entity::delete_many()
            .filter(change_log::Column::Seq.in_subquery(batch))
            .exec(db)
            .await?
            .rows_affected;
        pruned += deleted;
        if deleted < PRUNE_BATCH {
            return Ok(pruned);
        }
    }
}
