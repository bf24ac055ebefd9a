//! DataLoaders, built per request (never shared across callers), so that nested reads cost
//! one query per level and relation, whatever the number of rows.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use chrono::NaiveDate;
use entities::*;
use sea_orm::sea_query::{Condition, Query};
use sea_orm::{ColumnTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder, QuerySelect, Value};

use super::error::LoadError;
use crate::db::RequestDb;
use crate::service::codes::Codebook;
use crate::service::memos::Target;
use crate::service::territory::valid_on;

fn as_i64(v: Value) -> Option<i64> {
    match v {
        Value::BigInt(Some(n)) => Some(n),
        Value::Int(Some(n)) => Some(i64::from(n)),
        _ => None,
    }
}

/// Rows of `E` grouped by the value of one column (a primary or a foreign key).
pub struct ByColumn<E: EntityTrait> {
    db: RequestDb,
    column: E::Column,
    order: Vec<E::Column>,
}

impl<E> Loader<i64> for ByColumn<E>
where
    E: EntityTrait + Sync,
    E::Model: Sync,
    E::Column: Send + Sync,
{
    type Value = Vec<E::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let mut q = E::find().filter(self.column.is_in(keys.iter().copied()));
        for c in &self.order {
            q = q.order_by_asc(*c);
        }
        let mut out: HashMap<i64, Vec<E::Model>> = HashMap::new();
        for row in q.all(&self.db).await? {
            if let Some(k) = as_i64(row.get(self.column)) {
                out.entry(k).or_default().push(row);
            }
        }
        Ok(out)
    }
}

/// Interviews without their transcripts, grouped by their id or their case.
pub struct InterviewHeads {
    db: RequestDb,
    column: interview::Column,
}

impl Loader<i64> for InterviewHeads {
    type Value = Vec<interview::Head>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = interview::Entity::find()
            .filter(self.column.is_in(keys.iter().copied()))
            .order_by_asc(interview::Column::Id)
            .into_partial_model::<interview::Head>()
            .all(&self.db)
            .await?;
        let mut out: HashMap<i64, Vec<interview::Head>> = HashMap::new();
        for row in rows {
            let key = match self.column {
                interview::Column::CaseId => row.case_id,
                _ => row.id,
            };
            out.entry(key).or_default().push(row);
        }
        Ok(out)
    }
}

/// Whole transcripts by interview id, read only where a text is asked for, each with the
/// interview's version it belongs to.
pub struct Transcripts {
    db: RequestDb,
}

impl Loader<i64> for Transcripts {
    type Value = (i32, Arc<str>);
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, (i32, Arc<str>)>, Self::Error> {
        let rows: Vec<(i64, i32, String)> = interview::Entity::find()
            .select_only()
            .columns([
                interview::Column::Id,
                interview::Column::Version,
                interview::Column::Transcript,
            ])
            .filter(interview::Column::Id.is_in(keys.iter().copied()))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, version, t)| (id, (version, t.into())))
            .collect())
    }
}

/// A quotation's span as it is now, with its words: `(start, end, transcript[start, end))`.
pub type QuotedSpan = (i32, i32, String);

/// The words of quotations by quotation id, cut from their transcripts by the database in
/// the statement that reads their spans. One statement reads one state of both: a span and
/// the text it is cut from can never belong to two sides of a transcript edit (which moves
/// the spans in the same transaction), and no whole transcript travels for a few words.
/// SQLite's and PostgreSQL's `substr` both count characters, the code points of the spans.
pub struct QuotationTexts {
    db: RequestDb,
}

