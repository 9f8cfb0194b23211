//! Why an invocation could not be run. What the agent did inside a cell that ran is never
//! an error here: it is in the [`crate::InvocationReport`].

use std::path::PathBuf;

/// An invocation could not be set up or its results not collected.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// `agent.yaml` is missing or wrong.
    #[error("agent manifest `{path}`: {reason}")]
    Manifest {
        /// The manifest path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An argument is not acceptable (customer, case, task id, input).
    #[error("{0}")]
    Invalid(String),
    /// The key store failed.
    #[error("key store: {0}")]
    Keys(#[from] silo_keys::StoreError),
    /// Minting failed.
    #[error("minting a key: {0}")]
    Mint(#[from] silo_keys::MintError),
    /// Hashing the agent folder failed.
    #[error("hashing the agent folder: {0}")]
    FolderHash(#[from] silo_keys::FolderHashError),
    /// The audit log failed.
    #[error("audit log: {0}")]
    Audit(#[from] silo_audit::AuditError),
    /// The policy file is wrong.
    #[error("policy: {0}")]
    Policy(#[from] silo_policy::PolicyError),
    /// The membrane could not be set up.
    #[error("membrane: {0}")]
    Membrane(#[from] silo_membrane::MembraneError),
    /// A membrane connector failed while collecting results.
    #[error("membrane: {0}")]
    Connector(#[from] silo_membrane::ConnectorError),
    /// The cell could not be run.
    #[error(transparent)]
    Cell(#[from] silo_cell::CellError),
    /// A file or directory the invocation needs.
    #[error("{what} `{path}`: {source}")]
    Io {
        /// What it was for.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}
