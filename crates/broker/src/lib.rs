//! Centreon Broker events as a Lua stream connector sees them (`broker_api_version = 1`),
//! BBDO v2 and v3, turned into one normalised model. Pure: no I/O.
//!
//! - [`raw`]: lenient serde types for the raw JSON lines the shim posts;
//! - [`normalise`](mod@normalise): raw events → [`event::Event`] (DESIGN §4.1);
//! - [`perfdata`]: the Nagios/Centreon performance data parser;
//! - [`IdMap`] and [`IdSet`]: maps and sets keyed by resource, with a fast hash.

pub mod event;
mod id_hash;
pub mod lenient;
pub mod normalise;
pub mod perfdata;
pub mod raw;

pub use event::*;
pub use id_hash::{IdHasher, IdMap, IdSet};
pub use normalise::{normalise, normalise_line, Ignored, Normalised, RejectReason, Rejection};