impl Loader<i64> for QuotationTexts {
    type Value = QuotedSpan;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, QuotedSpan>, Self::Error> {
        use sea_orm::sea_query::{Expr, ExprTrait as _, Func};
        use sea_orm::JoinType;
        let (start, end) = (
            Expr::col((quotation::Entity, quotation::Column::StartPos)),
            Expr::col((quotation::Entity, quotation::Column::EndPos)),
        );
        let words = Func::cust("substr")
            .arg(Expr::col((
                interview::Entity,
                interview::Column::Transcript,
            )))
            .arg(start.clone().add(1))
            // PostgreSQL refuses a negative length, and would fail the whole batch for one
            // broken row: it is an empty text there, which the resolver refuses alone.
            .arg(Expr::case(end.clone().gte(start.clone()), end.sub(start)).finally(0));
        let rows: Vec<(i64, i32, i32, String)> = quotation::Entity::find()
            .select_only()
            .columns([
                quotation::Column::Id,
                quotation::Column::StartPos,
                quotation::Column::EndPos,
            ])
            .expr(words)
            .join(
                JoinType::InnerJoin,
                quotation::Entity::belongs_to(interview::Entity)
                    .from(quotation::Column::InterviewId)
                    .to(interview::Column::Id)
                    .into(),
            )
            .filter(quotation::Column::Id.is_in(keys.iter().copied()))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, start, end, text)| (id, (start, end, text)))
            .collect())
    }
}

/// Targets `T` reached through a join table `J`: `J.left = key`, `T.id = J.right`.
pub struct Linked<J: EntityTrait, T: EntityTrait> {
    db: RequestDb,
    left: J::Column,
    right: J::Column,
    target_id: T::Column,
}

impl<J, T> Loader<i64> for Linked<J, T>
where
    J: EntityTrait + Sync,
    J::Model: Sync,
    J::Column: Send + Sync,
    T: EntityTrait + Sync,
    T::Model: Sync,
    T::Column: Send + Sync,
{
    type Value = Vec<T::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let links = J::find()
            .filter(self.left.is_in(keys.iter().copied()))
            .order_by_asc(self.right)
            .all(&self.db)
            .await?;
        let pairs: Vec<(i64, i64)> = links
            .into_iter()
            .filter_map(|l| Some((as_i64(l.get(self.left))?, as_i64(l.get(self.right))?)))
            .collect();
        let mut target_ids: Vec<i64> = pairs.iter().map(|p| p.1).collect();
        target_ids.sort_unstable();
        target_ids.dedup();
        let targets: HashMap<i64, T::Model> = T::find()
            .filter(self.target_id.is_in(target_ids))
            .all(&self.db)
            .await?
            .into_iter()
            .filter_map(|t| Some((as_i64(t.get(self.target_id))?, t)))
            .collect();
        let mut out: HashMap<i64, Vec<T::Model>> = HashMap::new();
        for (l, r) in pairs {
            if let Some(t) = targets.get(&r) {
                out.entry(l).or_default().push(t.clone());
            }
        }
        Ok(out)
    }
}

/// Which side of the ambito–ente membership a key is on.
#[derive(Clone, Copy)]
pub enum MembershipSide {
    /// Key: an ambito; value: its enti.
    Ambito,
    /// Key: an ente; value: its ambiti.
    Ente,
}

/// (key side, other side) of a membership row.
type SplitMembership = fn(&ambito_membership::Model) -> (i64, i64);

/// The other side's ids of memberships valid on a date.
pub struct MembersAt {
    db: RequestDb,
    side: MembershipSide,
}

impl Loader<(i64, NaiveDate)> for MembersAt {
    type Value = Vec<i64>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[(i64, NaiveDate)],
    ) -> Result<HashMap<(i64, NaiveDate), Self::Value>, Self::Error> {
        use ambito_membership::Column as M;
        let (key_col, split): (M, SplitMembership) = match self.side {
            MembershipSide::Ambito => (M::AmbitoId, |m| (m.ambito_id, m.ente_id)),
            MembershipSide::Ente => (M::EnteId, |m| (m.ente_id, m.ambito_id)),
        };
        let rows = ambito_membership::Entity::find()
            .filter(key_col.is_in(keys.iter().map(|k| k.0)))
            .order_by_asc(M::Id)
            .all(&self.db)
            .await?;
        let mut out: HashMap<(i64, NaiveDate), Vec<i64>> = HashMap::new();
        for &(key, at) in keys {
            let ids = rows
                .iter()
                .filter(|m| split(m).0 == key && valid_on(m.valid_from, m.valid_until, at))
                .map(|m| split(m).1)
                .collect();
            out.insert((key, at), ids);
        }
        Ok(out)
    }
}

