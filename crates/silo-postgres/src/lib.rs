//! silo-postgres owns how silo reaches a shared PostgreSQL database, the backend for
//! running several `silo serve` processes on several machines (`database:` in
//! `silo.yaml`). It opens the connection pool ([`Database`]), applies the versioned schema
//! (`migrations/`, embedded with refinery, under an advisory lock so that processes
//! starting together migrate once), names the advisory locks every store shares
//! ([`locks`]), and starts a private, throw-away server for tests and benchmarks
//! ([`Throwaway`]). The stores themselves (router queue, audit log, ledger, usage
//! counters, vault, revocations, public keys) live in their own crates beside their SQLite
//! versions and only borrow a client from here.
//!
//! It must never: log or print a connection URL with its password; let a store reach the
//! database except through a [`Database`]; or run a store against a schema older than the
//! embedded migrations.
#![forbid(unsafe_code)]

mod database;
mod error;
pub mod locks;
mod migrate;
mod throwaway;

pub use database::{Database, PooledClient};
pub use error::PgError;
pub use migrate::SCHEMA_VERSION;
pub use postgres;
pub use throwaway::Throwaway;
