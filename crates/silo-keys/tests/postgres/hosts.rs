//! Several hosts, one database: the router host holds the key store (private keys in its
//! folder, public keys published); every other host verifies from the database. Each
//! "host" here has a connection pool of its own.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use silo_keys::{
    KeyStore, Minter, RevocationList, StoreError, Verifier, VerifyError, UNKNOWN_KID_INTERVAL,
};
use silo_postgres::{Database, Throwaway};

use crate::common::*;

fn fresh_url() -> String {
    Throwaway::shared().unwrap().fresh_database().unwrap()
}

/// A host: a pool of its own on `url`.
fn host(url: &str) -> Database {
    Database::connect(url).unwrap()
}

/// The router host: a key store in a temporary folder, publishing to `url`.
struct Router {
    _dir: tempfile::TempDir,
    store: KeyStore,
}

impl Router {
    fn start(url: &str) -> Router {
        let dir = tempfile::tempdir().unwrap();
        let store =
            KeyStore::init_with_postgres(&dir.path().join("keys"), NOW - 100, &host(url)).unwrap();
        Router { _dir: dir, store }
    }

    fn minter(&self) -> Minter {
        self.store.minter().unwrap()
    }
}

/// A verifying host that re-reads the key set for unknown kids at most once per `interval`.
fn verifier(url: &str, interval: Duration) -> Verifier {
    Verifier::from_postgres(&host(url), interval).unwrap()
}

#[test]
fn a_revocation_on_one_host_is_refused_by_another_hosts_verifier_at_its_next_check() {
    let url = fresh_url();
    let router = Router::start(&url);
    let other = verifier(&url, UNKNOWN_KID_INTERVAL);
    let minter = router.minter();
    let task = task_claims();
    let task_token = minter.mint_task(&task).unwrap();
    let base = base_claims();
    let base_token = minter.mint_base(&base).unwrap();
    // Verified (and cached) before the revocation...
    assert!(other.verify_task(&task_token, CELL, NOW).is_ok());
    assert!(other.verify_base(&base_token, NOW, None).is_ok());
    assert!(router.store.revoke_task_key(&task.jti, NOW).unwrap());
    // ...refused at the very next check, with no reload or wait.
    assert!(matches!(
        other.verify_task(&task_token, CELL, NOW),
        Err(VerifyError::Revoked { .. })
    ));
    // A third host (say `silo keys revoke` on an operator's machine) revokes the base key.
    assert!(RevocationList::postgres(&host(&url))
        .unwrap()
        .revoke(&base.jti, NOW)
        .unwrap());
    assert!(matches!(
        other.verify_base(&base_token, NOW, None),
        Err(VerifyError::Revoked { .. })
    ));
    // And the router host's own verifier sees the other host's revocation too.
    assert!(matches!(
        router
            .store
            .verifier()
            .unwrap()
            .verify_base(&base_token, NOW, None),
        Err(VerifyError::Revoked { .. })
    ));
}

#[test]
fn revocations_are_idempotent_across_hosts_and_entries_list_all_of_them() {
    let url = fresh_url();
    let a = RevocationList::postgres(&host(&url)).unwrap();
    let b = RevocationList::postgres(&host(&url)).unwrap();
    let now = silo_keys::now_unix();
    assert!(a.revoke("x", 10).unwrap());
    assert!(!b.revoke("x", 11).unwrap());
    assert!(b.revoke_until("y", now, now + 100).unwrap());
    assert!(!a.revoke_until("y", now + 1, now + 200).unwrap());
    assert!(a.is_revoked("y") && b.is_revoked("x"));
    assert!(!a.is_revoked("z"));
    let expected = vec![("x".to_string(), 10), ("y".to_string(), now)];
    assert_eq!(a.entries(), expected);
    assert_eq!(b.try_entries().unwrap(), expected);
}

