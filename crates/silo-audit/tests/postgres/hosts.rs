//! What only the PostgreSQL store has: several hosts appending to one chain through one
//! advisory lock, triggers that a normal client meets, checkpoints signed by each host's
//! own key, and appends that stay correct whatever the server's defaults.

use std::sync::Arc;
use std::thread;

use silo_audit::{
    AuditLog, AuditStore, CheckpointError, PgAuditStore, Receipt, StoreError, VerifyError,
};
use silo_postgres::Database;

use crate::backend::Storage;
use crate::support::{draft, empty, fixture, N};

/// `hosts` stores, each with a connection pool of its own as on separate machines, and
/// `threads` threads on each appending `per_thread` entries in batches of 1, 2, 3 and 4.
/// Returns each thread's receipts.
fn append_from_hosts(
    storage: &Storage,
    hosts: usize,
    threads: usize,
    per_thread: u64,
) -> Vec<Vec<Receipt>> {
    let stores: Vec<Arc<PgAuditStore>> = (0..hosts)
        .map(|_| {
            let db = Database::connect(storage.url()).unwrap();
            Arc::new(PgAuditStore::open(&db).unwrap())
        })
        .collect();
    let handles: Vec<_> = stores
        .iter()
        .flat_map(|store| (0..threads).map(move |_| Arc::clone(store)))
        .enumerate()
        .map(|(t, store)| {
            thread::spawn(move || {
                let mut receipts = Vec::new();
                let mut i = 0u64;
                let mut size = 1u64;
                while i < per_thread {
                    let n = size.min(per_thread - i);
                    let batch = (i..i + n).map(|k| draft(t as u64 * 1000 + k)).collect();
                    let got = store.append_batch(batch).unwrap();
                    assert_eq!(got.len() as u64, n);
                    // One batch is one transaction: its seqs are consecutive.
                    assert!(got.windows(2).all(|w| w[1].seq == w[0].seq + 1));
                    receipts.extend(got);
                    i += n;
                    size = size % 4 + 1;
                }
                receipts
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn four_threads_on_each_of_two_hosts_append_one_chain() {
    let fx = empty();
    let per_thread = 200;
    let receipts = append_from_hosts(&fx.storage, 2, 4, per_thread);
    assert_eq!(receipts.len(), 8);
    for mine in &receipts {
        assert_eq!(mine.len() as u64, per_thread);
        assert!(
            mine.windows(2).all(|w| w[0].seq < w[1].seq),
            "a thread's appends are in order"
        );
    }
    let mut seqs: Vec<u64> = receipts.iter().flatten().map(|r| r.seq).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (0..1600).collect::<Vec<u64>>(),
        "contiguous, no repeats"
    );
    let verified = fx.log.verify().unwrap();
    assert_eq!(verified.size, 1600);
    // The receipt of the last entry names the head the verifier recomputed.
    let last = receipts.iter().flatten().max_by_key(|r| r.seq).unwrap();
    assert_eq!(last.hash, verified.head);
    let rows = fx.log.store().rows_after(None, 2000).unwrap();
    assert!(rows.iter().enumerate().all(|(i, r)| r.seq == i as i64));
}

#[test]
fn appends_keep_one_chain_when_the_server_defaults_to_serializable_and_async_commit() {
    let fx = empty();
    let db_name = fx.storage.url().rsplit('/').next().unwrap().to_owned();
    let db = Database::connect(fx.storage.url()).unwrap();
    db.client()
        .unwrap()
        .batch_execute(&format!(
            "ALTER DATABASE {db_name} SET default_transaction_isolation = 'serializable';
             ALTER DATABASE {db_name} SET synchronous_commit = 'off';"
        ))
        .unwrap();
    // New sessions (the hosts' new pools) get those defaults…
    let mut probe = Database::connect(fx.storage.url())
        .unwrap()
        .client()
        .unwrap();
    let level: String = probe
        .query_one("SHOW default_transaction_isolation", &[])
        .unwrap()
        .get(0);
    assert_eq!(level, "serializable");
    // …and the append transaction still reads the tip after taking the lock.
    let receipts = append_from_hosts(&fx.storage, 2, 2, 40);
    assert_eq!(receipts.iter().flatten().count(), 160);
    assert_eq!(fx.log.verify().unwrap().size, 160);
}

#[test]
fn a_normal_client_cannot_update_delete_or_truncate() {
    let fx = fixture();
    fx.log.checkpoint().unwrap();
    let db = Database::connect(fx.storage.url()).unwrap();
    let mut client = db.client().unwrap();
    for (sql, what) in [
        (
            "UPDATE audit_entries SET decision = 'allow' WHERE seq = 1",
            "entries",
        ),
        ("DELETE FROM audit_entries WHERE seq = 1", "entries"),
        // Refused as a statement, even when it would touch no row.
        ("DELETE FROM audit_entries WHERE false", "entries"),
        ("TRUNCATE audit_entries", "entries"),
        ("UPDATE audit_checkpoints SET size = 0", "checkpoints"),
        ("DELETE FROM audit_checkpoints", "checkpoints"),
        ("TRUNCATE audit_checkpoints", "checkpoints"),
    ] {
        let err = match client.execute(sql, &[]) {
            Ok(n) => panic!("`{sql}` was allowed ({n} rows)"),
            Err(e) => e,
        };
        let message = err.as_db_error().map(|d| d.message().to_owned());
        assert_eq!(
            message.as_deref(),
            Some(format!("audit {what} are append-only").as_str()),
            "{sql}"
        );
    }
    assert_eq!(fx.log.verify().unwrap().size, N);
    assert!(fx.log.latest_checkpoint().unwrap().is_some());
}

#[test]
fn each_host_signs_checkpoints_with_its_own_key_and_the_chain_verifies_without_one() {
    let fx = fixture();
    let other_dir = tempfile::tempdir().unwrap();
    let db = Database::connect(fx.storage.url()).unwrap();
    let other = AuditLog::open_postgres(&db, other_dir.path()).unwrap();
    assert!(
        !AuditLog::key_path(other_dir.path()).exists(),
        "opening creates no key"
    );
    // No key anywhere is needed to verify the chain.
    assert_eq!(other.verify().unwrap().size, N);
    assert!(!AuditLog::key_path(other_dir.path()).exists());

    let ours = fx.log.checkpoint().unwrap();
    let (our_key, their_key) = (fx.log.public_key().unwrap(), other.public_key().unwrap());
    assert_ne!(our_key, their_key, "each host has a key file of its own");
    // The other host sees the checkpoint we saved, and verifies it with our public key…
    let saved = other.latest_checkpoint().unwrap().unwrap();
    assert_eq!(saved, ours);
    assert_eq!(other.verify_against(&saved, &our_key).unwrap().size, N);
    // …but not with its own.
    assert!(matches!(
        other.verify_against(&saved, &their_key),
        Err(VerifyError::Checkpoint(CheckpointError::WrongKey { .. }))
    ));
}

#[test]
fn a_database_without_the_audit_tables_is_refused_at_open_in_the_servers_words() {
    let fx = empty();
    let db = Database::connect(fx.storage.url()).unwrap();
    db.client()
        .unwrap()
        .batch_execute("DROP TABLE audit_checkpoints")
        .unwrap();
    let err = PgAuditStore::open(&db).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Postgres {
                context: "checking the audit tables",
                code: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    // The server's own words, not just "db error".
    assert!(
        err.to_string()
            .contains(r#"relation "audit_checkpoints" does not exist"#),
        "{err}"
    );
}
