//! Rate limits, daily totals, per-agent rules and the default effect, with counters fed the
//! way the membrane will feed them.

use serde_json::json;
use silo_policy::{Action, Context, Decision, InMemoryCounters, NoCounters, PolicySet};

use crate::common::*;

fn refund(amount: i64) -> serde_json::Value {
    json!({"amount": amount, "currency": "USD", "customer": "cust_1"})
}

#[test]
fn fourth_refund_for_a_customer_in_a_day_is_denied() {
    let policy = PolicySet::from_yaml_str("test", POLICY).unwrap();
    let (base, task) = (base_claims(), task_claims());
    let counters = InMemoryCounters::default();
    for i in 0..3 {
        let now = NOW + i * 60;
        let d = policy.decide(
            &base,
            &task,
            "refund",
            &refund(100),
            &Context::new(now, &counters),
        );
        assert!(d.is_allow(), "refund {i}: {d:?}");
        counters.record(&base, &task, Action::Refund, Some(100), now);
    }
    let d = policy.decide(
        &base,
        &task,
        "refund",
        &refund(100),
        &Context::new(NOW + 600, &counters),
    );
    assert_eq!(d.rule(), "refunds-per-customer-per-day", "{d:?}");
    // Another customer's task is not affected.
    let mut other = task_claims();
    other.customer = "cust_2".into();
    let p = json!({"amount": 100, "currency": "USD", "customer": "cust_2"});
    assert!(policy
        .decide(
            &base,
            &other,
            "refund",
            &p,
            &Context::new(NOW + 600, &counters)
        )
        .is_allow());
    // The window slides.
    let later = NOW + 86_400 + 3600;
    assert!(policy
        .decide(
            &base,
            &task,
            "refund",
            &refund(100),
            &Context::new(later, &counters)
        )
        .is_allow());
}

#[test]
fn many_small_refunds_hit_the_daily_total() {
    let policy = PolicySet::from_yaml_str("test", POLICY).unwrap();
    let (base, task) = (base_claims(), task_claims());
    let counters = InMemoryCounters::default();
    // 40 000 cents refunded today in two refunds (under the 3-a-day count).
    for _ in 0..2 {
        counters.record(&base, &task, Action::Refund, Some(20_000), NOW);
    }
    let d = policy.decide(
        &base,
        &task,
        "refund",
        &refund(20_000),
        &Context::new(NOW, &counters),
    );
    assert!(
        d.is_allow(),
        "exactly at the 60 000 total is allowed: {d:?}"
    );
    let d = policy.decide(
        &base,
        &task,
        "refund",
        &refund(20_001),
        &Context::new(NOW, &counters),
    );
    assert!(!d.is_allow(), "{d:?}");
    let over = InMemoryCounters::default();
    over.record(&base, &task, Action::Refund, Some(30_000), NOW);
    over.record(&base, &task, Action::Refund, Some(30_000), NOW);
    let d = policy.decide(
        &base,
        &task,
        "refund",
        &refund(1),
        &Context::new(NOW, &over),
    );
    assert!(
        matches!(&d, Decision::NeedsApproval { rule, .. } if rule == "refund-daily-total"),
        "{d:?}"
    );
    // Tomorrow the total starts again.
    let d = policy.decide(
        &base,
        &task,
        "refund",
        &refund(1),
        &Context::new(NOW + 86_400, &over),
    );
    assert!(d.is_allow(), "{d:?}");
}

#[test]
fn per_agent_rules_apply_only_to_that_agent() {
    let deployment = PolicySet::from_yaml_str("deploy", "default: allow\n").unwrap();
    let per_agent = PolicySet::from_yaml_str(
        "refund-agent.yaml",
        "agent: collections-agent\nrules:\n  - { name: no-kv, action: kv.put, effect: deny }\n",
    )
    .unwrap();
    let policy = PolicySet::merge([deployment, per_agent]).unwrap();
    let (base, task) = (base_claims(), task_claims());
    let d = policy.decide(
        &base,
        &task,
        "kv.put",
        &json!({}),
        &Context::new(NOW, &NoCounters),
    );
    assert!(d.is_allow(), "rule is for another agent: {d:?}");
    let (mut base2, mut task2) = (base_claims(), task_claims());
    base2.agent = "collections-agent".into();
    task2.agent = "collections-agent".into();
    let d = policy.decide(
        &base2,
        &task2,
        "kv.put",
        &json!({}),
        &Context::new(NOW, &NoCounters),
    );
    assert_eq!(d.rule(), "no-kv");
}

#[test]
fn default_deny_needs_an_allow_rule() {
    let policy = PolicySet::from_yaml_str(
        "strict",
        "default: deny\nrules:\n  - { name: small-refunds, action: refund, when: [{ param: amount, le: 1000 }], effect: allow }\n",
    )
    .unwrap();
    let (base, task) = (base_claims(), task_claims());
    let ctx = Context::new(NOW, &NoCounters);
    assert_eq!(
        policy
            .decide(&base, &task, "refund", &refund(500), &ctx)
            .rule(),
        "small-refunds"
    );
    assert_eq!(
        policy
            .decide(&base, &task, "refund", &refund(5000), &ctx)
            .rule(),
        "default.deny"
    );
    // An allow rule never lifts the capability limit.
    assert_eq!(
        policy
            .decide(&base, &task, "refund", &refund(60_000), &ctx)
            .rule(),
        "capability.refund.max_cents"
    );
}

#[test]
fn capabilities_only_policy_allows_what_the_key_grants() {
    let policy = PolicySet::capabilities_only();
    let (base, task) = (base_claims(), task_claims());
    let ctx = Context::new(NOW, &NoCounters);
    assert!(policy
        .decide(&base, &task, "refund", &refund(50_000), &ctx)
        .is_allow());
    assert!(!policy
        .decide(&base, &task, "refund", &refund(50_001), &ctx)
        .is_allow());
}

#[test]
fn the_set_says_which_actions_its_rules_count() {
    let policy = PolicySet::from_yaml_str("test", POLICY).unwrap();
    assert!(policy.counts(Action::Refund));
    assert!(!policy.counts(Action::KvGet));
    assert!(!PolicySet::capabilities_only().counts(Action::Refund));
}
