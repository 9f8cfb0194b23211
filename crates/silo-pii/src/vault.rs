//! `Vault`: the only place a token's value lives. Values sealed with the tenant's keys (see
//! `envelope.rs`); lookups by blind index. Two storage backends behind one tokenising
//! logic: an embedded SQLite file (the default) or a shared PostgreSQL database (several
//! hosts, one vault).
//!
//! SQLite layout of `<dir>`: `pii-master.key` (0600, 32 bytes) and `vault.db` (+ `-wal`,
//! `-shm`), created 0600 in a 0700 directory when missing. The database holds, per token:
//! tenant, task, kind, number, blind index, nonce and ciphertext — never a plaintext value
//! or a normalised key.
//!
//! PostgreSQL ([`Vault::open_postgres`]): the same rows in the tables `pii_tenants` and
//! `pii_tokens` (migration `V4__keys_and_vault.sql` of silo-postgres), and the master key
//! still a file, `<key_dir>/pii-master.key`, which never enters the database. **Every host
//! must be given the same key file** (copy it, 0600, before the second host starts): the
//! first host to open a tenant wraps the tenant's data key under its master key, and a host
//! with another key file is refused ([`PiiError::WrongMasterKey`]) rather than allowed to
//! write values nobody else can read.
//!
//! Scope: a token is numbered per (tenant, task, kind) from 1 and only resolves within the
//! task that minted it; `[NAME_1]` of task A is unknown to task B. Hydration acts only on
//! canonical tokens this vault issued for that task; anything else, including escaped
//! token-shaped input (`⟦NAME_1⟧`), stays as it is.
//!
//! Concurrency: the vault is `Send + Sync` and meant to be shared in an `Arc`. SQLite: one
//! connection behind a `Mutex`, minting in `BEGIN IMMEDIATE` transactions, so several
//! processes on one file never hand out the same number twice. PostgreSQL: a pool; minting
//! for a task takes a transaction-level advisory lock on (tenant, task) and re-reads the
//! blind index under it, so hosts tokenising the same value at once agree on one token; the
//! unique keys on (tenant, blind) and (tenant, task, kind, number) back that up, and a lost
//! insert (`ON CONFLICT DO NOTHING`) is read back and retried rather than trusted.

use std::collections::HashMap;
use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};
use silo_postgres::{postgres, Database, PgError, PooledClient};

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

/// How often minting one token is retried after losing an insert to another writer.
const MINT_ATTEMPTS: usize = 8;

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

/// Where the rows live.
enum Backend {
    /// One connection to the vault file (or an in-memory database).
    Sqlite(Mutex<Connection>),
    /// The shared database's pool.
    Postgres(Database),
}

/// The token vault. See the module docs.
pub struct Vault {
    backend: Backend,
    tenant: String,
    keys: TenantKeys,
    dir: Option<PathBuf>,
}

