//! When a request's DataLoader batches go out: once per pass of the executor, not after a
//! fixed delay.
//!
//! async-graphql's DataLoader starts a fetch task when the first key of a batch arrives and
//! lets it collect keys for `delay` (1 ms by default). Resolving a level of 1,000 list items
//! takes longer than that, so one level's keys were split over several batches, a different
//! number each time (29–69 statements for 1,000 quotations, against 12 for 10), and every
//! level of every query waited for the delay. Worse, the executor does not walk a level in
//! one go: it resolves every object's fields in a `FuturesUnordered`, which wakes itself and
//! yields after every two objects, so "after the current poll" is not "after the level".
//!
//! Instead, a request's loaders hand their fetch tasks to [`spawn_fetch`], and the request is
//! executed inside [`in_passes`]: it polls the executor until it stops *without* having woken
//! itself (every resolver of the pass waits on a loader), and only then drives the fetches
//! queued during the pass, on the request's own task. A finished fetch has answered all of
//! its keys before the executor runs again, so the next level's keys are again asked in one
//! pass: a level costs one statement per loader whatever the number of rows, and no time is
//! spent waiting for more keys.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};

thread_local! {
    /// Fetches queued by the poll running on this thread, if it is a pass of [`in_passes`].
    static QUEUED: RefCell<Option<Vec<BoxFuture<'static, ()>>>> = const { RefCell::new(None) };
}

/// The DataLoader spawner of request loaders: during a pass the fetch waits for the pass to
/// end; anywhere else (a subscription, a spawned task) it runs as its own task.
pub fn spawn_fetch(fetch: BoxFuture<'static, ()>) {
    let fetch = QUEUED.with(|q| match q.borrow_mut().as_mut() {
        Some(queued) => {
            queued.push(fetch);
            None
        }
        None => Some(fetch),
    });
    if let Some(fetch) = fetch {
        tokio::spawn(fetch);
    }
}

/// Runs `execution` (a GraphQL request) so that its loaders batch per pass.
pub fn in_passes<F: Future>(execution: F) -> impl Future<Output = F::Output> {
    Passes {
        execution: Box::pin(execution),
        waiting: Vec::new(),
        fetches: FuturesUnordered::new(),
    }
}

/// Rounds of one pass run in a single poll before giving the thread back to the runtime.
const ROUNDS_PER_POLL: usize = 64;

struct Passes<F> {
    execution: Pin<Box<F>>,
    /// Fetches queued by the pass under way.
    waiting: Vec<BoxFuture<'static, ()>>,
    /// Fetches of finished passes, running.
    fetches: FuturesUnordered<BoxFuture<'static, ()>>,
}

/// A waker that notes whether it was used: the executor wakes itself when it stops only to
/// be fair to other futures (futures-util's `FuturesUnordered`, which async-graphql resolves
/// the fields of every object with, yields after every two objects that did the same), not
/// because every resolver is waiting.
struct Watch {
    woken: AtomicBool,
    task: Waker,
}

impl Wake for Watch {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.task.wake_by_ref();
    }
}

impl<F: Future> Future for Passes<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let mut rounds = 0;
        loop {
            let watch = Arc::new(Watch {
                woken: AtomicBool::new(false),
                task: cx.waker().clone(),
            });
            let waker = Waker::from(watch.clone());
            // Saved and restored, should a pass ever run inside another on this thread.
            let outer = QUEUED.with(|q| q.replace(Some(Vec::new())));
            let polled = this
                .execution
                .as_mut()
                .poll(&mut Context::from_waker(&waker));
            let queued = QUEUED.with(|q| q.replace(outer)).unwrap_or_default();
            this.waiting.extend(queued);
            if let Poll::Ready(out) = polled {
                // Nobody in this request waits for them any more, but a loader shared with
                // a task of its own might: let them finish.
                let left = std::mem::take(&mut this.fetches);
                for fetch in this.waiting.drain(..).chain(left) {
                    tokio::spawn(fetch);
                }
                return Poll::Ready(out);
            }
            if watch.woken.load(Ordering::SeqCst) {
                // The pass goes on; its keys are not all asked yet.
                rounds += 1;
                if rounds < ROUNDS_PER_POLL {
                    continue;
                }
                // Woken already: the runtime polls this again soon.
                return Poll::Pending;
            }
            // Every resolver of the pass waits: its batches go out now.
            this.fetches.extend(this.waiting.drain(..));
            let mut answered = false;
            while let Poll::Ready(Some(())) = this.fetches.poll_next_unpin(cx) {
                answered = true;
            }
            if !answered {
                return Poll::Pending;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use async_graphql::dataloader::{DataLoader, Loader};

    use super::*;

    /// Squares numbers, counting its batches.
    struct Squares(Arc<AtomicUsize>);

    impl Loader<u64> for Squares {
        type Value = u64;
        type Error = String;

        async fn load(&self, keys: &[u64]) -> Result<HashMap<u64, u64>, String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok(keys.iter().map(|k| (*k, k * k)).collect())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_batch_per_level_whatever_the_number_of_keys() {
        let batches = Arc::new(AtomicUsize::new(0));
        let loader =
            Arc::new(DataLoader::new(Squares(batches.clone()), spawn_fetch).delay(Duration::ZERO));
        // Like async-graphql: a list of objects, each resolving its fields in a
        // `FuturesUnordered` (which wakes its parent whenever all its fields wait).
        let levels = in_passes(async {
            let mut total = 0;
            for level in 0..3u64 {
                let objects = futures_util::future::join_all((0..2_500u64).map(|k| {
                    let loader = loader.clone();
                    async move {
                        let fields: FuturesUnordered<_> = [0, 1]
                            .into_iter()
                            .map(|f| loader.load_one(level * 10_000 + 2 * k + f))
                            .collect();
                        fields.collect::<Vec<_>>().await
                    }
                }))
                .await;
                total += objects.iter().map(Vec::len).sum::<usize>();
            }
            total
        })
        .await;
        assert_eq!(levels, 15_000);
        // 5,000 keys a level, at most 1,000 a batch.
        assert_eq!(batches.load(Ordering::SeqCst), 3 * 5);
    }
}