#[test]
fn entries_past_their_tokens_expiry_are_dropped_and_others_kept() {
    let url = fresh_url();
    let db = host(&url);
    let list = RevocationList::postgres(&db).unwrap();
    let now = silo_keys::now_unix();
    list.revoke_until("task-a", now - 10, now + 20).unwrap();
    list.revoke("base-b", now - 10).unwrap();
    assert!(list.is_revoked("task-a") && list.is_revoked("base-b"));
    // Once `task-a` cannot verify any more, the next write drops it; the rest stays.
    list.revoke_until("task-c", now + 30, now + 1000).unwrap();
    let rows: Vec<String> = db
        .client()
        .unwrap()
        .query("SELECT jti FROM key_revocations ORDER BY jti", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(rows, vec!["base-b", "task-c"]);
    let other = RevocationList::postgres(&host(&url)).unwrap();
    assert!(other.is_revoked("task-c") && other.is_revoked("base-b"));
    assert!(!other.is_revoked("task-a"));
}

#[test]
fn many_hosts_revoking_at_once_lose_nothing() {
    let url = fresh_url();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let url = url.clone();
            std::thread::spawn(move || {
                let list = RevocationList::postgres(&host(&url)).unwrap();
                for i in 0..25 {
                    assert!(list.revoke(&format!("w{w}-{i}"), 1).unwrap());
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let all = RevocationList::postgres(&host(&url)).unwrap();
    assert_eq!(all.try_entries().unwrap().len(), 100);
    assert!(all.is_revoked("w3-24"));
}

#[test]
fn a_database_that_cannot_be_queried_fails_closed() {
    let url = fresh_url();
    let router = Router::start(&url);
    let other = verifier(&url, UNKNOWN_KID_INTERVAL);
    let list = RevocationList::postgres(&host(&url)).unwrap();
    let token = router.minter().mint_task(&task_claims()).unwrap();
    assert!(!list.is_revoked("k"));
    assert!(other.verify_task(&token, CELL, NOW).is_ok());
    let mut admin = host(&url).dedicated().unwrap();
    admin
        .batch_execute("ALTER TABLE key_revocations RENAME TO key_revocations_gone")
        .unwrap();
    assert!(list.is_revoked("k"), "a failed check must count as revoked");
    assert!(matches!(
        other.verify_task(&token, CELL, NOW),
        Err(VerifyError::Revoked { .. })
    ));
    assert!(matches!(
        list.revoke("k", NOW),
        Err(StoreError::Database(_))
    ));
    assert!(list.try_entries().is_err());
    // The refusal came from the failure, not from a cached answer.
    admin
        .batch_execute("ALTER TABLE key_revocations_gone RENAME TO key_revocations")
        .unwrap();
    assert!(!list.is_revoked("k"));
    assert!(other.verify_task(&token, CELL, NOW).is_ok());
}

#[test]
fn an_unreachable_database_fails_closed() {
    let server = Throwaway::shared().unwrap();
    let url = server.fresh_database().unwrap();
    let name = url.rsplit('/').next().unwrap().to_string();
    let router = Router::start(&url);
    let other = verifier(&url, UNKNOWN_KID_INTERVAL);
    let token = router.minter().mint_task(&task_claims()).unwrap();
    assert!(other.verify_task(&token, CELL, NOW).is_ok());
    // The database goes away (every connection to it is ended).
    let mut admin = silo_postgres::postgres::Client::connect(
        &server.url("postgres"),
        silo_postgres::postgres::NoTls,
    )
    .unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .unwrap();
    // (The pool first waits out its connect timeout, about ten seconds.)
    assert!(matches!(
        other.verify_task(&token, CELL, NOW),
        Err(VerifyError::Revoked { .. })
    ));
}

#[test]
fn attaching_a_store_copies_its_files_revocations_and_revokes_in_the_database_after() {
    let url = fresh_url();
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let mut store = KeyStore::init(&keys, NOW - 100).unwrap();
    let minter = store.minter().unwrap();
    let before = task_claims();
    let before_token = minter.mint_task(&before).unwrap();
    store.revoke_task_key(&before.jti, NOW).unwrap();
    store.revoke("base-jti", NOW).unwrap();
    store.attach_postgres(&host(&url)).unwrap();
    assert!(store.database().is_some());
    let other = verifier(&url, UNKNOWN_KID_INTERVAL);
    assert!(matches!(
        other.verify_task(&before_token, CELL, NOW),
        Err(VerifyError::Revoked { .. })
    ));
    assert!(RevocationList::postgres(&host(&url))
        .unwrap()
        .is_revoked("base-jti"));
    let after = task_claims();
    let after_token = minter.mint_task(&after).unwrap();
    assert!(other.verify_task(&after_token, CELL, NOW).is_ok());
    store.revoke_task_key(&after.jti, NOW).unwrap();
    assert!(matches!(
        other.verify_task(&after_token, CELL, NOW),
        Err(VerifyError::Revoked { .. })
    ));
    let file = std::fs::read_to_string(keys.join("revoked.json")).unwrap();
    assert!(!file.contains(&after.jti), "{file}");
}

#[test]
fn a_verifier_from_the_database_accepts_the_router_hosts_keys_and_nothing_else() {
    let url = fresh_url();
    let router = Router::start(&url);
    let other = verifier(&url, UNKNOWN_KID_INTERVAL);
    assert_eq!(other.kids(), vec![router.store.current_kid().to_string()]);
    let minter = router.minter();
    let base = minter.mint_base(&base_claims()).unwrap();
    let task = minter.mint_task(&task_claims()).unwrap();
    assert!(other.verify_pair(&base, &task, CELL, NOW, None).is_ok());

    // A key store that never published (another deployment, an attacker's own store).
    let stranger_dir = tempfile::tempdir().unwrap();
    let stranger = KeyStore::init(stranger_dir.path(), NOW - 100).unwrap();
    let foreign = stranger
        .minter()
        .unwrap()
        .mint_task(&task_claims())
        .unwrap();
    assert!(matches!(
        other.verify_task(&foreign, CELL, NOW),
        Err(VerifyError::UnknownKid { .. })
    ));
    // A published kid over another key's signature.
    let forged = Minter::new(
        router.store.current_kid(),
        &SigningKey::from_bytes(&[9; 32]),
    )
    .unwrap()
    .mint_task(&task_claims())
    .unwrap();
    assert!(matches!(
        other.verify_task(&forged, CELL, NOW),
        Err(VerifyError::BadSignature)
    ));
    // Genuine signature, edited claims.
    let mut parts: Vec<String> = task.split('.').map(String::from).collect();
    let mut claims = task_claims();
    claims.customer = "cust_tok_OTHER".into();
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&claims).unwrap());
    assert!(matches!(
        other.verify_task(&parts.join("."), CELL, NOW),
        Err(VerifyError::BadSignature)
    ));
    // `alg: none` with a published kid.
    let header = serde_json::json!({"alg": "none", "kid": router.store.current_kid()});
    let unsigned = format!(
        "{}.{}.",
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&header).unwrap()),
        parts[1]
    );
    assert!(matches!(
        other.verify_task(&unsigned, CELL, NOW),
        Err(VerifyError::AlgorithmNotAllowed { .. })
    ));
}