impl std::fmt::Debug for Vault {
    /// Shows where the vault is, never a key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match &self.backend {
            Backend::Sqlite(_) => "sqlite".to_string(),
            Backend::Postgres(db) => format!("postgres {}", db.shown_url()),
        };
        f.debug_struct("Vault")
            .field("tenant", &self.tenant)
            .field("dir", &self.dir)
            .field("backend", &backend)
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
        let master = key_dir_master(dir)?;
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
        Vault::with_sqlite(conn, &master, tenant, Some(dir.to_path_buf()))
    }

    /// Opens the vault kept in the shared PostgreSQL database `db` for the
    /// [`DEFAULT_TENANT`], with the master key file in `key_dir` (created there, 0600 in a
    /// 0700 folder, when missing). Every host of one database must hold the same key file;
    /// see the module docs.
    pub fn open_postgres(db: &Database, key_dir: &Path) -> Result<Vault, PiiError> {
        Vault::open_postgres_tenant(db, key_dir, DEFAULT_TENANT)
    }

    /// [`Vault::open_postgres`] for `tenant`: the tenant's data key is made on first use by
    /// whichever host comes first, and read back by every other.
    pub fn open_postgres_tenant(
        db: &Database,
        key_dir: &Path,
        tenant: &str,
    ) -> Result<Vault, PiiError> {
        check_tenant(tenant)?;
        let master = key_dir_master(key_dir)?;
        let mut client = db.client()?;
        // A fresh wrap every time; only the first one stored for the tenant counts, and the
        // row read back is the one every host unwraps.
        let fresh = envelope::random_key()?;
        let (nonce, wrapped) = envelope::wrap_data_key(&master, tenant, &fresh)?;
        client
            .execute(
                "INSERT INTO pii_tenants (tenant, key_version, nonce, wrapped_key)
                 VALUES ($1, 1, $2, $3) ON CONFLICT (tenant) DO NOTHING",
                &[&tenant, &&nonce[..], &wrapped],
            )
            .map_err(pg("storing the tenant key"))?;
        let row = client
            .query_one(
                "SELECT nonce, wrapped_key FROM pii_tenants WHERE tenant = $1",
                &[&tenant],
            )
            .map_err(pg("loading the tenant key"))?;
        let nonce: Vec<u8> = row.try_get(0).map_err(pg("loading the tenant key"))?;
        let wrapped: Vec<u8> = row.try_get(1).map_err(pg("loading the tenant key"))?;
        let data_key =
            envelope::unwrap_data_key(&master, tenant, &nonce, &wrapped)?.ok_or_else(|| {
                PiiError::WrongMasterKey {
                    tenant: tenant.to_string(),
                }
            })?;
        Ok(Vault {
            backend: Backend::Postgres(db.clone()),
            tenant: tenant.to_string(),
            keys: TenantKeys::derive(&data_key)?,
            dir: Some(key_dir.to_path_buf()),
        })
    }

    /// A throwaway vault: in-memory database, random master key, nothing on disk. For tests
    /// and `silo pii scan`.
    pub fn scratch() -> Result<Vault, PiiError> {
        let conn = Connection::open_in_memory().map_err(storage("opening the database"))?;
        let master = envelope::random_key()?;
        Vault::with_sqlite(conn, &master, DEFAULT_TENANT, None)
    }

    fn with_sqlite(
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
            backend: Backend::Sqlite(Mutex::new(conn)),
            tenant: tenant.to_string(),
            keys: TenantKeys::derive(&data_key)?,
            dir,
        })
    }

    /// The tenant this vault serves.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The vault directory (for a PostgreSQL vault: the folder of its master key file);
    /// `None` for a [`scratch`](Vault::scratch) vault.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// A connection for one operation: the SQLite connection (locked) or a pooled client.
    fn connect(&self) -> Result<Conn<'_>, PiiError> {
        match &self.backend {
            // A panic while holding the lock cannot leave a half-applied write: every write
            // is in a transaction that rolls back when dropped.
            Backend::Sqlite(conn) => Ok(Conn::Sqlite(
                conn.lock().unwrap_or_else(PoisonError::into_inner),
            )),
            Backend::Postgres(db) => Ok(Conn::Postgres(Box::new(db.client()?))),
        }
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
        let mut conn = self.connect()?;
        let mut tx = conn.begin()?;
        let token = self.token_for(&mut tx, task, kind, &normalized, value)?;
        tx.commit()?;
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
        let mut conn = if needs_vault {
            Some(self.connect()?)
        } else {
            None
        };
        let mut tx = match conn.as_mut() {
            Some(conn) => Some(conn.begin()?),
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
                    let Some(tx) = tx.as_mut() else {
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
            tx.commit()?;
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
        let mut conn = self.connect()?;
        self.lookup(&mut conn, task, token)
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
        let mut conn: Option<Conn<'_>> = None;
        let mut cache: HashMap<Token, Option<String>> = HashMap::new();
        for (start, end, token) in token::canonical_tokens(text) {
            if !allowed.contains(&token.kind()) {
                continue;
            }
            let value = match cache.get(&token) {
                Some(v) => v.clone(),
                None => {
                    let conn = match conn.as_mut() {
                        Some(c) => c,
                        None => conn.insert(self.connect()?),
                    };
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
        match self.connect()? {
            Conn::Sqlite(conn) => conn
                .execute(
                    "DELETE FROM pii_tokens WHERE tenant = ?1 AND task = ?2",
                    params![self.tenant, task],
                )
                .map_err(storage("forgetting a task")),
            Conn::Postgres(mut client) => client
                .execute(
                    "DELETE FROM pii_tokens WHERE tenant = $1 AND task = $2",
                    &[&self.tenant, &task],
                )
                .map_err(pg("forgetting a task"))
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        }
    }

    fn lookup(
        &self,
        conn: &mut Conn<'_>,
        task: &str,
        token: Token,
    ) -> Result<Option<String>, PiiError> {
        let Some((nonce, ciphertext)) = conn.sealed(&self.tenant, task, token)? else {
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
        tx: &mut Tx<'_>,
        task: &str,
        kind: PiiKind,
        normalized: &str,
        value: &str,
    ) -> Result<Token, PiiError> {
        let blind = self.keys.blind_index(task, kind, normalized);
        for _ in 0..MINT_ATTEMPTS {
            if let Some(number) = tx.number_of(&self.tenant, &blind)? {
                return u32::try_from(number)
                    .ok()
                    .and_then(|n| Token::new(kind, n))
                    .ok_or(PiiError::Tampered {
                        context: "looking up a token",
                    });
            }
            if tx.serialize_task(&self.tenant, task)? {
                // We waited for whoever minted in this task before us: look again.
                continue;
            }
            let next = tx.next_number(&self.tenant, task, kind)?;
            let number = u32::try_from(next).map_err(|_| PiiError::TokensExhausted { kind })?;
            let token = Token::new(kind, number).ok_or(PiiError::TokensExhausted { kind })?;
            let row = RowId {
                tenant: &self.tenant,
                task,
                kind,
                number,
            };
            let (nonce, ciphertext) = self.keys.seal(&row, value)?;
            let sealed = Sealed {
                blind: &blind,
                nonce: &nonce,
                ciphertext: &ciphertext,
            };
            if tx.insert(&self.tenant, task, token, &sealed)? {
                return Ok(token);
            }
            // Another writer took this value or this number first: read back, renumber.
        }
        Err(PiiError::MintContended { kind })
    }
}

/// A token's nonce and ciphertext, as stored.
type StoredValue = (Vec<u8>, Vec<u8>);

/// One row's stored bytes.
struct Sealed<'a> {
    blind: &'a [u8],
    nonce: &'a [u8],
    ciphertext: &'a [u8],
}

/// A connection borrowed for one operation.
enum Conn<'v> {
    Sqlite(MutexGuard<'v, Connection>),
    Postgres(Box<PooledClient>),
}

impl Conn<'_> {
    /// A write transaction: `BEGIN IMMEDIATE` on SQLite (one writer at a time), a plain
    /// read-committed transaction on PostgreSQL (minting locks the task; see `Tx`).
    fn begin(&mut self) -> Result<Tx<'_>, PiiError> {
        match self {
            Conn::Sqlite(conn) => conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map(Tx::Sqlite)
                .map_err(storage("starting a transaction")),
            Conn::Postgres(client) => client
                .transaction()
                .map(|tx| Tx::Postgres { tx, locked: false })
                .map_err(pg("starting a transaction")),
        }
    }

    /// The nonce and ciphertext of a token, if the row exists.
    fn sealed(
        &mut self,
        tenant: &str,
        task: &str,
        token: Token,
    ) -> Result<Option<StoredValue>, PiiError> {
        match self {
            Conn::Sqlite(conn) => conn
                .prepare_cached(
                    "SELECT nonce, ciphertext FROM pii_tokens
                     WHERE tenant = ?1 AND task = ?2 AND kind = ?3 AND number = ?4",
                )
                .and_then(|mut st| {
                    st.query_row(
                        params![tenant, task, token.kind().as_str(), token.number()],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()
                })
                .map_err(storage("resolving a token")),
            Conn::Postgres(client) => client
                .query_opt(
                    "SELECT nonce, ciphertext FROM pii_tokens
                     WHERE tenant = $1 AND task = $2 AND kind = $3 AND number = $4",
                    &[
                        &tenant,
                        &task,
                        &token.kind().as_str(),
                        &i64::from(token.number()),
                    ],
                )
                .and_then(|row| row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose())
                .map_err(pg("resolving a token")),
        }
    }
}

/// A write transaction of either backend: the few statements minting needs.
enum Tx<'c> {
    Sqlite(rusqlite::Transaction<'c>),
    Postgres {
        tx: postgres::Transaction<'c>,
        /// Whether this transaction holds the task's minting lock yet.
        locked: bool,
    },
}

impl Tx<'_> {
    /// The number already minted for this blind index, if any.
    fn number_of(&mut self, tenant: &str, blind: &[u8]) -> Result<Option<i64>, PiiError> {
        match self {
            Tx::Sqlite(tx) => tx
                .prepare_cached("SELECT number FROM pii_tokens WHERE tenant = ?1 AND blind = ?2")
                .and_then(|mut st| {
                    st.query_row(params![tenant, blind], |r| r.get(0))
                        .optional()
                })
                .map_err(storage("looking up a token")),
            Tx::Postgres { tx, .. } => tx
                .query_opt(
                    "SELECT number FROM pii_tokens WHERE tenant = $1 AND blind = $2",
                    &[&tenant, &blind],
                )
                .and_then(|row| row.map(|r| r.try_get(0)).transpose())
                .map_err(pg("looking up a token")),
        }
    }

    /// Makes this transaction the only one minting in (tenant, task) until it ends. Returns
    /// `true` when it just took the lock (what was read before may be stale), `false` when
    /// it already held it or needs none (SQLite's `BEGIN IMMEDIATE` serialises all writers).
    fn serialize_task(&mut self, tenant: &str, task: &str) -> Result<bool, PiiError> {
        match self {
            Tx::Sqlite(_) => Ok(false),
            Tx::Postgres { locked: true, .. } => Ok(false),
            Tx::Postgres { tx, locked } => {
                tx.execute(
                    "SELECT pg_advisory_xact_lock($1, $2)",
                    &[
                        &silo_postgres::locks::VAULT_TASK_CLASS,
                        &task_lock_key(tenant, task),
                    ],
                )
                .map_err(pg("locking the task for minting"))?;
                *locked = true;
                Ok(true)
            }
        }
    }

    /// The next free number of (tenant, task, kind).
    fn next_number(&mut self, tenant: &str, task: &str, kind: PiiKind) -> Result<i64, PiiError> {
        match self {
            Tx::Sqlite(tx) => tx
                .prepare_cached(
                    "SELECT COALESCE(MAX(number), 0) + 1 FROM pii_tokens
                     WHERE tenant = ?1 AND task = ?2 AND kind = ?3",
                )
                .and_then(|mut st| st.query_row(params![tenant, task, kind.as_str()], |r| r.get(0)))
                .map_err(storage("numbering a token")),
            Tx::Postgres { tx, .. } => tx
                .query_one(
                    "SELECT COALESCE(MAX(number), 0) + 1 FROM pii_tokens
                     WHERE tenant = $1 AND task = $2 AND kind = $3",
                    &[&tenant, &task, &kind.as_str()],
                )
                .and_then(|r| r.try_get(0))
                .map_err(pg("numbering a token")),
        }
    }

    /// Stores a token's row. `false` when another writer already holds this blind index or
    /// this number (PostgreSQL only: SQLite's single writer cannot lose the race).
    fn insert(
        &mut self,
        tenant: &str,
        task: &str,
        token: Token,
        sealed: &Sealed<'_>,
    ) -> Result<bool, PiiError> {
        match self {
            Tx::Sqlite(tx) => tx
                .prepare_cached(
                    "INSERT INTO pii_tokens (tenant, task, kind, number, blind, nonce, ciphertext)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        tenant,
                        task,
                        token.kind().as_str(),
                        token.number(),
                        sealed.blind,
                        sealed.nonce,
                        sealed.ciphertext
                    ])
                })
                .map(|_| true)
                .map_err(storage("storing a token")),
            Tx::Postgres { tx, .. } => tx
                .execute(
                    "INSERT INTO pii_tokens (tenant, task, kind, number, blind, nonce, ciphertext)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                    &[
                        &tenant,
                        &task,
                        &token.kind().as_str(),
                        &i64::from(token.number()),
                        &sealed.blind,
                        &sealed.nonce,
                        &sealed.ciphertext,
                    ],
                )
                .map(|inserted| inserted == 1)
                .map_err(pg("storing a token")),
        }
    }

    fn commit(self) -> Result<(), PiiError> {
        match self {
            Tx::Sqlite(tx) => tx.commit().map_err(storage("committing tokens")),
            Tx::Postgres { tx, .. } => tx.commit().map_err(pg("committing tokens")),
        }
    }
}

