//! End-to-end: raw Broker events in over the Unix socket, PagerDuty events out to a mock PagerDuty,
//! through the real `centreon-pagerduty run` (DESIGN §3.4, §4.3, §4.4).
//!
//! Modules: helpers (shared helpers); fixtures, answers, sigterm, collapsed_episodes, ha.

#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;

mod answers;
mod collapsed_episodes;
mod fixtures;
mod ha;
mod helpers;
mod sigterm;
