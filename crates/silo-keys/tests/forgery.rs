//! Forged, replayed and misused tokens: each case builds a really forged token and expects a refusal.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use silo_keys::{FolderHash, Minter, VerifyError};

use crate::common::*;

fn b64(v: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

fn parts(token: &str) -> (String, String, String) {
    let mut it = token.split('.');
    (
        it.next().unwrap().into(),
        it.next().unwrap().into(),
        it.next().unwrap().into(),
    )
}

fn public_key_bytes(f: &Fixture) -> Vec<u8> {
    use base64::engine::general_purpose::STANDARD;
    STANDARD.decode(&f.store.keys()[0].public_key).unwrap()
}

/// What a test expects of a verification.
#[derive(Debug)]
enum Expect {
    Ok,
    Err(fn(&VerifyError) -> bool),
}

struct Case {
    name: &'static str,
    /// Builds the token to present (and says whether it is presented as base or task key).
    token: fn(&Fixture) -> (Presented, String),
    /// Cell of the socket the task key is presented on.
    cell: &'static str,
    now: u64,
    expect: Expect,
}

#[derive(Debug, Clone, Copy)]
enum Presented {
    AsBase,
    AsTask,
}

fn genuine_task(f: &Fixture) -> (Presented, String) {
    (
        Presented::AsTask,
        f.minter.mint_task(&task_claims()).unwrap(),
    )
}

fn genuine_base(f: &Fixture) -> (Presented, String) {
    (
        Presented::AsBase,
        f.minter.mint_base(&base_claims()).unwrap(),
    )
}

fn cases() -> Vec<Case> {
    use Expect::*;
    vec![
        Case {
            name: "genuine_task_key_verifies",
            token: genuine_task,
            cell: CELL,
            now: NOW,
            expect: Ok,
        },
        Case {
            name: "genuine_base_key_verifies",
            token: genuine_base,
            cell: CELL,
            now: NOW,
            expect: Ok,
        },
        Case {
            name: "signed_with_another_key_under_our_kid",
            token: |f| {
                let evil =
                    Minter::new(f.store.current_kid(), &SigningKey::from_bytes(&[9; 32])).unwrap();
                (Presented::AsTask, evil.mint_task(&task_claims()).unwrap())
            },
            cell: CELL,
            now: NOW,
            expect: Err(|e| matches!(e, VerifyError::BadSignature)),
        },
        Case {
            name: "edited_claims_keep_original_signature",
            token: |f| {
                let token = f.minter.mint_task(&task_claims()).unwrap();
                let (h, _, s) = parts(&token);
                let mut claims = task_claims();
                claims.customer = "cust_tok_OTHER".into();
                (
                    Presented::AsTask,
                    format!("{h}.{}.{s}", b64(&serde_json::to_value(claims).unwrap())),
                )
            },
            cell: CELL,
            now: NOW,
            expect: Err(|e| matches!(e, VerifyError::BadSignature)),
        },
        Case {
            name: "raised_refund_limit_keeps_original_signature",
            token: |f| {
                let token = f.minter.mint_base(&base_claims()).unwrap();
                let (h, c, s) = parts(&token);
                let mut claims: serde_json::Value =
                    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).unwrap()).unwrap();
                claims["caps"]["refund"]["max_cents"] = 99_999_999.into();
                (Presented::AsBase, format!("{h}.{}.{s}", b64(&claims)))
            },
            cell: CELL,
            now: NOW,
            expect: Err(|e| matches!(e, VerifyError::BadSignature)),
        },
        Case {
            name: "flipped_signature_bit",
            token: |f| {
                let token = f.minter.mint_task(&task_claims()).unwrap();
                let (h, c, s) = parts(&token);
                let mut sig = URL_SAFE_NO_PAD.decode(s).unwrap();
                sig[0] ^= 1;
                (
                    Presented::AsTask,
                    format!("{h}.{c}.{}", URL_SAFE_NO_PAD.encode(sig)),
                )
            },
            cell: CELL,
            now: NOW,
            expect: Err(|e| matches!(e, VerifyError::BadSignature)),
        },
        Case {
            name: "alg_none_without_signature",
            token: |f| {
                let h =
                    serde_json::json!({"alg": "none", "kid": f.store.current_kid(), "typ": "JWT"});
                let c = serde_json::to_value(task_claims()).unwrap();
                (Presented::AsTask, format!("{}.{}.", b64(&h), b64(&c)))
            },
            cell: CELL,
            now: NOW,
            expect: Err(|e| matches!(e, VerifyError::AlgorithmNotAllowed { alg } if alg == "none")),
        },
        Case {
            name: "hs256_signed_with_the_public_key_bytes",
            token: |f| {
                let mut header = Header::new(Algorithm::HS256);
                header.kid = Some(f.store.current_kid().into());
                let key = EncodingKey::from_secret(&public_key_bytes(f));
                (
                    Presented::AsTask,
                    jsonwebtoken::encode(&header, &task_claims(), &key).unwrap(),
                )
            },
            cell: CELL,
            now: NOW,
            expect: Err(
                |e| matches!(e, VerifyError::AlgorithmNotAllowed { alg } if alg == "HS256"),
            ),
        },
        Case {
            name: "rs256_header_on_an_eddsa_signature",
            token: |f| {
                let token = f.minter.mint_task(&task_claims()).unwrap();
                let (_, c, s) = parts(&token);
                let h = serde_json::json!({"alg": "RS256", "kid": f.store.current_kid()});
                (Presented::AsTask, format!("{}.{c}.{s}", b64(&h)))
            },
            cell: CELL,
            now: NOW,
            expect: Err(|e| matches!(e, VerifyError::AlgorithmNotAllowed { .. })),
        },
        Case {
            name: "unknown_kid",
            token: |_| {
                let evil = Minter::new("k-attacker", &SigningKey::from_bytes(&[9; 32])).unwrap();
                (Presented::AsTask, evil.mint_task(&task_claims()).unwrap())
            },
            cell: CELL,
            now: NOW,
            expect: Err(|e| matches!(e, VerifyError::UnknownKid { .. })),
        },
        Case {
            name: "missing_kid",
            token: |f| {
                let token = f.minter.mint_task(&task_claims()).unwrap();
                let (_, c, s) = parts(&token);
                let h = serde_json::json!({"alg": "EdDSA", "typ": "JWT"});
                (Presented::AsTask, format!("{}.{c}.{s}", b64(&h)))
            },
            cell: CELL,
            now: NOW,
            expect: Err(|e| matches!(e, VerifyError::MissingKid)),
        },
        Case {
            name: "expired_task_key",
            token: genuine_task,
            cell: CELL,
            now: NOW + 600 + silo_keys::LEEWAY_SECS + 1,
            expect: Err(|e| matches!(e, VerifyError::Expired { .. })),
        },
        Case {
            name: "expired_within_leeway_still_verifies",
            token: genuine_task,
            cell: CELL,
            now: NOW + 600 + silo_keys::LEEWAY_SECS,
            expect: Ok,
        },
        Case {
            name: "not_yet_valid_task_key",
            token: |f| {
                let mut c = task_claims();
                c.nbf = NOW + 300;
                c.iat = NOW + 300;
                c.exp = NOW + 900;
                (Presented::AsTask, f.minter.mint_task(&c).unwrap())
            },
            cell: CELL,
            now: NOW,
            expect: Err(|e| matches!(e, VerifyError::NotYetValid { .. })),
        },
        Case {
            name: "task_key_presented_as_base_key",
            token: |f| {
                (
                    Presented::AsBase,
                    f.minter.mint_task(&task_claims()).unwrap(),
                )
            },
            cell: CELL,
            now: NOW,
            expect: Err(|e| {
                matches!(
                    e,
                    VerifyError::WrongAudience {
                        expected: "silo:base"
                    }
                )
            }),
        },
        Case {
            name: "base_key_presented_as_task_key",
            token: |f| {
                (
                    Presented::AsTask,
                    f.minter.mint_base(&base_claims()).unwrap(),
                )
            },
            cell: CELL,
            now: NOW,
            expect: Err(|e| {
                matches!(
                    e,
                    VerifyError::WrongAudience {
                        expected: "silo:task"
                    }
                )
            }),
        },
        Case {
            name: "foreign_audience",
            token: |f| {
                let mut header = Header::new(Algorithm::EdDSA);
                header.kid = Some(f.minter.kid().into());
                let mut c = serde_json::to_value(task_claims()).unwrap();
                c["aud"] = "someone-else".into();
                // A confused issuer signing with our real private key: minters refuse this,
                // so sign below the minter.
                let ek = raw_encoding_key(f);
                (
                    Presented::AsTask,
                    jsonwebtoken::encode(&header, &c, &ek).unwrap(),
                )
            },
            cell: CELL,
            now: NOW,
            expect: Err(|e| matches!(e, VerifyError::WrongAudience { .. })),
        },
        Case {
            name: "task_key_presented_on_another_cell",
            token: genuine_task,
            cell: "cell-b",
            now: NOW,
            expect: Err(
                |e| matches!(e, VerifyError::WrongCell { bound, presented } if bound == "cell-a" && presented == "cell-b"),
            ),
        },
        Case {
            name: "garbage_token",
            token: |_| (Presented::AsTask, "not.a.token".into()),
            cell: CELL,
            now: NOW,
            expect: Err(|e| matches!(e, VerifyError::Malformed(_))),
        },
        Case {
            name: "two_part_token",
            token: |_| (Presented::AsTask, "abc.def".into()),
            cell: CELL,
            now: NOW,
            expect: Err(|e| matches!(e, VerifyError::Malformed(_))),
        },
        Case {
            name: "oversized_token",
            token: |_| (Presented::AsTask, "a".repeat(silo_keys::MAX_TOKEN_LEN + 1)),
            cell: CELL,
            now: NOW,
            expect: Err(|e| matches!(e, VerifyError::TooLong { .. })),
        },
    ]
}

