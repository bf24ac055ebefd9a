//! The GraphQL layer: one module per domain concept. Resolvers parse arguments, read the
//! caller, and call the service layer; errors become GraphQL errors once, in `error`.

pub mod ambiti;
pub mod analysis;
pub mod audit;
pub mod batching;
pub mod codes;
pub mod discontinuities;
pub mod documents;
pub mod error;
pub mod ids;
pub mod interviews;
pub mod limits;
pub mod live;
pub mod loaders;
pub mod members;
pub mod memos;
pub mod mutation_answers;
pub mod node;
pub mod null_propagation;
pub mod projects;
pub mod qdpx;
pub mod quotations;
pub mod scalars;
pub mod search;
pub mod studies;
pub mod transcripts;
pub mod users;

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::connection::{Connection, Edge};
use async_graphql::parser::types::OperationType;
use async_graphql::resolver_utils::EnumType;
use async_graphql::{Context, MergedObject, OutputType, Schema, SchemaBuilder, SimpleObject};
use sea_orm::DatabaseConnection;
use tokio::sync::OnceCell;

use crate::auth::Caller;
use crate::db::RequestDb;
use crate::search::SearchIndex;
use crate::service::discontinuities::Judgments;
use crate::service::page::{Page, PageRequest};
use loaders::Loaders;

#[derive(MergedObject, Default)]
pub struct Query(
    node::NodeQuery,
    users::UserQuery,
    ambiti::TerritoryQuery,
    projects::ProjectQuery,
    studies::StudyQuery,
    interviews::InterviewQuery,
    quotations::QuotationQuery,
    search::SearchQuery,
    analysis::AnalysisQuery,
    discontinuities::DiscontinuityQuery,
    audit::AuditQuery,
    qdpx::QdpxQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    studies::StudyMutation,
    interviews::InterviewMutation,
    codes::CodeMutation,
    quotations::QuotationMutation,
    discontinuities::DiscontinuityMutation,
    memos::MemoMutation,
    members::MemberMutation,
    qdpx::QdpxMutation,
    transcripts::TranscriptMutation,
);

pub type QuadernoSchema = Schema<Query, Mutation, live::Subscription>;

/// The schema with its limits (the shape checks of `limits` run at the edge, before it);
/// introspection can be switched off for production. Queries and subscriptions run on it.
pub fn build_schema_with(introspection: bool) -> QuadernoSchema {
    finish(schema_builder(), introspection)
}

/// The same schema as mutations run on it: each field's answer reads one snapshot, begun
/// after its write (`mutation_answers`). A schema apart, because an extension costs every
/// field it sees (a lookup of the field in the registry and a boxed call): a query's hits
/// and lists of quotations are the hot path, and need no switch.
pub fn build_mutation_schema_with(introspection: bool) -> QuadernoSchema {
    finish(
        schema_builder().extension(mutation_answers::MutationAnswers),
        introspection,
    )
}

fn schema_builder() -> SchemaBuilder<Query, Mutation, live::Subscription> {
    Schema::build(Query::default(), Mutation::default(), live::Subscription)
        .register_output_type::<node::Node>()
        .limit_depth(limits::MAX_DEPTH)
        .limit_complexity(limits::MAX_COMPLEXITY)
        .limit_recursive_depth(limits::MAX_RECURSIVE_DEPTH)
        .limit_directives(10)
}

fn finish(
    builder: SchemaBuilder<Query, Mutation, live::Subscription>,
    introspection: bool,
) -> QuadernoSchema {
    let schema = if introspection {
        builder.finish()
    } else {
        builder.disable_introspection().finish()
    };
    limits::learn_schema(|| schema.sdl());
    schema
}

pub fn build_schema() -> QuadernoSchema {
    build_schema_with(true)
}

/// The schema in SDL, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    build_schema().sdl()
}

/// What every resolver of one request shares: the connection, the caller, the loaders.
pub struct RequestCtx {
    /// A query's one read snapshot, or the pool (see `RequestDb`).
    pub db: RequestDb,
    pub caller: Caller,
    pub loaders: Loaders,
    pub search: Arc<SearchIndex>,
    pub events: live::Events,
    /// The studies the caller may read, once per request (not kept by a subscription: see
    /// `for_operation`).
    readable: Option<OnceCell<Option<HashSet<i64>>>>,
    /// A study's judgments, loaded once per snapshot however many cases ask for them: once
    /// per query, once per answer of a mutation's field or a subscription's event.
    judgments: PerSnapshot<std::collections::HashMap<i64, Arc<Judgments>>>,
    /// A subscription's readable studies for one event's answer (its `readable` is none).
    readable_in_answer: PerSnapshot<Option<Option<HashSet<i64>>>>,
    /// The list items the request has asked for (bounded by `limits::within_budget`).
    pub pages: Arc<limits::PageBudget>,
    /// The token of the WebSocket an operation came over: a subscription lives long, and
    /// looks its caller up again at each event (`live`).
    pub socket_token: Option<String>,
}

