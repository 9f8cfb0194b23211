//! The checkpoint signing key: an Ed25519 key in `<data_dir>/audit/checkpoint.key` (mode 0600).
//!
//! The file holds the 32-byte seed as hex. It is created on first use, atomically and never
//! overwritten: written to a private temporary file, fsynced, then hard-linked into place, so
//! two processes racing to create it end up with one key. A key file readable by group or
//! others is refused rather than used.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::hash::Hash;
use crate::ids::KeyId;

/// Why the checkpoint key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointKeyError {
    /// Reading or writing the key file failed.
    #[error("checkpoint key `{path}`: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The key file is readable or writable by group or others.
    #[error("checkpoint key `{path}` has mode {mode:o}; it must be 0600 (run `chmod 600` on it)")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file does not hold 64 hex characters.
    #[error("checkpoint key `{path}` is not a hex Ed25519 seed (64 hex characters)")]
    Malformed {
        /// The file.
        path: PathBuf,
    },
    /// The operating system's random source failed.
    #[error("no randomness for a new checkpoint key: {0}")]
    Random(String),
}

/// Why a string is not a checkpoint public key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not an Ed25519 public key (64 hex characters)")]
pub struct PublicKeyParseError(pub String);

/// The private key that signs checkpoints. Its `Debug` never shows the key.
pub struct CheckpointKey {
    signing: SigningKey,
}

impl fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckpointKey(kid={})", self.public_key().kid())
    }
}

impl CheckpointKey {
    /// A fresh random key (not saved anywhere).
    pub fn generate() -> Result<Self, CheckpointKeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| CheckpointKeyError::Random(e.to_string()))?;
        Ok(Self {
            signing: SigningKey::from_bytes(&seed),
        })
    }

    /// Loads the key at `path`, creating it (and its directory, mode 0700) if missing.
    pub fn load_or_create(path: &Path) -> Result<Self, CheckpointKeyError> {
        match Self::load(path) {
            Err(CheckpointKeyError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
                Self::create(path)
            }
            other => other,
        }
    }

    /// Loads the key at `path`, refusing a file that group or others may read.
    pub fn load(path: &Path) -> Result<Self, CheckpointKeyError> {
        let io = |source| CheckpointKeyError::Io {
            path: path.to_owned(),
            source,
        };
        let meta = fs::metadata(path).map_err(io)?;
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(CheckpointKeyError::Permissions {
                path: path.to_owned(),
                mode,
            });
        }
        let text = fs::read_to_string(path).map_err(io)?;
        let mut seed = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut seed).map_err(|_| {
            CheckpointKeyError::Malformed {
                path: path.to_owned(),
            }
        })?;
        Ok(Self {
            signing: SigningKey::from_bytes(&seed),
        })
    }

    fn create(path: &Path) -> Result<Self, CheckpointKeyError> {
        let io = |p: &Path| {
            let p = p.to_owned();
            move |source| CheckpointKeyError::Io { path: p, source }
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
        let key = Self::generate()?;
        let nonce = getrandom::u64().map_err(|e| CheckpointKeyError::Random(e.to_string()))?;
        let tmp = dir.join(format!(
            ".checkpoint.key.{}.{nonce:016x}.tmp",
            std::process::id()
        ));
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            writeln!(file, "{}", hex::encode(key.signing.to_bytes()))?;
            file.sync_all()?;
            // A hard link fails if `path` exists, so a racing creator never overwrites a key.
            fs::hard_link(&tmp, path)
        })();
        let _ = fs::remove_file(&tmp);
        match written {
            Ok(()) => {
                File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(io(dir))?;
                Ok(key)
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Self::load(path),
            Err(e) => Err(io(path)(e)),
        }
    }

    /// The public half, to export and pin off the machine.
    pub fn public_key(&self) -> CheckpointPublicKey {
        CheckpointPublicKey {
            key: self.signing.verifying_key(),
        }
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Signature {
        self.signing.sign(message)
    }
}

/// The public key that verifies checkpoints, written as 64 hex characters.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPublicKey {
    key: VerifyingKey,
}

impl CheckpointPublicKey {
    /// The key id: the first 16 hex characters of SHA-256 over the public key bytes.
    pub fn kid(&self) -> KeyId {
        let digest = Hash::digest(&[self.key.as_bytes()]).to_hex();
        KeyId::from_fingerprint(digest.get(..16).unwrap_or(&digest))
    }

    /// Lower-case hex of the 32 key bytes.
    pub fn to_hex(&self) -> String {
        hex::encode(self.key.as_bytes())
    }

    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }
}

impl fmt::Debug for CheckpointPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckpointPublicKey({})", self.to_hex())
    }
}

impl fmt::Display for CheckpointPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for CheckpointPublicKey {
    type Err = PublicKeyParseError;
    fn from_str(s: &str) -> Result<Self, PublicKeyParseError> {
        let s = s.trim();
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| PublicKeyParseError(s.to_owned()))?;
        let key =
            VerifyingKey::from_bytes(&bytes).map_err(|_| PublicKeyParseError(s.to_owned()))?;
        Ok(Self { key })
    }
}

impl Serialize for CheckpointPublicKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for CheckpointPublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_with_mode_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit").join("checkpoint.key");
        let a = CheckpointKey::load_or_create(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(path.parent().unwrap()).unwrap().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        let b = CheckpointKey::load_or_create(&path).unwrap();
        assert_eq!(a.public_key(), b.public_key());
        assert_eq!(a.public_key().kid().as_str().len(), 16);
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary files are left behind");
    }

    #[test]
    fn refuses_a_group_readable_key_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.key");
        CheckpointKey::load_or_create(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            CheckpointKey::load(&path),
            Err(CheckpointKeyError::Permissions { mode: 0o640, .. })
        ));
    }

    #[test]
    fn refuses_a_malformed_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.key");
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap()
            .write_all(b"not hex\n")
            .unwrap();
        assert!(matches!(
            CheckpointKey::load(&path),
            Err(CheckpointKeyError::Malformed { .. })
        ));
    }

    #[test]
    fn public_key_hex_round_trips_and_debug_hides_the_secret() {
        let key = CheckpointKey::generate().unwrap();
        let public = key.public_key();
        assert_eq!(
            public.to_hex().parse::<CheckpointPublicKey>().unwrap(),
            public
        );
        let debug = format!("{key:?}");
        assert!(!debug.contains(&hex::encode(key.signing.to_bytes())));
        assert!("zz".parse::<CheckpointPublicKey>().is_err());
    }
}
