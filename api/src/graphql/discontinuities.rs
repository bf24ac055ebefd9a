//! Policy-change discontinuities: evaluators' judgments per case, intervention and dimension.

use async_graphql::resolver_utils::EnumType;
use async_graphql::{Context, Enum, InputObject, Object, ID};
use entities::discontinuity;

use super::error::not_found;
use super::ids::{decode, decode_all, encode, Kind};
use super::loaders::{all, one};
use super::quotations::Quotation;
use super::rc;
use super::studies::{Case, Intervention};
use super::users::User;
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

/// The database keeps enum values as their GraphQL names (SCREAMING_SNAKE_CASE).
fn to_db<E: EnumType + PartialEq>(e: E) -> String {
    E::items()
        .iter()
        .find(|i| i.value == e)
        .map(|i| i.name.to_owned())
        .unwrap_or_default()
}

fn from_db<E: EnumType>(s: &str) -> Option<E> {
    E::items().iter().find(|i| i.name == s).map(|i| i.value)
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
        Ok(rows.into_iter().map(Quotation).collect())
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

#[derive(InputObject)]
pub struct TagDiscontinuityInput {
    pub case_id: ID,
    pub intervention_id: Option<ID>,
    pub dimension: DiscontinuityDimension,
    pub intensity: DiscontinuityIntensity,
    pub kind: Option<DiscontinuityKind>,
    pub description: Option<String>,
    pub covid_effect: Option<CovidEffect>,
    pub evidence_quotation_ids: Option<Vec<ID>>,
    pub cause_ids: Option<Vec<ID>>,
    /// Record the study's consensus judgment instead of the caller's own.
    #[graphql(default_with = "Some(false)")]
    pub consensus: Option<bool>,
    /// The version read, required to change an existing judgment (CONFLICT when stale).
    pub expected_version: Option<i32>,
}

#[derive(Default)]
pub struct DiscontinuityMutation;

#[Object]
impl DiscontinuityMutation {
    async fn tag_discontinuity(
        &self,
        ctx: &Context<'_>,
        input: TagDiscontinuityInput,
    ) -> async_graphql::Result<Discontinuity> {
        let r = rc(ctx);
        let d = service::tag(
            &r.db,
            &r.caller,
            service::Tag {
                case_id: decode(&input.case_id, Kind::Case)?,
                intervention_id: input
                    .intervention_id
                    .as_ref()
                    .map(|i| decode(i, Kind::Intervention))
                    .transpose()?,
                dimension: to_db(input.dimension),
                intensity: to_db(input.intensity),
                kind: input.kind.map(to_db),
                description: input.description,
                covid_effect: input.covid_effect.map(to_db),
                evidence_quotation_ids: decode_all(
                    &input.evidence_quotation_ids.unwrap_or_default(),
                    Kind::Quotation,
                )?,
                cause_ids: decode_all(&input.cause_ids.unwrap_or_default(), Kind::Discontinuity)?,
                consensus: input.consensus.unwrap_or(false),
                expected_version: input.expected_version,
            },
        )
        .await?;
        Ok(Discontinuity(d))
    }
}
