//! Workflows: loading and validation with errors naming the stage, the pure
//! `Workflow::next`, and whole runs through the kernel (302 and return, 301, 400 to a
//! human, 500 to abort, the stage's redirect limit).

use silo_router::{
    AgentResult, Decision, ErrorAction, Event, Known, Return, RunState, State, Workflow,
    WorkflowError,
};

use crate::support::{done, events, hard, kernel, routing, soft, spec, INCOMING};

fn known() -> Known {
    routing().known()
}

#[test]
fn the_design_example_loads() {
    let w = Workflow::from_yaml(INCOMING).unwrap();
    assert_eq!(w.name, "incoming-message");
    assert_eq!(w.stages.len(), 2);
    let intent = &w.stages[0];
    assert_eq!(
        (intent.name.as_str(), intent.agent.as_str()),
        ("intent-agent", "intent-agent")
    );
    assert_eq!(intent.soft["order-agent"], "order questions");
    assert_eq!(intent.hard["support-workflow"], "complex cases");
    assert_eq!(intent.max_redirects, 3);
    assert_eq!(
        w.on_error.needs_human,
        Some(ErrorAction::Human("human-agent".into()))
    );
    assert_eq!(w.on_error.failed, ErrorAction::Abort);
    w.validate(&known()).unwrap();
    // Quoted codes mean the same.
    let quoted = INCOMING
        .replace("302:", "\"302\":")
        .replace("400:", "\"400\":");
    assert_eq!(Workflow::from_yaml(&quoted).unwrap(), w);
}

#[test]
fn load_errors_name_the_workflow_and_the_stage() {
    let check = |yaml: &str, expected: &str| {
        let err = Workflow::from_yaml(yaml)
            .and_then(|w| w.validate(&known()).map(|()| w))
            .unwrap_err();
        assert!(
            err.to_string().contains(expected),
            "`{err}` lacks `{expected}`"
        );
        err
    };
    let err = check(
        "name: w\nstages:\n  - agent: ghost-agent\n",
        "workflow `w`, stage `ghost-agent`: agent `ghost-agent` is not a known agent",
    );
    assert!(matches!(err, WorkflowError::Stage { .. }));
    check(
        "name: w\nstages:\n  - agent: intent-agent\n    302: { nowhere: x }\n",
        "stage `intent-agent`: 302 target `nowhere` is neither a stage",
    );
    check(
        "name: w\nstages:\n  - agent: intent-agent\n    301: { nowhere: x }\n",
        "301 target `nowhere`",
    );
    check(
        "name: w\nstages:\n  - agent: intent-agent\n  - agent: response-agent\n    301: { intent-agent: again }\n",
        "stage `response-agent`: 301 to `intent-agent` (stage 0) goes back; only 302",
    );
    check(
        "name: w\nstages:\n  - agent: intent-agent\n    301: { w: restart }\n",
        "301 to its own workflow",
    );
    check(
        "name: w\nstages:\n  - agent: intent-agent\n    302: { intent-agent: me }\n",
        "302 to its own stage",
    );
    check(
        "name: w\nstages:\n  - agent: intent-agent\n    retries: 2\n",
        "stage `intent-agent`: unknown key `retries`",
    );
    check(
        "name: w\nstages:\n  - name: first\n",
        "stage `first`: it has no `agent`",
    );
    check(
        "name: w\nstages:\n  - agent: intent-agent\n  - agent: intent-agent\n",
        "two stages are named `intent-agent`",
    );
    check(
        "name: w\nstages:\n  - agent: intent-agent\non_error: { 400: order-agent }\n",
        "`on_error` 400: `order-agent` is not a known human pool",
    );
    check(
        "name: w\nstages:\n  - agent: intent-agent\non_error: { 404: abort }\n",
        "only 400 and 500",
    );
    check("name: w\nstages: []\n", "workflow `w`: it has no stages");
    check("name: w\nsteps: []\n", "workflow YAML");
}

#[test]
fn a_soft_redirect_to_a_stage_returns_and_a_backward_302_cycle_is_allowed() {
    let yaml = "name: w\nstages:\n  - agent: intent-agent\n    302: { check: x }\n  - name: check\n    agent: order-agent\n    302: { intent-agent: back }\n";
    let w = Workflow::from_yaml(yaml).unwrap();
    w.validate(&known()).unwrap();
    let start = w.start();
    let Decision::Dispatch { agent, run, .. } = w.next(&start, &soft("check")) else {
        panic!("expected a dispatch");
    };
    assert_eq!((agent.as_str(), run.stage), ("order-agent", 1));
    assert_eq!(
        run.returns,
        [Return {
            stage: 0,
            agent: "intent-agent".into()
        }]
    );
    let Decision::Dispatch { agent, run, .. } = w.next(&run, &done("checked")) else {
        panic!("expected the return");
    };
    assert_eq!((agent.as_str(), run.stage), ("intent-agent", 0));
    assert_eq!(run.summary.as_deref(), Some("checked"));
}

