//! Envelope encryption for the vault: a 32-byte master key (a file, never in the database)
//! wraps one random data key per tenant; the data key derives the value-encryption key and
//! the blind-index key. Values are sealed with AES-256-GCM under a random 96-bit nonce and
//! associated data that binds each ciphertext to its row (tenant, task, kind, number), so a
//! ciphertext moved to another row — another task's token — fails to open.
//!
//! The blind index is HMAC-SHA256 over (task, kind, normalised value) with its own key:
//! equal values in one task find their token without decrypting anything, and the index
//! reveals nothing to someone holding the database without the keys.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::PiiError;
use crate::kind::PiiKind;

type HmacSha256 = Hmac<Sha256>;

/// Length of every key here.
pub(crate) const KEY_LEN: usize = 32;
/// Length of an AES-GCM nonce.
pub(crate) const NONCE_LEN: usize = 12;

/// 32 secret bytes, wiped on drop.
pub(crate) type SecretKey = Zeroizing<[u8; KEY_LEN]>;

/// Fresh random bytes from the operating system.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], PiiError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(PiiError::Random)?;
    Ok(buf)
}

/// A fresh random key.
pub(crate) fn random_key() -> Result<SecretKey, PiiError> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    getrandom::fill(key.as_mut_slice()).map_err(PiiError::Random)?;
    Ok(key)
}

fn cipher(key: &[u8; KEY_LEN]) -> Result<Aes256Gcm, PiiError> {
    Aes256Gcm::new_from_slice(key).map_err(|_| PiiError::Encrypt)
}

/// Seals `plaintext` under `key` with `aad`; returns (nonce, ciphertext with tag).
fn seal_with(
    cipher: &Aes256Gcm,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<([u8; NONCE_LEN], Vec<u8>), PiiError> {
    let nonce = random::<NONCE_LEN>()?;
    let ciphertext = cipher
        .encrypt(
            &nonce.into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| PiiError::Encrypt)?;
    Ok((nonce, ciphertext))
}

fn open_with(cipher: &Aes256Gcm, aad: &[u8], nonce: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
    let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
    cipher
        .decrypt(
            &nonce.into(),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
}

fn wrap_aad(tenant: &str) -> Vec<u8> {
    let mut aad = b"silo-pii/data-key/v1\0".to_vec();
    aad.extend_from_slice(tenant.as_bytes());
    aad
}

/// Wraps a tenant's data key under the master key: (nonce, wrapped key).
pub(crate) fn wrap_data_key(
    master: &[u8; KEY_LEN],
    tenant: &str,
    data_key: &[u8; KEY_LEN],
) -> Result<([u8; NONCE_LEN], Vec<u8>), PiiError> {
    seal_with(&cipher(master)?, &wrap_aad(tenant), data_key)
}

/// Unwraps a tenant's data key; `None` when the master key (or tenant) is not the one that
/// wrapped it.
pub(crate) fn unwrap_data_key(
    master: &[u8; KEY_LEN],
    tenant: &str,
    nonce: &[u8],
    wrapped: &[u8],
) -> Result<Option<SecretKey>, PiiError> {
    let Some(plain) = open_with(&cipher(master)?, &wrap_aad(tenant), nonce, wrapped) else {
        return Ok(None);
    };
    let plain = Zeroizing::new(plain);
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    if plain.len() != KEY_LEN {
        return Ok(None);
    }
    key.copy_from_slice(&plain);
    Ok(Some(key))
}

/// The working keys of one tenant, derived from its data key.
pub(crate) struct TenantKeys {
    values: Aes256Gcm,
    index: HmacSha256,
}

impl TenantKeys {
    /// Derives the value and index keys (HMAC-SHA256 as a PRF with distinct labels).
    pub(crate) fn derive(data_key: &[u8; KEY_LEN]) -> Result<TenantKeys, PiiError> {
        let sub = |label: &[u8]| -> Result<SecretKey, PiiError> {
            let mut mac =
                <HmacSha256 as Mac>::new_from_slice(data_key).map_err(|_| PiiError::Encrypt)?;
            mac.update(label);
            let mut out = Zeroizing::new([0u8; KEY_LEN]);
            out.copy_from_slice(&mac.finalize().into_bytes());
            Ok(out)
        };
        let value_key = sub(b"silo-pii/v1/value-encryption")?;
        let index_key = sub(b"silo-pii/v1/blind-index")?;
        Ok(TenantKeys {
            values: cipher(&value_key)?,
            index: <HmacSha256 as Mac>::new_from_slice(index_key.as_slice())
                .map_err(|_| PiiError::Encrypt)?,
        })
    }

    /// The blind index of a normalised value within a task.
    pub(crate) fn blind_index(&self, task: &str, kind: PiiKind, normalized: &str) -> [u8; 32] {
        let mut mac = self.index.clone();
        for field in [
            task.as_bytes(),
            kind.as_str().as_bytes(),
            normalized.as_bytes(),
        ] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field);
        }
        mac.finalize().into_bytes().into()
    }

    /// Seals a value for its row.
    pub(crate) fn seal(
        &self,
        row: &RowId<'_>,
        value: &str,
    ) -> Result<([u8; NONCE_LEN], Vec<u8>), PiiError> {
        seal_with(&self.values, &row.aad(), value.as_bytes())
    }

    /// Opens a value sealed for this row; `None` if it was not.
    pub(crate) fn open(&self, row: &RowId<'_>, nonce: &[u8], ciphertext: &[u8]) -> Option<String> {
        let plain = open_with(&self.values, &row.aad(), nonce, ciphertext)?;
        String::from_utf8(plain).ok()
    }
}

