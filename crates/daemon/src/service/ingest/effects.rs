//! The effects of one ingest batch or operator command — deliveries, resource states, names,
//! incidents opened and closed, rejected lines — gathered while the rules run, and their ONE
//! commit path: [`commit`], then [`announce`] once it is on disk.
//!
//! It owns nothing between batches. It may not send anything: delivery learns of new work
//! only through [`announce`], after the commit.

use crate::service::state::{Counter, Shared};
use crate::service::store::{BatchStore, StateCache};
use broker::{IdMap, IdSet, ResourceId};
use pagerduty::Action;
use rules::{Note, Outgoing};
use spool::{Batch, NewDelivery, RejectedLine, Spool};
use tracing::{error, info, warn};

/// Share over `max_size` still accepted for batches that open no new incident.
const CLOSING_MARGIN: f64 = 0.05;

/// Why a batch was not stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("spool full: {0}")]
    Full(String),
    #[error("spool error: {0}")]
    Storage(String),
    /// The spool is damaged: it is set aside, and the shim's retry goes to a fresh one.
    #[error("spool damaged: {0}")]
    Damaged(String),
    /// A write or fsync failed: the spool's connection is reopened, the shim retries.
    #[error("spool write failed: {0}")]
    Io(String),
}

/// What a batch changes, not yet stored.
#[derive(Default)]
pub struct Effects {
    batch: Batch,
    new_triggers: usize,
    notes: Vec<Note>,
    /// Resources that sent something, and their display names (for incident rows).
    sent: IdMap<String>,
    /// Resources the rules read or changed (forgotten from the cache if the commit fails).
    touched: IdSet,
    /// The replay window's entries logged, and the rows written (see `service::window`).
    remembered: Vec<(ResourceId, u64)>,
    written: IdSet,
}

impl Effects {
    /// Acknowledgements seen in PagerDuty, recorded with this batch (DESIGN §4.6).
    pub fn record_acks(&mut self, acks: Vec<spool::NewAck>, now_ms: i64) {
        self.batch.acks = acks;
        self.batch.acks_seen_at_ms = now_ms;
    }

    /// Queue one PagerDuty event.
    pub fn push(&mut self, o: Outgoing, now_ms: i64) {
        if o.action == Action::Trigger {
            self.new_triggers += 1;
        }
        let resource = o.names.display();
        self.sent.insert(o.resource, resource.clone());
        self.batch.deliveries.push(NewDelivery {
            body: o.body,
            dedup_key: o.dedup_key,
            route: o.route,
            routing_key: o.routing_key.unwrap_or_default(),
            action: o.action,
            host_id: o.resource.host_id,
            service_id: o.resource.service_id,
            resource,
            ingested_at_ms: now_ms,
            due_at_ms: now_ms,
        });
    }

    pub fn notes(&mut self, notes: Vec<Note>) {
        self.notes.extend(notes);
    }

    /// Keep a line that could not be used, for inspection.
    pub fn reject(&mut self, received_at_ms: i64, reason: String, line: String) {
        self.batch.rejected.push(RejectedLine {
            received_at_ms,
            reason,
            line,
        });
    }

    /// Take what the rules changed in the store: states, names, incident rows, the replay
    /// window's log (with the rows it wants rewritten, and what the spool may drop of it).
    pub fn finish(&mut self, store: &mut BatchStore<'_>, now_ms: i64) {
        store.rewrite_for_window_log();
        self.remembered = store.take_remembered();
        self.batch.window = self
            .remembered
            .iter()
            .map(|(id, fp)| spool::WindowEntry {
                host_id: id.host_id,
                service_id: id.service_id,
                fingerprint: *fp,
            })
            .collect();
        self.batch.trim_window_below = store.cache.window.trim_due(store.spool.batch_seq() + 1);
        self.written = store.changed.clone();
        let (states, names) = store.take_changes();
        let (incidents, closed) = store.incident_rows(&self.sent, now_ms);
        self.batch.states = states;
        self.batch.names = names;
        self.batch.incidents = incidents;
        self.batch.closed_incidents = closed;
        self.touched = std::mem::take(&mut store.touched);
    }

