//! Live coding: `quotationChanged(studyId)` streams every change to a study's quotations to
//! the callers who may read it, so that analysts coding together see each other's work.

use async_graphql::{Context, Enum, Object, Subscription, ID};
use futures_util::Stream;
use tokio::sync::broadcast;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamExt as _;

use super::ids::{decode, encode, Kind};
use super::loaders::one;
use super::quotations::Quotation;
use super::{rc, RequestCtx};
use crate::error::ServiceError;

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

/// What the mutations publish, after their transaction commits.
#[derive(Debug, Clone, Copy)]
pub struct QuotationEvent {
    pub study_id: i64,
    pub change: Change,
}

#[derive(Debug, Clone, Copy)]
pub enum Change {
    /// One quotation created, changed or deleted.
    One { kind: ChangeKind, quotation_id: i64 },
    /// More quotations changed at once than are published one by one: the subscribers of
    /// the study reload.
    Many(usize),
}

/// Most changes one write publishes one by one. The channel holds 1,024 events for every
/// study, so an import sending thousands would push the subscribers of all studies behind.
pub const MAX_EVENTS_PER_WRITE: usize = 100;

/// The in-process channel of quotation events.
#[derive(Clone)]
pub struct Events(broadcast::Sender<QuotationEvent>);

impl Default for Events {
    fn default() -> Self {
        Self(broadcast::channel(1024).0)
    }
}

impl Events {
    pub fn publish(&self, event: QuotationEvent) {
        // No subscriber is not an error.
        let _ = self.0.send(event);
    }

    /// The changes one write made to a study's quotations: one event each, or a single
    /// `Change::Many` past `MAX_EVENTS_PER_WRITE`.
    pub fn publish_all(&self, study_id: i64, changes: &[(ChangeKind, i64)]) {
        if changes.len() > MAX_EVENTS_PER_WRITE {
            return self.publish(QuotationEvent {
                study_id,
                change: Change::Many(changes.len()),
            });
        }
        for &(kind, quotation_id) in changes {
            self.publish(QuotationEvent {
                study_id,
                change: Change::One { kind, quotation_id },
            });
        }
    }
}

/// Publishes a change to a quotation of an interview (the study is found through loaders).
pub async fn publish(r: &RequestCtx, interview_id: i64, kind: ChangeKind, quotation_id: i64) {
    let study = async {
        let i = one(&r.loaders.interview, interview_id).await.ok()??;
        let c = one(&r.loaders.case, i.case_id).await.ok()??;
        Some(c.study_id)
    };
    if let Some(study_id) = study.await {
        r.events.publish_all(study_id, &[(kind, quotation_id)]);
    }
}

pub struct QuotationChange {
    kind: ChangeKind,
    id: i64,
}

#[Object]
impl QuotationChange {
    async fn kind(&self) -> ChangeKind {
        self.kind
    }
    /// The quotation's global ID (also for DELETED).
    async fn id(&self) -> ID {
        encode(Kind::Quotation, self.id)
    }
    /// Null when DELETED.
    async fn quotation(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Quotation>> {
        if self.kind == ChangeKind::Deleted {
            return Ok(None);
        }
        Ok(one(&rc(ctx).loaders.quotation, self.id)
            .await?
            .map(Quotation::from))
    }
}

#[derive(Default)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Every change to the quotations of a study, as it happens, to callers who may read the
    /// study: those of quotation mutations, of transcript edits (moved: UPDATED, lost:
    /// DELETED), of code renames, recolours, moves and merges (UPDATED: the quotations under
    /// the code) and of imports into the study (CREATED). A write that changes more than 100
    /// quotations at once, or a subscriber that falls more than 1,024 changes (of any study)
    /// behind, ends the subscription with UNAVAILABLE: subscribe again and reload. A study
    /// the caller may no longer read (made private since, or their role in it taken back)
    /// ends it with FORBIDDEN; other changes of the caller's roles leave it running.
    async fn quotation_changed(
        &self,
        ctx: &Context<'_>,
        study_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<QuotationChange>>> {
        let r = rc(ctx);
        let study = crate::service::studies::readable_study(
            &r.db,
            &r.caller,
            decode(&study_id, Kind::Study)?,
        )
        .await?;
        let receiver = BroadcastStream::new(r.events.0.subscribe());
        let (db, caller, token) = (r.db.clone(), r.caller.clone(), r.socket_token.clone());
        Ok(futures_util::stream::unfold(
            Some(receiver),
            move |receiver| {
                let (db, caller, token) = (db.clone(), caller.clone(), token.clone());
                async move {
                    let mut receiver = receiver?;
                    // Waiting for the next event holds no connection: the socket ended the
                    // last event's snapshot as soon as it was answered (`http::websocket`);
                    // ended here too for a stream run any other way.
                    db.writing();
                    let change = loop {
                        match receiver.next().await? {
                            Ok(e) if e.study_id == study.id => break Ok(e.change),
                            Ok(_) => continue,
                            Err(BroadcastStreamRecvError::Lagged(missed)) => break Err(missed),
                        }
                    };
                    // The study is checked again before each event or ending, with the
                    // caller's roles as they are now: a study made private since (or
                    // deleted), or a role in it taken back, ends the subscription rather than
                    // streaming on to a caller who may no longer read it (not even how many
                    // changes it missed), with a reason as every other ending has. Any other
                    // change of roles leaves it running.
                    let now = match &token {
                        Some(token) => crate::auth::caller_from_token(db.pool(), token).await,
                        None => Ok(caller),
                    };
                    let readable = match now {
                        Ok(now) => {
                            crate::service::studies::readable_study(&db, &now, study.id).await
                        }
                        Err(e) => Err(e),
                    };
                    match (readable, change) {
                        (Ok(_), Ok(Change::One { kind, quotation_id })) => {
                            // What the event's fields read fits together, as a query's; the
                            // socket ends this snapshot as soon as the event is answered.
                            db.answering();
                            let change = QuotationChange {
                                kind,
                                id: quotation_id,
                            };
                            Some((Ok(change), Some(receiver)))
                        }
                        (Ok(_), Ok(Change::Many(n))) => Some((Err(many_changed(n)), None)),
                        (Ok(_), Err(missed)) => Some((Err(lagged(missed)), None)),
                        (Err(ServiceError::NotFound(_)), _) => Some((Err(unreadable()), None)),
                        (Err(e), _) => Some((Err(e.into()), None)),
                    }
                }
            },
        ))
    }
}

/// The end of a subscription to a study the caller may no longer read (made private or
/// deleted, or the caller's role in it taken back): FORBIDDEN.
fn unreadable() -> async_graphql::Error {
    super::error::coded(
        "you may no longer read this study: the subscription has ended",
        "FORBIDDEN",
    )
}

/// The end of a subscription after a write that changed too many quotations to send each.
fn many_changed(n: usize) -> async_graphql::Error {
    super::error::coded(
        format!(
            "{n} quotations of this study changed at once (an import or a transcript edit): \
             subscribe again and reload the quotations you show"
        ),
        "UNAVAILABLE",
    )
}

/// The end of a subscription that missed changes: it cannot tell which, so the client must
/// start again from the database.
fn lagged(missed: u64) -> async_graphql::Error {
    super::error::coded(
        format!(
            "this subscription fell behind and missed up to {missed} changes: subscribe again and \
             reload the quotations you show"
        ),
        "UNAVAILABLE",
    )
}
