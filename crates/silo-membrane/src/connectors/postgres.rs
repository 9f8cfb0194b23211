//! The membrane's stores on a shared PostgreSQL database, for several `silo serve` hosts
//! at once: the refund ledger ([`PgLedger`]), the usage counters ([`PgUsage`]), scratch
//! storage ([`PgKv`]), outcomes and task inputs ([`PgOutcomes`]) and LLM token usage
//! ([`PgLlmUsage`]), and the record of sent message ids ([`PgOnceOutbox`]). Each behaves exactly as its SQLite twin; where SQLite relied on its
//! single writer, these rely on unique keys, row locks and advisory locks, so that a
//! second host cannot slip between a read and a write. The usage gate across hosts is
//! [`crate::connectors::usage::UsageGate::postgres`]. The schema is
//! `crates/silo-postgres/migrations/V3__membrane.sql`.

mod kv;
mod ledger;
mod llm;
mod outbox;
mod outcomes;
mod usage;

pub use kv::PgKv;
pub use ledger::PgLedger;
pub use llm::PgLlmUsage;
pub use outbox::PgOnceOutbox;
pub use outcomes::PgOutcomes;
pub use usage::PgUsage;

use super::ConnectorError;

/// Decodes stored JSON text, or says which connector holds a corrupt row.
fn json_from(connector: &'static str, text: &str) -> Result<serde_json::Value, ConnectorError> {
    serde_json::from_str(text).map_err(|e| ConnectorError::Corrupt {
        connector,
        reason: e.to_string(),
    })
}

/// A column of a row, or a corrupt-row error naming `connector` (never a panic).
fn column<'a, T: silo_postgres::postgres::types::FromSql<'a>>(
    connector: &'static str,
    row: &'a silo_postgres::postgres::Row,
    idx: usize,
) -> Result<T, ConnectorError> {
    row.try_get(idx).map_err(|e| ConnectorError::Corrupt {
        connector,
        reason: format!("column {idx}: {e}"),
    })
}

/// Runs a store call where the synchronous client may block: it drives a runtime of its
/// own, which panics on a thread that drives an async runtime — and a statement or
/// transaction dropped while that panic unwinds aborts the process. The membrane and the
/// router already call stores on blocking threads (where this just calls `f`); a caller
/// on an async worker gets `block_in_place`, or a thread of its own on a
/// current-thread runtime, instead of a crash.
pub(crate) fn off_async<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Err(_) => f(),
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::CurrentThread => {
            std::thread::scope(|s| match s.spawn(f).join() {
                Ok(value) => value,
                Err(panic) => std::panic::resume_unwind(panic),
            })
        }
        Ok(_) => tokio::task::block_in_place(f),
    }
}