/// Which row a ciphertext belongs to; its associated data.
pub(crate) struct RowId<'a> {
    pub tenant: &'a str,
    pub task: &'a str,
    pub kind: PiiKind,
    pub number: u32,
}

impl RowId<'_> {
    fn aad(&self) -> Vec<u8> {
        let mut aad = b"silo-pii/value/v1".to_vec();
        for field in [
            self.tenant.as_bytes(),
            self.task.as_bytes(),
            self.kind.as_str().as_bytes(),
        ] {
            aad.extend_from_slice(&(field.len() as u64).to_be_bytes());
            aad.extend_from_slice(field);
        }
        aad.extend_from_slice(&self.number.to_be_bytes());
        aad
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ciphertext_opens_only_in_its_own_row() {
        let keys = TenantKeys::derive(&random_key().unwrap()).unwrap();
        let row = |task, number| RowId {
            tenant: "default",
            task,
            kind: PiiKind::Email,
            number,
        };
        let (nonce, ct) = keys.seal(&row("t1", 1), "jane@example.com").unwrap();
        assert_eq!(
            keys.open(&row("t1", 1), &nonce, &ct).as_deref(),
            Some("jane@example.com")
        );
        assert_eq!(keys.open(&row("t2", 1), &nonce, &ct), None);
        assert_eq!(keys.open(&row("t1", 2), &nonce, &ct), None);
    }

    #[test]
    fn wrapped_data_key_needs_the_same_master_and_tenant() {
        let master = random_key().unwrap();
        let data = random_key().unwrap();
        let (nonce, wrapped) = wrap_data_key(&master, "default", &data).unwrap();
        let back = unwrap_data_key(&master, "default", &nonce, &wrapped)
            .unwrap()
            .unwrap();
        assert_eq!(*back, *data);
        assert!(unwrap_data_key(&master, "other", &nonce, &wrapped)
            .unwrap()
            .is_none());
        let other = random_key().unwrap();
        assert!(unwrap_data_key(&other, "default", &nonce, &wrapped)
            .unwrap()
            .is_none());
    }

    #[test]
    fn blind_index_separates_tasks_and_kinds() {
        let keys = TenantKeys::derive(&random_key().unwrap()).unwrap();
        let a = keys.blind_index("t1", PiiKind::Name, "jane smith");
        assert_eq!(a, keys.blind_index("t1", PiiKind::Name, "jane smith"));
        assert_ne!(a, keys.blind_index("t2", PiiKind::Name, "jane smith"));
        assert_ne!(a, keys.blind_index("t1", PiiKind::Address, "jane smith"));
    }
}
