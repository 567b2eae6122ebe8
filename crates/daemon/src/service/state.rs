//! State shared by the ingest server, the delivery workers and the health task.

use crate::config::Loaded;
use crate::service::delivery::DeliveryState;
use crate::service::ingest::Ingest;
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
}

impl Shared {
    pub fn set_last_error(&self, e: String) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(e);
        }
    }
}

/// The daemon's time, in milliseconds since the epoch: the wall clock read once, when first
/// asked, then advanced by the monotonic clock (DESIGN §4.5). Due times, backoffs, pauses,
/// pacing and the ages of queued events are computed on it, so a step of the wall clock while
/// the daemon runs — forward or back, by hours — neither freezes delivery nor makes every
/// event old at once. Each start re-reads the wall clock (and clamps due times stored by the
/// previous run: `Spool::clamp_due_times`). Event times come from Centreon, not from here.
pub fn now_ms() -> i64 {
    static ANCHOR: std::sync::OnceLock<(i64, std::time::Instant)> = std::sync::OnceLock::new();
    let (wall, at) = ANCHOR.get_or_init(|| {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        (wall, std::time::Instant::now())
    });
    wall.saturating_add(at.elapsed().as_millis() as i64)
}
