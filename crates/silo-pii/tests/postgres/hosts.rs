//! Several hosts, one database: each host has its own pool and the same master key file.
//! They agree on every token even when they mint at the same moment, see each other's
//! tokens and forgets, refuse a host with another key file, and never put a plaintext value
//! into any column of the database.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Barrier};

use silo_pii::{KnownSet, KnownValue, PiiError, PiiKind, Vault};
use silo_postgres::Database;

use crate::backend::{fresh_database, fresh_url};

/// A host: its own connection pool to `url`, the key file in `keys`.
fn host(url: &str, keys: &std::path::Path) -> Vault {
    Vault::open_postgres(&Database::connect(url).unwrap(), keys).unwrap()
}

const NAMES: [&str; 12] = [
    "Ada Lovelace",
    "Alan Turing",
    "Grace Hopper",
    "Edsger Dijkstra",
    "Barbara Liskov",
    "Donald Knuth",
    "Frances Allen",
    "Ken Thompson",
    "Margaret Hamilton",
    "Dennis Ritchie",
    "Radia Perlman",
    "John Backus",
];

fn email(i: usize) -> String {
    format!("user{i}@example.org")
}

#[test]
fn two_hosts_tokenising_the_same_values_at_once_agree_on_every_token() {
    const THREADS_PER_HOST: usize = 4;
    const TASKS: usize = 3;
    let url = fresh_url();
    let keys = tempfile::tempdir().unwrap();
    let hosts = [
        Arc::new(host(&url, keys.path())),
        Arc::new(host(&url, keys.path())),
    ];
    let known = Arc::new(
        KnownSet::new(
            &NAMES
                .iter()
                .map(|n| KnownValue::new(PiiKind::Name, *n))
                .collect::<Vec<_>>(),
        )
        .unwrap(),
    );
    let barrier = Arc::new(Barrier::new(2 * THREADS_PER_HOST));
    let mut handles = Vec::new();
    for (h, vault) in hosts.iter().enumerate() {
        for t in 0..THREADS_PER_HOST {
            let (vault, known, barrier) = (vault.clone(), known.clone(), barrier.clone());
            handles.push(std::thread::spawn(move || {
                // Every thread walks the values in its own order, so the same new value is
                // minted by several threads of both hosts at once.
                let me = h * THREADS_PER_HOST + t;
                let mut order: Vec<usize> = (0..NAMES.len()).collect();
                order.rotate_left(me * 5 % NAMES.len());
                if me % 2 == 1 {
                    order.reverse();
                }
                let mut seen: Vec<(String, String, String)> = Vec::new();
                barrier.wait();
                for task in 0..TASKS {
                    let task = format!("task-{task}");
                    for chunk in order.chunks(3) {
                        if me.is_multiple_of(3) {
                            for &i in chunk {
                                let name = vault.tokenize_value(&task, PiiKind::Name, NAMES[i]);
                                let mail = vault.tokenize_value(&task, PiiKind::Email, &email(i));
                                seen.push((
                                    task.clone(),
                                    NAMES[i].into(),
                                    name.unwrap().to_string(),
                                ));
                                seen.push((task.clone(), email(i), mail.unwrap().to_string()));
                            }
                        } else {
                            // Several values minted in one transaction.
                            let values: Vec<String> = chunk
                                .iter()
                                .flat_map(|&i| [NAMES[i].to_string(), email(i)])
                                .collect();
                            let text = values.join(" ; ");
                            let out = vault.tokenize_text(&task, &text, &known).unwrap();
                            let tokens: Vec<&str> = out.text.split(" ; ").collect();
                            assert_eq!(tokens.len(), values.len(), "{}", out.text);
                            for (value, token) in values.iter().zip(tokens) {
                                seen.push((task.clone(), value.clone(), token.to_string()));
                            }
                        }
                    }
                }
                seen
            }));
        }
    }
    let mut agreed: HashMap<(String, String), String> = HashMap::new();
    for handle in handles {
        for (task, value, token) in handle.join().unwrap() {
            let first = agreed
                .entry((task.clone(), value.clone()))
                .or_insert_with(|| token.clone());
            assert_eq!(*first, token, "{task}: `{value}` got two tokens");
        }
    }
    assert_eq!(agreed.len(), TASKS * NAMES.len() * 2);
    for task in 0..TASKS {
        let task = format!("task-{task}");
        for prefix in ["[NAME_", "[EMAIL_"] {
            // No number stands for two values, and none was skipped.
            let numbers: BTreeSet<u32> = agreed
                .iter()
                .filter(|((t, _), token)| *t == task && token.starts_with(prefix))
                .map(|(_, token)| token[prefix.len()..token.len() - 1].parse().unwrap())
                .collect();
            assert_eq!(numbers, (1..=12).collect(), "{task} {prefix}");
        }
    }
    // Both hosts resolve every token to its own value.
    for ((task, value), token) in &agreed {
        for vault in &hosts {
            let (_, got) = vault.resolve(task, token).unwrap().unwrap();
            assert_eq!(&got, value);
        }
    }
}

