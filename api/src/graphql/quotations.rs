//! Coded quotations: spans of a transcript tagged with codes by a coder.

use async_graphql::{Context, Enum, InputObject, MaybeUndefined, Object, ID};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use entities::quotation;

use super::codes::Code;
use super::error::{bad_input, coded, not_found};
use super::ids::{decode, decode_all, encode, Kind};
use super::interviews::Interview;
use super::live::{publish, ChangeKind};
use super::loaders::{all, one};
use super::scalars::DateTime;
use super::users::User;
use super::{patch, rc, Conn};
use crate::service::page::{KeyedRequest, Page};
use crate::service::quotations::{self as service, QuotationKey};

/// Quotation cursors carry the quotation's whole sort key, so that the next page starts
/// after it without reading it again (it may be gone, or elsewhere, by then). Versioned, so
/// that a change of order can refuse old cursors by name.
const CURSOR_V1: &str = "quotation-v1";

pub fn encode_cursor(k: &QuotationKey) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{CURSOR_V1}:{}:{}:{}:{}",
        k.interview_id, k.start, k.end, k.id
    ))
}

pub fn decode_cursor(cursor: &str) -> async_graphql::Result<QuotationKey> {
    let text = URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    if text.starts_with("cursor:") {
        return Err(bad_input(
            "this quotation cursor is from an older version of the server; \
             read the list again from its first page",
        ));
    }
    let key = text.strip_prefix(CURSOR_V1).and_then(|rest| {
        let mut parts = rest.strip_prefix(':')?.split(':');
        let key = QuotationKey {
            interview_id: parts.next()?.parse().ok()?,
            start: parts.next()?.parse().ok()?,
            end: parts.next()?.parse().ok()?,
            id: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(key)
    });
    key.ok_or_else(|| bad_input(format!("{cursor:?} is not a valid cursor")))
}

pub fn page_request(
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<KeyedRequest<QuotationKey>> {
    Ok(KeyedRequest {
        first: first.map(i64::from),
        after: after.as_deref().map(decode_cursor).transpose()?,
    })
}

/// A page of quotations as a Relay connection with key cursors.
pub fn connection(page: Page<quotation::Model>) -> Conn<Quotation> {
    super::connection_with(
        page,
        |q| encode_cursor(&QuotationKey::of(q)),
        Quotation::from,
    )
}

#[derive(Clone)]
pub struct Quotation {
    row: quotation::Model,
    /// Its words as a write left them (`WrittenQuotation`); read from the transcript when
    /// the quotation is read.
    written_text: Option<String>,
}

impl From<quotation::Model> for Quotation {
    fn from(row: quotation::Model) -> Self {
        Self {
            row,
            written_text: None,
        }
    }
}

impl From<service::WrittenQuotation> for Quotation {
    fn from(w: service::WrittenQuotation) -> Self {
        Self {
            row: w.quotation,
            written_text: Some(w.text),
        }
    }
}

#[Object]
impl Quotation {
    /// Notes on this, newest last.
    async fn memos(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<super::memos::Memo>> {
        super::memos::memos_of(ctx, crate::service::memos::Target::Quotation(self.row.id)).await
    }
    pub async fn id(&self) -> ID {
        encode(Kind::Quotation, self.row.id)
    }
    async fn interview(&self, ctx: &Context<'_>) -> async_graphql::Result<Interview> {
        one(&rc(ctx).loaders.interview, self.row.interview_id)
            .await?
            .map(Interview::Read)
            .ok_or_else(|| not_found("interview"))
    }
    async fn start(&self) -> i32 {
        self.row.start_pos
    }
    async fn end(&self) -> i32 {
        self.row.end_pos
    }
    /// Exactly transcript[start, end) (in the answer of createQuotation and updateQuotation,
    /// the transcript as the write left it). A query reads one state of the database, and so
    /// do a mutation's answer (from after its write) and a subscription's event, so the span
    /// and the words always agree there; a quotation found moved (or deleted) between the
    /// two would be CONFLICT: read it again.
    async fn text(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        if let Some(text) = &self.written_text {
            return Ok(text.clone());
        }
        let (start, end) = (self.row.start_pos, self.row.end_pos);
        // The span is read again with its words, in one statement: a span read before an
        // edit moved it would otherwise cut other words from the edited transcript.
        match rc(ctx).loaders.quotation_text.load_one(self.row.id).await? {
            Some((s, e, text)) if (s, e) == (start, end) => {
                if text.chars().count() == (end - start) as usize {
                    Ok(text)
                } else {
                    Err(bad_input("the quotation lies outside its transcript"))
                }
            }
            _ => Err(coded(
                "the quotation's transcript was edited (or the quotation deleted) while it was \
                 read: read it again",
                "CONFLICT",
            )),
        }
    }
    async fn codes(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Code>> {
        let rows = all(&rc(ctx).loaders.codes_of_quotation, self.row.id).await?;
        Ok(rows.into_iter().map(Code).collect())
    }
    async fn memo(&self) -> Option<&str> {
        self.row.memo.as_deref()
    }
    async fn coder(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(id) = self.row.coder_id else {
            return Ok(None);
        };
        Ok(one(&rc(ctx).loaders.user, id).await?.map(User))
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.row.created_at)
    }
    async fn updated_at(&self) -> DateTime {
        DateTime(self.row.updated_at)
    }
    /// Optimistic-concurrency version; updates and deletes must name it.
    async fn version(&self) -> i32 {
        self.row.version
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
pub enum CodeMatch {
    /// Quotations carrying any of the codes (or their descendants).
    #[default]
    Any,
    /// Quotations carrying every one of the codes (each, or one of its descendants): at
    /// most 100 codes (BAD_USER_INPUT).
    All,
}

/// Most entries in one list of a quotation filter. The lists go to the database as bound
/// values of one statement, where SQLite's limit (see `db::IDS_PER_STATEMENT`) is the lower:
/// five lists of 5,000 (the studies asked for, else those readable; the ambito codes become
/// at most 5,000 ambito ids) leave 7,766 for the `codeIds` subtrees bound in the same one.
const MAX_FILTER_ENTRIES: usize = 5_000;

#[derive(InputObject, Default)]
pub struct QuotationFilter {
    pub study_ids: Option<Vec<ID>>,
    pub case_ids: Option<Vec<ID>>,
    pub ambito_codes: Option<Vec<String>>,
    pub interview_ids: Option<Vec<ID>>,
    /// Quotations carrying any of these codes or their descendants.
    pub code_ids: Option<Vec<ID>>,
    /// How `codeIds` combine (default ANY).
    pub code_match: Option<CodeMatch>,
    pub coder_ids: Option<Vec<ID>>,
}

#[derive(Default)]
pub struct QuotationQuery;

#[Object]
impl QuotationQuery {
    /// Quotations in the studies the caller may read, ordered by interview and position.
    /// Each list of the filter holds at most 5000 entries (BAD_USER_INPUT).
    /// Unknown `ambitoCodes` are BAD_USER_INPUT.
    async fn quotations(
        &self,
        ctx: &Context<'_>,
        filter: Option<QuotationFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Quotation>> {
        let r = rc(ctx);
        let f = filter.unwrap_or_default();
        for (name, len) in [
            ("studyIds", f.study_ids.as_ref().map(Vec::len)),
            ("caseIds", f.case_ids.as_ref().map(Vec::len)),
            ("ambitoCodes", f.ambito_codes.as_ref().map(Vec::len)),
            ("interviewIds", f.interview_ids.as_ref().map(Vec::len)),
            ("coderIds", f.coder_ids.as_ref().map(Vec::len)),
        ] {
            if len.unwrap_or(0) > MAX_FILTER_ENTRIES {
                return Err(bad_input(format!(
                    "`filter.{name}` lists more than {MAX_FILTER_ENTRIES} entries: narrow it, \
                     or filter by study or case instead"
                )));
            }
        }
        let ids = |v: Option<Vec<ID>>, kind| v.map(|v| decode_all(&v, kind)).transpose();
        let query = service::QuotationQuery {
            study_ids: ids(f.study_ids, Kind::Study)?,
            case_ids: ids(f.case_ids, Kind::Case)?,
            ambito_codes: f.ambito_codes,
            interview_ids: ids(f.interview_ids, Kind::Interview)?,
            code_ids: ids(f.code_ids, Kind::Code)?,
            all_codes: f.code_match == Some(CodeMatch::All),
            coder_ids: ids(f.coder_ids, Kind::User)?,
        };
        let page = service::list(&r.db, &r.caller, query, page_request(first, after)?).await?;
        Ok(connection(page))
    }
}

#[derive(InputObject)]
pub struct CreateQuotationInput {
    pub interview_id: ID,
    pub start: i32,
    pub end: i32,
    pub code_ids: Vec<ID>,
    /// A note on the quotation; blank text is no note.
    pub memo: Option<String>,
    /// The interview's version the offsets were read from: if the interview has changed
    /// since (its transcript edited, say), CONFLICT, rather than a quotation on other words.
    pub interview_version: Option<i32>,
}

#[derive(InputObject)]
pub struct UpdateQuotationInput {
    pub id: ID,
    /// The version read; a stale version fails with CONFLICT.
    pub version: i32,
    pub start: Option<i32>,
    pub end: Option<i32>,
    pub code_ids: Option<Vec<ID>>,
    /// Absent leaves the memo as it is; null or blank text clears it.
    pub memo: MaybeUndefined<String>,
    /// The interview's version the new `start` and `end` were read from: if the interview
    /// has changed since (its transcript edited, say), CONFLICT, rather than a span over
    /// other words. The quotation's `version` does not tell: an edit elsewhere in the
    /// transcript leaves it as it was. Not checked when neither `start` nor `end` is sent.
    pub interview_version: Option<i32>,
}

#[derive(Default)]
pub struct QuotationMutation;

#[Object]
impl QuotationMutation {
    async fn create_quotation(
        &self,
        ctx: &Context<'_>,
        input: CreateQuotationInput,
    ) -> async_graphql::Result<Quotation> {
        let r = rc(ctx);
        let q = service::create_quotation(
            &r.db,
            &r.caller,
            service::NewQuotation {
                interview_id: decode(&input.interview_id, Kind::Interview)?,
                start: i64::from(input.start),
                end: i64::from(input.end),
                code_ids: decode_all(&input.code_ids, Kind::Code)?,
                memo: input.memo,
                interview_version: input.interview_version,
            },
        )
        .await?;
        r.searchable().await;
        publish(
            r,
            q.quotation.interview_id,
            ChangeKind::Created,
            q.quotation.id,
        )
        .await;
        Ok(q.into())
    }

    /// Changes a quotation's span, codes or memo. Its coder may, and the study's owners;
    /// another analyst is FORBIDDEN.
    async fn update_quotation(
        &self,
        ctx: &Context<'_>,
        input: UpdateQuotationInput,
    ) -> async_graphql::Result<Quotation> {
        let r = rc(ctx);
        let q = service::update_quotation(
            &r.db,
            &r.caller,
            service::QuotationUpdate {
                id: decode(&input.id, Kind::Quotation)?,
                version: input.version,
                start: input.start.map(i64::from),
                end: input.end.map(i64::from),
                code_ids: input
                    .code_ids
                    .as_deref()
                    .map(|ids| decode_all(ids, Kind::Code))
                    .transpose()?,
                memo: patch(input.memo),
                interview_version: input.interview_version,
            },
        )
        .await?;
        r.searchable().await;
        publish(
            r,
            q.quotation.interview_id,
            ChangeKind::Updated,
            q.quotation.id,
        )
        .await;
        Ok(q.into())
    }

    /// Deletes a quotation; returns its ID. Its coder may, and the study's owners; another
    /// analyst is FORBIDDEN.
    async fn delete_quotation(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
    ) -> async_graphql::Result<ID> {
        let r = rc(ctx);
        let quotation_id = decode(&id, Kind::Quotation)?;
        let interview = one(&r.loaders.quotation, quotation_id)
            .await?
            .map(|q| q.interview_id);
        service::delete_quotation(&r.db, &r.caller, quotation_id, version).await?;
        r.searchable().await;
        if let Some(interview_id) = interview {
            publish(r, interview_id, ChangeKind::Deleted, quotation_id).await;
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_carry_the_whole_key_and_old_ones_are_refused_by_name() {
        let key = QuotationKey {
            interview_id: 7,
            start: 120,
            end: 180,
            id: 42,
        };
        assert_eq!(decode_cursor(&encode_cursor(&key)).unwrap(), key);
        let old = URL_SAFE_NO_PAD.encode("cursor:42");
        assert!(decode_cursor(&old)
            .unwrap_err()
            .message
            .contains("older version"));
        for bad in ["", "nope", "quotation-v1:7:120:180:42"] {
            assert!(decode_cursor(bad).is_err(), "{bad:?}");
        }
        for bad in [
            "quotation-v1:7:120:180",
            "quotation-v1:7:120:180:42:1",
            "quotation-v2:7:1:2:3",
        ] {
            assert!(
                decode_cursor(&URL_SAFE_NO_PAD.encode(bad)).is_err(),
                "{bad:?}"
            );
        }
    }
}
