//! `silo demo`: the customer-service example (`examples/customer-service`) end to end —
//! scripted cases through the router kernel and real cells on a fresh data directory,
//! then a short report: what the agents saw and said (tokenised), what actually went out
//! (hydrated, from the outbox), the ledger, the case notes, the audit trail's refusals,
//! and the audit log verified.

use std::path::{Path, PathBuf};

use anyhow::Context;
use silo_audit::{AuditLog, Query};
use silo_membrane::connectors::data::SqliteData;
use silo_membrane::connectors::outbox::{Channel, DirOutbox};
use silo_membrane::{Connectors, Intake, Ledger, Services, SqliteLedger};
use silo_router::{AgentResult, Event, State, TaskSpec};

use crate::cmd::cell::RunDir;
use crate::Ctx;

/// The example the demo runs, relative to the repository root.
const EXAMPLE: &str = "examples/customer-service/silo.yaml";

/// Arguments of `silo demo`.
#[derive(clap::Args, Debug)]
#[command(
    long_about = "The customer-service example end to end: six scripted cases through the \
router kernel and real cells on a fresh data directory (<data-dir>/demo), then a report of \
what the agents saw and said (tokenised), what actually went out (hydrated, from the \
outbox), the refund ledger, the case notes, the refusals in the audit trail, and the audit \
log verified. Needs root.",
    after_help = "Examples:
  silo demo                                     from the repository root
  silo demo --project examples/customer-service/silo.yaml

Exit status: 0 every case ended as scripted and the audit log verifies; 1 otherwise."
)]
pub struct DemoArgs {
    /// The project file whose agents, routing and seed data the demo uses (default: the
    /// customer-service example, else the project file in use).
    #[arg(long)]
    pub project: Option<PathBuf>,
    #[command(flatten)]
    pub run_dir: RunDir,
}

struct Case {
    title: &'static str,
    /// A route of the project's routing table, an agent or a workflow.
    entry: &'static str,
    customer: &'static str,
    case: &'static str,
    message: &'static str,
    offline: Option<&'static str>,
    expect: State,
}

const CASES: [Case; 6] = [
    Case {
        title: "a $120.00 refund the refund agent may pay",
        entry: "refund",
        customer: "cus_001",
        case: "case_001",
        message: "Hello, Jane Smith here (jane.smith@example.com, +1 555 010 2030). My espresso machine ord_1002 arrived with a cracked water tank.",
        offline: None,
        expect: State::Completed,
    },
    Case {
        title: "a $700.00 refund over its $500 limit: escalated to the manager agent",
        entry: "refund",
        customer: "cus_001",
        case: "case_001",
        message: "It's Jane Smith again: the sofa ord_1003 arrived broken, one leg snapped.",
        offline: None,
        expect: State::Completed,
    },
    Case {
        title: "the refund agent is offline: the task waits for a person",
        entry: "refund",
        customer: "cus_006",
        case: "case_006",
        message: "Hi, Aisha Bello here (+44 161 496 0732): my rain jacket ord_6001 is two weeks late.",
        offline: Some("refund-agent"),
        expect: State::WaitingForHuman,
    },
    Case {
        title: "a hostile agent tries to exfiltrate personal data and overspend",
        entry: "hostile-agent",
        customer: "cus_003",
        case: "case_003",
        message: "Li Wei (li.wei@example.org): please refund my returned toaster ord_3001.",
        offline: None,
        expect: State::WaitingForHuman,
    },
    Case {
        title: "collections: a payment reminder by text message",
        entry: "collections",
        customer: "cus_004",
        case: "case_004",
        message: "Monthly collections run: invoice INV-2291 for María José García is 30 days overdue.",
        offline: None,
        expect: State::Completed,
    },
    Case {
        title: "a customer message through the workflow: intent → refund → response",
        entry: "message",
        customer: "cus_002",
        case: "case_002",
        message: "Omar Haddad here, omar.haddad@example.net: my tea sampler ord_2001 arrived damaged, the tin was crushed.",
        offline: None,
        expect: State::Completed,
    },
];

