//! What a cell recorded becomes the router's `AgentResult` (`agent_result`): redirects turn
//! into 301/302 the workflow checks against the stage, and a structured report rides in
//! the summary the next turn gets as its hand-off.

use silo_membrane::{CompletionStatus, Outcome, Report};
use silo_router::{agent_result, AgentResult, Decision, Workflow};

use crate::support::INCOMING;

fn redirect(target: &str, hard: bool, report: Option<Report>) -> Outcome {
    Outcome::Redirect {
        target: target.into(),
        hard,
        summary: "an order question".into(),
        report,
    }
}

fn report() -> Report {
    Report {
        did: "classified the message".into(),
        produced: vec!["kv:intent".into()],
        todo: vec!["answer about order 7".into()],
        warnings: vec!["the customer is upset".into()],
    }
}

const RENDERED: &str = "an order question\ndid: classified the message\nproduced: kv:intent\ntodo: answer about order 7\nwarnings: the customer is upset";

#[test]
fn a_recorded_soft_redirect_is_a_302_that_runs_the_target_with_the_report() {
    let result = agent_result(Some(&redirect("order-agent", false, Some(report()))), 0);
    assert_eq!(
        result,
        AgentResult::SoftRedirect {
            target: "order-agent".into(),
            summary: RENDERED.into(),
        }
    );
    let w = Workflow::from_yaml(INCOMING).unwrap();
    let Decision::Dispatch { agent, run, .. } = w.next(&w.start(), &result) else {
        panic!("expected the 302 target to run");
    };
    assert_eq!(agent, "order-agent");
    assert_eq!(run.returns.len(), 1, "a 302 comes back");
    assert_eq!(run.summary.as_deref(), Some(RENDERED));
}

#[test]
fn a_recorded_hard_redirect_is_a_301_that_hands_the_run_over() {
    let result = agent_result(Some(&redirect("support-workflow", true, None)), 0);
    assert_eq!(
        result,
        AgentResult::HardRedirect {
            target: "support-workflow".into(),
            summary: "an order question".into(),
        }
    );
    let w = Workflow::from_yaml(INCOMING).unwrap();
    assert!(matches!(
        w.next(&w.start(), &result),
        Decision::HandOver { target, .. } if target == "support-workflow"
    ));
}

#[test]
fn a_redirect_to_a_target_the_stage_does_not_list_is_refused_by_the_router() {
    // The membrane only checks the name's alphabet; the stage decides. INCOMING's first
    // stage lists order-agent for 302 only, so a 301 there is a 400 to its human pool.
    let w = Workflow::from_yaml(INCOMING).unwrap();
    for outcome in [
        redirect("refund-agent", false, None),
        redirect("order-agent", true, None),
    ] {
        let result = agent_result(Some(&outcome), 0);
        assert!(
            matches!(
                w.next(&w.start(), &result),
                Decision::NeedsHuman { pool: Some(ref p), .. } if p == "human-agent"
            ),
            "{outcome:?} was not refused"
        );
    }
}

#[test]
fn done_with_a_report_carries_it_in_the_summary_and_its_products_as_assets() {
    let done = Outcome::Complete {
        status: CompletionStatus::Done,
        summary: "an order question".into(),
        report: Some(report()),
    };
    assert_eq!(
        agent_result(Some(&done), 0),
        AgentResult::Done {
            summary: RENDERED.into(),
            assets: vec!["kv:intent".into()],
        }
    );
    // Only a report: no blank first line.
    let bare = Outcome::Complete {
        status: CompletionStatus::NeedsHuman,
        summary: String::new(),
        report: Some(Report {
            todo: vec!["call back".into()],
            ..Report::default()
        }),
    };
    assert_eq!(
        agent_result(Some(&bare), 0),
        AgentResult::NeedsHuman {
            summary: "todo: call back".into()
        }
    );
}

#[test]
fn a_completion_without_a_report_keeps_its_summary_as_is() {
    for report in [None, Some(Report::default())] {
        let done = Outcome::Complete {
            status: CompletionStatus::Done,
            summary: "refunded".into(),
            report,
        };
        assert_eq!(
            agent_result(Some(&done), 0),
            AgentResult::Done {
                summary: "refunded".into(),
                assets: Vec::new(),
            }
        );
    }
}
