//! The codebook: hierarchical codes per study.

use chrono::Utc;
use entities::{code, quotation_code, study};
use sea_orm::sea_query::{Expr, LockType, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use serde_json::json;

use crate::auth::{Caller, Permission};
use crate::db::begin_write;
use crate::error::{is_unique_violation, ServiceError, ServiceResult};
use crate::service::change_log;
use crate::service::studies::{non_empty, readable_study};

#[derive(Debug, Clone, Default)]
pub struct NewCode {
    pub study_id: i64,
    pub name: String,
    pub parent_id: Option<i64>,
    pub description: Option<String>,
    pub color: Option<String>,
}

/// Accepts `#RRGGBB` (any case) and returns it upper-cased.
pub fn parse_color(s: &str) -> ServiceResult<String> {
    let ok = s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(s.to_ascii_uppercase())
    } else {
        Err(ServiceError::bad_input(format!(
            "color {s:?} is not of the form #RRGGBB"
        )))
    }
}

pub async fn create_code(
    db: &DatabaseConnection,
    caller: &Caller,
    input: NewCode,
) -> ServiceResult<code::Model> {
    let name = non_empty(&input.name, "name")?;
    if name.contains('/') {
        return Err(ServiceError::bad_input(
            "a code name must not contain '/' (it separates code paths)",
        ));
    }
    let color = input.color.as_deref().map(parse_color).transpose()?;
    let txn = begin_write(db).await?;
    let s = readable_study(&txn, caller, input.study_id).await?;
    caller.authorize(s.id, s.is_public, Permission::Code)?;
    lock_codebook(&txn, s.id).await?;
    if let Some(parent_id) = input.parent_id {
        let parent = code::Entity::find_by_id(parent_id)
            .one(&txn)
            .await?
            .ok_or_else(|| ServiceError::not_found("parent code"))?;
        if parent.study_id != s.id {
            return Err(ServiceError::bad_input(
                "the parent code belongs to another study",
            ));
        }
    }
    let siblings = code::Entity::find()
        .filter(code::Column::StudyId.eq(s.id))
        .filter(match input.parent_id {
            Some(p) => code::Column::ParentId.eq(p),
            None => code::Column::ParentId.is_null(),
        })
        .all(&txn)
        .await?;
    if siblings
        .iter()
        .any(|c| c.name.to_lowercase() == name.to_lowercase())
    {
        return Err(name_taken(&name));
    }
    let c = code::ActiveModel {
        study_id: Set(s.id),
        parent_id: Set(input.parent_id),
        name: Set(name.clone()),
        description: Set(input.description),
        color: Set(color),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| sibling_clash(e, &name))?;
    crate::service::audit::record(
        &txn,
        caller,
        "createCode",
        "code",
        c.id,
        Some(s.id),
        json!({"after": {"name": c.name, "parent": c.parent_id, "color": c.color}}),
    )
    .await?;
    txn.commit().await?;
    Ok(c)
}

fn name_taken(name: &str) -> ServiceError {
    ServiceError::Conflict(format!(
        "a code named {name:?} already exists at this level"
    ))
}

/// A write refused by the unique index on sibling names: a code of that name was created
/// meanwhile by a writer that does not take the codebook lock (an import).
fn sibling_clash(e: sea_orm::DbErr, name: &str) -> ServiceError {
    if is_unique_violation(&e) {
        name_taken(name)
    } else {
        e.into()
    }
}

/// Locks a study's codebook until the transaction ends. Codebook changes check the whole
/// tree before writing (sibling names, no code under its own descendant, a merge's children);
/// on PostgreSQL (READ COMMITTED) two of them could each pass their check against a tree
/// without the other's change, e.g. two moves that together make a cycle. The study row
/// stands for its codebook; `FOR NO KEY UPDATE` leaves the rows that refer to the study free
/// to be written. SQLite serialises writers anyway and ignores the clause.
async fn lock_codebook<C: ConnectionTrait>(txn: &C, study_id: i64) -> ServiceResult<()> {
    study::Entity::find_by_id(study_id)
        .select_only()
        .column(study::Column::Id)
        .lock(LockType::NoKeyUpdate)
        .into_tuple::<i64>()
        .one(txn)
        .await?
        .ok_or_else(|| ServiceError::not_found("study"))?;
    Ok(())
}

/// Locks codes about to lose their links (merged or deleted) until the transaction ends.
/// A quotation takes a code under a key-share lock on the code's row (its foreign key
/// check, and `quotations::check_codes`), which this lock excludes: a quotation coded before
/// holds it until it commits, so its link is seen below; one coded after waits and then
/// finds the code gone. Without it a link added meanwhile went with the deleted code
/// (ON DELETE CASCADE). In id order, so that two such writers never wait for each other
/// crosswise. Returns how many of `ids` are still there.
async fn lock_codes<C: ConnectionTrait>(txn: &C, ids: &[i64]) -> ServiceResult<usize> {
    let locked: Vec<i64> = code::Entity::find()
        .select_only()
        .column(code::Column::Id)
        .filter(code::Column::Id.is_in(ids.iter().copied()))
        .order_by_asc(code::Column::Id)
        .lock(LockType::Update)
        .into_tuple()
        .all(txn)
        .await?;
    Ok(locked.len())
}

