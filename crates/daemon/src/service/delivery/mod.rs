//! Delivery to PagerDuty (DESIGN §4.4).
//!
//! A dispatcher picks due queue heads and hands each to a sender task; a committer records the
//! outcomes. One role per file:
//! - `state`: the routing keys' delivery state behind one handle ([`DeliveryState`]): pauses,
//!   probes, token buckets, dedup keys in flight; named transitions only;
//! - `scheduler`: which heads go now (oldest first per routing key, pacing, pauses, collapse
//!   and expiry through `policy`);
//! - `policy`: backoff, jitter, collapse and `max_event_age`, as pure functions;
//! - `transport`: the HTTP client (or dry run) and the classification of failures;
//! - `outcome`: what an answer does (the table of §4.4) and the group-committing committer.
//!
//! Locks: [`DeliveryState`] has one lock, never held across a spool call or an await; the
//! dispatcher reads through the spool's reader connection, the committer writes through the
//! writer. One request is in flight per dedup key: a key stays busy from the moment its head
//! is picked until its completion is committed.
//!
//! A failed commit (disk full, spool not writable) keeps its keys busy and is retried every
//! second: nothing is sent twice while the daemon runs. At stop the retries end with the
//! grace (at least [`FINAL_COMMIT`]): the stop is never held by the disk, and what was not
//! recorded is sent again at the next start (at-least-once; PagerDuty deduplicates).

mod outcome;
mod policy;
mod scheduler;
pub(crate) mod state;
mod transport;

use policy::Jitter;
pub(crate) use state::PauseKind;
pub(crate) use transport::{http_client, scrub, Sender};

use crate::service::state::{now_ms, Shared};
use outcome::Done;
use scheduler::{Pick, IDLE_POLL_MS};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::warn;

/// At stop, the least time given to recording the outcomes of finished deliveries.
const FINAL_COMMIT: Duration = Duration::from_secs(2);

/// Run delivery until `stop` fires; then let in-flight requests finish within the grace.
pub async fn run(
    shared: Arc<Shared>,
    sender: Sender,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let (done_tx, done_rx) = mpsc::unbounded_channel::<Done>();
    let committer = tokio::spawn(outcome::committer(shared.clone(), done_rx));
    let mut in_flight = JoinSet::new();
    let mut dispatcher = Dispatcher {
        shared: shared.clone(),
        sender,
        done_tx,
        jitter: Jitter::seeded(),
        active: Arc::new(AtomicUsize::new(0)),
    };
    let mut woken = true;
    while !*stop.borrow() {
        let wake_at = dispatcher.dispatch(woken, &mut in_flight).await;
        while in_flight.try_join_next().is_some() {}
        woken = false;
        let nap = (wake_at - now_ms()).clamp(1, IDLE_POLL_MS) as u64;
        tokio::select! {
            _ = shared.wake.notified() => woken = true,
            _ = tokio::time::sleep(Duration::from_millis(nap)) => {}
            _ = stop.changed() => {}
        }
    }
    drop(dispatcher);
    shutdown(&shared, in_flight, committer).await;
}

/// Picks heads and starts their requests.
struct Dispatcher {
    shared: Arc<Shared>,
    sender: Sender,
    done_tx: mpsc::UnboundedSender<Done>,
    jitter: Jitter,
    /// Requests out now: the concurrency limit. A key stays busy longer, until its outcome is
    /// committed, but its slot is free as soon as the answer is in.
    active: Arc<AtomicUsize>,
}

impl Dispatcher {
    /// One round: pick, send, complete; returns when to look again at the latest.
    async fn dispatch(&mut self, woken: bool, in_flight: &mut JoinSet<()>) -> i64 {
        let cfg = self.shared.loaded.config.delivery.clone();
        let rate = self.shared.loaded.config.pagerduty.rate_limit_per_minute;
        let free = cfg
            .concurrency
            .saturating_sub(self.active.load(Ordering::Relaxed));
        let shared = self.shared.clone();
        let cfg2 = cfg.clone();
        let (picked, wake_at) = tokio::task::spawn_blocking(move || {
            scheduler::pick(&shared, &cfg2, rate, woken, free, now_ms())
        })
        .await
        .unwrap_or_else(|_| (Vec::new(), now_ms() + IDLE_POLL_MS));
        for (p, pick) in picked {
            match pick {
                Pick::Send(ticket) => {
                    let shared = self.shared.clone();
                    let sender = self.sender.clone();
                    let done_tx = self.done_tx.clone();
                    let cfg = cfg.clone();
                    let jitter = self.jitter.sample();
                    let active = self.active.clone();
                    active.fetch_add(1, Ordering::Relaxed);
                    in_flight.spawn(async move {
                        let completions =
                            outcome::deliver(&shared, &sender, &cfg, &p, ticket, jitter).await;
                        active.fetch_sub(1, Ordering::Relaxed);
                        shared.wake.notify_one();
                        let _ = done_tx.send(Done {
                            completions,
                            dedup_key: p.dedup_key,
                        });
                    });
                }
                Pick::Complete(completions) => {
                    let _ = self.done_tx.send(Done {
                        completions,
                        dedup_key: p.dedup_key,
                    });
                }
            }
        }
        wake_at
    }
}

/// Let in-flight requests finish within `shutdown_grace`, then give the committer what is left
/// of it, and at least [`FINAL_COMMIT`], so that an unwritable spool (disk full) cannot hold
/// the stop until systemd's SIGKILL. An outcome not recorded leaves its event at the head of
/// its queue: it is sent again at start, and PagerDuty deduplicates it.
async fn shutdown(
    shared: &Shared,
    mut in_flight: JoinSet<()>,
    mut committer: tokio::task::JoinHandle<()>,
) {
    let grace = shared.loaded.config.delivery.shutdown_grace.0;
    let stop_deadline = tokio::time::Instant::now() + grace;
    if tokio::time::timeout_at(stop_deadline, async {
        while in_flight.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        warn!(
            "Shutdown grace over: abandoning in-flight requests; they will be sent again at start."
        );
        in_flight.abort_all();
    }
    let commit_deadline = stop_deadline.max(tokio::time::Instant::now() + FINAL_COMMIT);
    if tokio::time::timeout_at(commit_deadline, &mut committer)
        .await
        .is_err()
    {
        committer.abort();
        warn!(
            "Cannot record the outcomes of the last deliveries before stopping (the spool cannot \
             be written); those events will be sent again at start."
        );
    }
}
