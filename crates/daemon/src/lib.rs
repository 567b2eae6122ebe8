//! The `centreon-pagerduty` daemon and its commands. The only crate that does I/O; it wires the
//! pure crates (`broker`, `rules`, `pagerduty`) to the spool and the network.
//!
//! Where things are, by role:
//! - [`config`]: the configuration file: schema, loading, checks, the rules' compiled settings;
//! - `service`: the running daemon: ingest (a batch in, one commit), delivery (scheduler,
//!   transport, policy, outcomes — a 429 is handled in `service/delivery/outcome.rs`), the
//!   state the two share, start-up, health and shutdown;
//! - `api`: the socket API: the types both ends use (`api/types.rs`, where `status --json` is
//!   defined), the axum routes, the operator and status endpoints;
//! - `cli`: the command line, one file per command; it talks to `api` or reads the spool.
//!
//! Nothing below the wiring imports upwards: `cli` may use `api`'s types and `config`;
//! `api` may use `service`; `service` uses neither.

pub mod cli;
pub mod config;
pub mod ingest {
    //! What the fuzzers and property tests exercise of ingest: lines and their parsing.
    pub use crate::service::ingest::{lines, parse_line, MAX_LINE_BYTES};
}

mod api;
mod logging;
mod service;
mod units;
