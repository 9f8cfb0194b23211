//! One turn's ids, time limit and end: the dispatcher names the cell and key, the stage
//! or router sets the time limit, a timed-out turn times the task out and revokes its key,
//! and signals reach the live cell.

use silo_router::{DispatchError, KernelConfig, Signal, State, StepOutcome};

use crate::support::{kernel, kernel_at, kinds, spec};

#[test]
fn a_stage_timeout_overrides_the_routers_and_reaches_the_dispatcher() {
    let dir = tempfile::tempdir().unwrap();
    let config = KernelConfig {
        stage_timeout_ms: Some(10_000),
        ..KernelConfig::default()
    };
    let k = kernel_at(&dir.path().join("router.db"), config);
    // intent-agent has no stage timeout (router's 10 s); response-agent sets 45 s.
    let task = k.submit(spec("incoming"), 1).unwrap();
    k.run_until_idle(2).unwrap();
    assert_eq!(k.task(&task).unwrap().state, State::Completed);
    assert_eq!(
        *k.dispatcher().timeouts.lock().unwrap(),
        vec![Some(10_000), Some(45_000)]
    );
    // A single-agent task has only the router's.
    let single = k.submit(spec("refund"), 3).unwrap();
    k.run_until_idle(4).unwrap();
    assert_eq!(k.task(&single).unwrap().state, State::Completed);
    assert_eq!(k.dispatcher().timeouts.lock().unwrap()[2], Some(10_000));
}

#[test]
fn a_turn_that_runs_out_of_time_times_the_task_out_and_its_key_is_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel(&dir);
    k.dispatcher().then_err(
        "refund-agent",
        Err(DispatchError::TimedOut {
            agent: "refund-agent".into(),
            limit_ms: 1000,
        }),
    );
    let task = k.submit(spec("refund"), 1).unwrap();
    let reports = k.run_until_idle(2).unwrap();
    assert_eq!(reports[0].outcome, StepOutcome::Applied(State::TimedOut));
    let view = k.task(&task).unwrap();
    assert_eq!(view.state, State::TimedOut);
    assert_eq!(
        kinds(&k, &task),
        ["task_created", "dispatched", "timed_out", "key_revoked"]
    );
}

#[test]
fn a_dispatch_left_by_a_dead_router_has_its_key_revoked_through_the_dispatcher() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("router.db");
    let k = kernel_at(
        &path,
        KernelConfig {
            lease_secs: 5,
            ..KernelConfig::default()
        },
    );
    k.dispatcher().no_answer("refund-agent", "host gone");
    let task = k.submit(spec("refund"), 1).unwrap();
    k.run_until_idle(2).unwrap();
    let first = k.task(&task).unwrap().dispatch.unwrap().task_key_jti;
    assert!(k.dispatcher().revoked.lock().unwrap().is_empty());
    // The lease runs out; the next claim revokes the first key before a fresh turn.
    k.run_until_idle(10).unwrap();
    assert_eq!(*k.dispatcher().revoked.lock().unwrap(), vec![first.clone()]);
    let view = k.task(&task).unwrap();
    assert_eq!(view.state, State::Completed);
    assert_ne!(view.dispatch.unwrap().task_key_jti, first);
}

#[test]
fn signals_reach_the_live_cell_and_cont_replaces_a_frozen_turn() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel(&dir);
    k.dispatcher().no_answer("refund-agent", "still running");
    let task = k.submit(spec("refund"), 1).unwrap();
    k.run_until_idle(2).unwrap();
    let live = k.task(&task).unwrap().dispatch.unwrap();
    assert_eq!(k.task(&task).unwrap().state, State::Dispatched);

    let (view, hit) = k.signal(&task, Signal::Stop, 3).unwrap();
    assert!(hit);
    assert_eq!(view.state, State::Paused);
    let (view, _) = k.signal(&task, Signal::Cont, 4).unwrap();
    assert_eq!(view.state, State::Queued);
    // The frozen cell is killed and its key revoked; a fresh turn finishes the task.
    assert_eq!(
        *k.dispatcher().signals.lock().unwrap(),
        vec![
            (live.cell.clone(), Signal::Stop),
            (live.cell.clone(), Signal::Kill)
        ]
    );
    // Revoked at the stop (the turn is void) and again at the kill (idempotent).
    assert_eq!(
        *k.dispatcher().revoked.lock().unwrap(),
        vec![live.task_key_jti.clone(), live.task_key_jti.clone()]
    );
    k.run_until_idle(5).unwrap();
    assert_eq!(k.task(&task).unwrap().state, State::Completed);

    // A kill on a finished task is refused by the transition map and reaches no cell.
    assert!(k.signal(&task, Signal::Kill, 6).is_err());
    assert_eq!(k.dispatcher().signals.lock().unwrap().len(), 2);
}

