//! Who may see whom. Accounts carry names (imported coders' real ones too), so a user is
//! shown by ID only where the caller's own data already shows them.

use entities::{
    audit_log, discontinuity, interview, memo, quotation, study, study_case, study_member,
};
use sea_orm::sea_query::{Condition, SelectStatement};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait};

use crate::auth::{Caller, StudyRole};
use crate::error::ServiceResult;
use crate::service::studies::readable_study_ids;

/// Whether the caller may see a user by ID: themself, anyone for an admin, and otherwise a
/// member, memo author, evaluator or coder of a study the caller may read, or a writer in
/// the audit log of a study the caller owns (owners read that log).
pub async fn is_visible<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    user_id: i64,
) -> ServiceResult<bool> {
    if caller.is_admin() || caller.user_id() == Some(user_id) {
        return Ok(true);
    }
    let Some(readable) = readable_study_ids(db, caller).await? else {
        return Ok(true);
    };
    let member_of = study_member::Entity::find()
        .select_only()
        .column(study_member::Column::StudyId)
        .filter(study_member::Column::UserId.eq(user_id))
        .into_query();
    let wrote_memos_in = memo::Entity::find()
        .select_only()
        .column(memo::Column::StudyId)
        .filter(memo::Column::AuthorId.eq(user_id))
        .into_query();
    let judged = discontinuity::Entity::find()
        .select_only()
        .column(discontinuity::Column::CaseId)
        .filter(discontinuity::Column::EvaluatorId.eq(user_id))
        .into_query();
    let coded = interview::Entity::find()
        .select_only()
        .column(interview::Column::CaseId)
        .filter(
            interview::Column::Id.in_subquery(
                quotation::Entity::find()
                    .select_only()
                    .column(quotation::Column::InterviewId)
                    .filter(quotation::Column::CoderId.eq(user_id))
                    .into_query(),
            ),
        )
        .into_query();
    for studies in [
        member_of,
        wrote_memos_in,
        studies_of_cases(judged),
        studies_of_cases(coded),
    ] {
        if any_of(db, &readable, studies).await? {
            return Ok(true);
        }
    }
    let owned: Vec<i64> = caller.user.as_ref().map_or_else(Vec::new, |u| {
        u.roles
            .iter()
            .filter(|(_, role)| **role == StudyRole::Owner)
            .map(|(study, _)| *study)
            .collect()
    });
    if owned.is_empty() {
        return Ok(false);
    }
    // An entry names the user who wrote and, for a role granted, the user it went to.
    let logged = audit_log::Entity::find()
        .select_only()
        .column(audit_log::Column::Id)
        .filter(audit_log::Column::StudyId.is_in(owned))
        .filter(
            Condition::any()
                .add(audit_log::Column::UserId.eq(user_id))
                .add(
                    Condition::all()
                        .add(audit_log::Column::Entity.is_in(["user", "api_token"]))
                        .add(audit_log::Column::EntityId.eq(user_id)),
                ),
        )
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await?;
    Ok(logged.is_some())
}

/// The studies of the cases a one-column query gives.
fn studies_of_cases(case_ids: SelectStatement) -> SelectStatement {
    study_case::Entity::find()
        .select_only()
        .column(study_case::Column::StudyId)
        .filter(study_case::Column::Id.in_subquery(case_ids))
        .into_query()
}

/// Whether any study a one-column query gives is among `readable`.
async fn any_of<C: ConnectionTrait>(
    db: &C,
    readable: &[i64],
    studies: SelectStatement,
) -> ServiceResult<bool> {
    let found = study::Entity::find()
        .select_only()
        .column(study::Column::Id)
        .filter(study::Column::Id.in_subquery(studies))
        .filter(study::Column::Id.is_in(readable.iter().copied()))
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await?;
    Ok(found.is_some())
}
