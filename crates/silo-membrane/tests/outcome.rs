//! The task's facts, and the agent's result: complete or escalate, first one stands.

use serde_json::json;
use silo_membrane::{CompletionStatus, Outcome};

use crate::support::{Fixture, CUSTOMER};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_shows_the_task_keys_public_facts() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let a = c.get("/v1/task").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["task"], "task-1");
    assert_eq!(a.body["customer"], CUSTOMER);
    assert_eq!(a.body["cell"], f.cell());
    assert_eq!(a.body["capabilities"]["refund"]["max_cents"], 50000);
    assert!(!a.body.to_string().contains("eyJ"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_is_stored_for_the_caller_and_the_first_outcome_stands() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let a = c
        .post(
            "/v1/complete",
            &json!({"status": "done", "summary": "refunded 25.00"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = c
        .post(
            "/v1/escalate",
            &json!({"target": "manager", "reason": "r", "recommendation": "x"}),
        )
        .await;
    assert_eq!((a.status, a.code()), (409, "outcome_recorded"));
    let stored = f.services.outcomes().get("task-1").unwrap().unwrap();
    assert_eq!(
        stored.outcome,
        Outcome::Complete {
            status: CompletionStatus::Done,
            summary: "refunded 25.00".into()
        }
    );
    let a = c
        .post(
            "/v1/complete",
            &json!({"status": "approved_by_me", "summary": ""}),
        )
        .await;
    assert_eq!(a.code(), "invalid_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalate_only_to_a_listed_target() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let a = c
        .post(
            "/v1/escalate",
            &json!({"target": "ceo", "reason": "big", "recommendation": "pay"}),
        )
        .await;
    assert_eq!((a.status, a.code()), (403, "denied"));
    assert!(f.services.outcomes().get("task-1").unwrap().is_none());
    let a = c
        .post(
            "/v1/escalate",
            &json!({"target": "manager", "reason": "over my limit", "recommendation": "refund 600.00"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let stored = f.services.outcomes().get("task-1").unwrap().unwrap();
    assert!(matches!(stored.outcome, Outcome::Escalate { ref target, .. } if target == "manager"));
}