/// Each study's codebook as a tree, shared by every code of the study that the request
/// reads (its children, its path), so that a codebook's listing costs one pass over it.
pub struct Codebooks {
    db: RequestDb,
}

impl Loader<i64> for Codebooks {
    type Value = Arc<Codebook>;
    type Error = LoadError;

    async fn load(&self, studies: &[i64]) -> Result<HashMap<i64, Arc<Codebook>>, LoadError> {
        let mut codes: HashMap<i64, Vec<code::Model>> =
            studies.iter().map(|&s| (s, Vec::new())).collect();
        for c in code::Entity::find()
            .filter(code::Column::StudyId.is_in(studies.iter().copied()))
            .order_by_asc(code::Column::Id)
            .all(&self.db)
            .await?
        {
            codes.entry(c.study_id).or_default().push(c);
        }
        Ok(codes
            .into_iter()
            .map(|(s, codes)| (s, Arc::new(Codebook::new(codes))))
            .collect())
    }
}

/// The codebook of `study` (empty when it has no codes).
pub async fn codebook(loader: &Dl<Codebooks>, study: i64) -> Result<Arc<Codebook>, LoadError> {
    Ok(loader.load_one(study).await?.unwrap_or_default())
}

/// Distinct quotations per code, descendants included or not.
pub struct QuotationCounts {
    db: RequestDb,
}

impl Loader<(i64, bool)> for QuotationCounts {
    type Value = i64;
    type Error = LoadError;

    async fn load(&self, keys: &[(i64, bool)]) -> Result<HashMap<(i64, bool), i64>, LoadError> {
        let requested: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let mut studies: Vec<i64> = code::Entity::find()
            .filter(code::Column::Id.is_in(requested))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|c| c.study_id)
            .collect();
        studies.sort_unstable();
        studies.dedup();
        let codes = code::Entity::find()
            .filter(code::Column::StudyId.is_in(studies.clone()))
            .all(&self.db)
            .await?;
        // By study rather than by code id: a codebook may hold more codes than a statement
        // takes parameters.
        let codes_of_studies = Query::select()
            .column(code::Column::Id)
            .from(code::Entity)
            .and_where(code::Column::StudyId.is_in(studies))
            .to_owned();
        let links = quotation_code::Entity::find()
            .filter(quotation_code::Column::CodeId.in_subquery(codes_of_studies))
            .all(&self.db)
            .await?;
        let book = Codebook::new(codes);
        let mut quotations_of: HashMap<i64, Vec<i64>> = HashMap::new();
        for l in links {
            quotations_of
                .entry(l.code_id)
                .or_default()
                .push(l.quotation_id);
        }
        let mut out = HashMap::new();
        for &(code_id, deep) in keys {
            let codes = if deep {
                book.subtree(&[code_id])
            } else {
                vec![code_id]
            };
            let quotations: HashSet<i64> = codes
                .iter()
                .filter_map(|c| quotations_of.get(c))
                .flatten()
                .copied()
                .collect();
            out.insert((code_id, deep), quotations.len() as i64);
        }
        Ok(out)
    }
}

/// Memos by (target kind, target id).
pub struct MemosOf {
    db: RequestDb,
}

impl Loader<Target> for MemosOf {
    type Value = Vec<memo::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[Target]) -> Result<HashMap<Target, Self::Value>, LoadError> {
        // Kind and id together, as the index on memos has them: by id alone a batch read the
        // memos of every kind (and every study) that shared the ids.
        let mut by_kind: BTreeMap<&'static str, Vec<i64>> = BTreeMap::new();
        for t in keys {
            by_kind.entry(t.kind()).or_default().push(t.id());
        }
        let targets = by_kind
            .into_iter()
            .fold(Condition::any(), |c, (kind, ids)| {
                c.add(
                    Condition::all()
                        .add(memo::Column::TargetKind.eq(kind))
                        .add(memo::Column::TargetId.is_in(ids)),
                )
            });
        let mut memos: HashMap<(&str, i64), Vec<memo::Model>> = HashMap::new();
        let rows = memo::Entity::find()
            .filter(targets)
            .order_by_asc(memo::Column::Id)
            .all(&self.db)
            .await?;
        for m in &rows {
            memos
                .entry((m.target_kind.as_str(), m.target_id))
                .or_default()
                .push(m.clone());
        }
        Ok(keys
            .iter()
            .map(|&t| {
                let mine = memos.get(&(t.kind(), t.id())).cloned().unwrap_or_default();
                (t, mine)
            })
            .collect())
    }
}

