//! Interviews and their transcripts.

use chrono::{NaiveDate, Utc};
use entities::{interview, memo, quotation, quotation_code, study, study_case};
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Set,
};
use std::collections::HashMap;

use serde_json::json;

use crate::auth::{Caller, Permission};
use crate::db::{begin_write, Writable, IDS_PER_STATEMENT};
use crate::error::{or_stale, ServiceError, ServiceResult};
use crate::service::anchoring::reanchor;
use crate::service::change_log::{self, Op};
use crate::service::labels::{stored_label, stored_optional_label};
use crate::service::page::{self, Page, PageRequest};
use crate::service::studies::{readable_case, readable_case_ids};
use crate::text::char_len;

/// The interviews of one case (NOT_FOUND unless the caller may read it), or of every study
/// the caller may read, a page at a time, without their transcripts.
pub async fn interviews_page<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    case_id: Option<i64>,
    req: PageRequest,
) -> ServiceResult<Page<interview::Head>> {
    let mut select = interview::Entity::find();
    if let Some(id) = case_id {
        let (c, _) = readable_case(db, caller, id).await?;
        select = select.filter(interview::Column::CaseId.eq(c.id));
    } else if let Some(cases) = readable_case_ids(db, caller).await? {
        select = select.filter(interview::Column::CaseId.is_in(cases));
    }
    page::by_id(db, select, interview::Column::Id, req).await
}

