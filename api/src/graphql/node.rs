//! `node(id:)`: every entity behind one global ID. Study data resolves only for callers who
//! may read the study (null otherwise, never FORBIDDEN), users only for callers whose readable
//! data shows them (`service::users::is_visible`); territory is public.

use async_graphql::{Context, Interface, Object, ID};
use sea_orm::EntityTrait;

use super::ambiti::{Ambito, Comune, EnteGestore};
use super::codes::Code;
use super::discontinuities::Discontinuity;
use super::ids::{decode_any, Kind};
use super::interviews::Interview;
use super::loaders::one;
use super::memos::Memo;
use super::projects::Project;
use super::quotations::Quotation;
use super::studies::{Case, Intervention, Study};
use super::users::User;
use super::{rc, today, RequestCtx};

#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    Ambito(Ambito),
    EnteGestore(EnteGestore),
    Comune(Comune),
    Project(Project),
    Study(Study),
    Case(Case),
    Intervention(Intervention),
    Interview(Interview),
    Code(Code),
    Quotation(Quotation),
    Discontinuity(Discontinuity),
    Memo(Memo),
    User(User),
}

/// Whether the caller may read the study of this case (false for no such case).
async fn may_read_case(r: &RequestCtx, case_id: i64) -> async_graphql::Result<bool> {
    match one(&r.loaders.case, case_id).await? {
        Some(c) => r.can_read_study(c.study_id).await,
        None => Ok(false),
    }
}

/// Whether the caller may read the study of this interview (false for no such interview).
async fn may_read_interview(r: &RequestCtx, interview_id: i64) -> async_graphql::Result<bool> {
    match one(&r.loaders.interview, interview_id).await? {
        Some(i) => may_read_case(r, i.case_id).await,
        None => Ok(false),
    }
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        let r = rc(ctx);
        let l = &r.loaders;
        let Some((kind, n)) = decode_any(&id) else {
            return Ok(None);
        };
        Ok(match kind {
            Kind::Ambito => one(&l.ambito, n)
                .await?
                .map(|m| Node::Ambito(Ambito::new(m, today()))),
            Kind::EnteGestore => one(&l.ente, n)
                .await?
                .map(|m| Node::EnteGestore(EnteGestore::new(m, today()))),
            Kind::Comune => entities::comune::Entity::find_by_id(n)
                .one(&r.db)
                .await
                .map_err(crate::ServiceError::from)?
                .map(|model| Node::Comune(Comune { model, at: today() })),
            Kind::Project => one(&l.project, n).await?.map(|m| Node::Project(Project(m))),
            Kind::User => match one(&l.user, n).await? {
                Some(u) if crate::service::users::is_visible(&r.db, &r.caller, u.id).await? => {
                    Some(Node::User(User(u)))
                }
                _ => None,
            },
            Kind::Study => match one(&l.study, n).await? {
                Some(s) if r.can_read_study(s.id).await? => Some(Node::Study(Study(s))),
                _ => None,
            },
            Kind::Case => match one(&l.case, n).await? {
                Some(c) if r.can_read_study(c.study_id).await? => Some(Node::Case(Case(c))),
                _ => None,
            },
            Kind::Intervention => match one(&l.intervention, n).await? {
                Some(i) if may_read_case(r, i.case_id).await? => {
                    Some(Node::Intervention(Intervention(i)))
                }
                _ => None,
            },
            Kind::Interview => match one(&l.interview, n).await? {
                Some(i) if may_read_case(r, i.case_id).await? => {
                    Some(Node::Interview(Interview::Read(i)))
                }
                _ => None,
            },
            Kind::Code => match one(&l.code, n).await? {
                Some(c) if r.can_read_study(c.study_id).await? => Some(Node::Code(Code(c))),
                _ => None,
            },
            Kind::Quotation => match one(&l.quotation, n).await? {
                Some(q) if may_read_interview(r, q.interview_id).await? => {
                    Some(Node::Quotation(q.into()))
                }
                _ => None,
            },
            Kind::Discontinuity => match one(&l.discontinuity, n).await? {
                Some(d) if may_read_case(r, d.case_id).await? => {
                    Some(Node::Discontinuity(Discontinuity(d)))
                }
                _ => None,
            },
            Kind::Memo => match entities::memo::Entity::find_by_id(n)
                .one(&r.db)
                .await
                .map_err(crate::ServiceError::from)?
            {
                Some(m) if r.can_read_study(m.study_id).await? => Some(Node::Memo(Memo(m))),
                _ => None,
            },
        })
    }
}
