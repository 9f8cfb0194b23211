//! The vault the shared behaviour tests run against: here, an in-memory SQLite vault (the
//! `postgres` test target compiles the same tests against PostgreSQL).

use silo_pii::Vault;

/// A fresh, empty vault.
pub fn vault() -> Vault {
    Vault::scratch().unwrap()
}
