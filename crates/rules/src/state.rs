//! The state kept per resource: a plain serde value with a version, persisted by the daemon
//! in the same transaction as the deliveries it produced.
//!
//! Invariants:
//! - `incident` is `Some` exactly while PagerDuty has (or will have, once the queue drains) an
//!   open incident for the resource; its dedup and routing keys are pinned until it resolves;
//! - `owed` is true while a trigger is due for the current problem but not sent yet (held by a
//!   downtime, an acknowledgement, disabled notifications, flapping or the host being down);
//!   it implies that the effective state is a paging state;
//! - `recent` holds fingerprints of the last [`REPLAY_WINDOW`] full statuses applied, so that a
//!   replay of them is recognised and ignored;
//! - `downtimes` and `ended_downtimes` hold downtime keys (id, entry_time, start_time hashed:
//!   `engine::downtime_key`), never bare ids, which Engine reuses; `ended_downtimes` holds the
//!   last [`REPLAY_WINDOW`] downtimes that ended: a downtime never starts again, so a replayed
//!   start is ignored;
//! - `patches` holds fingerprints of the last [`REPLAY_WINDOW`] patch events applied:
//!   acknowledgement events by their content (their times make them unique), adaptive statuses
//!   (which carry no time) by their content combined with `anchor`, the last timed event seen
//!   before them (a full status or an acknowledgement event, applied or replayed). Broker
//!   replays a suffix of its stream in order, so during a replay the anchor is again the event
//!   that preceded the adaptive status the first time, and it is recognised; the same content
//!   after a newer event is a new one. The windows are stored with every applied event, so
//!   that they survive restarts.
//! - after a resync (DESIGN §4.7), `stale_before` is the middle of the gap on the resources'
//!   clocks: until `stale_until`, a timed event older than it is from before the failover (this
//!   node's Broker retention, replayed ahead of the live stream) and is history; `maybe_open`
//!   says that another node may have opened an incident this state does not know of, so that a
//!   recovery seen resolves it.

use broker::{Context, StateCode};
use serde::{Deserialize, Serialize};

mod eq;

/// Version of the serialised [`ResourceState`]; bump with a migration in `from_json`.
/// 2: the fingerprint windows packed in base64, fields at their default left out (a state of
/// about 1 KB became about 500 bytes); version 1 is read as it is.
pub const STATE_VERSION: u32 = 2;

/// How many recent full statuses are remembered to recognise replays (DESIGN §4.2).
pub const REPLAY_WINDOW: usize = 32;

/// A resync's gap (DESIGN §4.7), in daemon seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// Between the last ingest before the gap and the start after it.
    pub middle: i64,
    /// Events from before the gap are recognised until then: Broker replays its retention
    /// first, at the start.
    pub until: i64,
    /// The usual (lower tenth) of the resources' [`ResourceState::clock_lead`] before the gap, if
    /// known.
    pub clock_lead: Option<i64>,
}

/// An open incident, pinned when it opened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub dedup_key: String,
    pub route: String,
    /// The routing key it was opened with (`None`: dry-run without a key).
    pub routing_key: Option<String>,
    /// Check time of the status that opened it.
    pub opened_check: i64,
    /// Daemon time it opened.
    pub opened_at: i64,
    /// The problem state last sent as a trigger.
    pub state: StateCode,
    pub acked: bool,
    /// Daemon time of the last trigger sent.
    pub last_trigger_at: i64,
}

/// A Centreon acknowledgement in effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub sticky: bool,
    /// The state it acknowledged.
    pub state: Option<StateCode>,
    /// `entry_time` of the acknowledgement event; `None` when only a status showed it.
    pub entry_time: Option<i64>,
    /// A status (full or adaptive) showed it: it applies to whatever is open now.
    pub from_status: bool,
}

/// What a trigger is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    Disabled,
    HostDown,
    Downtime,
    Flapping,
    NotificationsDisabled,
    Acknowledged,
}

impl HoldReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldReason::Disabled => "resource disabled",
            HoldReason::HostDown => "host down or in downtime",
            HoldReason::Downtime => "in downtime",
            HoldReason::Flapping => "flapping",
            HoldReason::NotificationsDisabled => "notifications disabled",
            HoldReason::Acknowledged => "already acknowledged",
        }
    }
}

/// What a trigger says about the problem: kept while a trigger is owed, so that a trigger
/// released by a later non-status event (a downtime ending) still carries the check's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub state: StateCode,
    pub hard: bool,
    pub attempt: Option<i64>,
    pub max_attempts: Option<i64>,
    pub check_time: Option<i64>,
    pub output: String,
    pub long_output: String,
    pub perfdata: String,
    pub context: Context,
}

