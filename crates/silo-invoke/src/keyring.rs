//! Where a turn's keys come from and go: [`Keyring::Local`] signs with the key store under
//! the data directory (one machine, or a router host); [`Keyring::Shared`] is a cell host
//! of a multi-host deployment, which holds no private key at all — a router signs the
//! turn's keys ([`KeyIssuer`]), the membrane verifies them with the public key set
//! published in the shared database, and revocations go there too.

use std::sync::Arc;

use silo_keys::{
    BaseKey, KeyStore, RevocationList, TaskKey, Verifier, WorkflowRef, BASE_AUDIENCE, TASK_AUDIENCE,
};

use crate::error::InvokeError;
use crate::manifest::Manifest;

/// How long a base key minted for one invocation lives.
const BASE_KEY_SECS: u64 = 3600;
/// Task keys outlive the cell's wall-clock limit by this much.
const TASK_KEY_SLACK_SECS: u64 = 60;

/// One turn the router dispatched, as a key issuer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnKeyRequest {
    /// The turn's membrane task (`task-17.2`: the router task and its dispatch number).
    pub task: String,
    /// The cell the router recorded for it.
    pub cell: String,
    /// The task key id the router recorded for it.
    pub task_key_jti: String,
    /// The agent.
    pub agent: String,
    /// The content hash of the agent folder the cell host is about to run.
    pub folder_hash: String,
}

/// A turn's two signed keys.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedKeys {
    /// The base key (what the agent role may do).
    pub base: String,
    /// The task key (what this turn may touch), bound to the cell.
    pub task: String,
}

impl std::fmt::Debug for IssuedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IssuedKeys { .. }")
    }
}

/// Signs a dispatched turn's keys somewhere else (a router host); the answer is refused
/// unless the router's own records show that turn.
pub trait KeyIssuer: Send + Sync {
    /// The keys of `request`, or why not.
    fn issue(&self, request: &TurnKeyRequest) -> Result<IssuedKeys, String>;
}

/// What one turn's claims are built from (the same on a cell host that mints and on a
/// router host that issues for another).
#[derive(Debug, Clone)]
pub struct TurnClaims<'a> {
    /// The agent's manifest.
    pub manifest: &'a Manifest,
    /// The agent folder's content hash.
    pub folder_hash: &'a str,
    /// The turn's membrane task.
    pub task: &'a str,
    /// The cell.
    pub cell: &'a str,
    /// The task key id.
    pub task_key_jti: &'a str,
    /// The customer.
    pub customer: &'a str,
    /// The case.
    pub case: &'a str,
    /// The router run and stage.
    pub run: Option<WorkflowRef>,
    /// The turn's time limit (the agent's own, or the router's when shorter).
    pub timeout_ms: u64,
}

impl TurnClaims<'_> {
    /// The base and task key claims, issued at `now` (the base key's id is fresh).
    pub fn claims(&self, now: u64) -> Result<(BaseKey, TaskKey), InvokeError> {
        let base = BaseKey {
            aud: BASE_AUDIENCE.into(),
            jti: silo_keys::new_jti()?,
            iat: now,
            exp: now + BASE_KEY_SECS,
            agent: self.manifest.name.clone(),
            version: self.manifest.version.clone(),
            folder_hash: self.folder_hash.to_owned(),
            caps: self.manifest.capabilities.clone(),
        };
        let task = TaskKey {
            aud: TASK_AUDIENCE.into(),
            jti: self.task_key_jti.to_owned(),
            iat: now,
            nbf: now,
            exp: now + self.timeout_ms.div_ceil(1000) + TASK_KEY_SLACK_SECS,
            task: self.task.to_owned(),
            agent: self.manifest.name.clone(),
            customer: self.customer.to_owned(),
            case: self.case.to_owned(),
            workflow: self.run.clone(),
            cell: self.cell.to_owned(),
        };
        Ok((base, task))
    }
}

/// The keys side of one host.
pub enum Keyring {
    /// The key store under the data directory: signs and verifies here.
    Local(KeyStore),
    /// A cell host without private keys.
    Shared {
        /// Signs turns' keys on a router host.
        issuer: Arc<dyn KeyIssuer>,
        /// The shared database: public keys and revocations.
        database: silo_postgres::Database,
        /// The revocation list in it.
        revocations: RevocationList,
    },
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Keyring::Local(store) => f.debug_tuple("Local").field(&store.dir()).finish(),
            Keyring::Shared { database, .. } => f.debug_tuple("Shared").field(database).finish(),
        }
    }
}

impl Keyring {
    /// A verifier for the membrane: the local key set, or the published one.
    pub fn verifier(&self) -> Result<Verifier, InvokeError> {
        Ok(match self {
            Keyring::Local(store) => store.verifier()?,
            Keyring::Shared { database, .. } => {
                Verifier::from_postgres(database, silo_keys::UNKNOWN_KID_INTERVAL)?
            }
        })
    }

    /// Makes the task key `jti` unusable from `now` until it would have expired anyway.
    pub fn revoke_task_key(&self, jti: &str, now: u64) -> Result<(), InvokeError> {
        match self {
            Keyring::Local(store) => {
                store.revoke_task_key(jti, now)?;
            }
            Keyring::Shared { revocations, .. } => {
                let until = now + silo_keys::MAX_TASK_TTL_SECS + 2 * silo_keys::LEEWAY_SECS;
                revocations.revoke_until(jti, now, until)?;
            }
        }
        Ok(())
    }
}
