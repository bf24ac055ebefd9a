//! Coded quotations: spans [start, end) of a transcript in code points, with codes, a memo,
//! the coder, and a version for optimistic concurrency.

use std::collections::{BTreeSet, HashMap};

use chrono::Utc;
use entities::{
    case_ambito, code, discontinuity, discontinuity_evidence, interview, quotation, quotation_code,
    study_case,
};
use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use serde_json::json;

use crate::auth::{Caller, Permission};
use crate::db::{begin_write, Writable, IDS_PER_STATEMENT};
use crate::error::{ServiceError, ServiceResult};
use crate::service::change_log::{self, Op};
use crate::service::codes::{study_codes, Codebook};
use crate::service::discontinuities::bump_judgment;
use crate::service::interviews::locked_interview;
use crate::service::page::{more_after, KeyedRequest, Page};
use crate::service::studies::{readable_among, readable_study};

#[derive(Debug, Clone, Default)]
pub struct NewQuotation {
    pub interview_id: i64,
    pub start: i64,
    pub end: i64,
    pub code_ids: Vec<i64>,
    pub memo: Option<String>,
    /// The interview's version the offsets were read from, if the client says.
    pub interview_version: Option<i32>,
}

#[derive(Debug, Clone, Default)]
pub struct QuotationUpdate {
    pub id: i64,
    pub version: i32,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub code_ids: Option<Vec<i64>>,
    /// `None` leaves the memo as it is; `Some(None)`, or a blank memo, clears it.
    pub memo: Option<Option<String>>,
    /// The interview's version the new offsets were read from, if the client says.
    pub interview_version: Option<i32>,
}

/// A blank memo is no memo: stored as one, it would show as a note with nothing in it, and
/// a client that empties the field means to clear it.
fn memo_text(memo: Option<String>) -> Option<String> {
    memo.filter(|m| !m.trim().is_empty())
}

/// A memo the quotation is to carry from now: refused if an export could not carry it.
fn new_memo(memo: Option<String>) -> ServiceResult<Option<String>> {
    if let Some(m) = &memo {
        crate::service::labels::exportable(m, "the memo")?;
    }
    Ok(memo_text(memo))
}

/// Checks 0 ≤ start < end ≤ length (code points).
pub fn check_span(start: i64, end: i64, length: i32) -> ServiceResult<(i32, i32)> {
    if start < 0 || end < 0 {
        return Err(ServiceError::bad_input("offsets must not be negative"));
    }
    if start >= end {
        return Err(ServiceError::bad_input("start must be before end"));
    }
    if end > i64::from(length) {
        return Err(ServiceError::bad_input(format!(
            "end {end} is past the end of the transcript ({length} code points)"
        )));
    }
    Ok((start as i32, end as i32))
}

/// Codes must exist and belong to the interview's study. A code of a study the caller may
/// not read is answered as a missing one: saying it belongs elsewhere would tell that it
/// exists. They stay so until commit: the key-share lock is the one the links' foreign key
/// takes anyway, taken here before any link row is touched, so that a merge or deletion of
/// these codes (which locks them first) and this write wait for each other instead of each
/// holding what the other needs.
async fn check_codes<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    study_id: i64,
    code_ids: &[i64],
) -> ServiceResult<Vec<i64>> {
    let unique: BTreeSet<i64> = code_ids.iter().copied().collect();
    if unique.is_empty() {
        return Ok(Vec::new());
    }
    let found = code::Entity::find()
        .filter(code::Column::Id.is_in(unique.iter().copied()))
        .order_by_asc(code::Column::Id)
        .lock(LockType::KeyShare)
        .all(db)
        .await?;
    if found.len() != unique.len() {
        return Err(ServiceError::not_found("code"));
    }
    let elsewhere: BTreeSet<i64> = found
        .iter()
        .map(|c| c.study_id)
        .filter(|&s| s != study_id)
        .collect();
    for &other in &elsewhere {
        readable_study(db, caller, other)
            .await
            .map_err(|e| e.hidden_as("code"))?;
    }
    if !elsewhere.is_empty() {
        return Err(ServiceError::bad_input(
            "a code belongs to another study than the interview",
        ));
    }
    Ok(unique.into_iter().collect())
}

