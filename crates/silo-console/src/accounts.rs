//! Operator accounts and sessions, in `<data_dir>/console/accounts.db`.
//!
//! A password is kept only as an argon2id hash (PHC string, per-account salt). A session
//! is a random 256-bit token that lives in the operator's cookie; the database keeps only
//! its SHA-256, so a copy of the database cannot be replayed as a login. Each session has
//! its own random CSRF token. Repeated wrong passwords lock the account for a while.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted (argon2 takes any length; this bounds the work per login).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// How long a session lasts from login.
pub const SESSION_SECS: u64 = 8 * 3600;
/// Wrong passwords in a row before the account is locked.
pub const MAX_FAILURES: u32 = 5;
/// How long a locked account stays locked.
pub const LOCK_SECS: u64 = 15 * 60;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS operators (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    operator TEXT NOT NULL REFERENCES operators(name) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_operator ON sessions(operator);
";

/// An account or session operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The database could not be opened.
    #[error(transparent)]
    Open(#[from] silo_sqlite::OpenError),
    /// A database operation failed.
    #[error("the operator accounts database ({what}): {source}")]
    Sql {
        /// What was being done.
        what: &'static str,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// No randomness from the OS.
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    /// Hashing failed.
    #[error("hashing the password failed: {0}")]
    Hash(String),
    /// The name is not a valid operator name.
    #[error("operator name `{0}` must be 1..=64 characters of a-z, 0-9, `_`, `.` or `-`")]
    BadName(String),
    /// The password is too short or too long.
    #[error(
        "a password must be at least {MIN_PASSWORD_CHARS} characters and at most {MAX_PASSWORD_BYTES} bytes"
    )]
    BadPassword,
    /// No such account.
    #[error("no operator account `{0}`")]
    Unknown(String),
}

fn sql(what: &'static str) -> impl FnOnce(rusqlite::Error) -> AccountError {
    move |source| AccountError::Sql { what, source }
}

/// Why a login failed. The page shows the same words for an unknown name and a wrong
/// password, so the form does not tell which accounts exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginRefused {
    /// Unknown operator or wrong password.
    BadCredentials,
    /// Too many wrong passwords; try again after this Unix time.
    Locked {
        /// When the lock ends.
        until: u64,
    },
}

/// A signed-in operator's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The operator.
    pub operator: String,
    /// The session's CSRF token (every form carries it back).
    pub csrf: String,
    /// SHA-256 of the cookie token (the session's key here).
    pub token_hash: String,
    /// When it ends.
    pub expires_at: u64,
}

/// The accounts database.
#[derive(Debug)]
pub struct Accounts {
    conn: Mutex<Connection>,
    path: PathBuf,
}

/// Checks an operator name (it appears in keys, audit entries and URLs).
pub fn check_name(name: &str) -> Result<(), AccountError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(AccountError::BadName(name.chars().take(80).collect()))
    }
}

