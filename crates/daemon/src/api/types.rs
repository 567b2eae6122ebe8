//! The socket API's contract (DESIGN §3.4): every request and answer body, Serialize and
//! Deserialize, used by the server and by the command-line client alike, and the protocol's
//! limits. It imports nothing of the daemon's roles, so that every role may use it.

use serde::{Deserialize, Serialize};
use spool::{DeadLetter, QueueStats};

/// A line longer than this is rejected like a malformed one.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// A body longer than this is refused with 413.
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// `POST /v1/events`: what became of the batch's lines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub accepted: u64,
    pub ignored: u64,
    pub rejected: u64,
}

impl Reply {
    pub fn add(&mut self, other: Reply) {
        self.accepted += other.accepted;
        self.ignored += other.ignored;
        self.rejected += other.rejected;
    }
}

/// A paused routing key, masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PausedKey {
    pub route: String,
    pub routing_key: String,
    pub reason: String,
    pub until_ms: i64,
}

/// `GET /v1/status`, and `status --json` (from the daemon, or from the spool read-only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    #[serde(default)]
    pub dry_run: bool,
    pub pending: i64,
    pub keys: i64,
    pub oldest_pending_age_seconds: Option<i64>,
    pub dead_letters: i64,
    pub rejected_lines: i64,
    pub paused: Vec<PausedKey>,
    pub last_error: Option<String>,
    pub last_event_age_seconds: Option<i64>,
    #[serde(default)]
    pub collapsed: u64,
    pub spool_bytes: u64,
    /// Daemon time (ms) of the last start on a spool idle longer than `[ha] resync_after`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_resync_ms: Option<i64>,
    /// PagerDuty's state is unknown for the dedup keys not delivered since this daemon time
    /// (ms), 1 meaning since ever (`[ha] cluster = true`): a collapsed episode of such a key
    /// keeps its resolve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagerduty_unknown_since_ms: Option<i64>,
    /// The spool was found damaged and set aside, and no operator has acknowledged it yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spool_damage: Option<spool::Damage>,
    /// The PagerDuty → Centreon acknowledgement sync (DESIGN §4.6), when `[sync]` is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncView>,
    /// Set when the status was read from the spool because the daemon did not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_error: Option<String>,
}

impl Status {
    /// What the spool alone says; the daemon adds what it knows in memory.
    pub fn of_spool(stats: &QueueStats, spool_bytes: u64, now_ms: i64) -> Status {
        Status {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            dry_run: false,
            pending: stats.pending,
            keys: stats.keys,
            oldest_pending_age_seconds: stats
                .oldest_ingested_at_ms
                .map(|t| ((now_ms - t) / 1000).max(0)),
            dead_letters: stats.dead_letters,
            rejected_lines: stats.rejected,
            paused: Vec::new(),
            last_error: None,
            last_event_age_seconds: None,
            collapsed: 0,
            spool_bytes,
            last_resync_ms: stats.last_resync_ms,
            pagerduty_unknown_since_ms: stats.pagerduty_unknown_since_ms,
            spool_damage: None,
            sync: None,
            daemon: None,
            daemon_error: None,
        }
    }
}

/// The acknowledgement sync, in `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncView {
    /// `poll`, or `poll+webhook`.
    pub mode: String,
    /// Daemon time (ms) of the last listing of PagerDuty's incidents that succeeded.
    pub last_poll_ms: Option<i64>,
    /// The last failure, with its daemon time (ms).
    pub last_error: Option<String>,
    pub last_error_ms: Option<i64>,
    /// Why it is paused (a configuration error), if it is.
    pub paused: Option<String>,
    /// Acknowledgements set in Centreon, over the spool's life.
    pub mirrored: u64,
    /// Refused by Centreon for good.
    pub refused: u64,
    /// Still to set.
    pub pending: u64,
    pub oldest_pending_age_seconds: Option<i64>,
}

/// `POST /v1/resolve`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct ResolveRequest {
    #[serde(default)]
    pub dedup_keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_seconds: Option<i64>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct ResolveReply {
    pub resolved: Vec<String>,
    pub unknown: Vec<String>,
}

/// `POST /v1/pause`, `POST /v1/resume`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouteRequest {
    pub route: String,
}

/// `POST /v1/dead-letters/retry`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct RetryRequest {
    pub id: Option<i64>,
    #[serde(default)]
    pub all: bool,
    #[serde(default)]
    pub force: bool,
}

/// A dead letter as operators see it: the event masked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterView {
    pub id: i64,
    pub dedup_key: String,
    pub route: String,
    pub action: String,
    pub resource: String,
    pub reason: String,
    pub ingested_at_ms: i64,
    pub failed_at_ms: i64,
    /// The PagerDuty event, routing key masked (null if it cannot be read).
    pub event: serde_json::Value,
}

impl From<&DeadLetter> for DeadLetterView {
    fn from(d: &DeadLetter) -> Self {
        let event = serde_json::from_str::<pagerduty::Event>(&d.body)
            .ok()
            .and_then(|e| serde_json::from_str(&e.to_masked_json()).ok())
            .unwrap_or(serde_json::Value::Null);
        DeadLetterView {
            id: d.id,
            dedup_key: d.dedup_key.clone(),
            route: d.route.clone(),
            action: d.action.as_str().to_owned(),
            resource: d.resource.clone(),
            reason: d.reason.clone(),
            ingested_at_ms: d.ingested_at_ms,
            failed_at_ms: d.failed_at_ms,
            event,
        }
    }
}
