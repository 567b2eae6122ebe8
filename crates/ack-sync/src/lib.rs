//! PagerDuty → Centreon acknowledgements (DESIGN §4.6), the protocol side: what is said on the
//! wire and how each answer is classified. No daemon integration here: no configuration section,
//! no spool table, no task, no clock of its own (callers pass "now").
//!
//! - [`PagerDutyRest`]: `GET /incidents` of the PagerDuty REST API v2, paged, acknowledged
//!   incidents only, each with its `incident_key` and its acknowledgers' summaries
//!   ([`PagerDutyRest::list_acknowledged`]); typed errors ([`RestError`]) that say whether to
//!   retry (429 with the wait PagerDuty asks for, 5xx, network) or to stop (401/403: configuration).
//! - [`CentreonClient`]: Centreon API v2, `POST /login` (login file),
//!   `POST /monitoring/resources/acknowledge` (one resource per call; a 204 is done) and
//!   `GET /monitoring/resources/hosts/{id}[/services/{id}]` (whether the resource is
//!   acknowledged now); in login mode a 401 logs in again once and retries; typed errors
//!   ([`CentreonError`]).
//! - [`webhook`]: PagerDuty webhooks V3: `X-PagerDuty-Signature` (HMAC-SHA256, several secrets
//!   for rotation, constant-time) verified before any parsing, the V3 envelope parsed into
//!   [`webhook::WebhookEvent`], a [`webhook::ReplayGuard`] and a body limit.
//! - [`Secret`]: tokens and secrets read from files with the daemon's routing-key-file rules
//!   (regular file, owner root or trusted, mode 0640 or stricter), masked as `…` + last 4.
//!
//! # Invariants
//!
//! - A secret (PagerDuty token, Centreon token or password, webhook secret) never appears whole
//!   in any `Debug` or `Display` output nor in any error text of this crate: [`Secret`] shows
//!   `…` and its last four characters, errors show nothing of it.
//! - No function panics on input from the network or from files; every text taken from an
//!   answer into an error is bounded (about 300 characters) and free of control characters.
//! - [`webhook::WebhookVerifier::verify_and_parse`] never parses a body whose signature did not
//!   verify, nor a body over [`webhook::MAX_BODY_BYTES`].
//! - Every error says what to do with it: `is_retryable()` (try again later, with backoff or the
//!   wait given) or `is_config_error()` (pause and tell the operator loudly); never both. A
//!   Centreon [`CentreonError::Rejected`] is neither: that one request will never pass.

mod centreon;
mod pagerduty_rest;
mod secret;
mod text;
mod time;
pub mod webhook;

pub use centreon::{
    Acknowledgement, CentreonAuth, CentreonClient, CentreonError, Credentials, Resource,
};
pub use pagerduty_rest::{
    AckedIncident, IncidentStatus, ListQuery, Listing, Page, PagerDutyRest, Region, RestError,
    TimeWindow, API_URL_EU, API_URL_US, MAX_PAGE_LIMIT,
};
pub use secret::{
    read_login_file, read_secret_file, read_secret_lines, trusted_owners, Secret, SecretError,
    DAEMON_USER,
};
pub use time::parse_rfc3339;
