//! PagerDuty REST API v2: the paged listing of acknowledged incidents (`GET /incidents`).
//!
//! Names and shapes are those of PagerDuty's OpenAPI document (`PagerDuty/api-schema`,
//! `reference/REST/openapiv3.json`): parameters `statuses[]`, `limit`, `offset`, `date_range`,
//! `since`; headers `Accept: application/vnd.pagerduty+json;version=2` and `Content-Type:
//! application/json` (both `required` there, even on a GET) and `Authorization: Token token=…`
//! (security scheme `api_key`); the answer is `Pagination` (`limit`, `offset`, `more`, `total`)
//! with `incidents[]` of `Incident` (`id`, `status`, `incident_key`,
//! `acknowledgements[].acknowledger.summary`).
//!
//! Contract:
//! - One listing is one or more pages of [`MAX_PAGE_LIMIT`] (or the query's limit), fetched in
//!   order, stopping when PagerDuty says `more: false`, when a page is empty, or after
//!   `max_pages` pages (then [`Listing::truncated`] is true). Incidents are deduplicated by id.
//! - Any failure on any page fails the whole listing with a [`RestError`] that classifies it:
//!   429 → [`RestError::RateLimited`] with the wait from `ratelimit-reset` or `Retry-After`;
//!   401 → [`RestError::Unauthorized`] and 403 → [`RestError::Forbidden`] (configuration: pause);
//!   5xx → [`RestError::Server`] and transport failures → [`RestError::Network`] (retry);
//!   an answer that is not the documented JSON → [`RestError::Malformed`]; other 4xx →
//!   [`RestError::Rejected`] (configuration or a bug: pause).
//! - The token is sent only in the `Authorization` header and never appears in an error.
//!
//! Modules: query (what to list, where), incident (what a listing returns), wire (PagerDuty's
//! JSON answer parsed), error (the failures and how answers are classified), client (the
//! requests); tests.

mod client;
mod error;
mod incident;
mod query;
#[cfg(test)]
mod tests;
mod wire;

pub use client::PagerDutyRest;
pub use error::RestError;
pub use incident::{AckedIncident, IncidentStatus, Listing, Page};
pub use query::{ListQuery, Region, TimeWindow, API_URL_EU, API_URL_US, MAX_PAGE_LIMIT};
