//! The `silo` command line: argument structs, dispatch and output formatting
//! only. Every decision and every syscall lives in a library crate; this crate
//! must never grow logic that a test of the library would not see.
//!
//! The hidden `__cell-supervise` entry is chosen here, before any thread or
//! async runtime starts, because the cell supervisor must be single-threaded
//! to `clone(2)` into new namespaces safely.

#![forbid(unsafe_code)]

mod cmd;
#[cfg(test)]
mod help_check;
mod man;
mod telemetry;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// silo: run untrusted AI agents in a padded cell.
///
/// Each agent invocation runs in a cell (namespaces, seccomp, Landlock, a read-only root,
/// no network); its only door is the membrane, which checks its two signed keys, asks the
/// operator policy, tokenises personal data and records every call in a tamper-evident
/// audit log. The router kernel (`silo task`, `silo serve`) moves tasks between agents and
/// human pools.
///
/// The global options may come before or after the command. With `--json`, a command
/// prints one JSON document on standard output (the audit log's entries: one a line) and
/// nothing else; messages and errors go to standard error.
#[derive(Parser, Debug)]
#[command(
    name = "silo",
    version,
    about,
    after_help = "Examples:
  silo init my-project && cd my-project     a new project that runs as it is
  silo demo                                 the customer-service example end to end
  silo run --agent agents/support-agent --customer cus_001 --case case_001
  silo serve                                the daemon: task API and operator console
  silo --json task list --state completed   any read command as JSON

Exit status: 0 on success, 1 on an error, 2 on bad usage; some commands have codes of
their own (see their --help). Manual pages: silo man --out DIR."
)]
struct Cli {
    /// The project file (see `silo init`); default: `./silo.yaml` when it exists, else
    /// built-in defaults.
    #[arg(long, global = true, env = "SILO_CONFIG")]
    config: Option<PathBuf>,

    /// Where silo keeps its state (keys, audit log, outbox); default: the project file's
    /// `data_dir` (`silo-data`).
    #[arg(long, global = true, env = "SILO_DATA_DIR")]
    data_dir: Option<PathBuf>,

    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,

    /// The shared PostgreSQL database (`postgresql://user:password@host:5432/db`) that
    /// several `silo serve` processes keep their state in; default: the project file's
    /// `database`, else embedded SQLite under the data directory. Prefer the environment
    /// variable: a command line is visible to every user of the machine.
    #[arg(long, global = true, env = "SILO_DATABASE_URL", hide_env_values = true)]
    database: Option<String>,

    /// How log lines on standard error look: `text` or `json` (one object a line). The
    /// level filter is `SILO_LOG` (else `RUST_LOG`), e.g. `info` or `silo_router=debug`;
    /// default `warn`.
    #[arg(
        long,
        global = true,
        env = "SILO_LOG_FORMAT",
        value_enum,
        default_value_t
    )]
    log_format: telemetry::LogFormat,

    /// Export traces (OTLP over HTTP, JSON) to this collector base URL, e.g.
    /// `http://127.0.0.1:4318` (spans go to `/v1/traces`); default: no traces.
    #[arg(long, global = true, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,

    #[command(subcommand)]
    command: Command,
}

/// Options every command may read.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The data directory (`--data-dir` / `SILO_DATA_DIR`, else the project file's).
    pub data_dir: PathBuf,
    /// The project file, or the defaults when there is none.
    pub config: silo_config::Config,
    /// `--json`: print JSON for scripts.
    pub json: bool,
    /// The shared database's URL (`--database` / `SILO_DATABASE_URL`, else the project
    /// file's `database`); `None`: embedded SQLite.
    database_url: Option<String>,
    /// The pool, opened on first use.
    database: std::sync::Arc<std::sync::OnceLock<silo_postgres::Database>>,
}

