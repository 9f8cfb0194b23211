//! Policy decision latency (goal: p99 ≤ 10 µs), alone and together with key verification
//! through the verified-claims cache. Run with `cargo bench -p silo-policy`.

use std::time::Instant;

use serde_json::{json, Value};
use silo_keys::{new_jti, BaseKey, Capabilities, KeyStore, TaskKey};
use silo_policy::{Action, Context, InMemoryCounters, PolicySet, Request};

const POLICY: &str = r#"
default: allow
rules:
  - { name: no-chargebacks, action: refund, when: [{ param: reason, regex: "(?i)chargeback" }], effect: deny, priority: 100 }
  - { name: competitor-mail, action: email.send, when: [{ param: to, regex: "@competitor\\.example$" }], effect: deny, priority: 100 }
  - { name: refund-rate, action: refund, rate_limit: { per: customer, max: 1000000, window_secs: 86400 }, effect: deny, priority: 50 }
  - { name: refund-daily, action: refund, daily_total: { per: customer, max_cents: 9000000000 }, effect: require_approval, priority: 40 }
  - { name: big-refunds, action: refund, when: [{ param: amount, gt: 20000 }], effect: require_approval, priority: 10 }
  - { name: templates, action: email.send, when: [{ param: template, in: [apology, refund_confirmation] }], effect: allow, priority: 5 }
  - { name: fields, action: data.read, when: [{ param: fields, exists: true }], effect: allow }
  - { name: escalate-human, action: escalate, when: [{ param: target, eq: human }], effect: allow }
"#;

fn percentile(sorted: &[u128], p: f64) -> u128 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(idx).copied().unwrap_or(0)
}

fn measure(label: &str, iterations: usize, mut f: impl FnMut(usize)) {
    for i in 0..iterations / 10 {
        f(i);
    }
    let mut samples = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let start = Instant::now();
        f(i);
        samples.push(start.elapsed().as_nanos());
    }
    samples.sort_unstable();
    println!(
        "{label:<52} p50 {:>7.2} µs   p99 {:>7.2} µs   max {:>8.2} µs   (n={iterations})",
        percentile(&samples, 0.50) as f64 / 1000.0,
        percentile(&samples, 0.99) as f64 / 1000.0,
        samples.last().copied().unwrap_or(0) as f64 / 1000.0,
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let now = silo_keys::now_unix();
    let policy = PolicySet::from_yaml_str("bench", POLICY)?;
    let base = BaseKey {
        aud: silo_keys::BASE_AUDIENCE.into(),
        jti: new_jti()?,
        iat: now,
        exp: now + 3600,
        agent: "refund-agent".into(),
        version: "1.0.0".into(),
        folder_hash: format!("sha256:{}", "0".repeat(64)),
        caps: Capabilities::from_json(
            r#"{"refund":{"max_cents":50000,"currency":"USD"},
                "email.send":{"templates":["refund_confirmation","apology"]},
                "data.read":{"fields":["name","email","balance"]},
                "escalate":["manager","human"],"llm":{"max_tokens_per_task":20000}}"#,
        )?,
    };
    let task = TaskKey {
        aud: silo_keys::TASK_AUDIENCE.into(),
        jti: new_jti()?,
        iat: now,
        nbf: now,
        exp: now + 900,
        task: "task-1".into(),
        agent: "refund-agent".into(),
        customer: "cust_1".into(),
        case: "case-1".into(),
        workflow: None,
        cell: "cell-1".into(),
    };
    let requests: Vec<(&str, Value)> = vec![
        (
            "refund",
            json!({"amount": 5000, "currency": "USD", "customer": "cust_1", "reason": "late delivery"}),
        ),
        (
            "refund",
            json!({"amount": 25000, "currency": "USD", "customer": "cust_1"}),
        ),
        (
            "refund",
            json!({"amount": 1e3, "currency": "USD", "customer": "cust_1"}),
        ),
        (
            "email.send",
            json!({"template": "apology", "to": "[EMAIL_1]", "customer": "cust_1"}),
        ),
        (
            "data.read",
            json!({"fields": ["name", "balance"], "customer": "cust_1"}),
        ),
        ("escalate", json!({"target": "human"})),
        ("wire.transfer", json!({})),
    ];
    let counters = InMemoryCounters::default();
    // Some history so the rate and total rules have something to count.
    for i in 0..200 {
        counters.record(&base, &task, Action::Refund, Some(100), now - i);
    }

    measure(
        "decide, refund (all 5 refund rules evaluated)",
        200_000,
        |_| {
            let ctx = Context::new(now, &counters);
            let d = policy.decide(&base, &task, "refund", &requests[0].1, &ctx);
            std::hint::black_box(d);
        },
    );
    measure(
        "decide, mixed actions (allow/deny/approval)",
        200_000,
        |i| {
            let (action, params) = &requests[i % requests.len()];
            let ctx = Context::new(now, &counters);
            std::hint::black_box(policy.decide(&base, &task, action, params, &ctx));
        },
    );

    let dir = std::env::temp_dir().join(format!("silo-policy-bench-{}", std::process::id()));
    let store = KeyStore::init(&dir, now)?;
    let minter = store.minter()?;
    let (base_token, task_token) = (minter.mint_base(&base)?, minter.mint_task(&task)?);
    let verifier = store.verifier()?;
    let params = &requests[0].1;
    measure(
        "authorize = verify pair (cache hit) + decide",
        100_000,
        |_| {
            let req = Request {
                base_token: &base_token,
                task_token: &task_token,
                cell_id: "cell-1",
                folder_hash: None,
                action: "refund",
                params,
            };
            let ctx = Context::new(now, &counters);
            std::hint::black_box(policy.authorize(&verifier, &req, &ctx));
        },
    );
    let uncached = store.verifier()?.with_cache_capacity(0);
    measure("authorize = verify pair (no cache) + decide", 2_000, |_| {
        let req = Request {
            base_token: &base_token,
            task_token: &task_token,
            cell_id: "cell-1",
            folder_hash: None,
            action: "refund",
            params,
        };
        let ctx = Context::new(now, &counters);
        std::hint::black_box(policy.authorize(&uncached, &req, &ctx));
    });
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
