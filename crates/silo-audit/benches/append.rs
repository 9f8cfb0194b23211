//! Append throughput and latency of the SQLite audit log (durable: fsync per transaction).
//!
//! Run with `cargo bench -p silo-audit`. Prints entries/s for batched appends at several
//! batch sizes (goal: at least 20,000 entries/s durable in batches), single-append latency
//! percentiles, and full verification speed.

use std::time::{Duration, Instant};

use serde_json::json;
use silo_audit::{
    ActionName, Actor, AgentName, AuditLog, CustomerToken, Decision, Detail, EntryDraft, KeyId,
    KeyRef, RuleId, TaskId, TokenId,
};

fn draft(i: u64) -> Result<EntryDraft, Box<dyn std::error::Error>> {
    Ok(EntryDraft::new(
        Actor::new("membrane")?,
        ActionName::new("refund.issue")?,
        if i.is_multiple_of(3) {
            Decision::Deny
        } else {
            Decision::Allow
        },
    )
    .task(TaskId::new(format!("t-{}", i % 1000))?)
    .agent(AgentName::new("refund-agent")?)
    .customer(CustomerToken::new(format!("cus_{}", i % 5000))?)
    .base_key(KeyRef {
        kid: KeyId::new("base-2026-11")?,
        jti: None,
    })
    .task_key(KeyRef::token(
        KeyId::new("task-2026-11")?,
        TokenId::new(format!("jti-{i}"))?,
    ))
    .rule(RuleId::new("refund.max_cents")?)
    .detail(Detail::new(
        json!({"amount_cents": i % 50_000, "currency": "USD", "status": 200}),
    )?))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let log = AuditLog::open(dir.path())?;
    let mut next = 0u64;
    println!(
        "silo-audit append benchmark (SQLite WAL, synchronous=FULL, {})",
        dir.path().display()
    );

    for batch in [100usize, 1_000, 5_000] {
        let rounds = (50_000 / batch).max(5);
        // Drafts are built before the clock starts: building them is the caller's work.
        let mut batches = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let drafts = (0..batch as u64)
                .map(|k| draft(next + k))
                .collect::<Result<Vec<_>, _>>()?;
            next += batch as u64;
            batches.push(drafts);
        }
        let start = Instant::now();
        for drafts in batches {
            log.append_batch(drafts)?;
        }
        let secs = start.elapsed().as_secs_f64();
        let n = (rounds * batch) as f64;
        println!(
            "append_batch  batch={batch:>5}  {n:>8} entries  {:>10.0} entries/s  ({:.2} ms/batch)",
            n / secs,
            secs * 1e3 / rounds as f64
        );
    }

    // Where the time goes: sealing (canonical JSON + SHA-256) without storage.
    let drafts = (0..10_000u64).map(draft).collect::<Result<Vec<_>, _>>()?;
    let start = Instant::now();
    let mut head = silo_audit::chain::ChainHead::GENESIS;
    let sealed = head.extend(drafts, silo_audit::Timestamp::now())?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "seal only     {} entries  {:>10.0} entries/s (canonical JSON + SHA-256, no storage)",
        sealed.len(),
        sealed.len() as f64 / secs
    );

    let mut lat: Vec<Duration> = Vec::new();
    for _ in 0..500 {
        let d = draft(next)?;
        next += 1;
        let start = Instant::now();
        log.append(d)?;
        lat.push(start.elapsed());
    }
    lat.sort();
    let pct = |p: f64| {
        let i = ((lat.len() as f64 * p) as usize).min(lat.len() - 1);
        lat.get(i).map(|d| d.as_secs_f64() * 1e6).unwrap_or(0.0)
    };
    println!(
        "append single  {} entries  p50 {:.0} µs  p99 {:.0} µs  max {:.0} µs",
        lat.len(),
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );

    let start = Instant::now();
    let v = log.verify()?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "verify        {} entries  {:.0} entries/s  root {}",
        v.size,
        v.size as f64 / secs,
        v.root
    );
    Ok(())
}
