//! DESIGN §4.6, end to end: PagerDuty acknowledgements mirrored into Centreon by the real
//! binary, against a mock PagerDuty Events API (what the daemon sends), and the mocks of the
//! PagerDuty REST API and the Centreon API built on their official OpenAPI specifications
//! (`common::mock_pagerduty_rest`, `common::mock_centreon`): every request the daemon makes to
//! them is validated against `tests/fixtures/openapi/`, and each test ends with no violation.
//!
//! Modules: helpers (shared helpers); mirror, centreon_failures, credentials, rate_limit,
//! webhook, send_test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod centreon_failures;
mod credentials;
mod helpers;
mod mirror;
mod rate_limit;
mod send_test;
mod webhook;
