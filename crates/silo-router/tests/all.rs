//! The silo-router integration tests on the embedded SQLite store: one binary, one module
//! per concern. `tests/postgres.rs` runs the same modules on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// The store this binary tests.
pub(crate) const BACKEND: support::Backend = support::Backend::Sqlite;

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
#[path = "all/sqlite_only.rs"]
mod sqlite_only;
#[path = "all/store.rs"]
mod store;
#[path = "all/transitions.rs"]
mod transitions;
#[path = "all/turns.rs"]
mod turns;
#[path = "all/workflow.rs"]
mod workflow;
