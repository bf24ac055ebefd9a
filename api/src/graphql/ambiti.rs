//! Territory: ambiti territoriali, enti gestori and comuni, with time-bounded membership.

use async_graphql::{Context, Enum, Object, SimpleObject, ID};
use chrono::NaiveDate;
use entities::{ambito, ambito_succession, comune, ente_gestore};

use super::error::bad_input;
use super::ids::{encode, Kind, MAX_IDS_PER_LIST};
use super::loaders::{all, one, Loaders};
use super::projects::Project;
use super::scalars::Date;
use super::studies::Case;
use super::{connection, from_db, page_request, rc, today, Conn};
use crate::service::territory;

/// An ambito, seen on a date: nested `enti` default to that date.
#[derive(Clone)]
pub struct Ambito {
    pub model: ambito::Model,
    pub at: NaiveDate,
}

impl Ambito {
    pub fn new(model: ambito::Model, at: NaiveDate) -> Self {
        Self { model, at }
    }

    /// The ambiti at the other end of successions, each seen on the date `end` gives it
    /// (this ambito's date when the succession has none), in the order of the links.
    async fn across(
        &self,
        l: &Loaders,
        links: Vec<ambito_succession::Model>,
        end: impl Fn(&ambito_succession::Model) -> (i64, Option<NaiveDate>),
    ) -> async_graphql::Result<Vec<Ambito>> {
        let ends: Vec<_> = links.iter().map(end).collect();
        let found = l.ambito.load_many(ends.iter().map(|e| e.0)).await?;
        Ok(ends
            .into_iter()
            .filter_map(|(id, on)| {
                let m = found.get(&id)?.first()?.clone();
                Some(Ambito::new(m, on.unwrap_or(self.at)))
            })
            .collect())
    }
}

