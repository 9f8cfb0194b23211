//! The transition map: refused transitions leave no trace, the map is a function, signals
//! pause, resume and kill, and events keep a stable JSON form.

use silo_router::{
    lookup, Event, EventKind, Signal, State, Store, StoreError, TransitionError, RULES,
};

use crate::support::{done, kernel, kinds, spec};

#[test]
fn an_illegal_transition_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel(&dir);
    let task = k.submit(spec("refund"), 1).unwrap();
    let before = k.task(&task).unwrap();

    let completed = Event::Completed {
        summary: "skip the agent".into(),
    };
    let err = k.store().apply(&task, &completed, 2, None).unwrap_err();
    match err {
        StoreError::Transition(TransitionError::Illegal { state, event, .. }) => {
            assert_eq!((state, event), (State::Queued, EventKind::Completed));
        }
        other => panic!("expected an illegal transition, got {other}"),
    }
    // A human cannot answer a task nobody gave them.
    let err = k.human_result(&task, "alice", done("x"), 2).unwrap_err();
    assert!(err.to_string().contains("does not accept"), "{err}");
    let err = k.take(&task, "alice", 2).unwrap_err();
    assert!(err.to_string().contains("`queued`"), "{err}");

    assert_eq!(k.task(&task).unwrap(), before);
    assert_eq!(kinds(&k, &task), ["task_created"]);
}

#[test]
fn a_finished_task_accepts_nothing_but_a_key_revocation() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel(&dir);
    let task = k.submit(spec("refund"), 1).unwrap();
    k.run_until_idle(1).unwrap();
    for event in [
        Event::TimedOut,
        Event::Signal {
            signal: Signal::Kill,
        },
        Event::HumanAssigned {
            operator: "a".into(),
        },
        Event::Completed {
            summary: "again".into(),
        },
    ] {
        let err = k.store().apply(&task, &event, 2, None).unwrap_err();
        assert!(matches!(err, StoreError::Transition(_)), "{event:?}: {err}");
    }
    let revoke = Event::KeyRevoked {
        jti: "task-1.key-1".into(),
    };
    let view = k.store().apply(&task, &revoke, 2, None).unwrap();
    assert_eq!(view.state, State::Completed);
}

#[test]
fn the_map_has_at_most_one_rule_per_state_and_event() {
    let kinds = [
        EventKind::TaskCreated,
        EventKind::Dispatched,
        EventKind::AgentResult,
        EventKind::Routed,
        EventKind::EscalatedToAgent,
        EventKind::EscalatedToHuman,
        EventKind::HumanAssigned,
        EventKind::HumanResult,
        EventKind::Completed,
        EventKind::Failed,
        EventKind::Aborted,
        EventKind::TimedOut,
        EventKind::KeyRevoked,
        EventKind::SignalStop,
        EventKind::SignalCont,
        EventKind::SignalKill,
    ];
    for state in State::ALL {
        for kind in kinds {
            let n = RULES
                .iter()
                .filter(|r| r.on == kind && r.from.contains(&state))
                .count();
            assert!(n <= 1, "{state} has {n} rules for {kind:?}");
        }
        assert!(lookup(state, EventKind::TaskCreated).is_none());
        if state.is_terminal() {
            let allowed: Vec<_> = kinds
                .iter()
                .filter(|k| lookup(state, **k).is_some())
                .collect();
            assert_eq!(allowed, [&EventKind::KeyRevoked], "{state}");
        }
    }
}

#[test]
fn stop_pauses_cont_resumes_and_kill_aborts() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel(&dir);
    let task = k.submit(spec("refund"), 1).unwrap();
    assert_eq!(
        k.signal(&task, Signal::Stop, 2).unwrap().0.state,
        State::Paused
    );
    assert!(
        k.step(2).unwrap().is_none(),
        "a paused task is not dispatched"
    );
    assert_eq!(
        k.signal(&task, Signal::Cont, 3).unwrap().0.state,
        State::Queued
    );
    k.run_until_idle(3).unwrap();
    assert_eq!(k.task(&task).unwrap().state, State::Completed);
    assert_eq!(k.dispatcher().calls().len(), 1);

    let killed = k.submit(spec("refund"), 4).unwrap();
    let (view, _) = k.signal(&killed, Signal::Kill, 5).unwrap();
    assert_eq!(view.state, State::Aborted);
    assert!(k.step(5).unwrap().is_none());
    let timed = k.submit(spec("refund"), 6).unwrap();
    assert_eq!(k.time_out(&timed, 7).unwrap().state, State::TimedOut);
    assert!(k.step(7).unwrap().is_none());
}

