//! Errors of setting a membrane up. Errors while serving a request never escape: they
//! become a JSON error response with a stable code (see [`crate::ErrorCode`]).

use std::path::PathBuf;

use crate::connectors::ConnectorError;

/// A membrane or its services could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MembraneError {
    /// Binding or preparing the socket failed.
    #[error("cannot bind the membrane socket `{path}`: {source}")]
    Bind {
        /// The socket path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Something that is not a stale membrane socket is at the path.
    #[error("`{path}` exists and is not a stale socket; remove it or choose another path")]
    SocketInUse {
        /// The socket path.
        path: PathBuf,
    },
    /// `Membrane::bind` was called outside a Tokio runtime.
    #[error("the membrane needs a tokio runtime; call `Membrane::bind` from inside one")]
    NoRuntime,
    /// The cell binding or the limits are not acceptable.
    #[error("invalid membrane configuration: {0}")]
    InvalidConfig(String),
    /// A connector could not be opened.
    #[error(transparent)]
    Connector(#[from] ConnectorError),
}
