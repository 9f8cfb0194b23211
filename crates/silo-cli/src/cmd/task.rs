//! `silo task`: submit a task to the router kernel and run it to rest in this process
//! (every agent turn a real cell), and read tasks, their events and the human inbox from
//! the router's store. The `silo serve` daemon comes later; this is the same kernel.

use std::path::PathBuf;

use anyhow::Context;
use silo_router::{
    routing_from_agents_dir, AgentResult, CellDispatcher, Kernel, KernelConfig, SqliteStore,
    TaskId, TaskSpec, TaskView,
};

use crate::cmd::cell::RunDir;
use crate::Ctx;

/// `silo task` commands.
#[derive(clap::Subcommand, Debug)]
pub enum TaskCmd {
    /// Submit a task and run it until it completes, fails or waits for a human.
    Submit(Box<SubmitArgs>),
    /// Show a task.
    Show {
        /// The task id.
        id: String,
    },
    /// A task's events, in order.
    Events {
        /// The task id.
        id: String,
    },
    /// Tasks waiting in a human pool's inbox.
    Inbox {
        /// The pool.
        #[arg(long, default_value = silo_router::DEFAULT_HUMAN_POOL)]
        pool: String,
    },
    /// An operator takes a task from the inbox.
    Take {
        /// The task id.
        id: String,
        /// Who takes it.
        #[arg(long)]
        operator: String,
    },
    /// The operator who took a task ends their turn; the router carries on from it.
    Answer(Box<AnswerArgs>),
}

/// Arguments of `silo task answer`.
#[derive(clap::Args, Debug)]
pub struct AnswerArgs {
    /// The task id.
    pub id: String,
    /// Who answers (must have taken the task).
    #[arg(long)]
    pub operator: String,
    /// `done`, `failed` or `escalate`.
    #[arg(long)]
    pub result: String,
    /// Summary (done/failed) or reason (escalate).
    #[arg(long)]
    pub summary: String,
    /// Escalation target (with `--result escalate`).
    #[arg(long)]
    pub target: Option<String>,
    /// Where the agent folders are.
    #[arg(long, default_value = "agents")]
    pub agents: PathBuf,
    #[command(flatten)]
    pub run_dir: RunDir,
}

/// Arguments of `silo task submit`.
#[derive(clap::Args, Debug)]
pub struct SubmitArgs {
    /// The agent (a folder of the agents directory) or route to start with.
    #[arg(long)]
    pub agent: String,
    /// The customer (business database id).
    #[arg(long)]
    pub customer: String,
    /// The case id.
    #[arg(long)]
    pub case: String,
    /// The task input as JSON, or `@FILE`.
    #[arg(long, default_value = "{}")]
    pub input: String,
    /// Where the agent folders are.
    #[arg(long, default_value = "agents")]
    pub agents: PathBuf,
    #[command(flatten)]
    pub run_dir: RunDir,
}

/// How long a claimed job is held by an in-process kernel before another may take it.
const LEASE_SECS: u64 = 300;

fn store(ctx: &Ctx) -> anyhow::Result<SqliteStore> {
    let path = ctx.data_dir.join("router").join("router.db");
    SqliteStore::open(&path)
        .with_context(|| format!("opening the router store `{}`", path.display()))
}

fn now() -> u64 {
    silo_keys::now_unix()
}

/// Runs a `silo task` command.
pub fn run(cmd: TaskCmd, ctx: &Ctx) -> anyhow::Result<u8> {
    match cmd {
        TaskCmd::Submit(args) => submit(*args, ctx),
        TaskCmd::Show { id } => {
            let task = silo_router::Store::get(&store(ctx)?, &TaskId(id.clone()))?
                .with_context(|| format!("no task `{id}`"))?;
            print_task(&task, ctx)?;
            Ok(0)
        }
        TaskCmd::Events { id } => {
            let events = silo_router::Store::events(&store(ctx)?, Some(&TaskId(id)))?;
            if ctx.json {
                println!("{}", serde_json::to_string_pretty(&events)?);
            } else {
                for e in &events {
                    println!("#{:<5} {}", e.seq, serde_json::to_string(&e.event)?);
                }
            }
            Ok(0)
        }
        TaskCmd::Take { id, operator } => {
            let task = silo_router::Store::apply(
                &store(ctx)?,
                &TaskId(id),
                &silo_router::Event::HumanAssigned { operator },
                now(),
                None,
            )?;
            print_task(&task, ctx)?;
            Ok(0)
        }
        TaskCmd::Answer(a) => answer(*a, ctx),
        TaskCmd::Inbox { pool } => {
            let tasks = silo_router::Store::waiting_for(&store(ctx)?, &pool)?;
            if ctx.json {
                println!("{}", serde_json::to_string_pretty(&tasks)?);
            } else if tasks.is_empty() {
                println!("the `{pool}` inbox is empty");
            } else {
                for t in &tasks {
                    println!(
                        "{}  customer {}  case {}  {}",
                        t.id,
                        t.spec.customer,
                        t.spec.case,
                        t.run.summary.as_deref().unwrap_or("")
                    );
                }
            }
            Ok(0)
        }
    }
}

