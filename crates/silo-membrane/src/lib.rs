//! silo-membrane owns a cell's only door to the world: one Unix socket per cell speaking
//! HTTP/1.1 + JSON on versioned `/v1/...` routes (see `docs/PROTOCOL.md`). For every request it
//! verifies the base key and the task key against the cell the socket belongs to, asks
//! `silo-policy` for a decision, acts through a connector (task-scoped KV, the refund
//! ledger, the outcome store), appends one audit entry — allowed and denied alike — and
//! answers in JSON. It bounds what one cell can make it do: body and header size, open
//! connections, concurrent requests, a request rate, and read timeouts.
//!
//! It must never: act without both keys verified for this cell and an allow decision;
//! return or record raw key material or raw PII (audit entries carry ids, rules and small
//! facts, never tokens or free text); echo a token in an error; pay a refund twice for one
//! idempotency key; let one task see another task's scratch state; or panic on the
//! request path.
//!
//! ```no_run
//! use std::sync::Arc;
//! use silo_membrane::{CellBinding, Limits, Membrane, Services};
//! # async fn run(services: Services) -> Result<(), silo_membrane::MembraneError> {
//! let services = Arc::new(services);
//! let membrane = Membrane::bind(
//!     std::path::Path::new("/run/silo/cells/c-0123456789ab.sock"),
//!     CellBinding::new("c-0123456789ab")?,
//!     services.clone(),
//!     Limits::default(),
//! )?;
//! // … start the cell with the socket bind-mounted, wait for it …
//! membrane.shutdown().await;
//! let outcome = services.outcomes().get("task-42");
//! # let _ = outcome;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod auth;
mod binding;
pub mod connectors;
mod error;
mod limits;
mod pipeline;
mod privacy;
mod record;
mod routes;
mod server;
mod services;
pub mod templates;
pub mod tools;
mod wire;

pub use binding::CellBinding;
pub use connectors::kv::{KvStore, PutOutcome, SqliteKv, OUTPUT_PREFIX};
pub use connectors::ledger::{Ledger, RefundOutcome, RefundRecord, RefundRequest, SqliteLedger};
pub use connectors::llm::{
    ApiKey, HttpUpstream, HttpUpstreamConfig, LlmAnswer, LlmError, LlmUpstream, LlmUsage,
    Reservation, SqliteLlmUsage,
};
pub use connectors::outcomes::{
    CompletionStatus, Outcome, OutcomeStore, RecordOutcome, RecordedOutcome, Report, SqliteOutcomes,
};
pub use connectors::postgres::{PgKv, PgLedger, PgLlmUsage, PgOnceOutbox, PgOutcomes, PgUsage};
pub use connectors::usage::{UsageGate, UsageStore};
pub use connectors::{ConnectorError, Connectors};
pub use error::MembraneError;
pub use limits::Limits;
pub use server::Membrane;
pub use services::{Intake, KillSwitch, Services};
pub use wire::{ErrorCode, BASE_KEY_HEADER, TASK_KEY_HEADER};
