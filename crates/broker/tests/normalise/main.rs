//! Normalisation of raw Broker events, BBDO v2 and v3 (DESIGN §4.1), and properties:
//! `normalise_line` never panics, whatever the bytes or the JSON.
//!
//! Modules: helpers (shared helpers); statuses, lenient_types, acknowledgements, downtimes,
//! definitions, rejections, fixtures, properties.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap
#![recursion_limit = "256"]

mod acknowledgements;
mod definitions;
mod downtimes;
mod fixtures;
mod helpers;
mod lenient_types;
mod properties;
mod rejections;
mod statuses;
