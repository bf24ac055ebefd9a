//! Analysis of a study's coding: code frequencies, co-occurrence, the code × case matrix.

use std::collections::HashMap;

use async_graphql::{Context, Enum, Object, SimpleObject, ID};
use entities::code;

use super::ambiti::Ambito;
use super::codes::Code;
use super::error::not_found;
use super::ids::{decode, decode_all, Kind};
use super::loaders::one;
use super::quotations::Quotation;
use super::studies::Case;
use super::{on_the_blocking_pool, rc, today};
use crate::service::analysis::{self as service, Coding, Grouping};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum FrequencyGrouping {
    Study,
    Case,
    Ambito,
}

/// How often a code (with its descendants) occurs in a study, a case or an ambito.
pub struct CodeFrequency {
    code: code::Model,
    row: service::Frequency,
    by: FrequencyGrouping,
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
    /// The quotations behind the count.
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
            .map(Quotation)
            .collect())
    }
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
    /// study or per case or ambito: one row per code and group, for every case of the study
    /// (or every ambito of its cases), with quotations or not. `codeIds` not in the study's
    /// codebook are NOT_FOUND; a code asked twice gets its rows once.
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
        };
        let rows =
            on_the_blocking_pool(move || service::frequencies(&coding, &codes, grouping)).await?;
        Ok(rows
            .into_iter()
            .map(|row| CodeFrequency {
                code: models[&row.code_id].clone(),
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
    /// `codeFrequencies`.
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
}
