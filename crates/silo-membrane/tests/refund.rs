//! Refunds: within the limit for the task's customer only, paid once per idempotency key.

use serde_json::json;

use crate::support::{refund, Fixture, CUSTOMER};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refund_within_limit_for_own_customer_is_paid_and_in_the_ledger() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let a = c
        .post("/v1/refund", &refund(json!(2500), "case-1:refund"))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["amount_cents"], 2500);
    assert_eq!(a.body["replayed"], false);
    let ledger = f.services.ledger().refunds_for(CUSTOMER).unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].amount_cents, 2500);
    assert_eq!(ledger[0].refund_id, a.body["refund_id"].as_str().unwrap());
    assert_eq!(ledger[0].task, "task-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refund_exactly_at_the_limit_is_paid() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let a = c.post("/v1/refund", &refund(json!(50000), "k")).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_refund_over_the_limit_is_denied_and_nothing_paid() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let a = c.post("/v1/refund", &refund(json!(50001), "k")).await;
    assert_eq!((a.status, a.code()), (403, "denied"), "{}", a.body);
    assert_eq!(a.body["error"]["rule"], "capability.refund.max_cents");
    assert!(f
        .services
        .ledger()
        .refunds_for(CUSTOMER)
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_refund_to_another_customer_is_denied() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let mut body = refund(json!(100), "k");
    body["customer"] = json!("cus_tok_2");
    let a = c.post("/v1/refund", &body).await;
    assert_eq!((a.status, a.code()), (403, "denied"), "{}", a.body);
    assert_eq!(a.body["error"]["rule"], "scope.customer");
    assert!(f
        .services
        .ledger()
        .refunds_for("cus_tok_2")
        .unwrap()
        .is_empty());
    assert!(f
        .services
        .ledger()
        .refunds_for(CUSTOMER)
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_replayed_idempotency_key_pays_once() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let first = c
        .post("/v1/refund", &refund(json!(4000), "case-1:r1"))
        .await;
    assert_eq!(first.status, 200);
    for _ in 0..3 {
        let again = c
            .post("/v1/refund", &refund(json!(4000), "case-1:r1"))
            .await;
        assert_eq!(again.status, 200, "{}", again.body);
        assert_eq!(again.body["refund_id"], first.body["refund_id"]);
        assert_eq!(again.body["replayed"], true);
    }
    // Another task of the same customer replaying the key gets the original, too.
    let mut other =
        crate::support::Client::connect(f.socket(), Some(f.base_key()), Some(f.task_key("task-2")))
            .await;
    let again = other
        .post("/v1/refund", &refund(json!(4000), "case-1:r1"))
        .await;
    assert_eq!(again.body["refund_id"], first.body["refund_id"]);
    let conflict = c
        .post("/v1/refund", &refund(json!(4001), "case-1:r1"))
        .await;
    assert_eq!(
        (conflict.status, conflict.code()),
        (409, "idempotency_conflict")
    );
    let ledger = f.services.ledger().refunds_for(CUSTOMER).unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].amount_cents, 4000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_amount_unit_tricks_are_denied() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let tricks = [
        json!(-100),
        json!(0),
        json!(100.5),
        json!(1e3),
        json!("100"),
        json!(9_223_372_036_854_775_807_u64 + 1),
        json!(null),
    ];
    for (i, t) in tricks.iter().enumerate() {
        let a = c
            .post("/v1/refund", &refund(t.clone(), &format!("k{i}")))
            .await;
        assert_eq!(a.status, 403, "{t}: {}", a.body);
        assert_eq!(a.body["error"]["rule"], "amount.invalid", "{t}");
    }
    let mut eur = refund(json!(100), "eur");
    eur["currency"] = json!("EUR");
    let a = c.post("/v1/refund", &eur).await;
    assert_eq!(a.body["error"]["rule"], "capability.refund.currency");
    assert!(f
        .services
        .ledger()
        .refunds_for(CUSTOMER)
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_refund_bodies_are_invalid_requests() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let mut extra = refund(json!(100), "k");
    extra["approved"] = json!(true);
    for body in [
        extra,
        json!({"amount_cents": 100}),
        refund(json!(100), "bad key with spaces"),
    ] {
        let a = c.post("/v1/refund", &body).await;
        assert_eq!((a.status, a.code()), (400, "invalid_request"), "{body}");
    }
    let a = c.send("POST", "/v1/refund", b"{not json").await;
    assert_eq!(a.code(), "invalid_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_can_order_the_cell_killed_on_a_refusal() {
    use std::sync::{Arc, Mutex};

    use silo_membrane::Outcome;
    use silo_policy::PolicySet;

    let killed: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = killed.clone();
    let policy = PolicySet::from_yaml_str("p.yaml", "kill_on: [capability.refund.*]\n").unwrap();
    let mut f = Fixture::bare_with(policy, move |s| {
        s.with_kill_switch(Box::new(move |cell: &str| {
            seen.lock().unwrap().push(cell.to_owned());
            true
        }))
    });
    f.add_cell("c-000000000001", silo_membrane::Limits::default());
    let mut c = f.client().await;
    // A refusal the policy does not name: refused, nothing killed.
    let mut other = refund(json!(100), "k0");
    other["customer"] = json!("cus_tok_2");
    let a = c.post("/v1/refund", &other).await;
    assert_eq!(a.body["error"]["rule"], "scope.customer", "{}", a.body);
    assert!(killed.lock().unwrap().is_empty());
    // One it names: refused, the cell is killed and the task ends as failed.
    let a = c.post("/v1/refund", &refund(json!(50001), "k")).await;
    assert_eq!((a.status, a.code()), (403, "denied"), "{}", a.body);
    assert_eq!(*killed.lock().unwrap(), vec!["c-000000000001".to_owned()]);
    let outcome = f.services.outcomes().get("task-1").unwrap().unwrap();
    match outcome.outcome {
        Outcome::Complete { summary, .. } => {
            assert!(summary.contains("capability.refund.max_cents"), "{summary}")
        }
        other => panic!("{other:?}"),
    }
    let last = f.audit_entries().pop().unwrap();
    assert_eq!(last.detail.get("kill_ordered").unwrap(), true);
    assert_eq!(last.detail.get("cell_killed").unwrap(), true);
}

const DAILY_1000: &str = "version: 1
default: allow
rules:
  - name: agent-daily-refunds
    action: refund
    daily_total: { per: agent, max_cents: 1000 }
    effect: deny
    priority: 50
    reason: the agent's refunds today would exceed 10.00
";

/// Crash point `after_refund_committed`: the ledger paid, the usage record never ran.
/// The retried turn's replay counts the refund once; a plain replay counts nothing more;
/// the daily total then refuses exactly where it should.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_paid_but_not_counted_is_counted_once_by_its_replay() {
    use silo_membrane::{RefundOutcome, RefundRequest};
    use silo_policy::PolicySet;

    let policy = PolicySet::from_yaml_str("p.yaml", DAILY_1000).unwrap();
    let mut f = Fixture::bare_with(policy, |s| s);
    f.add_cell("c-000000000001", silo_membrane::Limits::default());
    // Paid straight through the ledger, as if the membrane died before counting it.
    let paid = tokio::task::block_in_place(|| {
        f.services.ledger().refund(&RefundRequest {
            task: "task-1".into(),
            agent: crate::support::AGENT.into(),
            customer: CUSTOMER.into(),
            idempotency_key: "k1".into(),
            amount_cents: 400,
            currency: "USD".into(),
            reason: "late delivery".into(),
            now: silo_keys::now_unix(),
        })
    })
    .unwrap();
    let RefundOutcome::Issued(paid) = paid else {
        panic!("not issued: {paid:?}")
    };
    let mut c = f.client().await;
    let a = c.post("/v1/refund", &refund(json!(400), "k1")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["replayed"], true);
    assert_eq!(a.body["refund_id"], paid.refund_id.as_str());
    // 400 counted. A new refund, then its plain replay: 700, not 1000.
    let a = c.post("/v1/refund", &refund(json!(300), "k2")).await;
    assert_eq!(
        (a.status, a.body["replayed"].clone()),
        (200, json!(false)),
        "{}",
        a.body
    );
    let a = c.post("/v1/refund", &refund(json!(300), "k2")).await;
    assert_eq!(
        (a.status, a.body["replayed"].clone()),
        (200, json!(true)),
        "{}",
        a.body
    );
    // Exactly at the total: paid (a double count would refuse it).
    let a = c.post("/v1/refund", &refund(json!(300), "k3")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    // Past it by one cent: refused (a lost count would pay it).
    let a = c.post("/v1/refund", &refund(json!(1), "k4")).await;
    assert_eq!((a.status, a.code()), (403, "denied"), "{}", a.body);
    assert_eq!(a.body["error"]["rule"], "agent-daily-refunds");
    let ledger = tokio::task::block_in_place(|| f.services.ledger().refunds_for(CUSTOMER)).unwrap();
    assert_eq!(ledger.iter().map(|r| r.amount_cents).sum::<i64>(), 1000);
}
