//! silo-keys owns silo's two credentials: the **base key** (what an agent role
//! may do, minted at deploy for one agent-folder content hash) and the **task
//! key** (what one invocation may touch, minted by the router, bound to one
//! cell). Both are EdDSA (Ed25519) JWTs carrying a `kid`. The crate mints them,
//! verifies them (algorithm, key id, audience, time, revocation, cell binding,
//! folder hash), keeps the signing keys in a [`KeyStore`] directory with
//! rotation and a durable revocation list. When silo runs on several hosts, the
//! revocation list and the public half of the key ring live in the shared
//! PostgreSQL database ([`KeyStore::open_with_postgres`],
//! [`Verifier::from_postgres`]); the private keys never leave the key store folder.
//!
//! It must never: accept a token that is not EdDSA, let a task key stand in for
//! a base key or the reverse, hold a private key in a claims type or the
//! database, do file IO anywhere but [`KeyStore`], [`RevocationList`]
//! persistence and [`folder_hash`], reach the network except through a
//! `silo_postgres::Database` it was handed, or panic on a request path.
#![forbid(unsafe_code)]

mod atomic_file;
mod cache;
mod claims;
mod credentials;
mod error;
mod folder_hash;
mod mint;
mod published;
mod revocation;
mod store;
mod time;
mod verify;

pub use cache::ClaimsCache;
pub use claims::{
    BaseKey, Capabilities, DataReadCap, DataWriteCap, EmailSendCap, LlmCap, RefundCap, TaskKey,
    WorkflowRef, BASE_AUDIENCE, TASK_AUDIENCE,
};
pub use credentials::Credentials;
pub use error::{FolderHashError, KeyError, MintError, StoreError, VerifyError};
pub use folder_hash::{folder_hash, FolderHash};
pub use mint::{new_jti, Minter, BASE_TTL_SECS, MAX_TASK_TTL_SECS, TASK_TTL_SECS};
pub use revocation::RevocationList;
pub use store::{KeyRecord, KeyStore, DEFAULT_OVERLAP_SECS};
pub use time::now_unix;
pub use verify::{
    decode_unverified, Verifier, VerifierKey, KEY_SET_MAX_AGE, LEEWAY_SECS, MAX_TOKEN_LEN,
    UNKNOWN_KID_INTERVAL,
};
