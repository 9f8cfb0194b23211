//! The membrane's integration tests: a real membrane on a temp Unix socket, driven over
//! HTTP/1.1 by a raw client, with attack tests named after the attack they try.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

/// The stores the shared fixtures use in this binary (`all_postgres` runs some of these
/// modules again on PostgreSQL).
const BACKEND: support::Backend = support::Backend::Embedded;

mod audit;
mod cell;
mod data;
mod keys;
mod kv;
mod limits;
mod llm;
mod message;
mod outcome;
mod postgres;
mod refund;
mod smtp;
