//! `silo task`: submit a task to the router kernel and run it to rest in this process
//! (every agent turn a real cell), and read tasks, their events and the human inbox from
//! the router's store. The `silo serve` daemon comes later; this is the same kernel.

use std::path::PathBuf;

use anyhow::Context;
use silo_router::{
    AgentResult, AnyStore, CellDispatcher, Kernel, KernelConfig, TaskId, TaskSpec, TaskView,
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
    /// What a finished task's run kept: its agents' `output/…` scratch keys.
    Output {
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
    /// The operator who took a task acts on it through the membrane, with their own base
    /// key (`operators:` in silo.yaml) and a task key for it: the same tokenised view,
    /// tools, limits and audit as an agent.
    Act(Box<ActArgs>),
    /// Tasks, newest first, filtered by state, current agent or customer.
    List {
        /// Only tasks in this state (`queued`, `waiting_for_human`, `completed`, …).
        #[arg(long)]
        state: Option<String>,
        /// Only tasks whose run is with this agent or human pool now.
        #[arg(long)]
        agent: Option<String>,
        /// Only tasks about this customer.
        #[arg(long)]
        customer: Option<String>,
        /// At most this many tasks (1 to 1000).
        #[arg(long, default_value_t = silo_router::TaskFilter::DEFAULT_LIMIT as u64,
              value_parser = clap::value_parser!(u64).range(1..=silo_router::TaskFilter::MAX_LIMIT as u64))]
        limit: u64,
    },
}

/// Arguments of `silo task answer`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  silo task answer T-1 --operator ana --result done --summary 'refunded by phone'
  silo task answer T-1 --operator ana --result escalate --target manager-agent \\
      --summary 'needs a manager'

Exit status: as `silo task submit`: 0 completed, 3 waits for a person, 1 failed or error.")]
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
    /// Where the agent folders are (default: the project file's `agents`).
    #[arg(long)]
    pub agents: Option<PathBuf>,
    #[command(flatten)]
    pub run_dir: RunDir,
}

/// Arguments of `silo task act`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  silo task act T-1 --operator ana GET /v1/data/customer
  silo task act T-1 --operator ana POST /v1/refund \\
      --body '{\"order\":\"ord_1002\",\"amount\":4599,\"currency\":\"USD\"}'

Exit status: 0 when the membrane answered 2xx, 1 otherwise.")]
pub struct ActArgs {
    /// The task id.
    pub id: String,
    /// Who acts (must have taken the task; an operator of silo.yaml).
    #[arg(long)]
    pub operator: String,
    /// `GET` or `POST`.
    #[arg(value_parser = ["GET", "POST"])]
    pub method: String,
    /// The membrane route, e.g. `/v1/data/customer` or `/v1/refund` (docs/PROTOCOL.md).
    pub path: String,
    /// The JSON body (for POST), or `@FILE`.
    #[arg(long, value_name = "JSON|@FILE")]
    pub body: Option<String>,
    #[command(flatten)]
    pub run_dir: RunDir,
}

/// Arguments of `silo task submit`.
#[derive(clap::Args, Debug)]
#[command(
    long_about = "Submit a task to the router kernel and run it in this process until it \
completes, fails or waits for a human: every agent turn is a real cell. The input is \
tokenised before the router stores it. With --server, the task goes to a running \
`silo serve` instead (and --wait waits for it there).",
    after_help = "Examples:
  silo task submit --agent refund --customer cus_001 --case case_001 \\
      --input '{\"message\":\"my order arrived broken\"}'
  silo task submit --workflow support --customer cus_002 --case case_002 --input @msg.json
  silo --json task submit --server http://127.0.0.1:8700 --wait --agent refund \\
      --customer cus_001 --case case_001

