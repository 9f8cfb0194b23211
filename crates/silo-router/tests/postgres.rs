//! The silo-router integration tests on [`silo_router::PgStore`]: every module of
//! `tests/all.rs` but the SQLite file checks (`all/sqlite_only.rs`), each test on a fresh
//! database of a throw-away server this binary starts, and what only the shared database
//! has to prove (`postgres/shared.rs`: routers on several machines at once).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// The store this binary tests.
pub(crate) const BACKEND: support::Backend = support::Backend::Postgres;

#[path = "all/support.rs"]
mod support;

#[path = "all/agent_results.rs"]
mod agent_results;
#[path = "all/escalation.rs"]
mod escalation;
#[path = "all/kernel.rs"]
mod kernel;
#[path = "all/recorder.rs"]
mod recorder;
#[path = "all/store.rs"]
mod store;
#[path = "all/transitions.rs"]
mod transitions;
#[path = "all/turns.rs"]
mod turns;
#[path = "all/workflow.rs"]
mod workflow;

#[path = "postgres/issuer.rs"]
mod issuer;
#[path = "postgres/shared.rs"]
mod shared;
