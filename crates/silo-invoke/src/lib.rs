//! silo-invoke owns one agent invocation end to end, without the router: it reads the agent
//! folder's `agent.yaml`, mints a base key bound to the folder's content hash and a task
//! key bound to a fresh cell, stores the task's input tokenised, binds the cell's membrane,
//! runs the cell with the socket and the Python SDK mounted, revokes the task key when the
//! cell is gone, and reports the cell's outcome, the task's recorded result and its audit
//! entries. `silo run` is a thin wrapper; the router will dispatch through the same path.
//!
//! It must never: hand a cell a key for another cell or another folder content; keep a task
//! key valid after its cell ended; pass the raw task input to a cell; or start the cell
//! supervisor in-process (it re-executes `silo __cell-supervise`, because the supervisor
//! must be single-threaded and this crate runs a Tokio runtime).
#![forbid(unsafe_code)]

mod deploy;
mod error;
mod invocation;
pub mod keyring;
mod manifest;
mod operator;
pub mod sdk;

pub use deploy::{deploy, Deployed, VERSIONS_DIR};
pub use error::InvokeError;
pub use invocation::{
    invoke, load_policy, open_keys, open_keys_with, shared_runtime, Host, Invocation,
    InvocationReport, InvocationTimings, LLM_LOOPBACK_PORT,
};
pub use keyring::{IssuedKeys, KeyIssuer, Keyring, TurnClaims, TurnKeyRequest};
pub use manifest::{Manifest, ManifestLimits, MANIFEST_FILE};
pub use operator::{operator_call, OperatorCall, OperatorReply, RouterTask};