impl Ctx {
    /// The shared database, connected (and migrated) on first use; `None` when silo runs
    /// on embedded SQLite.
    pub fn database(&self) -> anyhow::Result<Option<silo_postgres::Database>> {
        let Some(url) = &self.database_url else {
            return Ok(None);
        };
        if let Some(db) = self.database.get() {
            return Ok(Some(db.clone()));
        }
        let pool = self.config.database.as_ref().map_or(8, |d| d.pool);
        let db = silo_postgres::Database::connect_with(url, pool)?;
        Ok(Some(self.database.get_or_init(|| db).clone()))
    }
}

/// The database URL: the command line or environment first, then the project file (its
/// `url`, or the variable its `url_env` names, which must be set).
fn database_url(
    cli: Option<String>,
    config: &silo_config::Config,
) -> Result<Option<String>, String> {
    if let Some(url) = cli.filter(|u| !u.is_empty()) {
        return Ok(Some(url));
    }
    match config.database.as_ref().map(|d| &d.url) {
        None => Ok(None),
        Some(silo_config::DatabaseUrl::Literal(url)) => Ok(Some(url.clone())),
        Some(silo_config::DatabaseUrl::Env(var)) => match std::env::var(var) {
            Ok(url) if !url.is_empty() => Ok(Some(url)),
            _ => Err(format!(
                "the project file's `database.url_env` names `{var}`, which is not set"
            )),
        },
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start a project: silo.yaml, an agent with its test, a workflow, a policy.
    Init(Box<cmd::init::InitArgs>),
    /// Six scripted customer-service cases through real cells, and a report.
    Demo(Box<cmd::demo::DemoArgs>),
    /// Run the router kernel as a daemon with a localhost task API.
    Serve(Box<cmd::serve::ServeArgs>),
    /// Agents of the agents directory; mark them offline or online for the router.
    #[command(subcommand)]
    Agent(cmd::agent::AgentCmd),
    /// Workflow files: check them against the agents directory.
    #[command(subcommand)]
    Workflow(cmd::workflow::WorkflowCmd),
    /// Submit tasks to the router kernel; read tasks, events and the human inbox.
    #[command(subcommand)]
    Task(cmd::task::TaskCmd),
    /// Operator accounts for the console (`silo serve`): add, remove, list.
    #[command(subcommand)]
    Operator(cmd::operator::OperatorCmd),
    /// The red-team suite: hostile agents through real cells and the real membrane, and
    /// legitimate work that must pass; exit 1 on any breach or false positive.
    Redteam(Box<cmd::redteam::RedteamArgs>),
    /// Stop, continue or kill a task and its live cell (audited in the router's events).
    Signal(Box<cmd::signal::SignalArgs>),
    /// Run one agent invocation end to end (cell + membrane + keys + audit), no router.
    Run(Box<cmd::run::RunArgs>),
    /// Run and manage cells: one sandboxed agent invocation each.
    #[command(subcommand)]
    Cell(cmd::cell::CellCmd),
    /// Base keys and task keys: key store, minting, inspection, revocation.
    #[command(subcommand)]
    Keys(cmd::keys::KeysCmd),
    /// Operator policy: check files, evaluate a decision.
    #[command(subcommand)]
    Policy(cmd::policy::PolicyCmd),
    /// The audit log: verify, tail, query, checkpoint, export.
    #[command(subcommand)]
    Audit(cmd::audit::AuditCmd),
    /// Personal data: scan, tokenise and hydrate with a scratch vault; reveal (audited).
    #[command(subcommand)]
    Pii(cmd::pii::PiiCmd),
    /// What agents did through their membranes: the refund ledger, task outcomes.
    #[command(subcommand)]
    Membrane(cmd::membrane::MembraneCmd),
    /// MCP over stdio: silo's governance tools (submit a task, its status, audit queries,
    /// policy what-ifs) for an MCP client; `--cell`: the membrane's tools inside a cell.
    Mcp(Box<cmd::mcp::McpArgs>),
    /// Print a shell completion script: `silo completions bash > /etc/bash_completion.d/silo`,
    /// `silo completions zsh > "${fpath[1]}/_silo"`, `silo completions fish >
    /// ~/.config/fish/completions/silo.fish`.
    #[command(after_help = "Examples:
  silo completions bash > /etc/bash_completion.d/silo
  silo completions zsh > \"${fpath[1]}/_silo\"
  silo completions fish > ~/.config/fish/completions/silo.fish")]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the manual pages (roff): silo.1 and one page per subcommand.
    #[command(
        long_about = "Write the manual pages (roff): `silo.1` and one page per subcommand \
(`silo-task-submit.1`, …), generated from the same command tree as --help.",
        after_help = "Examples:
  silo man --out /usr/local/share/man/man1 && mandb -q
  silo man --out /tmp/silo-man && man -l /tmp/silo-man/silo-run.1"
    )]
    Man {
        /// The folder to write the pages into (created when missing).
        #[arg(long, value_name = "DIR", default_value = "man")]
        out: PathBuf,
    },
    /// For benchmarks and trials: start a private, throw-away PostgreSQL server (needs the
    /// `postgresql` package), print a fresh database's URL, and keep the server until
    /// standard input closes; then stop it and delete its files.
    #[command(name = "__throwaway-postgres", hide = true)]
    ThrowawayPostgres {
        /// fsync every commit (benchmarks of commit latency); default: off.
        #[arg(long)]
        durable: bool,
    },
    /// Internal: the single-threaded cell supervisor, started by library
    /// callers that may be multi-threaded. Reads a cell spec as JSON on stdin.
    #[command(name = "__cell-supervise", hide = true)]
    CellSupervise {
        /// Where to write the outcome JSON.
        #[arg(long)]
        outcome: PathBuf,
        /// The spawning process: the supervisor dies with it.
        #[arg(long, requires = "parent_tid")]
        parent_pid: Option<u32>,
        /// The spawning thread of that process.
        #[arg(long)]
        parent_tid: Option<u32>,
    },
}

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = Cli::parse();
    // The cell supervisor reads nothing but its spec.
    if let Command::CellSupervise {
        outcome,
        parent_pid,
        parent_tid,
    } = &cli.command
    {
        let parent = parent_pid.zip(*parent_tid);
        return finish(cmd::cell::supervise_stdin(outcome.clone(), parent));
    }
    // A daemon runs for weeks: give glibc's allocator its arena limit before any thread
    // starts (it is read only at process start, hence the one re-exec).
    if matches!(cli.command, Command::Serve(_)) {
        if let Some(err) = cmd::serve::limit_malloc_arenas() {
            eprintln!("silo: {err:#}");
            return ExitCode::from(2);
        }
    }
    // After the supervisor's exit above: a trace exporter starts a thread.
    let telemetry = match telemetry::init(&telemetry::Options {
        format: cli.log_format,
        otlp_endpoint: cli.otlp_endpoint.clone(),
    }) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("silo: {e:#}");
            return ExitCode::from(2);
        }
    };
    if matches!(cli.command, Command::Serve(_)) {
        if let Err(e) = telemetry.flush_on_termination() {
            eprintln!("silo: {e:#}");
            return ExitCode::from(2);
        }
    }
    let code = run_command(cli);
    telemetry.shutdown();
    code
}

