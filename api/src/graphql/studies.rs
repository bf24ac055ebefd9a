//! Studies, their cases and the interventions (action lines) studied in each case.

use async_graphql::{Context, InputObject, MaybeUndefined, Object, ID};
use entities::{intervention, study, study_case};

use super::ambiti::{ambito_codes, Ambito};
use super::codes::Code;
use super::discontinuities::{Discontinuity, DiscontinuityDimension};
use super::ids::{decode, decode_all, encode, Kind};
use super::interviews::Interview;
use super::loaders::{all, codebook, one};
use super::projects::Project;
use super::{connection, page_request, patch, rc, today, Conn};
use crate::service::{page, studies as service};

#[derive(Clone)]
pub struct Study(pub study::Model);

#[Object]
impl Study {
    /// Notes on this, newest last.
    async fn memos(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<super::memos::Memo>> {
        super::memos::memos_of(ctx, crate::service::memos::Target::Study(self.0.id)).await
    }
    pub async fn id(&self) -> ID {
        encode(Kind::Study, self.0.id)
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn authors(&self) -> Vec<String> {
        service::string_list(&self.0.authors)
    }
    async fn year(&self) -> Option<i32> {
        self.0.year
    }
    async fn research_questions(&self) -> Vec<String> {
        service::string_list(&self.0.research_questions)
    }
    /// Readable without a token.
    async fn public(&self) -> bool {
        self.0.is_public
    }
    async fn cases(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Case>> {
        let rows = all(&rc(ctx).loaders.cases_of_study, self.0.id).await?;
        let page = page::in_memory(&rows, |c| c.id, page_request(first, after)?)?;
        Ok(connection(page, |c| c.id, Case))
    }
    /// Who belongs to the study, with their roles (in the order their accounts were made).
    async fn members(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<super::members::StudyMember>> {
        super::members::members_of(ctx, self.0.id).await
    }
    /// Root codes of the study's codebook; children hang below.
    async fn codebook(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Code>> {
        let book = codebook(&rc(ctx).loaders.codebook, self.0.id).await?;
        Ok(book.roots().cloned().map(Code).collect())
    }
}

#[derive(Clone)]
pub struct Case(pub study_case::Model);

#[Object]
impl Case {
    /// Notes on this, newest last.
    async fn memos(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<super::memos::Memo>> {
        super::memos::memos_of(ctx, crate::service::memos::Target::Case(self.0.id)).await
    }
    pub async fn id(&self) -> ID {
        encode(Kind::Case, self.0.id)
    }
    async fn label(&self) -> &str {
        &self.0.label
    }
    async fn study(&self, ctx: &Context<'_>) -> async_graphql::Result<Study> {
        one(&rc(ctx).loaders.study, self.0.study_id)
            .await?
            .map(Study)
            .ok_or_else(|| super::error::not_found("study"))
    }
    async fn ambiti(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Ambito>> {
        let rows = all(&rc(ctx).loaders.ambiti_of_case, self.0.id).await?;
        Ok(rows.into_iter().map(|m| Ambito::new(m, today())).collect())
    }
    async fn projects(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Project>> {
        let rows = all(&rc(ctx).loaders.projects_of_case, self.0.id).await?;
        Ok(rows.into_iter().map(Project).collect())
    }
    async fn interviews(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Interview>> {
        let rows = all(&rc(ctx).loaders.interviews_of_case, self.0.id).await?;
        let page = page::in_memory(&rows, |i| i.id, page_request(first, after)?)?;
        Ok(connection(page, |i| i.id, Interview::Read))
    }
    /// The project's action lines studied in this case (e.g. housing, job placement).
    async fn interventions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Intervention>> {
        let rows = all(&rc(ctx).loaders.interventions_of_case, self.0.id).await?;
        Ok(rows.into_iter().map(Intervention).collect())
    }
    async fn discontinuities(
        &self,
        ctx: &Context<'_>,
        dimension: Option<DiscontinuityDimension>,
    ) -> async_graphql::Result<Vec<Discontinuity>> {
        let rows = all(&rc(ctx).loaders.discontinuities_of_case, self.0.id).await?;
        Ok(Discontinuity::filtered(rows, dimension))
    }
    /// Which dimension led to which: the consensus cascade, or one evaluator's.
    async fn cascade(
        &self,
        ctx: &Context<'_>,
        evaluator_id: Option<ID>,
    ) -> async_graphql::Result<Vec<super::discontinuities::CascadeLink>> {
        super::discontinuities::case_cascade(ctx, &self.0, evaluator_id).await
    }
    /// The cascade as a picture (SVG).
    async fn cascade_svg_url(&self) -> String {
        format!("/cases/{}/cascade.svg", encode(Kind::Case, self.0.id).0)
    }
}

#[derive(Clone)]
pub struct Intervention(pub intervention::Model);

#[Object]
impl Intervention {
    pub async fn id(&self) -> ID {
        encode(Kind::Intervention, self.0.id)
    }
    async fn label(&self) -> &str {
        &self.0.label
    }
    async fn case(&self, ctx: &Context<'_>) -> async_graphql::Result<Case> {
        one(&rc(ctx).loaders.case, self.0.case_id)
            .await?
            .map(Case)
            .ok_or_else(|| super::error::not_found("case"))
    }
    async fn discontinuities(
        &self,
        ctx: &Context<'_>,
        dimension: Option<DiscontinuityDimension>,
    ) -> async_graphql::Result<Vec<Discontinuity>> {
        let rows = all(&rc(ctx).loaders.discontinuities_of_intervention, self.0.id).await?;
        Ok(Discontinuity::filtered(rows, dimension))
    }
}

#[derive(Default)]
pub struct StudyQuery;

#[Object]
impl StudyQuery {
    /// The studies the caller may read.
    async fn studies(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Study>> {
        let r = rc(ctx);
        let page = service::studies_page(&r.db, &r.caller, page_request(first, after)?).await?;
        Ok(connection(page, |m| m.id, Study))
    }

    /// Cases of one study, or of every study the caller may read.
    async fn cases(
        &self,
        ctx: &Context<'_>,
        study_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Case>> {
        let r = rc(ctx);
        let study_id = study_id.map(|id| decode(&id, Kind::Study)).transpose()?;
        let page =
            service::cases_page(&r.db, &r.caller, study_id, page_request(first, after)?).await?;
        Ok(connection(page, |m| m.id, Case))
    }
}

#[derive(InputObject)]
pub struct CreateStudyInput {
    pub title: String,
    /// Each one non-blank (entries are trimmed).
    pub authors: Option<Vec<String>>,
    /// From 1900 to 2100.
    pub year: Option<i32>,
    /// Each one non-blank (entries are trimmed).
    pub research_questions: Option<Vec<String>>,
    /// Readable without a token (the demo study is public).
    #[graphql(default_with = "Some(false)")]
    pub public: Option<bool>,
}

#[derive(InputObject)]
pub struct CreateCaseInput {
    pub study_id: ID,
    pub label: String,
    pub ambito_codes: Option<Vec<String>>,
    pub project_ids: Option<Vec<ID>>,
}

/// A study's fields to change; those left out keep their value.
#[derive(InputObject)]
pub struct UpdateStudyInput {
    pub id: ID,
    pub title: Option<String>,
    /// The whole list; each one non-blank (entries are trimmed).
    pub authors: Option<Vec<String>>,
    /// From 1900 to 2100; null clears it.
    pub year: MaybeUndefined<i32>,
    /// The whole list; each one non-blank (entries are trimmed).
    pub research_questions: Option<Vec<String>>,
    /// Readable without a token. Made private, the study is hidden at once from everyone
    /// without a role in it.
    pub public: Option<bool>,
}

/// A case's fields to change; those left out keep their value.
#[derive(InputObject)]
pub struct UpdateCaseInput {
    pub id: ID,
    pub label: Option<String>,
    /// The whole list of ambiti the case lies in, by code (search's ambito filter follows).
    pub ambito_codes: Option<Vec<String>>,
    /// The whole list of projects the case studies.
    pub project_ids: Option<Vec<ID>>,
}

#[derive(InputObject)]
pub struct CreateInterventionInput {
    pub case_id: ID,
    pub label: String,
}

#[derive(Default)]
pub struct StudyMutation;

#[Object]
impl StudyMutation {
    /// Creates a study; the caller becomes its owner.
    async fn create_study(
        &self,
        ctx: &Context<'_>,
        input: CreateStudyInput,
    ) -> async_graphql::Result<Study> {
        let r = rc(ctx);
        let s = service::create_study(
            &r.db,
            &r.caller,
            service::NewStudy {
                title: input.title,
                authors: input.authors.unwrap_or_default(),
                year: input.year,
                research_questions: input.research_questions.unwrap_or_default(),
                is_public: input.public.unwrap_or(false),
            },
        )
        .await?;
        Ok(Study(s))
    }

    async fn create_case(
        &self,
        ctx: &Context<'_>,
        input: CreateCaseInput,
    ) -> async_graphql::Result<Case> {
        let r = rc(ctx);
        let c = service::create_case(
            &r.db,
            &r.caller,
            service::NewCase {
                study_id: decode(&input.study_id, Kind::Study)?,
                label: input.label,
                ambito_codes: ambito_codes(input.ambito_codes.unwrap_or_default())?,
                project_ids: decode_all(&input.project_ids.unwrap_or_default(), Kind::Project)?,
            },
        )
        .await?;
        Ok(Case(c))
    }

    /// Changes a study's title, authors, year, research questions or visibility; what is
    /// left out keeps its value, and a change to nothing writes nothing. Study owners and
    /// admins.
    async fn update_study(
        &self,
        ctx: &Context<'_>,
        input: UpdateStudyInput,
    ) -> async_graphql::Result<Study> {
        let r = rc(ctx);
        let s = service::update_study(
            &r.db,
            &r.caller,
            service::StudyUpdate {
                id: decode(&input.id, Kind::Study)?,
                title: input.title,
                authors: input.authors,
                year: patch(input.year),
                research_questions: input.research_questions,
                is_public: input.public,
            },
        )
        .await?;
        Ok(Study(s))
    }

    /// Relabels a case, or changes the ambiti and projects it is linked to (each list
    /// replaces the one before); what is left out keeps its value. Returns once search
    /// filters the case's interviews by their new ambiti. Study owners and admins.
    async fn update_case(
        &self,
        ctx: &Context<'_>,
        input: UpdateCaseInput,
    ) -> async_graphql::Result<Case> {
        let r = rc(ctx);
        let ambito_codes = input.ambito_codes.map(ambito_codes).transpose()?;
        let project_ids = input
            .project_ids
            .map(|ids| decode_all(&ids, Kind::Project))
            .transpose()?;
        let change = service::update_case(
            &r.db,
            &r.caller,
            service::CaseUpdate {
                id: decode(&input.id, Kind::Case)?,
                label: input.label,
                ambito_codes,
                project_ids,
            },
        )
        .await?;
        if change.reindexed {
            r.searchable().await;
        }
        Ok(Case(change.case))
    }

    async fn create_intervention(
        &self,
        ctx: &Context<'_>,
        input: CreateInterventionInput,
    ) -> async_graphql::Result<Intervention> {
        let r = rc(ctx);
        let i = service::create_intervention(
            &r.db,
            &r.caller,
            decode(&input.case_id, Kind::Case)?,
            &input.label,
        )
        .await?;
        Ok(Intervention(i))
    }

    /// Deletes a case with its links to ambiti and projects and the memos on it; CONFLICT
    /// while it still has interviews, discontinuity judgments or interventions. Study owners
    /// and admins. Returns the ID.
    async fn delete_case(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let r = rc(ctx);
        service::delete_case(&r.db, &r.caller, decode(&id, Kind::Case)?).await?;
        Ok(id)
    }

    /// Deletes a study with its codebook, the memos on it and its codes, and its members'
    /// roles; CONFLICT while it still has cases. Study owners and admins. Returns the ID.
    async fn delete_study(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let r = rc(ctx);
        service::delete_study(&r.db, &r.caller, decode(&id, Kind::Study)?).await?;
        Ok(id)
    }
}