/// Everything remembered about one resource.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceState {
    pub v: u32,
    /// A status has been seen (a pending one counts): the next one is not a first sight.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub known: bool,
    /// Last HARD state (`None` until known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hard_state: Option<StateCode>,
    /// Check time of the status that entered `hard_state`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hard_since: Option<i64>,
    /// Last state seen, SOFT or HARD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<StateCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<Incident>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub owed: bool,
    /// Why the owed trigger is held (for logging transitions once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<HoldReason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack: Option<Ack>,
    /// `scheduled_downtime_depth` of the last full or adaptive status.
    #[serde(skip_serializing_if = "is_zero")]
    pub downtime_depth: i64,
    /// Keys of the started downtimes seen in downtime events, until a status shows the
    /// resource out of downtime.
    #[serde(skip_serializing_if = "Vec::is_empty", with = "crate::packed")]
    pub downtimes: Vec<u64>,
    /// In downtime, per the most recent of the two sources above.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub in_downtime: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub flapping: bool,
    #[serde(skip_serializing_if = "is_true")]
    pub notify: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub volatile: bool,
    #[serde(skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// Boxed: most resources have none, and a state is moved in and out of the cache with
    /// every event (696 bytes with it inline, 376 boxed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Box<Problem>>,
    /// `last_check` of the last full status applied (clock-skew detection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_check: Option<i64>,
    /// Fingerprints of the last full statuses applied, newest last.
    #[serde(skip_serializing_if = "Vec::is_empty", with = "crate::packed")]
    pub recent: Vec<u64>,
    /// Fingerprint of the last full status seen, applied or recognised as a replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<u64>,
    /// Fingerprints of the last patch events applied, each combined with its anchor.
    #[serde(skip_serializing_if = "Vec::is_empty", with = "crate::packed")]
    pub patches: Vec<u64>,
    /// Keys of the last downtimes that ended: a replay of their start changes nothing.
    #[serde(skip_serializing_if = "Vec::is_empty", with = "crate::packed")]
    pub ended_downtimes: Vec<u64>,
    /// Daemon time (s) the last full status was applied: with `last_check`, where the
    /// resource's clock stands against the daemon's ([`ResourceState::clock_lead`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_at: Option<i64>,
    /// After a resync: timed events older than this (the resource's clock) are history...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_before: Option<i64>,
    /// ... until this daemon time (s), by which Broker has replayed its retention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_until: Option<i64>,
    /// After a resync: PagerDuty may hold an incident for the resource that another node
    /// opened; a recovery seen sends a resolve. Cleared once the state says what PagerDuty holds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub maybe_open: bool,
    /// After a resync: the `last_hard_state_change` of a HARD problem that a status from
    /// before the gap (this node's Broker retention) showed unacknowledged. If the first status
    /// after the gap shows that same HARD problem acknowledged, the acknowledgement came after
    /// it became HARD: it is triggered, then acknowledged, as a node that saw it would have done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retained_unacked_hard: Option<i64>,
}

impl Default for ResourceState {
    fn default() -> Self {
        Self {
            v: STATE_VERSION,
            known: false,
            hard_state: None,
            hard_since: None,
            state: None,
            incident: None,
            owed: false,
            held: None,
            ack: None,
            downtime_depth: 0,
            downtimes: Vec::new(),
            in_downtime: false,
            flapping: false,
            notify: true,
            volatile: false,
            enabled: true,
            problem: None,
            last_check: None,
            recent: Vec::new(),
            anchor: None,
            patches: Vec::new(),
            ended_downtimes: Vec::new(),
            seen_at: None,
            stale_before: None,
            stale_until: None,
            maybe_open: false,
            retained_unacked_hard: None,
        }
    }
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

fn is_true(v: &bool) -> bool {
    *v
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("resource state version {found} is newer than this binary's {supported}")]
    TooNew { found: u32, supported: u32 },
    #[error("damaged resource state: {0}")]
    Damaged(#[from] serde_json::Error),
}

impl ResourceState {
    pub fn to_json(&self) -> String {
        // Serialising a plain struct of strings, numbers and vectors cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(s: &str) -> Result<Self, StateError> {
        #[derive(Deserialize)]
        struct Version {
            v: u32,
        }
        let too_new = |found| StateError::TooNew {
            found,
            supported: STATE_VERSION,
        };
        match serde_json::from_str::<ResourceState>(s) {
            Ok(st) if st.v > STATE_VERSION => Err(too_new(st.v)),
            // Read in this version's terms: written back as this version.
            Ok(st) => Ok(ResourceState {
                v: STATE_VERSION,
                ..st
            }),
            // A newer version may not parse as this one: say it is newer, not damaged.
            Err(e) => match serde_json::from_str::<Version>(s) {
                Ok(Version { v }) if v > STATE_VERSION => Err(too_new(v)),
                _ => Err(e.into()),
            },
        }
    }

