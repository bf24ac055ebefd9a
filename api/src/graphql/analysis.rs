//! Analysis of a study's coding: code frequencies, co-occurrence, the code × case matrix,
//! and how far two coders agree.

use std::collections::HashMap;

use async_graphql::{Context, Enum, Object, SimpleObject, ID};
use entities::code;

use super::ambiti::Ambito;
use super::codes::Code;
use super::error::{bad_input, not_found};
use super::ids::{decode, decode_all, Kind};
use super::interviews::Interview;
use super::loaders::one;
use super::quotations::Quotation;
use super::studies::Case;
use super::users::User;
use super::{on_the_blocking_pool, rc, today};
use crate::service::analysis::{self as service, Coding, Grouping};
use crate::service::coding_agreement::{self, Comparison, Marks};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum FrequencyGrouping {
    Study,
    Case,
    Ambito,
    /// By the interviewee's role, as each interview records it.
    IntervieweeRole,
}

/// How often a code (with its descendants) occurs in a study, a case, an ambito or the
/// interviews of one interviewee role.
pub struct CodeFrequency {
    code: code::Model,
    row: service::Frequency,
    by: FrequencyGrouping,
    /// The role of the row, when grouped by role.
    role: Option<String>,
}

#[Object]
impl CodeFrequency {
    async fn code(&self) -> Code {
        Code(self.code.clone())
    }
    /// Set when grouped by case.
    async fn case(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Case>> {
        match (self.by, self.row.group) {
            (FrequencyGrouping::Case, Some(id)) => {
                Ok(one(&rc(ctx).loaders.case, id).await?.map(Case))
            }
            _ => Ok(None),
        }
    }
    /// Set when grouped by ambito.
    async fn ambito(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Ambito>> {
        match (self.by, self.row.group) {
            (FrequencyGrouping::Ambito, Some(id)) => Ok(one(&rc(ctx).loaders.ambito, id)
                .await?
                .map(|m| Ambito::new(m, today()))),
            _ => Ok(None),
        }
    }
    /// Set when grouped by interviewee role; null there for the interviews without one.
    async fn interviewee_role(&self) -> Option<&str> {
        self.role.as_deref()
    }
    async fn quotations(&self) -> i32 {
        self.row.quotations as i32
    }
    async fn interviews(&self) -> i32 {
        self.row.interviews as i32
    }
    async fn cases(&self) -> i32 {
        self.row.cases as i32
    }
}

#[derive(SimpleObject)]
pub struct CooccurrenceCell {
    pub a: Code,
    pub b: Code,
    /// Quotations of one interview carrying both codes, or overlapping quotations carrying
    /// one each.
    pub count: i32,
}

pub struct CodeCaseCell {
    code: code::Model,
    case_id: i64,
    quotation_ids: Vec<i64>,
}

#[Object]
impl CodeCaseCell {
    async fn code(&self) -> Code {
        Code(self.code.clone())
    }
    async fn case(&self, ctx: &Context<'_>) -> async_graphql::Result<Case> {
        one(&rc(ctx).loaders.case, self.case_id)
            .await?
            .map(Case)
            .ok_or_else(|| not_found("case"))
    }
    async fn count(&self) -> i32 {
        self.quotation_ids.len() as i32
    }
    /// The quotations behind the count, in the order they were made.
    async fn quotations(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Quotation>> {
        let mut found = rc(ctx)
            .loaders
            .quotation
            .load_many(self.quotation_ids.iter().copied())
            .await?;
        Ok(self
            .quotation_ids
            .iter()
            .filter_map(|id| found.remove(id).and_then(|v| v.into_iter().next()))
            .map(Quotation::from)
            .collect())
    }
}

/// How two coders marked the transcripts compared with one code, in code points.
pub struct CodingMarks(Marks);

/// A count of code points as GraphQL's Int carries it.
fn code_points(n: u64) -> async_graphql::Result<i32> {
    i32::try_from(n).map_err(|_| {
        bad_input("more than 2³¹ code points compared: compare fewer interviews at a time")
    })
}

#[Object]
impl CodingMarks {
    /// Code points both coders marked with the code.
    async fn both(&self) -> async_graphql::Result<i32> {
        code_points(self.0.both)
    }
    /// Code points coder A marked with the code and coder B did not.
    async fn only_a(&self) -> async_graphql::Result<i32> {
        code_points(self.0.only_a)
    }
    async fn only_b(&self) -> async_graphql::Result<i32> {
        code_points(self.0.only_b)
    }
    /// Code points neither coder marked with the code.
    async fn neither(&self) -> async_graphql::Result<i32> {
        code_points(self.0.neither)
    }
    /// The share of code points the two marked alike (both or neither), 0 to 1; null when
    /// no code point was compared.
    async fn percent_agreement(&self) -> Option<f64> {
        self.0.percent()
    }
    /// Cohen's kappa over the code points; null where it is undefined: chance alone agrees
    /// on every code point (neither coder used the code, or each marked all of the text).
    async fn kappa(&self) -> Option<f64> {
        self.0.kappa()
    }
}

/// Two coders' agreement on one code.
pub struct CodeAgreement {
    code: code::Model,
    row: coding_agreement::CodeAgreement,
}

#[Object]
impl CodeAgreement {
    async fn code(&self) -> Code {
        Code(self.code.clone())
    }
    /// Over every interview compared, their code points pooled (NVivo gives each source's:
    /// see `interviews`).
    async fn marks(&self) -> CodingMarks {
        CodingMarks(self.row.marks)
    }
    /// Per interview compared, in the order of `CodingAgreement.interviews`.
    async fn interviews(&self) -> Vec<InterviewCodingMarks> {
        self.row
            .by_interview
            .iter()
            .map(|&(interview_id, marks)| InterviewCodingMarks {
                interview_id,
                marks,
            })
            .collect()
    }
}

pub struct InterviewCodingMarks {
    interview_id: i64,
    marks: Marks,
}

#[Object]
impl InterviewCodingMarks {
    async fn interview(&self, ctx: &Context<'_>) -> async_graphql::Result<Interview> {
        one(&rc(ctx).loaders.interview, self.interview_id)
            .await?
            .map(Interview::Read)
            .ok_or_else(|| not_found("interview"))
    }
    async fn marks(&self) -> CodingMarks {
        CodingMarks(self.marks)
    }
}

/// Two coders' coding of a study compared (see `codingAgreement`).
pub struct CodingAgreement {
    coders: (i64, i64),
    compared: coding_agreement::CodingAgreement,
    models: HashMap<i64, code::Model>,
}

#[Object]
impl CodingAgreement {
    async fn coder_a(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        coder(ctx, self.coders.0).await
    }
    async fn coder_b(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        coder(ctx, self.coders.1).await
    }
    /// The interviews compared.
    async fn interviews(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Interview>> {
        let ids = &self.compared.interviews;
        let mut found = rc(ctx)
            .loaders
            .interview
            .load_many(ids.iter().copied())
            .await?;
        ids.iter()
            .map(|id| {
                found
                    .remove(id)
                    .and_then(|rows| rows.into_iter().next())
                    .map(Interview::Read)
                    .ok_or_else(|| not_found("interview"))
            })
            .collect()
    }
    /// Their transcripts' length together: the code points each code is compared over.
    async fn code_points(&self) -> async_graphql::Result<i32> {
        code_points(self.compared.code_points)
    }
    async fn codes(&self) -> Vec<CodeAgreement> {
        self.compared
            .codes
            .iter()
            .filter_map(|row| {
                Some(CodeAgreement {
                    code: self.models.get(&row.code_id)?.clone(),
                    row: row.clone(),
                })
            })
            .collect()
    }
}

async fn coder(ctx: &Context<'_>, id: i64) -> async_graphql::Result<User> {
    one(&rc(ctx).loaders.user, id)
        .await?
        .map(User)
        .ok_or_else(|| not_found("user"))
}

async fn coding(
    ctx: &Context<'_>,
    study_id: &ID,
    code_ids: Option<Vec<ID>>,
) -> async_graphql::Result<(Coding, Vec<i64>, HashMap<i64, code::Model>)> {
    let r = rc(ctx);
    let coding = Coding::load(&r.db, &r.caller, decode(study_id, Kind::Study)?).await?;
    let asked = code_ids
        .map(|ids| decode_all(&ids, Kind::Code))
        .transpose()?;
    let codes = coding.codes_or_all(asked)?;
    let models = coding.codes.iter().map(|c| (c.id, c.clone())).collect();
    Ok((coding, codes, models))
}

#[derive(Default)]
pub struct AnalysisQuery;

#[Object]
impl AnalysisQuery {
    /// Quotations, interviews and cases per code (descendants included), for the whole
    /// study or per case, ambito or interviewee role: one row per code and group, for every
    /// case of the study (or every ambito of its cases, or every role its interviews record,
    /// and one for the interviews without a role if any), with quotations or not. `codeIds`
    /// not in the study's codebook are NOT_FOUND; a code asked twice gets its rows once.
    async fn code_frequencies(
        &self,
        ctx: &Context<'_>,
        study_id: ID,
        code_ids: Option<Vec<ID>>,
        #[graphql(default_with = "Some(FrequencyGrouping::Study)")] by: Option<FrequencyGrouping>,
    ) -> async_graphql::Result<Vec<CodeFrequency>> {
        let (coding, codes, models) = coding(ctx, &study_id, code_ids).await?;
        let by = by.unwrap_or(FrequencyGrouping::Study);
        let grouping = match by {
            FrequencyGrouping::Study => Grouping::Study,
            FrequencyGrouping::Case => Grouping::Case,
            FrequencyGrouping::Ambito => Grouping::Ambito,
            FrequencyGrouping::IntervieweeRole => Grouping::IntervieweeRole,
        };
        let roles = coding.roles.clone();
        let rows =
            on_the_blocking_pool(move || service::frequencies(&coding, &codes, grouping)).await?;
        Ok(rows
            .into_iter()
            .map(|row| CodeFrequency {
                code: models[&row.code_id].clone(),
                role: match by {
                    FrequencyGrouping::IntervieweeRole => row
                        .group
                        .and_then(|r| roles.get(usize::try_from(r).ok()?).cloned()),
                    _ => None,
                },
                row,
                by,
            })
            .collect())
    }

    /// Pairs of codes (descendants included) that occur together; pairs that never do are
    /// left out, and so are a code and its ancestor, which occur together by construction.
    async fn code_cooccurrence(
        &self,
        ctx: &Context<'_>,
        study_id: ID,
        code_ids: Option<Vec<ID>>,
    ) -> async_graphql::Result<Vec<CooccurrenceCell>> {
        let (coding, codes, models) = coding(ctx, &study_id, code_ids).await?;
        let cells = on_the_blocking_pool(move || service::cooccurrence(&coding, &codes)).await?;
        Ok(cells
            .into_iter()
            .map(|(a, b, n)| CooccurrenceCell {
                a: Code(models[&a].clone()),
                b: Code(models[&b].clone()),
                count: n as i32,
            })
            .collect())
    }

    /// One cell per code and case, with the quotations behind it. `codeIds` are read as in
    /// `codeFrequencies`; the cells come code by code, and within a code case by case, in
    /// the order they were made.
    async fn code_case_matrix(
        &self,
        ctx: &Context<'_>,
        study_id: ID,
        code_ids: Option<Vec<ID>>,
    ) -> async_graphql::Result<Vec<CodeCaseCell>> {
        let (coding, codes, models) = coding(ctx, &study_id, code_ids).await?;
        let cells =
            on_the_blocking_pool(move || service::code_case_matrix(&coding, &codes)).await?;
        Ok(cells
            .into_iter()
            .map(|(c, case_id, quotation_ids)| CodeCaseCell {
                code: models[&c].clone(),
                case_id,
                quotation_ids,
            })
            .collect())
    }

    /// How far two coders agree in coding a study, as NVivo's coding comparison counts it:
    /// for each code, the code points of the transcripts compared that both coders, one of
    /// them or neither marked with it (a code alone: a child's quotations are not its
    /// parent's), with percent agreement and Cohen's kappa. `interviewIds` defaults to the
    /// interviews both coders coded, `codeIds` to the codes either used in them; those of
    /// another study are NOT_FOUND, as is a coder the caller may not see. The same coder
    /// twice is BAD_USER_INPUT.
    async fn coding_agreement(
        &self,
        ctx: &Context<'_>,
        study_id: ID,
        coder_a: ID,
        coder_b: ID,
        interview_ids: Option<Vec<ID>>,
        code_ids: Option<Vec<ID>>,
    ) -> async_graphql::Result<CodingAgreement> {
        let r = rc(ctx);
        let coding = Coding::load(&r.db, &r.caller, decode(&study_id, Kind::Study)?).await?;
        let mut coders = [decode(&coder_a, Kind::User)?, decode(&coder_b, Kind::User)?];
        for c in &mut coders {
            *c = crate::service::users::visible_user(&r.db, &r.caller, *c).await?;
        }
        let comparison = Comparison {
            coders: (coders[0], coders[1]),
            interviews: interview_ids
                .map(|ids| decode_all(&ids, Kind::Interview))
                .transpose()?,
            codes: code_ids
                .map(|ids| decode_all(&ids, Kind::Code))
                .transpose()?,
        };
        let models = coding.codes.iter().map(|c| (c.id, c.clone())).collect();
        let compared =
            on_the_blocking_pool(move || coding_agreement::compare(&coding, &comparison)).await?;
        Ok(CodingAgreement {
            coders: (coders[0], coders[1]),
            compared: compared?,
            models,
        })
    }
}