type Dl<T> = DataLoader<T, HashMapCache>;

/// A request's loader: its batches go out once per pass of the executor (see `batching`),
/// so it need not wait for more keys.
fn dl<K, T>(loader: T) -> Dl<T>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    T: Loader<K>,
{
    DataLoader::with_cache(
        loader,
        super::batching::spawn_fetch,
        HashMapCache::default(),
    )
    .delay(Duration::ZERO)
}

/// How long a subscription's loaders collect keys: its events are not resolved in passes.
const SUBSCRIPTION_DELAY: Duration = Duration::from_millis(1);

fn by<E>(db: &RequestDb, column: E::Column, order: Vec<E::Column>) -> Dl<ByColumn<E>>
where
    E: EntityTrait + Sync,
    E::Model: Sync,
    E::Column: Send + Sync,
{
    dl(ByColumn::<E> {
        db: db.clone(),
        column,
        order,
    })
}

fn linked<J, T>(
    db: &RequestDb,
    left: J::Column,
    right: J::Column,
    target_id: T::Column,
) -> Dl<Linked<J, T>>
where
    J: EntityTrait + Sync,
    J::Model: Sync,
    J::Column: Send + Sync,
    T: EntityTrait + Sync,
    T::Model: Sync,
    T::Column: Send + Sync,
{
    dl(Linked::<J, T> {
        db: db.clone(),
        left,
        right,
        target_id,
    })
}

/// Every loader a request may use. Building it is cheap: nothing runs until a load.
pub struct Loaders {
    pub ambito: Dl<ByColumn<ambito::Entity>>,
    pub ente: Dl<ByColumn<ente_gestore::Entity>>,
    pub project: Dl<ByColumn<project::Entity>>,
    pub study: Dl<ByColumn<study::Entity>>,
    pub case: Dl<ByColumn<study_case::Entity>>,
    pub intervention: Dl<ByColumn<intervention::Entity>>,
    pub interview: Dl<InterviewHeads>,
    pub transcript: Dl<Transcripts>,
    pub quotation_text: Dl<QuotationTexts>,
    pub code: Dl<ByColumn<code::Entity>>,
    pub quotation: Dl<ByColumn<quotation::Entity>>,
    pub discontinuity: Dl<ByColumn<discontinuity::Entity>>,
    pub user: Dl<ByColumn<app_user::Entity>>,

    pub enti_of_ambito_at: Dl<MembersAt>,
    pub ambiti_of_ente_at: Dl<MembersAt>,
    /// Successions into an ambito, and out of it.
    pub predecessors: Dl<ByColumn<ambito_succession::Entity>>,
    pub successors: Dl<ByColumn<ambito_succession::Entity>>,
    /// Names an ambito went by before (or apart from) its own, by period.
    pub names_of_ambito: Dl<ByColumn<ambito_name::Entity>>,
    pub cases_of_ambito: Dl<Linked<case_ambito::Entity, study_case::Entity>>,
    pub comuni_of_ente: Dl<ByColumn<comune::Entity>>,
    pub projects_led_by: Dl<ByColumn<project::Entity>>,
    pub projects_joined_by: Dl<Linked<project_partner::Entity, project::Entity>>,
    pub partners_of_project: Dl<Linked<project_partner::Entity, ente_gestore::Entity>>,
    pub ambiti_of_project: Dl<Linked<project_ambito::Entity, ambito::Entity>>,
    pub cases_of_project: Dl<Linked<case_project::Entity, study_case::Entity>>,

