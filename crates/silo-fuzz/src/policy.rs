//! `policy_yaml`: the operator policy loader (`silo-policy`) with hostile YAML, then the
//! loaded policy deciding a fixed set of requests with usage already counted.
//!
//! Invariants: loading and deciding never panic; whatever the rules say, a policy never
//! lets an agent past its base key (a refund over the key's limit or in another currency,
//! a template the key does not grant), out of its task's customer, approve itself, or run
//! an unknown action; merging a policy with itself refuses the duplicate rule names.

use serde_json::{json, Value};
use silo_keys::{BaseKey, Capabilities, TaskKey, BASE_AUDIENCE, TASK_AUDIENCE};
use silo_policy::{Action, Approval, Context, Decision, InMemoryCounters, PolicySet};

/// The decision clock.
const NOW: u64 = 1_800_000_000;

/// Words the mutator inserts.
pub const DICTIONARY: &[&str] = &[
    "version: 1\n",
    "default: deny\n",
    "default: allow\n",
    "rules:\n",
    "  - name: r\n",
    "    action: refund\n",
    "    action: [email.send, sms.send]\n",
    "    agent: refund-agent\n",
    "    when:\n",
    "      - { param: amount, gt: 20000 }\n",
    "      - { param: reason, regex: \"(?i)x\" }\n",
    "      - { param: currency, not_in: [USD] }\n",
    "      - { param: template, eq: apology }\n",
    "    effect: deny\n",
    "    effect: allow\n",
    "    effect: require_approval\n",
    "    priority: 100\n",
    "    rate_limit: { per: customer, max: 3, window_secs: 86400 }\n",
    "    daily_total: { per: agent, max_cents: 60000 }\n",
    "    examples:\n",
    "      match: [{ amount: 100 }]\n",
    "      no_match: [{ amount: 100 }]\n",
    "kill_on: [\"keys.*\"]\n",
    "lt:",
    "gte:",
    "in:",
    "*",
    "&a ",
    "*a",
    "!!binary ",
    "~",
];

fn base_key() -> BaseKey {
    BaseKey {
        aud: BASE_AUDIENCE.into(),
        jti: "00000000000000000000000000000b01".into(),
        iat: NOW - 10,
        exp: NOW + 3600,
        agent: "refund-agent".into(),
        version: "1.0.0".into(),
        folder_hash: format!("sha256:{}", "0".repeat(64)),
        caps: Capabilities::from_json(
            r#"{"refund":{"max_cents":50000,"currency":"USD"},
                "email.send":{"templates":["refund_confirmation","apology"]},
                "sms.send":{"templates":["refund_confirmation"]},
                "data.read":{"fields":["name","email","balance"]},
                "data.write":{"ops":["case.add_note"]},
                "escalate":["manager","human"],
                "llm":{"max_tokens_per_task":20000}}"#,
        )
        .expect("the fuzz base key's capabilities parse"),
    }
}

fn task_key() -> TaskKey {
    TaskKey {
        aud: TASK_AUDIENCE.into(),
        jti: "00000000000000000000000000000c01".into(),
        iat: NOW - 10,
        nbf: NOW - 10,
        exp: NOW + 600,
        task: "task-1".into(),
        agent: "refund-agent".into(),
        customer: "cus_001".into(),
        case: "case_001".into(),
        workflow: None,
        cell: "c-00000000f022".into(),
    }
}

/// Requests every policy decides; none of them is checked for a particular answer.
fn requests() -> Vec<(&'static str, Value)> {
    vec![
        (
            "refund",
            json!({"amount": 100, "currency": "USD", "reason": "late delivery"}),
        ),
        (
            "refund",
            json!({"amount": 20001, "currency": "USD", "reason": "Chargeback"}),
        ),
        ("refund", json!({"amount": "12.50", "currency": "USD"})),
        (
            "email.send",
            json!({"template": "apology", "to": "[EMAIL_1]"}),
        ),
        (
            "email.send",
            json!({"template": "refund_confirmation", "to": "x@competitor.example"}),
        ),
        ("sms.send", json!({"template": "refund_confirmation"})),
        ("data.read", json!({"fields": ["name", "email"]})),
        (
            "data.write",
            json!({"op": "case.add_note", "text": "hello"}),
        ),
        ("escalate", json!({"target": "manager"})),
        ("kv.put", json!({"key": "plan"})),
        ("llm.chat", json!({"max_tokens": 100})),
    ]
}

/// Requests no policy may allow.
fn never_allowed() -> Vec<(&'static str, Value, Option<&'static str>)> {
    vec![
        ("refund", json!({"amount": 50001, "currency": "USD"}), None),
        ("refund", json!({"amount": 100, "currency": "EUR"}), None),
        ("refund", json!({"amount": -5, "currency": "USD"}), None),
        (
            "refund",
            json!({"amount": 100, "currency": "USD", "customer": "cus_002"}),
            None,
        ),
        (
            "refund",
            json!({"amount": 100, "currency": "USD"}),
            Some("cus_002"),
        ),
        ("email.send", json!({"template": "password_reset"}), None),
        ("data.write", json!({"op": "case.delete"}), None),
        ("escalate", json!({"target": "ceo"}), None),
        ("delete.everything", json!({}), None),
        ("refund", json!([100]), None),
    ]
}

/// Runs one input (see the module docs).
pub fn run(data: &[u8]) {
    let Some(yaml) = crate::text(data) else {
        return;
    };
    let Ok(policy) = PolicySet::from_yaml_str("fuzz.yaml", yaml) else {
        return;
    };
    let (base, task) = (base_key(), task_key());
    let counters = InMemoryCounters::default();
    // Some usage on the clock, so rate limits and daily totals have something to count.
    for action in [Action::Refund, Action::EmailSend, Action::Refund] {
        counters.record(&base, &task, action, Some(30_000), NOW - 60);
    }
    let ctx = Context::new(NOW, &counters);
    for (action, params) in requests() {
        let _ = policy.decide(&base, &task, action, &params, &ctx);
        if let Ok(a) = action.parse::<Action>() {
            let _ = policy.counts(a);
        }
    }
    for (action, params, owner) in never_allowed() {
        let mut ctx = ctx;
        ctx.resource_customer = owner;
        let d = policy.decide(&base, &task, action, &params, &ctx);
        assert!(
            !matches!(d, Decision::Allow { .. }),
            "the policy allowed `{action}` {params} (resource of {owner:?}): {d:?}"
        );
    }
    let own = Approval {
        approver: "refund-agent".into(),
        rule: "any".into(),
    };
    let mut ctx_self = ctx;
    ctx_self.approval = Some(&own);
    let d = policy.decide(
        &base,
        &task,
        "refund",
        &json!({"amount": 100, "currency": "USD"}),
        &ctx_self,
    );
    assert!(
        !d.is_allow(),
        "an agent's approval of its own action was accepted: {d:?}"
    );
    for rule in policy.rules() {
        let _ = policy.kills_on(&rule.name);
    }
    let has_rules = !policy.rules().is_empty();
    let merged = PolicySet::merge([policy.clone(), policy]);
    assert_eq!(
        merged.is_err(),
        has_rules,
        "merging a policy with itself must refuse exactly the duplicate rule names"
    );
}
