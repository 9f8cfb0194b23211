//! `silo demo`: the customer-service example (`examples/customer-service`) end to end —
//! scripted cases through the router kernel and real cells on a fresh data directory,
//! then a short report (text, or one JSON document with `--json`): what the agents saw and
//! said (tokenised), what actually went out (hydrated, from the outbox), the ledger, the
//! case notes, the audit trail's refusals, and the audit log verified. The example is
//! compiled into `silo` (`build.rs`), so an installed binary runs it from any folder.

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
log verified. Needs root. The project: `--project`, else \
`examples/customer-service` under the current folder, else the project file in use, else \
the example compiled into silo, unpacked into <data-dir>/demo/project (owner-only). \
`--json` prints the report as one JSON document.",
    after_help = "Examples:
  silo demo                                     from the repository root, or anywhere
  silo demo --project examples/customer-service/silo.yaml
  silo --json demo | jq .audit.verify
  silo demo --unpack ./shop                     the example project, to explore or change

Exit status: 0 every case ended as scripted and the audit log verifies; 1 otherwise."
)]
pub struct DemoArgs {
    /// The project file whose agents, routing and seed data the demo uses (default: the
    /// customer-service example under the current folder, else the project file in use,
    /// else the example compiled into silo).
    #[arg(long)]
    pub project: Option<PathBuf>,
    /// Write the example compiled into silo (`examples/customer-service`) into this new or
    /// empty folder, and run nothing.
    #[arg(long, value_name = "DIR", conflicts_with = "project")]
    pub unpack: Option<PathBuf>,
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

/// The example compiled into `silo` (`build.rs`): every file of
/// `examples/customer-service` but its `silo-data/`.
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/example_files.rs"));
}

/// Where the demo's project comes from.
enum Source {
    /// A project file on disk: `--project`, or the example under the current directory.
    File(PathBuf),
    /// The project file in use (`--config`, `SILO_CONFIG` or `./silo.yaml`).
    InUse,
    /// The example compiled into `silo`, unpacked into the demo's fresh data directory.
    Embedded,
}

/// The project the demo runs: `--project`, else the example when run from the repository
/// root, else the project file in use, else the example compiled into `silo`.
fn source(args: &DemoArgs, ctx: &Ctx) -> Source {
    match &args.project {
        Some(p) => Source::File(p.clone()),
        None if Path::new(EXAMPLE).is_file() => Source::File(PathBuf::from(EXAMPLE)),
        None if ctx.config.file.is_some() => Source::InUse,
        None => Source::Embedded,
    }
}