/// The second key of a task's minting lock: 32 bits of SHA-256 over (tenant, task). Two
/// tasks sharing a key only wait for each other.
fn task_lock_key(tenant: &str, task: &str) -> i32 {
    let mut hash = Sha256::new();
    hash.update((tenant.len() as u64).to_be_bytes());
    hash.update(tenant.as_bytes());
    hash.update(task.as_bytes());
    let digest = hash.finalize();
    let mut first = [0u8; 4];
    first.copy_from_slice(digest.get(..4).unwrap_or(&[0; 4]));
    i32::from_be_bytes(first)
}

/// Creates `dir` (0700) if missing and loads or creates the master key file in it.
fn key_dir_master(dir: &Path) -> Result<envelope::SecretKey, PiiError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| PiiError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    master_key::load_or_create(dir)
}

/// Maps a PostgreSQL error, naming what was being done. Statements bind only tenant, task,
/// kind, number and sealed bytes, so an error never quotes a value.
fn pg(context: &'static str) -> impl FnOnce(postgres::Error) -> PiiError {
    move |source| PiiError::Database(PgError::Query { context, source })
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

#[cfg(test)]
mod tests {
    use super::task_lock_key;

    #[test]
    fn lock_keys_separate_tenants_and_tasks() {
        assert_eq!(task_lock_key("a", "t1"), task_lock_key("a", "t1"));
        assert_ne!(task_lock_key("a", "t1"), task_lock_key("a", "t2"));
        assert_ne!(task_lock_key("a", "t1"), task_lock_key("b", "t1"));
        // The tenant's length is hashed: ("ab", "c") is not ("a", "bc").
        assert_ne!(task_lock_key("ab", "c"), task_lock_key("a", "bc"));
    }
}
