//! One request and what becomes of its event (DESIGN §4.4, the table of answers): delivered,
//! retried after a backoff, the routing key paused (429, configuration errors), or
//! dead-lettered. Then the committer records the outcomes, group-committed, and releases the
//! dedup keys.
//!
//! It changes the routing keys' state only through [`DeliveryState`]'s transitions, and the
//! spool only through [`spool::Spool::complete`].

use super::policy::{backoff, throttle_pause};
use super::state::Ticket;
use super::transport::{scrub, Sender, Sent};
use crate::config::DeliveryConfig;
use crate::service::state::{now_ms, Counter, Shared};
use pagerduty::Outcome;
use spool::{Completion, Pending};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

/// Longest wait before completions are committed.
pub const GROUP_COMMIT: Duration = Duration::from_millis(100);
/// A trigger delivered this late carries `custom_details.delivery_delay_seconds`.
pub const LATE_AFTER_MS: i64 = 2_000;

/// What a sender reports back to the committer.
pub(super) struct Done {
    pub(super) completions: Vec<Completion>,
    pub(super) dedup_key: String,
}

/// Send one queued event and decide what becomes of it.
pub(super) async fn deliver(
    shared: &Shared,
    sender: &Sender,
    cfg: &DeliveryConfig,
    p: &Pending,
    ticket: Ticket,
    jitter: f64,
) -> Vec<Completion> {
    let sent = match send(sender, p).await {
        Ok(sent) => sent,
        Err(c) => return vec![c],
    };
    let now = now_ms();
    shared.delivery.probe_answered(&p.routing_key, ticket, now);
    let sent = Sent {
        outcome: scrub(sent.outcome, &p.routing_key),
        ..sent
    };
    vec![judge(shared, cfg, p, ticket, jitter, sent, now)]
}

/// The request: the queued body, marked late if it is, shrunk once after a 413.
async fn send(sender: &Sender, p: &Pending) -> Result<Sent, Completion> {
    let mut event: pagerduty::Event = serde_json::from_str(&p.body).map_err(|e| {
        error!(dedup_key = %p.dedup_key, error = %e, "A queued event cannot be read; it goes to dead letters.");
        Completion::DeadLetter {
            id: p.id,
            dedup_key: p.dedup_key.clone(),
            reason: format!("unreadable queued event: {e}"),
        }
    })?;
    let delay_ms = now_ms() - p.ingested_at_ms;
    if delay_ms >= LATE_AFTER_MS {
        if let Some(payload) = event.payload.as_mut() {
            payload.custom_details.insert(
                "delivery_delay_seconds".into(),
                serde_json::json!(delay_ms / 1000),
            );
        }
    }
    let masked = event.to_masked_json();
    let mut sent = sender.send(event.to_body(), &masked).await;
    if sent.outcome == Outcome::TooLarge {
        warn!(dedup_key = %p.dedup_key, "PagerDuty answered 413: retrying once with custom_details shrunk to 64 KB.");
        sent = sender.send(event.to_body_shrunk(), &masked).await;
        if sent.outcome == Outcome::TooLarge {
            sent.outcome = Outcome::Rejected {
                message: "413 Payload Too Large, even with custom_details shrunk to 64 KB".into(),
            };
        }
    }
    Ok(sent)
}

