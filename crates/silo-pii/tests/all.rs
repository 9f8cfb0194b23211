//! The silo-pii integration tests: one binary, one module per concern.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "all/backend.rs"]
mod backend;
#[path = "all/support.rs"]
mod support;

#[path = "all/at_rest.rs"]
mod at_rest;
#[path = "all/injection.rs"]
mod injection;
#[path = "all/known_values.rs"]
mod known_values;
#[path = "all/recognizers.rs"]
mod recognizers;
#[path = "all/robustness.rs"]
mod robustness;
#[path = "all/round_trip.rs"]
mod round_trip;