Exit status:
  0: the task completed (with --server and no --wait: it was accepted)
  3: it waits for a person (waiting_for_human or with_human)
  1: it failed or was aborted, or any other error; 2: bad arguments"
)]
pub struct SubmitArgs {
    /// The agent (a folder of the agents directory) or route to start with.
    #[arg(
        long,
        required_unless_present = "workflow",
        conflicts_with = "workflow"
    )]
    pub agent: Option<String>,
    /// The workflow (a file of the workflows directory) to run.
    #[arg(long)]
    pub workflow: Option<String>,
    /// The customer (business database id).
    #[arg(long)]
    pub customer: String,
    /// The case id.
    #[arg(long)]
    pub case: String,
    /// The task input as JSON, or `@FILE`.
    #[arg(long, value_name = "JSON|@FILE", default_value = "{}")]
    pub input: String,
    /// Hand the task to a running `silo serve` at this address (e.g.
    /// `http://127.0.0.1:8700`) instead of running it in this process.
    #[arg(long)]
    pub server: Option<String>,
    /// With `--server`: wait (up to an hour) until the task completes, fails or waits for a person.
    #[arg(long, requires = "server")]
    pub wait: bool,
    /// Where the agent folders are (default: the project file's `agents`).
    #[arg(long)]
    pub agents: Option<PathBuf>,
    #[command(flatten)]
    pub run_dir: RunDir,
}

fn store(ctx: &Ctx) -> anyhow::Result<AnyStore> {
    crate::cmd::backend::router_store(ctx)
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
            let kernel = kernel(ctx, None, silo_cell::default_run_dir(), None)?;
            let id = TaskId(id);
            let view = kernel.task(&id)?;
            // With operators in the project file, only theirs, in their own pool.
            if !ctx.config.operators.is_empty() {
                let op = ctx.config.operators.get(&operator).with_context(|| {
                    format!("`{operator}` is not an operator of the project (`operators:` in silo.yaml)")
                })?;
                if view.run.agent != op.pool {
                    anyhow::bail!(
                        "task `{id}` is in the `{}` pool; operator `{operator}` works the `{}` pool",
                        view.run.agent,
                        op.pool
                    );
                }
            }
            let task = kernel.take(&id, &operator, now())?;
            print_task(&task, ctx)?;
            Ok(0)
        }
        TaskCmd::Answer(a) => answer(*a, ctx),
        TaskCmd::Output { id } => {
            let task = silo_router::Store::get(&store(ctx)?, &TaskId(id.clone()))?
                .with_context(|| format!("no task `{id}`"))?;
            let scope = task
                .spec
                .privacy_scope
                .with_context(|| format!("task `{id}` has no run scope"))?;
            let kv = crate::cmd::backend::kv(ctx)?;
            let entries = kv.entries(&scope, silo_membrane::OUTPUT_PREFIX)?;
            let map: serde_json::Map<String, serde_json::Value> = entries.into_iter().collect();
            if ctx.json {
                println!("{}", serde_json::Value::Object(map));
            } else if map.is_empty() {
                println!("task `{id}` kept no output");
            } else {
                for (key, value) in &map {
                    println!("{key}: {value}");
                }
            }
            Ok(0)
        }
        TaskCmd::Act(a) => act(*a, ctx),
        TaskCmd::List {
            state,
            agent,
            customer,
            limit,
        } => list(state, agent, customer, limit, ctx),
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
                        t.waiting_because
                            .as_deref()
                            .or(t.run.summary.as_deref())
                            .unwrap_or("")
                    );
                }
            }
            Ok(0)
        }
    }
}

/// The project's routing table: the agents of `agents` (default: the project file's),
/// its workflows, human pools and routes.
pub(crate) fn routing(
    ctx: &Ctx,
    agents: Option<&std::path::Path>,
) -> anyhow::Result<silo_router::RoutingTable> {
    let project = &ctx.config;
    let agents = agents.unwrap_or(&project.agents);
    let workflows = silo_router::load_workflows(&project.workflows)?;
    let setup = silo_router::RoutingSetup {
        humans: project.routing.humans.clone(),
        default_human: project.routing.default_human.clone(),
        human_for: project.routing.human_for.clone(),
        routes: project
            .routing
            .routes
            .iter()
            .map(|(name, route)| {
                let entry = match route {
                    silo_config::Route::Agent(a) => silo_router::Entry::Agent(a.clone()),
                    silo_config::Route::Workflow(w) => silo_router::Entry::Workflow(w.clone()),
                };
                (name.clone(), entry)
            })
            .collect(),
    };
    silo_router::routing_for_project(agents, &setup, workflows).with_context(|| {
        match &project.file {
            Some(f) => format!("the routing of `{}`", f.display()),
            None => format!("the agents of `{}`", agents.display()),
        }
    })
}