/// Labels of interviews by id. Facets can name every interview of a study; reading only
/// columns stored before the transcript keeps SQLite from walking each transcript's
/// overflow pages to reach the columns after it.
pub async fn labels<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
) -> ServiceResult<std::collections::HashMap<i64, String>> {
    let rows: Vec<(i64, String)> = interview::Entity::find()
        .select_only()
        .column(interview::Column::Id)
        .column(interview::Column::Label)
        .filter(interview::Column::Id.is_in(ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// An interview with its case and study, checked readable (NOT_FOUND otherwise).
pub async fn readable_interview<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    interview_id: i64,
) -> ServiceResult<(interview::Model, study_case::Model, study::Model)> {
    find_interview(db, caller, interview_id, None).await
}

/// An interview as `readable_interview` gives it, its row locked until the transaction
/// ends. Every write to an interview's transcript or to its quotations' places takes this
/// lock first: a transcript edit re-anchors the quotations it read, so on PostgreSQL (READ
/// COMMITTED) a quotation created, moved or deleted meanwhile would be missed or overwritten
/// with offsets from the old text. A merge of codes, which changes quotations' codes and
/// versions but no place, does not: it locks the quotations' rows (after the codes, by id),
/// as a transcript edit does (after the interview, by id). SQLite has no row locks; its
/// writers are serialised anyway.
pub async fn locked_interview<C: ConnectionTrait>(
    txn: &C,
    caller: &Caller,
    interview_id: i64,
) -> ServiceResult<(interview::Model, study_case::Model, study::Model)> {
    find_interview(txn, caller, interview_id, Some(LockType::NoKeyUpdate)).await
}

async fn find_interview<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    interview_id: i64,
    lock: Option<LockType>,
) -> ServiceResult<(interview::Model, study_case::Model, study::Model)> {
    let mut select = interview::Entity::find_by_id(interview_id);
    if let Some(lock) = lock {
        select = select.lock(lock);
    }
    let i = select
        .one(db)
        .await?
        .ok_or_else(|| ServiceError::not_found("interview"))?;
    let (c, s) = readable_case(db, caller, i.case_id)
        .await
        .map_err(|e| e.hidden_as("interview"))?;
    Ok((i, c, s))
}

#[derive(Debug, Clone, Default)]
pub struct NewInterview {
    pub case_id: i64,
    pub label: String,
    pub transcript: String,
    pub conducted_on: Option<NaiveDate>,
    pub interviewee_role: Option<String>,
    pub language: String,
}

pub async fn create_interview(
    db: &impl Writable,
    caller: &Caller,
    input: NewInterview,
) -> ServiceResult<interview::Model> {
    let txn = begin_write(db).await?;
    let i = insert_interview(&txn, caller, input, None).await?;
    txn.commit().await?;
    Ok(i)
}

/// Where an imported transcript came from and which normalisation steps changed its text.
#[derive(Debug, Clone)]
pub struct Provenance {
    pub source_file: String,
    pub normalisation: Vec<String>,
}

impl Provenance {
    /// As the interview stores it: its `source_file` and `normalisation` columns.
    pub fn columns(self) -> (String, String) {
        let steps = serde_json::to_string(&self.normalisation).unwrap_or_else(|_| "[]".into());
        (self.source_file, steps)
    }
}

/// The longest transcript, in code points: a ten-hour interview is well under a million.
/// Without a bound, a .docx of a few hundred kilobytes could unpack into tens of millions,
/// and re-anchoring quotations on an edit of such a text took tens of seconds.
pub const MAX_TRANSCRIPT_CHARS: usize = 2_000_000;

/// A transcript's length in code points, if it may be stored: not longer than
/// `MAX_TRANSCRIPT_CHARS`, and without NUL, which PostgreSQL cannot store (INTERNAL there,
/// while SQLite took it).
pub(crate) fn storable_length(transcript: &str) -> ServiceResult<i32> {
    if transcript.contains('\0') {
        return Err(ServiceError::bad_input(
            "the transcript contains the character U+0000 (NUL), which cannot be stored: remove it",
        ));
    }
    let length = char_len(transcript);
    if length > MAX_TRANSCRIPT_CHARS {
        return Err(ServiceError::bad_input(format!(
            "the transcript holds {length} characters: at most {MAX_TRANSCRIPT_CHARS}"
        )));
    }
    Ok(length as i32)
}

/// Creates an interview inside the caller's transaction (an import writes many or none),
/// with the change-log entry the search index follows and the audit record.
pub async fn insert_interview<C: ConnectionTrait>(
    txn: &C,
    caller: &Caller,
    input: NewInterview,
    provenance: Option<Provenance>,
) -> ServiceResult<interview::Model> {
    let label = stored_label(&input.label, "label")?;
    let transcript = crate::text::normalise(input.transcript).text;
    if transcript.trim().is_empty() {
        return Err(ServiceError::bad_input("the transcript must not be empty"));
    }
    let length = storable_length(&transcript)?;
    let language = stored_label(&input.language, "language")?;
    let interviewee_role = match &input.interviewee_role {
        Some(role) => stored_optional_label(role, "the interviewee's role")?,
        None => None,
    };
    let (c, s) = readable_case(txn, caller, input.case_id).await?;
    caller.authorize(s.id, s.is_public, Permission::Code)?;
    let now = Utc::now();
    let operation = if provenance.is_some() {
        "importTranscript"
    } else {
        "createInterview"
    };
    let (source_file, normalisation) = provenance.map(Provenance::columns).unzip();
    let i = interview::ActiveModel {
        case_id: Set(c.id),
        label: Set(label),
        conducted_on: Set(input.conducted_on),
        interviewee_role: Set(interviewee_role),
        language: Set(language),
        transcript: Set(transcript),
        length: Set(length),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        source_file: Set(source_file),
        normalisation: Set(normalisation),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    change_log::append(txn, change_log::Subject::Interview, i.id, Op::Upsert).await?;
    crate::service::audit::record(
        txn,
        caller,
        operation,
        "interview",
        i.id,
        Some(s.id),
        json!({"after": {"label": i.label, "length": i.length, "sourceFile": i.source_file}}),
    )
    .await?;
    Ok(i)
}

#[derive(Debug, Clone, Default)]
pub struct InterviewUpdate {
    pub id: i64,
    pub version: i32,
    pub label: Option<String>,
    pub transcript: Option<String>,
    pub conducted_on: Option<Option<NaiveDate>>,
    pub interviewee_role: Option<Option<String>>,
    /// Delete the quotations whose text the new transcript no longer holds (they are
    /// reported); without it such an edit is refused.
    pub allow_quotation_loss: bool,
}

/// A quotation removed because its text left the transcript.
#[derive(Debug, Clone)]
pub struct LostQuotation {
    pub id: i64,
    pub start: i32,
    pub end: i32,
    pub text: String,
    pub code_ids: Vec<i64>,
    pub memo: Option<String>,
    /// The notes written on it, deleted with it.
    pub memos: Vec<memo::Model>,
}

#[derive(Debug, Clone)]
pub struct TranscriptEdit {
    pub interview: interview::Model,
    pub study_id: i64,
    /// Quotations whose position changed.
    pub moved: Vec<i64>,
    pub lost: Vec<LostQuotation>,
}

/// Updates an interview. A new transcript re-anchors the quotations through a diff of the old
/// and new text (`anchoring`): those whose words the edit changed are lost, never shifted.
pub async fn update_interview(
    db: &impl Writable,
    caller: &Caller,
    input: InterviewUpdate,
) -> ServiceResult<TranscriptEdit> {
    let txn = begin_write(db).await?;
    // Locked before anything is read: the quotations below are all there are until commit.
    let (current, _case, study) = locked_interview(&txn, caller, input.id).await?;
    caller.authorize(study.id, study.is_public, Permission::Code)?;
    let stale = |now: i32| ServiceError::stale("interview", now, input.version);
    if current.version != input.version {
        return Err(stale(current.version));
    }
    let Some((mut active, new_text)) = changed_fields(&current, &input)? else {
        // An edit that changes nothing (the same text sent again with CRLF, say) leaves the
        // version alone, so that a colleague's next edit of the version they hold is not
        // refused for it, and is not audited.
        txn.commit().await?;
        return Ok(TranscriptEdit {
            interview: current,
            study_id: study.id,
            moved: Vec::new(),
            lost: Vec::new(),
        });
    };
    let (mut moved, mut lost) = (Vec::new(), Vec::new());
    if let Some(new_text) = new_text {
        let length = storable_length(&new_text)?;
        let retext = Retext {
            study: &study,
            current: &current,
            new_text: &new_text,
            allow_loss: input.allow_quotation_loss,
        };
        (moved, lost) = retext.reanchor_quotations(&txn, caller).await?;
        active.transcript = Set(new_text);
        active.length = Set(length);
    }
    active.version = Set(current.version + 1);
    active.updated_at = Set(Utc::now());
    // The version condition keeps the check and the write one step even without the lock.
    let updated = interview::Entity::update(active)
        .validate()?
        .filter(interview::Column::Version.eq(current.version))
        .exec(&txn)
        .await
        .map_err(|e| or_stale(e, || stale(current.version + 1)))?;
    // Re-indexes the passages and every quotation of the interview.
    change_log::append(&txn, change_log::Subject::Interview, updated.id, Op::Upsert).await?;
    crate::service::audit::record(
        &txn,
        caller,
        "updateInterview",
        "interview",
        updated.id,
        Some(study.id),
        json!({
            "before": {"label": current.label, "length": current.length, "version": current.version},
            "after": {"label": updated.label, "length": updated.length, "version": updated.version},
            "movedQuotations": moved.len(),
            "lostQuotations": lost.iter().map(|l| l.id).collect::<Vec<_>>(),
        }),
    )
    .await?;
    txn.commit().await?;
    Ok(TranscriptEdit {
        interview: updated,
        study_id: study.id,
        moved,
        lost,
    })
}

/// The fields of `input` that differ from the interview, set on it, and the new transcript
/// (normalised) if it differs; None when nothing does.
fn changed_fields(
    current: &interview::Model,
    input: &InterviewUpdate,
) -> ServiceResult<Option<(interview::ActiveModel, Option<String>)>> {
    // A label sent back as stored is no change, even one stored before today's rules.
    let label = match &input.label {
        Some(label) if *label != current.label => {
            Some(stored_label(label, "label")?).filter(|l| *l != current.label)
        }
        _ => None,
    };
    let conducted_on = input.conducted_on.filter(|d| *d != current.conducted_on);
    // Likewise a role: compared as stored.
    let interviewee_role = match &input.interviewee_role {
        Some(Some(role)) if Some(role) != current.interviewee_role.as_ref() => {
            Some(stored_optional_label(role, "the interviewee's role")?)
        }
        Some(None) => Some(None),
        _ => None,
    }
    .filter(|r| *r != current.interviewee_role);
    let new_text = input
        .transcript
        .clone()
        .map(|t| crate::text::normalise(t).text)
        .filter(|t| *t != current.transcript);
    if label.is_none() && conducted_on.is_none() && interviewee_role.is_none() && new_text.is_none()
    {
        return Ok(None);
    }
    if new_text.as_ref().is_some_and(|t| t.trim().is_empty()) {
        return Err(ServiceError::bad_input("the transcript must not be empty"));
    }
    let mut active: interview::ActiveModel = current.clone().into();
    if let Some(label) = label {
        active.label = Set(label);
    }
    if let Some(d) = conducted_on {
        active.conducted_on = Set(d);
    }
    if let Some(r) = interviewee_role {
        active.interviewee_role = Set(r);
    }
    Ok(Some((active, new_text)))
}

/// A new transcript for an interview, and what may become of its quotations.
struct Retext<'a> {
    study: &'a study::Model,
    current: &'a interview::Model,
    new_text: &'a str,
    /// Whether quotations whose text the new transcript no longer holds may be deleted.
    allow_loss: bool,
}

impl Retext<'_> {
    /// Moves the interview's quotations onto the new text: those it still holds to their new
    /// place, the others deleted with their memos and their place as evidence (or the edit
    /// refused, unless loss is allowed). Returns the quotations moved and those lost.
    async fn reanchor_quotations(
        &self,
        txn: &DatabaseTransaction,
        caller: &Caller,
    ) -> ServiceResult<(Vec<i64>, Vec<LostQuotation>)> {
        // Locked, by id: a merge of codes gives quotations a new version meanwhile (it locks
        // them by id too), and a judgment citing one as evidence must commit first, so that
        // a lost quotation's evidence is withdrawn, or wait and find it gone.
        let quotations = quotation::Entity::find()
            .filter(quotation::Column::InterviewId.eq(self.current.id))
            .order_by_asc(quotation::Column::Id)
            .lock(LockType::Update)
            .all(txn)
            .await?;
        let spans: Vec<(usize, usize)> = quotations
            .iter()
            .map(|q| (q.start_pos as usize, q.end_pos as usize))
            .collect();
        // Seconds for a long text rewritten throughout: off the async workers.
        let (old, new) = (self.current.transcript.clone(), self.new_text.to_owned());
        let anchored = tokio::task::spawn_blocking(move || reanchor(&old, &new, &spans))
            .await
            .map_err(|e| {
                ServiceError::Database(sea_orm::DbErr::Custom(format!("re-anchoring failed: {e}")))
            })?;
        let lost_ones = quotations
            .iter()
            .zip(&anchored)
            .filter(|(_, place)| place.is_none())
            .map(|(q, _)| q);
        let lost_ones: Vec<&quotation::Model> = lost_ones.collect();
        // Losing quotations is deleting them: other coders' need an owner, as a deletion
        // does. Said first, as leave to lose them would not help.
        crate::service::quotations::check_coder(
            caller,
            self.study,
            lost_ones.iter().copied(),
            |n| format!("the new transcript would lose {n} quotation(s) coded by someone else"),
        )?;
        let lost_ids: Vec<i64> = lost_ones.iter().map(|q| q.id).collect();
        crate::service::memos::check_others_memos(
            txn,
            caller,
            self.study.id,
            "quotation",
            &lost_ids,
            "the new transcript would lose quotations",
        )
        .await?;
        let lost = self.lost_quotations(txn, lost_ones.into_iter()).await?;
        if !lost.is_empty() && !self.allow_loss {
            return Err(loss_refused(&lost));
        }
        crate::service::quotations::withdraw_evidence(
            txn,
            caller,
            "updateInterview",
            self.study.id,
            &lost_ids,
        )
        .await?;
        let now = Utc::now();
        let mut moved = Vec::new();
        for (q, place) in quotations.into_iter().zip(anchored) {
            match place {
                Some((s, e)) if (s as i32, e as i32) != (q.start_pos, q.end_pos) => {
                    let version = q.version + 1;
                    let mut a: quotation::ActiveModel = q.into();
                    a.start_pos = Set(s as i32);
                    a.end_pos = Set(e as i32);
                    a.version = Set(version);
                    a.updated_at = Set(now);
                    moved.push(a.update(txn).await?.id);
                }
                Some(_) => {}
                None => {
                    quotation::Entity::delete_by_id(q.id).exec(txn).await?;
                    crate::service::memos::delete_for(
                        txn,
                        caller,
                        "updateInterview",
                        "quotation",
                        &[q.id],
                    )
                    .await?;
                    change_log::append(txn, change_log::Subject::Quotation, q.id, Op::Delete)
                        .await?;
                }
            }
        }
        Ok((moved, lost))
    }

    /// The quotations the new text loses, as the edit reports them: their text, codes and
    /// memos as they were.
    async fn lost_quotations<'q>(
        &self,
        txn: &DatabaseTransaction,
        lost: impl Iterator<Item = &'q quotation::Model>,
    ) -> ServiceResult<Vec<LostQuotation>> {
        let mut lost: Vec<LostQuotation> = lost
            .map(|q| LostQuotation {
                id: q.id,
                start: q.start_pos,
                end: q.end_pos,
                text: crate::text::slice(
                    &self.current.transcript,
                    q.start_pos as usize,
                    q.end_pos as usize,
                )
                .unwrap_or_default()
                .to_owned(),
                code_ids: Vec::new(),
                memo: q.memo.clone(),
                memos: Vec::new(),
            })
            .collect();
        if lost.is_empty() {
            return Ok(lost);
        }
        let ids: Vec<i64> = lost.iter().map(|l| l.id).collect();
        let mut codes = crate::service::quotations::codes_of_quotations(txn, ids.clone()).await?;
        let mut notes: HashMap<i64, Vec<memo::Model>> = HashMap::new();
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            for note in memo::Entity::find()
                .filter(memo::Column::TargetKind.eq("quotation"))
                .filter(memo::Column::TargetId.is_in(chunk.iter().copied()))
                .order_by_asc(memo::Column::Id)
                .all(txn)
                .await?
            {
                notes.entry(note.target_id).or_default().push(note);
            }
        }
        for l in &mut lost {
            l.code_ids = codes
                .remove(&l.id)
                .unwrap_or_default()
                .into_iter()
                .collect();
            l.memos = notes.remove(&l.id).unwrap_or_default();
        }
        Ok(lost)
    }
}

