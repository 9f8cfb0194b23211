//! `silo signal stop|cont|kill TASK`: an operator's signal to a task and its live cell,
//! through the router kernel (the transition map must allow it; the router's event log
//! records it). `stop` freezes the cell at once and parks the task; `cont` starts the
//! turn again in a fresh cell with a fresh key (the frozen cell is killed); `kill` kills
//! the cell and aborts the task.

use std::path::PathBuf;

use silo_router::{Signal, TaskId};

use crate::cmd::cell::RunDir;
use crate::Ctx;

/// Arguments of `silo signal`.
#[derive(clap::Args, Debug)]
pub struct SignalArgs {
    /// `stop`, `cont` or `kill`.
    #[arg(value_parser = ["stop", "cont", "kill"])]
    pub signal: String,
    /// The task id.
    pub task: String,
    /// Where the agent folders are (default: the project file's `agents`).
    #[arg(long)]
    pub agents: Option<PathBuf>,
    #[command(flatten)]
    pub run_dir: RunDir,
}

/// Runs `silo signal`.
pub fn run(args: SignalArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    let signal = match args.signal.as_str() {
        "stop" => Signal::Stop,
        "cont" => Signal::Cont,
        _ => Signal::Kill,
    };
    let kernel = crate::cmd::task::kernel(ctx, args.agents.as_deref(), args.run_dir.path(), None)?;
    let (task, hit) = kernel.signal(&TaskId(args.task), signal, silo_keys::now_unix())?;
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({"task": task, "signal": args.signal, "cell_signalled": hit})
        );
    } else {
        let state = serde_json::to_value(task.state)?;
        println!(
            "{}: {} ({})",
            task.id,
            state.as_str().unwrap_or("?"),
            if hit {
                "its cell was signalled"
            } else {
                "no live cell"
            }
        );
    }
    Ok(0)
}
