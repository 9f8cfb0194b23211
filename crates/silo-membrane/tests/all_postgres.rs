//! The membrane's integration tests whose stores have a PostgreSQL twin, run again with
//! `Services::postgres` on a fresh database of a throw-away server (see
//! `silo_postgres::Throwaway`): the same requests must get the same answers on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// support.rs is shared with `all`; not every helper is used by these modules.
#![allow(dead_code)]

mod support;

/// The stores the shared fixtures use in this binary.
const BACKEND: support::Backend = support::Backend::Postgres;

mod kv;
mod limits;
mod outcome;
mod refund;
