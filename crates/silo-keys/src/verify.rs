//! Verifying base keys and task keys: algorithm, key id, signature, audience, time,
//! revocation, cell binding and folder hash, in that order, refusing on the first failure.

use std::collections::HashMap;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;

use crate::cache::{CacheEntry, CachedClaims, ClaimsCache};
use crate::claims::{BaseKey, TaskKey, BASE_AUDIENCE, TASK_AUDIENCE};
use crate::credentials::Credentials;
use crate::error::VerifyError;
use crate::folder_hash::FolderHash;
use crate::mint::MAX_TASK_TTL_SECS;
use crate::revocation::RevocationList;

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds. Small: task keys live minutes.
pub const LEEWAY_SECS: u64 = 30;
/// Longest token accepted; longer input is refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Default number of tokens in the verified-claims cache.
const DEFAULT_CACHE_CAPACITY: usize = 4096;

/// A public key the verifier trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    /// Its key id.
    pub kid: String,
    /// Ed25519 public key bytes.
    pub public_key: [u8; 32],
    /// From this time on (unix seconds) tokens with this kid are refused.
    pub retire_at: Option<u64>,
}

struct TrustedKey {
    kid: Arc<str>,
    decoding: DecodingKey,
    retire_at: Option<u64>,
}

/// Verifies tokens against a key ring and a revocation list. `Send + Sync`; share it.
pub struct Verifier {
    keys: HashMap<String, TrustedKey>,
    revocations: RevocationList,
    cache: ClaimsCache,
    leeway: u64,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field("leeway", &self.leeway)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Base,
    Task,
}

impl Kind {
    fn audience(self) -> &'static str {
        match self {
            Kind::Base => BASE_AUDIENCE,
            Kind::Task => TASK_AUDIENCE,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Kind::Base => "base key",
            Kind::Task => "task key",
        }
    }
}

impl Verifier {
    /// A verifier trusting `keys`, checking `revocations`, with a verified-claims cache.
    pub fn new(keys: Vec<VerifierKey>, revocations: RevocationList) -> Self {
        let keys = keys
            .into_iter()
            .map(|k| {
                let trusted = TrustedKey {
                    kid: Arc::from(k.kid.as_str()),
                    decoding: DecodingKey::from_ed_der(&k.public_key),
                    retire_at: k.retire_at,
                };
                (k.kid, trusted)
            })
            .collect();
        Self {
            keys,
            revocations,
            cache: ClaimsCache::new(DEFAULT_CACHE_CAPACITY),
            leeway: LEEWAY_SECS,
        }
    }

    /// Replaces the cache with one of `capacity` tokens; 0 turns caching off.
    pub fn with_cache_capacity(mut self, capacity: usize) -> Self {
        self.cache = ClaimsCache::new(capacity);
        self
    }

    /// The verified-claims cache.
    pub fn cache(&self) -> &ClaimsCache {
        &self.cache
    }

    /// The revocation list checked on every verification.
    pub fn revocations(&self) -> &RevocationList {
        &self.revocations
    }

    /// Verifies a base key. With `current_folder_hash`, also refuses a key minted for another
    /// folder content (a modified agent folder gets no authority).
    pub fn verify_base(
        &self,
        token: &str,
        now: u64,
        current_folder_hash: Option<&FolderHash>,
    ) -> Result<BaseKey, VerifyError> {
        let entry = self.verified(token, Kind::Base, now)?;
        let CachedClaims::Base(claims) = entry.claims else {
            return Err(VerifyError::WrongAudience {
                expected: BASE_AUDIENCE,
            });
        };
        self.check_live(
            &entry.kid,
            &claims.jti,
            claims.iat,
            claims.iat,
            claims.exp,
            now,
        )?;
        if let Some(current) = current_folder_hash {
            if claims.folder_hash != current.as_str() {
                return Err(VerifyError::FolderHashMismatch {
                    minted: claims.folder_hash.clone(),
                    current: current.to_string(),
                });
            }
        }
        Ok(BaseKey::clone(&claims))
    }

    /// Verifies a task key presented on the socket of cell `cell_id`.
    pub fn verify_task(
        &self,
        token: &str,
        cell_id: &str,
        now: u64,
    ) -> Result<TaskKey, VerifyError> {
        let entry = self.verified(token, Kind::Task, now)?;
        let CachedClaims::Task(claims) = entry.claims else {
            return Err(VerifyError::WrongAudience {
                expected: TASK_AUDIENCE,
            });
        };
        self.check_live(
            &entry.kid,
            &claims.jti,
            claims.iat,
            claims.nbf,
            claims.exp,
            now,
        )?;
        if claims.exp.saturating_sub(claims.iat) > MAX_TASK_TTL_SECS {
            return Err(VerifyError::BadClaims {
                kind: "task key",
                reason: format!("lifetime exceeds the maximum of {MAX_TASK_TTL_SECS} s"),
            });
        }
        if claims.cell != cell_id {
            return Err(VerifyError::WrongCell {
                bound: claims.cell.clone(),
                presented: cell_id.to_string(),
            });
        }
        Ok(TaskKey::clone(&claims))
    }

    /// Verifies both keys of an action. Neither stands in for the other, and they must name
    /// the same agent.
    pub fn verify_pair(
        &self,
        base_token: &str,
        task_token: &str,
        cell_id: &str,
        now: u64,
        current_folder_hash: Option<&FolderHash>,
    ) -> Result<Credentials, VerifyError> {
        let base = self.verify_base(base_token, now, current_folder_hash)?;
        let task = self.verify_task(task_token, cell_id, now)?;
        if base.agent != task.agent {
            return Err(VerifyError::AgentMismatch {
                base: base.agent,
                task: task.agent,
            });
        }
        Ok(Credentials::new(base, task))
    }

