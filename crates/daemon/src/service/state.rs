//! State shared by the ingest server, the delivery workers and the health task.

use crate::config::Loaded;
use crate::service::delivery::state::DeliveryState;
use crate::service::store::Ingest;
use spool::Spool;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use tokio::sync::Notify;

pub(crate) use super::telemetry::{Counter, Metrics};

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
    /// Bumped each time the spool's files are replaced (damage set aside, connections
    /// reopened): a failure seen on an older epoch was already handled.
    pub spool_epoch: AtomicU64,
    /// The PagerDuty → Centreon acknowledgement sync, as `status` shows it.
    pub sync: super::sync::SyncStatus,
}

impl Shared {
    pub fn set_last_error(&self, e: String) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(e);
        }
    }
}

pub(crate) use super::clock::now_ms;