    /// The rule state is unknown (DESIGN §4.7, a spool idle longer than `[ha] resync_after`):
    /// only the pinned incident is kept, so that a problem still present pages into it and a
    /// recovery resolves it; the next status is a first sight.
    ///
    /// What this node's Broker had not handed over when the cluster moved (checked before the
    /// failover, so before the gap's middle for any gap longer than twice the failover) is
    /// replayed ahead of the live stream (checked after the gap). On the resources' clocks, the
    /// middle is `gap.middle - gap.clock_lead`. The lead is the lower tenth over many resources, not
    /// the resource's own: Engine sends statuses that carry an older check time (after an
    /// acknowledgement, a downtime, a restart), so one resource's last lead may be minutes
    /// off. Without a lead (states written before it was recorded), the last check known.
    ///
    /// Without a pinned incident, the other node may have opened one meanwhile: `maybe_open`.
    pub fn resynced(self, gap: Gap) -> ResourceState {
        ResourceState {
            maybe_open: self.incident.is_none(),
            incident: self.incident,
            stale_before: gap
                .clock_lead
                .map(|lead| gap.middle - lead)
                .or(self.last_check),
            stale_until: Some(gap.until),
            ..ResourceState::default()
        }
    }

    /// A resource first seen soon after a resync (its first events may be this node's Broker
    /// retention too): the gap's middle on the usual clock of the resources, when known.
    pub fn first_seen_after(gap: Gap) -> Option<ResourceState> {
        let lead = gap.clock_lead?;
        Some(ResourceState {
            maybe_open: true,
            stale_before: Some(gap.middle - lead),
            stale_until: Some(gap.until),
            ..ResourceState::default()
        })
    }

    /// A resource first seen while PagerDuty may hold incidents this node does not know of
    /// (a node of a cluster, or after a resync): a recovery of a problem it does not page
    /// resolves whatever the other node may have opened.
    pub fn first_seen_maybe_open() -> ResourceState {
        ResourceState {
            maybe_open: true,
            ..ResourceState::default()
        }
    }

    /// How far the daemon's clock was ahead of the resource's when its last status was applied.
    pub fn clock_lead(&self) -> Option<i64> {
        Some(self.seen_at? - self.last_check?)
    }

    /// After a resync, at daemon time `now`: an event of this time (the resource's clock) is
    /// from before the gap.
    pub fn before_gap(&self, event_time: Option<i64>, now: i64) -> bool {
        self.stale_until.is_none_or(|until| now < until)
            && matches!((self.stale_before, event_time), (Some(cut), Some(t)) if t < cut)
    }

    /// Remember a full status; true when it was already among the recent ones (a replay).
    /// Either way it becomes the anchor of the patch events that follow it.
    pub fn remember(&mut self, fingerprint: u64) -> bool {
        self.anchor = Some(fingerprint);
        remember_in(&mut self.recent, fingerprint)
    }

    /// Remember an event that carries its own time (an acknowledgement event), identified by
    /// `content`; true when it was already remembered (a replay). Either way it becomes the
    /// anchor of the patch events that follow it.
    pub fn remember_timed_patch(&mut self, content: u64) -> bool {
        self.anchor = Some(content);
        remember_in(&mut self.patches, content)
    }

    /// Remember a patch event without a time of its own (an adaptive status), identified by
    /// `content`, after the current anchor; true when it was already remembered after that
    /// anchor (a replay).
    pub fn remember_patch(&mut self, content: u64) -> bool {
        let key = Fnv::default()
            .int(self.anchor.map(|a| a as i64))
            .int(Some(content as i64))
            .finish();
        remember_in(&mut self.patches, key)
    }

    /// Remember a downtime that ended, by its key.
    pub fn remember_ended_downtime(&mut self, key: u64) {
        remember_in(&mut self.ended_downtimes, key);
    }
}

fn remember_in(window: &mut Vec<u64>, fingerprint: u64) -> bool {
    if window.contains(&fingerprint) {
        return true;
    }
    if window.len() >= REPLAY_WINDOW {
        window.remove(0);
    }
    window.push(fingerprint);
    false
}

/// A stable 64-bit FNV-1a hash, for fingerprints that survive upgrades of the toolchain.
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn write(&mut self, bytes: &[u8]) -> &mut Self {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        self
    }
    pub fn int(&mut self, v: Option<i64>) -> &mut Self {
        match v {
            Some(v) => self.write(&[1]).write(&v.to_le_bytes()),
            None => self.write(&[0]),
        }
    }
    pub fn finish(&self) -> u64 {
        self.0
    }
}
