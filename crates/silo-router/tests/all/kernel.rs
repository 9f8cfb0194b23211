//! The kernel end to end with a scripted dispatcher: straight completion, offline agents,
//! shadow sampling, redirect loops and dispatch failures.

use silo_router::{
    AgentResult, DispatchError, Event, KernelConfig, KernelError, ShadowSampling, ShadowState,
    State, StepOutcome,
};

use crate::support::{done, kernel, kernel_at, kinds, soft, spec};

#[test]
fn a_task_runs_its_agent_once_and_completes() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel(&dir);
    let task = k.submit(spec("refund"), 100).unwrap();
    assert_eq!(task.as_str(), "task-1");
    assert_eq!(k.task(&task).unwrap().state, State::Queued);

    let reports = k.run_until_idle(100).unwrap();
    assert_eq!(reports.len(), 2, "one dispatch step, one decide step");
    assert_eq!(reports[0].outcome, StepOutcome::Applied(State::Deciding));
    assert_eq!(reports[1].outcome, StepOutcome::Applied(State::Completed));

    let view = k.task(&task).unwrap();
    assert_eq!(view.state, State::Completed);
    assert_eq!(view.outcome.as_deref(), Some("refund-agent done"));
    assert_eq!(view.dispatches, 1);
    let cell = view.dispatch.unwrap();
    assert_eq!(
        (cell.cell.as_str(), cell.task_key_jti.as_str()),
        ("task-1.cell-1", "task-1.key-1")
    );
    assert_eq!(
        k.dispatcher().calls(),
        vec![("task-1".to_owned(), "refund-agent".to_owned())]
    );
    assert_eq!(
        kinds(&k, &task),
        [
            "task_created",
            "dispatched",
            "agent_result",
            "key_revoked",
            "completed"
        ]
    );
    assert!(k.step(100).unwrap().is_none(), "nothing left on the queue");
}

#[test]
fn an_unknown_entry_is_refused_at_submission() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel(&dir);
    let err = k.submit(spec("no-such-thing"), 1).unwrap_err();
    assert!(matches!(err, KernelError::Routing(_)), "{err}");
    assert!(err.to_string().contains("`no-such-thing`"), "{err}");
    assert!(k.step(1).unwrap().is_none());
}

#[test]
fn an_offline_agent_sends_the_task_to_its_human_pool() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel(&dir);
    k.set_online("refund-agent", false, 10).unwrap();
    assert!(!k.is_online("refund-agent").unwrap());
    let task = k.submit(spec("refund"), 10).unwrap();
    k.run_until_idle(10).unwrap();

    assert!(
        k.dispatcher().calls().is_empty(),
        "no cell for an offline agent"
    );
    let view = k.task(&task).unwrap();
    assert_eq!(view.state, State::WaitingForHuman);
    // The inbox says why it came.
    let why = view.waiting_because.unwrap();
    assert!(
        why.contains("refund-agent") && why.contains("offline"),
        "{why}"
    );
    let inbox = k.inbox("support-humans").unwrap();
    assert_eq!(inbox.iter().map(|t| &t.id).collect::<Vec<_>>(), [&task]);
    match &crate::support::events(&k, &task)[1] {
        Event::Escalated {
            target,
            human,
            reason,
            ..
        } => {
            assert_eq!((target.as_str(), *human), ("support-humans", true));
            assert!(reason.contains("offline"), "{reason}");
        }
        other => panic!("expected an escalation, got {other:?}"),
    }

    k.take(&task, "alice", 11).unwrap();
    assert!(k.inbox("support-humans").unwrap().is_empty());
    k.human_result(&task, "alice", done("refunded by hand"), 12)
        .unwrap();
    k.run_until_idle(12).unwrap();
    assert_eq!(k.task(&task).unwrap().state, State::Completed);
    assert_eq!(k.task(&task).unwrap().waiting_because, None);

    k.set_online("refund-agent", true, 20).unwrap();
    let second = k.submit(spec("refund"), 20).unwrap();
    k.run_until_idle(20).unwrap();
    assert_eq!(k.task(&second).unwrap().state, State::Completed);
    assert_eq!(k.dispatcher().calls().len(), 1);
}

#[test]
fn only_the_operator_who_took_a_task_may_answer_it() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel(&dir);
    k.set_online("refund-agent", false, 1).unwrap();
    let task = k.submit(spec("refund"), 1).unwrap();
    k.run_until_idle(1).unwrap();
    k.take(&task, "alice", 2).unwrap();
    let err = k.human_result(&task, "mallory", done("x"), 3).unwrap_err();
    assert!(matches!(err, KernelError::NotTakenBy { .. }), "{err}");
    assert_eq!(k.task(&task).unwrap().state, State::WithHuman);
}