/// All codes of a study, for path and descendant computations.
pub async fn study_codes<C: ConnectionTrait>(
    db: &C,
    study_id: i64,
) -> ServiceResult<Vec<code::Model>> {
    Ok(code::Entity::find()
        .filter(code::Column::StudyId.eq(study_id))
        .all(db)
        .await?)
}

/// `roots` and all their descendants, from a study's full code list.
pub fn with_descendants(all: &[code::Model], roots: &[i64]) -> Vec<i64> {
    let mut out: Vec<i64> = roots.to_vec();
    let mut i = 0;
    while i < out.len() {
        let current = out[i];
        for c in all {
            if c.parent_id == Some(current) && !out.contains(&c.id) {
                out.push(c.id);
            }
        }
        i += 1;
    }
    out
}

/// Changes to a code; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct CodeUpdate {
    pub id: i64,
    pub name: Option<String>,
    pub color: Option<Option<String>>,
    pub description: Option<Option<String>>,
    /// `Some(None)` moves the code to the root.
    pub parent_id: Option<Option<i64>>,
}

async fn code_in_study<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    id: i64,
) -> ServiceResult<code::Model> {
    let c = code::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ServiceError::not_found("code"))?;
    let s = readable_study(db, caller, c.study_id)
        .await
        .map_err(|e| e.hidden_as("code"))?;
    caller.authorize(s.id, s.is_public, Permission::Code)?;
    Ok(c)
}

/// A code of a codebook read under `lock_codebook`; gone means merged or deleted meanwhile.
fn find(all: &[code::Model], id: i64) -> ServiceResult<code::Model> {
    all.iter()
        .find(|c| c.id == id)
        .cloned()
        .ok_or_else(|| ServiceError::not_found("code"))
}

fn check_unique_sibling(
    all: &[code::Model],
    parent: Option<i64>,
    name: &str,
    except: i64,
) -> ServiceResult<()> {
    let clash = all.iter().any(|c| {
        c.id != except && c.parent_id == parent && c.name.to_lowercase() == name.to_lowercase()
    });
    if clash {
        Err(ServiceError::Conflict(format!(
            "a code named {name:?} already exists at this level"
        )))
    } else {
        Ok(())
    }
}

