//! One ingest batch (DESIGN §3.4): NDJSON lines → normalise → rules → ONE spool transaction.
//!
//! Invariant: the reply says 200 only after the batch's effects are committed. When the spool
//! cannot take the batch (over `max_size`, under `min_free`, disk full, read-only), nothing of
//! it is kept, in memory or on disk, and the reply is 503 so that the shim keeps the batch.

use crate::shared::{now_ms, Metrics, Shared};
use crate::state_cache::{BatchStore, StateCache};
use broker::{normalise_line, Normalised};
use pagerduty::Action;
use rules::{Engine, Note};
use serde::Serialize;
use spool::{Batch, NewDelivery};
use std::collections::HashSet;
use tracing::{debug, error, info, warn};

/// A line longer than this is rejected like a malformed one.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// A body longer than this is refused with 413.
pub const MAX_BODY_BYTES: usize = 16 << 20;
/// Bytes of a rejected line kept for inspection.
const REJECTED_LINE_KEPT: usize = 512;
/// Share over `max_size` still accepted for batches that open no new incident.
const CLOSING_MARGIN: f64 = 0.05;

/// The answer to the shim.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Reply {
    pub accepted: u64,
    pub ignored: u64,
    pub rejected: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("spool full: {0}")]
    Full(String),
    #[error("spool error: {0}")]
    Storage(String),
}

/// The rules and their in-memory state; one batch at a time.
pub struct Ingest {
    pub engine: Engine,
    pub cache: StateCache,
    skew_warned: HashSet<String>,
}

impl Ingest {
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            cache: StateCache::default(),
            skew_warned: HashSet::new(),
        }
    }
}

/// The non-empty lines of an NDJSON body, trimmed.
pub fn lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|l| !l.is_empty())
}

/// One line: normalised, or why it is rejected (with what could be read of it).
pub fn parse_line(line: &[u8]) -> Result<Normalised, (String, Option<broker::Rejection>)> {
    if line.len() > MAX_LINE_BYTES {
        return Err((
            format!("line of {} bytes is over the 1 MiB limit", line.len()),
            None,
        ));
    }
    normalise_line(line).map_err(|r| (r.to_string(), Some(r)))
}

