//! Tamper detection, proven by editing the stored log directly as an attacker would: the
//! SQLite file with its triggers dropped, or the PostgreSQL tables as their superuser with
//! the triggers disabled.

use silo_audit::merkle::leaf_hash;
use silo_audit::{Tamper, VerifyError};

use crate::support::{fixture, forge, N};

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
    let mut attacker = fx.attacker();
    let original = attacker.body(5);
    let edited = original.replace(r#""decision":"deny""#, r#""decision":"allow""#);
    assert_ne!(original, edited, "fixture entry 5 is a deny");
    attacker.set_body(5, &edited);
    let t = tamper_of(fx.log.verify());
    assert_eq!(t, Tamper::HashMismatch { seq: 5 });
    assert_eq!(t.first_bad_seq(), Some(5));
}

#[test]
fn editing_a_field_and_its_stored_hash_breaks_the_chain_at_the_next_seq() {
    let fx = fixture();
    let mut attacker = fx.attacker();
    let edited = attacker
        .body(5)
        .replace(r#""amount_cents":500"#, r#""amount_cents":5"#);
    attacker.set_body_and_hash(5, &edited, &leaf_hash(edited.as_bytes()));
    assert_eq!(tamper_of(fx.log.verify()), Tamper::ChainBroken { seq: 6 });
}

#[test]
fn editing_a_query_column_is_caught() {
    let fx = fixture();
    fx.attacker().set_text_column(3, "decision", "allow");
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
    let mut attacker = fx.attacker();
    let spaced = attacker.body(2).replacen(',', ", ", 1);
    attacker.set_body_and_hash(2, &spaced, &leaf_hash(spaced.as_bytes()));
    assert!(matches!(
        tamper_of(fx.log.verify()),
        Tamper::Unreadable { seq: 2, .. }
    ));
}

#[test]
fn deleting_an_entry_is_caught_at_its_seq() {
    let fx = fixture();
    fx.attacker().delete(7);
    let t = tamper_of(fx.log.verify());
    assert_eq!(t, Tamper::Missing { seq: 7, found: 8 });
    assert_eq!(t.first_bad_seq(), Some(7));
}

#[test]
fn deleting_the_first_entry_is_caught_at_seq_0() {
    let fx = fixture();
    fx.attacker().delete(0);
    assert_eq!(
        tamper_of(fx.log.verify()),
        Tamper::Missing { seq: 0, found: 1 }
    );
}

#[test]
fn appending_a_forged_entry_that_does_not_chain_is_caught() {
    let fx = fixture();
    let mut attacker = fx.attacker();
    // A forger who copies an old entry's `prev` rather than chaining to the real head.
    let wrong_prev = attacker.stored_hash(3);
    let (entry, text, hash) = forge(N, wrong_prev);
    attacker.insert_row(N as i64, &entry, &text, &hash);
    assert_eq!(tamper_of(fx.log.verify()), Tamper::ChainBroken { seq: N });
}

#[test]
fn inserting_a_forged_entry_in_the_middle_is_caught_at_the_displaced_entry() {
    let fx = fixture();
    let mut attacker = fx.attacker();
    // Make room at seq 10 by moving rows 10.. up by one, then insert a carefully forged,
    // correctly chained and hashed entry.
    attacker.make_room_at(10);
    let (entry, text, hash) = forge(10, attacker.stored_hash(9));
    attacker.insert_row(10, &entry, &text, &hash);
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
    let (entry, text, hash) = forge(0, silo_audit::Hash::ZERO);
    fx.attacker().insert_row(-1, &entry, &text, &hash);
    assert_eq!(
        tamper_of(fx.log.verify()),
        Tamper::Unexpected { seq: 0, found: -1 }
    );
}

#[test]
fn swapping_two_entries_is_caught_at_the_first() {
    let fx = fixture();
    // Swap the whole contents of rows 4 and 12, index columns and hashes included.
    fx.attacker().swap(4, 12);
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
    fx.attacker().delete_from(15);
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
    fx.attacker().delete_from(15);
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
    let mut attacker = fx.attacker();
    let last = N - 1;
    let (entry, text, hash) = forge(last, attacker.stored_hash(last - 1));
    attacker.delete(last);
    attacker.insert_row(last as i64, &entry, &text, &hash);
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
    fx.attacker().delete(1);
    assert!(fx.log.checkpoint().is_err());
    assert!(fx.log.latest_checkpoint().unwrap().is_none());
}
