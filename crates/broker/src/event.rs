//! The normalised model: what the rules see, whatever the BBDO version.
//!
//! Invariants:
//! - a [`ResourceId`] always has a non-zero `host_id`; `service_id == 0` means the host itself;
//! - timestamps are `Some` only when strictly positive (BBDO v2 omits zero times, BBDO v3 sends
//!   0 or -1 for unset ones: all read as `None`);
//! - `output` is the first line of the plugin output and `long_output` the rest, whatever the
//!   BBDO version and the v3 host quirk that puts the long output in `output`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A Centreon host (`service_id == 0`) or service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResourceId {
    pub host_id: u64,
    pub service_id: u64,
}

impl ResourceId {
    pub fn host(host_id: u64) -> Self {
        Self {
            host_id,
            service_id: 0,
        }
    }
    pub fn service(host_id: u64, service_id: u64) -> Self {
        Self {
            host_id,
            service_id,
        }
    }
    pub fn is_host(&self) -> bool {
        self.service_id == 0
    }
    /// The resource's host.
    pub fn host_resource(&self) -> Self {
        Self::host(self.host_id)
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_host() {
            write!(f, "host #{}", self.host_id)
        } else {
            write!(f, "service #{} of host #{}", self.service_id, self.host_id)
        }
    }
}

/// Which BBDO version an event came in (by its element id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Bbdo {
    V2,
    V3,
}

/// Centreon state numbers: hosts 0 UP, 1 DOWN, 2 UNREACHABLE; services 0 OK, 1 WARNING,
/// 2 CRITICAL, 3 UNKNOWN; 4 PENDING (never checked) for both.
pub type StateCode = u8;
pub const PENDING: StateCode = 4;

/// Centreon's name of a state of a host or service.
pub fn state_name(is_host: bool, state: StateCode) -> &'static str {
    match (is_host, state) {
        (true, 0) => "UP",
        (true, 1) => "DOWN",
        (true, 2) => "UNREACHABLE",
        (false, 0) => "OK",
        (false, 1) => "WARNING",
        (false, 2) => "CRITICAL",
        (false, 3) => "UNKNOWN",
        (_, 4) => "PENDING",
        _ => "UNKNOWN",
    }
}

/// Parse a state name (`DOWN`, `critical`, …) for the given kind of resource.
pub fn state_from_name(is_host: bool, name: &str) -> Option<StateCode> {
    (0..=PENDING).find(|&s| state_name(is_host, s).eq_ignore_ascii_case(name.trim()))
}

/// What the shim's `_cache` said about the resource (names, groups, severities, links).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    pub host_name: Option<String>,
    pub service_description: Option<String>,
    pub hostgroups: Vec<String>,
    pub servicegroups: Vec<String>,
    pub host_severity: Option<i64>,
    pub service_severity: Option<i64>,
    pub notes_url: Option<String>,
    pub action_url: Option<String>,
    pub poller: Option<String>,
}

/// Acknowledgement of a status: 0 none, 1 normal, 2 sticky.
pub type AckType = u8;

/// A full host or service status (elements 14, 24, 32, 29).
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub resource: ResourceId,
    pub bbdo: Bbdo,
    pub state: StateCode,
    pub hard: bool,
    /// Last HARD state as Engine reports it (used when a resource is first seen SOFT).
    pub last_hard_state: Option<StateCode>,
    pub attempt: Option<i64>,
    pub max_attempts: Option<i64>,
    pub last_check: Option<i64>,
    pub last_update: Option<i64>,
    pub last_hard_state_change: Option<i64>,
    pub output: String,
    pub long_output: String,
    pub perfdata: String,
    /// `None` when the event carries no acknowledgement information.
    pub ack: Option<AckType>,
    pub downtime_depth: Option<i64>,
    pub flapping: Option<bool>,
    /// Notifications enabled: from the status (BBDO v2), else from the shim's `_cache`
    /// (`broker_cache`, for BBDO v3 statuses, which carry none).
    pub notify: Option<bool>,
    /// Meta-service (v3 `type` 2).
    pub meta_service: bool,
    pub context: Context,
}

impl Status {
    /// Event time (DESIGN §4.1): `last_check` if > 0, else `last_update` if > 0, else `None`
    /// (the caller uses its receive time).
    pub fn event_time(&self) -> Option<i64> {
        self.last_check.or(self.last_update)
    }
}

/// An adaptive status (elements 55, 56): a patch, never a state.
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptiveStatus {
    pub resource: ResourceId,
    pub downtime_depth: Option<i64>,
    pub ack: Option<AckType>,
    pub notification_number: Option<i64>,
    pub context: Context,
}

/// An acknowledgement event (elements 1, 45).
#[derive(Debug, Clone, PartialEq)]
pub struct Acknowledgement {
    pub resource: ResourceId,
    pub entry_time: Option<i64>,
    /// Set when the acknowledgement was removed.
    pub deletion_time: Option<i64>,
    pub sticky: bool,
    pub state: Option<StateCode>,
    pub context: Context,
}

/// Where a downtime is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DowntimePhase {
    /// Scheduled (or a flexible downtime waiting for its trigger): no effect yet.
    Scheduled,
    /// In effect.
    Started,
    /// Ended, cancelled or deleted.
    Ended,
}

/// A downtime event (elements 5, 36).
///
/// Engine renumbers downtimes from its scheduled ones at each start, so an id comes back for
/// another downtime: a downtime is identified by (`id`, `entry_time`, `start_time`).
#[derive(Debug, Clone, PartialEq)]
pub struct Downtime {
    pub resource: ResourceId,
    pub id: u64,
    pub entry_time: Option<i64>,
    pub start_time: Option<i64>,
    pub phase: DowntimePhase,
    pub context: Context,
}

/// A host or service definition, full (12, 23, 30, 27) or adaptive (31, 28).
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub resource: ResourceId,
    pub adaptive: bool,
    pub host_name: Option<String>,
    pub service_description: Option<String>,
    pub enabled: Option<bool>,
    pub notify: Option<bool>,
    pub volatile: Option<bool>,
    pub max_attempts: Option<i64>,
    /// Engine never checked the resource (`state` 4 or `checked` false): it is known, and
    /// pending. Real Engine sends no pending status, only this definition.
    pub never_checked: bool,
    pub context: Context,
}

/// One normalised event.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Status(Status),
    AdaptiveStatus(AdaptiveStatus),
    Acknowledgement(Acknowledgement),
    Downtime(Downtime),
    Definition(Definition),
}

impl Event {
    pub fn resource(&self) -> ResourceId {
        match self {
            Event::Status(e) => e.resource,
            Event::AdaptiveStatus(e) => e.resource,
            Event::Acknowledgement(e) => e.resource,
            Event::Downtime(e) => e.resource,
            Event::Definition(e) => e.resource,
        }
    }
    pub fn context(&self) -> &Context {
        match self {
            Event::Status(e) => &e.context,
            Event::AdaptiveStatus(e) => &e.context,
            Event::Acknowledgement(e) => &e.context,
            Event::Downtime(e) => &e.context,
            Event::Definition(e) => &e.context,
        }
    }
}