/// `n` random bytes as unpadded base64url.
pub fn random_token(n: usize) -> Result<String, AccountError> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| AccountError::Random(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn to_sql(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn from_sql(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Accounts {
    /// `<data_dir>/console/accounts.db`.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("console").join("accounts.db")
    }

    /// Opens (creating if needed) the accounts database under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, AccountError> {
        let path = Self::path(data_dir);
        let conn = silo_sqlite::open(&path, silo_sqlite::Synchronous::Full)?;
        conn.execute_batch("PRAGMA foreign_keys = ON;")
            .map_err(sql("turning on foreign keys"))?;
        conn.execute_batch(SCHEMA)
            .map_err(sql("creating the tables"))?;
        Ok(Self {
            conn: Mutex::new(conn),
            path,
        })
    }

    /// Where the database is.
    pub fn file(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates `name` or sets its password; ends its sessions and clears a lock.
    /// `Ok(true)` when the account is new.
    pub fn set_password(&self, name: &str, password: &str, now: u64) -> Result<bool, AccountError> {
        check_name(name)?;
        if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
            return Err(AccountError::BadPassword);
        }
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| AccountError::Random(e.to_string()))?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| AccountError::Hash(e.to_string()))?;
        let hash = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| AccountError::Hash(e.to_string()))?
            .to_string();
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(sql("starting a transaction"))?;
        let existed = tx
            .query_row(
                "SELECT 1 FROM operators WHERE name = ?1",
                [name],
                |_| Ok(()),
            )
            .optional()
            .map_err(sql("looking up the operator"))?
            .is_some();
        tx.execute(
            "INSERT INTO operators (name, password_hash, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET password_hash = excluded.password_hash,
                 failures = 0, locked_until = 0",
            params![name, hash, to_sql(now)],
        )
        .map_err(sql("storing the password hash"))?;
        tx.execute("DELETE FROM sessions WHERE operator = ?1", [name])
            .map_err(sql("ending the operator's sessions"))?;
        tx.commit().map_err(sql("committing"))?;
        Ok(!existed)
    }

    /// Removes `name` and its sessions.
    pub fn remove(&self, name: &str) -> Result<(), AccountError> {
        let n = self
            .conn()
            .execute("DELETE FROM operators WHERE name = ?1", [name])
            .map_err(sql("removing the operator"))?;
        if n == 0 {
            return Err(AccountError::Unknown(name.to_owned()));
        }
        Ok(())
    }

    /// Every account name, sorted.
    pub fn names(&self) -> Result<Vec<String>, AccountError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT name FROM operators ORDER BY name")
            .map_err(sql("listing operators"))?;
        let rows = stmt
            .query_map([], |r| r.get(0))
            .map_err(sql("listing operators"))?;
        rows.collect::<Result<_, _>>()
            .map_err(sql("reading an operator"))
    }

    /// Checks `password` for `name`; on success starts a session and returns it with the
    /// token for the cookie.
    pub fn login(
        &self,
        name: &str,
        password: &str,
        now: u64,
    ) -> Result<Result<(Session, String), LoginRefused>, AccountError> {
        let row: Option<(String, i64)> = self
            .conn()
            .query_row(
                "SELECT password_hash, locked_until FROM operators WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sql("looking up the operator"))?;
        let Some((stored, locked_until)) = row else {
            // Spend the same work as a real check, so timing does not tell names apart.
            let _ = Argon2::default().hash_password(
                password.as_bytes(),
                &SaltString::encode_b64(b"silo-no-account!")
                    .map_err(|e| AccountError::Hash(e.to_string()))?,
            );
            return Ok(Err(LoginRefused::BadCredentials));
        };
        let locked_until = from_sql(locked_until);
        if locked_until > now {
            return Ok(Err(LoginRefused::Locked {
                until: locked_until,
            }));
        }
        let parsed = PasswordHash::new(&stored).map_err(|e| AccountError::Hash(e.to_string()))?;
        let good = password.len() <= MAX_PASSWORD_BYTES
            && Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
        let conn = self.conn();
        if !good {
            let failures: i64 = conn
                .query_row(
                    "UPDATE operators SET failures = failures + 1 WHERE name = ?1
                     RETURNING failures",
                    [name],
                    |r| r.get(0),
                )
                .map_err(sql("counting a failed login"))?;
            if from_sql(failures) >= u64::from(MAX_FAILURES) {
                conn.execute(
                    "UPDATE operators SET failures = 0, locked_until = ?2 WHERE name = ?1",
                    params![name, to_sql(now + LOCK_SECS)],
                )
                .map_err(sql("locking the account"))?;
            }
            return Ok(Err(LoginRefused::BadCredentials));
        }
        conn.execute("UPDATE operators SET failures = 0 WHERE name = ?1", [name])
            .map_err(sql("clearing failed logins"))?;
        conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [to_sql(now)])
            .map_err(sql("removing expired sessions"))?;
        let token = random_token(32)?;
        let session = Session {
            operator: name.to_owned(),
            csrf: random_token(32)?,
            token_hash: hash_token(&token),
            expires_at: now + SESSION_SECS,
        };
        conn.execute(
            "INSERT INTO sessions (token_hash, operator, csrf, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                session.token_hash,
                session.operator,
                session.csrf,
                to_sql(now),
                to_sql(session.expires_at)
            ],
        )
        .map_err(sql("starting a session"))?;
        Ok(Ok((session, token)))
    }

    /// The live session whose cookie token is `token`.
    pub fn session(&self, token: &str, now: u64) -> Result<Option<Session>, AccountError> {
        let token_hash = hash_token(token);
        let found = self
            .conn()
            .query_row(
                "SELECT operator, csrf, expires_at FROM sessions
                 WHERE token_hash = ?1 AND expires_at > ?2",
                params![token_hash, to_sql(now)],
                |r| {
                    Ok(Session {
                        operator: r.get(0)?,
                        csrf: r.get(1)?,
                        token_hash: token_hash.clone(),
                        expires_at: from_sql(r.get(2)?),
                    })
                },
            )
            .optional()
            .map_err(sql("looking up a session"))?;
        Ok(found)
    }

    /// Ends a session.
    pub fn logout(&self, session: &Session) -> Result<(), AccountError> {
        self.conn()
            .execute(
                "DELETE FROM sessions WHERE token_hash = ?1",
                [&session.token_hash],
            )
            .map_err(sql("ending the session"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn passwords_are_hashed_sessions_checked_and_guessing_locks() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::open(dir.path()).unwrap();
        assert!(matches!(
            accounts.set_password("alice", "short", 100),
            Err(AccountError::BadPassword)
        ));
        assert!(matches!(
            accounts.set_password("Alice!", "long enough password", 100),
            Err(AccountError::BadName(_))
        ));
        assert!(accounts
            .set_password("alice", "correct horse alice", 100)
            .unwrap());
        // Only an argon2id hash is stored.
        let stored: String = accounts
            .conn()
            .query_row("SELECT password_hash FROM operators", [], |r| r.get(0))
            .unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(!stored.contains("correct horse"));

        let (session, token) = accounts
            .login("alice", "correct horse alice", 200)
            .unwrap()
            .unwrap();
        assert_eq!(
            accounts.session(&token, 201).unwrap().unwrap().operator,
            "alice"
        );
        // The token itself is not in the database, only its hash.
        let kept: String = accounts
            .conn()
            .query_row("SELECT token_hash FROM sessions", [], |r| r.get(0))
            .unwrap();
        assert_ne!(kept, token);
        assert!(accounts.session("forged", 201).unwrap().is_none());
        assert!(accounts
            .session(&token, session.expires_at)
            .unwrap()
            .is_none());
        accounts.logout(&session).unwrap();
        assert!(accounts.session(&token, 201).unwrap().is_none());

        assert_eq!(
            accounts.login("mallory", "whatever it is", 200).unwrap(),
            Err(LoginRefused::BadCredentials)
        );
        for _ in 0..MAX_FAILURES {
            assert_eq!(
                accounts.login("alice", "wrong password!!", 300).unwrap(),
                Err(LoginRefused::BadCredentials)
            );
        }
        // Locked: even the right password is refused until the lock ends.
        assert_eq!(
            accounts.login("alice", "correct horse alice", 301).unwrap(),
            Err(LoginRefused::Locked {
                until: 300 + LOCK_SECS
            })
        );
        assert!(accounts
            .login("alice", "correct horse alice", 300 + LOCK_SECS)
            .unwrap()
            .is_ok());
        // A new password ends every session.
        let (_, token) = accounts
            .login("alice", "correct horse alice", 2000)
            .unwrap()
            .unwrap();
        accounts
            .set_password("alice", "another good password", 2001)
            .unwrap();
        assert!(accounts.session(&token, 2002).unwrap().is_none());
        accounts.remove("alice").unwrap();
        assert!(matches!(
            accounts.remove("alice"),
            Err(AccountError::Unknown(_))
        ));
    }
}
