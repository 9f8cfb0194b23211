//! Key verification latency: a base + task key pair, with and without the verified-claims cache.
//! Run with `cargo bench -p silo-keys`; prints p50/p99 per pair verification.

use std::time::Instant;

use silo_keys::{new_jti, BaseKey, Capabilities, KeyStore, TaskKey, BASE_AUDIENCE, TASK_AUDIENCE};

fn percentile(sorted: &[u128], p: f64) -> u128 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(idx).copied().unwrap_or(0)
}

fn measure(label: &str, iterations: usize, mut f: impl FnMut()) {
    for _ in 0..iterations / 10 {
        f();
    }
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        f();
        samples.push(start.elapsed().as_nanos());
    }
    samples.sort_unstable();
    println!(
        "{label:<44} p50 {:>8.2} µs   p99 {:>8.2} µs   (n={iterations})",
        percentile(&samples, 0.50) as f64 / 1000.0,
        percentile(&samples, 0.99) as f64 / 1000.0,
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("silo-keys-bench-{}", std::process::id()));
    let now = silo_keys::now_unix();
    let store = KeyStore::init(&dir, now)?;
    let minter = store.minter()?;
    let base = minter.mint_base(&BaseKey {
        aud: BASE_AUDIENCE.into(),
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
    })?;
    let task = minter.mint_task(&TaskKey {
        aud: TASK_AUDIENCE.into(),
        jti: new_jti()?,
        iat: now,
        nbf: now,
        exp: now + 900,
        task: "task-1".into(),
        agent: "refund-agent".into(),
        customer: "cust_tok_1".into(),
        case: "case-1".into(),
        workflow: None,
        cell: "cell-1".into(),
    })?;

    let uncached = store.verifier()?.with_cache_capacity(0);
    measure("verify_pair, no cache (2 signatures)", 2_000, || {
        let r = uncached.verify_pair(&base, &task, "cell-1", now, None);
        assert!(r.is_ok());
    });
    let cached = store.verifier()?;
    measure("verify_pair, verified-claims cache hit", 50_000, || {
        let r = cached.verify_pair(&base, &task, "cell-1", now, None);
        assert!(r.is_ok());
    });
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