#[test]
fn a_key_rotated_on_the_router_host_is_accepted_by_a_database_verifier() {
    let url = fresh_url();
    let mut router = Router::start(&url);
    let other = verifier(&url, UNKNOWN_KID_INTERVAL);
    let old_kid = router.store.current_kid().to_string();
    let old_token = router.minter().mint_task(&task_claims()).unwrap();
    assert!(other.verify_task(&old_token, CELL, NOW).is_ok());
    let new_kid = router.store.rotate(NOW, 120).unwrap();
    let new_token = router.minter().mint_task(&task_claims()).unwrap();
    // The unknown kid makes it re-read the published set.
    assert!(other.verify_task(&new_token, CELL, NOW).is_ok());
    assert_eq!(other.kids().len(), 2);
    assert!(other.kids().contains(&new_kid));
    // The re-read brought the old key's retirement along.
    assert!(other.verify_task(&old_token, CELL, NOW + 119).is_ok());
    assert!(matches!(
        other.verify_task(&old_token, CELL, NOW + 120),
        Err(VerifyError::RetiredKid { kid, .. }) if kid == old_kid
    ));
    assert!(other.verify_task(&new_token, CELL, NOW + 120).is_ok());
    // A verifier built after the rotation knows both from the start.
    let late = verifier(&url, UNKNOWN_KID_INTERVAL);
    assert_eq!(late.kids().len(), 2);
}

