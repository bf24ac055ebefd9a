//! Interviews and their transcripts (positions in code points).

use std::borrow::Cow;

use async_graphql::{Context, InputObject, MaybeUndefined, Object, SimpleObject, ID};
use entities::interview;

use super::error::{bad_input, coded, not_found};
use super::ids::{decode, encode, Kind};
use super::live::ChangeKind;
use super::loaders::{all, one};
use super::memos::Memo;
use super::quotations::Quotation;
use super::scalars::Date;
use super::studies::Case;
use super::{connection, page_request, patch, rc, Conn};
use crate::service::quotations::QuotationKey;
use crate::service::{interviews as service, page};
use crate::text;

/// The whole transcript of an interview, loaded once per request, with the interview's
/// version it belongs to.
async fn versioned_transcript(
    ctx: &Context<'_>,
    interview_id: i64,
) -> async_graphql::Result<(i32, std::sync::Arc<str>)> {
    rc(ctx)
        .loaders
        .transcript
        .load_one(interview_id)
        .await?
        .ok_or_else(|| not_found("interview"))
}

/// An interview as read for GraphQL: its transcript is loaded only when asked for.
///
/// A search hit knows its interview from the index, by id and label: a page of hits showing
/// `interview { id label }` (what a results list shows) then costs no database read, and any
/// other field reads the interview's head through the request's loader, once per request.
#[derive(Clone)]
pub enum Interview {
    /// Read from the database.
    Read(interview::Head),
    /// Named by a search index document, with the label it was indexed with (a mutation
    /// returns only once the index holds its change, so a writer reads its own rename).
    Indexed { id: i64, label: String },
}

impl From<interview::Model> for Interview {
    fn from(m: interview::Model) -> Self {
        Self::Read(m.into())
    }
}

impl Interview {
    fn interview_id(&self) -> i64 {
        match self {
            Self::Read(h) => h.id,
            Self::Indexed { id, .. } => *id,
        }
    }

