//! The change log: every write to searchable data appends a row in the same transaction.
//! Search indexes tail it by sequence number, which keeps them consistent with the database,
//! after a crash and across replicas.

use chrono::Utc;
use entities::change_log;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};

use crate::error::ServiceResult;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Interview,
    Quotation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Upsert,
    Delete,
}

/// Appends one change; returns its sequence number.
pub async fn append<C: ConnectionTrait>(
    db: &C,
    entity: Entity,
    entity_id: i64,
    op: Op,
) -> ServiceResult<i64> {
    let row = change_log::ActiveModel {
        entity: Set(match entity {
            Entity::Interview => "interview",
            Entity::Quotation => "quotation",
        }
        .to_owned()),
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
