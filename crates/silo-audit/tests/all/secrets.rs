//! Attacks on the record itself: smuggling a token or key into an entry, leaking the
//! checkpoint key into the database.

use serde_json::json;
use silo_audit::{AuditLog, CustomerToken, Detail, DetailError, IdError, KeyId, TokenId};

use crate::support::fixture;

const JWT: &str = "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.eyJqdGkiOiJqMSIsInN1YiI6InQifQ.c2lnbmF0dXJl";

#[test]
fn a_raw_token_cannot_be_recorded_as_an_id() {
    assert!(KeyId::new(JWT).is_err());
    assert!(TokenId::new(JWT).is_err());
    assert!(CustomerToken::new(JWT).is_err());
    assert!(matches!(
        KeyId::new("eyJhbGciOiJFZERTQSJ9.e30.c2ln"),
        Err(IdError::LooksLikeToken { .. })
    ));
}

#[test]
fn a_raw_token_cannot_be_recorded_in_detail() {
    assert!(matches!(
        Detail::new(json!({"headers": [{"authorization": format!("Bearer {JWT}")}]})),
        Err(DetailError::LooksLikeToken(path)) if path == "headers[0].authorization"
    ));
}

#[test]
fn a_forged_row_with_a_token_in_an_id_field_fails_verification() {
    let fx = fixture();
    let mut attacker = fx.attacker();
    let body = attacker.body(1);
    let smuggled = body.replace(r#""kid":"task-k1""#, &format!(r#""kid":"{JWT}""#));
    assert_ne!(smuggled, body);
    let hash = silo_audit::merkle::leaf_hash(smuggled.as_bytes());
    attacker.set_body_and_hash(1, &smuggled, &hash);
    let err = fx.log.verify().unwrap_err();
    assert_eq!(err.tamper().and_then(|t| t.first_bad_seq()), Some(1));
}

#[test]
fn the_checkpoint_private_key_never_reaches_the_database() {
    let fx = fixture();
    fx.log.checkpoint().unwrap();
    let seed = std::fs::read_to_string(AuditLog::key_path(fx.data_dir())).unwrap();
    let seed = seed.trim();
    assert_eq!(seed.len(), 64);
    let stored = fx.attacker().everything_stored();
    let text = String::from_utf8_lossy(&stored);
    // The search would find what is there: the stored log holds its checkpoint.
    let kid = fx.log.public_key().unwrap().kid().to_string();
    assert!(text.contains(&kid), "the stored bytes hold no checkpoint");
    assert!(!text.contains(seed), "the stored log holds the key seed");
    let raw = hex::decode(seed).unwrap();
    assert!(!stored.windows(32).any(|w| w == raw.as_slice()));
}