    pub cases_of_study: Dl<ByColumn<study_case::Entity>>,
    /// A study's members, in the order their accounts were made.
    pub members_of_study: Dl<ByColumn<study_member::Entity>>,
    pub codebook: Dl<Codebooks>,
    pub ambiti_of_case: Dl<Linked<case_ambito::Entity, ambito::Entity>>,
    pub projects_of_case: Dl<Linked<case_project::Entity, project::Entity>>,
    pub interviews_of_case: Dl<InterviewHeads>,
    pub interventions_of_case: Dl<ByColumn<intervention::Entity>>,
    pub discontinuities_of_case: Dl<ByColumn<discontinuity::Entity>>,
    pub discontinuities_of_intervention: Dl<ByColumn<discontinuity::Entity>>,
    pub quotations_of_interview: Dl<ByColumn<quotation::Entity>>,
    pub codes_of_quotation: Dl<Linked<quotation_code::Entity, code::Entity>>,
    pub quotation_counts: Dl<QuotationCounts>,
    pub evidence_of: Dl<Linked<discontinuity_evidence::Entity, quotation::Entity>>,
    pub memos_of: Dl<MemosOf>,
    pub causes_of: Dl<Linked<discontinuity_cause::Entity, discontinuity::Entity>>,
    pub effects_of: Dl<Linked<discontinuity_cause::Entity, discontinuity::Entity>>,
}

impl Loaders {
    /// Loaders without caches, for subscriptions: each event must read current data.
    pub fn uncached(db: &RequestDb) -> Self {
        Self::without_cache(db, SUBSCRIPTION_DELAY)
    }

    /// Loaders without caches whose batches still go out once per pass, for mutations: their
    /// fields run one after another, and each must read what the previous one wrote.
    pub fn uncached_in_passes(db: &RequestDb) -> Self {
        Self::without_cache(db, Duration::ZERO)
    }

    fn without_cache(db: &RequestDb, delay: Duration) -> Self {
        let l = Self::new(db);
        macro_rules! off {
            ($($f:ident),*) => {
                Self { $( $f: { l.$f.enable_all_cache(false); l.$f.delay(delay) } ),* }
            };
        }
        off!(
            ambito,
            ente,
            project,
            study,
            case,
            intervention,
            interview,
            transcript,
            quotation_text,
            code,
            quotation,
            discontinuity,
            user,
            enti_of_ambito_at,
            ambiti_of_ente_at,
            predecessors,
            successors,
            names_of_ambito,
            cases_of_ambito,
            comuni_of_ente,
            projects_led_by,
            projects_joined_by,
            partners_of_project,
            ambiti_of_project,
            cases_of_project,
            cases_of_study,
            members_of_study,
            codebook,
            ambiti_of_case,
            projects_of_case,
            interviews_of_case,
            interventions_of_case,
            discontinuities_of_case,
            discontinuities_of_intervention,
            quotations_of_interview,
            codes_of_quotation,
            quotation_counts,
            evidence_of,
            memos_of,
            causes_of,
            effects_of
        )
    }

