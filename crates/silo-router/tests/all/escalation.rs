//! Escalation chains: refund-agent → manager-agent → a human pool, each hop checked
//! against the escalating agent's base-key list and the routing table.

use silo_router::{Event, RoutingConfig, RoutingError, RoutingTable, State, Workflow};

use crate::support::{done, escalate, events, kernel, routing, spec, ROUTING};

#[test]
fn refund_agent_escalates_to_the_manager_and_the_manager_to_a_human() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel(&dir);
    k.dispatcher()
        .then("refund-agent", escalate("manager-agent"))
        .then("manager-agent", escalate("support-humans"));
    let task = k.submit(spec("refund"), 1).unwrap();
    k.run_until_idle(1).unwrap();

    let agents: Vec<String> = k.dispatcher().calls().into_iter().map(|c| c.1).collect();
    assert_eq!(agents, ["refund-agent", "manager-agent"]);
    assert_eq!(
        k.dispatcher().jtis(),
        ["task-1.key-1", "task-1.key-2"],
        "the manager runs with a fresh task key"
    );
    let hops: Vec<(String, String, bool, String)> = events(&k, &task)
        .into_iter()
        .filter_map(|e| match e {
            Event::Escalated {
                from,
                target,
                human,
                recommendation,
                ..
            } => Some((from, target, human, recommendation)),
            _ => None,
        })
        .collect();
    assert_eq!(
        hops,
        [
            (
                "refund-agent".into(),
                "manager-agent".into(),
                false,
                "refund 80 USD".into()
            ),
            (
                "manager-agent".into(),
                "support-humans".into(),
                true,
                "refund 80 USD".into()
            ),
        ]
    );
    let revoked = events(&k, &task)
        .into_iter()
        .filter(|e| matches!(e, Event::KeyRevoked { .. }))
        .count();
    assert_eq!(
        revoked, 2,
        "each agent's key is revoked once its result is in"
    );

    let inbox = k.inbox("support-humans").unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].run.agent, "support-humans");
    assert_eq!(
        inbox[0].run.redirects, 1,
        "only the agent hop counts as a redirect"
    );
    let taken = k.take(&task, "alice", 2).unwrap();
    assert_eq!(
        (taken.state, taken.operator.as_deref()),
        (State::WithHuman, Some("alice"))
    );
    k.human_result(&task, "alice", done("refunded 80 USD"), 3)
        .unwrap();
    k.run_until_idle(3).unwrap();
    let view = k.task(&task).unwrap();
    assert_eq!(view.state, State::Completed);
    assert_eq!(view.outcome.as_deref(), Some("refunded 80 USD"));
}

#[test]
fn human_in_an_escalate_list_means_the_agents_own_pool() {
    let table = routing();
    let to = table.check_escalation("refund-agent", "human").unwrap();
    assert_eq!((to.name.as_str(), to.human), ("support-humans", true));
}

#[test]
fn an_escalation_target_missing_from_the_base_key_list_is_refused() {
    let table = routing();
    // Known to the table, but not in manager-agent's base key list.
    let err = table
        .check_escalation("manager-agent", "refund-agent")
        .unwrap_err();
    assert_eq!(
        err,
        RoutingError::EscalationNotAllowed {
            from: "manager-agent".into(),
            target: "refund-agent".into()
        }
    );
    assert!(matches!(
        table.check_escalation("refund-agent", "cfo-agent"),
        Err(RoutingError::EscalationNotAllowed { .. })
    ));

    let dir = tempfile::tempdir().unwrap();
    let k = kernel(&dir);
    k.dispatcher()
        .then("refund-agent", escalate("response-agent"));
    let task = k.submit(spec("refund"), 1).unwrap();
    k.run_until_idle(1).unwrap();

    let agents: Vec<String> = k.dispatcher().calls().into_iter().map(|c| c.1).collect();
    assert_eq!(agents, ["refund-agent"], "the refused target never runs");
    let view = k.task(&task).unwrap();
    assert_eq!(view.state, State::WaitingForHuman);
    assert_eq!(view.run.agent, "support-humans");
    match events(&k, &task).pop().unwrap() {
        Event::Escalated { reason, target, .. } => {
            assert_eq!(target, "support-humans");
            assert!(reason.contains("escalation refused"), "{reason}");
            assert!(reason.contains("`response-agent`"), "{reason}");
        }
        other => panic!("expected a human escalation, got {other:?}"),
    }
}

#[test]
fn the_table_refuses_unknown_escalation_targets_pools_and_routes() {
    let load = |yaml: &str| RoutingTable::from_yaml(yaml, Vec::<Workflow>::new());

    let err = load("agents:\n  a: { escalate: [ghost] }\n").unwrap_err();
    assert_eq!(
        err,
        RoutingError::UnknownEscalationTarget {
            agent: "a".into(),
            target: "ghost".into()
        }
    );
    let err = load("agents:\n  a: { human: b }\n  b: {}\n").unwrap_err();
    assert!(matches!(err, RoutingError::NotAHumanPool { .. }), "{err}");
    let err = load("agents:\n  a: { escalate: [human] }\n").unwrap_err();
    assert!(
        matches!(err, RoutingError::UnknownEscalationTarget { .. }),
        "`human` without a pool: {err}"
    );
    let err = load("agents:\n  a: {}\nroutes:\n  r: { workflow: wf }\n").unwrap_err();
    assert!(err.to_string().contains("route `r`"), "{err}");
    let err = load("agents:\n  a: { typo: 1 }\n").unwrap_err();
    assert!(matches!(err, RoutingError::Yaml(_)), "{err}");

    let config: RoutingConfig = serde_norway::from_str(ROUTING).unwrap();
    let clash = Workflow::from_yaml("name: refund-agent\nstages: [{agent: order-agent}]").unwrap();
    assert_eq!(
        RoutingTable::new(config, vec![clash]).unwrap_err(),
        RoutingError::NameClash("refund-agent".into())
    );
}