impl RequestCtx {
    pub fn new(
        db: DatabaseConnection,
        caller: Caller,
        search: Arc<SearchIndex>,
        events: live::Events,
    ) -> Self {
        Self::reading(RequestDb::snapshot(db), caller, search, events)
    }

    fn reading(
        db: RequestDb,
        caller: Caller,
        search: Arc<SearchIndex>,
        events: live::Events,
    ) -> Self {
        let loaders = Loaders::new(&db);
        Self {
            db,
            caller,
            loaders,
            search,
            events,
            readable: Some(OnceCell::new()),
            judgments: Default::default(),
            readable_in_answer: Default::default(),
            pages: Default::default(),
            socket_token: None,
        }
    }

    /// As an operation sent over a WebSocket opened with this token.
    pub fn over_socket(self, token: Option<String>) -> Self {
        Self {
            socket_token: token,
            ..self
        }
    }

    /// The context an operation of this type runs with. A query reads one snapshot of the
    /// database and keeps what it reads for the whole request. A mutation's fields run one
    /// after another, and each must read what the previous ones wrote (`a: updateQuotation(…)
    /// { codes } b: updateQuotation(…) { codes }`), so it keeps nothing it reads from one field
    /// to the next but the studies the caller may read, computed at the request's first check
    /// of them (the caller's roles are those of the request's start); each field's answer
    /// reads one snapshot, begun after its write (`db::Answers`). A subscription lives
    /// long: it keeps nothing at all, and checks again which studies it may read at every
    /// event (a study made private stops its events); each event's fields read one snapshot.
    pub fn for_operation(
        operation: OperationType,
        db: DatabaseConnection,
        caller: Caller,
        search: Arc<SearchIndex>,
        events: live::Events,
    ) -> Self {
        if operation == OperationType::Query {
            return Self::new(db, caller, search, events);
        }
        let db = RequestDb::answers(db);
        let loaders = if operation == OperationType::Mutation {
            Loaders::uncached_in_passes(&db)
        } else {
            Loaders::uncached(&db)
        };
        Self {
            loaders,
            readable: (operation == OperationType::Mutation).then(OnceCell::new),
            ..Self::reading(db, caller, search, events)
        }
    }

    /// The discontinuity judgments of a study the caller may read (loaded once per
    /// snapshot: `Case.cascade` of 500 cases in a mutation's answer loads them once).
    pub async fn judgments(&self, study_id: i64) -> async_graphql::Result<Arc<Judgments>> {
        let Some(mut cache) = self.judgments.lock(&self.db).await else {
            return Ok(Arc::new(
                Judgments::load(&self.db, &self.caller, study_id).await?,
            ));
        };
        // Held while loading, so that concurrent resolvers wait and reuse the first load.
        if let Some(j) = cache.get(&study_id) {
            return Ok(j.clone());
        }
        let j = Arc::new(Judgments::load(&self.db, &self.caller, study_id).await?);
        cache.insert(study_id, j.clone());
        Ok(j)
    }

    /// After a write to searchable data: wait until a search sees it (read-your-writes).
    /// The write has committed either way, so a failure here is logged, not returned.
    pub async fn searchable(&self) {
        if let Err(e) = self.search.sync(self.db.pool()).await {
            tracing::warn!(error = %e, "could not wait for the search index");
        }
    }

    /// Whether the caller may read a study; computed once per request.
    pub async fn can_read_study(&self, study_id: i64) -> async_graphql::Result<bool> {
        let load = || async {
            crate::service::studies::readable_study_ids(&self.db, &self.caller)
                .await
                .map(|ids| ids.map(|v| v.into_iter().collect::<HashSet<_>>()))
        };
        let readable =
            |set: &Option<HashSet<i64>>| set.as_ref().is_none_or(|s| s.contains(&study_id));
        if let Some(cell) = &self.readable {
            return Ok(readable(cell.get_or_try_init(load).await?));
        }
        // A subscription: what its event's answer reads, once (its checks read anew).
        let Some(mut kept) = self.readable_in_answer.lock(&self.db).await else {
            return Ok(readable(&load().await?));
        };
        if kept.is_none() {
            *kept = Some(load().await?);
        }
        Ok(kept.as_ref().is_some_and(readable))
    }
}

/// What is read once per snapshot: for a query's whole request, for each answer of a
/// mutation's field or a subscription's event. Reads from the pool (a mutation's write, a
/// subscription's checks) keep nothing, as what they read may change under them.
#[derive(Default)]
struct PerSnapshot<T>(tokio::sync::Mutex<(Option<u64>, T)>);

impl<T: Default> PerSnapshot<T> {
    /// What is kept for the snapshot `db` reads now (emptied if it kept another's), or
    /// `None` when `db` reads no snapshot.
    async fn lock(&self, db: &RequestDb) -> Option<tokio::sync::MappedMutexGuard<'_, T>> {
        let at = db.snapshot_id()?;
        let mut kept = self.0.lock().await;
        if kept.0 != Some(at) {
            *kept = (Some(at), T::default());
        }
        Some(tokio::sync::MutexGuard::map(kept, |(_, value)| value))
    }
}

