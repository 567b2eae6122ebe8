//! End-to-end: the operator commands (DESIGN §3.3, §3.1, §4.5) run as separate processes against
//! a running `centreon-pagerduty run` and a mock PagerDuty on loopback. Every check looks at the
//! output AND the exit code: 0 ok, 1 failure, 2 usage or configuration error; `status --nagios`
//! 0/1/2/3.
//!
//! Modules: helpers (shared helpers); check_config, send_test, status, incidents, pause,
//! dead_letters, socket (the commands).

#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;

mod check_config;
mod dead_letters;
mod helpers;
mod incidents;
mod pause;
mod send_test;
mod socket;
mod status;
