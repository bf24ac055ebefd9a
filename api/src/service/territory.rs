//! Ambiti, enti gestori, their time-bounded membership, comuni and projects.
//!
//! Territory is public knowledge (regional tables), so reads need no access check; writes
//! are for instance admins and the demo loader.

use chrono::NaiveDate;
use entities::{
    ambito, ambito_membership, ambito_name, ambito_succession, comune, ente_gestore, project,
    project_ambito, project_partner,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use sea_orm::sea_query::Condition;

use crate::error::{ServiceError, ServiceResult};
use crate::service::page::{self, Page, PageRequest};

pub const LEGAL_FORMS: &[&str] = &[
    "CONSORZIO",
    "UNIONE_DI_COMUNI",
    "COMUNI_CONVENZIONATI",
    "ASL",
    "COMUNE",
    "OTHER",
];
pub const SUCCESSION_KINDS: &[&str] = &["SPLIT", "MERGE", "CONTINUATION"];

/// Whether a period [from, until) contains `at`; open ends are unbounded.
pub fn valid_on(from: Option<NaiveDate>, until: Option<NaiveDate>, at: NaiveDate) -> bool {
    from.is_none_or(|f| f <= at) && until.is_none_or(|u| at < u)
}

/// The same rule as a condition on a table's period columns.
pub fn valid_on_condition(
    from: impl ColumnTrait,
    until: impl ColumnTrait,
    at: NaiveDate,
) -> Condition {
    Condition::all()
        .add(Condition::any().add(from.is_null()).add(from.lte(at)))
        .add(Condition::any().add(until.is_null()).add(until.gt(at)))
}

/// The ambiti that existed on `at`, a page at a time.
pub async fn ambiti_page<C: ConnectionTrait>(
    db: &C,
    at: NaiveDate,
    req: PageRequest,
) -> ServiceResult<Page<ambito::Model>> {
    let select = ambito::Entity::find().filter(valid_on_condition(
        ambito::Column::ValidFrom,
        ambito::Column::ValidUntil,
        at,
    ));
    page::by_id(db, select, ambito::Column::Id, req).await
}

/// The enti gestori; with `at`, only those that belonged to an ambito on that date. A page
/// at a time.
pub async fn enti_page<C: ConnectionTrait>(
    db: &C,
    at: Option<NaiveDate>,
    req: PageRequest,
) -> ServiceResult<Page<ente_gestore::Model>> {
    let mut select = ente_gestore::Entity::find();
    if let Some(at) = at {
        let members = enti_ids_on(db, at).await?;
        select = select.filter(ente_gestore::Column::Id.is_in(members));
    }
    page::by_id(db, select, ente_gestore::Column::Id, req).await
}

/// The enti that belonged to some ambito on `at`.
pub async fn enti_ids_on<C: ConnectionTrait>(db: &C, at: NaiveDate) -> ServiceResult<Vec<i64>> {
    Ok(ambito_membership::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .filter(|m| valid_on(m.valid_from, m.valid_until, at))
        .map(|m| m.ente_id)
        .collect())
}

pub async fn ambito_by_code<C: ConnectionTrait>(
    db: &C,
    code: &str,
) -> ServiceResult<Option<ambito::Model>> {
    Ok(ambito::Entity::find()
        .filter(ambito::Column::Code.eq(code.trim()))
        .one(db)
        .await?)
}

/// The ids of the ambiti with these codes, for a filter. An unknown code is BAD_USER_INPUT:
/// left out, it would narrow the filter to the others (or to nothing) and pass for a
/// question with fewer answers.
pub async fn ambito_ids<C: ConnectionTrait>(db: &C, codes: &[String]) -> ServiceResult<Vec<i64>> {
    let wanted: std::collections::BTreeSet<&str> = codes.iter().map(|c| c.trim()).collect();
    let mut found = std::collections::HashMap::new();
    let wanted_list: Vec<&str> = wanted.iter().copied().collect();
    for chunk in wanted_list.chunks(crate::db::IDS_PER_STATEMENT) {
        for a in ambito::Entity::find()
            .filter(ambito::Column::Code.is_in(chunk.iter().copied()))
            .all(db)
            .await?
        {
            found.insert(a.code, a.id);
        }
    }
    let unknown: Vec<String> = wanted
        .iter()
        .filter(|c| !found.contains_key(**c))
        .map(|c| format!("{c:?}"))
        .collect();
    if !unknown.is_empty() {
        return Err(ServiceError::bad_input(format!(
            "unknown ambito codes in `ambitoCodes`: {}",
            unknown.join(", ")
        )));
    }
    Ok(found.into_values().collect())
}

/// The ambito with that code; with `at`, only if it existed on that date, as `ambiti(at:)`
/// lists it: an ambito created later (or ended before) would otherwise answer with no enti,
/// as if it had been empty then.
pub async fn ambito_on<C: ConnectionTrait>(
    db: &C,
    code: &str,
    at: Option<NaiveDate>,
) -> ServiceResult<Option<ambito::Model>> {
    Ok(ambito_by_code(db, code)
        .await?
        .filter(|a| at.is_none_or(|at| valid_on(a.valid_from, a.valid_until, at))))
}

pub async fn create_ambito<C: ConnectionTrait>(
    db: &C,
    code: &str,
    name: &str,
    valid_from: Option<NaiveDate>,
    valid_until: Option<NaiveDate>,
) -> ServiceResult<ambito::Model> {
    check_period(valid_from, valid_until)?;
    if ambito_by_code(db, code).await?.is_some() {
        return Err(ServiceError::Conflict(format!("ambito {code} exists")));
    }
    Ok(ambito::ActiveModel {
        code: Set(code.trim().to_owned()),
        name: Set(name.trim().to_owned()),
        valid_from: Set(valid_from),
        valid_until: Set(valid_until),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Records a name the ambito went by for a period. Its own name is the one it goes by
/// otherwise (now): after a split the ambito that keeps the code is usually renamed.
pub async fn add_ambito_name<C: ConnectionTrait>(
    db: &C,
    ambito_id: i64,
    name: &str,
    valid_from: Option<NaiveDate>,
    valid_until: Option<NaiveDate>,
) -> ServiceResult<ambito_name::Model> {
    check_period(valid_from, valid_until)?;
    let name = name.trim();
    if name.is_empty() {
        return Err(ServiceError::bad_input(
            "an ambito's name must not be empty",
        ));
    }
    Ok(ambito_name::ActiveModel {
        ambito_id: Set(ambito_id),
        name: Set(name.to_owned()),
        valid_from: Set(valid_from),
        valid_until: Set(valid_until),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// The name an ambito went by on `at`: the recorded name of that period, else its own.
pub fn name_on<'a>(
    ambito: &'a ambito::Model,
    names: &'a [ambito_name::Model],
    at: NaiveDate,
) -> &'a str {
    names
        .iter()
        .find(|n| valid_on(n.valid_from, n.valid_until, at))
        .map_or(ambito.name.as_str(), |n| n.name.as_str())
}

pub async fn add_succession<C: ConnectionTrait>(
    db: &C,
    predecessor_id: i64,
    successor_id: i64,
    kind: &str,
    effective_on: Option<NaiveDate>,
) -> ServiceResult<ambito_succession::Model> {
    if !SUCCESSION_KINDS.contains(&kind) {
        return Err(ServiceError::bad_input(format!(
            "unknown succession kind {kind}"
        )));
    }
    Ok(ambito_succession::ActiveModel {
        predecessor_id: Set(predecessor_id),
        successor_id: Set(successor_id),
        kind: Set(kind.to_owned()),
        effective_on: Set(effective_on),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

#[derive(Debug, Clone, Default)]
pub struct NewEnte {
    pub acronym: String,
    pub name: Option<String>,
    pub legal_form: String,
    pub seat: Option<String>,
    pub population: Option<i32>,
}

pub async fn create_ente<C: ConnectionTrait>(
    db: &C,
    input: NewEnte,
) -> ServiceResult<ente_gestore::Model> {
    if !LEGAL_FORMS.contains(&input.legal_form.as_str()) {
        return Err(ServiceError::bad_input(format!(
            "unknown legal form {}",
            input.legal_form
        )));
    }
    Ok(ente_gestore::ActiveModel {
        acronym: Set(input.acronym),
        name: Set(input.name),
        legal_form: Set(input.legal_form),
        seat: Set(input.seat),
        population: Set(input.population),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Records that an ente belonged to an ambito during [from, until).
pub async fn add_membership<C: ConnectionTrait>(
    db: &C,
    ambito_id: i64,
    ente_id: i64,
    from: Option<NaiveDate>,
    until: Option<NaiveDate>,
) -> ServiceResult<ambito_membership::Model> {
    check_period(from, until)?;
    Ok(ambito_membership::ActiveModel {
        ambito_id: Set(ambito_id),
        ente_id: Set(ente_id),
        valid_from: Set(from),
        valid_until: Set(until),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

pub async fn create_comune<C: ConnectionTrait>(
    db: &C,
    name: &str,
    population: Option<i32>,
    ente_id: Option<i64>,
) -> ServiceResult<comune::Model> {
    Ok(comune::ActiveModel {
        name: Set(name.trim().to_owned()),
        population: Set(population),
        ente_id: Set(ente_id),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

#[derive(Debug, Clone, Default)]
pub struct NewProject {
    pub title: String,
    pub programme: Option<String>,
    pub lead_ente_id: Option<i64>,
    pub partner_ids: Vec<i64>,
    pub funding_cents: Option<i64>,
    pub population: Option<i32>,
    pub started_on: Option<NaiveDate>,
    pub ended_on: Option<NaiveDate>,
    pub ambito_ids: Vec<i64>,
}

pub async fn create_project<C: ConnectionTrait>(
    db: &C,
    input: NewProject,
) -> ServiceResult<project::Model> {
    let p = project::ActiveModel {
        title: Set(input.title),
        programme: Set(input.programme),
        lead_ente_id: Set(input.lead_ente_id),
        funding_cents: Set(input.funding_cents),
        population: Set(input.population),
        started_on: Set(input.started_on),
        ended_on: Set(input.ended_on),
        ..Default::default()
    }
    .insert(db)
    .await?;
    for ente_id in input.partner_ids {
        project_partner::ActiveModel {
            project_id: Set(p.id),
            ente_id: Set(ente_id),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    for ambito_id in input.ambito_ids {
        project_ambito::ActiveModel {
            project_id: Set(p.id),
            ambito_id: Set(ambito_id),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    Ok(p)
}

fn check_period(from: Option<NaiveDate>, until: Option<NaiveDate>) -> ServiceResult<()> {
    match (from, until) {
        (Some(f), Some(u)) if u <= f => {
            Err(ServiceError::bad_input("a period must end after it starts"))
        }
        _ => Ok(()),
    }
}

/// Parses an exact euro amount ("867617.14", "70000") into cents.
pub fn parse_euro_cents(s: &str) -> ServiceResult<i64> {
    let bad = || ServiceError::bad_input(format!("{s:?} is not an amount in euro"));
    let (int, frac) = s.trim().split_once('.').unwrap_or((s.trim(), ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 2 {
        return Err(bad());
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let euros: i64 = int.parse().map_err(|_| bad())?;
    let cents: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    euros
        .checked_mul(100)
        .and_then(|e| e.checked_add(cents))
        .ok_or_else(bad)
}

/// Formats cents as an exact decimal string with two decimals.
pub fn format_euro_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn euro_amounts_are_exact() {
        assert_eq!(parse_euro_cents("867617.14").unwrap(), 86_761_714);
        assert_eq!(parse_euro_cents("70000").unwrap(), 7_000_000);
        assert_eq!(parse_euro_cents("0.5").unwrap(), 50);
        assert!(parse_euro_cents("1.234").is_err());
        assert!(parse_euro_cents("1,5").is_err());
        assert!(parse_euro_cents("-3").is_err());
        assert_eq!(format_euro_cents(86_761_714), "867617.14");
        assert_eq!(format_euro_cents(7_000_000), "70000.00");
    }

    #[test]
    fn periods_are_half_open() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let (f, u) = (Some(d("2022-01-01")), Some(d("2023-01-01")));
        assert!(valid_on(f, u, d("2022-01-01")));
        assert!(valid_on(f, u, d("2022-12-31")));
        assert!(!valid_on(f, u, d("2023-01-01")));
        assert!(valid_on(None, None, d("1999-01-01")));
    }
}
