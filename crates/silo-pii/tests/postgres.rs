//! The silo-pii tests against PostgreSQL: the shared behaviour tests of `tests/all/` (round
//! trip, injection) compiled again with a vault in a throw-away PostgreSQL database, and the
//! tests only several hosts make meaningful (`postgres/hosts.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "postgres/backend.rs"]
mod backend;
#[allow(dead_code)]
#[path = "all/support.rs"]
mod support;

#[path = "postgres/hosts.rs"]
mod hosts;
#[path = "all/injection.rs"]
mod injection;
#[path = "all/round_trip.rs"]
mod round_trip;
