//! Signing claims into tokens with the store's current key.

use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore;

use crate::claims::{BaseKey, TaskKey};
use crate::error::MintError;

/// Default lifetime of a task key: minutes, not hours.
pub const TASK_TTL_SECS: u64 = 15 * 60;
/// Longest lifetime a task key may have; longer ones are refused at mint and at verification.
pub const MAX_TASK_TTL_SECS: u64 = 60 * 60;
/// Default lifetime of a base key: one deploy cycle.
pub const BASE_TTL_SECS: u64 = 365 * 24 * 3600;

/// Signs base and task keys with one Ed25519 key, stamping its `kid` in the header.
/// Holds the private key; never serialised, never logged (`Debug` shows only the kid).
pub struct Minter {
    kid: String,
    key: EncodingKey,
}

impl std::fmt::Debug for Minter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minter")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Minter {
    /// A minter for `signing_key` under key id `kid`.
    pub fn new(kid: &str, signing_key: &SigningKey) -> Result<Self, MintError> {
        let der = signing_key
            .to_pkcs8_der()
            .map_err(|e| MintError::Sign(e.to_string()))?;
        Ok(Self {
            kid: kid.to_string(),
            key: EncodingKey::from_ed_der(der.as_bytes()),
        })
    }

    /// The key id stamped on every token.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs a base key after checking its claims.
    pub fn mint_base(&self, claims: &BaseKey) -> Result<String, MintError> {
        claims.validate().map_err(MintError::InvalidClaims)?;
        self.sign(claims)
    }

    /// Signs a task key after checking its claims.
    pub fn mint_task(&self, claims: &TaskKey) -> Result<String, MintError> {
        claims.validate().map_err(MintError::InvalidClaims)?;
        self.sign(claims)
    }

    fn sign<T: serde::Serialize>(&self, claims: &T) -> Result<String, MintError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).map_err(|e| MintError::Sign(e.to_string()))
    }
}

/// A fresh random token id: 128 bits from the OS, hex.
pub fn new_jti() -> Result<String, MintError> {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| MintError::Sign(format!("no randomness for `jti`: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jti_is_random_hex() {
        let a = new_jti().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, new_jti().unwrap());
    }

    #[test]
    fn debug_does_not_show_the_key() {
        let m = Minter::new("k1", &SigningKey::from_bytes(&[7; 32])).unwrap();
        let dbg = format!("{m:?}");
        assert!(dbg.contains("k1") && !dbg.contains("key:"), "{dbg}");
    }
}
