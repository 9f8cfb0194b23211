//! `silo cell run|ps|stop|cont|kill`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use silo_cell::{
    default_run_dir, parse_cpu, parse_duration, parse_size, AgentName, CellSpec, Limits, Registry,
    SupervisorEvent, Termination, Weakening,
};

use crate::Ctx;

/// `silo cell …`
#[derive(Subcommand, Debug)]
pub enum CellCmd {
    /// Run a command as an agent in a fresh cell, and wait for it.
    #[command(after_help = "Examples:
  silo cell run --agent agents/support-agent -- python3 main.py
  silo --json cell run --memory 64M --timeout 5s -- /bin/sh -c 'echo hi'

Exit status: the agent's own exit code; 124: the wall-clock timeout killed it;
125: the cell could not be set up; 127: the command was not found in the cell;
128+N: killed by signal N (137 for the memory limit); 2: bad arguments.")]
    Run(Box<RunArgs>),
    /// List running cells.
    Ps(RunDir),
    /// Pause a running cell (cgroup freezer).
    Stop(CellRef),
    /// Resume a paused cell.
    Cont(CellRef),
    /// Kill a cell and everything in it.
    Kill(CellRef),
}

/// Where running cells are registered.
#[derive(Args, Debug)]
pub struct RunDir {
    /// Directory for running-cell state [default: /run/silo as root].
    #[arg(long, env = "SILO_RUN_DIR")]
    pub run_dir: Option<PathBuf>,
}

impl RunDir {
    /// The run directory: the option, or the default.
    pub fn path(&self) -> PathBuf {
        let dir = self.run_dir.clone().unwrap_or_else(default_run_dir);
        // Cells are handed absolute paths: a relative `--run-dir` is taken from here.
        std::path::absolute(&dir).unwrap_or(dir)
    }
}

/// A running cell.
#[derive(Args, Debug)]
pub struct CellRef {
    /// The cell id, as `silo cell ps` shows it.
    pub id: String,
    #[command(flatten)]
    pub run_dir: RunDir,
}

/// `silo cell run`
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The agent folder, mounted read-only at /agent.
    #[arg(long)]
    pub agent: Option<PathBuf>,
    /// The agent name (decides its uid) [default: the folder's name, or `anonymous`].
    #[arg(long)]
    pub name: Option<String>,
    /// Memory limit, no swap (e.g. 256M, 1G).
    #[arg(long, default_value = "512M")]
    pub memory: String,
    /// Maximum number of tasks.
    #[arg(long, default_value_t = 64)]
    pub pids: u64,
    /// CPU limit in cores (e.g. 0.5).
    #[arg(long, default_value = "1")]
    pub cpu: String,
    /// Wall-clock limit (e.g. 500ms, 30s, 2m).
    #[arg(long, default_value = "60s")]
    pub timeout: String,
    /// Size of the writable tmpfs at /tmp.
    #[arg(long, default_value = "64M")]
    pub tmpfs: String,
    /// Inodes of the writable tmpfs.
    #[arg(long, default_value_t = 4096)]
    pub tmpfs_inodes: u64,
    /// Open-file limit.
    #[arg(long, default_value_t = 256)]
    pub nofile: u64,
    /// A Unix socket to bind at /run/silo/membrane.sock (the cell's only door).
    #[arg(long)]
    pub socket: Option<PathBuf>,
    /// Extra host path to bind read-only at the same place (repeatable).
    #[arg(long = "ro-bind")]
    pub ro_bind: Vec<PathBuf>,
    /// Environment variable for the agent, KEY=VALUE (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Debug builds only: switch a defence off (seccomp, landlock, net-ns),
    /// so the escape suite can prove its probes detect a weakened cell.
    #[arg(long, hide = true)]
    pub weaken: Vec<String>,
    #[command(flatten)]
    pub run_dir: RunDir,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Runs a `silo cell` command.
pub fn run(cmd: CellCmd, ctx: &Ctx) -> anyhow::Result<u8> {
    match cmd {
        CellCmd::Run(args) => run_cell(*args, ctx),
        CellCmd::Ps(dir) => ps(&dir, ctx),
        CellCmd::Stop(c) => {
            Registry::open(&c.run_dir.path())?.stop(&c.id)?;
            done(ctx, &c.id, "paused");
            Ok(0)
        }
        CellCmd::Cont(c) => {
            Registry::open(&c.run_dir.path())?.cont(&c.id)?;
            done(ctx, &c.id, "resumed");
            Ok(0)
        }
        CellCmd::Kill(c) => {
            Registry::open(&c.run_dir.path())?.kill(&c.id)?;
            done(ctx, &c.id, "killed");
            Ok(0)
        }
    }
}

