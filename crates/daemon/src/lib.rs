//! The `centreon-pagerduty` daemon and its commands: configuration, ingest server, spool,
//! delivery to PagerDuty, operator commands. The only crate that does I/O; it wires the pure
//! crates (`broker`, `rules`, `pagerduty`) to the spool and the network.

pub mod cli;
pub mod config;
pub mod translate;
pub mod units;
