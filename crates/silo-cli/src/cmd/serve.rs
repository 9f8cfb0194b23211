//! `silo serve`: run the router kernel as a daemon (see `silo-daemon`).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::cmd::cell::RunDir;
use crate::Ctx;

/// Arguments of `silo serve`.
#[derive(clap::Args, Debug)]
#[command(
    long_about = "Run the router kernel as a daemon until the process is stopped: a localhost \
task API (POST /v1/tasks, GET /v1/tasks/ID, GET /metrics), the operators' web console, and \
workers that run agent turns in cells. With a shared PostgreSQL database, several processes \
split the work by --role (docs/SCALING.md).",
    after_help = "Examples:
  silo serve                                    API on 127.0.0.1:8700, console on :8701
  silo serve --workers 4 --no-console
  SILO_DATABASE_URL=postgresql://silo@db/silo silo serve --role router
  SILO_DATABASE_URL=postgresql://silo@db/silo silo serve --role cells --workers 8
  silo --log-format json --otlp-endpoint http://127.0.0.1:4318 serve

Standard output says where it listens; logs go to standard error."
)]
pub struct ServeArgs {
    /// Where the task API listens, loopback only (default: the project file's
    /// `serve.listen`, 127.0.0.1:8700).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Where the operator console listens, loopback only (default: the project file's
    /// `serve.console`, 127.0.0.1:8701).
    #[arg(long, conflicts_with = "no_console")]
    pub console: Option<SocketAddr>,
    /// Serve the task API only, no console.
    #[arg(long)]
    pub no_console: bool,
    /// Cells run at once, worker threads stepping the queue (default: `serve.workers`, 2).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Where the agent folders are (default: the project file's `agents`).
    #[arg(long)]
    pub agents: Option<PathBuf>,
    /// How long a claimed job is held before it is dispatched again after a crash, in
    /// seconds (default: `router.lease`, 300).
    #[arg(long)]
    pub lease_secs: Option<u64>,
    /// What this process does: `all` (the default: task API, console and cells),
    /// `router` (the task API and the console: takes tasks, runs no cell) or `cells` (a
    /// cell host: workers that claim queued turns and run them in cells, no API). Several
    /// processes, on one machine or many, share one PostgreSQL database
    /// (`--database` / `SILO_DATABASE_URL` / `database:`): see docs/SCALING.md.
    #[arg(long, value_enum, default_value_t = Role::All)]
    pub role: Role,
    #[command(flatten)]
    pub run_dir: RunDir,
}

/// A `silo serve` process's part.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Task API, console and cells in one process.
    All,
    /// Task API and console; no cells.
    Router,
    /// Workers running queued turns in cells; no API.
    Cells,
}

/// How often a process looks for jobs whose holder is gone.
const HOUSEKEEPING: std::time::Duration = std::time::Duration::from_secs(2);

/// The project's operators as the console needs them: capabilities parsed as a base
/// key's (the console refuses an operator named like an agent or pool).
fn operators(ctx: &Ctx) -> anyhow::Result<BTreeMap<String, silo_console::OperatorProfile>> {
    let mut out = BTreeMap::new();
    for (name, op) in &ctx.config.operators {
        let caps: silo_keys::Capabilities = serde_json::to_value(&op.capabilities)
            .and_then(serde_json::from_value)
            .with_context(|| format!("the capabilities of operator `{name}`"))?;
        out.insert(
            name.clone(),
            silo_console::OperatorProfile {
                pool: op.pool.clone(),
                caps,
                admin: op.admin,
            },
        );
    }
    Ok(out)
}

/// One line on stdout saying what the daemon started (a JSON object a line with `--json`).
fn announce(ctx: &Ctx, json: serde_json::Value, text: &str) {
    if ctx.json {
        println!("{json}");
    } else {
        println!("{text}");
    }
    let _ = std::io::stdout().flush();
}

/// Runs `silo serve` until the process is stopped.
/// The malloc arena limit `silo serve` runs with unless its environment sets one.
pub const MALLOC_ARENA_MAX: &str = "2";