async fn set_codes<C: ConnectionTrait>(
    db: &C,
    quotation_id: i64,
    code_ids: &[i64],
) -> ServiceResult<()> {
    quotation_code::Entity::delete_many()
        .filter(quotation_code::Column::QuotationId.eq(quotation_id))
        .exec(db)
        .await?;
    if code_ids.is_empty() {
        return Ok(());
    }
    quotation_code::Entity::insert_many(code_ids.iter().map(|&code_id| {
        quotation_code::ActiveModel {
            quotation_id: Set(quotation_id),
            code_id: Set(code_id),
            ..Default::default()
        }
    }))
    .exec(db)
    .await?;
    Ok(())
}

/// A quotation as a write left it, with its words as the transcript held them then. An edit
/// of the transcript may move the quotation the moment after; an answer that read the words
/// afterwards paired these offsets with others.
#[derive(Debug, Clone)]
pub struct WrittenQuotation {
    pub quotation: quotation::Model,
    pub text: String,
}

impl WrittenQuotation {
    fn of(quotation: quotation::Model, transcript: &str) -> Self {
        let text = crate::text::slice(
            transcript,
            quotation.start_pos as usize,
            quotation.end_pos as usize,
        )
        .unwrap_or_default()
        .to_owned();
        Self { quotation, text }
    }
}

/// Refuses offsets read from another version of the interview than `interview` (locked):
/// against an edited transcript they would stand for other words.
fn same_interview(interview: &interview::Model, read: Option<i32>) -> ServiceResult<()> {
    match read {
        Some(read) if read != interview.version => Err(ServiceError::Conflict(format!(
            "the interview has changed since you read it: version {}, you read {read}; \
             reload its transcript and quote again",
            interview.version
        ))),
        _ => Ok(()),
    }
}

