//! The per-resource state machine of DESIGN §4.2.
//!
//! Every event updates what is known about its resource (states, acknowledgement, downtime,
//! flapping, notifications), then `Engine::reconcile` compares that with what PagerDuty was
//! told and emits what is missing. Time is an argument (`now`, daemon seconds). Nothing here
//! does I/O: states come from and go to a [`Store`], which learns which resources changed in a
//! way that must be persisted.
//!
//! One role per file:
//! - `events`: how each kind of event updates a resource's state (statuses, adaptive statuses,
//!   acknowledgements, downtimes, definitions); it decides nothing about PagerDuty;
//! - `reconcile`: what PagerDuty must hear given that state (trigger, hold, release, resolve,
//!   acknowledge), pinned routing and names; it never reads an event's raw fields;
//! - `decide`: the rules of §4.2 as pure predicates ([`first_sight`], [`trigger_is_owed`],
//!   [`ack_ended_by_state_change`], [`ack_applies`]), unit-testable alone;
//! - `operator`: what operators' commands do to a resource (`resolve`);
//! - `replay`: the identities of statuses and downtimes ([`fingerprint`], [`downtime_key`])
//!   and the take/put of a resource's state around one event, which decides what is stored.

mod decide;
mod events;
mod operator;
mod reconcile;
mod replay;

pub use decide::{
    ack_applies, ack_ended_by_state_change, first_sight, trigger_is_owed, FirstSight,
};
pub use replay::{downtime_key, fingerprint};

use crate::payload::Names;
use crate::settings::Settings;
use crate::state::HoldReason;
use crate::store::Store;
use broker::{Event, ResourceId};
use pagerduty::Action;

/// One event for PagerDuty, ready to be queued.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub resource: ResourceId,
    pub names: Names,
    pub route: String,
    /// `None`: no routing key configured (dry-run).
    pub routing_key: Option<String>,
    pub dedup_key: String,
    pub action: Action,
    /// The event, as the spool stores it: the JSON of a [`pagerduty::Event`] (see
    /// [`Outgoing::event`]), its `routing_key` empty when `routing_key` is `None`. Written
    /// from the rules' state without building the event first.
    pub body: String,
    /// Centreon's time of the status behind it (§4.1).
    pub event_time: i64,
}

impl Outgoing {
    /// The event the body holds.
    pub fn event(&self) -> Result<pagerduty::Event, serde_json::Error> {
        serde_json::from_str(&self.body)
    }
}

/// A decision worth an info log line, besides the events sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    /// A trigger is held.
    Held {
        resource: ResourceId,
        names: Names,
        reason: HoldReason,
    },
    /// A held trigger was released.
    Released {
        resource: ResourceId,
        names: Names,
        was: HoldReason,
    },
    /// The route says to send nothing.
    Dropped {
        resource: ResourceId,
        names: Names,
        route: String,
    },
}

/// What one event did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outcome {
    pub outgoing: Vec<Outgoing>,
    pub notes: Vec<Note>,
    /// A replay of a recent status: ignored.
    pub replay: bool,
    /// A status older than the last one applied to its resource (poller clock stepped back).
    pub clock_skew: bool,
    /// After a resync, an event from before the gap (DESIGN §4.7): ignored.
    pub before_gap: bool,
}

/// The rules, with their settings.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    pub settings: Settings,
}

/// What `reconcile` needs to know about the event that led to it.
#[derive(Debug, Clone, Copy, Default)]
struct Trigger {
    /// The host of a service is HARD DOWN/UNREACHABLE or in downtime.
    host_blocks: bool,
    /// The resource entered a downtime with this event.
    entered_downtime: bool,
    /// A non-sticky acknowledgement ended because the problem changed state.
    ack_lost: bool,
    /// The event is a status of the resource that may page: HARD (or any, without
    /// `hard_only`). Only such a status releases a trigger held for its host.
    paging_status: bool,
    /// The first status after a resync shows acknowledged a HARD problem that this node's
    /// Broker retention showed unacknowledged: the acknowledgement does not hold its trigger.
    ack_came_later: bool,
}

impl Engine {
    pub fn new(settings: Settings) -> Self {
        Self { settings }
    }

    /// Apply one event at daemon time `now`.
    pub fn apply(&self, store: &mut impl Store, event: &Event, now: i64) -> Outcome {
        let mut out = Outcome::default();
        match event {
            Event::Status(s) => self.apply_status(store, s, now, &mut out),
            Event::AdaptiveStatus(a) => self.apply_adaptive(store, a, now, &mut out),
            Event::Acknowledgement(a) => self.apply_acknowledgement(store, a, now, &mut out),
            Event::Downtime(d) => self.apply_downtime(store, d, now, &mut out),
            Event::Definition(d) => self.apply_definition(store, d, now, &mut out),
        }
        out
    }
}
