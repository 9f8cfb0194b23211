//! [`PgError`]: why the database could not be reached, migrated or started.

/// The database failed.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The URL does not parse.
    #[error("database URL `{url}`: {reason}")]
    Url {
        /// The URL with its password hidden.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No connection could be made (server down, wrong credentials, pool exhausted).
    #[error("database `{url}`: {source}")]
    Connect {
        /// The URL with its password hidden.
        url: String,
        /// The pool's or the server's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The schema could not be brought up to date.
    #[error("database `{url}`: migrating the schema: {source}")]
    Migrate {
        /// The URL with its password hidden.
        url: String,
        /// refinery's or the server's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A statement failed.
    #[error("database: {context}: {source}")]
    Query {
        /// What was being done.
        context: &'static str,
        /// The server's error.
        source: postgres::Error,
    },
    /// The throw-away server could not be started.
    #[error("throw-away PostgreSQL: {0}")]
    Throwaway(String),
}
