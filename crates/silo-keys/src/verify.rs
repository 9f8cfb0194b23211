//! Verifying base keys and task keys: algorithm, key id, signature, audience, time,
//! revocation, cell binding and folder hash, in that order, refusing on the first failure.
//!
//! A verifier on a host without the private keys reads the public keys the router host
//! published to the shared database ([`Verifier::from_postgres`]). It re-reads that set when
//! a token names a kid it does not know (a rotation on the router host), at most once per
//! the interval it was given, so a flood of forged kids costs at most one query per
//! interval; and, so that retirements reach it too, when its copy is older than
//! [`KEY_SET_MAX_AGE`]. A failed re-read keeps the set it has.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;
use silo_postgres::Database;

use crate::cache::{CacheEntry, CachedClaims, ClaimsCache};
use crate::claims::{BaseKey, TaskKey, BASE_AUDIENCE, TASK_AUDIENCE};
use crate::credentials::Credentials;
use crate::error::{StoreError, VerifyError};
use crate::folder_hash::FolderHash;
use crate::mint::MAX_TASK_TTL_SECS;
use crate::published;
use crate::revocation::RevocationList;

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds. Small: task keys live minutes.
pub const LEEWAY_SECS: u64 = 30;
/// Longest token accepted; longer input is refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Default number of tokens in the verified-claims cache.
const DEFAULT_CACHE_CAPACITY: usize = 4096;
/// A verifier built from the database re-reads the published key set when its copy is
/// older than this (on the next verification), so retirements reach it.
pub const KEY_SET_MAX_AGE: Duration = Duration::from_secs(60);
/// A sensible least time between two re-reads of the published key set caused by tokens
/// with unknown kids (the `unknown_kid_interval` of [`Verifier::from_postgres`]).
pub const UNKNOWN_KID_INTERVAL: Duration = Duration::from_secs(5);

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
    keys: RwLock<HashMap<String, Arc<TrustedKey>>>,
    /// Where the keys come from when they are the database's published set.
    published: Option<PublishedSet>,
    revocations: RevocationList,
    cache: ClaimsCache,
    leeway: u64,
}

/// The published key set a verifier re-reads.
struct PublishedSet {
    db: Database,
    unknown_kid_interval: Duration,
    reads: Mutex<Reads>,
}

/// When the set was last read, and last read because of an unknown kid.
struct Reads {
    last: Instant,
    last_for_unknown_kid: Option<Instant>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<String> = self
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        f.debug_struct("Verifier")
            .field("kids", &kids)
            .field(
                "published",
                &self.published.as_ref().map(|p| p.db.shown_url()),
            )
            .field("leeway", &self.leeway)
            .finish_non_exhaustive()
    }
}

fn trusted_keys(keys: Vec<VerifierKey>) -> HashMap<String, Arc<TrustedKey>> {
    keys.into_iter()
        .map(|k| {
            let trusted = TrustedKey {
                kid: Arc::from(k.kid.as_str()),
                decoding: DecodingKey::from_ed_der(&k.public_key),
                retire_at: k.retire_at,
            };
            (k.kid, Arc::new(trusted))
        })
        .collect()
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
        Self {
            keys: RwLock::new(trusted_keys(keys)),
            published: None,
            revocations,
            cache: ClaimsCache::new(DEFAULT_CACHE_CAPACITY),
            leeway: LEEWAY_SECS,
        }
    }

    /// A verifier for a host without the private keys: it trusts the public keys published
    /// in the shared database `db` by the router host's key store and checks the database's
    /// revocations ([`RevocationList::postgres`]). A token with a kid it does not know makes
    /// it re-read the published set, at most once per `unknown_kid_interval`
    /// ([`UNKNOWN_KID_INTERVAL`] is a sensible value); see the module docs. Fails when the
    /// database cannot be read or holds no published key.
    pub fn from_postgres(
        db: &Database,
        unknown_kid_interval: Duration,
    ) -> Result<Self, StoreError> {
        let keys = published::load(db)?;
        if keys.is_empty() {
            return Err(StoreError::NoPublishedKeys);
        }
        let mut verifier = Verifier::new(keys, RevocationList::postgres(db)?);
        verifier.published = Some(PublishedSet {
            db: db.clone(),
            unknown_kid_interval,
            reads: Mutex::new(Reads {
                last: Instant::now(),
                last_for_unknown_kid: None,
            }),
        });
        Ok(verifier)
    }

    /// Re-reads the published key set now (a verifier made by [`Verifier::from_postgres`];
    /// others have nothing to re-read and return `Ok`). On an error the old set stays.
    pub fn refresh_keys(&self) -> Result<(), StoreError> {
        let Some(set) = &self.published else {
            return Ok(());
        };
        let mut reads = set.reads.lock().unwrap_or_else(PoisonError::into_inner);
        reads.last = Instant::now();
        self.install(published::load(&set.db)?);
        Ok(())
    }

    /// The kids this verifier trusts now.
    pub fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        kids.sort();
        kids
    }

    fn install(&self, keys: Vec<VerifierKey>) {
        // A kid's public key never changes (publishing refuses that), so cached claims
        // stay valid; retirement is checked on every use.
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = trusted_keys(keys);
    }

    fn trusted(&self, kid: &str) -> Option<Arc<TrustedKey>> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(kid)
            .cloned()
    }

    /// The key of `kid`, re-reading the published set first when it is unknown and the
    /// last such re-read is at least the interval ago.
    fn trusted_or_reread(&self, kid: &str) -> Option<Arc<TrustedKey>> {
        if let Some(key) = self.trusted(kid) {
            return Some(key);
        }
        let set = self.published.as_ref()?;
        // Held across the query: callers arriving meanwhile wait, then find the new set.
        let mut reads = set.reads.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let recent = reads
            .last_for_unknown_kid
            .is_some_and(|t| now.duration_since(t) < set.unknown_kid_interval);
        if !recent {
            reads.last_for_unknown_kid = Some(now);
            reads.last = now;
            if let Ok(keys) = published::load(&set.db) {
                self.install(keys);
            }
        }
        drop(reads);
        self.trusted(kid)
    }

    /// Re-reads the published set when the copy is older than [`KEY_SET_MAX_AGE`]. Skipped
    /// while another thread is reading.
    fn refresh_if_stale(&self) {
        let Some(set) = &self.published else {
            return;
        };
        let Ok(mut reads) = set.reads.try_lock() else {
            return;
        };
        if reads.last.elapsed() < KEY_SET_MAX_AGE {
            return;
        }
        reads.last = Instant::now();
        if let Ok(keys) = published::load(&set.db) {
            self.install(keys);
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
        self.refresh_if_stale();
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
        let trusted = self
            .trusted_or_reread(kid)
            .ok_or_else(|| VerifyError::UnknownKid {
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
        let trusted = self.trusted(kid).ok_or_else(|| VerifyError::UnknownKid {
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
