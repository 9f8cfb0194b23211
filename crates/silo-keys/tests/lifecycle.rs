//! Rotation with overlap, pair verification, minting checks.

use silo_keys::VerifyError;

use crate::common::*;

#[test]
fn rotation_keeps_old_tokens_valid_until_retirement() {
    let mut f = fixture();
    let old_token = f.minter.mint_task(&task_claims()).unwrap();
    let old_kid = f.store.current_kid().to_string();
    let new_kid = f.store.rotate(NOW, 120).unwrap();
    let new_minter = f.store.minter().unwrap();
    assert_eq!(new_minter.kid(), new_kid);
    let new_token = new_minter.mint_task(&task_claims()).unwrap();
    let header = jsonwebtoken::decode_header(&new_token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(new_kid.as_str()));

    let verifier = f.verifier();
    assert!(verifier.verify_task(&old_token, CELL, NOW + 119).is_ok());
    assert!(verifier.verify_task(&new_token, CELL, NOW + 119).is_ok());
    assert!(matches!(
        verifier.verify_task(&old_token, CELL, NOW + 120),
        Err(VerifyError::RetiredKid { kid, .. }) if kid == old_kid
    ));
    assert!(verifier.verify_task(&new_token, CELL, NOW + 120).is_ok());
}

#[test]
fn verifier_from_a_reopened_store_knows_every_kid() {
    let mut f = fixture();
    f.store.rotate(NOW, 3600).unwrap();
    let token = f.store.minter().unwrap().mint_task(&task_claims()).unwrap();
    let reopened = f.reopen();
    assert_eq!(reopened.keys().len(), 2);
    assert!(reopened
        .verifier()
        .unwrap()
        .verify_task(&token, CELL, NOW)
        .is_ok());
}

#[test]
fn pair_needs_both_keys_in_their_own_roles() {
    let f = fixture();
    let v = f.verifier();
    let base = f.minter.mint_base(&base_claims()).unwrap();
    let task = f.minter.mint_task(&task_claims()).unwrap();
    let creds = v.verify_pair(&base, &task, CELL, NOW, None).unwrap();
    assert_eq!(creds.agent(), "refund-agent");
    assert_eq!(creds.task().customer, "cust_tok_1");
    assert_eq!(creds.base().caps.refund.as_ref().unwrap().max_cents, 50000);
    // Neither key can stand in for the other.
    assert!(v.verify_pair(&task, &task, CELL, NOW, None).is_err());
    assert!(v.verify_pair(&base, &base, CELL, NOW, None).is_err());
    assert!(v.verify_pair(&task, &base, CELL, NOW, None).is_err());
}

#[test]
fn pair_with_keys_for_different_agents_is_refused() {
    let f = fixture();
    let v = f.verifier();
    let base = f.minter.mint_base(&base_claims()).unwrap();
    let mut t = task_claims();
    t.agent = "collections-agent".into();
    let task = f.minter.mint_task(&t).unwrap();
    assert!(matches!(
        v.verify_pair(&base, &task, CELL, NOW, None),
        Err(VerifyError::AgentMismatch { .. })
    ));
}

#[test]
fn minter_refuses_malformed_claims() {
    let f = fixture();
    let mut t = task_claims();
    t.cell = String::new();
    assert!(f.minter.mint_task(&t).is_err());
    let mut t = task_claims();
    t.aud = "silo:base".into();
    assert!(f.minter.mint_task(&t).is_err());
    let mut b = base_claims();
    b.folder_hash = "md5:abc".into();
    assert!(f.minter.mint_base(&b).is_err());
    let mut b = base_claims();
    b.exp = b.iat;
    assert!(f.minter.mint_base(&b).is_err());
}

#[test]
fn decode_unverified_shows_header_and_claims() {
    let f = fixture();
    let token = f.minter.mint_task(&task_claims()).unwrap();
    let (claims, header) = silo_keys::decode_unverified(&token).unwrap();
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["kid"], f.store.current_kid());
    assert_eq!(claims["cell"], CELL);
}

#[test]
fn cache_off_gives_the_same_answers() {
    let f = fixture();
    let v = f.verifier().with_cache_capacity(0);
    let token = f.minter.mint_task(&task_claims()).unwrap();
    assert!(v.verify_task(&token, CELL, NOW).is_ok());
    assert!(v.verify_task(&token, CELL, NOW).is_ok());
    assert!(v.cache().is_empty());
}

#[test]
fn day_long_task_key_is_refused_at_mint_and_at_verification() {
    let f = fixture();
    let mut t = task_claims();
    t.exp = t.iat + silo_keys::MAX_TASK_TTL_SECS + 1;
    assert!(f.minter.mint_task(&t).is_err());
    // A confused issuer signing below the minter still gets refused by the verifier.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(f.minter.kid().into());
    let token = jsonwebtoken::encode(&header, &t, &raw_encoding_key(&f)).unwrap();
    assert!(matches!(
        f.verifier().verify_task(&token, CELL, NOW),
        Err(VerifyError::BadClaims { .. })
    ));
}
