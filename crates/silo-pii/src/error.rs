//! `PiiError`: everything that can go wrong in detection, tokenisation and the vault.
//!
//! No variant carries a PII value: messages name the kind, the file or the operation,
//! never the data.

use std::path::PathBuf;

use crate::kind::PiiKind;

/// An error of the PII layer.
#[derive(Debug, thiserror::Error)]
pub enum PiiError {
    /// The built-in recognizer patterns failed to compile (a bug in this crate).
    #[error("the pii recognizers failed to compile: {0}")]
    Recognizers(String),
    /// More known values than one set may hold.
    #[error("{given} known values given; at most {max} are allowed in one set")]
    TooManyKnownValues {
        /// How many were given.
        given: usize,
        /// The limit.
        max: usize,
    },
    /// One known value is too long to be a customer's value.
    #[error("a known {kind} value is longer than {max} bytes")]
    KnownValueTooLong {
        /// Its kind.
        kind: PiiKind,
        /// The limit.
        max: usize,
    },
    /// The known values did not fit into one matcher.
    #[error("the known values are too complex to compile into one matcher; pass fewer or shorter values")]
    KnownValuesTooComplex,
    /// `tokenize_value` was given a blank value.
    #[error("blank {kind} value: there is nothing to tokenise")]
    EmptyValue {
        /// The kind asked for.
        kind: PiiKind,
    },
    /// A task id that is empty, too long or contains control characters.
    #[error("task id must be 1 to {max} bytes without control characters")]
    InvalidTask {
        /// The limit.
        max: usize,
    },
    /// A tenant name outside `[A-Za-z0-9._-]{1,64}`.
    #[error("tenant name must be 1 to 64 bytes of ASCII letters, digits, `.`, `_` or `-`")]
    InvalidTenant,
    /// The vault directory could not be created or read.
    #[error("vault directory `{path}`: {source}")]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The master key file could not be read or created.
    #[error("vault master key `{path}`: {source}")]
    KeyFileIo {
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The master key file is open to group or others.
    #[error("vault master key `{path}` is accessible to group or others (mode {mode:03o}); run `chmod 600 {path}` and check who may have read it")]
    KeyFilePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The master key file does not hold exactly 32 bytes.
    #[error("vault master key `{path}` holds {len} bytes, not 32: it is damaged or not a silo key; restore it from backup")]
    KeyFileLength {
        /// The key file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// The master key path is a symlink, directory or other non-regular file.
    #[error("vault master key `{path}` is not a regular file")]
    KeyFileNotRegular {
        /// The key file.
        path: PathBuf,
    },
    /// The master key does not unwrap the tenant's data key.
    #[error("the master key does not open the data key of tenant `{tenant}`: was `pii-master.key` replaced or the vault copied from elsewhere?")]
    WrongMasterKey {
        /// The tenant.
        tenant: String,
    },
    /// A stored value failed authenticated decryption: the database was altered.
    #[error(
        "a vault entry failed authentication ({context}): the vault file was altered or damaged"
    )]
    Tampered {
        /// Which read.
        context: &'static str,
    },
    /// SQLite failed.
    #[error("vault storage ({context}): {source}")]
    Storage {
        /// What was being done.
        context: &'static str,
        /// The SQLite error (statements bind values, so it never quotes one).
        source: rusqlite::Error,
    },
    /// The shared PostgreSQL database failed (unreachable, or a statement failed).
    #[error("vault database: {0}")]
    Database(#[from] silo_postgres::PgError),
    /// Other writers kept taking the number a new token was to get (PostgreSQL only; it
    /// means a writer is minting without the task lock).
    #[error("could not mint a {kind} token: other writers kept taking its number; try again")]
    MintContended {
        /// The kind.
        kind: PiiKind,
    },
    /// The operating system's random source failed.
    #[error("cannot gather randomness from the operating system: {0}")]
    Random(getrandom::Error),
    /// Encryption failed (it cannot for sane input sizes).
    #[error("encrypting a vault entry failed")]
    Encrypt,
    /// A task has used every token number of a kind.
    #[error("the task has used every {kind} token number")]
    TokensExhausted {
        /// The kind.
        kind: PiiKind,
    },
}

/// Maps a SQLite error, naming what was being done.
pub(crate) fn storage(context: &'static str) -> impl FnOnce(rusqlite::Error) -> PiiError {
    move |source| PiiError::Storage { context, source }
}
