//! Shared fixtures: a key store in a temp dir and well-formed claims.

use silo_keys::{
    new_jti, BaseKey, Capabilities, KeyStore, Minter, TaskKey, Verifier, BASE_AUDIENCE,
    TASK_AUDIENCE, UNKNOWN_KID_INTERVAL,
};
use silo_postgres::Database;

pub const NOW: u64 = 1_800_000_000;
pub const CELL: &str = "cell-a";
pub const HASH: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

pub struct Fixture {
    pub _dir: tempfile::TempDir,
    pub store: KeyStore,
    pub minter: Minter,
    /// The database the store publishes to (the `postgres` test target), by URL.
    pub database: Option<String>,
}

/// A key store, on a database when the test target has one (`crate::backend`).
pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let database = crate::backend::database_url();
    let store = match &database {
        None => KeyStore::init(&keys, NOW - 100).unwrap(),
        Some(url) => {
            KeyStore::init_with_postgres(&keys, NOW - 100, &Database::connect(url).unwrap())
                .unwrap()
        }
    };
    let minter = store.minter().unwrap();
    Fixture {
        _dir: dir,
        store,
        minter,
        database,
    }
}

impl Fixture {
    /// The verifier tokens are presented to: the store's own or, with a database, one
    /// built from the published keys over a pool of its own, as another host would.
    pub fn verifier(&self) -> Verifier {
        match &self.database {
            None => self.store.verifier().unwrap(),
            Some(url) => {
                Verifier::from_postgres(&Database::connect(url).unwrap(), UNKNOWN_KID_INTERVAL)
                    .unwrap()
            }
        }
    }

    /// The key store opened again (as the router host does after a restart).
    pub fn reopen(&self) -> KeyStore {
        match &self.database {
            None => KeyStore::open(self.store.dir()).unwrap(),
            Some(url) => {
                KeyStore::open_with_postgres(self.store.dir(), &Database::connect(url).unwrap())
                    .unwrap()
            }
        }
    }
}

pub fn base_claims() -> BaseKey {
    BaseKey {
        aud: BASE_AUDIENCE.into(),
        jti: new_jti().unwrap(),
        iat: NOW - 10,
        exp: NOW + 3600,
        agent: "refund-agent".into(),
        version: "1.0.0".into(),
        folder_hash: HASH.into(),
        caps: Capabilities::from_json(r#"{"refund":{"max_cents":50000,"currency":"USD"}}"#)
            .unwrap(),
    }
}

pub fn task_claims() -> TaskKey {
    TaskKey {
        aud: TASK_AUDIENCE.into(),
        jti: new_jti().unwrap(),
        iat: NOW - 10,
        nbf: NOW - 10,
        exp: NOW + 600,
        task: "task-1".into(),
        agent: "refund-agent".into(),
        customer: "cust_tok_1".into(),
        case: "case-1".into(),
        workflow: None,
        cell: CELL.into(),
    }
}

/// The store's current private key as a raw `jsonwebtoken` key, bypassing the minter's checks.
pub fn raw_encoding_key(f: &Fixture) -> jsonwebtoken::EncodingKey {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let seed =
        std::fs::read_to_string(f.store.dir().join(format!("{}.key", f.store.current_kid())))
            .unwrap();
    let seed: [u8; 32] = STANDARD.decode(seed.trim()).unwrap().try_into().unwrap();
    let der = ed25519_dalek::SigningKey::from_bytes(&seed)
        .to_pkcs8_der()
        .unwrap();
    jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes())
}
