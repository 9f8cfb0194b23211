//! `silo serve`: run the router kernel as a daemon (see `silo-daemon`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

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
    daemon.start_workers(args.workers.unwrap_or(ctx.config.serve.workers));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the API runtime")?;
    runtime.block_on(
        daemon.serve(args.listen.unwrap_or(ctx.config.serve.listen), |addr| {
            println!("silo serve: task API on http://{addr}");
            let _ = std::io::stdout().flush();
        }),
    )?;
    Ok(0)
}
