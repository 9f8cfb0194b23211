//! The silo-keys tests against PostgreSQL: the forgery and lifecycle tests compiled again
//! with the key store publishing to a throw-away database and every token presented to a
//! verifier built from the published keys (as a host without the private keys does), and
//! the tests only several hosts make meaningful (`postgres/hosts.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "postgres/backend.rs"]
mod backend;
#[allow(dead_code)]
#[path = "common.rs"]
mod common;
#[path = "forgery.rs"]
mod forgery;
#[path = "postgres/hosts.rs"]
mod hosts;
#[path = "lifecycle.rs"]
mod lifecycle;