/// An ambito territoriale. Its code is the regional number, e.g. "24".
#[Object]
impl Ambito {
    pub async fn id(&self) -> ID {
        encode(Kind::Ambito, self.model.id)
    }
    async fn code(&self) -> &str {
        &self.model.code
    }
    /// Its name on the date it was asked for (ambito 24 was "Cuorgnè/Caluso/Ivrea" until
    /// the 2023 split, "Cuorgnè" since).
    async fn name(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        let names = all(&rc(ctx).loaders.names_of_ambito, self.model.id).await?;
        Ok(territory::name_on(&self.model, &names, self.at).to_owned())
    }
    /// Every name it went by, the current one last (its period open or ending with the
    /// ambito).
    async fn names(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<AmbitoName>> {
        let mut earlier = all(&rc(ctx).loaders.names_of_ambito, self.model.id).await?;
        // Undated first, as SQLite orders NULLs (PostgreSQL puts them last).
        earlier.sort_by_key(|n| n.valid_from);
        let current_from = earlier
            .iter()
            .filter_map(|n| n.valid_until)
            .max()
            .or(self.model.valid_from);
        let mut out: Vec<AmbitoName> = earlier
            .into_iter()
            .map(|n| AmbitoName {
                name: n.name,
                valid_from: n.valid_from.map(Date),
                valid_until: n.valid_until.map(Date),
            })
            .collect();
        out.push(AmbitoName {
            name: self.model.name.clone(),
            valid_from: current_from.map(Date),
            valid_until: self.model.valid_until.map(Date),
        });
        Ok(out)
    }
    async fn valid_from(&self) -> Option<Date> {
        self.model.valid_from.map(Date)
    }
    /// Null while the ambito still exists.
    async fn valid_until(&self) -> Option<Date> {
        self.model.valid_until.map(Date)
    }
    /// The enti gestori that belonged to this ambito on that date (default: the date this
    /// ambito was asked for, else today).
    async fn enti(
        &self,
        ctx: &Context<'_>,
        at: Option<Date>,
    ) -> async_graphql::Result<Vec<EnteGestore>> {
        let at = at.map_or(self.at, |d| d.0);
        let l = &rc(ctx).loaders;
        let ids = all(&l.enti_of_ambito_at, (self.model.id, at)).await?;
        let mut found = l.ente.load_many(ids.iter().copied()).await?;
        Ok(ids
            .iter()
            .filter_map(|id| found.remove(id).and_then(|v| v.into_iter().next()))
            .map(|m| EnteGestore::new(m, at))
            .collect())
    }
    /// Ambiti this one was split or merged from (itself, when it went on under its code),
    /// each as it was the day before the change: their `enti` then default to that day.
    async fn predecessors(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Ambito>> {
        let l = &rc(ctx).loaders;
        let links = all(&l.predecessors, self.model.id).await?;
        self.across(l, links, |s| {
            let day_before = s.effective_on.map(|on| on.pred_opt().unwrap_or(on));
            (s.predecessor_id, day_before)
        })
        .await
    }
    /// Ambiti this one was split or merged into (itself, when it went on under its code),
    /// each as it was on the day of the change: their `enti` then default to that day.
    async fn successors(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Ambito>> {
        let l = &rc(ctx).loaders;
        let links = all(&l.successors, self.model.id).await?;
        self.across(l, links, |s| (s.successor_id, s.effective_on))
            .await
    }
    /// Cases about this ambito, in studies the caller may read.
    async fn cases(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Case>> {
        let r = rc(ctx);
        let mut out = Vec::new();
        for c in all(&r.loaders.cases_of_ambito, self.model.id).await? {
            if r.can_read_study(c.study_id).await? {
                out.push(Case(c));
            }
        }
        Ok(out)
    }
}

/// A name an ambito went by, over [validFrom, validUntil).
#[derive(SimpleObject)]
pub struct AmbitoName {
    pub name: String,
    pub valid_from: Option<Date>,
    pub valid_until: Option<Date>,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum LegalForm {
    Consorzio,
    UnioneDiComuni,
    ComuniConvenzionati,
    Asl,
    Comune,
    Other,
}

#[derive(Clone)]
pub struct EnteGestore {
    pub model: ente_gestore::Model,
    pub at: NaiveDate,
}

impl EnteGestore {
    pub fn new(model: ente_gestore::Model, at: NaiveDate) -> Self {
        Self { model, at }
    }
}

#[Object]
impl EnteGestore {
    pub async fn id(&self) -> ID {
        encode(Kind::EnteGestore, self.model.id)
    }
    async fn acronym(&self) -> &str {
        &self.model.acronym
    }
    async fn name(&self) -> Option<&str> {
        self.model.name.as_deref()
    }
    async fn legal_form(&self) -> LegalForm {
        from_db(&self.model.legal_form).unwrap_or(LegalForm::Other)
    }
    async fn seat(&self) -> Option<&str> {
        self.model.seat.as_deref()
    }
    async fn population(&self) -> Option<i32> {
        self.model.population
    }
    /// The ambiti this ente belonged to on that date (default: the date this ente was asked
    /// for, else today).
    async fn ambiti(
        &self,
        ctx: &Context<'_>,
        at: Option<Date>,
    ) -> async_graphql::Result<Vec<Ambito>> {
        let at = at.map_or(self.at, |d| d.0);
        let l = &rc(ctx).loaders;
        let ids = all(&l.ambiti_of_ente_at, (self.model.id, at)).await?;
        let mut found = l.ambito.load_many(ids.iter().copied()).await?;
        Ok(ids
            .iter()
            .filter_map(|id| found.remove(id).and_then(|v| v.into_iter().next()))
            .map(|m| Ambito::new(m, at))
            .collect())
    }
    async fn comuni(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Comune>> {
        let rows = all(&rc(ctx).loaders.comuni_of_ente, self.model.id).await?;
        Ok(rows
            .into_iter()
            .map(|model| Comune { model, at: self.at })
            .collect())
    }
    /// Projects led or joined as partner.
    async fn projects(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Project>> {
        let l = &rc(ctx).loaders;
        let mut rows = all(&l.projects_led_by, self.model.id).await?;
        rows.extend(all(&l.projects_joined_by, self.model.id).await?);
        rows.sort_by_key(|p| p.id);
        rows.dedup_by_key(|p| p.id);
        Ok(rows.into_iter().map(Project).collect())
    }
}

/// A comune, seen on a date as the ente it was reached through was: its ente's `ambiti`
/// default to that date.
#[derive(Clone)]
pub struct Comune {
    pub model: comune::Model,
    pub at: NaiveDate,
}

#[Object]
impl Comune {
    pub async fn id(&self) -> ID {
        encode(Kind::Comune, self.model.id)
    }
    async fn name(&self) -> &str {
        &self.model.name
    }
    async fn population(&self) -> Option<i32> {
        self.model.population
    }
    /// Its ente gestore, whose `ambiti` default to the date this comune was reached at.
    async fn ente(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<EnteGestore>> {
        let Some(id) = self.model.ente_id else {
            return Ok(None);
        };
        Ok(one(&rc(ctx).loaders.ente, id)
            .await?
            .map(|m| EnteGestore::new(m, self.at)))
    }
}

#[derive(Default)]
pub struct TerritoryQuery;

#[Object]
impl TerritoryQuery {
    /// The ambiti that existed on that date (default: today, in Italy).
    async fn ambiti(
        &self,
        ctx: &Context<'_>,
        at: Option<Date>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Ambito>> {
        let at = at.map_or_else(today, |d| d.0);
        let page = territory::ambiti_page(&rc(ctx).db, at, page_request(first, after)?).await?;
        Ok(connection(
            page,
            |m: &ambito::Model| m.id,
            |m| Ambito::new(m, at),
        ))
    }

    /// The ambito with that code; with `at`, null unless it existed on that date (as
    /// `ambiti(at:)` lists it). Its `enti` default to `at`, else today.
    async fn ambito(
        &self,
        ctx: &Context<'_>,
        code: String,
        at: Option<Date>,
    ) -> async_graphql::Result<Option<Ambito>> {
        let asked = at.map(|d| d.0);
        let found = territory::ambito_on(&rc(ctx).db, &code, asked).await?;
        Ok(found.map(|m| Ambito::new(m, asked.unwrap_or_else(today))))
    }

    /// Enti gestori; with `at`, only those that belonged to an ambito on that date.
    async fn enti_gestori(
        &self,
        ctx: &Context<'_>,
        at: Option<Date>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<EnteGestore>> {
        let asked = at.map(|d| d.0);
        let page = territory::enti_page(&rc(ctx).db, asked, page_request(first, after)?).await?;
        let at = asked.unwrap_or_else(today);
        Ok(connection(
            page,
            |m: &ente_gestore::Model| m.id,
            |m| EnteGestore::new(m, at),
        ))
    }
}

/// Ambito codes as an input lists them, at most as many as a list of IDs (they become ids
/// bound in one statement): a list of hundreds of thousands held a write for seconds.
pub fn ambito_codes(codes: Vec<String>) -> async_graphql::Result<Vec<String>> {
    if codes.len() > MAX_IDS_PER_LIST {
        return Err(bad_input(format!(
            "`ambitoCodes` lists {} ambiti: a list holds at most {MAX_IDS_PER_LIST}",
            codes.len()
        )));
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graphql::enum_names;

    /// The service validates by its list; the enum only translates it.
    #[test]
    fn legal_forms_spell_the_services_list() {
        assert_eq!(enum_names::<LegalForm>(), territory::LEGAL_FORMS);
    }
}
