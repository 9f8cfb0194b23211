//! The silo-audit integration tests: one binary, one module per concern.

#[path = "all/support.rs"]
mod support;

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
