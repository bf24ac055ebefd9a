//! Projects: title, lead ente, partners, funding (exact), ambiti and the cases about them.

use async_graphql::{Context, Object, ID};
use entities::project;
use sea_orm::EntityTrait;

use super::ambiti::{Ambito, EnteGestore};
use super::ids::{encode, Kind};
use super::loaders::{all, one};
use super::scalars::{Date, Decimal};
use super::studies::Case;
use super::{connection, page_request, rc, today, Conn};
use crate::service::page;

#[derive(Clone)]
pub struct Project(pub project::Model);

impl Project {
    /// The date its ente and ambiti are seen at: the day it started (ambito 24 was still
    /// whole for a project of 2019), today for a project without one.
    fn seen_on(&self) -> chrono::NaiveDate {
        self.0.started_on.unwrap_or_else(today)
    }
}

/// A project of We.Ca.Re or another programme. Its lead, partners and ambiti are seen as
/// they were on the day it started (`startedOn`, else today): their `enti` and `ambiti`
/// default to that day.
#[Object]
impl Project {
    pub async fn id(&self) -> ID {
        encode(Kind::Project, self.0.id)
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn programme(&self) -> Option<&str> {
        self.0.programme.as_deref()
    }
    async fn lead(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<EnteGestore>> {
        let Some(id) = self.0.lead_ente_id else {
            return Ok(None);
        };
        Ok(one(&rc(ctx).loaders.ente, id)
            .await?
            .map(|m| EnteGestore::new(m, self.seen_on())))
    }
    async fn partners(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<EnteGestore>> {
        let rows = all(&rc(ctx).loaders.partners_of_project, self.0.id).await?;
        Ok(rows
            .into_iter()
            .map(|m| EnteGestore::new(m, self.seen_on()))
            .collect())
    }
    /// Funding in euro, exact.
    async fn funding_eur(&self) -> Option<Decimal> {
        self.0.funding_cents.map(Decimal)
    }
    async fn population(&self) -> Option<i32> {
        self.0.population
    }
    async fn started_on(&self) -> Option<Date> {
        self.0.started_on.map(Date)
    }
    async fn ended_on(&self) -> Option<Date> {
        self.0.ended_on.map(Date)
    }
    async fn ambiti(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Ambito>> {
        let rows = all(&rc(ctx).loaders.ambiti_of_project, self.0.id).await?;
        Ok(rows
            .into_iter()
            .map(|m| Ambito::new(m, self.seen_on()))
            .collect())
    }
    /// Cases about this project, in studies the caller may read.
    async fn cases(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Case>> {
        let r = rc(ctx);
        let mut out = Vec::new();
        for c in all(&r.loaders.cases_of_project, self.0.id).await? {
            if r.can_read_study(c.study_id).await? {
                out.push(Case(c));
            }
        }
        Ok(out)
    }
}

#[derive(Default)]
pub struct ProjectQuery;

#[Object]
impl ProjectQuery {
    async fn projects(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Project>> {
        let page = page::by_id(
            &rc(ctx).db,
            project::Entity::find(),
            project::Column::Id,
            page_request(first, after)?,
        )
        .await?;
        Ok(connection(page, |m| m.id, Project))
    }
}
