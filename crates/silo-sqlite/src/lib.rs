//! silo-sqlite owns how silo opens an embedded SQLite database — the audit log, the
//! router's store and the membrane's connectors all hold sensitive state in one: the
//! folder is created owner-only (0700), a new file is made owner-only (0600; SQLite gives
//! the `-wal` and `-shm` files the database file's mode), the journal is WAL (refused if
//! the file system cannot do it), writers wait for each other, and `synchronous` decides
//! when a commit is on disk.
//!
//! It must never: open a database another way than this; leave a new database file
//! readable by others; or carry on in a journal mode other than WAL.
#![forbid(unsafe_code)]

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

/// How long a writer waits for another before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// When a commit counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// The WAL is fsynced at every commit: durable when the commit returns.
    Full,
    /// Fsynced at checkpoints only: a power loss can lose the newest commits, a process
    /// crash cannot.
    Normal,
}

/// A database that could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The folder or the file's mode.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// SQLite refused.
    #[error("{context}: {source}")]
    Sqlite {
        /// What was being done.
        context: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The file system would not do WAL.
    #[error("enabling WAL: journal mode is `{0}`")]
    NotWal(String),
}

impl OpenError {
    /// What was being done, for errors reported as "context: source".
    pub fn context(&self) -> &'static str {
        match self {
            OpenError::Io { .. } => "creating the database",
            OpenError::Sqlite { context, .. } => context,
            OpenError::NotWal(_) => "enabling WAL",
        }
    }
}

/// Opens (creating if needed) the database at `path` as described above.
pub fn open(path: &Path, synchronous: Synchronous) -> Result<Connection, OpenError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| OpenError::Io { path, source }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
    }
    let existed = path.exists();
    let sqlite = |context| move |source| OpenError::Sqlite { context, source };
    let conn = Connection::open(path).map_err(sqlite("opening the database"))?;
    if !existed {
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io(path))?;
    }
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(sqlite("setting the busy timeout"))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(sqlite("enabling WAL"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(OpenError::NotWal(mode));
    }
    let level = match synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.execute_batch(&format!("PRAGMA synchronous = {level};"))
        .map_err(sqlite("setting pragmas"))?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_new_database_is_owner_only_in_wal_and_durable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a").join("b.db");
        let conn = open(&path, Synchronous::Full).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let journal: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(journal, "wal");
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "FULL");
        drop(conn);
        // An existing file keeps its mode; NORMAL is 1.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let conn = open(&path, Synchronous::Normal).unwrap();
        assert_eq!(mode(&path), 0o640);
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 1);
    }

    #[test]
    fn a_folder_that_cannot_be_made_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain");
        fs::write(&file, "x").unwrap();
        let err = open(&file.join("db.sqlite"), Synchronous::Full).unwrap_err();
        assert!(err.to_string().contains("plain"), "{err}");
    }
}
