//! What the rules tests share: raw Broker events as the shim posts them (BBDO v2 and v3), a
//! harness that runs them through the engine over a memory store, and the expected PagerDuty
//! events.
//!
//! Files: constants (time, resources, versions, states), neb (what every raw event shares),
//! check (check results), events (acknowledgements, downtimes, definitions, adaptive events),
//! harness (the engine over a memory store), expected (what PagerDuty should hear), routes
//! (routing settings), all re-exported here.
#![allow(dead_code, unused_imports, unreachable_pub)]

mod check;
mod constants;
mod events;
mod expected;
mod harness;
mod neb;
mod routes;

pub use broker::{normalise_line, Normalised, ResourceId};
pub use pagerduty::{Action, Severity};
pub use rules::engine::Note;
pub use rules::settings::{
    anchored_regex, AcknowledgedProblems, Criteria, InDowntime, Route, Target,
};
pub use rules::template::Template;
pub use rules::{Engine, HoldReason, MemoryStore, Outcome, Settings};
pub use serde_json::{json, Value};

pub use check::{host, svc, Check};
pub use constants::{
    BOTH, CRITICAL, DOWN, HOST, HOST_NAME, OK, PENDING, SVC, SVC_NAME, T0, UNKNOWN, UNREACHABLE,
    UP, V, V2, V3, WARNING,
};
pub use events::{
    ack_deleted, ack_event, adaptive_definition, adaptive_status, definition, depth_now, downtime,
    Phase,
};
pub use expected::{ack, payload, res, sent, the_trigger, trig, H, S};
pub use harness::{known_ok, open_incident, Harness};
pub use neb::{cache, host_name, neb, svc_name, v2_omit_zero};
pub use routes::{route, routed_settings, KEY_DEFAULT, KEY_WEB};
