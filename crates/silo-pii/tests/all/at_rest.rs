//! The vault on disk: no plaintext, a guarded master key, reopening keeps tokens.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use silo_pii::{KnownSet, KnownValue, PiiError, PiiKind, Vault};

/// Values distinctive enough that finding them in a file can only mean a leak.
const SECRETS: [(PiiKind, &str); 5] = [
    (PiiKind::Name, "Zebulon Quattlebaum"),
    (
        PiiKind::Email,
        "zebulon.quattlebaum@plaintext-canary.example",
    ),
    (PiiKind::Phone, "+1 (555) 013-9876"),
    (PiiKind::Address, "4821 Xylophone Boulevard"),
    (PiiKind::Card, "4012 8888 8888 1881"),
];

fn raw_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        out.push((
            entry.file_name().to_string_lossy().into_owned(),
            fs::read(entry.path()).unwrap(),
        ));
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn the_database_and_its_wal_hold_no_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let known: Vec<_> = SECRETS
        .iter()
        .map(|(k, v)| KnownValue::new(*k, *v))
        .collect();
    let set = KnownSet::new(&known).unwrap();
    let text = SECRETS
        .iter()
        .map(|(_, v)| *v)
        .collect::<Vec<_>>()
        .join(" / ");
    let (tokenised, files_while_open) = {
        let vault = Vault::open(dir.path()).unwrap();
        for (kind, value) in SECRETS {
            vault.tokenize_value("task-1", kind, value).unwrap();
        }
        let out = vault.tokenize_text("task-2", &text, &set).unwrap();
        // Read while open too: the WAL has not been checkpointed yet.
        (out.text, raw_files(dir.path()))
    };
    let files_after_close = raw_files(dir.path());
    let names: Vec<_> = files_while_open.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"vault.db"), "{names:?}");
    assert!(names.contains(&"vault.db-wal"), "{names:?}");
    let mut checked = 0;
    for (name, bytes) in files_while_open.iter().chain(&files_after_close) {
        for (_, secret) in SECRETS {
            for form in [
                secret.to_string(),
                secret.to_lowercase(),
                secret
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect::<String>(),
            ] {
                if form.len() >= 6 {
                    assert!(
                        !contains(bytes, form.as_bytes()),
                        "{form:?} found in {name}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 20);
    // Sanity: the values did go in, and come back out after reopening.
    assert!(tokenised.contains("[NAME_1]"));
    let vault = Vault::open(dir.path()).unwrap();
    assert_eq!(
        vault.resolve("task-2", "[EMAIL_1]").unwrap(),
        Some((PiiKind::Email, SECRETS[1].1.to_string()))
    );
    assert_eq!(
        vault
            .tokenize_value("task-1", PiiKind::Name, "zebulon  QUATTLEBAUM")
            .unwrap()
            .to_string(),
        "[NAME_1]"
    );
}

#[test]
fn files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let vdir = dir.path().join("vault");
    let vault = Vault::open(&vdir).unwrap();
    vault.tokenize_value("t", PiiKind::Name, "Ann Lee").unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&vdir), 0o700);
    assert_eq!(mode(&vdir.join("pii-master.key")), 0o600);
    assert_eq!(mode(&vdir.join("vault.db")), 0o600);
    assert_eq!(fs::metadata(vdir.join("pii-master.key")).unwrap().len(), 32);
}

#[test]
fn a_key_file_open_to_others_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Vault::open(dir.path()).unwrap());
    let key = dir.path().join("pii-master.key");
    for mode in [0o640, 0o604, 0o660] {
        fs::set_permissions(&key, fs::Permissions::from_mode(mode)).unwrap();
        let err = Vault::open(dir.path()).unwrap_err();
        assert!(matches!(err, PiiError::KeyFilePermissions { .. }), "{err}");
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }
    fs::set_permissions(&key, fs::Permissions::from_mode(0o400)).unwrap();
    Vault::open(dir.path()).unwrap();
}

