//! `key_parse`: key verification (`silo-keys`) with hostile tokens. The first byte picks
//! how the rest becomes a token, so the fuzzer reaches past the signature check too:
//!
//! - `0`: the rest is the token, as text;
//! - `1`: `header JSON \n claims JSON`, signed with a key the verifier trusts;
//! - `2`: `claims JSON` under the usual header (`EdDSA`, the trusted kid), signed;
//! - `3`: `header \n claims \n signature bytes`: a forged signature.
//!
//! Invariants: nothing panics; a token that verifies carries a signature by the trusted
//! key over exactly its header and claims (checked here with `ed25519-dalek`, not with the
//! verifier's own library), names the trusted kid with `alg: EdDSA`, has the right audience,
//! is inside its time window at [`NOW`], is not revoked, and (a task key) is bound to
//! [`CELL`] and lives at most `MAX_TASK_TTL_SECS`; asking twice (the second answer from the
//! verified-claims cache) gives the same answer.

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier as _};
use silo_keys::{
    decode_unverified, RevocationList, Verifier, VerifierKey, VerifyError, BASE_AUDIENCE,
    LEEWAY_SECS, MAX_TASK_TTL_SECS, TASK_AUDIENCE,
};

/// The verifier's clock.
pub const NOW: u64 = 1_800_000_000;
/// The cell task keys must be bound to.
pub const CELL: &str = "c-00000000f022";
/// The trusted key's id.
pub const KID: &str = "fuzz-kid";
/// A jti on the revocation list.
pub const REVOKED_JTI: &str = "0000000000000000000000000000dead";

/// Words the mutator inserts.
pub const DICTIONARY: &[&str] = &[
    "\"alg\":\"EdDSA\"",
    "\"alg\":\"none\"",
    "\"alg\":\"HS256\"",
    "\"kid\":\"fuzz-kid\"",
    "\"typ\":\"JWT\"",
    "\"aud\":\"silo-base\"",
    "\"aud\":\"silo-task\"",
    "\"aud\":[\"silo-task\"]",
    "\"exp\":",
    "\"iat\":",
    "\"nbf\":",
    "\"jti\":\"0000000000000000000000000000dead\"",
    "\"cell\":\"c-00000000f022\"",
    "\"caps\":{}",
    "\"workflow\":{\"run\":\"r\",\"stage\":\"0\"}",
    "1800000000",
    "1800003600",
    "18446744073709551615",
    ".",
    "..",
    "eyJ",
    "\n",
];

struct Keys {
    signing: SigningKey,
    verifier: Verifier,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        // A fixed key: crashes reproduce, and seed tokens stay valid.
        let signing = SigningKey::from_bytes(&[0x5a; 32]);
        let revocations = RevocationList::in_memory();
        revocations
            .revoke_until(REVOKED_JTI, NOW, NOW + 10 * 365 * 86_400)
            .expect("revoking in memory");
        let verifier = Verifier::new(
            vec![VerifierKey {
                kid: KID.into(),
                public_key: signing.verifying_key().to_bytes(),
                retire_at: None,
            }],
            revocations,
        );
        Keys { signing, verifier }
    })
}

/// The standard header of a token signed by the trusted key.
pub fn standard_header() -> String {
    format!(r#"{{"typ":"JWT","alg":"EdDSA","kid":"{KID}"}}"#)
}

/// `header.claims.signature`, signed by the trusted key.
pub fn sign(header: &[u8], claims: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let sig = keys().signing.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

fn split2(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// The token an input stands for.
fn token_of(data: &[u8]) -> Option<String> {
    let (&mode, rest) = data.split_first()?;
    match mode % 4 {
        0 => crate::text(rest).map(str::to_owned),
        1 => {
            let (header, claims) = split2(rest);
            Some(sign(header, claims))
        }
        2 => Some(sign(standard_header().as_bytes(), rest)),
        _ => {
            let (header, rest) = split2(rest);
            let (claims, sig) = split2(rest);
            Some(format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(claims),
                URL_SAFE_NO_PAD.encode(sig)
            ))
        }
    }
}

/// Runs one input (see the module docs).
pub fn run(data: &[u8]) {
    let Some(token) = token_of(data) else { return };
    let k = keys();
    let _ = decode_unverified(&token);
    let base = k.verifier.verify_base(&token, NOW, None);
    let task = k.verifier.verify_task(&token, CELL, NOW);
    // The second answer comes from the cache where the first was cached.
    same_answer(&base, &k.verifier.verify_base(&token, NOW, None));
    same_answer(&task, &k.verifier.verify_task(&token, CELL, NOW));
    if let Ok(claims) = &base {
        genuine(&token);
        assert_eq!(
            claims.aud, BASE_AUDIENCE,
            "a base key verified with another audience"
        );
        live(&claims.jti, claims.iat, claims.iat, claims.exp);
    }
    if let Ok(claims) = &task {
        genuine(&token);
        assert_eq!(
            claims.aud, TASK_AUDIENCE,
            "a task key verified with another audience"
        );
        assert_eq!(claims.cell, CELL, "a task key verified for another cell");
        assert!(
            claims.exp.saturating_sub(claims.iat) <= MAX_TASK_TTL_SECS,
            "a task key verified with a lifetime over the maximum"
        );
        live(&claims.jti, claims.iat, claims.nbf, claims.exp);
    }
    assert!(
        base.is_err() || task.is_err(),
        "one token verified as both a base key and a task key"
    );
    // The same token in the wrong cell never verifies as a task key.
    assert!(
        k.verifier
            .verify_task(&token, "c-0000000other", NOW)
            .is_err(),
        "a task key verified in another cell"
    );
}

fn same_answer<T: std::fmt::Debug>(
    first: &Result<T, VerifyError>,
    second: &Result<T, VerifyError>,
) {
    let kind = |r: &Result<T, VerifyError>| r.as_ref().map(|_| ()).map_err(std::mem::discriminant);
    assert_eq!(
        kind(first),
        kind(second),
        "the verified-claims cache changed the answer: {first:?} then {second:?}"
    );
}

/// The token is signed by the trusted key over its own header and claims, and says so.
fn genuine(token: &str) {
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        panic!("a token that is not three parts verified: {token:?}");
    };
    let sig = URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| Signature::from_slice(&b).ok())
        .unwrap_or_else(|| {
            panic!("a token whose signature is not 64 base64url bytes verified: {token:?}")
        });
    let signed = format!("{h}.{c}");
    assert!(
        keys()
            .signing
            .verifying_key()
            .verify(signed.as_bytes(), &sig)
            .is_ok(),
        "a token verified whose signature is not the trusted key's: {token:?}"
    );
    let header: serde_json::Value = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| panic!("a token verified whose header is not JSON: {token:?}"));
    assert_eq!(
        header["alg"], "EdDSA",
        "a token verified with alg {:?}",
        header["alg"]
    );
    assert_eq!(
        header["kid"], KID,
        "a token verified with kid {:?}",
        header["kid"]
    );
}

fn live(jti: &str, iat: u64, nbf: u64, exp: u64) {
    assert_ne!(jti, REVOKED_JTI, "a revoked key verified");
    assert!(
        NOW <= exp.saturating_add(LEEWAY_SECS),
        "an expired key verified (exp {exp}, now {NOW})"
    );
    assert!(
        nbf.max(iat) <= NOW.saturating_add(LEEWAY_SECS),
        "a key verified before its time (nbf {nbf}, iat {iat}, now {NOW})"
    );
}
