//! Exchanging a study with other tools: its whole content (cases, interviews, codebook,
//! quotations with their codes, memos, the people who wrote them), loaded in a few queries for
//! the REFI-QDA and CSV exports. Reading needs only read access to the study.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use entities::{app_user, code, interview, memo, quotation, study, study_case};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::auth::Caller;
use crate::error::ServiceResult;
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
    pub async fn load<C: ConnectionTrait>(
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
            .filter(interview::Column::CaseId.is_in(cases.iter().map(|c| c.id)))
            .all(db)
            .await?;
        interviews.sort_by_key(|i| (i.case_id, i.id));
        let codes = code::Entity::find()
            .filter(code::Column::StudyId.eq(study.id))
            .order_by_asc(code::Column::Id)
            .all(db)
            .await?;
        let mut quotations = quotation::Entity::find()
            .filter(quotation::Column::InterviewId.is_in(interviews.iter().map(|i| i.id)))
            .all(db)
            .await?;
        quotations.sort_by_key(|q| (q.interview_id, q.start_pos, q.end_pos, q.id));
        let codes_of: HashMap<i64, Vec<i64>> =
            super::quotations::codes_of_quotations(db, quotations.iter().map(|q| q.id))
                .await?
                .into_iter()
                .map(|(q, codes)| (q, codes.into_iter().collect()))
                .collect();
        let memos = memo::Entity::find()
            .filter(memo::Column::StudyId.eq(study.id))
            .order_by_asc(memo::Column::Id)
            .all(db)
            .await?;
        let user_ids: BTreeSet<i64> = quotations
            .iter()
            .filter_map(|q| q.coder_id)
            .chain(memos.iter().filter_map(|m| m.author_id))
            .collect();
        let users = app_user::Entity::find()
            .filter(app_user::Column::Id.is_in(user_ids))
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

    /// "Parent/Child" for a code of this study.
    pub fn code_path(&self, id: i64) -> String {
        let by_id: HashMap<i64, &code::Model> = self.codes.iter().map(|c| (c.id, c)).collect();
        let mut names = Vec::new();
        let mut current = by_id.get(&id).copied();
        // The depth bound guards against a cycle the codebook rules should already prevent.
        while let Some(c) = current.filter(|_| names.len() <= self.codes.len()) {
            names.push(c.name.as_str());
            current = c.parent_id.and_then(|p| by_id.get(&p).copied());
        }
        names.reverse();
        names.join("/")
    }
}
