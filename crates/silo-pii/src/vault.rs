//! `Vault`: the only place a token's value lives. SQLite in WAL mode; values sealed with
//! the tenant's keys (see `envelope.rs`); lookups by blind index.
//!
//! Layout of `<dir>`: `pii-master.key` (0600, 32 bytes) and `vault.db` (+ `-wal`, `-shm`),
//! created 0600 in a 0700 directory when missing. The database holds, per token: tenant,
//! task, kind, number, blind index, nonce and ciphertext — never a plaintext value or a
//! normalised key.
//!
//! Scope: a token is numbered per (tenant, task, kind) from 1 and only resolves within the
//! task that minted it; `[NAME_1]` of task A is unknown to task B. Hydration acts only on
//! canonical tokens this vault issued for that task; anything else, including escaped
//! token-shaped input (`⟦NAME_1⟧`), stays as it is.
//!
//! Concurrency: one connection behind a `Mutex`; the vault is `Send + Sync` and meant to be
//! shared in an `Arc`. Minting runs in `BEGIN IMMEDIATE` transactions, so several processes
//! on one file never hand out the same number twice.

use std::collections::HashMap;
use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use crate::envelope::{self, RowId, TenantKeys};
use crate::error::{storage, PiiError};
use crate::kind::PiiKind;
use crate::known::KnownSet;
use crate::master_key;
use crate::normalize::normalize;
use crate::scan::{self, Found};
use crate::token::{self, Token};

