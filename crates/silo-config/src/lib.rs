//! silo-config owns the project configuration file, `silo.yaml`: where the agent folders,
//! workflow files, business seed data and silo's own data directory are, the routing
//! table (routes, human pools), the router's limits (redirects, leases, stage timeouts,
//! shadow sampling), the daemon's listen addresses (task API, console) and cell pool, the
//! connectors (LLM upstream, SMTP relay), and the human operators (pool, capabilities,
//! admin). Every field has a default that works, so a project without the
//! file runs as if it had an empty one. Parsing is strict: an unknown field, a bad value
//! or a wrong type is an error naming the file, the line and column, and the field.
//!
//! It must never: read anything but the one file it is given; hold or log a secret (the
//! LLM API key is named by the environment variable that holds it, never written here);
//! or resolve a relative path against anything but the file's own folder.
#![forbid(unsafe_code)]

mod raw;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file a project keeps its configuration in.
pub const FILE_NAME: &str = "silo.yaml";

/// The human pool every project has unless it names others.
pub const DEFAULT_HUMAN_POOL: &str = "human";

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A field is missing, unknown, of the wrong type or has a bad value.
    #[error("{}{}: {field}: {message}", path.display(), location.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
    Field {
        /// The file.
        path: PathBuf,
        /// Line and column, when the parser knows them.
        location: Option<(usize, usize)>,
        /// The field, as a dotted path (`router.shadow.one_in`); `.` for the whole file.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Where a task entry goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// One agent (or human pool).
    Agent(String),
    /// A workflow.
    Workflow(String),
}

/// The routing table's part that is not in the agents' own manifests (their escalation
/// lists are in their base keys, `agent.yaml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    /// The human pools (operators take their tasks from an inbox).
    pub humans: Vec<String>,
    /// The pool for agents that name none.
    pub default_human: String,
    /// An agent's own human pool, when it is not the default.
    pub human_for: BTreeMap<String, String>,
    /// Routes (sources, intents) to agents or workflows.
    pub routes: BTreeMap<String, Route>,
}

/// Router limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Router {
    /// Redirects and escalations a single-agent run may take (workflow stages set theirs).
    pub max_redirects: u32,
    /// How long a claimed job is held before another worker may take it (after a crash).
    pub lease: Duration,
    /// The longest any one agent turn may run (an agent's own `timeout` may be shorter;
    /// a workflow stage's `timeout` replaces this for that stage).
    pub stage_timeout: Option<Duration>,
    /// Claims of one agent turn (its cell host died, or it could not start) before the
    /// turn counts as the agent's 500; 0: retry for ever.
    pub max_attempts: u32,
    /// Shadow review: one task in N is also sent to a human, whose result is the one that
    /// acts. `None`: off.
    pub shadow_one_in: Option<u64>,
}

/// The daemon (`silo serve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Serve {
    /// Where the task API listens (loopback only).
    pub listen: SocketAddr,
    /// Cells run at once.
    pub workers: usize,
    /// Where the operator console listens (loopback only).
    pub console: SocketAddr,
}

/// An OpenAI-compatible LLM upstream, reached only by the membrane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Llm {
    /// Base URL, e.g. `http://127.0.0.1:8080/v1`.
    pub url: String,
    /// The environment variable that holds the API key, if the upstream needs one.
    pub api_key_env: Option<String>,
}

/// The shared PostgreSQL database that several `silo serve` processes, on one machine or
/// many, keep their state in (`docs/SCALING.md`); without one, everything is embedded
/// SQLite under the data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    /// Where the connection URL comes from.
    pub url: DatabaseUrl,
    /// Connections each process keeps open at most (1–256; default 8).
    pub pool: u32,
}

/// Where the database URL comes from. A URL with a password must come from the
/// environment: the project file holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `database.url`: written in the file (no password).
    Literal(String),
    /// `database.url_env`: the environment variable that holds it.
    Env(String),
}

/// An SMTP relay behind the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smtp {
    /// `smtp://host:port` or `smtps://…`.
    pub url: String,
    /// The sender address.
    pub from: String,
}