#[test]
fn a_turn_abandoned_too_often_counts_as_failed_instead_of_looping() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel_at(
        &dir.path().join("router.db"),
        KernelConfig {
            lease_secs: 5,
            max_attempts: 2,
            ..KernelConfig::default()
        },
    );
    for _ in 0..5 {
        k.dispatcher().no_answer("refund-agent", "host died");
    }
    let task = k.submit(spec("refund"), 1).unwrap();
    // Claims 1 and 2 dispatch (and die); claim 3 gives up.
    for now in [2, 10, 20, 30] {
        k.run_until_idle(now).unwrap();
    }
    let view = k.task(&task).unwrap();
    assert_eq!(view.state, State::Failed, "{view:?}");
    assert!(view.outcome.unwrap().contains("abandoned 2 times"));
    assert_eq!(k.dispatcher().calls().len(), 2);
    // Both abandoned turns' keys are revoked.
    assert_eq!(k.dispatcher().revoked.lock().unwrap().len(), 2);
}

#[test]
fn a_kill_after_a_stop_reaches_the_frozen_cell_and_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel(&dir);
    k.dispatcher().no_answer("refund-agent", "still running");
    let task = k.submit(spec("refund"), 1).unwrap();
    k.run_until_idle(2).unwrap();
    let live = k.task(&task).unwrap().dispatch.unwrap();
    k.signal(&task, Signal::Stop, 3).unwrap();
    // Stopped: frozen, and its key already revoked.
    assert_eq!(
        *k.dispatcher().revoked.lock().unwrap(),
        vec![live.task_key_jti.clone()]
    );
    let (view, hit) = k.signal(&task, Signal::Kill, 4).unwrap();
    assert!(hit);
    assert_eq!(view.state, State::Aborted);
    assert_eq!(
        k.dispatcher().signals.lock().unwrap().last().unwrap(),
        &(live.cell.clone(), Signal::Kill)
    );
}

#[test]
fn a_turn_longer_than_the_lease_keeps_its_job_for_its_whole_time_limit() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel_at(
        &dir.path().join("router.db"),
        KernelConfig {
            lease_secs: 5,
            ..KernelConfig::default()
        },
    );
    // The agent may run 20 s; its turn is still going (the dispatcher has not answered).
    *k.dispatcher().agent_limit_ms.lock().unwrap() = Some(20_000);
    k.dispatcher().no_answer("refund-agent", "still running");
    let task = k.submit(spec("refund"), 100).unwrap();
    k.run_until_idle(100).unwrap();
    // Past the 5 s lease but within 20 s + slack: nobody takes the turn over.
    assert!(k.run_until_idle(110).unwrap().is_empty());
    assert!(k.run_until_idle(175).unwrap().is_empty());
    assert_eq!(k.dispatcher().calls().len(), 1);
    // Past the turn's limit and slack, its worker is presumed dead: re-dispatched, the old
    // cell killed and its key revoked.
    let old = k.task(&task).unwrap().dispatch.unwrap();
    k.run_until_idle(200).unwrap();
    assert_eq!(k.dispatcher().calls().len(), 2);
    assert!(k
        .dispatcher()
        .signals
        .lock()
        .unwrap()
        .contains(&(old.cell.clone(), Signal::Kill)));
    assert_eq!(k.task(&task).unwrap().state, State::Completed);
}