#[test]
fn next_is_pure_and_follows_the_stage() {
    let w = Workflow::from_yaml(INCOMING).unwrap();
    let start = w.start();
    assert_eq!(
        start,
        RunState::workflow("incoming-message", "intent-agent")
    );
    let result = soft("order-agent");
    assert_eq!(w.next(&start, &result), w.next(&start, &result));

    let Decision::Dispatch { agent, run, .. } = w.next(&start, &result) else {
        panic!("expected a dispatch");
    };
    assert_eq!(
        (agent.as_str(), run.stage, run.redirects),
        ("order-agent", 0, 1)
    );
    let Decision::Dispatch { agent, run, .. } = w.next(&run, &done("order #7 shipped")) else {
        panic!("expected the return");
    };
    assert_eq!((agent.as_str(), run.stage), ("intent-agent", 0));
    assert!(run.returns.is_empty());
    let Decision::Dispatch { agent, run, .. } = w.next(&run, &done("intent: order")) else {
        panic!("expected the next stage");
    };
    assert_eq!((agent.as_str(), run.stage), ("response-agent", 1));
    assert_eq!(
        w.next(&run, &done("replied")),
        Decision::Complete {
            summary: "replied".into()
        }
    );

    // Unlisted targets and an exhausted counter count as 400: on_error sends to human-agent.
    assert!(matches!(
        w.next(&start, &soft("refund-agent")),
        Decision::NeedsHuman { pool: Some(p), .. } if p == "human-agent"
    ));
    let mut spent = start.clone();
    spent.redirects = 3;
    match w.next(&spent, &soft("order-agent")) {
        Decision::NeedsHuman { reason, .. } => assert!(reason.contains("max_redirects 3")),
        other => panic!("expected 400, got {other:?}"),
    }
    assert!(matches!(
        w.next(&start, &hard("support-workflow")),
        Decision::HandOver { target, .. } if target == "support-workflow"
    ));
    assert!(matches!(
        w.next(
            &start,
            &AgentResult::Failed {
                summary: "crash".into()
            }
        ),
        Decision::Abort { .. }
    ));
}

#[test]
fn a_workflow_run_with_302_and_return_completes() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel(&dir);
    k.dispatcher().then("intent-agent", soft("order-agent"));
    k.dispatcher().then(
        "order-agent",
        AgentResult::Done {
            summary: "order #7 shipped".into(),
            assets: vec!["kv:order-7".into()],
        },
    );
    let task = k.submit(spec("incoming"), 1).unwrap();
    k.run_until_idle(1).unwrap();
    let agents: Vec<String> = k.dispatcher().calls().into_iter().map(|c| c.1).collect();
    assert_eq!(
        agents,
        [
            "intent-agent",
            "order-agent",
            "intent-agent",
            "response-agent"
        ]
    );
    let view = k.task(&task).unwrap();
    assert_eq!(view.state, State::Completed);
    assert_eq!(view.run.stage, 1);
    assert_eq!(view.run.assets, ["kv:order-7"]);
    assert_eq!(view.run.redirects, 1);
}

#[test]
fn a_301_hands_the_task_to_another_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel(&dir);
    k.dispatcher()
        .then("intent-agent", hard("support-workflow"));
    let task = k.submit(spec("incoming"), 1).unwrap();
    k.run_until_idle(1).unwrap();
    let agents: Vec<String> = k.dispatcher().calls().into_iter().map(|c| c.1).collect();
    assert_eq!(
        agents,
        ["intent-agent", "manager-agent"],
        "response-agent never runs"
    );
    let view = k.task(&task).unwrap();
    assert_eq!(view.state, State::Completed);
    assert_eq!(view.run.workflow.as_deref(), Some("support-workflow"));
    assert_eq!(view.run.redirects, 1);
}

#[test]
fn a_400_goes_to_the_on_error_human_and_the_workflow_continues() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel(&dir);
    k.dispatcher().then(
        "intent-agent",
        AgentResult::NeedsHuman {
            summary: "cannot tell".into(),
        },
    );
    let task = k.submit(spec("incoming"), 1).unwrap();
    k.run_until_idle(1).unwrap();
    assert_eq!(k.task(&task).unwrap().state, State::WaitingForHuman);
    assert_eq!(k.inbox("human-agent").unwrap().len(), 1);
    assert!(k.inbox("support-humans").unwrap().is_empty());

    k.take(&task, "carol", 2).unwrap();
    k.human_result(&task, "carol", done("intent: refund"), 3)
        .unwrap();
    k.run_until_idle(3).unwrap();
    let agents: Vec<String> = k.dispatcher().calls().into_iter().map(|c| c.1).collect();
    assert_eq!(agents, ["intent-agent", "response-agent"]);
    assert_eq!(k.task(&task).unwrap().state, State::Completed);
}

#[test]
fn a_500_aborts_the_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel(&dir);
    k.dispatcher().then(
        "intent-agent",
        AgentResult::Failed {
            summary: "model error".into(),
        },
    );
    let task = k.submit(spec("incoming"), 1).unwrap();
    k.run_until_idle(1).unwrap();
    let view = k.task(&task).unwrap();
    assert_eq!(view.state, State::Aborted);
    assert!(view.outcome.unwrap().contains("500 failed: model error"));
    assert!(matches!(
        events(&k, &task).pop(),
        Some(Event::Aborted { .. })
    ));
}

#[test]
fn a_stage_that_keeps_redirecting_goes_to_the_human_after_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel(&dir);
    for _ in 0..10 {
        k.dispatcher().then("intent-agent", soft("order-agent"));
    }
    let task = k.submit(spec("incoming"), 1).unwrap();
    k.run_until_idle(1).unwrap();
    let view = k.task(&task).unwrap();
    assert_eq!(view.state, State::WaitingForHuman);
    assert_eq!(view.run.agent, "human-agent");
    assert_eq!(view.run.redirects, 3);
    let intents = k
        .dispatcher()
        .calls()
        .iter()
        .filter(|c| c.1 == "intent-agent")
        .count();
    assert_eq!(intents, 4);
}
