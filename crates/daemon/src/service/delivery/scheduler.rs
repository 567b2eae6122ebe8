//! The scheduler (DESIGN §4.4): which queue heads go now. Per routing key, oldest first,
//! within the key's pause, probe and token bucket ([`DeliveryState::budget`]) and the global
//! `concurrency`; one request in flight per dedup key. An old head may be completed without a
//! request ([`policy::stale_head`]: collapsed, expired).
//!
//! It reads the spool through the dispatcher's own connection and never holds the
//! [`DeliveryState`] lock while it does: budget first, spool query, then claim.

use super::policy::{self, Behind, Stale};
use super::state::{Budget, DeliveryState, Ticket};
use crate::config::DeliveryConfig;
use crate::service::state::{Counter, Shared};
use spool::{Completion, Pending};
use tracing::{error, info, warn};

/// Longest sleep of the dispatcher when nothing wakes it.
pub(super) const IDLE_POLL_MS: i64 = 100;

/// What to do with a picked head.
pub(super) enum Pick {
    /// Send it, judged against this ticket.
    Send(Ticket),
    /// Handled without a request (collapsed, expired).
    Complete(Vec<Completion>),
}

/// Choose what to send now (runs on a blocking thread: it reads the spool). `woken`: new work
/// arrived since the last pick. Returns the picks and when to look again at the latest.
pub(super) fn pick(
    shared: &Shared,
    cfg: &DeliveryConfig,
    rate: u32,
    woken: bool,
    free_slots: usize,
    now: i64,
) -> (Vec<(Pending, Pick)>, i64) {
    let state: &DeliveryState = &shared.delivery;
    let mut wake_at = now + IDLE_POLL_MS;
    let epoch = shared.spool_epoch.load(std::sync::atomic::Ordering::SeqCst);
    let Ok(spool) = shared.reader.lock() else {
        return (Vec::new(), wake_at);
    };
    let mut damage = None;
    let mut out = Vec::new();
    let mut free_slots = free_slots;
    for routing_key in state.routing_keys() {
        if free_slots == 0 {
            break;
        }
        let slots = match state.budget(&routing_key, rate, now, woken, free_slots) {
            Budget::Send { slots, .. } => slots,
            Budget::WaitUntil(at) => {
                wake_at = wake_at.min(at);
                continue;
            }
            Budget::Hold => continue,
        };
        let busy = state.busy();
        let due = match spool.due(&routing_key, now, slots, &|k| busy.contains(k)) {
            Ok(d) => d,
            Err(e) if e.is_damage() => {
                damage = Some(e.to_string());
                break;
            }
            Err(e) => {
                error!(error = %e, "Cannot read the delivery queue.");
                continue;
            }
        };
        if due.is_empty() {
            // Nothing due: come back when the earliest head is (busy keys wake us on completion).
            let next = spool
                .next_due(&routing_key)
                .ok()
                .flatten()
                .map_or(i64::MAX, |t| t.max(now + 1));
            state.idle_until(&routing_key, next, now);
        }
        for p in due {
            let skip = skip_without_sending(shared, &spool, cfg, &p, now);
            let Some(ticket) =
                state.claim(&routing_key, &p.route, &p.dedup_key, skip.is_none(), now)
            else {
                continue;
            };
            match skip {
                Some(completions) => out.push((p, Pick::Complete(completions))),
                None => {
                    free_slots = free_slots.saturating_sub(1);
                    out.push((p, Pick::Send(ticket)));
                }
            }
        }
    }
    drop(spool);
    if let Some(detail) = damage {
        crate::service::repair::quarantine(shared, epoch, &detail);
    }
    (out, wake_at)
}

/// Apply [`policy::stale_head`] to a picked head: completions instead of a request, or `None`.
fn skip_without_sending(
    shared: &Shared,
    spool: &spool::Spool,
    cfg: &DeliveryConfig,
    p: &Pending,
    now: i64,
) -> Option<Vec<Completion>> {
    struct Queue<'a>(&'a spool::Spool, &'a Pending);
    impl Behind for Queue<'_> {
        fn queued(&self) -> Vec<(i64, pagerduty::Action)> {
            self.0
                .queued_after(&self.1.dedup_key, self.1.id)
                .unwrap_or_default()
        }
        fn open_in_pagerduty(&self) -> bool {
            // When in doubt, the resolve is sent: a useless resolve costs less than an
            // incident left open.
            self.0.open_in_pagerduty(&self.1.dedup_key).unwrap_or(true)
        }
    }
    let decision = policy::stale_head(
        p.id,
        p.action,
        now - p.ingested_at_ms,
        &Queue(spool, p),
        cfg.collapse_after.0.as_millis() as i64,
        cfg.max_event_age.0.as_millis() as i64,
    );
    match decision {
        Stale::Send => None,
        Stale::Collapse(ids) => {
            shared.metrics.add(Counter::Collapsed, 1);
            info!(resource = %p.resource, dedup_key = %p.dedup_key, skipped = ids.len(), "Collapsed: the problem ended long ago and its resolve is queued; the trigger is not sent (nor the resolve, when no incident is open in PagerDuty).");
            Some(
                ids.into_iter()
                    .map(|id| Completion::Collapsed {
                        id,
                        dedup_key: p.dedup_key.clone(),
                    })
                    .collect(),
            )
        }
        Stale::Expire(reason) => {
            shared.metrics.add(Counter::DeliveriesDeadLettered, 1);
            warn!(resource = %p.resource, dedup_key = %p.dedup_key, action = %p.action, "{reason}: it goes to dead letters.");
            Some(vec![Completion::DeadLetter {
                id: p.id,
                dedup_key: p.dedup_key.clone(),
                reason: reason.to_owned(),
            }])
        }
    }
}
