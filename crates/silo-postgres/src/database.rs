//! [`Database`]: a pool of connections to the shared PostgreSQL database, migrated when
//! it is opened. Cheap to clone (the pool is shared); every store keeps one.

use std::time::Duration;

use postgres::NoTls;
use r2d2_postgres::PostgresConnectionManager;

use crate::error::PgError;

/// A connection borrowed from the pool; it goes back when dropped.
pub type PooledClient = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;

/// How long a caller waits for a free connection or for the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The shared database.
#[derive(Clone)]
pub struct Database {
    pool: std::sync::Arc<PoolOwner>,
    config: postgres::Config,
    shown: String,
}

/// Owns the pool, and drops it on a plain thread: closing a synchronous `postgres` client
/// blocks on a runtime of its own, which panics on a thread that drives an async runtime
/// (where the last handle of a `Database` may well be dropped, e.g. with a membrane's
/// services).
struct PoolOwner(Option<r2d2::Pool<PostgresConnectionManager<NoTls>>>);

impl Drop for PoolOwner {
    fn drop(&mut self) {
        if let Some(pool) = self.0.take() {
            let closer = std::thread::Builder::new()
                .name("silo-pg-close".into())
                .spawn(move || drop(pool));
            if let Ok(handle) = closer {
                let _ = handle.join();
            }
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("url", &self.shown)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Connects to `url` (`postgres://user:password@host:port/db`, or the key=value form;
    /// a host that is a path is a Unix socket folder), with a pool of up to 8 connections,
    /// and brings the schema up to date.
    pub fn connect(url: &str) -> Result<Self, PgError> {
        Self::connect_with(url, 8)
    }

    /// [`Database::connect`] with up to `max_connections` pooled connections.
    pub fn connect_with(url: &str, max_connections: u32) -> Result<Self, PgError> {
        let shown = redact(url);
        let mut config: postgres::Config =
            url.parse().map_err(|e: postgres::Error| PgError::Url {
                url: shown.clone(),
                reason: e.to_string(),
            })?;
        if config.get_hosts().is_empty() {
            return Err(PgError::Url {
                url: shown,
                reason: "no host".into(),
            });
        }
        config
            .application_name("silo")
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30));
        // One direct connection first: a clear error at once when the server is not there
        // (the pool would retry until its timeout), and the schema migrated before any
        // store borrows a connection.
        crate::migrate::run(&config, &shown)?;
        let manager = PostgresConnectionManager::new(config.clone(), NoTls);
        let pool = r2d2::Pool::builder()
            .max_size(max_connections.max(1))
            .min_idle(Some(1))
            // No test query on every checkout: it was a round trip (and a transaction) per
            // store call, ~100 per task. A connection the server closed is dropped when it
            // comes back broken, and the call that met it fails and is retried.
            .test_on_check_out(false)
            .connection_timeout(CONNECT_TIMEOUT)
            .build(manager)
            .map_err(|e| PgError::Connect {
                url: shown.clone(),
                source: Box::new(e),
            })?;
        Ok(Self {
            pool: std::sync::Arc::new(PoolOwner(Some(pool))),
            config,
            shown,
        })
    }

    /// A pooled connection.
    pub fn client(&self) -> Result<PooledClient, PgError> {
        let pool = self.pool.0.as_ref().ok_or_else(|| PgError::Connect {
            url: self.shown.clone(),
            source: "the pool is closed".into(),
        })?;
        pool.get().map_err(|e| PgError::Connect {
            url: self.shown.clone(),
            source: Box::new(e),
        })
    }

    /// A connection of its own, outside the pool: for `LISTEN` and for session locks that
    /// must live exactly as long as one holder.
    pub fn dedicated(&self) -> Result<postgres::Client, PgError> {
        self.config.connect(NoTls).map_err(|e| PgError::Connect {
            url: self.shown.clone(),
            source: Box::new(e),
        })
    }

    /// The URL with any password replaced by `***`, for messages.
    pub fn shown_url(&self) -> &str {
        &self.shown
    }
}

/// `url` with its password hidden: the URL form's `user:password@` and the key=value
/// form's `password=…`.
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if let Some((userinfo, host)) = authority.rsplit_once('@') {
            if let Some((user, _password)) = userinfo.split_once(':') {
                return format!("{scheme}://{user}:***@{host}{tail}");
            }
        }
        return url.to_owned();
    }
    url.split_whitespace()
        .map(|part| match part.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => part.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_hidden_in_both_forms() {
        assert_eq!(
            redact("postgres://silo:s3cret@db.internal:5432/silo?sslmode=disable"),
            "postgres://silo:***@db.internal:5432/silo?sslmode=disable"
        );
        assert_eq!(
            redact("host=db user=silo password=s3cret dbname=silo"),
            "host=db user=silo password=*** dbname=silo"
        );
        assert_eq!(
            redact("postgresql://postgres@%2Ftmp%2Fx:5432/t"),
            "postgresql://postgres@%2Ftmp%2Fx:5432/t"
        );
    }

    #[test]
    fn a_bad_url_is_an_error_naming_it_without_the_password() {
        let err = super::Database::connect("postgres://u:pw@/db?port=notanumber").unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("pw@"), "{text}");
    }
}