/// The tenant a vault serves unless told otherwise.
pub const DEFAULT_TENANT: &str = "default";
/// The database's file name inside the vault directory.
pub const VAULT_FILE: &str = "vault.db";
/// The longest task id accepted.
pub const MAX_TASK_LEN: usize = 256;
/// How long a writer waits for another process's transaction.
pub use silo_sqlite::BUSY_TIMEOUT;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS pii_tenants (
    tenant      TEXT PRIMARY KEY,
    key_version INTEGER NOT NULL,
    nonce       BLOB NOT NULL,
    wrapped_key BLOB NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS pii_tokens (
    tenant     TEXT NOT NULL,
    task       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    number     INTEGER NOT NULL CHECK (number >= 1),
    blind      BLOB NOT NULL,
    nonce      BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    PRIMARY KEY (tenant, task, kind, number)
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS pii_tokens_blind ON pii_tokens (tenant, blind);
PRAGMA user_version = 1;
";

/// Free text after tokenisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokenized {
    /// The text with every detected value replaced by its token and every token-shaped
    /// input string escaped.
    pub text: String,
    /// The distinct tokens it now contains, in order of first appearance.
    pub tokens: Vec<Token>,
    /// How many token-shaped strings of the input were escaped (worth an audit line: they
    /// are usually an injection attempt).
    pub escaped: usize,
}

/// The token vault. See the module docs.
pub struct Vault {
    conn: Mutex<Connection>,
    tenant: String,
    keys: TenantKeys,
    dir: Option<PathBuf>,
}

impl std::fmt::Debug for Vault {
    /// Shows where the vault is, never a key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("tenant", &self.tenant)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Opens (creating if missing) the vault in `dir` for the [`DEFAULT_TENANT`].
    pub fn open(dir: &Path) -> Result<Vault, PiiError> {
        Vault::open_tenant(dir, DEFAULT_TENANT)
    }

    /// Opens (creating if missing) the vault in `dir` for `tenant`: creates the directory
    /// (0700), the master key file (0600) and the database as needed, and the tenant's data
    /// key on first use.
    pub fn open_tenant(dir: &Path, tenant: &str) -> Result<Vault, PiiError> {
        check_tenant(tenant)?;
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| PiiError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        let master = master_key::load_or_create(dir)?;
        let db = dir.join(VAULT_FILE);
        // Owner-only file (its -wal/-shm follow), WAL, durable at commit.
        let conn = silo_sqlite::open(&db, silo_sqlite::Synchronous::Full).map_err(|e| match e {
            silo_sqlite::OpenError::Io { path, source } => PiiError::Io { path, source },
            silo_sqlite::OpenError::Sqlite { context, source } => storage(context)(source),
            e @ silo_sqlite::OpenError::NotWal(_) => PiiError::Io {
                path: db.clone(),
                source: std::io::Error::other(e.to_string()),
            },
        })?;
        Vault::with_connection(conn, &master, tenant, Some(dir.to_path_buf()))
    }

    /// A throwaway vault: in-memory database, random master key, nothing on disk. For tests
    /// and `silo pii scan`.
    pub fn scratch() -> Result<Vault, PiiError> {
        let conn = Connection::open_in_memory().map_err(storage("opening the database"))?;
        let master = envelope::random_key()?;
        Vault::with_connection(conn, &master, DEFAULT_TENANT, None)
    }

    fn with_connection(
        mut conn: Connection,
        master: &[u8; envelope::KEY_LEN],
        tenant: &str,
        dir: Option<PathBuf>,
    ) -> Result<Vault, PiiError> {
        conn.execute_batch(SCHEMA)
            .map_err(storage("creating the schema"))?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(storage("loading the tenant key"))?;
        let row: Option<(Vec<u8>, Vec<u8>)> = tx
            .query_row(
                "SELECT nonce, wrapped_key FROM pii_tenants WHERE tenant = ?1",
                params![tenant],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(storage("loading the tenant key"))?;
        let data_key = match row {
            Some((nonce, wrapped)) => envelope::unwrap_data_key(master, tenant, &nonce, &wrapped)?
                .ok_or_else(|| PiiError::WrongMasterKey {
                    tenant: tenant.to_string(),
                })?,
            None => {
                let key = envelope::random_key()?;
                let (nonce, wrapped) = envelope::wrap_data_key(master, tenant, &key)?;
                tx.execute(
                    "INSERT INTO pii_tenants (tenant, key_version, nonce, wrapped_key) VALUES (?1, 1, ?2, ?3)",
                    params![tenant, &nonce[..], wrapped],
                )
                .map_err(storage("storing the tenant key"))?;
                key
            }
        };
        tx.commit().map_err(storage("storing the tenant key"))?;
        Ok(Vault {
            conn: Mutex::new(conn),
            tenant: tenant.to_string(),
            keys: TenantKeys::derive(&data_key)?,
            dir,
        })
    }

    /// The tenant this vault serves.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The vault directory; `None` for a [`scratch`](Vault::scratch) vault.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-applied write: every write is
        // in a transaction that rolls back when dropped.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The token for a value of a schema-declared PII field: the same (normalised) value in
    /// the same task always gets the same token. The value is stored as given.
    pub fn tokenize_value(
        &self,
        task: &str,
        kind: PiiKind,
        value: &str,
    ) -> Result<Token, PiiError> {
        check_task(task)?;
        if value.trim().is_empty() {
            return Err(PiiError::EmptyValue { kind });
        }
        let normalized = normalize(kind, value.trim());
        let mut conn = self.lock();
        let tx = begin(&mut conn)?;
        let token = self.token_for(&tx, task, kind, &normalized, value)?;
        tx.commit().map_err(storage("committing tokens"))?;
        Ok(token)
    }

    /// Tokenises free text: every value of `known` (whatever its spelling), every value a
    /// recognizer finds, replaced by its task-scoped token; every token-shaped string of the
    /// input escaped (`[NAME_1]` → `⟦NAME_1⟧`) so it can never hydrate.
    pub fn tokenize_text(
        &self,
        task: &str,
        text: &str,
        known: &KnownSet,
    ) -> Result<Tokenized, PiiError> {
        check_task(task)?;
        let found = scan::detect(text, known)?;
        let mut out = Tokenized {
            text: String::with_capacity(text.len() + 16),
            tokens: Vec::new(),
            escaped: 0,
        };
        let needs_vault = found.iter().any(|c| matches!(c.found, Found::Pii { .. }));
        let mut guard = needs_vault.then(|| self.lock());
        let tx = match guard.as_mut() {
            Some(conn) => Some(begin(conn)?),
            None => None,
        };
        let mut minted: HashMap<(PiiKind, String), Token> = HashMap::new();
        let mut copied = 0;
        for c in &found {
            out.text
                .push_str(text.get(copied..c.start).unwrap_or_default());
            let piece = text.get(c.start..c.end).unwrap_or_default();
            copied = c.end;
            let (kind, known_index) = match c.found {
                Found::TokenShaped => {
                    out.text.push_str(&token::escape_one(piece));
                    out.escaped += 1;
                    continue;
                }
                Found::Pii { kind, known, .. } => (kind, known),
            };
            let (normalized, value) = match known_index.and_then(|i| known.entry(i)) {
                Some(e) => (e.normalized.clone(), e.value.as_str()),
                None => {
                    let n = normalize(kind, piece);
                    match known.lookup(kind, &n) {
                        Some(e) => (n, e.value.as_str()),
                        None => (n, piece),
                    }
                }
            };
            let key = (kind, normalized);
            let token = match minted.get(&key) {
                Some(t) => *t,
                None => {
                    let Some(tx) = tx.as_ref() else {
                        continue;
                    };
                    let t = self.token_for(tx, task, kind, &key.1, value)?;
                    // One token per (kind, normalised value): new here means new to `tokens`.
                    minted.insert(key, t);
                    out.tokens.push(t);
                    t
                }
            };
            out.text.push_str(&token.to_string());
        }
        out.text.push_str(text.get(copied..).unwrap_or_default());
        if let Some(tx) = tx {
            tx.commit().map_err(storage("committing tokens"))?;
        }
        Ok(out)
    }

    /// The hydration primitive: the kind and value of `token` if this vault issued it for
    /// `task`; `None` for anything else (not a canonical token, another task's, unknown).
    pub fn resolve(&self, task: &str, token: &str) -> Result<Option<(PiiKind, String)>, PiiError> {
        check_task(task)?;
        let Some(token) = Token::parse(token) else {
            return Ok(None);
        };
        let conn = self.lock();
        self.lookup(&conn, task, token)
            .map(|v| v.map(|value| (token.kind(), value)))
    }

    /// Replaces, in `text`, the tokens this vault issued for `task` whose kind is in
    /// `allowed` by their values. Everything else — other kinds, other tasks' or unknown
    /// tokens, escaped token-shaped text — is left exactly as it is. Values are inserted
    /// once; they are never scanned for tokens themselves.
    pub fn hydrate_tokens(
        &self,
        task: &str,
        text: &str,
        allowed: &[PiiKind],
    ) -> Result<String, PiiError> {
        check_task(task)?;
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        let mut conn = None;
        let mut cache: HashMap<Token, Option<String>> = HashMap::new();
        for (start, end, token) in token::canonical_tokens(text) {
            if !allowed.contains(&token.kind()) {
                continue;
            }
            let conn = conn.get_or_insert_with(|| self.lock());
            let value = match cache.get(&token) {
                Some(v) => v.clone(),
                None => {
                    let v = self.lookup(conn, task, token)?;
                    cache.insert(token, v.clone());
                    v
                }
            };
            if let Some(value) = value {
                out.push_str(text.get(copied..start).unwrap_or_default());
                out.push_str(&value);
                copied = end;
            }
        }
        out.push_str(text.get(copied..).unwrap_or_default());
        Ok(out)
    }

    /// Deletes every token of `task` (when the task is closed and its data retention ends);
    /// returns how many. Its tokens resolve to nothing afterwards.
    pub fn forget_task(&self, task: &str) -> Result<usize, PiiError> {
        check_task(task)?;
        let conn = self.lock();
        conn.execute(
            "DELETE FROM pii_tokens WHERE tenant = ?1 AND task = ?2",
            params![self.tenant, task],
        )
        .map_err(storage("forgetting a task"))
    }

    fn lookup(
        &self,
        conn: &Connection,
        task: &str,
        token: Token,
    ) -> Result<Option<String>, PiiError> {
        let row: Option<(Vec<u8>, Vec<u8>)> = conn
            .prepare_cached(
                "SELECT nonce, ciphertext FROM pii_tokens
                 WHERE tenant = ?1 AND task = ?2 AND kind = ?3 AND number = ?4",
            )
            .and_then(|mut st| {
                st.query_row(
                    params![self.tenant, task, token.kind().as_str(), token.number()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
            })
            .map_err(storage("resolving a token"))?;
        let Some((nonce, ciphertext)) = row else {
            return Ok(None);
        };
        let row = RowId {
            tenant: &self.tenant,
            task,
            kind: token.kind(),
            number: token.number(),
        };
        self.keys
            .open(&row, &nonce, &ciphertext)
            .map(Some)
            .ok_or(PiiError::Tampered {
                context: "resolving a token",
            })
    }

    /// The token of (task, kind, normalised value), minted if new. Runs inside `tx`.
    fn token_for(
        &self,
        tx: &Transaction<'_>,
        task: &str,
        kind: PiiKind,
        normalized: &str,
        value: &str,
    ) -> Result<Token, PiiError> {
        let blind = self.keys.blind_index(task, kind, normalized);
        let existing: Option<u32> = tx
            .prepare_cached("SELECT number FROM pii_tokens WHERE tenant = ?1 AND blind = ?2")
            .and_then(|mut st| {
                st.query_row(params![self.tenant, &blind[..]], |r| r.get(0))
                    .optional()
            })
            .map_err(storage("looking up a token"))?;
        if let Some(number) = existing {
            return Token::new(kind, number).ok_or(PiiError::Tampered {
                context: "looking up a token",
            });
        }
        let next: i64 = tx
            .prepare_cached(
                "SELECT COALESCE(MAX(number), 0) + 1 FROM pii_tokens
                 WHERE tenant = ?1 AND task = ?2 AND kind = ?3",
            )
            .and_then(|mut st| {
                st.query_row(params![self.tenant, task, kind.as_str()], |r| r.get(0))
            })
            .map_err(storage("numbering a token"))?;
        let number = u32::try_from(next).map_err(|_| PiiError::TokensExhausted { kind })?;
        let token = Token::new(kind, number).ok_or(PiiError::TokensExhausted { kind })?;
        let row = RowId {
            tenant: &self.tenant,
            task,
            kind,
            number,
        };
        let (nonce, ciphertext) = self.keys.seal(&row, value)?;
        tx.prepare_cached(
            "INSERT INTO pii_tokens (tenant, task, kind, number, blind, nonce, ciphertext)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut st| {
            st.execute(params![
                self.tenant,
                task,
                kind.as_str(),
                number,
                &blind[..],
                &nonce[..],
                ciphertext
            ])
        })
        .map_err(storage("storing a token"))?;
        Ok(token)
    }
}

fn begin<'c>(conn: &'c mut Connection) -> Result<Transaction<'c>, PiiError> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(storage("starting a transaction"))
}

fn check_task(task: &str) -> Result<(), PiiError> {
    if task.is_empty() || task.len() > MAX_TASK_LEN || task.chars().any(char::is_control) {
        return Err(PiiError::InvalidTask { max: MAX_TASK_LEN });
    }
    Ok(())
}

fn check_tenant(tenant: &str) -> Result<(), PiiError> {
    let ok = !tenant.is_empty()
        && tenant.len() <= 64
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    ok.then_some(()).ok_or(PiiError::InvalidTenant)
}
