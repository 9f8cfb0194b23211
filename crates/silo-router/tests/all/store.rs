//! The store: restart safety with leased jobs (at-least-once dispatch, exactly-once
//! completion), the append-only and ordered event log, and task state as a fold of it.

use silo_router::{apply, create, Event, KernelConfig, State, Store, StoreError, StoredEvent};

use crate::support::{kernel_at, kinds, spec};

const LEASE: u64 = 60;

fn config() -> KernelConfig {
    KernelConfig {
        lease_secs: LEASE,
        ..KernelConfig::default()
    }
}

#[test]
fn a_claimed_job_survives_a_restart_and_the_task_completes_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("router.db");
    let (task, lost) = {
        let k = kernel_at(&path, config());
        let task = k.submit(spec("refund"), 100).unwrap();
        let job = k.store().claim_next(100, LEASE).unwrap().unwrap();
        assert_eq!((job.task.clone(), job.attempt), (task.clone(), 1));
        assert!(
            k.store().claim_next(100, LEASE).unwrap().is_none(),
            "leased"
        );
        (task, job)
        // The router dies here without completing the job.
    };

    let k = kernel_at(&path, config());
    assert_eq!(k.task(&task).unwrap().state, State::Queued);
    assert!(k.step(159).unwrap().is_none(), "the old lease still holds");
    let reports = k.run_until_idle(160).unwrap();
    assert_eq!(reports[0].job.attempt, 2);
    assert_eq!(k.task(&task).unwrap().state, State::Completed);

    // The dead router's claim can no longer write or complete anything.
    let late = Event::Dispatched {
        agent: "refund-agent".into(),
        cell: "late".into(),
        task_key_jti: "late".into(),
    };
    let err = k.store().apply(&task, &late, 170, Some(&lost)).unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
    assert!(!k.store().complete(&lost).unwrap());

    let completions = kinds(&k, &task)
        .iter()
        .filter(|k| *k == "completed")
        .count();
    assert_eq!(completions, 1);
    assert_eq!(k.dispatcher().calls().len(), 1);
    assert!(k.step(10_000).unwrap().is_none());
}

#[test]
fn a_dispatch_interrupted_by_a_crash_is_dispatched_again_with_a_fresh_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("router.db");
    let task = {
        let k = kernel_at(&path, config());
        let task = k.submit(spec("refund"), 0).unwrap();
        // The first router got as far as starting the cell, then died.
        let job = k.store().claim_next(0, LEASE).unwrap().unwrap();
        let started = Event::Dispatched {
            agent: "refund-agent".into(),
            cell: "task-1.cell-1".into(),
            task_key_jti: "task-1.key-1".into(),
        };
        k.store().apply(&task, &started, 0, Some(&job)).unwrap();
        task
    };
    let k = kernel_at(&path, config());
    assert_eq!(k.task(&task).unwrap().state, State::Dispatched);
    k.run_until_idle(LEASE).unwrap();
    assert_eq!(k.task(&task).unwrap().state, State::Completed);
    assert_eq!(k.dispatcher().jtis(), ["task-1.key-2"]);
    assert_eq!(
        kinds(&k, &task),
        [
            "task_created",
            "dispatched",
            "key_revoked",
            "dispatched",
            "agent_result",
            "key_revoked",
            "completed"
        ]
    );
}

#[test]
fn the_event_log_is_append_only_and_ordered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("router.db");
    let k = kernel_at(&path, config());
    let a = k.submit(spec("refund"), 1).unwrap();
    let b = k.submit(spec("incoming"), 2).unwrap();
    k.run_until_idle(3).unwrap();

    let all: Vec<StoredEvent> = k.store().events(None).unwrap();
    assert!(
        all.windows(2).all(|w| w[0].seq < w[1].seq),
        "strictly increasing"
    );
    assert!(all.windows(2).all(|w| w[0].at <= w[1].at));
    let of_a: Vec<u64> = k
        .store()
        .events(Some(&a))
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    let of_b = k.store().events(Some(&b)).unwrap();
    assert_eq!(of_a.len() + of_b.len(), all.len());
    assert!(matches!(of_b[0].event, Event::TaskCreated { .. }));

    let conn = rusqlite::Connection::open(&path).unwrap();
    let update = conn.execute("UPDATE router_events SET body = '{}' WHERE seq = 1", []);
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = conn.execute("DELETE FROM router_events", []);
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    assert_eq!(k.store().events(None).unwrap(), all);
}

#[test]
fn a_tasks_state_is_the_fold_of_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel_at(&dir.path().join("router.db"), config());
    k.dispatcher()
        .then("intent-agent", crate::support::soft("order-agent"))
        .then("refund-agent", crate::support::escalate("manager-agent"));
    for entry in ["incoming", "refund"] {
        let task = k.submit(spec(entry), 1).unwrap();
        k.run_until_idle(2).unwrap();
        let events = k.store().events(Some(&task)).unwrap();
        let (first, rest) = events.split_first().unwrap();
        let (mut view, _) = create(task.clone(), &first.event).unwrap();
        for e in rest {
            view = apply(&view, &e.event).unwrap().0;
        }
        assert_eq!(view, k.task(&task).unwrap(), "{entry}");
    }
}

#[test]
fn the_database_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state").join("router.db");
    drop(silo_router::SqliteStore::open(&path).unwrap());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir_mode = std::fs::metadata(path.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);
}
