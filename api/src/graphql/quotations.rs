//! Coded quotations: spans of a transcript tagged with codes by a coder.

use async_graphql::{Context, InputObject, Object, ID};
use entities::{code, interview, quotation, quotation_code, study_case};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::codes::Code;
use super::error::{bad_input, not_found};
use super::ids::{decode, decode_all, encode, Kind};
use super::interviews::Interview;
use super::loaders::{all, one};
use super::scalars::DateTime;
use super::users::User;
use super::{connection, page_request, rc, Conn};
use crate::service::{codes as code_service, page, quotations as service, studies};
use crate::ServiceError;

#[derive(Clone)]
pub struct Quotation(pub quotation::Model);

#[Object]
impl Quotation {
    pub async fn id(&self) -> ID {
        encode(Kind::Quotation, self.0.id)
    }
    async fn interview(&self, ctx: &Context<'_>) -> async_graphql::Result<Interview> {
        one(&rc(ctx).loaders.interview, self.0.interview_id)
            .await?
            .map(Interview)
            .ok_or_else(|| not_found("interview"))
    }
    async fn start(&self) -> i32 {
        self.0.start_pos
    }
    async fn end(&self) -> i32 {
        self.0.end_pos
    }
    /// Exactly transcript[start, end).
    async fn text(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        let i = one(&rc(ctx).loaders.interview, self.0.interview_id)
            .await?
            .ok_or_else(|| not_found("interview"))?;
        crate::text::slice(
            &i.transcript,
            self.0.start_pos as usize,
            self.0.end_pos as usize,
        )
        .map(str::to_owned)
        .ok_or_else(|| bad_input("the quotation lies outside its transcript"))
    }
    async fn codes(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Code>> {
        let rows = all(&rc(ctx).loaders.codes_of_quotation, self.0.id).await?;
        Ok(rows.into_iter().map(Code).collect())
    }
    async fn memo(&self) -> Option<&str> {
        self.0.memo.as_deref()
    }
    async fn coder(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(id) = self.0.coder_id else {
            return Ok(None);
        };
        Ok(one(&rc(ctx).loaders.user, id).await?.map(User))
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }
    /// Optimistic-concurrency version; updates and deletes must name it.
    async fn version(&self) -> i32 {
        self.0.version
    }
}

#[derive(InputObject, Default)]
pub struct QuotationFilter {
    pub study_ids: Option<Vec<ID>>,
    pub case_ids: Option<Vec<ID>>,
    pub interview_ids: Option<Vec<ID>>,
    /// Quotations carrying any of these codes or their descendants.
    pub code_ids: Option<Vec<ID>>,
    pub coder_ids: Option<Vec<ID>>,
}

#[derive(Default)]
pub struct QuotationQuery;

#[Object]
impl QuotationQuery {
    /// Quotations in the studies the caller may read, ordered by id (creation).
    async fn quotations(
        &self,
        ctx: &Context<'_>,
        filter: Option<QuotationFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Quotation>> {
        let r = rc(ctx);
        let f = filter.unwrap_or_default();
        let db = &r.db;
        // Narrow the studies first, then cases, then interviews: each step one query.
        let mut study_ids = studies::readable_study_ids(db, &r.caller).await?;
        if let Some(ids) = &f.study_ids {
            let wanted = decode_all(ids, Kind::Study)?;
            study_ids = Some(match study_ids {
                Some(readable) => wanted
                    .into_iter()
                    .filter(|s| readable.contains(s))
                    .collect(),
                None => wanted,
            });
        }
        let mut cases = study_case::Entity::find()
            .select_only()
            .column(study_case::Column::Id);
        if let Some(s) = &study_ids {
            cases = cases.filter(study_case::Column::StudyId.is_in(s.iter().copied()));
        }
        if let Some(ids) = &f.case_ids {
            cases = cases.filter(study_case::Column::Id.is_in(decode_all(ids, Kind::Case)?));
        }
        let case_ids: Vec<i64> = cases
            .into_tuple()
            .all(db)
            .await
            .map_err(ServiceError::from)?;
        let mut interviews = interview::Entity::find()
            .select_only()
            .column(interview::Column::Id)
            .filter(interview::Column::CaseId.is_in(case_ids));
        if let Some(ids) = &f.interview_ids {
            interviews =
                interviews.filter(interview::Column::Id.is_in(decode_all(ids, Kind::Interview)?));
        }
        let interview_ids: Vec<i64> = interviews
            .into_tuple()
            .all(db)
            .await
            .map_err(ServiceError::from)?;
        let mut select =
            quotation::Entity::find().filter(quotation::Column::InterviewId.is_in(interview_ids));
        if let Some(ids) = &f.coder_ids {
            select = select.filter(quotation::Column::CoderId.is_in(decode_all(ids, Kind::User)?));
        }
        if let Some(ids) = &f.code_ids {
            let roots = decode_all(ids, Kind::Code)?;
            let roots_models = code::Entity::find()
                .filter(code::Column::Id.is_in(roots.clone()))
                .all(db)
                .await
                .map_err(ServiceError::from)?;
            let mut wanted = Vec::new();
            for study in roots_models.iter().map(|c| c.study_id) {
                let all_codes = code_service::study_codes(db, study).await?;
                wanted.extend(code_service::with_descendants(&all_codes, &roots));
            }
            let tagged: Vec<i64> = quotation_code::Entity::find()
                .select_only()
                .column(quotation_code::Column::QuotationId)
                .filter(quotation_code::Column::CodeId.is_in(wanted))
                .distinct()
                .order_by_asc(quotation_code::Column::QuotationId)
                .into_tuple()
                .all(db)
                .await
                .map_err(ServiceError::from)?;
            select = select.filter(quotation::Column::Id.is_in(tagged));
        }
        let page = page::by_id(
            db,
            select,
            quotation::Column::Id,
            page_request(first, after)?,
        )
        .await?;
        Ok(connection(page, |m| m.id, Quotation))
    }
}

#[derive(InputObject)]
pub struct CreateQuotationInput {
    pub interview_id: ID,
    pub start: i32,
    pub end: i32,
    pub code_ids: Vec<ID>,
    pub memo: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateQuotationInput {
    pub id: ID,
    /// The version read; a stale version fails with CONFLICT.
    pub version: i32,
    pub start: Option<i32>,
    pub end: Option<i32>,
    pub code_ids: Option<Vec<ID>>,
    pub memo: Option<String>,
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
            },
        )
        .await?;
        r.searchable().await;
        Ok(Quotation(q))
    }

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
                memo: input.memo,
            },
        )
        .await?;
        r.searchable().await;
        Ok(Quotation(q))
    }

    /// Deletes a quotation; returns its ID.
    async fn delete_quotation(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
    ) -> async_graphql::Result<ID> {
        let r = rc(ctx);
        service::delete_quotation(&r.db, &r.caller, decode(&id, Kind::Quotation)?, version).await?;
        r.searchable().await;
        Ok(id)
    }
}
