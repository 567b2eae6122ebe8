//! PagerDuty Events API v2 (`POST /v2/enqueue`): event types, truncation to the API limits,
//! routing-key validation and masking, and the classification of PagerDuty's answers
//! (DESIGN §4.3, §4.4).
//!
//! This crate is pure: no I/O, no clock, no HTTP client. The daemon owns the transport and calls
//! [`Event::to_body`] to get the bytes to POST, then [`classify_response`] or
//! [`classify_transport`] to decide what to do with the answer.
//!
//! # Invariants
//!
//! - [`Event::to_body`] never fails and never panics, whatever the event holds, and always
//!   returns valid JSON (UTF-8) that is within the API limits:
//!   - the whole body is at most [`MAX_BODY_BYTES`] bytes;
//!   - `payload.summary` is at most [`MAX_SUMMARY_CHARS`] Unicode scalar values;
//!   - `dedup_key` is at most [`MAX_DEDUP_KEY_BYTES`] UTF-8 bytes (longer keys are hashed with
//!     [`dedup_key_within_limit`], never cut, so two keys cannot collide by truncation);
//!   - every other string field is at most [`MAX_FIELD_CHARS`] characters;
//!   - acknowledge and resolve bodies carry only `routing_key`, `dedup_key` and `event_action`.
//! - [`Event::to_body_shrunk`] has the same guarantees and, in addition, an encoded
//!   `custom_details` of at most [`SHRUNK_DETAILS_BYTES`] bytes.
//! - A routing key never appears in [`Event::to_masked_json`] output nor in any error text of
//!   this crate.
//! - [`classify_response`] and [`classify_transport`] are total: every status code and body,
//!   including empty, binary or HTML bodies, maps to one [`Outcome`] whose texts are valid UTF-8,
//!   free of control characters and bounded to about 1 KB.

mod body;
mod classify;
mod event;
mod routing_key;
mod text;

pub use classify::{classify_response, classify_transport, Outcome, TransportFailure};
pub use event::{Action, Event, Link, ParseActionError, ParseSeverityError, Payload, Severity};
pub use routing_key::{mask_routing_key, validate_routing_key, RoutingKeyError};
pub use text::{dedup_key_within_limit, format_timestamp, truncate_chars};

/// Maximum size in bytes of a whole encoded request body (PagerDuty's "512 KB", read
/// conservatively as 512,000 bytes, as Alertmanager and Grafana do).
pub const MAX_BODY_BYTES: usize = 512_000;

/// Maximum length of `payload.summary`, in Unicode scalar values.
pub const MAX_SUMMARY_CHARS: usize = 1024;

/// Maximum length of `dedup_key`, in UTF-8 bytes.
pub const MAX_DEDUP_KEY_BYTES: usize = 255;

/// Our cap, in Unicode scalar values, for the string fields PagerDuty documents no limit for:
/// `source`, `component`, `group`, `class`, `timestamp`, link `text` and `href`, `client`,
/// `client_url` (and the routing key, which is only valid at 32 characters anyway).
pub const MAX_FIELD_CHARS: usize = 1024;

/// Maximum encoded size of `custom_details` in the one retry after a 413 answer
/// ([`Event::to_body_shrunk`]).
pub const SHRUNK_DETAILS_BYTES: usize = 64 * 1024;
