//! Signed checkpoints: (tree size, Merkle root, time, key id) signed with Ed25519.
//!
//! A checkpoint taken off the machine pins the log's first `size` entries: any later log
//! must have the same root at that size. The signed message is a domain-separation line
//! followed by the checkpoint's canonical JSON, so the signature cannot be replayed as any
//! other kind of message.

use std::fmt;

use ed25519_dalek::Signature;
use serde::{Deserialize, Serialize};

use crate::canonical::{to_canonical, CanonicalError};
use crate::checkpoint_key::{CheckpointKey, CheckpointPublicKey};
use crate::hash::Hash;
use crate::ids::KeyId;
use crate::timestamp::Timestamp;

/// The `format` every checkpoint carries.
pub const CHECKPOINT_FORMAT: &str = "silo-audit-checkpoint/v1";

/// Prefixed to the canonical checkpoint before signing.
const SIGNING_CONTEXT: &[u8] = b"silo-audit checkpoint v1\n";

/// Why a checkpoint was refused.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Not a checkpoint this version understands.
    #[error("checkpoint format `{0}` is not `{CHECKPOINT_FORMAT}`")]
    Format(String),
    /// Signed by a key other than the trusted one.
    #[error("checkpoint is signed by key `{found}`, but the trusted key is `{expected}`")]
    WrongKey {
        /// The trusted key's id.
        expected: KeyId,
        /// The id the checkpoint names.
        found: KeyId,
    },
    /// The signature does not verify under the trusted key.
    #[error("checkpoint signature does not verify under key `{kid}`")]
    BadSignature {
        /// The trusted key's id.
        kid: KeyId,
    },
    /// The file is not a checkpoint.
    #[error("not a checkpoint file: {0}")]
    Malformed(String),
    /// No canonical form.
    #[error("checkpoint has no canonical form: {0}")]
    Canonical(#[from] CanonicalError),
}

/// What a checkpoint asserts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Always [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// Number of entries covered (seq `0..size`).
    pub size: u64,
    /// Merkle root of those entries.
    pub root: Hash,
    /// When it was signed.
    pub time: Timestamp,
    /// Id of the signing key.
    pub kid: KeyId,
}

impl Checkpoint {
    fn message(&self) -> Result<Vec<u8>, CanonicalError> {
        let mut msg = SIGNING_CONTEXT.to_vec();
        msg.extend_from_slice(&to_canonical(self)?);
        Ok(msg)
    }
}

/// An Ed25519 signature, written as 128 hex characters.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CheckpointSignature([u8; 64]);

impl fmt::Debug for CheckpointSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckpointSignature({})", hex::encode(self.0))
    }
}

impl Serialize for CheckpointSignature {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for CheckpointSignature {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        let mut bytes = [0u8; 64];
        hex::decode_to_slice(&s, &mut bytes).map_err(|_| {
            serde::de::Error::custom(format!(
                "`{s}` is not an Ed25519 signature (128 hex characters)"
            ))
        })?;
        Ok(Self(bytes))
    }
}

/// A checkpoint and its signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedCheckpoint {
    /// What is asserted.
    pub checkpoint: Checkpoint,
    /// Ed25519 over the domain line and the canonical checkpoint.
    pub signature: CheckpointSignature,
}

impl SignedCheckpoint {
    /// Signs a checkpoint of `size` entries with root `root`.
    pub fn sign(
        size: u64,
        root: Hash,
        time: Timestamp,
        key: &CheckpointKey,
    ) -> Result<Self, CheckpointError> {
        let checkpoint = Checkpoint {
            format: CHECKPOINT_FORMAT.to_owned(),
            size,
            root,
            time,
            kid: key.public_key().kid(),
        };
        let signature = key.sign(&checkpoint.message()?);
        Ok(Self {
            checkpoint,
            signature: CheckpointSignature(signature.to_bytes()),
        })
    }