#[test]
fn forgery_table() {
    let f = fixture();
    let mut failures = Vec::new();
    for case in cases() {
        // A fresh verifier per case so no case rides on another's cache entry.
        let verifier = f.verifier();
        let (presented, token) = (case.token)(&f);
        // Run twice: the second run goes through the verified-claims cache.
        for round in 0..2 {
            let result = match presented {
                Presented::AsBase => verifier.verify_base(&token, case.now, None).map(|_| ()),
                Presented::AsTask => verifier
                    .verify_task(&token, case.cell, case.now)
                    .map(|_| ()),
            };
            let ok = match (&case.expect, &result) {
                (Expect::Ok, Ok(())) => true,
                (Expect::Err(pred), Err(e)) => pred(e),
                _ => false,
            };
            if !ok {
                failures.push(format!("{} (round {round}): got {result:?}", case.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
}

#[test]
fn revoked_jti_is_refused_even_when_cached() {
    let f = fixture();
    let verifier = f.verifier();
    let claims = task_claims();
    let token = f.minter.mint_task(&claims).unwrap();
    assert!(verifier.verify_task(&token, CELL, NOW).is_ok());
    assert_eq!(verifier.cache().len(), 1);
    f.store.revoke(&claims.jti, NOW).unwrap();
    assert!(matches!(
        verifier.verify_task(&token, CELL, NOW),
        Err(VerifyError::Revoked { .. })
    ));
}

#[test]
fn revocation_survives_reopening_the_store() {
    let f = fixture();
    let claims = task_claims();
    let token = f.minter.mint_task(&claims).unwrap();
    f.store.revoke(&claims.jti, NOW).unwrap();
    let reopened = f.reopen();
    assert!(matches!(
        reopened.verifier().unwrap().verify_task(&token, CELL, NOW),
        Err(VerifyError::Revoked { .. })
    ));
}

#[test]
fn cached_token_still_expires() {
    let f = fixture();
    let verifier = f.verifier();
    let token = f.minter.mint_task(&task_claims()).unwrap();
    assert!(verifier.verify_task(&token, CELL, NOW).is_ok());
    assert!(matches!(
        verifier.verify_task(&token, CELL, NOW + 10_000),
        Err(VerifyError::Expired { .. })
    ));
}

#[test]
fn cached_task_key_still_refused_on_another_cell() {
    let f = fixture();
    let verifier = f.verifier();
    let token = f.minter.mint_task(&task_claims()).unwrap();
    assert!(verifier.verify_task(&token, CELL, NOW).is_ok());
    assert!(matches!(
        verifier.verify_task(&token, "cell-b", NOW),
        Err(VerifyError::WrongCell { .. })
    ));
}

#[test]
fn cached_task_key_still_refused_as_base_key() {
    let f = fixture();
    let verifier = f.verifier();
    let token = f.minter.mint_task(&task_claims()).unwrap();
    assert!(verifier.verify_task(&token, CELL, NOW).is_ok());
    assert!(matches!(
        verifier.verify_base(&token, NOW, None),
        Err(VerifyError::WrongAudience { .. })
    ));
}

#[test]
fn base_key_for_a_modified_folder_is_refused() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.py"), "print(1)").unwrap();
    let hash = silo_keys::folder_hash(dir.path()).unwrap();
    let mut claims = base_claims();
    claims.folder_hash = hash.to_string();
    let token = f.minter.mint_base(&claims).unwrap();
    let verifier = f.verifier();
    assert!(verifier.verify_base(&token, NOW, Some(&hash)).is_ok());
    std::fs::write(dir.path().join("main.py"), "print('exfiltrate')").unwrap();
    let modified: FolderHash = silo_keys::folder_hash(dir.path()).unwrap();
    assert!(matches!(
        verifier.verify_base(&token, NOW, Some(&modified)),
        Err(VerifyError::FolderHashMismatch { .. })
    ));
}
