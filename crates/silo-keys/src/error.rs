//! Error types of the key crate: one enum per job (folder hash, store, mint, verify).

use std::path::PathBuf;

/// Computing an agent folder's content hash failed.
#[derive(Debug, thiserror::Error)]
pub enum FolderHashError {
    /// Reading the folder failed.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A symlink points outside the agent folder (or cannot be resolved).
    #[error("symlink `{path}` points outside the agent folder")]
    SymlinkEscapes {
        /// The symlink, relative to the folder.
        path: PathBuf,
    },
    /// A symlink points at a directory; refused to keep the hash loop-free and obvious.
    #[error("symlink `{path}` points at a directory; only regular files may be linked")]
    SymlinkToDirectory {
        /// The symlink, relative to the folder.
        path: PathBuf,
    },
    /// A path is not valid UTF-8, so it has no stable hash input.
    #[error("path `{path}` is not valid utf-8")]
    NonUtf8Path {
        /// The offending path.
        path: PathBuf,
    },
    /// The root is not a directory.
    #[error("`{path}` is not a directory")]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
}

/// The key store directory could not be created, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Filesystem error.
    #[error("key store `{path}`: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// `init` on a directory that already holds a key store.
    #[error("key store `{path}` already exists; use `silo keys rotate` to add a key")]
    AlreadyExists {
        /// The key store directory.
        path: PathBuf,
    },
    /// `open` on a directory without a key store.
    #[error("no key store at `{path}`; run `silo keys init` first")]
    Missing {
        /// The key store directory.
        path: PathBuf,
    },
    /// A store file does not parse.
    #[error("key store file `{path}` is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A private key file is readable by others.
    #[error("private key file `{path}` has mode {mode:o}; it must be 0600")]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// Random number generation failed.
    #[error("cannot generate a key: {0}")]
    Random(String),
    /// The shared database (revocations, published public keys) failed.
    #[error("key store database: {0}")]
    Database(#[from] silo_postgres::PgError),
    /// A kid is already published with another public key: two key stores publish to one
    /// database, or the table was altered.
    #[error("key id `{kid}` is already published in the database with another public key; only one key store may publish to a database")]
    KidConflict {
        /// The key id.
        kid: String,
    },
    /// The database holds no public key to verify with.
    #[error("no public keys are published in the database; open the key store with the database on the router host first (`KeyStore::open_with_postgres`)")]
    NoPublishedKeys,
    /// A published public key does not decode.
    #[error("published key `{kid}` is corrupt: {reason}")]
    CorruptPublished {
        /// The key id.
        kid: String,
        /// What is wrong.
        reason: String,
    },
}

/// Minting a token failed.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// The claims are not acceptable (e.g. a negative limit, an empty agent name).
    #[error("invalid claims: {0}")]
    InvalidClaims(String),
    /// Signing failed.
    #[error("cannot sign token: {0}")]
    Sign(String),
}

/// A token was refused. Every variant is a refusal; none is retryable by the agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Longer than [`crate::MAX_TOKEN_LEN`].
    #[error("token is too long ({len} bytes)")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// The token is not a well-formed JWS compact token.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The header names an algorithm other than EdDSA (`none`, HS256, RS256, …).
    #[error("algorithm `{alg}` is not allowed; only `EdDSA` is")]
    AlgorithmNotAllowed {
        /// The algorithm in the header.
        alg: String,
    },
    /// No `kid` header.
    #[error("token has no `kid` header")]
    MissingKid,
    /// The `kid` is not in the key ring.
    #[error("unknown key id `{kid}`")]
    UnknownKid {
        /// The key id.
        kid: String,
    },
    /// The `kid` was rotated out and its overlap window has ended.
    #[error("key id `{kid}` was retired at {retired_at}")]
    RetiredKid {
        /// The key id.
        kid: String,
        /// When it stopped verifying (unix seconds).
        retired_at: u64,
    },
    /// The signature does not verify (tampered header, claims or signature, or another key).
    #[error("signature does not verify")]
    BadSignature,
    /// The audience is not the one expected: a task key used as a base key or the reverse.
    #[error("wrong audience: expected `{expected}` (a task key cannot stand in for a base key, nor the reverse)")]
    WrongAudience {
        /// The audience expected.
        expected: &'static str,
    },
    /// The claims do not match the key type's shape.
    #[error("claims do not fit a {kind}: {reason}")]
    BadClaims {
        /// `base key` or `task key`.
        kind: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// `exp` is in the past (beyond the leeway).
    #[error("token expired at {exp} (now {now})")]
    Expired {
        /// Its expiry.
        exp: u64,
        /// The time of the check.
        now: u64,
    },
    /// `nbf` or `iat` is in the future (beyond the leeway).
    #[error("token is not valid before {nbf} (now {now})")]
    NotYetValid {
        /// The first valid second.
        nbf: u64,
        /// The time of the check.
        now: u64,
    },
    /// The `jti` is on the revocation list.
    #[error("token `{jti}` has been revoked")]
    Revoked {
        /// The token id.
        jti: String,
    },
    /// A task key presented on another cell's socket.
    #[error("task key is bound to cell `{bound}`, presented on cell `{presented}`")]
    WrongCell {
        /// The cell in the key.
        bound: String,
        /// The cell of the socket.
        presented: String,
    },
    /// The base key was minted for a different agent folder.
    #[error("base key is for folder hash `{minted}`, the agent folder now hashes to `{current}`")]
    FolderHashMismatch {
        /// Hash in the key.
        minted: String,
        /// Hash of the folder now.
        current: String,
    },
    /// The two keys name different agents.
    #[error("base key is for agent `{base}` but task key is for agent `{task}`")]
    AgentMismatch {
        /// Agent in the base key.
        base: String,
        /// Agent in the task key.
        task: String,
    },
}

/// Any error of this crate, for callers that do not care which step failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// See [`StoreError`].
    #[error(transparent)]
    Store(#[from] StoreError),
    /// See [`MintError`].
    #[error(transparent)]
    Mint(#[from] MintError),
    /// See [`VerifyError`].
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// See [`FolderHashError`].
    #[error(transparent)]
    FolderHash(#[from] FolderHashError),
}