pub async fn create_quotation(
    db: &impl Writable,
    caller: &Caller,
    input: NewQuotation,
) -> ServiceResult<WrittenQuotation> {
    let txn = begin_write(db).await?;
    let (interview, _case, study) = locked_interview(&txn, caller, input.interview_id).await?;
    caller.authorize(study.id, study.is_public, Permission::Code)?;
    // Checked under the interview's lock: an edit of the transcript waits for this one.
    same_interview(&interview, input.interview_version)?;
    let (start, end) = check_span(input.start, input.end, interview.length)?;
    let code_ids = check_codes(&txn, caller, study.id, &input.code_ids).await?;
    let now = Utc::now();
    let q = quotation::ActiveModel {
        interview_id: Set(interview.id),
        start_pos: Set(start),
        end_pos: Set(end),
        memo: Set(new_memo(input.memo)?),
        coder_id: Set(caller.user_id()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    set_codes(&txn, q.id, &code_ids).await?;
    change_log::append(&txn, change_log::Subject::Quotation, q.id, Op::Upsert).await?;
    crate::service::audit::record(&txn, caller, "createQuotation", "quotation", q.id, Some(study.id), json!({"after": {"interview": q.interview_id, "start": q.start_pos, "end": q.end_pos, "codes": code_ids}})).await?;
    txn.commit().await?;
    Ok(WrittenQuotation::of(q, &interview.transcript))
}

/// Refuses to change or delete `quotations` if some were coded by someone else than the
/// caller (who may code in `study`), unless the caller owns the study: coders do not undo
/// one another's work, which `codingAgreement` compares. `refusal` says what was refused,
/// given how many are someone else's.
pub(crate) fn check_coder<'q>(
    caller: &Caller,
    study: &entities::study::Model,
    quotations: impl IntoIterator<Item = &'q quotation::Model>,
    refusal: impl FnOnce(usize) -> String,
) -> ServiceResult<()> {
    let me = caller.user_id();
    let others = quotations
        .into_iter()
        .filter(|q| q.coder_id.is_none() || q.coder_id != me)
        .count();
    if others == 0
        || caller
            .authorize(study.id, study.is_public, Permission::Own)
            .is_ok()
    {
        return Ok(());
    }
    Err(ServiceError::Forbidden(format!(
        "{}: only a quotation's coder and the study's owners may change or delete it",
        refusal(others)
    )))
}

/// A quotation to change at `version` (CONFLICT when stale), locked with `lock`, with its
/// interview (locked, see `locked_interview`), checked readable and codable by the caller;
/// and the codes it is to carry (`check_codes`), locked in between. The codes come before
/// the quotation's row: a merge of codes locks them, then the rows of the quotations
/// carrying them (their codes change), so a write holding a quotation while it waits for a
/// code would deadlock with it.
async fn quotation_to_write<C: ConnectionTrait>(
    txn: &C,
    caller: &Caller,
    (id, version): (i64, i32),
    lock: LockType,
    codes: Option<&[i64]>,
) -> ServiceResult<QuotationToWrite> {
    let find = |lock: Option<LockType>| async move {
        let mut select = quotation::Entity::find_by_id(id);
        if let Some(lock) = lock {
            select = select.lock(lock);
        }
        select
            .one(txn)
            .await?
            .ok_or_else(|| ServiceError::not_found("quotation"))
    };
    let stale = |q: &quotation::Model| {
        (q.version != version).then(|| ServiceError::stale("quotation", q.version, version))
    };
    let q = find(None).await?;
    let (interview, _c, study) = locked_interview(txn, caller, q.interview_id)
        .await
        .map_err(|e| e.hidden_as("quotation"))?;
    caller.authorize(study.id, study.is_public, Permission::Code)?;
    check_coder(caller, &study, [&q], |_| {
        "this quotation was coded by someone else".into()
    })?;
    if let Some(stale) = stale(&q) {
        return Err(stale);
    }
    let codes = match codes {
        Some(ids) => match check_codes(txn, caller, study.id, ids).await {
            Ok(codes) => Some(codes),
            // A code merged away while this write waited for it: the quotation, which
            // carried it, has a new version, and that is what the client must hear.
            Err(e @ ServiceError::NotFound(_)) => {
                return Err(stale(&find(None).await?).unwrap_or(e))
            }
            Err(e) => return Err(e),
        },
        None => None,
    };
    // Read again under the lock: a transcript edit that held it may have moved or deleted
    // the quotation, and its version, span and codes are what this write starts from. The
    // row itself is locked too, `FOR UPDATE` by a deletion: a judgment citing it as evidence
    // holds a key-share lock on it until it commits, so the deletion waits for that evidence
    // and withdraws it (a new version) instead of reading the evidence first and dropping
    // the new row unseen. An edit locks `FOR NO KEY UPDATE`, which does not wait for judgments.
    let quotation = find(Some(lock)).await?;
    if let Some(stale) = stale(&quotation) {
        return Err(stale);
    }
    Ok(QuotationToWrite {
        quotation,
        interview,
        study,
        codes,
    })
}

struct QuotationToWrite {
    quotation: quotation::Model,
    interview: interview::Model,
    study: entities::study::Model,
    /// The codes asked for, checked and sorted.
    codes: Option<Vec<i64>>,
}

pub async fn update_quotation(
    db: &impl Writable,
    caller: &Caller,
    input: QuotationUpdate,
) -> ServiceResult<WrittenQuotation> {
    let txn = begin_write(db).await?;
    let QuotationToWrite {
        quotation: q,
        interview,
        study,
        codes: code_ids,
    } = quotation_to_write(
        &txn,
        caller,
        (input.id, input.version),
        LockType::NoKeyUpdate,
        input.code_ids.as_deref(),
    )
    .await?;
    // The quotation's own version says nothing of the words around it: a transcript edit
    // that did not move it leaves it as it was, offsets read from before the edit and all.
    // Its codes and memo do not hang on the transcript.
    if input.start.is_some() || input.end.is_some() {
        same_interview(&interview, input.interview_version)?;
    }
    let (start, end) = check_span(
        input.start.unwrap_or(i64::from(q.start_pos)),
        input.end.unwrap_or(i64::from(q.end_pos)),
        interview.length,
    )?;
    // An update that changes nothing keeps the version (a colleague holding it is not
    // refused for it) and is not audited.
    let same_codes = match &code_ids {
        None => true,
        Some(ids) => {
            let mut now: Vec<i64> = quotation_code::Entity::find()
                .select_only()
                .column(quotation_code::Column::CodeId)
                .filter(quotation_code::Column::QuotationId.eq(q.id))
                .into_tuple()
                .all(&txn)
                .await?;
            now.sort_unstable();
            now == *ids
        }
    };
    // Checked only when it changes: a memo stored before the check, sent back as it is,
    // does not stop an edit of the span or codes.
    let memo = match input.memo.clone().map(memo_text) {
        Some(m) if m != q.memo => Some(new_memo(m)?),
        _ => None,
    };
    let same_memo = memo.is_none();
    if (start, end) == (q.start_pos, q.end_pos) && same_codes && same_memo {
        txn.commit().await?;
        return Ok(WrittenQuotation::of(q, &interview.transcript));
    }
    // The version condition makes the update atomic on PostgreSQL too, where two
    // transactions may have read the same version.
    let mut update = quotation::Entity::update_many()
        .col_expr(quotation::Column::StartPos, Expr::value(start))
        .col_expr(quotation::Column::EndPos, Expr::value(end))
        .col_expr(quotation::Column::Version, Expr::value(q.version + 1))
        .col_expr(quotation::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(quotation::Column::Id.eq(q.id))
        .filter(quotation::Column::Version.eq(input.version));
    if let Some(memo) = memo {
        update = update.col_expr(quotation::Column::Memo, Expr::value(memo));
    }
    if update.exec(&txn).await?.rows_affected != 1 {
        return Err(ServiceError::stale(
            "quotation",
            q.version + 1,
            input.version,
        ));
    }
    if let Some(ids) = code_ids {
        set_codes(&txn, q.id, &ids).await?;
    }
    change_log::append(&txn, change_log::Subject::Quotation, q.id, Op::Upsert).await?;
    let updated = quotation::Entity::find_by_id(q.id)
        .one(&txn)
        .await?
        .ok_or_else(|| ServiceError::not_found("quotation"))?;
    crate::service::audit::record(
        &txn,
        caller,
        "updateQuotation",
        "quotation",
        q.id,
        Some(study.id),
        json!({
            "before": {"start": q.start_pos, "end": q.end_pos, "version": q.version},
            "after": {"start": updated.start_pos, "end": updated.end_pos, "version": updated.version, "codes": input.code_ids},
        }),
    )
    .await?;
    txn.commit().await?;
    Ok(WrittenQuotation::of(updated, &interview.transcript))
}

/// To call in the transaction that deletes these quotations, before it does. The judgments
/// citing them as evidence lose it when they go (the evidence rows cascade), whoever made
/// them, consensus included: that is a change to each judgment, so each one's version moves
/// on, as a tag's would, and an evaluator still holding the old version gets CONFLICT
/// instead of saving over evidence that is gone; the audit log says which judgment lost
/// what, under `operation`, the mutation that deletes.
pub(crate) async fn withdraw_evidence<C: ConnectionTrait>(
    txn: &C,
    caller: &Caller,
    operation: &str,
    study_id: i64,
    quotation_ids: &[i64],
) -> ServiceResult<()> {
    use sea_orm::QueryOrder;

    let deleted: BTreeSet<i64> = quotation_ids.iter().copied().collect();
    let ids: Vec<i64> = deleted.iter().copied().collect();
    let mut judgment_ids = BTreeSet::new();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        for e in discontinuity_evidence::Entity::find()
            .filter(discontinuity_evidence::Column::QuotationId.is_in(chunk.iter().copied()))
            .all(txn)
            .await?
        {
            judgment_ids.insert(e.discontinuity_id);
        }
    }
    let judgment_ids: Vec<i64> = judgment_ids.into_iter().collect();
    let now = Utc::now();
    for chunk in judgment_ids.chunks(IDS_PER_STATEMENT) {
        // Locked in id order, so that two deletions citing the same judgments queue instead
        // of deadlocking; NO KEY UPDATE, so that a tag linking one of them as a cause (a
        // key-share lock) is not held up. A tag locks its judgment exclusively: it waits for
        // this change, or this waits for the tag's, and either way the version read is the
        // one written over.
        let judgments = discontinuity::Entity::find()
            .filter(discontinuity::Column::Id.is_in(chunk.iter().copied()))
            .order_by_asc(discontinuity::Column::Id)
            .lock(LockType::NoKeyUpdate)
            .all(txn)
            .await?;
        let mut evidence: HashMap<i64, Vec<i64>> = HashMap::new();
        for e in discontinuity_evidence::Entity::find()
            .filter(discontinuity_evidence::Column::DiscontinuityId.is_in(chunk.iter().copied()))
            .all(txn)
            .await?
        {
            evidence
                .entry(e.discontinuity_id)
                .or_default()
                .push(e.quotation_id);
        }
        for j in judgments {
            let mut before = evidence.remove(&j.id).unwrap_or_default();
            before.sort_unstable();
            let (lost, after): (Vec<i64>, Vec<i64>) =
                before.iter().partition(|q| deleted.contains(*q));
            // A tag that dropped this evidence after it was read, and committed while the
            // lock above waited, left nothing to withdraw: its version stands.
            if lost.is_empty() {
                continue;
            }
            bump_judgment(
                txn,
                caller,
                operation,
                study_id,
                &j,
                now,
                json!({
                    "before": {"version": j.version, "evidence": before},
                    "after": {"version": j.version + 1, "evidence": after},
                    "consensus": j.is_consensus,
                    "evaluator": j.evaluator_id,
                    "evidenceDeleted": lost,
                }),
            )
            .await?;
        }
    }
    Ok(())
}

pub async fn delete_quotation(
    db: &impl Writable,
    caller: &Caller,
    id: i64,
    version: i32,
) -> ServiceResult<()> {
    let txn = begin_write(db).await?;
    let QuotationToWrite {
        quotation: q,
        study,
        ..
    } = quotation_to_write(&txn, caller, (id, version), LockType::Update, None).await?;
    crate::service::memos::check_others_memos(
        &txn,
        caller,
        study.id,
        "quotation",
        &[q.id],
        "this quotation cannot be deleted",
    )
    .await?;
    withdraw_evidence(&txn, caller, "deleteQuotation", study.id, &[q.id]).await?;
    let deleted = quotation::Entity::delete_many()
        .filter(quotation::Column::Id.eq(q.id))
        .filter(quotation::Column::Version.eq(version))
        .exec(&txn)
        .await?;
    if deleted.rows_affected != 1 {
        return Err(ServiceError::stale("quotation", q.version + 1, version));
    }
    crate::service::memos::delete_for(&txn, caller, "deleteQuotation", "quotation", &[q.id])
        .await?;
    change_log::append(&txn, change_log::Subject::Quotation, q.id, Op::Delete).await?;
    crate::service::audit::record(&txn, caller, "deleteQuotation", "quotation", q.id, Some(study.id), json!({"before": {"interview": q.interview_id, "start": q.start_pos, "end": q.end_pos, "version": q.version}})).await?;
    txn.commit().await?;
    Ok(())
}

/// What `quotations(filter:)` asks for (ids already decoded).
#[derive(Debug, Clone, Default)]
pub struct QuotationQuery {
    pub study_ids: Option<Vec<i64>>,
    pub case_ids: Option<Vec<i64>>,
    pub ambito_codes: Option<Vec<String>>,
    pub interview_ids: Option<Vec<i64>>,
    /// Codes, each standing for itself and its descendants.
    pub code_ids: Option<Vec<i64>>,
    /// With codes: carry all of them (each or a descendant), not just any.
    pub all_codes: bool,
    pub coder_ids: Option<Vec<i64>>,
}

/// Where a quotation stands in every list of quotations: ordered by interview, start, end,
/// then id (fields in that order, so the derived ordering is the lists' order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QuotationKey {
    pub interview_id: i64,
    pub start: i32,
    pub end: i32,
    pub id: i64,
}

