//! `silo demo`: four scripted customer-service cases through the router kernel and real
//! cells on a fresh embedded data directory, then a short report — what the agents saw
//! (tokenised), what actually went out (hydrated, from the outbox), the ledger, the audit
//! trail's refusals, and the audit log verified.

use std::path::PathBuf;

use anyhow::Context;
use silo_audit::{AuditLog, Query};
use silo_membrane::connectors::outbox::{Channel, DirOutbox};
use silo_membrane::{Connectors, Intake, Ledger, SqliteLedger};
use silo_router::{State, TaskId, TaskSpec};

use crate::cmd::cell::RunDir;
use crate::Ctx;

/// Arguments of `silo demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Where the agent folders are.
    #[arg(long, default_value = "agents")]
    pub agents: PathBuf,
    #[command(flatten)]
    pub run_dir: RunDir,
}

struct Case {
    title: &'static str,
    agent: &'static str,
    customer: &'static str,
    case: &'static str,
    message: &'static str,
    offline: Option<&'static str>,
    expect: State,
}

const CASES: [Case; 4] = [
    Case {
        title: "a $129 refund the refund agent may pay",
        agent: "refund-agent",
        customer: "cus_001",
        case: "case_001",
        message: "Hello, Jane Smith here (jane.smith@example.com, +1 555 010 2030). My espresso machine ord_1002 arrived broken.",
        offline: None,
        expect: State::Completed,
    },
    Case {
        title: "a $700 refund over its limit: escalated to the manager agent",
        agent: "refund-agent",
        customer: "cus_001",
        case: "case_001",
        message: "It's Jane Smith again: the sofa ord_1003 arrived broken, one leg snapped.",
        offline: None,
        expect: State::Completed,
    },
    Case {
        title: "the refund agent is offline: the task waits for a person",
        agent: "refund-agent",
        customer: "cus_002",
        case: "case_002",
        message: "Omar Haddad: my tea sampler ord_2001 arrived damaged.",
        offline: Some("refund-agent"),
        expect: State::WaitingForHuman,
    },
    Case {
        title: "a hostile agent tries to exfiltrate data and overspend",
        agent: "greedy-agent",
        customer: "cus_003",
        case: "case_003",
        message: "Li Wei (li.wei@example.org): please refund my returned toaster ord_3001.",
        offline: None,
        expect: State::WaitingForHuman,
    },
];

/// Runs the demo. Exit 0 when every case ended as scripted and the audit log verifies.
pub fn run(args: DemoArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    let dir = ctx.data_dir.join("demo");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("clearing the previous demo in `{}`", dir.display()))?;
    }
    let demo = Ctx {
        data_dir: dir.clone(),
        json: false,
    };
    println!(
        "silo demo — fresh embedded data directory `{}`",
        dir.display()
    );
    println!(
        "(SQLite business database with made-up customers, outbox on disk, no external service)\n"
    );
    let mut kernel = crate::cmd::task::kernel(&demo, &args.agents, args.run_dir.path(), 300)?;
    let intake = Intake::open(&dir)?;
    let mut all_ok = true;
    for (i, c) in CASES.iter().enumerate() {
        println!("{}. {}", i + 1, c.title);
        if let Some(agent) = c.offline {
            kernel.set_online(agent, false);
            println!("   ({agent} marked offline)");
        }
        let scope = format!("run-demo-{}", i + 1);
        let input = intake.tokenise(
            &scope,
            c.customer,
            &serde_json::json!({ "message": c.message }),
        )?;
        println!("   customer wrote: {}", c.message);
        println!(
            "   the agent sees: {}",
            input["message"].as_str().unwrap_or("")
        );
        let id = kernel.submit(
            TaskSpec {
                entry: c.agent.into(),
                customer: c.customer.into(),
                case: c.case.into(),
                input,
                privacy_scope: Some(scope),
            },
            silo_keys::now_unix(),
        )?;
        kernel.run_until_idle(silo_keys::now_unix())?;
        let task = kernel.task(&id)?;
        let chain = turns(&kernel, &id)?;
        let state = serde_json::to_value(task.state)?;
        println!(
            "   → {} (cells: {}){}",
            state.as_str().unwrap_or("?"),
            if chain.is_empty() {
                "none".into()
            } else {
                chain.join(" → ")
            },
            task.outcome
                .as_deref()
                .map(|o| format!(": {o}"))
                .unwrap_or_default()
        );
        if task.state != c.expect {
            all_ok = false;
            println!("   !! expected {:?}", c.expect);
        }
        if let Some(agent) = c.offline {
            kernel.set_online(agent, true);
        }
        println!();
    }
    let verified = report(&dir)?;
    Ok(if all_ok && verified { 0 } else { 1 })
}

/// The agents that ran a turn for the task, in order.
fn turns(
    kernel: &silo_router::Kernel<silo_router::SqliteStore, silo_router::CellDispatcher>,
    id: &TaskId,
) -> anyhow::Result<Vec<String>> {
    Ok(kernel
        .events(id)?
        .into_iter()
        .filter_map(|e| match e.event {
            silo_router::Event::Dispatched { agent, .. } => Some(agent),
            _ => None,
        })
        .collect())
}

/// Prints what went out, the ledger, the refusals and the audit verification; `true` when
/// the log verifies.
fn report(dir: &std::path::Path) -> anyhow::Result<bool> {
    println!("What actually went out (the outbox, rendered by the membrane):");
    for m in DirOutbox::new(&Connectors::outbox_dir(dir)).messages(Channel::Email)? {
        println!(
            "   email to {} — {:?}",
            m.to,
            m.subject.as_deref().unwrap_or("")
        );
    }
    println!("\nRefunds in the ledger:");
    let ledger = SqliteLedger::open(&silo_membrane::Services::db_path(dir))?;
    for customer in ["cus_001", "cus_002", "cus_003"] {
        for r in ledger.refunds_for(customer)? {
            println!(
                "   {customer}: {}.{:02} {} by {} ({})",
                r.amount_cents / 100,
                r.amount_cents % 100,
                r.currency,
                r.agent,
                r.idempotency_key
            );
        }
    }
    let audit = AuditLog::open(dir)?;
    let all = audit.query(&Query::all())?;
    // Refused: denied by policy, or refused by the membrane after the policy (a raw
    // address, an unknown token…): every entry whose answer was an error.
    let refused: Vec<serde_json::Value> = all
        .iter()
        .filter_map(|e| serde_json::to_value(e).ok())
        .filter(|v| v["decision"] == "deny" || v["detail"]["status"].as_u64().unwrap_or(0) >= 400)
        .collect();
    println!(
        "\nAudit trail: {} entries, {} refused; the refusals:",
        all.len(),
        refused.len()
    );
    for v in &refused {
        println!(
            "   {:<14} {:<14} {}",
            v["agent"].as_str().unwrap_or("-"),
            v["action"].as_str().unwrap_or("-"),
            v["detail"]["code"]
                .as_str()
                .map(|c| format!("{c} (rule {})", v["rule"].as_str().unwrap_or("-")))
                .unwrap_or_default()
        );
    }
    let verified = audit.verify();
    match &verified {
        Ok(v) => println!(
            "\nsilo audit verify: ok — {} entries, hash chain and Merkle tree intact",
            v.size
        ),
        Err(e) => println!("\nsilo audit verify: FAILED: {e}"),
    }
    println!(
        "\nLook around: silo --data-dir {} audit tail | task inbox | membrane ledger --customer cus_001",
        dir.display()
    );
    Ok(verified.is_ok())
}