#[test]
fn a_job_whose_task_moved_on_is_dropped_as_stale() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel(&dir);
    let task = k.submit(spec("refund"), 1).unwrap();
    let job = k.store().claim_next(1, 60).unwrap().unwrap();
    // Stop clears the task's work; the claimed job cannot apply anything any more.
    k.signal(&task, Signal::Stop, 2).unwrap();
    let dispatched = Event::Dispatched {
        agent: "refund-agent".into(),
        cell: "c".into(),
        task_key_jti: "j".into(),
        timeout_ms: None,
    };
    let err = k
        .store()
        .apply(&task, &dispatched, 3, Some(&job))
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
    assert!(!k.store().complete(&job).unwrap());
    assert_eq!(k.task(&task).unwrap().state, State::Paused);
}

#[test]
fn events_have_a_stable_json_form() {
    let event = Event::AgentResult {
        agent: "intent-agent".into(),
        result: silo_router::AgentResult::SoftRedirect {
            target: "order-agent".into(),
            summary: "order question".into(),
        },
        shadow: false,
    };
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "event": "agent_result",
            "agent": "intent-agent",
            "result": {"result": "soft_redirect", "target": "order-agent", "summary": "order question"},
            "shadow": false
        })
    );
    assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);
    assert_eq!(
        serde_json::to_value(Event::Signal {
            signal: Signal::Stop
        })
        .unwrap(),
        serde_json::json!({"event": "signal", "signal": "stop"})
    );
    let codes: Vec<Option<u16>> = [
        crate::support::done("x"),
        crate::support::hard("t"),
        crate::support::soft("t"),
        silo_router::AgentResult::NeedsHuman {
            summary: "x".into(),
        },
        silo_router::AgentResult::Failed {
            summary: "x".into(),
        },
        crate::support::escalate("t"),
    ]
    .iter()
    .map(silo_router::AgentResult::code)
    .collect();
    assert_eq!(
        codes,
        [Some(200), Some(301), Some(302), Some(400), Some(500), None]
    );
}

/// Stops its own task while "running", as an operator would from another process.
struct StoppedMidRun(std::path::PathBuf);

impl silo_router::Dispatcher for StoppedMidRun {
    fn dispatch(
        &self,
        task: &silo_router::TaskView,
        _agent: &str,
    ) -> Result<silo_router::AgentResult, silo_router::DispatchError> {
        let other = crate::support::store_at(&self.0);
        let stop = Event::Signal {
            signal: Signal::Stop,
        };
        other.apply(&task.id, &stop, 2, None).unwrap();
        Ok(done("finished anyway"))
    }
}

#[test]
fn a_result_for_a_task_stopped_mid_run_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("router.db");
    let k = silo_router::Kernel::new(
        crate::support::store_at(&path),
        StoppedMidRun(path.clone()),
        crate::support::routing(),
        silo_router::KernelConfig::default(),
    );
    let task = k.submit(spec("refund"), 1).unwrap();
    let report = k.step(1).unwrap().unwrap();
    assert_eq!(report.outcome, silo_router::StepOutcome::Stale);
    let view = k.task(&task).unwrap();
    assert_eq!(view.state, State::Paused);
    assert!(view.pending.is_none());
    let kinds: Vec<EventKind> = k
        .events(&task)
        .unwrap()
        .iter()
        .map(|e| e.event.kind())
        .collect();
    assert_eq!(
        kinds,
        [
            EventKind::TaskCreated,
            EventKind::Dispatched,
            EventKind::SignalStop
        ]
    );
}
