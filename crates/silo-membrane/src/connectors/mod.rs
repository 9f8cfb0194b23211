//! Connectors: the services behind the membrane's routes, each behind a trait so an
//! embedded default (SQLite) and a scaled-out backend can plug in from the side.

pub mod data;
pub mod kv;
pub mod ledger;
pub mod llm;
pub mod outbox;
pub mod outcomes;
pub mod postgres;
pub mod smtp;
pub mod usage;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::Connection;

/// A connector failed. Shown to the host, never to the agent (the agent sees `internal`).
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The database failed.
    #[error("{connector}: {context}: {source}")]
    Sqlite {
        /// Which connector.
        connector: &'static str,
        /// What it was doing.
        context: &'static str,
        /// The underlying error.
        source: rusqlite::Error,
    },
    /// The database directory could not be created.
    #[error("cannot create `{path}`: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A stored row does not decode.
    #[error("{connector}: stored row is corrupt: {reason}")]
    Corrupt {
        /// Which connector.
        connector: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Random id generation failed.
    #[error("{connector}: cannot make an id: {reason}")]
    Id {
        /// Which connector.
        connector: &'static str,
        /// What failed.
        reason: String,
    },
    /// The shared PostgreSQL database failed: no connection, or a statement failed.
    #[error("{connector}: {source}")]
    Postgres {
        /// Which connector.
        connector: &'static str,
        /// The pool's or the server's error (a statement's says what was being done).
        source: silo_postgres::PgError,
    },
}

pub(crate) fn sqlite_err(
    connector: &'static str,
    context: &'static str,
) -> impl FnOnce(rusqlite::Error) -> ConnectorError {
    move |source| ConnectorError::Sqlite {
        connector,
        context,
        source,
    }
}

/// Maps a failed statement of `connector` while doing `context`.
pub(crate) fn pg_err(
    connector: &'static str,
    context: &'static str,
) -> impl FnOnce(silo_postgres::postgres::Error) -> ConnectorError {
    move |source| ConnectorError::Postgres {
        connector,
        source: silo_postgres::PgError::Query { context, source },
    }
}

/// Maps a connection that could not be had for `connector`.
pub(crate) fn pg_conn_err(
    connector: &'static str,
) -> impl FnOnce(silo_postgres::PgError) -> ConnectorError {
    move |source| ConnectorError::Postgres { connector, source }
}

/// Opens `path` in WAL mode with `synchronous = FULL` (a committed write survives a crash)
/// and runs `schema`.
pub(crate) fn open_sqlite(
    connector: &'static str,
    path: &Path,
    schema: &str,
) -> Result<Mutex<Connection>, ConnectorError> {
    // Owner only: these databases hold customer records, refunds and task state.
    let conn = silo_sqlite::open(path, silo_sqlite::Synchronous::Full).map_err(|e| match e {
        silo_sqlite::OpenError::Io { path, source } => ConnectorError::Io { path, source },
        silo_sqlite::OpenError::Sqlite { context, source } => {
            sqlite_err(connector, context)(source)
        }
        e @ silo_sqlite::OpenError::NotWal(_) => ConnectorError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        },
    })?;
    conn.execute_batch(schema)
        .map_err(sqlite_err(connector, "creating the schema"))?;
    Ok(Mutex::new(conn))
}

/// A poisoned lock only means another request panicked mid-statement; SQLite rolled the
/// statement back, so the connection is still usable.
pub(crate) fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The connectors one set of [`crate::Services`] uses.
pub struct Connectors {
    /// Task-scoped scratch storage.
    pub kv: Box<dyn kv::KvStore>,
    /// The refund ledger.
    pub ledger: Box<dyn ledger::Ledger>,
    /// Where agents' results wait for the router.
    pub outcomes: Box<dyn outcomes::OutcomeStore>,
    /// The business database: customer records, orders, history, named writes.
    pub data: Box<dyn data::CustomerData>,
    /// Where rendered email and SMS go.
    pub outbox: Box<dyn outbox::Outbox>,
    /// The LLM upstream, when one is configured.
    pub llm: Option<Box<dyn llm::LlmUpstream>>,
}

impl std::fmt::Debug for Connectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connectors").finish_non_exhaustive()
    }
}

impl Connectors {
    /// The embedded defaults under `data_dir`: scratch state, ledger and outcomes in
    /// `membrane/membrane.db`, the business database in `business/business.db` (seeded
    /// with the demo's customers when empty), and the outbox directory `outbox/`. No LLM
    /// upstream.
    pub fn embedded(data_dir: &Path) -> Result<Self, ConnectorError> {
        let membrane = data_dir.join("membrane").join("membrane.db");
        Ok(Self {
            kv: Box::new(kv::SqliteKv::open(&membrane)?),
            ledger: Box::new(ledger::SqliteLedger::open(&membrane)?),
            outcomes: Box::new(outcomes::SqliteOutcomes::open(&membrane)?),
            data: Box::new(data::SqliteData::open(&Self::business_db(data_dir))?),
            outbox: Box::new(outbox::DirOutbox::new(&Self::outbox_dir(data_dir))),
            llm: None,
        })
    }

    /// The shared defaults for several hosts on one PostgreSQL database: scratch state,
    /// ledger and outcomes (with task inputs) in `db`, so any host can read what another
    /// wrote and an idempotency key pays once across hosts. The business database
    /// (`business/business.db`) and the outbox directory (`outbox/`) stay local to this
    /// host under `data_dir`, as in [`Self::embedded`]: they stand in for the systems of
    /// record and delivery a deployment connects instead. No LLM upstream.
    pub fn postgres(db: &silo_postgres::Database, data_dir: &Path) -> Result<Self, ConnectorError> {
        Ok(Self {
            kv: Box::new(postgres::PgKv::new(db.clone())),
            ledger: Box::new(postgres::PgLedger::new(db.clone())),
            outcomes: Box::new(postgres::PgOutcomes::new(db.clone())),
            data: Box::new(data::SqliteData::open(&Self::business_db(data_dir))?),
            outbox: Box::new(outbox::DirOutbox::new(&Self::outbox_dir(data_dir))),
            llm: None,
        })
    }

    /// `<data_dir>/business/business.db`.
    pub fn business_db(data_dir: &Path) -> PathBuf {
        data_dir.join("business").join("business.db")
    }

    /// `<data_dir>/outbox`.
    pub fn outbox_dir(data_dir: &Path) -> PathBuf {
        data_dir.join("outbox")
    }
}

/// Unix seconds as SQLite stores them (saturating; SQLite integers are `i64`).
pub(crate) fn secs_to_sql(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// Unix seconds back from SQLite (a negative value reads as 0).
pub(crate) fn secs_from_sql(secs: i64) -> u64 {
    u64::try_from(secs).unwrap_or(0)
}
