//! Keyset pagination over ascending ids: stable cursors whatever is inserted meanwhile.

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, PartialModelTrait, QueryFilter,
    QueryOrder, QuerySelect, Select,
};

use crate::error::{ServiceError, ServiceResult};

pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 1000;

/// What a caller asked for: at most `first` items after the item with id `after`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageRequest {
    pub first: Option<i64>,
    pub after: Option<i64>,
}

impl PageRequest {
    pub fn limit(&self) -> ServiceResult<usize> {
        match self.first {
            None => Ok(DEFAULT_PAGE),
            Some(n) if n < 0 => Err(ServiceError::bad_input("`first` must not be negative")),
            Some(n) if n as usize > MAX_PAGE => Err(ServiceError::bad_input(format!(
                "`first` must be at most {MAX_PAGE}"
            ))),
            Some(n) => Ok(n as usize),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next: bool,
    pub has_previous: bool,
    pub total: u64,
}

/// Runs `select` (already filtered) as one page ordered by `id`, plus a count; rows are read
/// as `M`, the entity's model or a partial model of it.
pub async fn by_id<E, M, C>(
    db: &C,
    select: Select<E>,
    id: E::Column,
    req: PageRequest,
) -> ServiceResult<Page<M>>
where
    E: EntityTrait,
    E::Model: Sync,
    M: PartialModelTrait + Send + Sync,
    C: ConnectionTrait,
{
    let limit = req.limit()?;
    let total = select.clone().count(db).await?;
    let mut q = select.order_by_asc(id);
    if let Some(after) = req.after {
        q = q.filter(id.gt(after));
    }
    let mut items = q
        .limit(limit as u64 + 1)
        .into_partial_model::<M>()
        .all(db)
        .await?;
    let has_next = items.len() > limit;
    items.truncate(limit);
    Ok(Page {
        items,
        has_next,
        has_previous: req.after.is_some(),
        total,
    })
}

/// Pages a list already in memory (children loaded in one batch by a DataLoader), using the
/// same id cursors.
pub fn in_memory<T: Clone>(
    all: &[T],
    id_of: impl Fn(&T) -> i64,
    req: PageRequest,
) -> ServiceResult<Page<T>> {
    let limit = req.limit()?;
    let start = match req.after {
        None => 0,
        Some(after) => all
            .iter()
            .position(|x| id_of(x) == after)
            .map(|p| p + 1)
            .ok_or_else(|| ServiceError::bad_input("`after` is not a cursor of this list"))?,
    };
    let rest = &all[start.min(all.len())..];
    Ok(Page {
        items: rest.iter().take(limit).cloned().collect(),
        has_next: rest.len() > limit,
        has_previous: start > 0,
        total: all.len() as u64,
    })
}