/// The answer's consequences: metrics, logs, the routing key's state, and the completion.
fn judge(
    shared: &Shared,
    cfg: &DeliveryConfig,
    p: &Pending,
    ticket: Ticket,
    jitter: f64,
    sent: Sent,
    now: i64,
) -> Completion {
    let Sent {
        outcome,
        maybe_taken,
    } = sent;
    let m = &shared.metrics;
    let state = &shared.delivery;
    let label = pagerduty::mask_routing_key(&p.routing_key);
    let retry_at = |due_at_ms: i64, attempts: i64, maybe_delivered: bool| Completion::Retry {
        dedup_key: p.dedup_key.clone(),
        due_at_ms,
        attempts,
        maybe_delivered,
    };
    let probe_at = now + cfg.config_probe.0.as_millis() as i64;
    match outcome {
        Outcome::Delivered => {
            m.add(Counter::DeliveriesDelivered, 1);
            if let Some(route) = state.delivered(&p.routing_key, ticket, now) {
                info!(%route, routing_key = %label, "Routing key works again: resumed.");
            }
            info!(resource = %p.resource, dedup_key = %p.dedup_key, action = %p.action, route = %p.route, "Delivered.");
            Completion::Done {
                id: p.id,
                dedup_key: p.dedup_key.clone(),
            }
        }
        Outcome::Throttled => {
            m.add(Counter::DeliveriesThrottled, 1);
            let (until, new) = state.throttled(&p.routing_key, ticket, now, |level| {
                throttle_pause(cfg.throttle_min.0, cfg.throttle_max.0, level, jitter)
            });
            if new {
                warn!(route = %p.route, routing_key = %label, pause_ms = until - now, "PagerDuty answered 429: every event of this routing key waits.");
            }
            retry_at(until, p.attempts, false)
        }
        Outcome::Retry { reason } => {
            m.add(Counter::DeliveriesRetried, 1);
            let attempts = p.attempts.clamp(0, 30) as u32;
            let wait = backoff(cfg.backoff_min.0, cfg.backoff_max.0, attempts, jitter);
            warn!(resource = %p.resource, dedup_key = %p.dedup_key, attempt = p.attempts + 1, retry_in_ms = wait.as_millis() as u64, %reason, "Delivery failed; will retry.");
            shared.set_last_error(format!("{}: {reason}", p.dedup_key));
            // PagerDuty may have taken it (a timeout, an answer cut short): unknown counts as
            // taken, so that a later collapse keeps the episode's resolve.
            retry_at(now + wait.as_millis() as i64, p.attempts + 1, maybe_taken)
        }
        Outcome::RoutingKeyRejected { message } | Outcome::ConfigError { reason: message } => {
            m.add(Counter::DeliveriesConfigError, 1);
            pause_for_config(shared, p, &label, probe_at, &message, now);
            retry_at(probe_at, p.attempts, false)
        }
        Outcome::Rejected { message } => {
            m.add(Counter::DeliveriesDeadLettered, 1);
            error!(resource = %p.resource, dedup_key = %p.dedup_key, action = %p.action, error = %message, "PagerDuty rejected the event: it goes to dead letters.");
            shared.set_last_error(format!("{}: {message}", p.dedup_key));
            if state.rejected(&p.routing_key, now) {
                let why = "5 consecutive events rejected with 400";
                pause_for_config(shared, p, &label, probe_at, why, now);
            }
            Completion::DeadLetter {
                id: p.id,
                dedup_key: p.dedup_key.clone(),
                reason: message,
            }
        }
        // Turned into `Rejected` by `send`, after the one shrunk retry.
        Outcome::TooLarge => Completion::DeadLetter {
            id: p.id,
            dedup_key: p.dedup_key.clone(),
            reason: "413 Payload Too Large".into(),
        },
    }
}

fn pause_for_config(
    shared: &Shared,
    p: &Pending,
    label: &str,
    until: i64,
    message: &str,
    now: i64,
) {
    shared
        .delivery
        .config_error(&p.routing_key, message, until, now);
    error!(route = %p.route, routing_key = %label, error = %message, "PagerDuty refused this routing key or endpoint: deliveries on it are paused and kept; it is probed again later. Check the configuration.");
    shared.set_last_error(format!("routing key {label}: {message}"));
}

/// Group-commit completions, then release their dedup keys. A failed commit keeps its keys
/// busy and is retried every second.
pub(super) async fn committer(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Done>) {
    let mut pending: Vec<Done> = Vec::new();
    loop {
        if pending.is_empty() {
            match rx.recv().await {
                Some(d) => pending.push(d),
                None => return,
            }
        }
        let channel_open = gather(&mut rx, &mut pending).await;
        let batch = std::mem::take(&mut pending);
        match commit(&shared, batch).await {
            Ok(()) => shared.wake.notify_one(),
            Err(batch) => {
                pending = batch;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        if !channel_open && pending.is_empty() {
            return;
        }
    }
}

/// Gather what arrives within [`GROUP_COMMIT`] (at most 512); false once the channel closed.
async fn gather(rx: &mut mpsc::UnboundedReceiver<Done>, pending: &mut Vec<Done>) -> bool {
    let deadline = tokio::time::sleep(GROUP_COMMIT);
    tokio::pin!(deadline);
    while pending.len() < 512 {
        tokio::select! {
            d = rx.recv() => match d {
                Some(d) => pending.push(d),
                None => return false,
            },
            _ = &mut deadline => break,
        }
    }
    true
}

/// Commit one batch of completions and release its keys; the batch back on failure.
async fn commit(shared: &Arc<Shared>, batch: Vec<Done>) -> Result<(), Vec<Done>> {
    let shared2 = shared.clone();
    let result = tokio::task::spawn_blocking(move || {
        let completions: Vec<Completion> = batch
            .iter()
            .flat_map(|d| d.completions.iter().cloned())
            .collect();
        let epoch = shared2
            .spool_epoch
            .load(std::sync::atomic::Ordering::SeqCst);
        let r = match shared2.spool.lock() {
            Ok(mut s) => s.complete(&completions, now_ms()),
            Err(_) => return (batch, Err("spool lock poisoned".to_owned())),
        };
        // Never retried on the same files or connection after damage or an I/O error.
        if let Err(e) = &r {
            crate::service::repair::after_error(&shared2, epoch, e);
        }
        (batch, r.map_err(|e| e.to_string()))
    })
    .await;
    match result {
        Ok((batch, Ok(()))) => {
            shared
                .delivery
                .release(batch.iter().map(|d| d.dedup_key.as_str()));
            Ok(())
        }
        Ok((batch, Err(e))) => {
            error!(error = %e, "Cannot record delivery outcomes in the spool; retrying.");
            shared.set_last_error(format!("spool: {e}"));
            Err(batch)
        }
        Err(e) => {
            error!(error = %e, "Committer task failed.");
            Ok(())
        }
    }
}
