//! The `centreon-pagerduty` daemon and its commands: configuration, ingest server, spool,
//! delivery to PagerDuty, operator commands. The only crate that does I/O; it wires the pure
//! crates (`broker`, `rules`, `pagerduty`) to the spool and the network.

pub mod cli;
pub mod commands;
pub mod config;
pub mod delivery;
pub mod ingest;
pub mod inject;
pub mod logging;
pub mod ops;
pub mod run;
pub mod server;
pub mod shared;
pub mod state_cache;
pub mod status;
pub mod translate;
pub mod units;