/// What `stop`, `cont` or `kill` did to a cell.
fn done(ctx: &Ctx, id: &str, what: &str) {
    if ctx.json {
        println!("{}", serde_json::json!({"id": id, "state": what}));
    } else {
        println!("{what} {id}");
    }
}

fn spec_from(args: RunArgs) -> anyhow::Result<CellSpec> {
    let agent_dir = match &args.agent {
        Some(d) => Some(
            std::fs::canonicalize(d)
                .map_err(|_| silo_cell::CellError::AgentDirMissing(d.clone()))?,
        ),
        None => None,
    };
    let name = match (&args.name, &agent_dir) {
        (Some(n), _) => n.clone(),
        (None, Some(d)) => d
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_else(|| "anonymous".into()),
        (None, None) => "anonymous".into(),
    };
    let mut spec = CellSpec::new(AgentName::new(&name)?, args.command);
    spec.agent_dir = agent_dir;
    spec.limits = Limits {
        memory_bytes: parse_size(&args.memory)?,
        pids: args.pids,
        cpu_millicores: parse_cpu(&args.cpu)?,
        timeout_ms: parse_duration(&args.timeout)?,
        tmpfs_bytes: parse_size(&args.tmpfs)?,
        tmpfs_inodes: args.tmpfs_inodes,
        nofile: args.nofile,
        fsize_bytes: parse_size(&args.tmpfs)?,
    };
    spec.socket = match args.socket {
        Some(s) => Some(
            std::path::absolute(&s).with_context(|| format!("socket path `{}`", s.display()))?,
        ),
        None => None,
    };
    spec.ro_binds = args.ro_bind;
    for kv in args.env {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--env `{kv}` must be KEY=VALUE"))?;
        spec.env.push((k.to_string(), v.to_string()));
    }
    spec.weaken = args
        .weaken
        .iter()
        .map(|w| w.parse::<Weakening>())
        .collect::<Result<_, _>>()?;
    spec.run_dir = args.run_dir.path();
    Ok(spec)
}

fn run_cell(args: RunArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    let spec = spec_from(args)?;
    let outcome = silo_cell::run_cell(&spec, &mut |ev| {
        if let SupervisorEvent::Warning(w) = ev {
            eprintln!("silo: warning: {w}");
        }
    })?;
    if ctx.json {
        println!("{}", serde_json::to_string(&outcome)?);
    } else {
        if let Some(note) = outcome.limit_note() {
            eprintln!("silo: cell {}: {note}", outcome.id);
        }
        if let Termination::Signaled { signal } = outcome.termination {
            if !outcome.oom_killed {
                eprintln!("silo: cell {}: agent killed by signal {signal}", outcome.id);
            }
        }
    }
    Ok(outcome.exit_code())
}

fn ps(dir: &RunDir, ctx: &Ctx) -> anyhow::Result<u8> {
    let cells = Registry::open(&dir.path())?.list()?;
    if ctx.json {
        let rows: Vec<_> = cells
            .iter()
            .map(|(r, s)| serde_json::json!({"id": r.id, "agent": r.agent, "state": s, "init_pid": r.init_pid, "command": r.command}))
            .collect();
        println!("{}", serde_json::to_string(&rows)?);
        return Ok(0);
    }
    println!(
        "{:<16} {:<20} {:<8} {:>8}  COMMAND",
        "ID", "AGENT", "STATE", "PID"
    );
    for (r, s) in cells {
        let state = format!("{s:?}").to_lowercase();
        println!(
            "{:<16} {:<20} {:<8} {:>8}  {}",
            r.id,
            r.agent,
            state,
            r.init_pid,
            r.command.join(" ")
        );
    }
    Ok(0)
}

/// `silo __cell-supervise --outcome FILE`: the single-threaded supervisor for
/// library callers that are multi-threaded.
pub fn supervise_stdin(outcome: PathBuf, parent: Option<(u32, u32)>) -> anyhow::Result<u8> {
    if let Some((pid, tid)) = parent {
        silo_cell::die_with_parent(pid, tid)?;
    }
    let o = silo_cell::supervise_from(&mut std::io::stdin().lock(), &outcome)?;
    Ok(o.exit_code())
}