/// The CONFLICT of an edit that would lose quotations without leave.
fn loss_refused(lost: &[LostQuotation]) -> ServiceError {
    let ids: Vec<String> = lost.iter().map(|l| quoted(&l.text)).collect();
    let notes: usize = lost.iter().map(|l| l.memos.len()).sum();
    ServiceError::Conflict(format!(
        "the new transcript no longer contains {} quoted passage(s): {}; \
         restore them, or set allowQuotationLoss to delete those quotations{}",
        lost.len(),
        ids.join(", "),
        match notes {
            0 => String::new(),
            n => format!(" and the {n} memo(s) written on them"),
        }
    ))
}

/// What `delete_interview` removed, for the live events sent once it is committed.
#[derive(Debug, Clone)]
pub struct DeletedInterview {
    pub study_id: i64,
    /// The interview's quotations, deleted with it.
    pub quotations: Vec<i64>,
}

/// Deletes an interview and everything that hangs on it: its quotations (with their codes
/// and their place as evidence of judgments) and the memos on the interview and on its
/// quotations. This is how an interviewee's withdrawal of consent is honoured, so it is
/// for the study's owners and admins only: it takes other analysts' work with it. The audit
/// entry keeps the label, case and length, never the text.
pub async fn delete_interview(
    db: &impl Writable,
    caller: &Caller,
    id: i64,
    version: i32,
) -> ServiceResult<DeletedInterview> {
    let txn = begin_write(db).await?;
    // FOR UPDATE, stronger than the lock of the interview's other writers: it also waits
    // for, and then excludes, the key-share locks that a row naming the interview takes (a
    // quotation's foreign key check, a memo on the interview). Whatever was added before is
    // seen below and deleted with the rest; whatever comes after finds the interview gone.
    let (current, case, study) = find_interview(&txn, caller, id, Some(LockType::Update)).await?;
    caller.authorize(study.id, study.is_public, Permission::Own)?;
    let stale = |now: i32| ServiceError::stale("interview", now, version);
    if current.version != version {
        return Err(stale(current.version));
    }
    // Locked as well, in id order, before their evidence is read: a judgment taking one as
    // evidence (a key-share lock, by its foreign key) either commits first and is withdrawn
    // below, or waits and then finds the quotation gone. Without this the evidence row
    // added meanwhile went with the quotation (ON DELETE CASCADE), the judgment unchanged.
    let quotation_ids: Vec<i64> = quotation::Entity::find()
        .select_only()
        .column(quotation::Column::Id)
        .filter(quotation::Column::InterviewId.eq(current.id))
        .order_by_asc(quotation::Column::Id)
        .lock(LockType::Update)
        .into_tuple()
        .all(&txn)
        .await?;
    crate::service::quotations::withdraw_evidence(
        &txn,
        caller,
        "deleteInterview",
        study.id,
        &quotation_ids,
    )
    .await?;
    // Memos have no foreign key to what they are about: deleted (and audited) by hand. In
    // chunks, as an interview can carry more quotations than a statement binds.
    for chunk in quotation_ids.chunks(IDS_PER_STATEMENT) {
        crate::service::memos::delete_for(&txn, caller, "deleteInterview", "quotation", chunk)
            .await?;
    }
    crate::service::memos::delete_for(&txn, caller, "deleteInterview", "interview", &[id]).await?;
    let of_interview = quotation::Entity::find()
        .select_only()
        .column(quotation::Column::Id)
        .filter(quotation::Column::InterviewId.eq(current.id))
        .into_query();
    quotation_code::Entity::delete_many()
        .filter(quotation_code::Column::QuotationId.in_subquery(of_interview))
        .exec(&txn)
        .await?;
    quotation::Entity::delete_many()
        .filter(quotation::Column::InterviewId.eq(current.id))
        .exec(&txn)
        .await?;
    // The version condition keeps the check and the delete one step even without the lock.
    let deleted = interview::Entity::delete_many()
        .filter(interview::Column::Id.eq(current.id))
        .filter(interview::Column::Version.eq(version))
        .exec(&txn)
        .await?;
    if deleted.rows_affected != 1 {
        return Err(stale(current.version + 1));
    }
    // One entry is enough: for an interview the index drops its passages and every
    // quotation document carrying its id (`quotation_interview`), whatever their number.
    change_log::append(&txn, change_log::Subject::Interview, current.id, Op::Delete).await?;
    crate::service::audit::record(
        &txn,
        caller,
        "deleteInterview",
        "interview",
        current.id,
        Some(study.id),
        json!({
            "before": {
                "label": current.label,
                "case": case.id,
                "length": current.length,
                "version": current.version,
            },
            "deletedQuotations": quotation_ids,
        }),
    )
    .await?;
    txn.commit().await?;
    Ok(DeletedInterview {
        study_id: study.id,
        quotations: quotation_ids,
    })
}

/// A quoted passage as a refusal names it: in guillemets, on one line, and shortened in the
/// middle when long (a quotation may span a whole transcript).
fn quoted(text: &str) -> String {
    const HEAD: usize = 50;
    const TAIL: usize = 30;
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let length = line.chars().count();
    if length <= HEAD + TAIL + 1 {
        return format!("«{line}»");
    }
    let head: String = line.chars().take(HEAD).collect();
    let tail: String = line.chars().skip(length - TAIL).collect();
    format!("«{} … {}»", head.trim_end(), tail.trim_start())
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn a_quoted_passage_is_one_readable_line_shortened_in_the_middle() {
        assert_eq!(quoted("Il lavoro\npure."), "«Il lavoro pure.»");
        let long = "è già là ".repeat(40);
        let q = quoted(&long);
        assert!(q.starts_with("«è già là è già là"), "{q}");
        assert!(q.ends_with("è già là»"), "{q}");
        assert!(q.contains(" … "), "{q}");
        assert!(q.chars().count() < 90, "{q}");
        assert!(!quoted("👩🏽\u{200d}⚕\u{fe0f} sì").contains("\\u"));
    }
}