/// The request's context. Every resolver that reads data comes through here, a connection
/// field once for each object it is asked on: the one place its page is counted.
pub fn rc<'a>(ctx: &Context<'a>) -> &'a RequestCtx {
    let r = ctx.data_unchecked::<RequestCtx>();
    r.pages.charge(ctx);
    r
}

/// `totalCount` on every connection.
#[derive(SimpleObject)]
pub struct Total {
    pub total_count: i64,
}

pub type Conn<T> = Connection<String, T, Total>;

pub fn page_request(
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<PageRequest> {
    Ok(PageRequest {
        first: first.map(i64::from),
        after: ids::decode_cursor(after.as_deref())?,
    })
}

/// Turns a page of models into a Relay connection with id cursors.
pub fn connection<M, T: OutputType>(
    page: Page<M>,
    id_of: impl Fn(&M) -> i64,
    wrap: impl Fn(M) -> T,
) -> Conn<T> {
    connection_with(page, |m| ids::encode_cursor(id_of(m)), wrap)
}

/// Turns a page of models into a Relay connection, each edge's cursor made by `cursor_of`.
pub fn connection_with<M, T: OutputType>(
    page: Page<M>,
    cursor_of: impl Fn(&M) -> String,
    wrap: impl Fn(M) -> T,
) -> Conn<T> {
    let mut c = Connection::with_additional_fields(
        page.has_previous,
        page.has_next,
        Total {
            total_count: page.total as i64,
        },
    );
    c.edges.extend(
        page.items
            .into_iter()
            .map(|m| Edge::new(cursor_of(&m), wrap(m))),
    );
    c
}

/// The database keeps enum values as their GraphQL names (SCREAMING_SNAKE_CASE).
pub fn to_db<E: EnumType + PartialEq>(e: E) -> String {
    E::items()
        .iter()
        .find(|i| i.value == e)
        .map(|i| i.name.to_owned())
        .unwrap_or_default()
}

/// The enum value a database string names; `None` for a string no value has.
pub fn from_db<E: EnumType>(s: &str) -> Option<E> {
    E::items().iter().find(|i| i.name == s).map(|i| i.value)
}

/// An enum's GraphQL names in declaration order, to compare with the service's lists.
#[cfg(test)]
pub fn enum_names<E: EnumType>() -> Vec<&'static str> {
    E::items().iter().map(|i| i.name).collect()
}

/// A patch field: absent leaves the value, null clears it, a value sets it.
pub fn patch<T>(v: async_graphql::MaybeUndefined<T>) -> Option<Option<T>> {
    match v {
        async_graphql::MaybeUndefined::Undefined => None,
        async_graphql::MaybeUndefined::Null => Some(None),
        async_graphql::MaybeUndefined::Value(x) => Some(Some(x)),
    }
}

/// Runs CPU work (a search, a count over every quotation of a study) on tokio's blocking
/// pool, so that it does not hold an async worker and every request queued behind it. A
/// panic in it becomes an INTERNAL error for this request alone.
pub async fn on_the_blocking_pool<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> async_graphql::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| error::internal(&e))
}

/// The name and bytes of an uploaded file.
pub fn read_upload(
    ctx: &Context<'_>,
    upload: &async_graphql::Upload,
) -> async_graphql::Result<(String, Vec<u8>)> {
    use std::io::Read as _;
    let value = upload
        .value(ctx)
        .map_err(|e| error::bad_input(format!("an uploaded file cannot be read: {e}")))?;
    let name = value.filename.clone();
    let mut bytes = Vec::new();
    value
        .into_read()
        .read_to_end(&mut bytes)
        .map_err(|e| error::bad_input(format!("{name}: the upload cannot be read: {e}")))?;
    Ok((name, bytes))
}

/// Today's date, the default for `at:` arguments.
pub fn today() -> chrono::NaiveDate {
    date_in_italy(chrono::Utc::now())
}

/// The date in Italy at an instant. Memberships change at midnight Italian time (the 2023
/// splits took effect on 1 January): a UTC date would keep the old enti for the first hour
/// of the day (two in summer).
fn date_in_italy(at: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
    at.with_timezone(&chrono_tz::Europe::Rome).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Utc};

    #[test]
    fn today_is_the_date_in_italy() {
        let new_year = Utc.with_ymd_and_hms(2022, 12, 31, 23, 30, 0).unwrap();
        assert_eq!(
            date_in_italy(new_year),
            NaiveDate::from_ymd_opt(2023, 1, 1).unwrap()
        );
        // Summer time: UTC+2.
        let summer = Utc.with_ymd_and_hms(2023, 6, 30, 22, 30, 0).unwrap();
        assert_eq!(
            date_in_italy(summer),
            NaiveDate::from_ymd_opt(2023, 7, 1).unwrap()
        );
        let afternoon = Utc.with_ymd_and_hms(2023, 6, 30, 12, 0, 0).unwrap();
        assert_eq!(
            date_in_italy(afternoon),
            NaiveDate::from_ymd_opt(2023, 6, 30).unwrap()
        );
    }
}
