//! Where the shared tests' key store keeps its shared state: a fresh database on the
//! throw-away PostgreSQL server for every fixture.

use silo_postgres::Throwaway;

/// A fresh database's URL.
pub fn database_url() -> Option<String> {
    Some(Throwaway::shared().unwrap().fresh_database().unwrap())
}
