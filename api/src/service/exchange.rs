//! Exchanging a study with other tools: its whole content (cases, interviews, codebook,
//! quotations with their codes, memos, the people who wrote them), loaded in a few queries for
//! the REFI-QDA and CSV exports. Reading needs only read access to the study.

use std::collections::{BTreeMap, HashMap};

use entities::{app_user, code, interview, memo, quotation, study, study_case};
use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder,
};

use crate::auth::Caller;
use crate::db::begin_snapshot;
use crate::error::ServiceResult;
use crate::service::analysis::{cases_of_study, codes_of_study_quotations, interviews_of_study};
use crate::service::studies::readable_study;

pub struct StudyContent {
    pub study: study::Model,
    /// By id.
    pub cases: Vec<study_case::Model>,
    /// By case, then id.
    pub interviews: Vec<interview::Model>,
    /// By id (parents may come after their children).
    pub codes: Vec<code::Model>,
    /// By interview, start, end, id.
    pub quotations: Vec<quotation::Model>,
    /// quotation → the codes it carries, ascending.
    pub codes_of: HashMap<i64, Vec<i64>>,
    /// By id.
    pub memos: Vec<memo::Model>,
    /// The coders and memo authors.
    pub users: BTreeMap<i64, app_user::Model>,
}

impl StudyContent {
    /// Everything in one snapshot: an export taken while others code holds one state of
    /// the study, never a transcript with another version's quotation offsets.
    pub async fn load(
        db: &DatabaseConnection,
        caller: &Caller,
        study_id: i64,
    ) -> ServiceResult<Self> {
        let txn = begin_snapshot(db).await?;
        let content = Self::read(&txn, caller, study_id).await?;
        txn.commit().await?;
        Ok(content)
    }

    async fn read<C: ConnectionTrait>(
        db: &C,
        caller: &Caller,
        study_id: i64,
    ) -> ServiceResult<Self> {
        let study = readable_study(db, caller, study_id).await?;
        let cases = study_case::Entity::find()
            .filter(study_case::Column::StudyId.eq(study.id))
            .order_by_asc(study_case::Column::Id)
            .all(db)
            .await?;
        let mut interviews = interview::Entity::find()
            .filter(interview::Column::CaseId.in_subquery(cases_of_study(study.id)))
            .all(db)
            .await?;
        interviews.sort_by_key(|i| (i.case_id, i.id));
        let codes = code::Entity::find()
            .filter(code::Column::StudyId.eq(study.id))
            .order_by_asc(code::Column::Id)
            .all(db)
            .await?;
        let mut quotations = quotation::Entity::find()
            .filter(quotation::Column::InterviewId.in_subquery(interviews_of_study(study.id)))
            .all(db)
            .await?;
        quotations.sort_by_key(|q| (q.interview_id, q.start_pos, q.end_pos, q.id));
        let codes_of: HashMap<i64, Vec<i64>> = codes_of_study_quotations(db, study.id)
            .await?
            .into_iter()
            .map(|(q, codes)| (q, codes.into_iter().collect()))
            .collect();
        let memos = memo::Entity::find()
            .filter(memo::Column::StudyId.eq(study.id))
            .order_by_asc(memo::Column::Id)
            .all(db)
            .await?;
        let coders = Query::select()
            .column(quotation::Column::CoderId)
            .from(quotation::Entity)
            .and_where(quotation::Column::InterviewId.in_subquery(interviews_of_study(study.id)))
            .to_owned();
        let authors = Query::select()
            .column(memo::Column::AuthorId)
            .from(memo::Entity)
            .and_where(memo::Column::StudyId.eq(study.id))
            .to_owned();
        let users = app_user::Entity::find()
            .filter(
                Condition::any()
                    .add(app_user::Column::Id.in_subquery(coders))
                    .add(app_user::Column::Id.in_subquery(authors)),
            )
            .all(db)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        Ok(Self {
            study,
            cases,
            interviews,
            codes,
            quotations,
            codes_of,
            memos,
            users,
        })
    }
}