/// The kernel over the data directory's store, dispatching to cells for the agents of
/// `agents` (default: the project file's), with the project's routing, workflows and
/// router limits; `lease_secs` overrides the project's lease.
pub(crate) fn kernel(
    ctx: &Ctx,
    agents: Option<&std::path::Path>,
    run_dir: PathBuf,
    lease_secs: Option<u64>,
) -> anyhow::Result<Kernel<AnyStore, CellDispatcher>> {
    kernel_for(ctx, agents, run_dir, lease_secs, false)
}

/// [`kernel`]; with `cell_host`, a cell host of a multi-host deployment: its turns' keys
/// are signed by a router host (asked through the shared database), and this process
/// never opens `<data_dir>/keys`.
pub(crate) fn kernel_for(
    ctx: &Ctx,
    agents: Option<&std::path::Path>,
    run_dir: PathBuf,
    lease_secs: Option<u64>,
    cell_host: bool,
) -> anyhow::Result<Kernel<AnyStore, CellDispatcher>> {
    let issuer: Option<std::sync::Arc<dyn silo_invoke::KeyIssuer>> = match ctx.database()? {
        Some(db) if cell_host => Some(std::sync::Arc::new(silo_router::issuer::DbKeyIssuer::new(
            db,
        ))),
        _ => None,
    };
    let project = &ctx.config;
    let agents = agents.unwrap_or(&project.agents);
    let routing = routing(ctx, Some(agents))?;
    let host_ctx = ctx.clone();
    // One membrane runtime for every turn of this process, not one started per turn.
    let runtime = silo_invoke::shared_runtime()?;
    crate::cmd::seed(ctx)?;
    let cells_dir = run_dir.clone();
    let mut dispatcher = CellDispatcher::new(agents, &ctx.data_dir, &cells_dir, move || {
        let mut host = crate::cmd::turn_host(&host_ctx, &run_dir, silo_audit::Durability::Disk)
            .map_err(|e| silo_invoke::InvokeError::Invalid(format!("{e:#}")))?;
        host.runtime = Some(runtime);
        host.warm = true;
        host.key_issuer = issuer.clone();
        Ok(host)
    });
    if let Some(db) = ctx.database()? {
        dispatcher = dispatcher.with_database(db);
    }
    let millis = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let config = KernelConfig {
        max_redirects: project.router.max_redirects,
        lease_secs: lease_secs.unwrap_or(project.router.lease.as_secs().max(1)),
        shadow: project
            .router
            .shadow_one_in
            .map(|every| silo_router::ShadowSampling { every, seed: 0 }),
        stage_timeout_ms: project.router.stage_timeout.map(millis),
        max_attempts: project.router.max_attempts,
    };
    let audit = std::sync::Arc::new(crate::cmd::backend::audit_log(ctx)?);
    let recorder = match ctx.database()? {
        Some(db) => silo_router::AuditRecorder::with_database_lock(audit, db),
        None => {
            silo_router::AuditRecorder::new(audit, &ctx.data_dir.join("router").join("audit.lock"))
        }
    };
    let store = crate::cmd::backend::router_store_holding(ctx)?;
    let kernel = Kernel::new(store, dispatcher, routing, config).with_recorder(recorder);
    // Turns whose process died here (its cells died with it) are taken over now, not
    // when their lease runs out.
    kernel.release_abandoned()?;
    // Events a crashed process left out of the audit log go in first.
    kernel.record()?;
    Ok(kernel)
}