#[test]
fn a_flood_of_unknown_kids_rereads_the_key_set_at_most_once_per_interval() {
    let url = fresh_url();
    let mut router = Router::start(&url);
    let other = verifier(&url, Duration::from_secs(3600));
    // Forged kids: the first one costs a re-read, the rest none.
    for i in 0..50 {
        let forged = Minter::new(&format!("forged-{i}"), &SigningKey::from_bytes(&[9; 32]))
            .unwrap()
            .mint_task(&task_claims())
            .unwrap();
        assert!(matches!(
            other.verify_task(&forged, CELL, NOW),
            Err(VerifyError::UnknownKid { .. })
        ));
    }
    // So a real rotation now is not seen until the interval has passed...
    router.store.rotate(NOW, 120).unwrap();
    let new_token = router.minter().mint_task(&task_claims()).unwrap();
    assert!(matches!(
        other.verify_task(&new_token, CELL, NOW),
        Err(VerifyError::UnknownKid { .. })
    ));
    assert_eq!(other.kids().len(), 1, "no re-read within the interval");
    // ...or an explicit refresh.
    other.refresh_keys().unwrap();
    assert!(other.verify_task(&new_token, CELL, NOW).is_ok());
    // With no interval, every unknown kid re-reads, so a rotation is seen at once.
    let eager = verifier(&url, Duration::ZERO);
    let forged = Minter::new("forged", &SigningKey::from_bytes(&[9; 32]))
        .unwrap()
        .mint_task(&task_claims())
        .unwrap();
    assert!(eager.verify_task(&forged, CELL, NOW).is_err());
    router.store.rotate(NOW, 120).unwrap();
    let newest = router.minter().mint_task(&task_claims()).unwrap();
    assert!(eager.verify_task(&newest, CELL, NOW).is_ok());
}

#[test]
fn publishing_never_revives_a_retired_key_nor_replaces_a_public_key() {
    let url = fresh_url();
    let mut router = Router::start(&url);
    let old_token = router.minter().mint_task(&task_claims()).unwrap();
    // A stale copy of the key folder, taken before the rotation.
    let stale = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(router.store.dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), stale.path().join(entry.file_name())).unwrap();
    }
    router.store.rotate(NOW, 0).unwrap(); // a compromised key: retired at once
    KeyStore::open_with_postgres(stale.path(), &host(&url)).unwrap();
    let other = verifier(&url, UNKNOWN_KID_INTERVAL);
    assert!(matches!(
        other.verify_task(&old_token, CELL, NOW),
        Err(VerifyError::RetiredKid { .. })
    ));
    // Someone swaps a published public key: the router host refuses to publish over it.
    host(&url)
        .client()
        .unwrap()
        .execute(
            "UPDATE key_public_keys SET public_key = $1 WHERE kid = $2",
            &[
                &STANDARD.encode(SigningKey::from_bytes(&[7; 32]).verifying_key().as_bytes()),
                &router.store.current_kid().to_string(),
            ],
        )
        .unwrap();
    assert!(matches!(
        router.store.publish_keys(),
        Err(StoreError::KidConflict { .. })
    ));
    // And a verifier reading the swapped key refuses the router's genuine tokens.
    let token = router.minter().mint_task(&task_claims()).unwrap();
    assert!(matches!(
        verifier(&url, UNKNOWN_KID_INTERVAL).verify_task(&token, CELL, NOW),
        Err(VerifyError::BadSignature)
    ));
}

#[test]
fn a_database_without_published_keys_is_a_clear_error() {
    let url = fresh_url();
    let err = Verifier::from_postgres(&host(&url), UNKNOWN_KID_INTERVAL).unwrap_err();
    assert!(matches!(err, StoreError::NoPublishedKeys), "{err}");
    assert!(err.to_string().contains("open_with_postgres"), "{err}");
}

#[test]
fn no_private_key_reaches_the_database() {
    let url = fresh_url();
    let mut router = Router::start(&url);
    router.store.rotate(NOW, 60).unwrap();
    router.store.revoke("some-jti", NOW).unwrap();
    let seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(router.store.dir())
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            (path.extension()? == "key").then(|| {
                let text = std::fs::read_to_string(&path).unwrap();
                (
                    text.trim().to_string(),
                    STANDARD.decode(text.trim()).unwrap(),
                )
            })
        })
        .collect();
    assert_eq!(seeds.len(), 2);
    let db = host(&url);
    let mut client = db.client().unwrap();
    let mut cells = 0;
    for table in ["key_public_keys", "key_revocations"] {
        let rows = client
            .query(&format!("SELECT row_to_json(t)::text FROM {table} t"), &[])
            .unwrap();
        for row in rows {
            let text: String = row.get(0);
            cells += 1;
            for (encoded, raw) in &seeds {
                assert!(!text.contains(encoded.as_str()), "{table}: {text}");
                assert!(!text.contains(&hex(raw)), "{table}: {text}");
            }
        }
    }
    assert_eq!(cells, 3);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
