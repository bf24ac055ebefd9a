//! The codebook: hierarchical codes per study.

use chrono::Utc;
use entities::code;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};

use crate::auth::{Caller, Permission};
use crate::db::begin_write;
use crate::error::{ServiceError, ServiceResult};
use crate::service::studies::{non_empty, readable_study};

#[derive(Debug, Clone, Default)]
pub struct NewCode {
    pub study_id: i64,
    pub name: String,
    pub parent_id: Option<i64>,
    pub description: Option<String>,
    pub color: Option<String>,
}

/// Accepts `#RRGGBB` (any case) and returns it upper-cased.
pub fn parse_color(s: &str) -> ServiceResult<String> {
    let ok = s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(s.to_ascii_uppercase())
    } else {
        Err(ServiceError::bad_input(format!(
            "color {s:?} is not of the form #RRGGBB"
        )))
    }
}

pub async fn create_code(
    db: &DatabaseConnection,
    caller: &Caller,
    input: NewCode,
) -> ServiceResult<code::Model> {
    let name = non_empty(&input.name, "name")?;
    if name.contains('/') {
        return Err(ServiceError::bad_input(
            "a code name must not contain '/' (it separates code paths)",
        ));
    }
    let color = input.color.as_deref().map(parse_color).transpose()?;
    let txn = begin_write(db).await?;
    let s = readable_study(&txn, caller, input.study_id).await?;
    caller.authorize(s.id, s.is_public, Permission::Code)?;
    if let Some(parent_id) = input.parent_id {
        let parent = code::Entity::find_by_id(parent_id)
            .one(&txn)
            .await?
            .ok_or_else(|| ServiceError::not_found("parent code"))?;
        if parent.study_id != s.id {
            return Err(ServiceError::bad_input(
                "the parent code belongs to another study",
            ));
        }
    }
    let siblings = code::Entity::find()
        .filter(code::Column::StudyId.eq(s.id))
        .filter(match input.parent_id {
            Some(p) => code::Column::ParentId.eq(p),
            None => code::Column::ParentId.is_null(),
        })
        .all(&txn)
        .await?;
    if siblings
        .iter()
        .any(|c| c.name.to_lowercase() == name.to_lowercase())
    {
        return Err(ServiceError::Conflict(format!(
            "a code named {name:?} already exists at this level"
        )));
    }
    let c = code::ActiveModel {
        study_id: Set(s.id),
        parent_id: Set(input.parent_id),
        name: Set(name),
        description: Set(input.description),
        color: Set(color),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(c)
}

/// All codes of a study, for path and descendant computations.
pub async fn study_codes<C: ConnectionTrait>(
    db: &C,
    study_id: i64,
) -> ServiceResult<Vec<code::Model>> {
    Ok(code::Entity::find()
        .filter(code::Column::StudyId.eq(study_id))
        .all(db)
        .await?)
}

/// `roots` and all their descendants, from a study's full code list.
pub fn with_descendants(all: &[code::Model], roots: &[i64]) -> Vec<i64> {
    let mut out: Vec<i64> = roots.to_vec();
    let mut i = 0;
    while i < out.len() {
        let current = out[i];
        for c in all {
            if c.parent_id == Some(current) && !out.contains(&c.id) {
                out.push(c.id);
            }
        }
        i += 1;
    }
    out
}