fn run_command(cli: Cli) -> ExitCode {
    let config = match (&cli.command, cli.config) {
        // A new project does not read the folder's (possibly broken) project file.
        (Command::Init(_), _) => Ok(silo_config::Config::defaults(std::path::Path::new("."))),
        // Completions describe the command line only.
        (Command::Completions { .. } | Command::Man { .. }, _) => {
            Ok(silo_config::Config::defaults(std::path::Path::new(".")))
        }
        // Inside a cell: the membrane is all there is; no project file is read.
        (Command::Mcp(a), _) if a.cell => {
            Ok(silo_config::Config::defaults(std::path::Path::new(".")))
        }
        (_, Some(path)) => silo_config::Config::load(&path),
        (_, None) => silo_config::Config::discover(std::path::Path::new(".")),
    };
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("silo: {e}");
            return ExitCode::from(2);
        }
    };
    let database_url = match database_url(cli.database, &config) {
        Ok(url) => url,
        Err(e) => {
            eprintln!("silo: {e}");
            return ExitCode::from(2);
        }
    };
    let ctx = Ctx {
        data_dir: cli.data_dir.unwrap_or_else(|| config.data_dir.clone()),
        config,
        json: cli.json,
        database_url,
        database: Default::default(),
    };
    let result = match cli.command {
        Command::Init(a) => cmd::init::run(*a, &ctx),
        Command::Run(a) => cmd::run::run(*a, &ctx),
        Command::Signal(a) => cmd::signal::run(*a, &ctx),
        Command::Task(c) => cmd::task::run(c, &ctx),
        Command::Operator(c) => cmd::operator::run(c, &ctx),
        Command::Redteam(a) => cmd::redteam::run(*a, &ctx),
        Command::Agent(c) => cmd::agent::run(c, &ctx),
        Command::Serve(a) => cmd::serve::run(*a, &ctx),
        Command::Demo(a) => cmd::demo::run(*a, &ctx),
        Command::Workflow(c) => cmd::workflow::run(c, &ctx),
        Command::Cell(c) => cmd::cell::run(c, &ctx),
        Command::Keys(c) => cmd::keys::run(c, &ctx),
        Command::Policy(c) => cmd::policy::run(c, &ctx),
        Command::Audit(c) => cmd::audit::run(c, &ctx),
        Command::Membrane(c) => cmd::membrane::run(c, &ctx),
        Command::Mcp(a) => cmd::mcp::run(*a, &ctx),
        Command::Pii(c) => cmd::pii::run(c, &ctx),
        Command::ThrowawayPostgres { durable } => throwaway_postgres(durable),
        Command::Completions { shell } => completions(shell),
        Command::Man { out } => man_pages(&out, &ctx),
        Command::CellSupervise {
            outcome,
            parent_pid,
            parent_tid,
        } => cmd::cell::supervise_stdin(outcome, parent_pid.zip(parent_tid)),
    };
    finish(result)
}