impl QuotationKey {
    pub fn of(q: &quotation::Model) -> Self {
        Self {
            interview_id: q.interview_id,
            start: q.start_pos,
            end: q.end_pos,
            id: q.id,
        }
    }
}

/// Quotations the caller may read that match the query, ordered by `QuotationKey`, one page
/// after the key `page.after`.
pub async fn list(
    db: &impl ConnectionTrait,
    caller: &Caller,
    query: QuotationQuery,
    page: KeyedRequest<QuotationKey>,
) -> ServiceResult<Page<quotation::Model>> {
    use sea_orm::sea_query::Condition;
    use sea_orm::{PaginatorTrait, QueryOrder, QueryTrait};

    let limit = page.limit()?;
    let empty = || Page {
        items: Vec::new(),
        has_next: false,
        has_previous: page.after.is_some(),
        total: 0,
    };
    let (study_ids, _) = readable_among(db, caller, query.study_ids).await?;
    // Narrow to interviews: studies → cases (→ ambiti) → interviews, as subqueries, so that
    // of the lists read here only the readable studies and the filter's ambiti are sent back
    // as bind parameters (limits: `IDS_PER_STATEMENT`).
    let mut cases = study_case::Entity::find()
        .select_only()
        .column(study_case::Column::Id);
    if let Some(s) = &study_ids {
        cases = cases.filter(study_case::Column::StudyId.is_in(s.iter().copied()));
    }
    if let Some(ids) = &query.case_ids {
        cases = cases.filter(study_case::Column::Id.is_in(ids.iter().copied()));
    }
    if let Some(codes) = &query.ambito_codes {
        let ambiti = crate::service::territory::ambito_ids(db, codes).await?;
        let in_ambiti = case_ambito::Entity::find()
            .select_only()
            .column(case_ambito::Column::CaseId)
            .filter(case_ambito::Column::AmbitoId.is_in(ambiti));
        cases = cases.filter(study_case::Column::Id.in_subquery(in_ambiti.into_query()));
    }
    let mut interviews = interview::Entity::find()
        .select_only()
        .column(interview::Column::Id)
        .filter(interview::Column::CaseId.in_subquery(cases.into_query()));
    if let Some(ids) = &query.interview_ids {
        interviews = interviews.filter(interview::Column::Id.is_in(ids.iter().copied()));
    }
    let mut select = quotation::Entity::find()
        .filter(quotation::Column::InterviewId.in_subquery(interviews.into_query()));
    if let Some(ids) = &query.coder_ids {
        select = select.filter(quotation::Column::CoderId.is_in(ids.iter().copied()));
    }
    if let Some(roots) = &query.code_ids {
        match carrying_codes(db, roots, query.all_codes).await? {
            Some(condition) => select = select.filter(condition),
            None => return Ok(empty()),
        }
    }
    let total = select.clone().count(db).await?;
    if let Some(a) = page.after {
        use quotation::Column as Q;
        // (interview, start, end, id) > the cursor's, spelled out for every backend. The key
        // comes from the cursor itself: its quotation may be gone or moved by now.
        select = select.filter(
            Condition::any().add(Q::InterviewId.gt(a.interview_id)).add(
                Condition::all().add(Q::InterviewId.eq(a.interview_id)).add(
                    Condition::any().add(Q::StartPos.gt(a.start)).add(
                        Condition::all().add(Q::StartPos.eq(a.start)).add(
                            Condition::any().add(Q::EndPos.gt(a.end)).add(
                                Condition::all()
                                    .add(Q::EndPos.eq(a.end))
                                    .add(Q::Id.gt(a.id)),
                            ),
                        ),
                    ),
                ),
            ),
        );
    }
    let mut items = select
        .order_by_asc(quotation::Column::InterviewId)
        .order_by_asc(quotation::Column::StartPos)
        .order_by_asc(quotation::Column::EndPos)
        .order_by_asc(quotation::Column::Id)
        .limit(limit as u64 + 1)
        .all(db)
        .await?;
    let has_next = more_after(limit, items.len());
    items.truncate(limit);
    Ok(Page {
        items,
        has_next,
        has_previous: page.after.is_some(),
        total,
    })
}

