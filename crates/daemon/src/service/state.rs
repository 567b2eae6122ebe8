//! State shared by the ingest server, the delivery workers and the health task.

use crate::config::Loaded;
use crate::service::delivery::DeliveryState;
use crate::service::ingest::Ingest;
use spool::Spool;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use tokio::sync::Notify;

/// Counters exported as metrics (DESIGN §4.5).
#[derive(Default)]
pub struct Metrics {
    pub events_received: AtomicU64,
    pub events_accepted: AtomicU64,
    pub events_ignored: AtomicU64,
    pub events_rejected: AtomicU64,
    pub rejected_alert_events: AtomicU64,
    pub alerts_trigger: AtomicU64,
    pub alerts_acknowledge: AtomicU64,
    pub alerts_resolve: AtomicU64,
    pub deliveries_delivered: AtomicU64,
    pub deliveries_retried: AtomicU64,
    pub deliveries_throttled: AtomicU64,
    pub deliveries_dead_lettered: AtomicU64,
    pub deliveries_config_error: AtomicU64,
    pub collapsed: AtomicU64,
    pub clock_skew: AtomicU64,
    pub batches_refused: AtomicU64,
    /// Daemon time (s) of the last event received.
    pub last_event_at: AtomicI64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

pub struct Shared {
    pub loaded: Loaded,
    pub spool: Mutex<Spool>,
    /// A second connection for the dispatcher's reads: in WAL mode they never wait for a
    /// commit (an fsync) of the writer above.
    pub reader: Mutex<Spool>,
    pub ingest: Mutex<Ingest>,
    pub metrics: Metrics,
    /// New deliveries were queued, or a key was released.
    pub wake: Notify,
    /// The routing keys' delivery state: pauses, probes, pacing, dedup keys in flight.
    pub delivery: DeliveryState,
    pub last_error: Mutex<Option<String>>,
}

impl Shared {
    pub fn set_last_error(&self, e: String) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(e);
        }
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
