//! Policy-change discontinuities: evaluators' judgments per case, intervention and dimension.

use async_graphql::{Context, Enum, InputObject, MaybeUndefined, Object, SimpleObject, ID};
use entities::discontinuity;

use super::error::not_found;
use super::ids::{decode, decode_all, encode, Kind};
use super::loaders::{all, one};
use super::quotations::Quotation;
use super::rc;
use super::studies::{Case, Intervention};
use super::users::User;
use super::{from_db, patch, to_db};
use crate::service::discontinuities as service;

/// The four dimensions of an ordinary policy-change process.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum DiscontinuityDimension {
    ProblemDefinition,
    InterventionTheory,
    PolicyInstruments,
    ActorNetwork,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum DiscontinuityKind {
    /// An innovative way to address a problem the services already had.
    NewApproachToEstablishedProblem,
    /// A problem not addressed before.
    NewProblem,
}

/// Ordinal. NONE = judged absent; no judgment at all means not assessed.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, PartialOrd, Ord)]
pub enum DiscontinuityIntensity {
    None,
    Partial,
    Significant,
    Paradigmatic,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum CovidEffect {
    None,
    Hindered,
    Accelerated,
    Mixed,
}

#[derive(Clone)]
pub struct Discontinuity(pub discontinuity::Model);

impl Discontinuity {
    pub fn filtered(
        rows: Vec<discontinuity::Model>,
        dimension: Option<DiscontinuityDimension>,
    ) -> Vec<Self> {
        let wanted = dimension.map(to_db);
        rows.into_iter()
            .filter(|d| wanted.as_ref().is_none_or(|w| *w == d.dimension))
            .map(Self)
            .collect()
    }
}

/// One evaluator's judgment on one case and dimension (or the consensus judgment).
#[Object]
impl Discontinuity {
    pub async fn id(&self) -> ID {
        encode(Kind::Discontinuity, self.0.id)
    }
    async fn case(&self, ctx: &Context<'_>) -> async_graphql::Result<Case> {
        one(&rc(ctx).loaders.case, self.0.case_id)
            .await?
            .map(Case)
            .ok_or_else(|| not_found("case"))
    }
    /// Set when the judgment is about one action line of the case.
    async fn intervention(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Intervention>> {
        let Some(id) = self.0.intervention_id else {
            return Ok(None);
        };
        Ok(one(&rc(ctx).loaders.intervention, id)
            .await?
            .map(Intervention))
    }
    async fn dimension(&self) -> DiscontinuityDimension {
        from_db(&self.0.dimension).unwrap_or(DiscontinuityDimension::ProblemDefinition)
    }
    async fn kind(&self) -> Option<DiscontinuityKind> {
        self.0.kind.as_deref().and_then(from_db)
    }
    async fn intensity(&self) -> DiscontinuityIntensity {
        from_db(&self.0.intensity).unwrap_or(DiscontinuityIntensity::None)
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn covid_effect(&self) -> Option<CovidEffect> {
        self.0.covid_effect.as_deref().and_then(from_db)
    }
    async fn evidence(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Quotation>> {
        let rows = all(&rc(ctx).loaders.evidence_of, self.0.id).await?;
        Ok(rows.into_iter().map(Quotation::from).collect())
    }
    /// Discontinuities in other dimensions of the same case that this one followed from.
    async fn causes(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Discontinuity>> {
        let rows = all(&rc(ctx).loaders.causes_of, self.0.id).await?;
        Ok(rows.into_iter().map(Discontinuity).collect())
    }
    /// Discontinuities that followed from this one.
    async fn effects(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Discontinuity>> {
        let rows = all(&rc(ctx).loaders.effects_of, self.0.id).await?;
        Ok(rows.into_iter().map(Discontinuity).collect())
    }
    async fn evaluator(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        one(&rc(ctx).loaders.user, self.0.evaluator_id)
            .await?
            .map(User)
            .ok_or_else(|| not_found("user"))
    }
    async fn is_consensus(&self) -> bool {
        self.0.is_consensus
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
}

/// Records the caller's judgment of a cell (or the consensus), or changes the one there.
/// On an existing judgment a field left out keeps its value and null (or [] for a list)
/// clears it; a new judgment starts without what is left out.
#[derive(InputObject)]
pub struct TagDiscontinuityInput {
    pub case_id: ID,
    pub intervention_id: Option<ID>,
    pub dimension: DiscontinuityDimension,
    pub intensity: DiscontinuityIntensity,
    pub kind: MaybeUndefined<DiscontinuityKind>,
    pub description: MaybeUndefined<String>,
    pub covid_effect: MaybeUndefined<CovidEffect>,
    pub evidence_quotation_ids: MaybeUndefined<Vec<ID>>,
    pub cause_ids: MaybeUndefined<Vec<ID>>,
    /// Record the study's consensus judgment instead of the caller's own.
    #[graphql(default_with = "Some(false)")]
    pub consensus: Option<bool>,
    /// The version read. Left out, the tag replaces the cell's judgment if there is one;
    /// given, the tag fails with CONFLICT when the judgment has changed since, or was
    /// deleted (a judgment made in its cell after it starts above its versions). A tag that
    /// gives the judgment as it is writes nothing and keeps the version.
    pub expected_version: Option<i32>,
}

/// A list field of a patch: left out keeps, null or [] clears.
fn id_list(ids: MaybeUndefined<Vec<ID>>, kind: Kind) -> async_graphql::Result<Option<Vec<i64>>> {
    patch(ids)
        .map(|ids| decode_all(&ids.unwrap_or_default(), kind))
        .transpose()
}

#[derive(Default)]
pub struct DiscontinuityMutation;

#[Object]
impl DiscontinuityMutation {
    /// Records the caller's judgment of a cell (or the consensus), or changes it. Its
    /// `causeIds` are the same judge's judgments of the case it followed from; one that
    /// already follows from this judgment, directly or through others, is BAD_USER_INPUT.
    async fn tag_discontinuity(
        &self,
        ctx: &Context<'_>,
        input: TagDiscontinuityInput,
    ) -> async_graphql::Result<Discontinuity> {
        let r = rc(ctx);
        let d = service::tag_edit(
            &r.db,
            &r.caller,
            service::TagEdit {
                case_id: decode(&input.case_id, Kind::Case)?,
                intervention_id: input
                    .intervention_id
                    .as_ref()
                    .map(|i| decode(i, Kind::Intervention))
                    .transpose()?,
                dimension: to_db(input.dimension),
                intensity: to_db(input.intensity),
                kind: patch(input.kind).map(|k| k.map(to_db)),
                description: patch(input.description),
                covid_effect: patch(input.covid_effect).map(|c| c.map(to_db)),
                evidence_quotation_ids: id_list(input.evidence_quotation_ids, Kind::Quotation)?,
                cause_ids: id_list(input.cause_ids, Kind::Discontinuity)?,
                consensus: input.consensus.unwrap_or(false),
                expected_version: input.expected_version,
            },
        )
        .await?;
        Ok(Discontinuity(d))
    }

    /// Deletes (withdraws) a judgment with its evidence and cause links: an evaluator her
    /// own, a study owner or an admin any, the consensus included. `version` is the
    /// judgment's (CONFLICT when stale). The judgments that followed from it lose that cause
    /// and each gets a new version. Returns the ID.
    async fn delete_discontinuity(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
    ) -> async_graphql::Result<ID> {
        let r = rc(ctx);
        service::delete_discontinuity(&r.db, &r.caller, decode(&id, Kind::Discontinuity)?, version)
            .await?;
        Ok(id)
    }

    /// Deletes an intervention; CONFLICT while judgments are about it (delete them first).
    /// Study owners and admins. Returns the ID.
    async fn delete_intervention(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let r = rc(ctx);
        service::delete_intervention(&r.db, &r.caller, decode(&id, Kind::Intervention)?).await?;
        Ok(id)
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum MatrixRows {
    Case,
    Intervention,
}

/// How Krippendorff's alpha weighs two intensities that differ: NOMINAL, any difference
/// alike; ORDINAL, by how far apart they stand (NONE < PARTIAL < SIGNIFICANT <
/// PARADIGMATIC).
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum AgreementLevel {
    Nominal,
    Ordinal,
}

#[derive(SimpleObject)]
pub struct DiscontinuityCell {
    pub dimension: DiscontinuityDimension,
    pub consensus: Option<Discontinuity>,
    pub assessments: Vec<Discontinuity>,
}

#[derive(SimpleObject)]
pub struct DiscontinuityMatrixRow {
    pub case: Case,
    /// Set when rows are interventions.
    pub intervention: Option<Intervention>,
    /// One cell per dimension, in the order of DiscontinuityMatrix.dimensions.
    pub cells: Vec<DiscontinuityCell>,
}

#[derive(SimpleObject)]
pub struct DiscontinuityMatrix {
    pub dimensions: Vec<DiscontinuityDimension>,
    pub rows: Vec<DiscontinuityMatrixRow>,
    /// The matrix as a picture (SVG; same rows and evaluator), and as CSV (add
    /// `&separator=semicolon` for Excel in an Italian locale).
    pub svg_url: String,
    pub csv_url: String,
}

#[derive(SimpleObject)]
pub struct Agreement {
    /// Units (case × intervention × dimension; the case's own judgments are one
    /// intervention) judged by at least two evaluators.
    pub units: i32,
    /// Evaluators who judged at least one of those units.
    pub evaluators: i32,
    /// Share of pairs of judgments with the same intensity, 0 to 1 (whatever the `level`). 0
    /// also when units is 0 (nothing compared): the contract makes this field non-null, so
    /// read units first.
    pub percent_agreement: f64,
    /// Weighed as `level` says; null when nothing can be paired or no value varies.
    pub krippendorff_alpha: Option<f64>,
    /// Unweighted (intensities as categories, whatever the `level`); only when exactly two
    /// evaluators judged the units, and null when chance alone agrees on every unit.
    pub cohen_kappa: Option<f64>,
    /// Cohen's kappa with quadratic weights (intensities as ranks, NONE = 0 … PARADIGMATIC
    /// = 3, whatever the `level`): PARTIAL against SIGNIFICANT is a near miss, NONE against
    /// PARADIGMATIC the worst disagreement. Null where `cohenKappa` is.
    pub weighted_kappa: Option<f64>,
}

/// The judgments of one dimension and kind across cases and interventions.
#[derive(SimpleObject)]
pub struct DiscontinuityComparison {
    pub dimension: DiscontinuityDimension,
    pub kind: Option<DiscontinuityKind>,
    /// Judged above NONE, with their cases, interventions and evidence.
    pub discontinuities: Vec<Discontinuity>,
}

/// One step of a case's cascade: `effect` followed from `cause`.
#[derive(SimpleObject)]
pub struct CascadeLink {
    pub cause: Discontinuity,
    pub effect: Discontinuity,
}

fn study_of(id: &ID) -> async_graphql::Result<i64> {
    decode(id, Kind::Study)
}

#[derive(Default)]
pub struct DiscontinuityQuery;

#[Object]
impl DiscontinuityQuery {
    /// Cases (or interventions) × dimensions: the consensus view, with every evaluator's
    /// assessments, or one evaluator's with `evaluatorId`.
    async fn discontinuity_matrix(
        &self,
        ctx: &Context<'_>,
        study_id: ID,
        #[graphql(default_with = "Some(MatrixRows::Case)")] rows: Option<MatrixRows>,
        evaluator_id: Option<ID>,
    ) -> async_graphql::Result<DiscontinuityMatrix> {
        let r = rc(ctx);
        let study_number = study_of(&study_id)?;
        let j = r.judgments(study_number).await?;
        let study = encode(Kind::Study, study_number).0;
        let by = rows.unwrap_or(MatrixRows::Case);
        let evaluator = evaluator_filter(r, &j, evaluator_id.as_ref()).await?;
        let matrix = service::matrix(
            &j,
            match by {
                MatrixRows::Case => service::Rows::Case,
                MatrixRows::Intervention => service::Rows::Intervention,
            },
            evaluator,
        );
        let case = |id: i64| j.cases.iter().find(|c| c.id == id).cloned().map(Case);
        let intervention = |id: i64| {
            j.interventions
                .iter()
                .find(|i| i.id == id)
                .cloned()
                .map(Intervention)
        };
        let rows_out = matrix
            .into_iter()
            .filter_map(|row| {
                Some(DiscontinuityMatrixRow {
                    case: case(row.case_id)?,
                    intervention: row.intervention_id.and_then(intervention),
                    cells: row
                        .cells
                        .into_iter()
                        .map(|c| DiscontinuityCell {
                            dimension: from_db(c.dimension)
                                .unwrap_or(DiscontinuityDimension::ProblemDefinition),
                            consensus: c.consensus.map(Discontinuity),
                            assessments: c.assessments.into_iter().map(Discontinuity).collect(),
                        })
                        .collect(),
                })
            })
            .collect();
        let query = format!(
            "rows={}{}",
            if by == MatrixRows::Case {
                "case"
            } else {
                "intervention"
            },
            // From the decoded ids, not the client's strings: those may carry white space,
            // which decoding forgives and a URL does not.
            evaluator
                .map(|e| format!("&evaluator={}", encode(Kind::User, e).0))
                .unwrap_or_default()
        );
        Ok(DiscontinuityMatrix {
            dimensions: service::DIMENSIONS
                .iter()
                .filter_map(|d| from_db(d))
                .collect(),
            rows: rows_out,
            svg_url: format!("/studies/{study}/discontinuities/matrix.svg?{query}"),
            csv_url: format!("/studies/{study}/discontinuities.csv?{query}"),
        })
    }

    /// Agreement among evaluators on intensity (consensus excluded), over case ×
    /// intervention × dimension units.
    async fn discontinuity_agreement(
        &self,
        ctx: &Context<'_>,
        study_id: ID,
        dimension: Option<DiscontinuityDimension>,
        #[graphql(default_with = "Some(AgreementLevel::Nominal)")] level: Option<AgreementLevel>,
    ) -> async_graphql::Result<Agreement> {
        let r = rc(ctx);
        let j = r.judgments(study_of(&study_id)?).await?;
        let level = match level.unwrap_or(AgreementLevel::Nominal) {
            AgreementLevel::Nominal => crate::service::agreement::Level::Nominal,
            AgreementLevel::Ordinal => crate::service::agreement::Level::Ordinal,
        };
        let dim = dimension.map(to_db);
        let stats = service::agreement(&j, dim.as_deref(), level);
        Ok(Agreement {
            units: stats.units as i32,
            evaluators: stats.evaluators as i32,
            percent_agreement: stats.percent.unwrap_or(0.0),
            krippendorff_alpha: stats.alpha,
            cohen_kappa: stats.kappa,
            weighted_kappa: stats.weighted_kappa,
        })
    }

    /// Per dimension and kind, the cases and interventions with a discontinuity (consensus,
    /// or one evaluator's), each with its evidence: the cross-case comparison.
    async fn discontinuity_comparison(
        &self,
        ctx: &Context<'_>,
        study_id: ID,
        evaluator_id: Option<ID>,
    ) -> async_graphql::Result<Vec<DiscontinuityComparison>> {
        let r = rc(ctx);
        let j = r.judgments(study_of(&study_id)?).await?;
        let evaluator = evaluator_filter(r, &j, evaluator_id.as_ref()).await?;
        Ok(service::comparison(&j, evaluator)
            .into_iter()
            .map(|(dimension, kind, group)| DiscontinuityComparison {
                dimension: from_db(dimension).unwrap_or(DiscontinuityDimension::ProblemDefinition),
                kind: kind.as_deref().and_then(from_db),
                discontinuities: group.into_iter().map(Discontinuity).collect(),
            })
            .collect())
    }
}

/// The user an `evaluatorId` argument names: NOT_FOUND for one that does not exist or that
/// the caller may not see. One who judged in the study is seen with the judgments (no
/// statement: `Case.cascade(evaluatorId:)` asks once per case).
async fn evaluator_filter(
    r: &super::RequestCtx,
    j: &service::Judgments,
    evaluator_id: Option<&ID>,
) -> async_graphql::Result<Option<i64>> {
    let Some(id) = evaluator_id else {
        return Ok(None);
    };
    let id = decode(id, Kind::User)?;
    if j.evaluators.contains_key(&id) {
        return Ok(Some(id));
    }
    Ok(Some(
        crate::service::users::visible_user(&r.db, &r.caller, id).await?,
    ))
}

/// The cascade of a case, for `Case.cascade`.
pub async fn case_cascade(
    ctx: &Context<'_>,
    case: &entities::study_case::Model,
    evaluator_id: Option<ID>,
) -> async_graphql::Result<Vec<CascadeLink>> {
    let r = rc(ctx);
    let j = r.judgments(case.study_id).await?;
    let evaluator = evaluator_filter(r, &j, evaluator_id.as_ref()).await?;
    Ok(service::cascade(&j, case.id, evaluator)
        .into_iter()
        .map(|(c, e)| CascadeLink {
            cause: Discontinuity(c),
            effect: Discontinuity(e),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graphql::enum_names;

    /// The service validates and orders by its lists; the enums only translate them.
    #[test]
    fn the_enums_spell_the_services_lists() {
        assert_eq!(enum_names::<DiscontinuityDimension>(), service::DIMENSIONS);
        assert_eq!(enum_names::<DiscontinuityIntensity>(), service::INTENSITIES);
        assert_eq!(enum_names::<DiscontinuityKind>(), service::KINDS);
        assert_eq!(enum_names::<CovidEffect>(), service::COVID_EFFECTS);
    }
}