/// Logs every quotation carrying one of `codes`, so that search re-reads their codes.
async fn log_quotations_of<C: ConnectionTrait>(db: &C, codes: &[i64]) -> ServiceResult<()> {
    let mut quotations: Vec<i64> = quotation_code::Entity::find()
        .filter(quotation_code::Column::CodeId.is_in(codes.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|l| l.quotation_id)
        .collect();
    quotations.sort_unstable();
    quotations.dedup();
    for q in quotations {
        change_log::append(db, change_log::Entity::Quotation, q, change_log::Op::Upsert).await?;
    }
    Ok(())
}

/// Renames, recolours, describes or moves a code (never under itself or its descendants).
pub async fn update_code(
    db: &DatabaseConnection,
    caller: &Caller,
    input: CodeUpdate,
) -> ServiceResult<code::Model> {
    let txn = begin_write(db).await?;
    let study_id = code_in_study(&txn, caller, input.id).await?.study_id;
    lock_codebook(&txn, study_id).await?;
    // Read under the lock: the codebook as it is until commit.
    let all = study_codes(&txn, study_id).await?;
    let current = find(&all, input.id)?;
    let name = match &input.name {
        Some(n) => {
            let n = non_empty(n, "name")?;
            if n.contains('/') {
                return Err(ServiceError::bad_input("a code name must not contain '/'"));
            }
            n
        }
        None => current.name.clone(),
    };
    let parent = input.parent_id.unwrap_or(current.parent_id);
    if let Some(p) = parent {
        let target = all
            .iter()
            .find(|c| c.id == p)
            .ok_or_else(|| ServiceError::bad_input("the new parent is not a code of this study"))?;
        if with_descendants(&all, &[current.id]).contains(&target.id) {
            return Err(ServiceError::bad_input(
                "a code cannot move under itself or one of its descendants",
            ));
        }
    }
    check_unique_sibling(&all, parent, &name, current.id)?;
    let mut active: code::ActiveModel = current.clone().into();
    active.name = Set(name.clone());
    active.parent_id = Set(parent);
    if let Some(color) = input.color {
        active.color = Set(color.as_deref().map(parse_color).transpose()?);
    }
    if let Some(d) = input.description {
        active.description = Set(d);
    }
    let updated = active
        .update(&txn)
        .await
        .map_err(|e| sibling_clash(e, &name))?;
    if parent != current.parent_id {
        log_quotations_of(&txn, &with_descendants(&all, &[current.id])).await?;
    }
    let view = |c: &code::Model| json!({"name": c.name, "parent": c.parent_id, "color": c.color, "description": c.description});
    crate::service::audit::record(
        &txn,
        caller,
        "updateCode",
        "code",
        updated.id,
        Some(updated.study_id),
        json!({"before": view(&current), "after": view(&updated)}),
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Merges `source` into `target`: its quotations take the target code (a quotation carrying
/// both keeps one), its children move under the target, and the source disappears.
pub async fn merge_codes(
    db: &DatabaseConnection,
    caller: &Caller,
    source_id: i64,
    target_id: i64,
) -> ServiceResult<code::Model> {
    if source_id == target_id {
        return Err(ServiceError::bad_input(
            "a code cannot be merged into itself",
        ));
    }
    let txn = begin_write(db).await?;
    let study_id = code_in_study(&txn, caller, source_id).await?.study_id;
    if code_in_study(&txn, caller, target_id).await?.study_id != study_id {
        return Err(ServiceError::bad_input(
            "both codes must belong to the same study",
        ));
    }
    lock_codebook(&txn, study_id).await?;
    // The target is locked too: a quotation given it meanwhile could otherwise end up with
    // two links to it, which its unique index refuses.
    if lock_codes(&txn, &[source_id, target_id]).await? != 2 {
        return Err(ServiceError::not_found("code"));
    }
    let all = study_codes(&txn, study_id).await?;
    let (source, target) = (find(&all, source_id)?, find(&all, target_id)?);
    if with_descendants(&all, &[source.id]).contains(&target.id) {
        return Err(ServiceError::bad_input(
            "a code cannot be merged into one of its own descendants",
        ));
    }
    for child in all.iter().filter(|c| c.parent_id == Some(source.id)) {
        check_unique_sibling(&all, Some(target.id), &child.name, child.id)?;
    }
    // The search index re-reads every quotation touched, before and after.
    log_quotations_of(&txn, &with_descendants(&all, &[source.id])).await?;
    // Whole sets, under the locks: every link the source has is moved, none read before.
    let carry_target = Query::select()
        .column(quotation_code::Column::QuotationId)
        .from(quotation_code::Entity)
        .and_where(quotation_code::Column::CodeId.eq(target.id))
        .to_owned();
    quotation_code::Entity::delete_many()
        .filter(quotation_code::Column::CodeId.eq(source.id))
        .filter(quotation_code::Column::QuotationId.in_subquery(carry_target))
        .exec(&txn)
        .await?;
    quotation_code::Entity::update_many()
        .col_expr(quotation_code::Column::CodeId, Expr::value(target.id))
        .filter(quotation_code::Column::CodeId.eq(source.id))
        .exec(&txn)
        .await?;
    code::Entity::update_many()
        .col_expr(code::Column::ParentId, Expr::value(target.id))
        .filter(code::Column::ParentId.eq(source.id))
        .exec(&txn)
        .await?;
    // The source's memos now describe the merged code.
    entities::memo::Entity::update_many()
        .col_expr(entities::memo::Column::TargetId, Expr::value(target.id))
        .filter(entities::memo::Column::TargetKind.eq("code"))
        .filter(entities::memo::Column::TargetId.eq(source.id))
        .exec(&txn)
        .await?;
    code::Entity::delete_by_id(source.id).exec(&txn).await?;
    crate::service::audit::record(&txn, caller, "mergeCodes", "code", target.id, Some(target.study_id), json!({"source": {"id": source.id, "name": source.name}, "target": {"id": target.id, "name": target.name}})).await?;
    txn.commit().await?;
    Ok(target)
}

/// Deletes a code and its descendants; refused while any of them is on a quotation.
pub async fn delete_code(db: &DatabaseConnection, caller: &Caller, id: i64) -> ServiceResult<()> {
    let txn = begin_write(db).await?;
    let study_id = code_in_study(&txn, caller, id).await?.study_id;
    lock_codebook(&txn, study_id).await?;
    let all = study_codes(&txn, study_id).await?;
    let c = find(&all, id)?;
    let subtree = with_descendants(&all, &[c.id]);
    // Counted under the lock: no quotation takes one of these codes before they are gone.
    lock_codes(&txn, &subtree).await?;
    let used = quotation_code::Entity::find()
        .filter(quotation_code::Column::CodeId.is_in(subtree.clone()))
        .count(&txn)
        .await?;
    if used > 0 {
        return Err(ServiceError::Conflict(format!(
            "the code (or one below it) is on {used} quotation(s): merge it into another code instead"
        )));
    }
    crate::service::memos::delete_for(&txn, "code", &subtree).await?;
    code::Entity::delete_many()
        .filter(code::Column::Id.is_in(subtree.clone()))
        .exec(&txn)
        .await?;
    crate::service::audit::record(
        &txn,
        caller,
        "deleteCode",
        "code",
        c.id,
        Some(c.study_id),
        json!({"before": {"name": c.name}, "deleted": subtree}),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}
