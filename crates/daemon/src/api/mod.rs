//! The socket API (DESIGN §3.4): the shim's `POST /v1/events`, the operator endpoints, status,
//! health and metrics, on the Unix socket (and `/metrics` over TCP when configured).
//!
//! - `types`: the request and answer types, shared by the server and the command-line client;
//! - `server`: the routes, the connection limits and timeouts, the ingest endpoint;
//! - `body`: an ingest body read into a buffer the next batch reuses;
//! - `operator`: incidents, resolve, pause/resume, dead letters (peer credentials checked);
//! - `status`: `/v1/status`, `/metrics`.
//!
//! It owns no state: handlers call into `service`. `types` imports nothing of the daemon, so
//! every role may use it.

pub(crate) mod body;
pub(crate) mod operator;
pub(crate) mod server;
pub(crate) mod status;
pub(crate) mod types;
