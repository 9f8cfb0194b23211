//! silo's audit log: the append-only, tamper-evident record of every step a task takes.
//!
//! This crate owns the entry format (canonical JSON, [`canonical`]), the hash chain
//! ([`chain`]), the RFC 6962 Merkle tree ([`merkle`]), Ed25519-signed checkpoints
//! ([`checkpoint`]), storage behind [`AuditStore`] (embedded SQLite, [`sqlite`]; PostgreSQL
//! shared by several hosts, [`postgres`]), verification that names the first bad seq
//! ([`verify`]) and the flight-recorder queries ([`query`]).
//! It must never update or delete an entry, never sign a checkpoint over a log that fails
//! verification, and never hold raw key material or raw PII in an entry: entries take
//! identifier types ([`KeyId`], [`TokenId`], [`CustomerToken`]…) that refuse tokens.
//!
//! ```no_run
//! use silo_audit::{ActionName, Actor, AuditLog, Decision, EntryDraft, TaskId};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let log = AuditLog::open(std::path::Path::new("silo-data"))?;
//! let draft = EntryDraft::new(
//!     Actor::new("router")?,
//!     ActionName::new("task.received")?,
//!     Decision::NotApplicable,
//! )
//! .task(TaskId::new("t-42")?);
//! let receipt = log.append(draft)?;
//! let verified = log.verify()?;
//! assert_eq!(verified.size, receipt.seq + 1);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod canonical;
pub mod chain;
pub mod checkpoint;
pub mod checkpoint_key;
pub mod detail;
pub mod entry;
pub mod hash;
pub mod ids;
pub mod log;
pub mod merkle;
pub mod postgres;
pub mod query;
pub mod sqlite;
pub mod store;
pub mod timestamp;
pub mod verify;

pub use checkpoint::{Checkpoint, CheckpointError, CheckpointFile, SignedCheckpoint};
pub use checkpoint_key::{CheckpointKey, CheckpointKeyError, CheckpointPublicKey};
pub use detail::{Detail, DetailError};
pub use entry::{Decision, Entry, EntryDraft, KeyRef, KeyRefs};
pub use hash::Hash;
pub use ids::{
    ActionName, Actor, AgentName, CustomerToken, IdError, KeyId, RuleId, TaskId, TokenId,
};
pub use log::{AuditError, AuditLog};
pub use merkle::{ConsistencyProof, InclusionProof};
pub use postgres::PgAuditStore;
pub use query::Query;
pub use sqlite::{Durability, SqliteStore};
pub use store::{AuditStore, DecisionCount, Receipt, StoreError};
pub use timestamp::{Timestamp, TimestampError};
pub use verify::{Tamper, Verified, VerifyError};