fn submit(args: SubmitArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    if let Some(server) = &args.server {
        return submit_to(server, &args, ctx);
    }
    let input = json_arg(&args.input, "--input")?;
    let kernel = kernel(ctx, args.agents.as_deref(), args.run_dir.path(), None)?;
    let entry = match (args.agent, args.workflow) {
        (Some(agent), None) => agent,
        (None, Some(workflow)) => {
            if kernel.routing().workflow(&workflow).is_none() {
                anyhow::bail!(
                    "no workflow `{workflow}` in `{}`",
                    ctx.config.workflows.display()
                );
            }
            workflow
        }
        _ => anyhow::bail!("give one of --agent or --workflow"),
    };
    // The input is tokenised before the router stores it: neither its store nor a cell
    // ever holds the raw text, and every turn of the run shares the tokens.
    let scope = format!("run-{}", &silo_keys::new_jti()?[..16]);
    let input = crate::cmd::backend::intake(ctx)?
        .tokenise(&scope, &args.customer, &input)
        .context("tokenising the task input")?;
    let id = kernel.submit(
        TaskSpec {
            entry,
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

fn finish(kernel: &Kernel<AnyStore, CellDispatcher>, id: &TaskId, ctx: &Ctx) -> anyhow::Result<u8> {
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
    let kernel = kernel(ctx, a.agents.as_deref(), a.run_dir.path(), None)?;
    let id = TaskId(a.id);
    kernel.human_result(&id, &a.operator, result, now())?;
    kernel.run_until_idle(now())?;
    finish(&kernel, &id, ctx)
}

fn list(
    state: Option<String>,
    agent: Option<String>,
    customer: Option<String>,
    limit: u64,
    ctx: &Ctx,
) -> anyhow::Result<u8> {
    let state = match state {
        Some(name) => Some(silo_router::State::from_name(&name).with_context(|| {
            let names: Vec<&str> = silo_router::State::ALL.iter().map(|s| s.as_str()).collect();
            format!("--state `{name}` is not one of {}", names.join(", "))
        })?),
        None => None,
    };
    let filter = silo_router::TaskFilter {
        state,
        agent,
        customer,
        limit: usize::try_from(limit).unwrap_or(silo_router::TaskFilter::MAX_LIMIT),
        ..silo_router::TaskFilter::default()
    };
    let tasks = silo_router::Store::list(&store(ctx)?, &filter)?;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&tasks)?);
    } else if tasks.is_empty() {
        println!("no tasks");
    } else {
        println!(
            "{:<12} {:<18} {:<20} {:<12} {:<12} {:>5}  last",
            "id", "state", "agent", "customer", "case", "turns"
        );
        for t in &tasks {
            println!(
                "{:<12} {:<18} {:<20} {:<12} {:<12} {:>5}  {}",
                t.id.as_str(),
                t.state.as_str(),
                t.run.agent,
                t.spec.customer,
                t.spec.case,
                t.dispatches,
                t.outcome
                    .as_deref()
                    .or(t.run.summary.as_deref())
                    .unwrap_or("")
            );
        }
    }
    Ok(0)
}

/// A JSON argument given inline or as `@FILE`.
pub(crate) fn json_arg(text: &str, what: &str) -> anyhow::Result<serde_json::Value> {
    match text.strip_prefix('@') {
        Some(file) => serde_json::from_str(
            &std::fs::read_to_string(file).with_context(|| format!("reading `{file}`"))?,
        ),
        None => serde_json::from_str(text),
    }
    .with_context(|| format!("{what} is not valid JSON"))
}