/// The codes each quotation carries (sorted, once each), in one query per
/// `IDS_PER_STATEMENT` quotations: those of a study, or of the hundred interviews the search
/// index rebuilds at once, can be more than a statement binds (sent at once, the statement
/// failed, and a rebuild retried it forever).
pub async fn codes_of_quotations<C: ConnectionTrait>(
    db: &C,
    quotation_ids: impl IntoIterator<Item = i64>,
) -> Result<HashMap<i64, BTreeSet<i64>>, sea_orm::DbErr> {
    let ids: Vec<i64> = quotation_ids.into_iter().collect();
    let mut codes_of: HashMap<i64, BTreeSet<i64>> = HashMap::new();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        for link in quotation_code::Entity::find()
            .filter(quotation_code::Column::QuotationId.is_in(chunk.iter().copied()))
            .all(db)
            .await?
        {
            codes_of
                .entry(link.quotation_id)
                .or_default()
                .insert(link.code_id);
        }
    }
    Ok(codes_of)
}

/// The most codes a quotation may be asked to carry all of (`codeMatch: ALL`).
pub const MAX_CODES_ALL_CARRIED: usize = 100;

/// The condition on quotations "carries any (or, with `all`, each) of `roots` or one of
/// their descendants", as subqueries on the links: the quotations a code tags can be more
/// than a statement could bind. None when no quotation can match.
async fn carrying_codes<C: ConnectionTrait>(
    db: &C,
    roots: &[i64],
    all: bool,
) -> ServiceResult<Option<sea_orm::sea_query::Condition>> {
    use sea_orm::sea_query::Condition;
    use sea_orm::QueryTrait;

    // A code named twice is one condition: counted twice, `all` could never be met.
    let roots: BTreeSet<i64> = roots.iter().copied().collect();
    // Each code to carry is a condition of its own: 1,001 of them overflowed the stack
    // building the statement, and the process aborted.
    if all && roots.len() > MAX_CODES_ALL_CARRIED {
        return Err(ServiceError::BadInput(format!(
            "codeMatch ALL takes at most {MAX_CODES_ALL_CARRIED} codes, not {}",
            roots.len()
        )));
    }
    let root_codes = code::Entity::find()
        .filter(code::Column::Id.is_in(roots.iter().copied()))
        .all(db)
        .await?;
    if root_codes.is_empty() || (all && root_codes.len() < roots.len()) {
        return Ok(None);
    }
    // One codebook per study, however many of its codes are named: built once per code, a
    // filter naming thousands of a large codebook's codes was quadratic.
    let mut codebooks: HashMap<i64, Codebook> = HashMap::new();
    let mut subtrees: Vec<BTreeSet<i64>> = Vec::new();
    for root in &root_codes {
        let book = match codebooks.entry(root.study_id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(Codebook::new(study_codes(db, root.study_id).await?))
            }
        };
        subtrees.push(book.subtree(&[root.id]).into_iter().collect());
    }
    if !all {
        // Any of them: one set of codes, one subquery.
        subtrees = vec![subtrees.into_iter().flatten().collect()];
    }
    let tagged = |codes: BTreeSet<i64>| {
        quotation::Column::Id.in_subquery(
            quotation_code::Entity::find()
                .select_only()
                .column(quotation_code::Column::QuotationId)
                .filter(quotation_code::Column::CodeId.is_in(codes))
                .into_query(),
        )
    };
    Ok(Some(
        subtrees
            .into_iter()
            .fold(Condition::all(), |c, codes| c.add(tagged(codes))),
    ))
}
