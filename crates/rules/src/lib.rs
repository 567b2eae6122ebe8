//! The decisions of centreon-pagerduty: what PagerDuty must hear from a stream of normalised
//! Centreon Broker events. Pure and deterministic: time comes in as an argument, state lives in
//! a [`Store`] the caller provides.
//!
//! - [`engine`]: the per-resource state machine (DESIGN §4.2);
//! - [`routing`]: `[[route]]` selection, pinned per incident;
//! - [`payload`]: PagerDuty events (DESIGN §4.3);
//! - [`state`]: the serialisable per-resource state;
//! - [`settings`]: the compiled `[alerts]`, `[centreon]` and `[[route]]` configuration.

pub mod engine;
mod packed;
pub mod payload;
pub mod routing;
pub mod settings;
pub mod state;
pub mod store;
pub mod template;

pub use engine::{Engine, Note, Outcome, Outgoing};
pub use payload::Names;
pub use settings::Settings;
pub use state::{HoldReason, ResourceState, REPLAY_WINDOW};
pub use store::{MemoryStore, Store};