#[test]
fn a_second_host_sees_the_first_hosts_tokens_and_forgets() {
    let url = fresh_url();
    let keys = tempfile::tempdir().unwrap();
    let a = host(&url, keys.path());
    let b = host(&url, keys.path());
    let token = a
        .tokenize_value("t", PiiKind::Email, "jane@example.com")
        .unwrap();
    assert_eq!(
        b.hydrate_tokens("t", &format!("To {token}"), &[PiiKind::Email])
            .unwrap(),
        "To jane@example.com"
    );
    assert_eq!(
        b.tokenize_value("t", PiiKind::Email, "JANE@example.com")
            .unwrap(),
        token
    );
    assert_eq!(b.resolve("other-task", "[EMAIL_1]").unwrap(), None);
    assert_eq!(b.forget_task("t").unwrap(), 1);
    assert_eq!(a.resolve("t", "[EMAIL_1]").unwrap(), None);
    // A reopened host still reads what is left.
    a.tokenize_value("u", PiiKind::Name, "Ann Lee").unwrap();
    drop(a);
    let again = host(&url, keys.path());
    assert_eq!(
        again.resolve("u", "[NAME_1]").unwrap(),
        Some((PiiKind::Name, "Ann Lee".into()))
    );
}

#[test]
fn a_host_with_another_master_key_is_refused() {
    let url = fresh_url();
    let keys = tempfile::tempdir().unwrap();
    host(&url, keys.path())
        .tokenize_value("t", PiiKind::Name, "Ann Lee")
        .unwrap();
    let other_keys = tempfile::tempdir().unwrap();
    let err =
        Vault::open_postgres(&Database::connect(&url).unwrap(), other_keys.path()).unwrap_err();
    assert!(matches!(err, PiiError::WrongMasterKey { .. }), "{err}");
    // Another tenant is another data key: that host may open it (and only it).
    Vault::open_postgres_tenant(
        &Database::connect(&url).unwrap(),
        other_keys.path(),
        "globex",
    )
    .unwrap();
}

