//! Keyset pagination: a cursor is the sort key of the last item seen, and the next page
//! starts at the first item whose key is greater. Nothing is looked up by the cursor, so a
//! page continues where it should whatever was inserted, moved or deleted meanwhile.

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, PartialModelTrait, QueryFilter,
    QueryOrder, QuerySelect, Select,
};

use crate::error::{ServiceError, ServiceResult};

pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 1000;

/// What a caller asked for: at most `first` items whose sort key is greater than `after`.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyedRequest<K> {
    pub first: Option<i64>,
    pub after: Option<K>,
}

/// A request over a list ordered by id alone, where the id is the whole sort key.
pub type PageRequest = KeyedRequest<i64>;

impl<K> KeyedRequest<K> {
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
    let has_next = more_after(limit, items.len());
    items.truncate(limit);
    Ok(Page {
        items,
        has_next,
        has_previous: req.after.is_some(),
        total,
    })
}

/// Whether a page of `limit` items, out of `available` from its start, has a next page. An
/// empty page (`first: 0`) hands out no cursor to go on from: a next page there would send a
/// client that follows `endCursor` while `hasNextPage` back to the start, for ever.
pub fn more_after(limit: usize, available: usize) -> bool {
    limit > 0 && available > limit
}

/// Pages a list already in memory (children loaded in one batch by a DataLoader) and sorted
/// ascending by `key_of`, from the first item whose key is greater than the cursor's: the
/// cursor's own item may have been deleted or moved since it was handed out.
pub fn in_memory<T: Clone, K: Ord>(
    all: &[T],
    key_of: impl Fn(&T) -> K,
    req: KeyedRequest<K>,
) -> ServiceResult<Page<T>> {
    let limit = req.limit()?;
    let start = match &req.after {
        None => 0,
        Some(after) => all.partition_point(|x| key_of(x) <= *after),
    };
    let rest = &all[start.min(all.len())..];
    Ok(Page {
        items: rest.iter().take(limit).cloned().collect(),
        has_next: more_after(limit, rest.len()),
        has_previous: start > 0,
        total: all.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(first: i64, after: Option<i64>) -> PageRequest {
        PageRequest {
            first: Some(first),
            after,
        }
    }

    #[test]
    fn an_in_memory_page_resumes_after_the_cursor_even_once_its_item_is_gone() {
        let all = [2, 4, 6, 8, 10];
        let first = in_memory(&all, |&x| x, req(2, None)).unwrap();
        assert_eq!(first.items, [2, 4]);
        assert!(first.has_next && !first.has_previous);
        let without_4 = [2, 6, 8, 10];
        let next = in_memory(&without_4, |&x| x, req(2, Some(4))).unwrap();
        assert_eq!(next.items, [6, 8]);
        assert!(next.has_next && next.has_previous);
        let last = in_memory(&all, |&x| x, req(2, Some(8))).unwrap();
        assert_eq!(last.items, [10]);
        assert!(!last.has_next);
        assert!(in_memory(&all, |&x| x, req(2, Some(99)))
            .unwrap()
            .items
            .is_empty());
    }

    #[test]
    fn an_empty_page_has_no_next_page() {
        let empty = in_memory(&[2, 4, 6], |&x| x, req(0, None)).unwrap();
        assert!(empty.items.is_empty() && !empty.has_next);
        assert!(!more_after(0, 3));
        assert!(more_after(2, 3) && !more_after(3, 3));
    }
}