#[test]
fn shadow_sampling_picks_exactly_every_nth_task() {
    let sampling = ShadowSampling { every: 3, seed: 1 };
    let picked: Vec<u64> = (1..=10).filter(|&s| sampling.picks(s)).collect();
    assert_eq!(picked, [2, 5, 8]);
    assert!(!(1..=100).any(|s| ShadowSampling { every: 0, seed: 0 }.picks(s)));

    let dir = tempfile::tempdir().unwrap();
    let config = KernelConfig {
        shadow: Some(ShadowSampling { every: 3, seed: 0 }),
        ..KernelConfig::default()
    };
    let k = kernel_at(&dir.path().join("router.db"), config);
    let tasks: Vec<_> = (0..7)
        .map(|i| k.submit(spec("refund"), i).unwrap())
        .collect();
    k.run_until_idle(10).unwrap();

    // Every agent ran, but tasks 3 and 6 wait for a human whose result will act.
    assert_eq!(k.dispatcher().calls().len(), 7);
    let waiting: Vec<String> = k
        .inbox("support-humans")
        .unwrap()
        .into_iter()
        .map(|t| t.id.0)
        .collect();
    assert_eq!(waiting, ["task-3", "task-6"]);
    for task in &tasks {
        let view = k.task(task).unwrap();
        let sampled = waiting.contains(&task.0);
        assert_eq!(view.state == State::Completed, !sampled, "{task}");
        if sampled {
            assert!(matches!(view.shadow, ShadowState::Recorded { .. }));
            assert!(crate::support::events(&k, task)
                .iter()
                .any(|e| matches!(e, Event::AgentResult { shadow: true, .. })));
        }
    }

    // The human agrees on task 3 and disagrees on task 6; the human's result acts.
    let (t3, t6) = (&tasks[2], &tasks[5]);
    k.take(t3, "alice", 20).unwrap();
    k.human_result(t3, "alice", done("checked"), 21).unwrap();
    k.take(t6, "bob", 20).unwrap();
    let failed = AgentResult::Failed {
        summary: "fraud".into(),
    };
    k.human_result(t6, "bob", failed, 21).unwrap();
    k.run_until_idle(21).unwrap();

    let diverged = |task| {
        crate::support::events(&k, task)
            .into_iter()
            .find_map(|e| match e {
                Event::HumanResult { diverged, .. } => diverged,
                _ => None,
            })
    };
    assert_eq!(diverged(t3), Some(false));
    assert_eq!(diverged(t6), Some(true));
    assert_eq!(k.task(t3).unwrap().state, State::Completed);
    assert_eq!(k.task(t6).unwrap().state, State::Failed);
    assert_eq!(
        k.task(t6).unwrap().shadow,
        ShadowState::Reviewed { diverged: true }
    );
    assert_eq!(
        k.dispatcher().calls().len(),
        7,
        "the agent is not asked again"
    );
}

#[test]
fn a_redirect_loop_turns_into_400_and_goes_to_a_human() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel(&dir);
    for _ in 0..5 {
        k.dispatcher()
            .then("ping-agent", soft("pong-agent"))
            .then("pong-agent", soft("ping-agent"));
    }
    let task = k.submit(spec("ping-agent"), 1).unwrap();
    k.run_until_idle(1).unwrap();

    // Three redirects are allowed (ping→pong→ping→pong); the fourth is over the limit.
    let agents: Vec<String> = k.dispatcher().calls().into_iter().map(|c| c.1).collect();
    assert_eq!(
        agents,
        ["ping-agent", "pong-agent", "ping-agent", "pong-agent"]
    );
    let view = k.task(&task).unwrap();
    assert_eq!(view.state, State::WaitingForHuman);
    assert_eq!(view.run.agent, "support-humans");
    assert_eq!(view.run.redirects, 3);
    let last = crate::support::events(&k, &task).pop().unwrap();
    match last {
        Event::Escalated { reason, human, .. } => {
            assert!(human);
            assert!(reason.contains("max_redirects 3"), "{reason}");
        }
        other => panic!("expected an escalation to a human, got {other:?}"),
    }
}

#[test]
fn a_soft_redirect_outside_a_workflow_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel(&dir);
    k.dispatcher().then("ping-agent", soft("pong-agent"));
    let task = k.submit(spec("ping-agent"), 1).unwrap();
    k.run_until_idle(1).unwrap();
    let agents: Vec<String> = k.dispatcher().calls().into_iter().map(|c| c.1).collect();
    assert_eq!(agents, ["ping-agent", "pong-agent", "ping-agent"]);
    let view = k.task(&task).unwrap();
    assert_eq!(view.state, State::Completed);
    assert_eq!(view.run.redirects, 1);
    assert!(view.run.returns.is_empty());
}

#[test]
fn a_transient_dispatch_error_is_retried_after_the_lease_and_a_hard_one_is_500() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel(&dir);
    k.dispatcher().then_err(
        "refund-agent",
        Err(DispatchError::Transient {
            agent: "refund-agent".into(),
            reason: "no cell slots".into(),
        }),
    );
    let task = k.submit(spec("refund"), 0).unwrap();
    let first = k.step(0).unwrap().unwrap();
    assert_eq!(first.outcome, StepOutcome::Retrying("no cell slots".into()));
    assert!(k.step(299).unwrap().is_none(), "the lease still holds");
    k.run_until_idle(300).unwrap();
    let view = k.task(&task).unwrap();
    assert_eq!(view.state, State::Completed);
    assert_eq!(view.dispatches, 2);
    let jtis = k.dispatcher().jtis();
    assert_eq!(jtis, ["task-1.key-1", "task-1.key-2"]);
    let revoked: Vec<String> = crate::support::events(&k, &task)
        .into_iter()
        .filter_map(|e| match e {
            Event::KeyRevoked { jti } => Some(jti),
            _ => None,
        })
        .collect();
    assert_eq!(revoked, jtis, "every key handed out is revoked");

    k.dispatcher().then_err(
        "refund-agent",
        Err(DispatchError::Failed {
            agent: "refund-agent".into(),
            reason: "folder hash mismatch".into(),
        }),
    );
    let broken = k.submit(spec("refund"), 400).unwrap();
    k.run_until_idle(400).unwrap();
    let view = k.task(&broken).unwrap();
    assert_eq!(view.state, State::Failed);
    assert!(view.outcome.unwrap().contains("folder hash mismatch"));
}
