//! One test per rule of DESIGN §4.2 (and the payload of §4.3), fed with raw Broker events as
//! the shim posts them (JSON lines through `broker::normalise_line`), BBDO v2 and v3 alike
//! where the rule applies to statuses.
//!
//! BBDO v2 lines omit zero ids and times and carry `output` = `"first\nlong\n"`; BBDO v3 lines
//! carry every field, `long_output` separately (hosts: the long output in `output`, Engine's
//! quirk), and no `last_update`, `max_check_attempts` nor `notify` in statuses.
//!
//! Modules by topic: trigger, resolve, first_sight, host_first, downtime,
//! flapping_notifications, acknowledgement, replay, routing, payload, persistence, real_broker.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

#[path = "../support/mod.rs"]
mod support;

mod acknowledgement;
mod downtime;
mod first_sight;
mod flapping_notifications;
mod host_first;
mod payload;
mod persistence;
mod real_broker;
mod replay;
mod resolve;
mod routing;
mod trigger;
