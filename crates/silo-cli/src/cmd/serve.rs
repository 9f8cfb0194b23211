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
    #[command(flatten)]
    pub run_dir: RunDir,
}

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
    let kernel = crate::cmd::task::kernel(
        ctx,
        args.agents.as_deref(),
        args.run_dir.path(),
        args.lease_secs,
    )?;
    let intake = silo_membrane::Intake::open_seeded(&ctx.data_dir, ctx.config.seed.as_deref())
        .context("opening the vault")?;
    let daemon = silo_daemon::Daemon::new(kernel, intake);
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
        };
        Some(silo_console::Console::new(setup).context("starting the console")?)
    };
    daemon.start_workers(args.workers.unwrap_or(ctx.config.serve.workers));
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