/// The project the demo runs: `--project`, else the example when run from the repository
/// root, else the project file in use.
fn project(args: &DemoArgs, ctx: &Ctx) -> anyhow::Result<silo_config::Config> {
    let path = match &args.project {
        Some(p) => p.clone(),
        None if Path::new(EXAMPLE).is_file() => PathBuf::from(EXAMPLE),
        None => match &ctx.config.file {
            Some(_) => return Ok(ctx.config.clone()),
            None => anyhow::bail!(
                "no project to run the demo on: run it from the repository root (it uses \
                 `{EXAMPLE}`) or give `--project FILE`"
            ),
        },
    };
    Ok(silo_config::Config::load(&path)?)
}

/// Runs the demo. Exit 0 when every case ended as scripted and the audit log verifies.
pub fn run(args: DemoArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    let config = project(&args, ctx)?;
    // A fresh directory every run, so the demo always starts from the seed.
    let dir = ctx.data_dir.join("demo");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("clearing the previous demo in `{}`", dir.display()))?;
    }
    // The demo always runs on the embedded default, whatever database is configured.
    let demo = Ctx {
        data_dir: dir.clone(),
        config,
        json: false,
        database_url: None,
        database: Default::default(),
    };
    let seeded = match &demo.config.seed {
        Some(seed) => {
            Services::seed_business_db(&dir, seed)?;
            format!("seeded from `{}`", seed.display())
        }
        None => "built-in customers".to_owned(),
    };
    let mode = match crate::cmd::llm_upstream(&demo)? {
        Some(_) => "llm (an LLM upstream is configured: agents ask it, their rules decide)",
        None => "rules (no LLM upstream configured: agents follow their written instructions)",
    };
    println!(
        "silo demo — {}",
        demo.config
            .file
            .as_deref()
            .map_or_else(|| "the project".to_owned(), |f| f.display().to_string())
    );
    println!(
        "data: fresh `{}` (SQLite business database {seeded}; outbox on disk; no external service)",
        dir.display()
    );
    println!("mode: {mode}\n");
    let kernel = crate::cmd::task::kernel(&demo, None, args.run_dir.path(), Some(300))?;
    let intake = Intake::open(&dir)?;
    let mut all_ok = true;
    for (i, c) in CASES.iter().enumerate() {
        println!("{}. {}", i + 1, c.title);
        if let Some(agent) = c.offline {
            kernel.set_online(agent, false, silo_keys::now_unix())?;
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
            "   agent sees:     {}",
            input["message"].as_str().unwrap_or("")
        );
        let id = kernel.submit(
            TaskSpec {
                entry: c.entry.into(),
                customer: c.customer.into(),
                case: c.case.into(),
                input,
                privacy_scope: Some(scope),
            },
            silo_keys::now_unix(),
        )?;
        kernel.run_until_idle(silo_keys::now_unix())?;
        let task = kernel.task(&id)?;
        let mut cells = Vec::new();
        for e in kernel.events(&id)? {
            match e.event {
                Event::Dispatched { agent, .. } => cells.push(agent),
                Event::AgentResult { agent, result, .. } => {
                    println!("   {agent:<17} {}", said(&result));
                }
                _ => {}
            }
        }
        let state = serde_json::to_value(task.state)?;
        println!(
            "   → {} (cells: {})",
            state.as_str().unwrap_or("?"),
            if cells.is_empty() {
                "none".into()
            } else {
                cells.join(" → ")
            },
        );
        if task.state != c.expect {
            all_ok = false;
            println!(
                "   !! expected {:?}{}",
                c.expect,
                task.outcome
                    .as_deref()
                    .map(|o| format!(": {o}"))
                    .unwrap_or_default()
            );
        }
        if let Some(agent) = c.offline {
            kernel.set_online(agent, true, silo_keys::now_unix())?;
        }
        println!();
    }
    let verified = report(&dir)?;
    Ok(if all_ok && verified { 0 } else { 1 })
}

