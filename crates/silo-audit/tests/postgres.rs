//! The silo-audit integration tests against the PostgreSQL store: the store-bound modules of
//! `tests/all/` compiled again with `backend` switched to a fresh database on the throw-away
//! server for each fixture, plus what only PostgreSQL has (several hosts appending to one
//! chain, triggers seen by a normal client). Needs the Debian package `postgresql`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// The store under test: a fresh database for each fixture.
#[path = "postgres/backend.rs"]
mod backend;
#[path = "all/support.rs"]
mod support;

#[path = "all/checkpoint.rs"]
mod checkpoint;
#[path = "all/concurrency.rs"]
mod concurrency;
#[path = "all/properties.rs"]
mod properties;
#[path = "all/query.rs"]
mod query;
#[path = "all/secrets.rs"]
mod secrets;
#[path = "all/tamper.rs"]
mod tamper;

#[path = "postgres/hosts.rs"]
mod hosts;
