//! Shared fixtures: a key store in a temp dir and well-formed claims.

use silo_keys::{
    new_jti, BaseKey, Capabilities, KeyStore, Minter, TaskKey, BASE_AUDIENCE, TASK_AUDIENCE,
};

pub const NOW: u64 = 1_800_000_000;
pub const CELL: &str = "cell-a";
pub const HASH: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

pub struct Fixture {
    pub _dir: tempfile::TempDir,
    pub store: KeyStore,
    pub minter: Minter,
}

pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::init(&dir.path().join("keys"), NOW - 100).unwrap();
    let minter = store.minter().unwrap();
    Fixture {
        _dir: dir,
        store,
        minter,
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
