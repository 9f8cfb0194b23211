//! Every call, allowed or denied, is one audit entry; entries hold ids, never tokens or
//! free text; the log verifies.

use serde_json::json;
use silo_audit::Decision;

use crate::support::{refund, Client, Fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_allowed_and_denied_call_is_audited_and_the_log_verifies() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let mut expected = Vec::new();
    let mut call = |a: crate::support::Answer, action: &str, decision: Decision| {
        expected.push((action.to_string(), decision, a.status));
    };
    call(c.get("/v1/task").await, "task.read", Decision::Allow);
    call(
        c.post("/v1/refund", &refund(json!(100), "k1")).await,
        "refund",
        Decision::Allow,
    );
    call(
        c.post("/v1/refund", &refund(json!(100), "k1")).await,
        "refund",
        Decision::Allow,
    );
    call(
        c.post("/v1/refund", &refund(json!(999_999), "k2")).await,
        "refund",
        Decision::Deny,
    );
    call(
        c.post("/v1/kv/put", &json!({"key": "a", "value": "private note"}))
            .await,
        "kv.put",
        Decision::Allow,
    );
    call(
        c.post("/v1/wire", &json!({})).await,
        "membrane.request",
        Decision::Deny,
    );
    let mut keyless = Client::connect(f.socket(), None, Some(f.task_key("task-1"))).await;
    call(
        keyless.post("/v1/refund", &refund(json!(100), "k3")).await,
        "refund",
        Decision::Deny,
    );
    let mut forged = Client::connect(f.socket(), Some(f.base_key()), Some("x.y.z".into())).await;
    call(forged.get("/v1/task").await, "task.read", Decision::Deny);
    call(
        c.post(
            "/v1/complete",
            &json!({"status": "done", "summary": "Refunded Jane Doe"}),
        )
        .await,
        "task.complete",
        Decision::Allow,
    );

    let entries = f.audit_entries();
    let got: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                e.action.as_str().to_string(),
                e.decision,
                e.detail.get("status").and_then(|s| s.as_u64()).unwrap() as u16,
            )
        })
        .collect();
    assert_eq!(got, expected);
    // Allowed calls name the task, the customer and both keys by id.
    let first = &entries[0];
    assert_eq!(first.task.as_ref().unwrap().as_str(), "task-1");
    assert!(first.keys.base.is_some() && first.keys.task.is_some());
    assert_eq!(first.detail.get("cell"), Some(&json!(f.cell())));
    // The over-limit denial names its rule and amount.
    assert_eq!(
        entries[3].rule.as_ref().unwrap().as_str(),
        "capability.refund.max_cents"
    );
    assert_eq!(entries[3].detail.get("amount_cents"), Some(&json!(999_999)));
    // The keyless and forged calls name the key refusal.
    assert_eq!(
        entries[6].rule.as_ref().unwrap().as_str(),
        "keys.missing_key"
    );
    assert_eq!(
        entries[7].rule.as_ref().unwrap().as_str(),
        "keys.invalid_key"
    );
    // No token and no agent free text in any entry.
    for e in &entries {
        let text = String::from_utf8(e.canonical().unwrap()).unwrap();
        assert!(!text.contains("eyJ"), "{text}");
        assert!(
            !text.contains("Jane Doe") && !text.contains("private note"),
            "{text}"
        );
        assert!(!text.contains("late delivery"), "{text}");
    }
    let verified = f.services.audit().verify().unwrap();
    assert_eq!(verified.size, expected.len() as u64);
}