    /// The effects of a batch from Broker: its commit records the time of the last ingest.
    pub fn received_from_broker(&mut self, now_ms: i64) {
        self.batch.ingested_at_ms = Some(now_ms);
    }

    /// Not committed: forget what the rules changed in memory.
    pub fn abandon(&self, cache: &mut StateCache) {
        cache.forget(&self.touched);
    }
}

/// How a commit is admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Broker's batches: refused when the spool is over `max_size` or under `min_free`, except
    /// a batch that opens no incident, up to `max_size` + 5 % (DESIGN §4.5).
    Ingest,
    /// An operator's command: always tried.
    Operator,
}

/// Store the effects in ONE transaction. On failure nothing is kept, on disk or in the cache.
pub fn commit(
    shared: &Shared,
    spool: &mut Spool,
    cache: &mut StateCache,
    effects: &Effects,
    admission: Admission,
) -> Result<(), IngestError> {
    if effects.batch.is_empty() && effects.batch.trim_window_below.is_none() {
        return Ok(());
    }
    if admission == Admission::Ingest {
        if let Err(e) = admit(shared, spool, effects.new_triggers) {
            cache.forget(&effects.touched);
            return Err(e);
        }
    }
    let seq = match spool.commit_batch(&effects.batch) {
        Ok(seq) => seq,
        Err(e) => {
            cache.forget(&effects.touched);
            shared.metrics.add(Counter::BatchesRefused, 1);
            error!(error = %e, "Could not store a batch; the shim keeps it and retries.");
            shared.set_last_error(format!("spool: {e}"));
            return Err(if e.is_io() {
                IngestError::Io(e.to_string())
            } else if e.is_storage_full() {
                IngestError::Full(e.to_string())
            } else if e.is_damage() {
                IngestError::Damaged(e.to_string())
            } else {
                IngestError::Storage(e.to_string())
            });
        }
    };
    cache.window.committed(
        seq,
        &effects.remembered,
        &effects.written,
        effects.batch.trim_window_below,
    );
    cache.trim(&effects.touched);
    Ok(())
}

/// Room in the spool (DESIGN §4.5).
fn admit(shared: &Shared, spool: &mut Spool, new_triggers: usize) -> Result<(), IngestError> {
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
    if !over || closing_allowed {
        return Ok(());
    }
    shared.metrics.add(Counter::BatchesRefused, 1);
    let why = format!(
        "spool is {} bytes (max_size {}), {} bytes free (min_free {})",
        size,
        max,
        free.map_or("?".into(), |f| f.to_string()),
        cfg.min_free.0
    );
    warn!(%why, "Refusing a batch: the shim keeps it and retries.");
    Err(IngestError::Full(why))
}

/// Free bytes on the spool's filesystem, if it can be read.
pub fn free_space(db_path: &std::path::Path) -> Option<u64> {
    let dir = db_path.parent()?;
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// After the commit: count and log what was enqueued and decided, and wake delivery.
pub fn announce(shared: &Shared, effects: Effects) {
    let metrics = &shared.metrics;
    for d in &effects.batch.deliveries {
        match d.action {
            Action::Trigger => metrics.add(Counter::AlertsTrigger, 1),
            Action::Acknowledge => metrics.add(Counter::AlertsAcknowledge, 1),
            Action::Resolve => metrics.add(Counter::AlertsResolve, 1),
        }
        info!(resource = %d.resource, dedup_key = %d.dedup_key, action = %d.action, route = %d.route, "Enqueued.");
    }
    for note in effects.notes {
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
    if !effects.batch.deliveries.is_empty() {
        shared.delivery.add_routing_keys(
            effects
                .batch
                .deliveries
                .iter()
                .map(|d| d.routing_key.as_str()),
        );
        shared.wake.notify_one();
    }
}
