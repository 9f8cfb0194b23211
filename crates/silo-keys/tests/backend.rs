//! Where the shared tests' key store keeps its shared state: here, only its folder (the
//! `postgres` test target runs the same tests with a database).

/// No database.
pub fn database_url() -> Option<String> {
    None
}
