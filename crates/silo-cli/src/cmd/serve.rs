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

/// Runs `silo serve` until the process is stopped.
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
    let kernel = crate::cmd::task::kernel_for(
        ctx,
        Some(&agents_dir),
        args.run_dir.path(),
        args.lease_secs,
        args.role == Role::Cells,
    )?;
    let intake = crate::cmd::backend::intake(ctx)?;
    let daemon = silo_daemon::Daemon::new(kernel, intake);
    daemon.start_wakeups();
    daemon.start_housekeeping(HOUSEKEEPING);
    // A router host signs the turn keys of cell hosts, which hold no private key.
    if let (Some(db), true) = (ctx.database()?, args.role != Role::Cells) {
        let keys_dir = ctx.data_dir.join("keys");
        // The key store exists (and its public keys are published) before a request comes.
        crate::cmd::backend::key_store_or_init(ctx)?;
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
        println!("silo serve: cell host with {workers} workers");
        let _ = std::io::stdout().flush();
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
        println!("silo serve: task API on http://{addr}");
        let _ = std::io::stdout().flush();
    });
    runtime.block_on(async {
        match console {
            None => api.await.map_err(anyhow::Error::from),
            Some(console) => {
                let addr = args.console.unwrap_or(ctx.config.serve.console);
                let web = console.serve(addr, |addr| {
                    println!("silo serve: console on http://{addr}");
                    let _ = std::io::stdout().flush();
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