/// Process one batch body. Runs on a blocking thread.
pub fn process(shared: &Shared, body: &[u8]) -> Result<Reply, IngestError> {
    let mut ingest = shared
        .ingest
        .lock()
        .map_err(|_| IngestError::Storage("ingest lock poisoned".into()))?;
    let ingest = &mut *ingest;
    let mut spool = shared
        .spool
        .lock()
        .map_err(|_| IngestError::Storage("spool lock poisoned".into()))?;
    let now_ms = now_ms();
    let now = now_ms / 1000;
    let metrics = &shared.metrics;
    let mut reply = Reply::default();
    let mut batch = Batch::default();
    let mut new_triggers = 0usize;
    let mut notes = Vec::new();
    let mut sent: std::collections::HashMap<broker::ResourceId, String> = Default::default();

    let mut store = BatchStore::new(&mut ingest.cache, &spool);
    for line in lines(body) {
        Metrics::add(&metrics.events_received, 1);
        let result = parse_line(line).map_err(|(reason, rejection)| {
            if let Some(rejection) = rejection.filter(|r| r.looks_like_alert()) {
                Metrics::add(&metrics.rejected_alert_events, 1);
                error!(
                    element = rejection.element,
                    host_id = rejection.host_id,
                    service_id = rejection.service_id,
                    reason = %rejection,
                    "Rejected an alert event: it cannot be paged."
                );
            }
            reason
        });
        match result {
            Ok(Normalised::Event(event)) => {
                let outcome = ingest.engine.apply(&mut store, &event, now);
                if outcome.replay {
                    reply.ignored += 1;
                    debug!(resource = %event.resource(), "Replayed status ignored.");
                    continue;
                }
                reply.accepted += 1;
                if outcome.clock_skew {
                    Metrics::add(&metrics.clock_skew, 1);
                    let poller = event
                        .context()
                        .poller
                        .clone()
                        .unwrap_or_else(|| "(unknown poller)".into());
                    if ingest.skew_warned.insert(poller.clone()) {
                        warn!(%poller, resource = %event.resource(), "A status older than the last one applied arrived: the poller's clock may have stepped back. Applied in arrival order.");
                    }
                }
                notes.extend(outcome.notes);
                for o in outcome.outgoing {
                    if o.action == Action::Trigger {
                        new_triggers += 1;
                    }
                    sent.insert(o.resource, o.names.display());
                    batch.deliveries.push(NewDelivery {
                        body: serde_json::to_string(&o.event).unwrap_or_default(),
                        dedup_key: o.dedup_key,
                        route: o.route,
                        routing_key: o.routing_key.unwrap_or_default(),
                        action: o.action.as_str().to_owned(),
                        host_id: o.resource.host_id,
                        service_id: o.resource.service_id,
                        resource: o.names.display(),
                        ingested_at_ms: now_ms,
                        due_at_ms: now_ms,
                    });
                }
            }
            Ok(Normalised::Ignored(_)) => reply.ignored += 1,
            Err(reason) => {
                reply.rejected += 1;
                let kept = String::from_utf8_lossy(&line[..line.len().min(REJECTED_LINE_KEPT)])
                    .into_owned();
                batch.rejected.push((now_ms, reason, kept));
            }
        }
    }
    let (states, names) = store.take_changes();
    let (incidents, closed_incidents) = store.incident_rows(&sent, now_ms);
    batch.incidents = incidents;
    batch.closed_incidents = closed_incidents;
    let touched = std::mem::take(&mut store.touched);
    drop(store);
    batch.states = states;
    batch.names = names;
    for e in ingest.cache.read_errors.drain(..) {
        error!(error = %e, "Could not read a resource's state from the spool; treating it as new.");
    }

    // Room in the spool (DESIGN §4.5).
    if !batch.is_empty() {
        let cfg = &shared.loaded.config.spool;
        let mut size = spool.size_bytes();
        if size > cfg.max_size.0 && spool.reclaim().is_ok() {
            size = spool.size_bytes();
        }
        let free = free_space(spool.path());
        let max = cfg.max_size.0;
        let over = size > max || free.is_some_and(|f| f < cfg.min_free.0);
        let closing_allowed = new_triggers == 0
            && (size as f64) <= max as f64 * (1.0 + CLOSING_MARGIN)
            && free.is_none_or(|f| f > 0);
        if over && !closing_allowed {
            ingest.cache.forget(&touched);
            Metrics::add(&metrics.batches_refused, 1);
            let why = format!(
                "spool is {} bytes (max_size {}), {} bytes free (min_free {})",
                size,
                max,
                free.map_or("?".into(), |f| f.to_string()),
                cfg.min_free.0
            );
            warn!(%why, "Refusing a batch: the shim keeps it and retries.");
            return Err(IngestError::Full(why));
        }
        if let Err(e) = spool.commit_batch(&batch) {
            ingest.cache.forget(&touched);
            Metrics::add(&metrics.batches_refused, 1);
            error!(error = %e, "Could not store a batch; the shim keeps it and retries.");
            shared.set_last_error(format!("spool: {e}"));
            return Err(if e.is_storage_full() {
                IngestError::Full(e.to_string())
            } else {
                IngestError::Storage(e.to_string())
            });
        }
        ingest.cache.trim();
    }
    drop(spool);

    Metrics::add(&metrics.events_accepted, reply.accepted);
    Metrics::add(&metrics.events_ignored, reply.ignored);
    Metrics::add(&metrics.events_rejected, reply.rejected);
    if reply.accepted + reply.ignored + reply.rejected > 0 {
        metrics
            .last_event_at
            .store(now, std::sync::atomic::Ordering::Relaxed);
    }
    for d in &batch.deliveries {
        match d.action.as_str() {
            "trigger" => Metrics::add(&metrics.alerts_trigger, 1),
            "acknowledge" => Metrics::add(&metrics.alerts_acknowledge, 1),
            _ => Metrics::add(&metrics.alerts_resolve, 1),
        }
        info!(resource = %d.resource, dedup_key = %d.dedup_key, action = %d.action, route = %d.route, "Enqueued.");
    }
    for note in notes {
        match note {
            Note::Held { names, reason, .. } => {
                info!(resource = %names.display(), reason = reason.as_str(), "Trigger held.")
            }
            Note::Released { names, was, .. } => {
                info!(resource = %names.display(), was = was.as_str(), "Held trigger released.")
            }
            Note::Dropped { names, route, .. } => {
                info!(resource = %names.display(), %route, "Dropped by route.")
            }
        }
    }
    if !batch.deliveries.is_empty() {
        shared
            .delivery
            .add_routing_keys(batch.deliveries.iter().map(|d| d.routing_key.as_str()));
        shared.wake.notify_one();
    }
    Ok(reply)
}

/// Free bytes on the spool's filesystem, if it can be read.
pub fn free_space(db_path: &std::path::Path) -> Option<u64> {
    let dir = db_path.parent()?;
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}