/// The kernel over the data directory's store, dispatching to cells for the agents of
/// `agents`, with the agents marked offline (`silo agent offline`) offline.
pub(crate) fn kernel(
    ctx: &Ctx,
    agents: &std::path::Path,
    run_dir: PathBuf,
    lease_secs: u64,
) -> anyhow::Result<Kernel<SqliteStore, CellDispatcher>> {
    let routing = routing_from_agents_dir(agents)?;
    let data_dir = ctx.data_dir.clone();
    let dispatcher = CellDispatcher::new(agents, move || {
        crate::cmd::host(&data_dir, &run_dir, silo_audit::Durability::Disk)
            .map_err(|e| silo_invoke::InvokeError::Invalid(format!("{e:#}")))
    });
    let config = KernelConfig {
        lease_secs,
        ..KernelConfig::default()
    };
    let mut kernel = Kernel::new(store(ctx)?, dispatcher, routing, config);
    for agent in crate::cmd::agent::offline(ctx)? {
        kernel.set_online(&agent, false);
    }
    Ok(kernel)
}

fn submit(args: SubmitArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    let input: serde_json::Value = match args.input.strip_prefix('@') {
        Some(file) => serde_json::from_str(
            &std::fs::read_to_string(file).with_context(|| format!("reading `{file}`"))?,
        ),
        None => serde_json::from_str(&args.input),
    }
    .context("--input is not valid JSON")?;
    let kernel = kernel(ctx, &args.agents, args.run_dir.path(), LEASE_SECS)?;
    // The input is tokenised before the router stores it: neither its store nor a cell
    // ever holds the raw text, and every turn of the run shares the tokens.
    let scope = format!("run-{}", &silo_keys::new_jti()?[..16]);
    let input = silo_membrane::Intake::open(&ctx.data_dir)?
        .tokenise(&scope, &args.customer, &input)
        .context("tokenising the task input")?;
    let id = kernel.submit(
        TaskSpec {
            entry: args.agent,
            customer: args.customer,
            case: args.case,
            input,
            privacy_scope: Some(scope),
        },
        now(),
    )?;
    kernel.run_until_idle(now())?;
    finish(&kernel, &id, ctx)
}

fn finish(
    kernel: &Kernel<SqliteStore, CellDispatcher>,
    id: &TaskId,
    ctx: &Ctx,
) -> anyhow::Result<u8> {
    let task = kernel.task(id)?;
    print_task(&task, ctx)?;
    Ok(match task.state {
        silo_router::State::Completed => 0,
        silo_router::State::WaitingForHuman | silo_router::State::WithHuman => 3,
        _ => 1,
    })
}

fn print_task(t: &TaskView, ctx: &Ctx) -> anyhow::Result<()> {
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(t)?);
    } else {
        println!(
            "{}  {}  agent {}  turns {}",
            t.id,
            serde_json::to_value(t.state)?.as_str().unwrap_or("?"),
            t.run.agent,
            t.dispatches
        );
        if let Some(o) = &t.outcome {
            println!("outcome: {o}");
        } else if let Some(s) = &t.run.summary {
            println!("last: {s}");
        }
    }
    Ok(())
}

fn answer(a: AnswerArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    let result = match (a.result.as_str(), a.target) {
        ("done", None) => AgentResult::Done {
            summary: a.summary,
            assets: Vec::new(),
        },
        ("failed", None) => AgentResult::Failed { summary: a.summary },
        ("escalate", Some(target)) => AgentResult::Escalate {
            target,
            reason: a.summary,
            recommendation: String::new(),
        },
        ("escalate", None) => anyhow::bail!("--result escalate needs --target"),
        (_, Some(_)) => anyhow::bail!("--target goes with --result escalate only"),
        (other, None) => anyhow::bail!("--result `{other}` is not done, failed or escalate"),
    };
    let kernel = kernel(ctx, &a.agents, a.run_dir.path(), LEASE_SECS)?;
    let id = TaskId(a.id);
    kernel.human_result(&id, &a.operator, result, now())?;
    kernel.run_until_idle(now())?;
    finish(&kernel, &id, ctx)
}