    pub fn new(db: &RequestDb) -> Self {
        use ambito_succession::Column as S;
        use discontinuity_cause::Column as DC;
        Self {
            ambito: by(db, ambito::Column::Id, vec![]),
            ente: by(db, ente_gestore::Column::Id, vec![]),
            project: by(db, project::Column::Id, vec![]),
            study: by(db, study::Column::Id, vec![]),
            case: by(db, study_case::Column::Id, vec![]),
            intervention: by(db, intervention::Column::Id, vec![]),
            interview: dl(InterviewHeads {
                db: db.clone(),
                column: interview::Column::Id,
            }),
            transcript: dl(Transcripts { db: db.clone() }),
            quotation_text: dl(QuotationTexts { db: db.clone() }),
            code: by(db, code::Column::Id, vec![]),
            quotation: by(db, quotation::Column::Id, vec![]),
            discontinuity: by(db, discontinuity::Column::Id, vec![]),
            user: by(db, app_user::Column::Id, vec![]),

            enti_of_ambito_at: dl(MembersAt {
                db: db.clone(),
                side: MembershipSide::Ambito,
            }),
            ambiti_of_ente_at: dl(MembersAt {
                db: db.clone(),
                side: MembershipSide::Ente,
            }),
            predecessors: by(db, S::SuccessorId, vec![S::PredecessorId]),
            successors: by(db, S::PredecessorId, vec![S::SuccessorId]),
            names_of_ambito: by(
                db,
                ambito_name::Column::AmbitoId,
                vec![ambito_name::Column::ValidFrom],
            ),
            cases_of_ambito: linked(
                db,
                case_ambito::Column::AmbitoId,
                case_ambito::Column::CaseId,
                study_case::Column::Id,
            ),
            comuni_of_ente: by(db, comune::Column::EnteId, vec![comune::Column::Name]),
            projects_led_by: by(db, project::Column::LeadEnteId, vec![project::Column::Id]),
            projects_joined_by: linked(
                db,
                project_partner::Column::EnteId,
                project_partner::Column::ProjectId,
                project::Column::Id,
            ),
            partners_of_project: linked(
                db,
                project_partner::Column::ProjectId,
                project_partner::Column::EnteId,
                ente_gestore::Column::Id,
            ),
            ambiti_of_project: linked(
                db,
                project_ambito::Column::ProjectId,
                project_ambito::Column::AmbitoId,
                ambito::Column::Id,
            ),
            cases_of_project: linked(
                db,
                case_project::Column::ProjectId,
                case_project::Column::CaseId,
                study_case::Column::Id,
            ),
            cases_of_study: by(
                db,
                study_case::Column::StudyId,
                vec![study_case::Column::Id],
            ),
            members_of_study: by(
                db,
                study_member::Column::StudyId,
                vec![study_member::Column::UserId],
            ),
            codebook: dl(Codebooks { db: db.clone() }),
            ambiti_of_case: linked(
                db,
                case_ambito::Column::CaseId,
                case_ambito::Column::AmbitoId,
                ambito::Column::Id,
            ),
            projects_of_case: linked(
                db,
                case_project::Column::CaseId,
                case_project::Column::ProjectId,
                project::Column::Id,
            ),
            interviews_of_case: dl(InterviewHeads {
                db: db.clone(),
                column: interview::Column::CaseId,
            }),
            interventions_of_case: by(
                db,
                intervention::Column::CaseId,
                vec![intervention::Column::Id],
            ),
            discontinuities_of_case: by(
                db,
                discontinuity::Column::CaseId,
                vec![discontinuity::Column::Id],
            ),
            discontinuities_of_intervention: by(
                db,
                discontinuity::Column::InterventionId,
                vec![discontinuity::Column::Id],
            ),
            quotations_of_interview: by(
                db,
                quotation::Column::InterviewId,
                vec![
                    quotation::Column::StartPos,
                    quotation::Column::EndPos,
                    quotation::Column::Id,
                ],
            ),
            codes_of_quotation: linked(
                db,
                quotation_code::Column::QuotationId,
                quotation_code::Column::CodeId,
                code::Column::Id,
            ),
            quotation_counts: dl(QuotationCounts { db: db.clone() }),
            evidence_of: linked(
                db,
                discontinuity_evidence::Column::DiscontinuityId,
                discontinuity_evidence::Column::QuotationId,
                quotation::Column::Id,
            ),
            memos_of: dl(MemosOf { db: db.clone() }),
            causes_of: linked(db, DC::EffectId, DC::CauseId, discontinuity::Column::Id),
            effects_of: linked(db, DC::CauseId, DC::EffectId, discontinuity::Column::Id),
        }
    }
}

/// One row by primary key through a loader on the id.
pub async fn one<T, V>(loader: &Dl<T>, id: i64) -> Result<Option<V>, LoadError>
where
    T: Loader<i64, Value = Vec<V>, Error = LoadError>,
    V: Send + Sync + Clone + 'static,
{
    Ok(loader
        .load_one(id)
        .await?
        .and_then(|rows| rows.into_iter().next()))
}

/// All rows under one key (empty when none).
pub async fn all<K, T, V>(loader: &Dl<T>, key: K) -> Result<Vec<V>, LoadError>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    T: Loader<K, Value = Vec<V>, Error = LoadError>,
    V: Send + Sync + Clone + 'static,
{
    Ok(loader.load_one(key).await?.unwrap_or_default())
}
