//! State shared by the ingest server, the delivery workers and the health task.

use crate::config::Loaded;
use crate::ingest::Ingest;
use spool::Spool;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
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

/// Why a routing key is not being sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PauseKind {
    /// 429: PagerDuty asked us to slow down.
    Throttled,
    /// PagerDuty refused the key or the endpoint: an operator must look.
    ConfigError(String),
}

/// Delivery state of one routing key.
#[derive(Debug, Clone)]
pub struct KeyState {
    pub route: String,
    pub paused_until_ms: i64,
    pub pause: Option<PauseKind>,
    /// Paused by an operator (`centreon-pagerduty pause ROUTE`) until resumed.
    pub operator_paused: bool,
    /// Consecutive 429s (for the doubling throttle).
    pub throttle_level: u32,
    /// Consecutive 400s that were not about the routing key.
    pub consecutive_400: u32,
    /// A single request is out to find out whether a paused key works again.
    pub probe_in_flight: bool,
    /// Counts the pauses begun (429 or configuration error). A request records it when it is
    /// sent: an answer to a request sent before the current pause began says nothing about that
    /// pause, so it neither lifts it nor doubles it (DESIGN §4.4).
    pub pause_epoch: u64,
    /// Nothing of this key is due before this time (ms), unless new work arrives.
    pub next_check_ms: i64,
    /// Token bucket.
    pub tokens: f64,
    pub tokens_at_ms: i64,
}

impl KeyState {
    pub fn new(route: &str, now_ms: i64) -> Self {
        Self {
            route: route.to_owned(),
            paused_until_ms: 0,
            pause: None,
            operator_paused: false,
            throttle_level: 0,
            consecutive_400: 0,
            next_check_ms: 0,
            probe_in_flight: false,
            pause_epoch: 0,
            tokens: BURST,
            tokens_at_ms: now_ms,
        }
    }

    /// Refill the token bucket and say how many requests may go now.
    pub fn available(&mut self, rate_per_minute: u32, now_ms: i64) -> usize {
        let elapsed = (now_ms - self.tokens_at_ms).max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * f64::from(rate_per_minute) / 60.0).min(BURST);
        self.tokens_at_ms = now_ms;
        self.tokens.floor().max(0.0) as usize
    }

    pub fn take_token(&mut self) {
        self.tokens -= 1.0;
    }

    /// A 429 answered a request sent at `sent_epoch`. The first 429 after the pause epoch the
    /// request saw begins a new pause, `pause` long, and doubles the next one; a 429 answering a
    /// request sent before the current pause began (several were in flight) only keeps that
    /// pause. Returns the end of the pause (ms).
    pub fn throttled(
        &mut self,
        sent_epoch: u64,
        now_ms: i64,
        pause: impl FnOnce(u32) -> Duration,
    ) -> i64 {
        if sent_epoch == self.pause_epoch || self.pause.is_none() {
            let pause = pause(self.throttle_level);
            self.throttle_level = self.throttle_level.saturating_add(1);
            self.begin_pause(PauseKind::Throttled, now_ms + pause.as_millis() as i64);
        }
        self.paused_until_ms
    }

    /// PagerDuty refused the key or the endpoint: pause until `until_ms` (the next probe).
    pub fn config_error(&mut self, message: &str, until_ms: i64) {
        self.begin_pause(PauseKind::ConfigError(message.to_owned()), until_ms);
    }

    fn begin_pause(&mut self, kind: PauseKind, until_ms: i64) {
        self.pause_epoch = self.pause_epoch.wrapping_add(1);
        self.pause = Some(kind);
        self.paused_until_ms = self.paused_until_ms.max(until_ms);
    }

    /// PagerDuty accepted a request sent at `sent_epoch`. Only a request sent after the current
    /// pause began (the probe) proves the key works again; true when that lifted a pause.
    pub fn delivered(&mut self, sent_epoch: u64) -> bool {
        if sent_epoch != self.pause_epoch {
            return false;
        }
        self.throttle_level = 0;
        self.consecutive_400 = 0;
        self.paused_until_ms = 0;
        self.pause.take().is_some()
    }

    /// An operator resumed the key: every pause ends now.
    pub fn resume(&mut self) {
        self.operator_paused = false;
        self.paused_until_ms = 0;
        self.pause = None;
        self.pause_epoch = self.pause_epoch.wrapping_add(1);
    }
}

/// The pause after a 429 (DESIGN §4.4): `min`, doubling with each consecutive 429 (`level`) up to
/// `max`; jitter (`jitter` in [0, 1)) only lengthens it, by up to 10 %.
pub fn throttle_pause(min: Duration, max: Duration, level: u32, jitter: f64) -> Duration {
    let base = (min.as_secs_f64() * 2f64.powi(level.min(30) as i32)).min(max.as_secs_f64());
    Duration::from_secs_f64(base * (1.0 + 0.1 * jitter.clamp(0.0, 1.0)))
}

/// Token bucket burst (DESIGN §3.2).
pub const BURST: f64 = 10.0;

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
    pub keys: Mutex<HashMap<String, KeyState>>,
    /// Routing keys that may have pending deliveries (a superset).
    pub routing_keys: Mutex<std::collections::BTreeSet<String>>,
    pub last_error: Mutex<Option<String>>,
    pub started_at: i64,
}

impl Shared {
    /// Remember routing keys that now have deliveries queued.
    pub fn add_routing_keys<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        if let Ok(mut set) = self.routing_keys.lock() {
            for k in keys {
                if !set.contains(k) {
                    set.insert(k.to_owned());
                }
            }
        }
    }

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
