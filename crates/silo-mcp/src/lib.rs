//! MCP (Model Context Protocol) for silo, on the official Rust SDK `rmcp`. Owns two servers:
//! the **in-cell** server (`cell.rs`, `silo mcp --cell`, started by an MCP-native agent over
//! stdio inside its cell) that offers the membrane's tools — exactly those the cell's base
//! key allows, listed by the membrane's `GET /v1/tools` — and turns each tool call into one
//! ordinary membrane request over the cell's socket; and the **governance** server
//! (`admin.rs`, `silo mcp`) that offers an operator's MCP client task submission, task
//! status, audit queries and policy what-ifs through a [`Governance`] the CLI provides.
//!
//! Must never: decide, tokenise or audit anything itself (the membrane does, on every
//! call), hold a key other than the two its cell was started with, reach anything but the
//! membrane socket from inside a cell, or show a membrane refusal as a success.

#![forbid(unsafe_code)]

mod admin;
mod cell;
mod client;
mod error;

pub use admin::{
    admin_tools, AdminServer, AuditQuery, Governance, GovernanceError, PolicyEval, SubmitTask,
    TaskStatus,
};
pub use cell::{CellServer, CellSetup};
pub use client::MembraneClient;
pub use error::McpError;

/// Runs an MCP server on this process's stdin and stdout until the client closes them.
/// Builds its own single-threaded runtime (the CLI has none).
pub fn serve_stdio<H: rmcp::ServerHandler>(handler: H) -> Result<(), McpError> {
    use rmcp::ServiceExt;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| McpError::Io {
            what: "start the runtime",
            source: e,
        })?;
    runtime.block_on(async move {
        let service = handler
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| McpError::Protocol(e.to_string()))?;
        service
            .waiting()
            .await
            .map_err(|e| McpError::Protocol(e.to_string()))?;
        Ok(())
    })
}