    /// Checks the format, the key id and the signature against the trusted key.
    pub fn verify(&self, trusted: &CheckpointPublicKey) -> Result<(), CheckpointError> {
        if self.checkpoint.format != CHECKPOINT_FORMAT {
            return Err(CheckpointError::Format(self.checkpoint.format.clone()));
        }
        let expected = trusted.kid();
        if self.checkpoint.kid != expected {
            return Err(CheckpointError::WrongKey {
                expected,
                found: self.checkpoint.kid.clone(),
            });
        }
        let signature = Signature::from_bytes(&self.signature.0);
        // `verify_strict` refuses small-order keys and non-canonical signatures.
        trusted
            .verifying_key()
            .verify_strict(&self.checkpoint.message()?, &signature)
            .map_err(|_| CheckpointError::BadSignature { kid: expected })
    }
}

/// The file `silo audit export` writes: the signed checkpoint and, for convenience, the
/// public key. A verifier must pin the public key out of band; the embedded copy is only
/// compared against the pinned one, never trusted on its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointFile {
    /// What is asserted.
    pub checkpoint: Checkpoint,
    /// The signature.
    pub signature: CheckpointSignature,
    /// The signer's public key (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<CheckpointPublicKey>,
}

impl CheckpointFile {
    /// Bundles a signed checkpoint with its public key.
    pub fn new(signed: SignedCheckpoint, public_key: CheckpointPublicKey) -> Self {
        Self {
            checkpoint: signed.checkpoint,
            signature: signed.signature,
            public_key: Some(public_key),
        }
    }

    /// Parses a checkpoint file (with or without `public_key`).
    pub fn from_json(bytes: &[u8]) -> Result<Self, CheckpointError> {
        serde_json::from_slice(bytes).map_err(|e| CheckpointError::Malformed(e.to_string()))
    }

    /// Pretty JSON, ending in a newline.
    pub fn to_json(&self) -> Result<Vec<u8>, CheckpointError> {
        let mut out = serde_json::to_vec_pretty(self)
            .map_err(|e| CheckpointError::Malformed(e.to_string()))?;
        out.push(b'\n');
        Ok(out)
    }

    /// The signed checkpoint inside.
    pub fn signed(&self) -> SignedCheckpoint {
        SignedCheckpoint {
            checkpoint: self.checkpoint.clone(),
            signature: self.signature,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(key: &CheckpointKey) -> SignedCheckpoint {
        let root = Hash::digest(&[b"root"]);
        SignedCheckpoint::sign(12, root, Timestamp::now(), key).unwrap()
    }

    #[test]
    fn a_checkpoint_verifies_under_its_own_key() {
        let key = CheckpointKey::generate().unwrap();
        signed(&key).verify(&key.public_key()).unwrap();
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_is_refused() {
        let key = CheckpointKey::generate().unwrap();
        let other = CheckpointKey::generate().unwrap();
        assert!(matches!(
            signed(&other).verify(&key.public_key()),
            Err(CheckpointError::WrongKey { .. })
        ));
        // Claiming the trusted kid does not help: the signature still fails.
        let mut forged = signed(&other);
        forged.checkpoint.kid = key.public_key().kid();
        assert!(matches!(
            forged.verify(&key.public_key()),
            Err(CheckpointError::BadSignature { .. })
        ));
    }

    #[test]
    fn an_edited_checkpoint_is_refused() {
        let key = CheckpointKey::generate().unwrap();
        let mut cp = signed(&key);
        cp.checkpoint.size -= 1;
        assert!(matches!(
            cp.verify(&key.public_key()),
            Err(CheckpointError::BadSignature { .. })
        ));
        let mut cp = signed(&key);
        cp.checkpoint.format = "other".into();
        assert!(matches!(
            cp.verify(&key.public_key()),
            Err(CheckpointError::Format(_))
        ));
    }

    #[test]
    fn the_file_round_trips() {
        let key = CheckpointKey::generate().unwrap();
        let file = CheckpointFile::new(signed(&key), key.public_key());
        let back = CheckpointFile::from_json(&file.to_json().unwrap()).unwrap();
        assert_eq!(back, file);
        back.signed().verify(&key.public_key()).unwrap();
        assert!(CheckpointFile::from_json(b"{}").is_err());
    }
}
