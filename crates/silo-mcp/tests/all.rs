//! Integration tests of silo-mcp: each server driven by rmcp's own client over an in-memory
//! pipe; the in-cell server against a stand-in membrane socket that records every request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin;
mod cell;
