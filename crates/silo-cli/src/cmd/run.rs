//! `silo run`: one agent invocation end to end (cell + membrane + keys + audit) without the
//! router; prints the task's result and the audit entries it produced.

use std::path::PathBuf;
use std::process::Stdio;

use silo_audit::Entry;
use silo_invoke::{Invocation, InvocationReport};
use silo_membrane::{CompletionStatus, Outcome};

use crate::cmd::cell::RunDir;
use crate::Ctx;

/// Arguments of `silo run`.
#[derive(clap::Args, Debug)]
#[command(
    long_about = "Run one agent invocation end to end, without the router: a fresh cell for the \
agent folder, its membrane on a Unix socket, a base key and a task key minted for it, the task \
input tokenised, every call audited. Prints the task's result and the audit entries it \
produced; the agent's own output goes to standard error. Needs root (per-agent uids, cgroups).",
    after_help = "Examples:
  silo run --agent agents/support-agent --customer cus_001 --case case_001 \\
      --input '{\"message\":\"hello\"}'
  silo --json run --agent examples/customer-service/agents/refund-agent \\
      --customer cus_001 --case case_001 --input @input.json

Exit status:
  0: the agent completed the task as done
  3: it escalated, redirected, or completed as needs-human or failed
  4: it recorded no outcome
  124: the cell's wall-clock timeout; 125: the cell could not be set up;
  127: the agent's command was not found; 128+N: killed by signal N;
  2: bad arguments; 1: any other error"
)]
pub struct RunArgs {
    /// The agent folder (with `agent.yaml`).
    #[arg(long)]
    pub agent: PathBuf,
    /// The customer the task is about (business database id, e.g. `cus_001`).
    #[arg(long)]
    pub customer: String,
    /// The case id (e.g. `case_001`).
    #[arg(long)]
    pub case: String,
    /// The task input as JSON, or `@FILE` (tokenised before the agent sees it).
    #[arg(long, value_name = "JSON|@FILE", default_value = "{}")]
    pub input: String,
    /// The task id [default: a fresh one].
    #[arg(long)]
    pub task: Option<String>,
    /// When an audit entry counts as recorded: `disk` (fsync per entry) or `process`
    /// (no fsync: survives a crash of silo, not of the machine).
    #[arg(long, env = "SILO_AUDIT_DURABILITY", default_value = "disk")]
    pub audit_durability: silo_audit::Durability,
    #[command(flatten)]
    pub run_dir: RunDir,
}

/// Runs `silo run`. Exit code: 0 when the agent completed the task as done, 3 when it
/// escalated or completed as needs-human/failed, 4 when it recorded nothing, otherwise the
/// cell's own code (125 setup, 124 timeout, 128+n signal).
pub fn run(args: RunArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    let input = crate::cmd::task::json_arg(&args.input, "--input")?;
    let host = crate::cmd::host(ctx, &args.run_dir.path(), args.audit_durability)?;
    let inv = Invocation {
        agent_dir: args.agent,
        customer: args.customer,
        case: args.case,
        input,
        task: args.task,
        run: None,
        input_tokenised: false,
        cell: None,
        task_key_jti: None,
        timeout_ms: None,
    };
    // The agent's output goes to our stderr, so stdout carries only the result.
    let report = silo_invoke::invoke(host, &inv, Stdio::from(std::io::stderr()), Stdio::inherit())?;
    if ctx.json {
        print_json(&report)?;
    } else {
        print_text(&report);
    }
    Ok(exit_code(&report))
}

fn exit_code(r: &InvocationReport) -> u8 {
    match r.outcome.as_ref().map(|o| &o.outcome) {
        _ if r.cell.exit_code() != 0 => r.cell.exit_code(),
        Some(Outcome::Complete {
            status: CompletionStatus::Done,
            ..
        }) => 0,
        Some(_) => 3,
        None => 4,
    }
}

fn print_json(r: &InvocationReport) -> anyhow::Result<()> {
    let v = serde_json::json!({
        "task": r.task,
        "cell": r.cell,
        "outcome": r.outcome,
        "audit": r.audit,
        "timings": r.timings,
    });
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

fn print_text(r: &InvocationReport) {
    println!("task {}  cell {}  {}", r.task, r.cell.id, describe_cell(r));
    match r.outcome.as_ref().map(|o| &o.outcome) {
        Some(Outcome::Complete {
            status, summary, ..
        }) => {
            println!("result: {}: {summary}", status.as_str());
        }
        Some(Outcome::Redirect {
            target,
            hard,
            summary,
            ..
        }) => {
            let code = if *hard { "301" } else { "302" };
            println!("result: redirected ({code}) to {target}: {summary}");
        }
        Some(Outcome::Escalate {
            target,
            reason,
            recommendation,
        }) => {
            println!("result: escalated to {target}: {reason} (recommends: {recommendation})");
        }
        None => println!(
            "result: none recorded (the agent neither completed, escalated nor redirected)"
        ),
    }
    println!("audit ({} entries):", r.audit.len());
    for e in &r.audit {
        println!("  {}", audit_line(e));
    }
}

fn describe_cell(r: &InvocationReport) -> String {
    let mut s = format!("exit {}", r.cell.exit_code());
    if let Some(note) = r.cell.limit_note() {
        s.push_str(&format!(" ({note})"));
    }
    s
}

fn audit_line(e: &Entry) -> String {
    let v = serde_json::to_value(e).unwrap_or_default();
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("-").to_string();
    let seq = v
        .get("seq")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    let detail = v.get("detail").map(|d| d.to_string()).unwrap_or_default();
    format!(
        "#{seq:<5} {:<14} {:<14} {:<32} {detail}",
        field("action"),
        field("decision"),
        field("rule")
    )
}
