//! The published key set: the public half of every signing key, in the shared database
//! (table `key_public_keys`), so that hosts without the private keys can verify.
//!
//! The key store of the router host publishes its ring when it is initialised or opened
//! with a database and when it rotates; [`crate::Verifier::from_postgres`] reads it.
//! Publishing only ever adds a kid or brings a retirement forward: a kid is never removed,
//! never un-retired (the earliest retirement wins, so a stale copy of the key folder cannot
//! revive a retired key), and never given another public key (that is refused as
//! [`StoreError::KidConflict`]).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use silo_postgres::{Database, PgError};

use crate::error::StoreError;
use crate::store::KeyRecord;
use crate::verify::VerifierKey;

fn pg(context: &'static str) -> impl FnOnce(silo_postgres::postgres::Error) -> StoreError {
    move |source| StoreError::Database(PgError::Query { context, source })
}

/// Seconds as the database stores them (BIGINT); far-future values saturate.
fn db_secs(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// Merges `keys` into the published set, in one transaction.
pub(crate) fn publish(db: &Database, keys: &[KeyRecord], now: u64) -> Result<(), StoreError> {
    let mut client = db.client()?;
    let mut tx = client.transaction().map_err(pg("publishing public keys"))?;
    for key in keys {
        let merged = tx
            .query_opt(
                "INSERT INTO key_public_keys (kid, public_key, created_at, retire_at, published_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (kid) DO UPDATE SET
                     retire_at = CASE
                         WHEN key_public_keys.retire_at IS NULL THEN EXCLUDED.retire_at
                         WHEN EXCLUDED.retire_at IS NULL THEN key_public_keys.retire_at
                         ELSE LEAST(key_public_keys.retire_at, EXCLUDED.retire_at)
                     END,
                     published_at = EXCLUDED.published_at
                 WHERE key_public_keys.public_key = EXCLUDED.public_key
                 RETURNING kid",
                &[
                    &key.kid,
                    &key.public_key,
                    &db_secs(key.created_at),
                    &key.retire_at.map(db_secs),
                    &db_secs(now),
                ],
            )
            .map_err(pg("publishing public keys"))?;
        if merged.is_none() {
            return Err(StoreError::KidConflict {
                kid: key.kid.clone(),
            });
        }
    }
    tx.commit().map_err(pg("publishing public keys"))
}

/// Every published key, oldest first.
pub(crate) fn load(db: &Database) -> Result<Vec<VerifierKey>, StoreError> {
    let rows = db
        .client()?
        .query(
            "SELECT kid, public_key, retire_at FROM key_public_keys ORDER BY created_at, kid",
            &[],
        )
        .map_err(pg("reading the published public keys"))?;
    rows.iter()
        .map(|row| {
            let read = pg("reading the published public keys");
            let (kid, encoded, retire_at): (String, String, Option<i64>) =
                (|| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))().map_err(read)?;
            let public_key: [u8; 32] = STANDARD
                .decode(&encoded)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| StoreError::CorruptPublished {
                    kid: kid.clone(),
                    reason: "the public key is not 32 bytes of base64".into(),
                })?;
            Ok(VerifierKey {
                kid,
                public_key,
                retire_at: retire_at.map(|r| u64::try_from(r).unwrap_or(0)),
            })
        })
        .collect()
}
