//! The codebook: hierarchical codes per study.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use entities::{code, quotation, quotation_code, study};
use sea_orm::sea_query::{Expr, LockType, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use serde_json::json;

use crate::auth::{Caller, Permission};
use crate::db::{begin_write, Writable};
use crate::error::{is_unique_violation, ServiceError, ServiceResult};
use crate::service::change_log;
use crate::service::labels::{exportable, stored_label};
use crate::service::studies::readable_study;

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
    db: &impl Writable,
    caller: &Caller,
    input: NewCode,
) -> ServiceResult<code::Model> {
    let name = code_name(&input.name)?;
    let color = input.color.as_deref().map(parse_color).transpose()?;
    let txn = begin_write(db).await?;
    let s = readable_study(&txn, caller, input.study_id).await?;
    caller.authorize(s.id, s.is_public, Permission::Code)?;
    lock_codebook(&txn, s.id).await?;
    if let Some(parent_id) = input.parent_id {
        let book = Codebook::new(study_codes(&txn, s.id).await?);
        if book.get(parent_id).is_none() {
            return Err(not_a_parent_here(&txn, caller, parent_id).await);
        }
        check_depth(book.depth(parent_id), 1)?;
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
        .any(|c| sibling_key(&c.name) == sibling_key(&name))
    {
        return Err(name_taken(&name));
    }
    let c = code::ActiveModel {
        study_id: Set(s.id),
        parent_id: Set(input.parent_id),
        name: Set(name.clone()),
        description: Set(input
            .description
            .map(|d| exportable(&d, "the description").map(|()| d))
            .transpose()?),
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

/// Why `id` cannot be a parent in the study at hand, which does not hold it. A code of a
/// study the caller may not read answers as a missing one: anything else would tell that the
/// ID is in use.
async fn not_a_parent_here<C: ConnectionTrait>(db: &C, caller: &Caller, id: i64) -> ServiceError {
    let elsewhere = match code::Entity::find_by_id(id).one(db).await {
        Ok(Some(c)) => c.study_id,
        Ok(None) => return ServiceError::not_found("parent code"),
        Err(e) => return e.into(),
    };
    match readable_study(db, caller, elsewhere).await {
        Ok(_) => ServiceError::bad_input("the parent code belongs to another study"),
        Err(e) => e.hidden_as("parent code"),
    }
}

/// A code's name as it is stored: trimmed, and in Unicode NFC as transcripts are, so that
/// "Città" typed with a combining accent is the same name as "Città" typed in one key.
pub(crate) fn code_name(raw: &str) -> ServiceResult<String> {
    let name = stored_label(raw, "name")?;
    if name.contains('/') {
        return Err(ServiceError::bad_input(
            "a code name must not contain '/' (it separates code paths)",
        ));
    }
    Ok(name)
}

/// What sibling names are compared by: letter case and the way an accent was typed aside
/// (names stored before `code_name` normalised them may be decomposed).
pub(crate) fn sibling_key(name: &str) -> String {
    // In the form names are stored in, so that a name stored before invisible marks were
    // trimmed still meets the same name typed since.
    crate::service::labels::normalised(name).to_lowercase()
}

fn name_taken(name: &str) -> ServiceError {
    ServiceError::Conflict(format!(
        "a code named \"{name}\" already exists at this level"
    ))
}

/// A write refused by the unique index on sibling names, which stands behind the check made
/// under `lock_codebook`: a code of that name was written meanwhile by a writer that did not
/// take the lock.
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
pub(crate) async fn lock_codebook<C: ConnectionTrait>(txn: &C, study_id: i64) -> ServiceResult<()> {
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
/// crosswise.
async fn lock_codes<C: ConnectionTrait>(txn: &C, ids: &[i64]) -> ServiceResult<()> {
    code::Entity::find()
        .select_only()
        .column(code::Column::Id)
        .filter(code::Column::Id.is_in(ids.iter().copied()))
        .order_by_asc(code::Column::Id)
        .lock(LockType::Update)
        .into_tuple::<i64>()
        .all(txn)
        .await?;
    Ok(())
}

/// Locks `roots` and all their descendants (see `lock_codes`) and returns the codebook read
/// once they are locked, with that subtree. A move, merge or deletion changes what every
/// quotation under these codes is filed under; a quotation coded with one of them
/// meanwhile either holds its key-share lock before (its link is then seen and logged) or
/// waits until the change is committed, so that search never reads it against the old
/// tree. Read again after locking: a child added under one of them before the lock (by a
/// writer that does not take `lock_codebook`) belongs to the subtree too, and locking a
/// code keeps new children from being hung under it.
///
/// `also` (a merge's target) is locked in the same statement as the subtree: one id order
/// for all of them, the order a quotation write takes its codes in (`check_codes`). Taken
/// in two steps, a write naming a child and the target could hold the child while the
/// merge held the target, each waiting for the other.
async fn lock_subtree<C: ConnectionTrait>(
    txn: &C,
    study_id: i64,
    roots: &[i64],
    also: &[i64],
) -> ServiceResult<(Codebook, Vec<i64>)> {
    let mut locked: HashSet<i64> = HashSet::new();
    loop {
        let book = Codebook::new(study_codes(txn, study_id).await?);
        let subtree = book.subtree(roots);
        let unlocked: Vec<i64> = subtree
            .iter()
            .chain(if locked.is_empty() { also } else { &[] })
            .copied()
            .filter(|id| !locked.contains(id))
            .collect();
        if unlocked.is_empty() {
            return Ok((book, subtree));
        }
        lock_codes(txn, &unlocked).await?;
        locked.extend(unlocked);
    }
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

/// The deepest a code may sit (1 for a root): deeper trees are no codebook anyone reads, and
/// the REFI-QDA exchange format could not carry them. Readers built on libxml2 (xmllint among
/// them) stop at 256 levels of elements, and `Project/CodeBook/Codes` above the codes and a
/// `Description` in the deepest take four.
pub const MAX_CODE_DEPTH: usize = 250;

/// A study's codes as a tree, indexed so that walks over it (subtrees, paths, depths) cost
/// what they visit: codebooks of thousands of codes are read whole by every listing, and a
/// scan of the list per code made those reads quadratic.
#[derive(Debug, Clone, Default)]
pub struct Codebook {
    codes: Vec<code::Model>,
    position: HashMap<i64, usize>,
    children: HashMap<i64, Vec<usize>>,
}

impl Codebook {
    /// The codes in the order given (children are listed in it).
    pub fn new(codes: Vec<code::Model>) -> Self {
        let position: HashMap<i64, usize> =
            codes.iter().enumerate().map(|(n, c)| (c.id, n)).collect();
        let mut children: HashMap<i64, Vec<usize>> = HashMap::new();
        for (n, c) in codes.iter().enumerate() {
            if let Some(p) = c.parent_id {
                children.entry(p).or_default().push(n);
            }
        }
        Self {
            codes,
            position,
            children,
        }
    }

    pub fn get(&self, id: i64) -> Option<&code::Model> {
        self.position.get(&id).map(|&n| &self.codes[n])
    }

    pub fn roots(&self) -> impl Iterator<Item = &code::Model> {
        self.codes.iter().filter(|c| c.parent_id.is_none())
    }

    pub fn children(&self, id: i64) -> impl Iterator<Item = &code::Model> {
        self.children
            .get(&id)
            .into_iter()
            .flatten()
            .map(|&n| &self.codes[n])
    }

    /// `roots` and all their descendants, each once, roots first.
    pub fn subtree(&self, roots: &[i64]) -> Vec<i64> {
        let mut seen: HashSet<i64> = roots.iter().copied().collect();
        let mut out: Vec<i64> = roots.to_vec();
        let mut i = 0;
        while let Some(&current) = out.get(i) {
            for c in self.children(current) {
                if seen.insert(c.id) {
                    out.push(c.id);
                }
            }
            i += 1;
        }
        out
    }

    /// `id` and its ancestors, up to the root. Bounded by the codebook's size: a cycle, which
    /// the codebook rules forbid, could not make it loop.
    pub fn lineage(&self, id: i64) -> impl Iterator<Item = &code::Model> {
        std::iter::successors(self.get(id), |c| c.parent_id.and_then(|p| self.get(p)))
            .take(self.codes.len())
    }

    /// Names from the root to `id`, joined by "/".
    pub fn path(&self, id: i64) -> String {
        let mut names: Vec<&str> = self.lineage(id).map(|c| c.name.as_str()).collect();
        names.reverse();
        names.join("/")
    }

    /// 1 for a root.
    pub fn depth(&self, id: i64) -> usize {
        self.lineage(id).count()
    }

    /// Levels from `id` down to its deepest descendant, `id` counted: 1 for a leaf.
    pub fn height(&self, id: i64) -> usize {
        let mut level: HashMap<i64, usize> = HashMap::from([(id, 1)]);
        let mut highest = 1;
        for c in self.subtree(&[id]).into_iter().skip(1) {
            let below = self
                .get(c)
                .and_then(|c| c.parent_id)
                .and_then(|p| level.get(&p))
                .map_or(1, |l| l + 1);
            highest = highest.max(below);
            level.insert(c, below);
        }
        highest
    }
}

/// Refuses a change that would put a code deeper than `MAX_CODE_DEPTH`: `height` levels
/// hung below a code at `depth` (0 for the root level).
fn check_depth(parent_depth: usize, height: usize) -> ServiceResult<()> {
    if parent_depth + height > MAX_CODE_DEPTH {
        return Err(ServiceError::bad_input(format!(
            "codes nest at most {MAX_CODE_DEPTH} levels deep; this would take them to {}",
            parent_depth + height
        )));
    }
    Ok(())
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
    /// The version the client read, if it sent one.
    pub version: Option<i32>,
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
fn find(book: &Codebook, id: i64) -> ServiceResult<code::Model> {
    book.get(id)
        .cloned()
        .ok_or_else(|| ServiceError::not_found("code"))
}

fn check_unique_sibling(
    book: &Codebook,
    parent: Option<i64>,
    name: &str,
    except: &[i64],
) -> ServiceResult<()> {
    let folded = sibling_key(name);
    let same = |c: &code::Model| !except.contains(&c.id) && sibling_key(&c.name) == folded;
    let clash = match parent {
        Some(p) => book.children(p).any(same),
        None => book.roots().any(same),
    };
    if clash {
        Err(name_taken(name))
    } else {
        Ok(())
    }
}

/// Every quotation carrying one of `codes`, each once.
async fn quotations_of<C: ConnectionTrait>(db: &C, codes: &[i64]) -> ServiceResult<Vec<i64>> {
    let mut quotations: Vec<i64> = quotation_code::Entity::find()
        .filter(quotation_code::Column::CodeId.is_in(codes.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|l| l.quotation_id)
        .collect();
    quotations.sort_unstable();
    quotations.dedup();
    Ok(quotations)
}

/// Logs every quotation carrying one of `codes`, so that search re-reads their codes.
async fn log_quotations_of<C: ConnectionTrait>(db: &C, codes: &[i64]) -> ServiceResult<Vec<i64>> {
    let quotations = quotations_of(db, codes).await?;
    for &q in &quotations {
        change_log::append(
            db,
            change_log::Subject::Quotation,
            q,
            change_log::Op::Upsert,
        )
        .await?;
    }
    Ok(quotations)
}

/// A code written, and the quotations under it or its descendants that the write changed
/// (their codes, the codes' places, names or colour): live subscribers hear of them.
pub struct CodeChange {
    pub code: code::Model,
    pub quotations: Vec<i64>,
}

/// Renames, recolours, describes or moves a code (never under itself or its descendants).
pub async fn update_code(
    db: &impl Writable,
    caller: &Caller,
    input: CodeUpdate,
) -> ServiceResult<CodeChange> {
    let txn = begin_write(db).await?;
    let study_id = code_in_study(&txn, caller, input.id).await?.study_id;
    lock_codebook(&txn, study_id).await?;
    // Read under the lock: the codebook as it is until commit. Only a move changes what
    // search files quotations under.
    let (book, subtree) = if input.parent_id.is_some() {
        lock_subtree(&txn, study_id, &[input.id], &[]).await?
    } else {
        let book = Codebook::new(study_codes(&txn, study_id).await?);
        let subtree = book.subtree(&[input.id]);
        (book, subtree)
    };
    let current = find(&book, input.id)?;
    // Read under the codebook's lock: no other change of the code comes in between.
    if let Some(sent) = input.version.filter(|v| *v != current.version) {
        return Err(ServiceError::stale("code", current.version, sent));
    }
    // A name sent back as stored is no rename, even one stored before today's rules.
    let name = match &input.name {
        Some(n) if *n != current.name => code_name(n)?,
        _ => current.name.clone(),
    };
    let parent = input.parent_id.unwrap_or(current.parent_id);
    if let Some(p) = parent {
        let Some(target) = book.get(p) else {
            return Err(not_a_parent_here(&txn, caller, p).await);
        };
        if subtree.contains(&target.id) {
            return Err(ServiceError::bad_input(
                "a code cannot move under itself or one of its descendants",
            ));
        }
    }
    if parent != current.parent_id {
        check_depth(parent.map_or(0, |p| book.depth(p)), book.height(current.id))?;
    }
    // A recolour or a new description of a code keeps its name and place: not checked again,
    // so that twins stored before names were trimmed can still be told apart by colour.
    if name != current.name || parent != current.parent_id {
        check_unique_sibling(&book, parent, &name, &[current.id])?;
    }
    let color = match input.color {
        Some(color) => color.as_deref().map(parse_color).transpose()?,
        None => current.color.clone(),
    };
    let description = match input.description {
        Some(d) => {
            // Checked only when it changes: one stored before the check, sent back as it
            // is, does not stop a rename or a move.
            if let Some(text) = d.as_ref().filter(|_| d != current.description) {
                exportable(text, "the description")?;
            }
            d
        }
        None => current.description.clone(),
    };
    let next = code::Model {
        name: name.clone(),
        parent_id: parent,
        color,
        description,
        ..current.clone()
    };
    // A change sent as the code already is leaves its version as it is.
    let version = if next == current {
        current.version
    } else {
        current.version + 1
    };
    let mut active: code::ActiveModel = code::Model { version, ..next }.into();
    for column in [
        code::Column::Name,
        code::Column::ParentId,
        code::Column::Color,
        code::Column::Description,
        code::Column::Version,
    ] {
        active.reset(column);
    }
    let updated = active
        .update(&txn)
        .await
        .map_err(|e| sibling_clash(e, &name))?;
    // Search files quotations by code id, so only a move is logged for the index; but a
    // front end shows each quotation's codes by name (or path) and colour, so a renamed code
    // changes how the quotations under it read, and a recoloured one those it tags.
    let quotations = if parent != current.parent_id {
        log_quotations_of(&txn, &subtree).await?
    } else if updated.name != current.name {
        quotations_of(&txn, &subtree).await?
    } else if updated.color != current.color {
        quotations_of(&txn, &[current.id]).await?
    } else {
        Vec::new()
    };
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
    Ok(CodeChange {
        code: updated,
        quotations,
    })
}

/// Merges `source` into `target`: its quotations take the target code (a quotation carrying
/// both keeps one), its children move under the target, and the source disappears.
pub async fn merge_codes(
    db: &impl Writable,
    caller: &Caller,
    source_id: i64,
    target_id: i64,
) -> ServiceResult<CodeChange> {
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
    // The source's descendants change ancestry: locked before their links are read. The
    // target is locked too: a quotation given it meanwhile could otherwise end up with two
    // links to it, which its unique index refuses.
    let (book, subtree) = lock_subtree(&txn, study_id, &[source_id], &[target_id]).await?;
    let (source, target) = (find(&book, source_id)?, find(&book, target_id)?);
    if subtree.contains(&target.id) {
        return Err(ServiceError::bad_input(
            "a code cannot be merged into one of its own descendants",
        ));
    }
    // The source leaves the target's level: a child named as the source may take its place.
    for child in book.children(source.id) {
        check_unique_sibling(&book, Some(target.id), &child.name, &[child.id, source.id])?;
    }
    // The source's children move up or down to the target's level.
    check_depth(book.depth(target.id), book.height(source.id) - 1)?;
    // The search index re-reads every quotation touched, before and after.
    let quotations = log_quotations_of(&txn, &subtree).await?;
    // Those carrying the source get other codes: a new version, as any change of a
    // quotation's codes gives, so that a client holding the old one reloads. Their rows are
    // locked after the codes, the order every quotation write takes (`quotation_to_write`).
    let carry_source = Query::select()
        .column(quotation_code::Column::QuotationId)
        .from(quotation_code::Entity)
        .and_where(quotation_code::Column::CodeId.eq(source.id))
        .to_owned();
    // By id, the order a transcript edit and an interview's deletion lock them in.
    quotation::Entity::find()
        .select_only()
        .column(quotation::Column::Id)
        .filter(quotation::Column::Id.in_subquery(carry_source.clone()))
        .order_by_asc(quotation::Column::Id)
        .lock(LockType::NoKeyUpdate)
        .into_tuple::<i64>()
        .all(&txn)
        .await?;
    quotation::Entity::update_many()
        .col_expr(
            quotation::Column::Version,
            sea_orm::sea_query::ExprTrait::add(Expr::col(quotation::Column::Version), 1),
        )
        .col_expr(
            quotation::Column::UpdatedAt,
            Expr::value(chrono::Utc::now()),
        )
        .filter(quotation::Column::Id.in_subquery(carry_source))
        .exec(&txn)
        .await?;
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
    // Renamed first to a name no code can have ('/' is refused), so that the unique index
    // on sibling names lets a child of the same name move beside it before it is deleted.
    code::Entity::update_many()
        .col_expr(code::Column::Name, Expr::value(format!("/{}", source.id)))
        .filter(code::Column::Id.eq(source.id))
        .exec(&txn)
        .await?;
    code::Entity::update_many()
        .col_expr(code::Column::ParentId, Expr::value(target.id))
        .col_expr(
            code::Column::Version,
            sea_orm::sea_query::ExprTrait::add(Expr::col(code::Column::Version), 1),
        )
        .filter(code::Column::ParentId.eq(source.id))
        .exec(&txn)
        .await
        .map_err(|e| {
            // Past the check above, the database's own folding of case may still find two
            // names equal (PostgreSQL's lower("İstanbul") is "istanbul"): a clash to rename,
            // which a retry would never get past.
            let children: Vec<&str> = book.children(source.id).map(|c| c.name.as_str()).collect();
            sibling_clash(e, &children.join("\", \""))
        })?;
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
    Ok(CodeChange {
        code: target,
        quotations,
    })
}

/// Deletes a code and its descendants; refused while any of them is on a quotation.
pub async fn delete_code(db: &impl Writable, caller: &Caller, id: i64) -> ServiceResult<()> {
    let txn = begin_write(db).await?;
    let study_id = code_in_study(&txn, caller, id).await?.study_id;
    lock_codebook(&txn, study_id).await?;
    // Counted under the locks: no quotation takes one of these codes before they are gone,
    // and no code joins the subtree, which would outlive it as a root (ON DELETE SET NULL).
    let (book, subtree) = lock_subtree(&txn, study_id, &[id], &[]).await?;
    let c = find(&book, id)?;
    // Quotations, not links: one carrying a code and its child counts once.
    let used = quotation_code::Entity::find()
        .select_only()
        .column(quotation_code::Column::QuotationId)
        .distinct()
        .filter(quotation_code::Column::CodeId.is_in(subtree.clone()))
        .count(&txn)
        .await?;
    if used > 0 {
        return Err(ServiceError::Conflict(format!(
            "the code (or one below it) is on {used} quotation(s): merge it into another code instead"
        )));
    }
    crate::service::memos::check_others_memos(
        &txn,
        caller,
        study_id,
        "code",
        &subtree,
        "the code cannot be deleted",
    )
    .await?;
    crate::service::memos::delete_for(&txn, caller, "deleteCode", "code", &subtree).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn code(id: i64, parent: Option<i64>, name: &str) -> code::Model {
        code::Model {
            id,
            study_id: 1,
            parent_id: parent,
            name: name.to_owned(),
            description: None,
            color: None,
            created_at: Utc::now(),
            version: 1,
        }
    }

    #[test]
    fn a_codebook_walks_subtrees_paths_and_levels() {
        let book = Codebook::new(vec![
            code(1, None, "Bisogni"),
            code(2, Some(1), "Casa"),
            code(3, Some(2), "Sfratti"),
            code(4, Some(1), "Lavoro"),
            code(5, None, "Attori"),
            code(6, Some(3), "Città"),
        ]);
        assert_eq!(book.subtree(&[1]), [1, 2, 4, 3, 6]);
        assert_eq!(book.subtree(&[2, 3]), [2, 3, 6], "each code once");
        assert_eq!(book.path(6), "Bisogni/Casa/Sfratti/Città");
        assert_eq!(book.path(99), "");
        assert_eq!((book.depth(1), book.depth(6)), (1, 4));
        assert_eq!((book.height(1), book.height(2), book.height(4)), (4, 3, 1));
        let roots: Vec<&str> = book.roots().map(|c| c.name.as_str()).collect();
        assert_eq!(roots, ["Bisogni", "Attori"]);
    }

    /// The rules forbid cycles; a corrupt table holding one must still not hang a request.
    #[test]
    fn a_cycle_ends_every_walk() {
        let book = Codebook::new(vec![code(1, Some(2), "A"), code(2, Some(1), "B")]);
        assert_eq!(book.subtree(&[1]), [1, 2]);
        assert_eq!(book.depth(1), 2);
        assert_eq!(book.height(1), 2);
        assert_eq!(book.path(1), "B/A");
    }

    #[test]
    fn depth_is_checked_against_the_level_a_change_reaches() {
        assert!(check_depth(249, 1).is_ok());
        assert!(check_depth(248, 2).is_ok());
        assert!(check_depth(250, 1).is_err());
        assert!(check_depth(0, MAX_CODE_DEPTH).is_ok());
        assert!(check_depth(0, MAX_CODE_DEPTH + 1).is_err());
    }
}