/// The completion script for `shell`, written in one piece (a closed pipe is an error,
/// not a panic).
fn completions(shell: clap_complete::Shell) -> anyhow::Result<u8> {
    use clap::CommandFactory;
    use std::io::Write;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "silo", &mut script);
    std::io::stdout().write_all(&script)?;
    Ok(0)
}

/// `silo man`: the pages, and which files were written.
fn man_pages(out: &std::path::Path, ctx: &Ctx) -> anyhow::Result<u8> {
    use clap::CommandFactory;
    let written = man::write_pages(Cli::command(), out)?;
    if ctx.json {
        println!("{}", serde_json::json!({ "out": out, "pages": written }));
    } else {
        println!(
            "wrote {} manual pages to `{}`",
            written.len(),
            out.display()
        );
    }
    Ok(0)
}

fn throwaway_postgres(durable: bool) -> anyhow::Result<u8> {
    use std::io::{Read, Write};
    let server = silo_postgres::Throwaway::start(durable)?;
    println!("{}", server.fresh_database()?);
    std::io::stdout().flush()?;
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(server);
    Ok(0)
}

fn finish(result: anyhow::Result<u8>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("silo: {err:#}");
            ExitCode::from(cmd::exit_code_for(&err))
        }
    }
}

/// `silo … | head` closes our standard output early; `println!` then panics with "failed
/// printing to stdout: Broken pipe". That is the reader's choice, not a bug: say so in one
/// line and exit 141 (128 + SIGPIPE, what a shell shows for a command killed by the pipe),
/// without a panic message or backtrace. Every other panic keeps the default report. (Rust
/// ignores SIGPIPE so that sockets see EPIPE; restoring the default disposition would need
/// `unsafe` and would also apply to the daemon's sockets.)
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            eprintln!("silo: standard output was closed (Broken pipe)");
            std::process::exit(141);
        }
        default(info);
    }));
}