/// Values distinctive enough that finding them in the database can only mean a leak.
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

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn no_text_or_bytea_column_of_the_database_holds_a_plaintext_value() {
    let db = fresh_database();
    let keys = tempfile::tempdir().unwrap();
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
    for tenant in ["default", "acme"] {
        let vault = Vault::open_postgres_tenant(&db, keys.path(), tenant).unwrap();
        for (kind, value) in SECRETS {
            vault.tokenize_value("task-1", kind, value).unwrap();
        }
        let out = vault.tokenize_text("task-2", &text, &set).unwrap();
        assert!(out.text.contains("[NAME_1]"), "{}", out.text);
        // Sanity: the values did go in.
        assert_eq!(
            vault.resolve("task-2", "[EMAIL_1]").unwrap(),
            Some((PiiKind::Email, SECRETS[1].1.to_string()))
        );
    }
    let mut client = db.client().unwrap();
    let columns = client
        .query(
            "SELECT table_name::text, column_name::text, data_type::text
             FROM information_schema.columns
             WHERE table_schema = 'public'
               AND data_type IN ('text', 'bytea', 'character varying', 'character', 'json', 'jsonb')",
            &[],
        )
        .unwrap();
    let mut scanned_tables = BTreeSet::new();
    let mut cells = 0;
    let mut checked = 0;
    for column in &columns {
        let (table, name, ty): (String, String, String) =
            (column.get(0), column.get(1), column.get(2));
        let values: Vec<Vec<u8>> = if ty == "bytea" {
            client
                .query(&format!("SELECT \"{name}\" FROM \"{table}\""), &[])
                .unwrap()
                .iter()
                .filter_map(|r| r.get::<_, Option<Vec<u8>>>(0))
                .collect()
        } else {
            client
                .query(&format!("SELECT \"{name}\"::text FROM \"{table}\""), &[])
                .unwrap()
                .iter()
                .filter_map(|r| r.get::<_, Option<String>>(0))
                .map(String::into_bytes)
                .collect()
        };
        if !values.is_empty() {
            scanned_tables.insert(table.clone());
        }
        for bytes in values {
            cells += 1;
            for (_, secret) in SECRETS {
                for form in [
                    secret.to_string(),
                    secret.to_lowercase(),
                    secret.chars().filter(char::is_ascii_digit).collect(),
                ] {
                    if form.len() >= 6 {
                        assert!(
                            !contains(&bytes, form.as_bytes()),
                            "{form:?} found in {table}.{name}"
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(
        scanned_tables.contains("pii_tokens") && scanned_tables.contains("pii_tenants"),
        "{scanned_tables:?}"
    );
    // 2 tenants × 10 tokens × (tenant, task, kind, blind, nonce, ciphertext) at least.
    assert!(cells >= 120, "{cells}");
    assert!(checked > 1000, "{checked}");
}

#[test]
fn a_ciphertext_moved_to_another_task_fails_authentication() {
    let db = fresh_database();
    let keys = tempfile::tempdir().unwrap();
    let vault = Vault::open_postgres(&db, keys.path()).unwrap();
    vault
        .tokenize_value("victim", PiiKind::Email, "victim@example.com")
        .unwrap();
    vault
        .tokenize_value("attacker", PiiKind::Email, "me@example.com")
        .unwrap();
    // Someone with write access to the database copies the victim's ciphertext into the
    // attacker's row. The associated data binds it to its row, so it does not open.
    db.client()
        .unwrap()
        .execute(
            "UPDATE pii_tokens SET
                 nonce = (SELECT nonce FROM pii_tokens WHERE task = 'victim'),
                 ciphertext = (SELECT ciphertext FROM pii_tokens WHERE task = 'victim')
             WHERE task = 'attacker'",
            &[],
        )
        .unwrap();
    let err = vault.resolve("attacker", "[EMAIL_1]").unwrap_err();
    assert!(matches!(err, PiiError::Tampered { .. }), "{err}");
    assert!(!err.to_string().contains("victim@"));
}

#[test]
fn tenants_share_the_database_but_not_keys_or_tokens() {
    let db = fresh_database();
    let keys = tempfile::tempdir().unwrap();
    let a = Vault::open_postgres_tenant(&db, keys.path(), "acme").unwrap();
    let b = Vault::open_postgres_tenant(&db, keys.path(), "globex").unwrap();
    a.tokenize_value("t", PiiKind::Name, "Ann Lee").unwrap();
    assert_eq!(b.resolve("t", "[NAME_1]").unwrap(), None);
    assert!(Vault::open_postgres_tenant(&db, keys.path(), "bad tenant").is_err());
    assert_eq!(a.tenant(), "acme");
    assert_eq!(a.dir(), Some(keys.path()));
    let wrapped: Vec<Vec<u8>> = db
        .client()
        .unwrap()
        .query("SELECT wrapped_key FROM pii_tenants ORDER BY tenant", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(wrapped.len(), 2);
    assert_ne!(wrapped[0], wrapped[1]);
}

#[test]
fn the_key_file_is_private_and_the_database_gets_no_copy_of_it() {
    use std::os::unix::fs::PermissionsExt;
    let db = fresh_database();
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("vault-keys");
    Vault::open_postgres(&db, &keys).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&keys), 0o700);
    let key_file = keys.join("pii-master.key");
    assert_eq!(mode(&key_file), 0o600);
    let master = std::fs::read(&key_file).unwrap();
    let mut client = db.client().unwrap();
    for row in client
        .query("SELECT nonce, wrapped_key FROM pii_tenants", &[])
        .unwrap()
    {
        for i in 0..2 {
            let bytes: Vec<u8> = row.get(i);
            assert!(!contains(&bytes, &master[..16]));
        }
    }
}