/// A human operator: they take tasks from a pool's inbox and act on them through the
/// membrane with a base key of their own.
#[derive(Debug, Clone, PartialEq)]
pub struct Operator {
    /// The human pool whose tasks they take.
    pub pool: String,
    /// Their base key's capabilities, as in an `agent.yaml` (checked by the key crate when
    /// a key is minted).
    pub capabilities: serde_norway::Value,
    /// May use the console's admin pages (agents, live cells, audit browser).
    pub admin: bool,
}

/// A project's configuration, with every path resolved against the file's folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it came from; `None` for the defaults.
    pub file: Option<PathBuf>,
    /// silo's own state: keys, audit log, vault, router store, outbox.
    pub data_dir: PathBuf,
    /// The agent folders.
    pub agents: PathBuf,
    /// The workflow files (`*.yaml`); a missing folder means no workflows.
    pub workflows: PathBuf,
    /// SQL that fills an empty business database; `None`: the built-in demo data.
    pub seed: Option<PathBuf>,
    /// The operator policy file (rules on top of the agents' base keys); `None`: the base
    /// keys alone decide (`docs/POLICY.md`).
    pub policy: Option<PathBuf>,
    /// Routes and human pools.
    pub routing: Routing,
    /// Router limits.
    pub router: Router,
    /// The daemon.
    pub serve: Serve,
    /// The LLM upstream; `None`: no LLM (agents run their deterministic path).
    pub llm: Option<Llm>,
    /// The SMTP relay; `None`: messages stay in the outbox directory.
    pub smtp: Option<Smtp>,
    /// Human operators by name.
    pub operators: BTreeMap<String, Operator>,
    /// The shared database; `None`: embedded SQLite under `data_dir`.
    pub database: Option<Database>,
}

impl Config {
    /// The defaults, with relative paths against `base`.
    pub fn defaults(base: &Path) -> Self {
        raw::RawConfig::default().resolve(None, base)
    }

    /// Loads `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses `text` as if read from `path`: relative paths resolve against its folder,
    /// after following symlinks (a project may link its `silo.yaml` from elsewhere).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let raw = raw::parse(text, path)?;
        let real = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let base = match real.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let config = raw.resolve(Some(path.to_path_buf()), &base);
        config.check(path)?;
        Ok(config)
    }

    /// `dir/silo.yaml` when it exists, else the defaults against `dir`.
    pub fn discover(dir: &Path) -> Result<Self, ConfigError> {
        let path = dir.join(FILE_NAME);
        if path.is_file() {
            Self::load(&path)
        } else {
            Ok(Self::defaults(dir))
        }
    }

    fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field: &str, message: String| ConfigError::Field {
            path: path.to_path_buf(),
            location: None,
            field: field.to_owned(),
            message,
        };
        let r = &self.routing;
        if !r.humans.contains(&r.default_human) {
            return Err(invalid(
                "routing.default_human",
                format!(
                    "`{}` is not one of the human pools in `routing.humans` ({})",
                    r.default_human,
                    r.humans.join(", ")
                ),
            ));
        }
        for (name, op) in &self.operators {
            let name_ok = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_".contains(&b));
            if !name_ok || r.humans.contains(name) {
                return Err(invalid(
                    &format!("operators.{name}"),
                    "an operator's name is lower-case letters, digits, `-`, `_` (at most 64), \
                     and not a human pool's"
                        .into(),
                ));
            }
            if !r.humans.contains(&op.pool) {
                return Err(invalid(
                    &format!("operators.{name}.pool"),
                    format!(
                        "`{}` is not one of the human pools in `routing.humans`",
                        op.pool
                    ),
                ));
            }
        }
        for (agent, pool) in &r.human_for {
            if !r.humans.contains(pool) {
                return Err(invalid(
                    &format!("routing.human_for.{agent}"),
                    format!("`{pool}` is not one of the human pools in `routing.humans`"),
                ));
            }
        }
        Ok(())
    }
}
