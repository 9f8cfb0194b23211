//! Tamper detection, proven by editing the SQLite file directly as an attacker would.

use rusqlite::params;
use silo_audit::merkle::leaf_hash;
use silo_audit::{Tamper, VerifyError};

use crate::support::{body, fixture, forge, insert_row, stored_hash, N};

#[expect(
    clippy::panic,
    reason = "test helper: no tampering found fails the test"
)]
fn tamper_of(result: Result<silo_audit::Verified, VerifyError>) -> Tamper {
    match result {
        Err(VerifyError::Tamper(t)) => t,
        other => panic!("expected tampering to be detected, got {other:?}"),
    }
}

#[test]
fn an_untouched_log_verifies() {
    let fx = fixture();
    let v = fx.log.verify().unwrap();
    assert_eq!(v.size, N);
    let cp = fx.log.checkpoint().unwrap();
    let v2 = fx
        .log
        .verify_against(&cp, &fx.log.public_key().unwrap())
        .unwrap();
    assert_eq!(v2, v);
}

#[test]
fn editing_a_field_is_caught_at_that_seq() {
    let fx = fixture();
    let conn = fx.attacker();
    let original = body(&conn, 5);
    let edited = original.replace(r#""decision":"deny""#, r#""decision":"allow""#);
    assert_ne!(original, edited, "fixture entry 5 is a deny");
    conn.execute(
        "UPDATE audit_entries SET body = ?1 WHERE seq = 5",
        params![edited],
    )
    .unwrap();
    let t = tamper_of(fx.log.verify());
    assert_eq!(t, Tamper::HashMismatch { seq: 5 });
    assert_eq!(t.first_bad_seq(), Some(5));
}

#[test]
fn editing_a_field_and_its_stored_hash_breaks_the_chain_at_the_next_seq() {
    let fx = fixture();
    let conn = fx.attacker();
    let edited = body(&conn, 5).replace(r#""amount_cents":500"#, r#""amount_cents":5"#);
    let hash = leaf_hash(edited.as_bytes());
    conn.execute(
        "UPDATE audit_entries SET body = ?1, hash = ?2 WHERE seq = 5",
        params![edited, &hash.as_bytes()[..]],
    )
    .unwrap();
    assert_eq!(tamper_of(fx.log.verify()), Tamper::ChainBroken { seq: 6 });
}

#[test]
fn editing_a_query_column_is_caught() {
    let fx = fixture();
    let conn = fx.attacker();
    conn.execute(
        "UPDATE audit_entries SET decision = 'allow' WHERE seq = 3",
        [],
    )
    .unwrap();
    assert_eq!(
        tamper_of(fx.log.verify()),
        Tamper::IndexMismatch {
            seq: 3,
            column: "decision"
        }
    );
}

#[test]
fn a_non_canonical_body_is_caught_even_with_a_matching_hash() {
    let fx = fixture();
    let conn = fx.attacker();
    let spaced = body(&conn, 2).replacen(',', ", ", 1);
    let hash = leaf_hash(spaced.as_bytes());
    conn.execute(
        "UPDATE audit_entries SET body = ?1, hash = ?2 WHERE seq = 2",
        params![spaced, &hash.as_bytes()[..]],
    )
    .unwrap();
    assert!(matches!(
        tamper_of(fx.log.verify()),
        Tamper::Unreadable { seq: 2, .. }
    ));
}

#[test]
fn deleting_an_entry_is_caught_at_its_seq() {
    let fx = fixture();
    let conn = fx.attacker();
    conn.execute("DELETE FROM audit_entries WHERE seq = 7", [])
        .unwrap();
    let t = tamper_of(fx.log.verify());
    assert_eq!(t, Tamper::Missing { seq: 7, found: 8 });
    assert_eq!(t.first_bad_seq(), Some(7));
}

#[test]
fn deleting_the_first_entry_is_caught_at_seq_0() {
    let fx = fixture();
    fx.attacker()
        .execute("DELETE FROM audit_entries WHERE seq = 0", [])
        .unwrap();
    assert_eq!(
        tamper_of(fx.log.verify()),
        Tamper::Missing { seq: 0, found: 1 }
    );
}

#[test]
fn appending_a_forged_entry_that_does_not_chain_is_caught() {
    let fx = fixture();
    let conn = fx.attacker();
    // A forger who copies an old entry's `prev` rather than chaining to the real head.
    let wrong_prev = stored_hash(&conn, 3);
    let (entry, text, hash) = forge(N, wrong_prev);
    insert_row(&conn, N as i64, &entry, &text, &hash);
    assert_eq!(tamper_of(fx.log.verify()), Tamper::ChainBroken { seq: N });
}

#[test]
fn inserting_a_forged_entry_in_the_middle_is_caught_at_the_displaced_entry() {
    let fx = fixture();
    let conn = fx.attacker();
    // Make room at seq 10 by moving rows 10.. up by one (via negative keys to dodge the
    // primary key), then insert a carefully forged, correctly chained and hashed entry.
    conn.execute_batch(
        "UPDATE audit_entries SET seq = -(seq + 1) WHERE seq >= 10;
         UPDATE audit_entries SET seq = -seq WHERE seq < 0;",
    )
    .unwrap();
    let (entry, text, hash) = forge(10, stored_hash(&conn, 9));
    insert_row(&conn, 10, &entry, &text, &hash);
    // The forgery itself is internally consistent; the entry it displaced is not.
    assert_eq!(
        tamper_of(fx.log.verify()),
        Tamper::SeqMismatch {
            seq: 11,
            claimed: 10
        }
    );
}

#[test]
fn inserting_a_row_before_the_first_entry_is_caught() {
    let fx = fixture();
    let conn = fx.attacker();
    let (entry, text, hash) = forge(0, silo_audit::Hash::ZERO);
    insert_row(&conn, -1, &entry, &text, &hash);
    assert_eq!(
        tamper_of(fx.log.verify()),
        Tamper::Unexpected { seq: 0, found: -1 }
    );
}

#[test]
fn swapping_two_entries_is_caught_at_the_first() {
    let fx = fixture();
    let conn = fx.attacker();
    // Swap the whole contents of rows 4 and 12, index columns and hashes included.
    conn.execute_batch(
        "CREATE TEMP TABLE a AS SELECT * FROM audit_entries WHERE seq = 4;
         CREATE TEMP TABLE b AS SELECT * FROM audit_entries WHERE seq = 12;
         DELETE FROM audit_entries WHERE seq IN (4, 12);
         INSERT INTO audit_entries SELECT 4, time_us, task, agent, customer, action, decision, body, hash FROM b;
         INSERT INTO audit_entries SELECT 12, time_us, task, agent, customer, action, decision, body, hash FROM a;",
    )
    .unwrap();
    assert_eq!(
        tamper_of(fx.log.verify()),
        Tamper::SeqMismatch {
            seq: 4,
            claimed: 12
        }
    );
}

#[test]
fn truncating_the_tail_is_caught_against_a_checkpoint() {
    let fx = fixture();
    let cp = fx.log.checkpoint().unwrap();
    let trusted = fx.log.public_key().unwrap();
    let conn = fx.attacker();
    conn.execute("DELETE FROM audit_entries WHERE seq >= 15", [])
        .unwrap();
    // A truncated log is internally consistent…
    assert_eq!(fx.log.verify().unwrap().size, 15);
    // …but it no longer extends the exported checkpoint.
    let t = match fx.log.verify_against(&cp, &trusted) {
        Err(VerifyError::Tamper(t)) => t,
        other => panic!("truncation not detected: {other:?}"),
    };
    assert_eq!(
        t,
        Tamper::Truncated {
            checkpoint_size: N,
            log_size: 15
        }
    );
    assert_eq!(t.first_bad_seq(), Some(15));
}

#[test]
fn truncating_and_appending_again_is_caught_against_a_checkpoint() {
    let fx = fixture();
    let cp = fx.log.checkpoint().unwrap();
    let trusted = fx.log.public_key().unwrap();
    fx.attacker()
        .execute("DELETE FROM audit_entries WHERE seq >= 15", [])
        .unwrap();
    // New, correctly chained entries bring the size back, but not the history.
    fx.log
        .append_batch((0..10).map(crate::support::draft).collect())
        .unwrap();
    assert!(matches!(
        fx.log.verify_against(&cp, &trusted),
        Err(VerifyError::Tamper(Tamper::RootMismatch { size: N, .. }))
    ));
}

#[test]
fn rewriting_the_last_entry_consistently_is_caught_against_a_checkpoint() {
    let fx = fixture();
    let cp = fx.log.checkpoint().unwrap();
    let trusted = fx.log.public_key().unwrap();
    let conn = fx.attacker();
    let last = N - 1;
    let (entry, text, hash) = forge(last, stored_hash(&conn, last - 1));
    conn.execute("DELETE FROM audit_entries WHERE seq = ?1", [last as i64])
        .unwrap();
    insert_row(&conn, last as i64, &entry, &text, &hash);
    // Without a checkpoint nothing is inconsistent; with one, the rewrite shows.
    fx.log.verify().unwrap();
    assert!(matches!(
        fx.log.verify_against(&cp, &trusted),
        Err(VerifyError::Tamper(Tamper::RootMismatch { size: N, .. }))
    ));
}

#[test]
fn a_tampered_log_is_never_checkpointed() {
    let fx = fixture();
    fx.attacker()
        .execute("DELETE FROM audit_entries WHERE seq = 1", [])
        .unwrap();
    assert!(fx.log.checkpoint().is_err());
    assert!(fx.log.latest_checkpoint().unwrap().is_none());
}