#[test]
fn a_key_file_of_the_wrong_length_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("pii-master.key");
    fs::write(&key, [7u8; 31]).unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    let err = Vault::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, PiiError::KeyFileLength { len: 31, .. }),
        "{err}"
    );
}

#[test]
fn a_symlinked_key_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("elsewhere.key");
    fs::write(&real, [7u8; 32]).unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(&real, dir.path().join("pii-master.key")).unwrap();
    let err = Vault::open(dir.path()).unwrap_err();
    assert!(matches!(err, PiiError::KeyFileNotRegular { .. }), "{err}");
}

#[test]
fn another_master_key_cannot_open_the_vault() {
    let dir = tempfile::tempdir().unwrap();
    drop(Vault::open(dir.path()).unwrap());
    let key = dir.path().join("pii-master.key");
    fs::write(&key, [9u8; 32]).unwrap();
    let err = Vault::open(dir.path()).unwrap_err();
    assert!(matches!(err, PiiError::WrongMasterKey { .. }), "{err}");
}

#[test]
fn a_ciphertext_moved_to_another_task_fails_authentication() {
    let dir = tempfile::tempdir().unwrap();
    {
        let vault = Vault::open(dir.path()).unwrap();
        vault
            .tokenize_value("victim", PiiKind::Email, "victim@example.com")
            .unwrap();
        vault
            .tokenize_value("attacker", PiiKind::Email, "me@example.com")
            .unwrap();
    }
    // Someone with write access to the file copies the victim's ciphertext into the
    // attacker's row. The associated data binds it to its row, so it does not open.
    let conn = rusqlite_open(&dir.path().join("vault.db"));
    conn.execute(
        "UPDATE pii_tokens SET nonce = (SELECT nonce FROM pii_tokens WHERE task = 'victim'),
                               ciphertext = (SELECT ciphertext FROM pii_tokens WHERE task = 'victim')
         WHERE task = 'attacker'",
        [],
    )
    .unwrap();
    drop(conn);
    let vault = Vault::open(dir.path()).unwrap();
    let err = vault.resolve("attacker", "[EMAIL_1]").unwrap_err();
    assert!(matches!(err, PiiError::Tampered { .. }), "{err}");
    assert!(!err.to_string().contains("victim@"));
}

fn rusqlite_open(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

#[test]
fn tenants_share_a_file_but_not_keys_or_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let a = Vault::open_tenant(dir.path(), "acme").unwrap();
    let b = Vault::open_tenant(dir.path(), "globex").unwrap();
    a.tokenize_value("t", PiiKind::Name, "Ann Lee").unwrap();
    assert_eq!(b.resolve("t", "[NAME_1]").unwrap(), None);
    assert!(Vault::open_tenant(dir.path(), "bad tenant").is_err());
    assert_eq!(a.tenant(), "acme");
    assert_eq!(Vault::open(dir.path()).unwrap().tenant(), "default");
}

#[test]
fn the_vault_is_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Vault>();
    let dir = tempfile::tempdir().unwrap();
    let vault = std::sync::Arc::new(Vault::open(dir.path()).unwrap());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let vault = vault.clone();
            std::thread::spawn(move || {
                let mut tokens = Vec::new();
                for j in 0..25 {
                    let name = format!("Person {}", (i * 7 + j) % 10);
                    tokens.push((
                        name.clone(),
                        vault.tokenize_value("t", PiiKind::Name, &name).unwrap(),
                    ));
                }
                tokens
            })
        })
        .collect();
    let mut seen = std::collections::HashMap::new();
    for h in handles {
        for (name, token) in h.join().unwrap() {
            assert_eq!(*seen.entry(name).or_insert(token), token);
        }
    }
    assert_eq!(seen.len(), 10);
    let mut numbers: Vec<_> = seen.values().map(|t| t.number()).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=10).collect::<Vec<_>>());
}
