//! The silo-router integration tests: one binary, one module per concern.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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