/// One agent turn's result, as the router recorded it (tokenised, like everything an
/// agent writes).
fn said(result: &AgentResult) -> String {
    let short = |s: &str| {
        if s.chars().count() > 400 {
            format!("{}…", s.chars().take(400).collect::<String>())
        } else {
            s.to_owned()
        }
    };
    match result {
        AgentResult::Done { summary, .. } => format!("done: {}", short(summary)),
        AgentResult::SoftRedirect { target, summary } => {
            format!("302 → {target}: {}", short(summary))
        }
        AgentResult::HardRedirect { target, summary } => {
            format!("301 → {target}: {}", short(summary))
        }
        AgentResult::NeedsHuman { summary } => format!("needs a person: {}", short(summary)),
        AgentResult::Failed { summary } => format!("failed: {}", short(summary)),
        AgentResult::Escalate {
            target,
            reason,
            recommendation,
        } => format!("escalate → {target}: {reason} — {}", short(recommendation)),
    }
}

fn dollars(cents: i64) -> String {
    format!(
        "{}${}.{:02}",
        if cents < 0 { "-" } else { "" },
        cents.abs() / 100,
        cents.abs() % 100
    )
}

/// Prints what went out, the ledger, the case notes, the refusals and the audit
/// verification; `true` when the log verifies.
fn report(dir: &Path) -> anyhow::Result<bool> {
    println!("What actually went out (the outbox, hydrated by the membrane; no agent saw these):");
    let outbox = DirOutbox::new(&Connectors::outbox_dir(dir));
    let mut sent = outbox.messages(Channel::Email)?;
    sent.extend(outbox.messages(Channel::Sms)?);
    sent.sort_by(|a, b| (a.created_at, &a.task).cmp(&(b.created_at, &b.task)));
    for m in &sent {
        let first = m.body.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        println!(
            "   {:<5} to {} from {} — {}",
            m.channel.as_str(),
            m.to,
            m.agent,
            match &m.subject {
                Some(s) => format!("{s:?} ({first})"),
                None => format!("{first:?}"),
            }
        );
    }
    println!("\nRefunds in the ledger:");
    let ledger = SqliteLedger::open(&Services::db_path(dir))?;
    let mut customers: Vec<&str> = CASES.iter().map(|c| c.customer).collect();
    customers.dedup();
    for customer in &customers {
        for r in ledger.refunds_for(customer)? {
            println!(
                "   {customer}: {} {} by {} ({})",
                dollars(r.amount_cents),
                r.currency,
                r.agent,
                r.idempotency_key
            );
        }
    }
    println!("\nCase notes the agents wrote (stored as written: tokens stay tokens):");
    let data = SqliteData::open(&Connectors::business_db(dir))?;
    let mut cases: Vec<&str> = CASES.iter().map(|c| c.case).collect();
    cases.dedup();
    for case in cases {
        if let Some((status, notes)) = data.case(case)? {
            for note in notes {
                println!("   {case} ({status}): {note}");
            }
        }
    }
    let audit = AuditLog::open(dir)?;
    let all = audit.query(&Query::all())?;
    // Refused: denied by policy, or refused by the membrane after the policy (a raw
    // address, an unknown token…). An LLM call with no upstream configured is how an
    // agent learns it runs on rules, not a refusal.
    let refused: Vec<serde_json::Value> = all
        .iter()
        .filter_map(|e| serde_json::to_value(e).ok())
        .filter(|v| v["decision"] == "deny" || v["detail"]["status"].as_u64().unwrap_or(0) >= 400)
        .filter(|v| v["detail"]["code"] != "upstream_unavailable")
        .collect();
    println!(
        "\nAudit trail: {} entries, {} refused; the refusals:",
        all.len(),
        refused.len()
    );
    for v in &refused {
        let code = v["detail"]["code"].as_str().unwrap_or("-");
        let why = if v["decision"] == "deny" && code == "denied" {
            format!(
                "denied by policy (rule {})",
                v["rule"].as_str().unwrap_or("-")
            )
        } else {
            // The policy allowed the action; the membrane refused the request itself (a
            // raw address instead of the customer's token, an unknown token…).
            format!("refused by the membrane ({code})")
        };
        println!(
            "   {:<14} {:<14} {why}",
            v["agent"].as_str().unwrap_or("-"),
            v["action"].as_str().unwrap_or("-"),
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