    /// Everything but the transcript, read now if the index named this interview.
    async fn head(&self, ctx: &Context<'_>) -> async_graphql::Result<Cow<'_, interview::Head>> {
        match self {
            Self::Read(h) => Ok(Cow::Borrowed(h)),
            Self::Indexed { id, .. } => one(&rc(ctx).loaders.interview, *id)
                .await?
                .map(Cow::Owned)
                .ok_or_else(|| not_found("interview")),
        }
    }
}

#[Object]
impl Interview {
    /// Notes on this, newest last.
    async fn memos(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<super::memos::Memo>> {
        let target = crate::service::memos::Target::Interview(self.interview_id());
        super::memos::memos_of(ctx, target).await
    }
    pub async fn id(&self) -> ID {
        encode(Kind::Interview, self.interview_id())
    }
    /// As cited in the study, e.g. "Int. 10".
    async fn label(&self) -> &str {
        match self {
            Self::Read(h) => &h.label,
            Self::Indexed { label, .. } => label,
        }
    }
    async fn case(&self, ctx: &Context<'_>) -> async_graphql::Result<Case> {
        let case_id = self.head(ctx).await?.case_id;
        one(&rc(ctx).loaders.case, case_id)
            .await?
            .map(Case)
            .ok_or_else(|| not_found("case"))
    }
    async fn conducted_on(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Date>> {
        Ok(self.head(ctx).await?.conducted_on.map(Date))
    }
    /// Pseudonymised role of the interviewee, e.g. "direttore del consorzio".
    async fn interviewee_role(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(self.head(ctx).await?.interviewee_role.clone())
    }
    async fn language(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(self.head(ctx).await?.language.clone())
    }
    /// Transcript length in code points.
    async fn length(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        Ok(self.head(ctx).await?.length)
    }
    /// The transcript, or the [start, end) slice of it (code points); of the interview's
    /// `version` read in the same request. A query reads one state of the database, and so
    /// do a mutation's answer (from after its write) and a subscription's event; an
    /// interview a mutation returned, edited again before its answer read the transcript, is
    /// CONFLICT (read again).
    async fn transcript(
        &self,
        ctx: &Context<'_>,
        start: Option<i32>,
        end: Option<i32>,
    ) -> async_graphql::Result<String> {
        // The head (version, length) and the text are read by two statements: an edit
        // committed between them made the version one the text was not (a client quoting
        // with that version quoted other words), and the length cut the end off the text.
        let (version, transcript) = versioned_transcript(ctx, self.interview_id()).await?;
        if version != self.head(ctx).await?.version {
            return Err(coded(
                "the interview was edited while it was read: read it again",
                "CONFLICT",
            ));
        }
        if start.is_none() && end.is_none() {
            return Ok(transcript.to_string());
        }
        let length = text::char_len(&transcript) as i32;
        let s = start.unwrap_or(0);
        let e = end.unwrap_or(length);
        if s < 0 || e < s {
            return Err(bad_input("need 0 ≤ start ≤ end"));
        }
        text::slice(&transcript, s as usize, e as usize)
            .map(str::to_owned)
            .ok_or_else(|| {
                bad_input(format!(
                    "[{s}, {e}) is outside the transcript ({length} code points)"
                ))
            })
    }
    /// Quotations of this interview, by position.
    async fn quotations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Quotation>> {
        let rows = all(
            &rc(ctx).loaders.quotations_of_interview,
            self.interview_id(),
        )
        .await?;
        let req = super::quotations::page_request(first, after)?;
        if req
            .after
            .is_some_and(|k| k.interview_id != self.interview_id())
        {
            return Err(bad_input(
                "`after` is a cursor of another interview's quotations",
            ));
        }
        let page = page::in_memory(&rows, QuotationKey::of, req)?;
        Ok(super::quotations::connection(page))
    }
    /// The file an imported transcript was read from ("Progetto.qdpx/sources/….txt" for a
    /// REFI-QDA project's source, the project file's name for a text inline in it); null
    /// when it was typed in.
    async fn source_file(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(self.head(ctx).await?.source_file.clone())
    }
    /// The normalisation steps that changed an imported transcript on the way in (empty when
    /// the file was stored as read); null when the transcript was typed in.
    async fn normalisation(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Vec<super::transcripts::NormalisationStep>>> {
        let head = self.head(ctx).await?;
        Ok(super::transcripts::recorded_steps(
            head.normalisation.as_deref(),
        ))
    }
    /// Optimistic-concurrency version of the transcript.
    async fn version(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        Ok(self.head(ctx).await?.version)
    }
}

#[derive(Default)]
pub struct InterviewQuery;

#[Object]
impl InterviewQuery {
    /// Interviews of one case, or of every study the caller may read.
    async fn interviews(
        &self,
        ctx: &Context<'_>,
        case_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Interview>> {
        let r = rc(ctx);
        let case_id = case_id.map(|id| decode(&id, Kind::Case)).transpose()?;
        let page = service::interviews_page(&r.db, &r.caller, case_id, page_request(first, after)?)
            .await?;
        Ok(connection(page, |m| m.id, Interview::Read))
    }
}

#[derive(InputObject)]
pub struct CreateInterviewInput {
    pub case_id: ID,
    pub label: String,
    /// Stored as every transcript is: CRLF and CR turned into LF, Unicode NFC. Read `length`
    /// and `transcript` back before counting positions.
    pub transcript: String,
    pub conducted_on: Option<Date>,
    pub interviewee_role: Option<String>,
    #[graphql(default_with = "Some(\"it\".to_owned())")]
    pub language: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateInterviewInput {
    pub id: ID,
    /// The version read; a stale version fails with CONFLICT.
    pub version: i32,
    pub label: Option<String>,
    /// The new transcript. Quotations follow their text; if some text is gone the edit is
    /// refused (CONFLICT) unless `allowQuotationLoss`, which deletes and reports them (other
    /// coders' quotations only if the caller owns the study, FORBIDDEN otherwise).
    /// Normalised as on creation, so the same text sent with CRLF changes nothing.
    pub transcript: Option<String>,
    pub conducted_on: MaybeUndefined<Date>,
    pub interviewee_role: MaybeUndefined<String>,
    #[graphql(default_with = "Some(false)")]
    pub allow_quotation_loss: Option<bool>,
}

/// A quotation deleted by a transcript edit, as it was.
#[derive(SimpleObject)]
pub struct LostQuotation {
    pub id: ID,
    pub start: i32,
    pub end: i32,
    pub text: String,
    pub code_ids: Vec<ID>,
    pub memo: Option<String>,
    /// The memos written on it, deleted with it (as they were).
    pub memos: Vec<Memo>,
}

#[derive(SimpleObject)]
pub struct InterviewUpdate {
    pub interview: Interview,
    /// Quotations whose position changed with the transcript.
    pub moved_quotations: i32,
    pub lost_quotations: Vec<LostQuotation>,
}

#[derive(Default)]
pub struct InterviewMutation;

#[Object]
impl InterviewMutation {
    async fn create_interview(
        &self,
        ctx: &Context<'_>,
        input: CreateInterviewInput,
    ) -> async_graphql::Result<Interview> {
        let r = rc(ctx);
        let i = service::create_interview(
            &r.db,
            &r.caller,
            service::NewInterview {
                case_id: decode(&input.case_id, Kind::Case)?,
                label: input.label,
                transcript: input.transcript,
                conducted_on: input.conducted_on.map(|d| d.0),
                interviewee_role: input.interviewee_role,
                language: input.language.unwrap_or_else(|| "it".into()),
            },
        )
        .await?;
        r.searchable().await;
        Ok(Interview::from(i))
    }

    /// Edits an interview; a new transcript re-anchors its quotations.
    async fn update_interview(
        &self,
        ctx: &Context<'_>,
        input: UpdateInterviewInput,
    ) -> async_graphql::Result<InterviewUpdate> {
        let r = rc(ctx);
        let edit = service::update_interview(
            &r.db,
            &r.caller,
            service::InterviewUpdate {
                id: decode(&input.id, Kind::Interview)?,
                version: input.version,
                label: input.label,
                transcript: input.transcript,
                conducted_on: patch(input.conducted_on).map(|d| d.map(|d| d.0)),
                interviewee_role: patch(input.interviewee_role),
                allow_quotation_loss: input.allow_quotation_loss.unwrap_or(false),
            },
        )
        .await?;
        r.searchable().await;
        let changes: Vec<_> = edit
            .moved
            .iter()
            .map(|&q| (ChangeKind::Updated, q))
            .chain(edit.lost.iter().map(|l| (ChangeKind::Deleted, l.id)))
            .collect();
        r.events.publish_all(edit.study_id, &changes);
        Ok(InterviewUpdate {
            interview: Interview::from(edit.interview),
            moved_quotations: edit.moved.len() as i32,
            lost_quotations: edit
                .lost
                .into_iter()
                .map(|l| LostQuotation {
                    id: encode(Kind::Quotation, l.id),
                    start: l.start,
                    end: l.end,
                    text: l.text,
                    code_ids: l
                        .code_ids
                        .into_iter()
                        .map(|c| encode(Kind::Code, c))
                        .collect(),
                    memo: l.memo,
                    memos: l.memos.into_iter().map(Memo).collect(),
                })
                .collect(),
        })
    }

    /// Deletes an interview for good, as an interviewee withdrawing consent requires: its
    /// quotations (their codes, and their place as evidence: each judgment citing one gets
    /// a new version), the memos on it and on its quotations, and its passages in the search
    /// index. Study owners and admins; `version` is the interview's (CONFLICT when stale).
    /// Returns the ID. Subscribers hear each quotation DELETED.
    async fn delete_interview(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
    ) -> async_graphql::Result<ID> {
        let r = rc(ctx);
        let deleted =
            service::delete_interview(&r.db, &r.caller, decode(&id, Kind::Interview)?, version)
                .await?;
        r.searchable().await;
        let changes: Vec<_> = deleted
            .quotations
            .iter()
            .map(|&q| (ChangeKind::Deleted, q))
            .collect();
        r.events.publish_all(deleted.study_id, &changes);
        Ok(id)
    }
}