    /// Signature, header and audience: the part that is cached.
    fn verified(&self, token: &str, kind: Kind, now: u64) -> Result<CacheEntry, VerifyError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(VerifyError::TooLong { len: token.len() });
        }
        let key = ClaimsCache::key(token);
        if let Some(hit) = self.cache.get(&key, now, self.leeway) {
            return match (kind, &hit.claims) {
                (Kind::Base, CachedClaims::Base(_)) | (Kind::Task, CachedClaims::Task(_)) => {
                    Ok(hit)
                }
                _ => Err(VerifyError::WrongAudience {
                    expected: kind.audience(),
                }),
            };
        }
        let (_, header) = decode_unverified(token)?;
        let alg = header.get("alg").and_then(|a| a.as_str()).unwrap_or("");
        if alg != "EdDSA" {
            return Err(VerifyError::AlgorithmNotAllowed {
                alg: alg.to_string(),
            });
        }
        let kid = header
            .get("kid")
            .and_then(|k| k.as_str())
            .ok_or(VerifyError::MissingKid)?;
        let trusted = self.keys.get(kid).ok_or_else(|| VerifyError::UnknownKid {
            kid: kid.to_string(),
        })?;
        let (claims, exp) = match kind {
            Kind::Base => {
                let c: BaseKey = decode_checked(token, &trusted.decoding, kind)?;
                let exp = c.exp;
                (CachedClaims::Base(Arc::new(c)), exp)
            }
            Kind::Task => {
                let c: TaskKey = decode_checked(token, &trusted.decoding, kind)?;
                let exp = c.exp;
                (CachedClaims::Task(Arc::new(c)), exp)
            }
        };
        let entry = CacheEntry {
            kid: trusted.kid.clone(),
            exp,
            claims,
        };
        self.cache.insert(key, entry.clone(), now, self.leeway);
        Ok(entry)
    }

    /// The checks that depend on time and on mutable state: never cached.
    fn check_live(
        &self,
        kid: &str,
        jti: &str,
        iat: u64,
        nbf: u64,
        exp: u64,
        now: u64,
    ) -> Result<(), VerifyError> {
        let trusted = self.keys.get(kid).ok_or_else(|| VerifyError::UnknownKid {
            kid: kid.to_string(),
        })?;
        if let Some(retired_at) = trusted.retire_at {
            if now >= retired_at {
                return Err(VerifyError::RetiredKid {
                    kid: kid.to_string(),
                    retired_at,
                });
            }
        }
        if now > exp.saturating_add(self.leeway) {
            return Err(VerifyError::Expired { exp, now });
        }
        let not_before = nbf.max(iat);
        if not_before > now.saturating_add(self.leeway) {
            return Err(VerifyError::NotYetValid {
                nbf: not_before,
                now,
            });
        }
        if self.revocations.is_revoked(jti) {
            return Err(VerifyError::Revoked {
                jti: jti.to_string(),
            });
        }
        Ok(())
    }
}

fn decode_checked<T: DeserializeOwned>(
    token: &str,
    key: &DecodingKey,
    kind: Kind,
) -> Result<T, VerifyError> {
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.algorithms = vec![Algorithm::EdDSA];
    validation.set_audience(&[kind.audience()]);
    validation.set_required_spec_claims(&["aud", "exp"]);
    // Time is checked by `check_live` with an explicit `now`, so tests can move the clock
    // and cached claims are re-checked on every use.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.leeway = 0;
    // Decode to a JSON value first so the audience is checked before the claims' shape:
    // a task key presented as a base key then says "wrong audience", not "unknown field".
    match jsonwebtoken::decode::<serde_json::Value>(token, key, &validation) {
        Ok(data) => serde_json::from_value(data.claims).map_err(|e| VerifyError::BadClaims {
            kind: kind.name(),
            reason: e.to_string(),
        }),
        Err(e) => Err(match e.kind() {
            ErrorKind::InvalidSignature => VerifyError::BadSignature,
            ErrorKind::InvalidAudience => VerifyError::WrongAudience {
                expected: kind.audience(),
            },
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                VerifyError::AlgorithmNotAllowed { alg: "?".into() }
            }
            ErrorKind::Json(err) => VerifyError::BadClaims {
                kind: kind.name(),
                reason: err.to_string(),
            },
            ErrorKind::MissingRequiredClaim(c) => VerifyError::BadClaims {
                kind: kind.name(),
                reason: format!("missing `{c}`"),
            },
            _ => VerifyError::Malformed(e.to_string()),
        }),
    }
}

/// Decodes a token's header and claims as JSON **without verifying anything**, for
/// `silo keys inspect`. Returns `(claims, header)`. Never use the result for a decision.
pub fn decode_unverified(
    token: &str,
) -> Result<(serde_json::Value, serde_json::Value), VerifyError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(VerifyError::TooLong { len: token.len() });
    }
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Malformed(
            "expected three `.`-separated parts".into(),
        ));
    };
    let part = |s: &str, what: &str| -> Result<serde_json::Value, VerifyError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|e| VerifyError::Malformed(format!("{what} is not base64url: {e}")))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| VerifyError::Malformed(format!("{what} is not json: {e}")))
    };
    let header = part(h, "header")?;
    let claims = part(c, "claims")?;
    Ok((claims, header))
}
