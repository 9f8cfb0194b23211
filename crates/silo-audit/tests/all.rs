//! The silo-audit integration tests against the SQLite store: one binary, one module per
//! concern. `tests/postgres.rs` runs the same store-bound modules against PostgreSQL.

/// The store under test: an SQLite file in each fixture's data directory.
#[path = "all/sqlite_backend.rs"]
mod backend;
#[path = "all/support.rs"]
mod support;

#[path = "all/canonical.rs"]
mod canonical;
#[path = "all/checkpoint.rs"]
mod checkpoint;
#[path = "all/concurrency.rs"]
mod concurrency;
#[path = "all/layout.rs"]
mod layout;
#[path = "all/properties.rs"]
mod properties;
#[path = "all/query.rs"]
mod query;
#[path = "all/secrets.rs"]
mod secrets;
#[path = "all/tamper.rs"]
mod tamper;