/// glibc gives every thread that allocates its own malloc arena (up to 8 per core) and keeps
/// what was freed in it; the daemon's short-lived blocking threads made its RSS creep up a
/// few KiB per task while its live heap stayed flat (docs/BENCHMARKS.md, "Load and soak":
/// 25 → 41 MiB over 3,000 tasks, 21 → 29 MiB and levelling with two arenas). glibc reads
/// `MALLOC_ARENA_MAX` only when the process starts, so when it is unset this re-executes
/// the same command line (same PID) with it set. Returns only on failure.
pub fn limit_malloc_arenas() -> Option<anyhow::Error> {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return None;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            return Some(anyhow::anyhow!(
                "cannot find the running `silo` binary: {e}"
            ))
        }
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("MALLOC_ARENA_MAX", MALLOC_ARENA_MAX)
        .exec();
    Some(anyhow::anyhow!(
        "re-executing `silo serve` with MALLOC_ARENA_MAX: {err}"
    ))
}

pub fn run(args: ServeArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    if args.role != Role::All && ctx.database()?.is_none() {
        anyhow::bail!(
            "--role {:?} shares work with other processes through a PostgreSQL database: give \
             --database (or SILO_DATABASE_URL, or `database:` in silo.yaml)",
            args.role
        );
    }
    let agents_dir = args
        .agents
        .clone()
        .unwrap_or_else(|| ctx.config.agents.clone());
    // Every turn opens the key store: create it here, once, before workers could race to
    // (one worker seeing the folder another is still filling failed its turn).
    if args.role != Role::Cells {
        crate::cmd::backend::key_store_or_init(ctx)?;
    }
    let kernel = crate::cmd::task::kernel_for(
        ctx,
        Some(&agents_dir),
        args.run_dir.path(),
        args.lease_secs,
        args.role == Role::Cells,
    )?;
    let intake = crate::cmd::backend::intake(ctx)?;
    // GET /metrics counts decisions and LLM tokens in the audit log.
    let daemon =
        silo_daemon::Daemon::new(kernel, intake).with_audit(crate::cmd::backend::audit_log(ctx)?);
    daemon.start_wakeups();
    daemon.start_housekeeping(HOUSEKEEPING);
    // A router host signs the turn keys of cell hosts, which hold no private key.
    if let (Some(db), true) = (ctx.database()?, args.role != Role::Cells) {
        let keys_dir = ctx.data_dir.join("keys");
        // The key store exists (and its public keys are published): created above.
        let service = silo_router::issuer::KeyService::new(db, &keys_dir, &agents_dir);
        let kernel = daemon.kernel();
        std::thread::Builder::new()
            .name("silo-key-service".into())
            .spawn(move || service.run(kernel.store()))
            .context("starting the key service")?;
    }
    if args.role == Role::Cells {
        let workers = args.workers.unwrap_or(ctx.config.serve.workers);
        daemon.start_workers(workers);
        announce(
            ctx,
            serde_json::json!({"role": "cells", "workers": workers}),
            &format!("silo serve: cell host with {workers} workers"),
        );
        loop {
            std::thread::park();
        }
    }
    let console = if args.no_console {
        None
    } else {
        let kernel = daemon.kernel();
        let operators = operators(ctx)?;
        let host_ctx = ctx.clone();
        let run_dir = args.run_dir.path();
        let setup = silo_console::ConsoleSetup {
            operators,
            data_dir: ctx.data_dir.clone(),
            agents_dir: args
                .agents
                .clone()
                .unwrap_or_else(|| ctx.config.agents.clone()),
            host: Arc::new(move || {
                crate::cmd::turn_host(&host_ctx, &run_dir, silo_audit::Durability::Disk)
                    .map_err(|e| format!("{e:#}"))
            }),
            on_change: daemon.notifier(),
            kernel,
            database: ctx.database()?,
        };
        Some(silo_console::Console::new(setup).context("starting the console")?)
    };
    if args.role == Role::All {
        daemon.start_workers(args.workers.unwrap_or(ctx.config.serve.workers));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the API runtime")?;
    let api = daemon.serve(args.listen.unwrap_or(ctx.config.serve.listen), |addr| {
        announce(
            ctx,
            serde_json::json!({"listening": "api", "url": format!("http://{addr}")}),
            &format!("silo serve: task API on http://{addr}"),
        );
    });
    runtime.block_on(async {
        match console {
            None => api.await.map_err(anyhow::Error::from),
            Some(console) => {
                let addr = args.console.unwrap_or(ctx.config.serve.console);
                let web = console.serve(addr, |addr| {
                    announce(
                        ctx,
                        serde_json::json!({"listening": "console", "url": format!("http://{addr}")}),
                        &format!("silo serve: console on http://{addr}"),
                    );
                });
                tokio::try_join!(async { api.await.map_err(anyhow::Error::from) }, async {
                    web.await.map_err(anyhow::Error::from)
                })
                .map(|_| ())
            }
        }
    })?;
    Ok(0)
}
