//! Checkpoints: signing, export off the machine, refusal of other keys, extension.

use std::os::unix::fs::MetadataExt;

use silo_audit::{
    AuditLog, CheckpointError, CheckpointFile, CheckpointKey, SignedCheckpoint, Timestamp,
    VerifyError,
};

use crate::support::{draft, empty, fixture, N};

#[test]
fn the_key_file_is_created_on_first_use_with_mode_0600() {
    let fx = fixture();
    let path = AuditLog::key_path(fx.data_dir());
    assert!(!path.exists(), "appending and verifying create no key");
    fx.log.checkpoint().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    let again = fx.reopen();
    assert_eq!(again.public_key().unwrap(), fx.log.public_key().unwrap());
}

#[test]
fn a_checkpoint_signed_by_another_key_is_refused() {
    let fx = fixture();
    let v = fx.log.verify().unwrap();
    let other = CheckpointKey::generate().unwrap();
    let foreign = SignedCheckpoint::sign(v.size, v.root, Timestamp::now(), &other).unwrap();
    let trusted = fx.log.public_key().unwrap();
    assert!(matches!(
        fx.log.verify_against(&foreign, &trusted),
        Err(VerifyError::Checkpoint(CheckpointError::WrongKey { .. }))
    ));
    let mut claims_our_kid = foreign.clone();
    claims_our_kid.checkpoint.kid = trusted.kid();
    assert!(matches!(
        fx.log.verify_against(&claims_our_kid, &trusted),
        Err(VerifyError::Checkpoint(
            CheckpointError::BadSignature { .. }
        ))
    ));
}

#[test]
fn an_exported_checkpoint_round_trips_through_a_file_and_the_log_extends_it() {
    let fx = fixture();
    let file = fx.log.export().unwrap();
    let path = fx.data_dir().join("exported-checkpoint.json");
    std::fs::write(&path, file.to_json().unwrap()).unwrap();

    fx.log
        .append_batch((N..N + 5).map(draft).collect())
        .unwrap();

    let read = CheckpointFile::from_json(&std::fs::read(&path).unwrap()).unwrap();
    let pinned = read.public_key.unwrap();
    assert_eq!(pinned, fx.log.public_key().unwrap());
    let v = fx.log.verify_against(&read.signed(), &pinned).unwrap();
    assert_eq!(v.size, N + 5);
    assert_eq!(read.checkpoint.size, N);
    assert_eq!(
        fx.log.latest_checkpoint().unwrap().unwrap(),
        read.signed(),
        "export also keeps the checkpoint beside the log"
    );
}

#[test]
fn an_empty_log_checkpoints_and_verifies() {
    let fx = empty();
    let log = &fx.log;
    let cp = log.checkpoint().unwrap();
    assert_eq!(cp.checkpoint.size, 0);
    log.append(draft(0)).unwrap();
    log.verify_against(&cp, &log.public_key().unwrap()).unwrap();
}

#[test]
fn inclusion_proofs_verify_for_every_entry() {
    let fx = fixture();
    let root = fx.log.verify().unwrap().root;
    for seq in 0..N {
        let proof = fx.log.inclusion_proof(seq, N).unwrap();
        assert_eq!(proof.root, root);
        assert!(proof.verify(), "entry {seq}");
    }
    let small = fx.log.inclusion_proof(2, 5).unwrap();
    assert!(small.verify());
    assert!(fx.log.inclusion_proof(N, N).is_err());
    assert!(fx.log.inclusion_proof(0, N + 1).is_err());
}

#[test]
fn a_consistency_proof_links_two_exported_checkpoints() {
    let fx = fixture();
    let old = fx.log.checkpoint().unwrap();
    fx.log
        .append_batch((N..N + 7).map(draft).collect())
        .unwrap();
    let new = fx.log.checkpoint().unwrap();
    let proof = fx
        .log
        .consistency_proof(old.checkpoint.size, new.checkpoint.size)
        .unwrap();
    assert_eq!(proof.old_root, old.checkpoint.root);
    assert_eq!(proof.new_root, new.checkpoint.root);
    assert!(proof.verify());
    assert!(fx.log.consistency_proof(N + 8, N + 7).is_err());
    assert!(fx.log.consistency_proof(3, N + 8).is_err());
}