/// Writes the embedded example into `dir` (created when missing; refused when it holds
/// anything): folders 0755 and files 0644 (0755 when executable), so that the agents,
/// which run under their own uids and read their folders as "other", can read them.
/// Returns how many files it wrote.
fn unpack_example(dir: &Path) -> anyhow::Result<usize> {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the permissions of `{}`", path.display()))
    };
    if dir.exists() {
        let mut entries =
            std::fs::read_dir(dir).with_context(|| format!("reading `{}`", dir.display()))?;
        if entries.next().is_some() {
            anyhow::bail!(
                "`{}` is not empty: give a new or empty folder to unpack the example into",
                dir.display()
            );
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
    mode(dir, 0o755)?;
    for (relative, executable, bytes) in embedded::EXAMPLE_FILES {
        let path = dir.join(relative);
        let mut parent = path.parent();
        let mut missing = Vec::new();
        while let Some(p) = parent.filter(|p| !p.exists()) {
            missing.push(p);
            parent = p.parent();
        }
        for p in missing.into_iter().rev() {
            std::fs::create_dir(p).with_context(|| format!("creating `{}`", p.display()))?;
            mode(p, 0o755)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("creating `{}`", path.display()))?;
        std::io::Write::write_all(&mut file, bytes)
            .with_context(|| format!("writing `{}`", path.display()))?;
        mode(&path, if *executable { 0o755 } else { 0o644 })?;
    }
    Ok(embedded::EXAMPLE_FILES.len())
}

/// `silo demo --unpack DIR`: the example project to explore or change.
fn unpack(dir: &Path, ctx: &Ctx) -> anyhow::Result<u8> {
    let files = unpack_example(dir)?;
    if ctx.json {
        println!("{}", serde_json::json!({ "unpacked": dir, "files": files }));
    } else {
        println!(
            "wrote the customer-service example ({files} files) to `{}`: cd {} && silo agent \
             list, or silo demo --project {}",
            dir.display(),
            dir.display(),
            dir.join("silo.yaml").display()
        );
    }
    Ok(0)
}

/// Prints a line of the text report; nothing with `--json`.
macro_rules! say {
    ($json:expr, $($arg:tt)*) => {
        if !$json {
            println!($($arg)*);
        }
    };
}

/// Runs the demo. Exit 0 when every case ended as scripted and the audit log verifies.
pub fn run(args: DemoArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    if let Some(dir) = &args.unpack {
        return unpack(dir, ctx);
    }
    let json = ctx.json;
    let source = source(&args, ctx);
    let embedded = matches!(source, Source::Embedded);
    // A project on disk loads before the previous demo is cleared: a broken one keeps it.
    let on_disk = match &source {
        Source::File(path) => Some(silo_config::Config::load(path)?),
        Source::InUse => Some(ctx.config.clone()),
        Source::Embedded => None,
    };
    // A fresh directory every run, so the demo always starts from the seed.
    let dir = ctx.data_dir.join("demo");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("clearing the previous demo in `{}`", dir.display()))?;
    }
    let config = match on_disk {
        Some(config) => config,
        None => {
            // Owner-only: nobody else lists the demo's project; the agent folders inside
            // are 0755 (their cells open them as root, then read them as the agent's uid).
            let private = dir.join("project");
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("creating `{}`", dir.display()))?;
            {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&private)
                    .with_context(|| format!("creating `{}`", private.display()))?;
            }
            let example = private.join("customer-service");
            unpack_example(&example)?;
            silo_config::Config::load(&example.join("silo.yaml"))?
        }
    };
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
    let llm = crate::cmd::llm_upstream(&demo)?.is_some();
    let mode = if llm {
        "llm (an LLM upstream is configured: agents ask it, their rules decide)"
    } else {
        "rules (no LLM upstream configured: agents follow their written instructions)"
    };
    let project = demo
        .config
        .file
        .as_deref()
        .map_or_else(|| "the project".to_owned(), |f| f.display().to_string());
    if embedded {
        say!(
            json,
            "silo demo — the customer-service example built into silo, unpacked as `{project}`"
        );
    } else {
        say!(json, "silo demo — {project}");
    }
    say!(
        json,
        "data: fresh `{}` (SQLite business database {seeded}; outbox on disk; no external service)",
        dir.display()
    );
    say!(json, "mode: {mode}\n");
    let kernel = crate::cmd::task::kernel(&demo, None, args.run_dir.path(), Some(300))?;
    let intake = Intake::open(&dir)?;
    let mut all_ok = true;
    let mut cases = Vec::new();
    for (i, c) in CASES.iter().enumerate() {
        say!(json, "{}. {}", i + 1, c.title);
        if let Some(agent) = c.offline {
            kernel.set_online(agent, false, silo_keys::now_unix())?;
            say!(json, "   ({agent} marked offline)");
        }
        let scope = format!("run-demo-{}", i + 1);
        let input = intake.tokenise(
            &scope,
            c.customer,
            &serde_json::json!({ "message": c.message }),
        )?;
        let sees = input["message"].as_str().unwrap_or("").to_owned();
        say!(json, "   customer wrote: {}", c.message);
        say!(json, "   agent sees:     {sees}");
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
        let mut turns = Vec::new();
        for e in kernel.events(&id)? {
            match e.event {
                Event::Dispatched { agent, .. } => cells.push(agent),
                Event::AgentResult { agent, result, .. } => {
                    let said = said(&result);
                    say!(json, "   {agent:<17} {said}");
                    turns.push(serde_json::json!({
                        "agent": agent,
                        "said": said,
                        "result": result,
                    }));
                }
                _ => {}
            }
        }
        let state = serde_json::to_value(task.state)?;
        say!(
            json,
            "   → {} (cells: {})",
            state.as_str().unwrap_or("?"),
            if cells.is_empty() {
                "none".into()
            } else {
                cells.join(" → ")
            },
        );
        let ok = task.state == c.expect;
        if !ok {
            all_ok = false;
            say!(
                json,
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
        say!(json, "");
        cases.push(serde_json::json!({
            "title": c.title,
            "entry": c.entry,
            "customer": c.customer,
            "case": c.case,
            "offline": c.offline,
            "customer_wrote": c.message,
            "agent_sees": sees,
            "task": id,
            "turns": turns,
            "cells": cells,
            "state": state,
            "expected": c.expect,
            "outcome": task.outcome,
            "ok": ok,
        }));
    }
    let report = report(&dir, json)?;
    let verified = report["audit"]["verify"]["ok"] == true;
    let ok = all_ok && verified;
    if json {
        let out = serde_json::json!({
            "project": demo.config.file,
            "embedded": embedded,
            "data_dir": dir,
            "seeded": seeded,
            "mode": if llm { "llm" } else { "rules" },
            "cases": cases,
            "outbox": report["outbox"],
            "refunds": report["refunds"],
            "case_notes": report["case_notes"],
            "audit": report["audit"],
            "ok": ok,
        });
        println!("{out}");
    }
    if !ok {
        // The report says which case went wrong; standard error says that one did.
        eprintln!("silo demo: a case did not end as expected (see the report: `!! expected`)");
    }
    Ok(if ok { 0 } else { 1 })
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
/// verification (nothing with `json`), and returns the same facts as JSON: `outbox`,
/// `refunds`, `case_notes` and `audit` (`entries`, `refused`, `verify.ok`).
fn report(dir: &Path, json: bool) -> anyhow::Result<serde_json::Value> {
    say!(
        json,
        "What actually went out (the outbox, hydrated by the membrane; no agent saw these):"
    );
    let outbox = DirOutbox::new(&Connectors::outbox_dir(dir));
    let mut sent = outbox.messages(Channel::Email)?;
    sent.extend(outbox.messages(Channel::Sms)?);
    sent.sort_by(|a, b| (a.created_at, &a.task).cmp(&(b.created_at, &b.task)));
    for m in &sent {
        let first = m.body.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        say!(
            json,
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
    say!(json, "\nRefunds in the ledger:");
    let ledger = SqliteLedger::open(&Services::db_path(dir))?;
    let mut customers: Vec<&str> = CASES.iter().map(|c| c.customer).collect();
    customers.dedup();
    let mut refunds = Vec::new();
    for customer in &customers {
        for r in ledger.refunds_for(customer)? {
            say!(
                json,
                "   {customer}: {} {} by {} ({})",
                dollars(r.amount_cents),
                r.currency,
                r.agent,
                r.idempotency_key
            );
            refunds.push(r);
        }
    }
    say!(
        json,
        "\nCase notes the agents wrote (stored as written: tokens stay tokens):"
    );
    let data = SqliteData::open(&Connectors::business_db(dir))?;
    let mut cases: Vec<&str> = CASES.iter().map(|c| c.case).collect();
    cases.dedup();
    let mut case_notes = Vec::new();
    for case in cases {
        if let Some((status, notes)) = data.case(case)? {
            for note in notes {
                say!(json, "   {case} ({status}): {note}");
                case_notes
                    .push(serde_json::json!({ "case": case, "status": status, "note": note }));
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
    say!(
        json,
        "\nAudit trail: {} entries, {} refused; the refusals:",
        all.len(),
        refused.len()
    );
    let mut refusals = Vec::new();
    for v in &refused {
        let code = v["detail"]["code"].as_str().unwrap_or("-");
        let by_policy = v["decision"] == "deny" && code == "denied";
        let why = if by_policy {
            format!(
                "denied by policy (rule {})",
                v["rule"].as_str().unwrap_or("-")
            )
        } else {
            // The policy allowed the action; the membrane refused the request itself (a
            // raw address instead of the customer's token, an unknown token…).
            format!("refused by the membrane ({code})")
        };
        say!(
            json,
            "   {:<14} {:<14} {why}",
            v["agent"].as_str().unwrap_or("-"),
            v["action"].as_str().unwrap_or("-"),
        );
        refusals.push(serde_json::json!({
            "agent": v["agent"],
            "action": v["action"],
            "by": if by_policy { "policy" } else { "membrane" },
            "rule": v["rule"],
            "code": code,
            "why": why,
        }));
    }
    let verified = audit.verify();
    let verify = match &verified {
        Ok(v) => {
            say!(
                json,
                "\nsilo audit verify: ok — {} entries, hash chain and Merkle tree intact",
                v.size
            );
            serde_json::json!({ "ok": true, "size": v.size, "root": v.root })
        }
        Err(e) => {
            say!(json, "\nsilo audit verify: FAILED: {e}");
            serde_json::json!({ "ok": false, "error": e.to_string() })
        }
    };
    say!(
        json,
        "\nLook around: silo --data-dir {} audit tail | task inbox | membrane ledger --customer cus_001",
        dir.display()
    );
    Ok(serde_json::json!({
        "outbox": sent,
        "refunds": refunds,
        "case_notes": case_notes,
        "audit": {
            "entries": all.len(),
            "refused": refusals,
            "verify": verify,
        },
    }))
}