fn act(a: ActArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    let op = ctx.config.operators.get(&a.operator).with_context(|| {
        format!(
            "`{}` is not an operator of the project (`operators:` in silo.yaml)",
            a.operator
        )
    })?;
    // An operator's key must not pass for an agent's (audit trail, counters).
    if routing(ctx, None)?.agent(&a.operator).is_some() {
        anyhow::bail!(
            "operator `{}` has the name of an agent or pool; rename the operator",
            a.operator
        );
    }
    let caps: silo_keys::Capabilities = serde_json::to_value(&op.capabilities)
        .and_then(serde_json::from_value)
        .with_context(|| format!("the capabilities of operator `{}`", a.operator))?;
    let id = TaskId(a.id.clone());
    let task = silo_router::Store::get(&store(ctx)?, &id)?
        .with_context(|| format!("no task `{}`", a.id))?;
    if task.state != silo_router::State::WithHuman || task.operator.as_deref() != Some(&a.operator)
    {
        anyhow::bail!(
            "operator `{}` does not have task `{}`; take it from the inbox first",
            a.operator,
            a.id
        );
    }
    if task.run.agent != op.pool {
        anyhow::bail!(
            "task `{}` is in the `{}` pool; operator `{}` works the `{}` pool",
            a.id,
            task.run.agent,
            a.operator,
            op.pool
        );
    }
    let body = a
        .body
        .as_deref()
        .map(|b| json_arg(b, "--body"))
        .transpose()?;
    let host = crate::cmd::host(ctx, &a.run_dir.path(), silo_audit::Durability::Disk)?;
    let mut call = silo_invoke::OperatorCall::on_router_task(
        &a.operator,
        caps,
        silo_invoke::RouterTask {
            id: task.id.as_str(),
            version: task.version,
            customer: &task.spec.customer,
            case: &task.spec.case,
            privacy_scope: task.spec.privacy_scope.as_deref(),
            input: &task.spec.input,
        },
        &a.path,
        body,
        task.dispatch
            .as_ref()
            .map(|d| ctx.config.agents.join(&d.agent)),
    );
    // The method as given (a GET has no body; a POST may have none).
    call.method = a.method;
    let reply = silo_invoke::operator_call(host, &call)?;
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({"status": reply.status, "body": reply.body})
        );
    } else {
        println!(
            "{} {}",
            reply.status,
            serde_json::to_string_pretty(&reply.body)?
        );
    }
    Ok(if (200..300).contains(&reply.status) {
        0
    } else {
        1
    })
}

/// How long `--wait` waits for a daemon's task at most.
const WAIT_LIMIT: std::time::Duration = std::time::Duration::from_secs(3600);

/// `silo task submit --server URL`: the daemon tokenises and runs the task.
fn submit_to(server: &str, args: &SubmitArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    let base = server.trim_end_matches('/');
    let entry = args
        .agent
        .clone()
        .or_else(|| args.workflow.clone())
        .context("give one of --agent or --workflow")?;
    let input = json_arg(&args.input, "--input")?;
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .build(),
    );
    let call = |req: Result<ureq::http::Response<ureq::Body>, ureq::Error>| -> anyhow::Result<(u16, serde_json::Value)> {
        let mut resp = req.with_context(|| format!("reaching `silo serve` at {base}"))?;
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp
            .body_mut()
            .read_json()
            .with_context(|| format!("the answer of {base} is not JSON"))?;
        Ok((status, body))
    };
    let (status, created) = call(agent.post(&format!("{base}/v1/tasks")).send_json(
        serde_json::json!({
            "entry": entry, "customer": args.customer, "case": args.case, "input": input,
        }),
    ))?;
    if status != 201 {
        anyhow::bail!(
            "`silo serve` refused the task ({status}): {}",
            created["error"]
        );
    }
    let id = created["id"]
        .as_str()
        .context("the daemon gave no task id")?
        .to_owned();
    let deadline = std::time::Instant::now() + WAIT_LIMIT;
    loop {
        let (status, task) = call(agent.get(&format!("{base}/v1/tasks/{id}")).call())?;
        if status != 200 {
            anyhow::bail!("task `{id}` ({status}): {}", task["error"]);
        }
        let task: TaskView =
            serde_json::from_value(task).context("the daemon's task does not read")?;
        let resting = task.state.is_terminal()
            || matches!(
                task.state,
                silo_router::State::WaitingForHuman | silo_router::State::WithHuman
            );
        if !args.wait || resting || std::time::Instant::now() > deadline {
            print_task(&task, ctx)?;
            return Ok(match task.state {
                silo_router::State::Completed => 0,
                silo_router::State::WaitingForHuman | silo_router::State::WithHuman => 3,
                _ if !args.wait => 0,
                _ => 1,
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
