//! What can go wrong starting or running an MCP server (never shown to the agent's model:
//! tool-level failures are tool results, see `cell.rs`).

/// An MCP server could not start or its transport failed.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The in-cell server was started without what a cell gives it.
    #[error("{0}")]
    Setup(String),
    /// An IO step failed.
    #[error("cannot {what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// The MCP session failed (initialisation or transport).
    #[error("MCP session: {0}")]
    Protocol(String),
}
