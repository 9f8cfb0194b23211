//! One invocation: mint a base key for the agent folder (bound to its content hash) and a
//! task key for a fresh cell, put the task's input (tokenised) behind a new membrane socket,
//! run the cell with the socket and the SDK mounted, and collect what it produced — the
//! cell's outcome, the task's recorded result, and the audit entries it caused.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use silo_audit::{AuditLog, Durability, Entry, Query, TaskId};
use silo_cell::{agent_host_uid, new_cell_id, CellOutcome, CellSpec};
use silo_keys::{folder_hash, new_jti, now_unix, KeyStore, WorkflowRef};
use silo_membrane::connectors::llm::LlmUpstream;
use silo_membrane::connectors::outbox::DirOutbox;
use silo_membrane::connectors::smtp::{SmtpConfig, SmtpOutbox};
use silo_membrane::{CellBinding, Connectors, Membrane, RecordedOutcome, Services};
use silo_policy::PolicySet;

use crate::error::InvokeError;
use crate::keyring::{Keyring, TurnClaims, TurnKeyRequest};
use crate::manifest::Manifest;

/// The in-cell port of the LLM loopback (`OPENAI_BASE_URL=http://127.0.0.1:8089/v1`).
pub const LLM_LOOPBACK_PORT: u16 = 8089;

/// Where an invocation keeps its state and finds its tools.
pub struct Host {
    /// Keys (`keys/`), audit log, membrane and business databases, outbox.
    pub data_dir: PathBuf,
    /// The cell run directory (registry, sockets, the installed SDK).
    pub run_dir: PathBuf,
    /// The `silo` binary, re-executed as the single-threaded cell supervisor.
    pub silo_exe: PathBuf,
    /// The LLM upstream for `/v1/chat/completions`, if any.
    pub llm: Option<Box<dyn LlmUpstream>>,
    /// When an audit entry counts as recorded.
    pub audit_durability: Durability,
    /// An SMTP relay for email (SMS stays in the outbox directory); `None`: the outbox
    /// directory only.
    pub smtp: Option<SmtpConfig>,
    /// The operator policy file; `None`: `<data_dir>/policy.yaml` when present, else the
    /// base keys alone.
    pub policy: Option<PathBuf>,
    /// The runtime for the membrane: [`shared_runtime`] when this process runs many
    /// invocations (the router's turns); `None`: one is started for this invocation and
    /// stopped after it.
    pub runtime: Option<&'static tokio::runtime::Runtime>,
    /// Reuse the membrane services (their SQLite connections, vault, audit log) of this
    /// process's previous turn while nothing they are built from changed — the router's
    /// workers set it; a single `silo run` has nothing to reuse.
    pub warm: bool,
    /// The shared PostgreSQL database (`database:` in silo.yaml): the audit log, the
    /// membrane's ledger, counters, scratch state and outcomes, the vault's tokens, key
    /// revocations and the published public keys live there, so every host sees them;
    /// `None`: embedded SQLite under `data_dir`. The business database, the outbox and the
    /// key folder's private keys stay under `data_dir` either way.
    pub database: Option<silo_postgres::Database>,
    /// A cell host of a multi-host deployment: a router signs each turn's keys (this host
    /// holds no private key, and does not open `<data_dir>/keys`); needs `database`.
    /// `None`: the key store under `data_dir` signs.
    pub key_issuer: Option<std::sync::Arc<dyn crate::keyring::KeyIssuer>>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("data_dir", &self.data_dir)
            .field("run_dir", &self.run_dir)
            .field("silo_exe", &self.silo_exe)
            .field("llm", &self.llm.is_some())
            .field("audit_durability", &self.audit_durability)
            .field("smtp", &self.smtp)
            .field("policy", &self.policy)
            .field("shared_runtime", &self.runtime.is_some())
            .field("database", &self.database)
            .field("key_issuer", &self.key_issuer.is_some())
            .finish()
    }
}

/// One task for one agent.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The agent folder (with `agent.yaml`).
    pub agent_dir: PathBuf,
    /// The customer the task is about (the business database's id).
    pub customer: String,
    /// The case id.
    pub case: String,
    /// The task's input; tokenised before the cell can read it.
    pub input: Value,
    /// The task id; a fresh one when `None`.
    pub task: Option<String>,
    /// The router run (and stage) this turn belongs to: named in the task key, and the
    /// scope of the task's tokens, so every turn of one run shares them.
    pub run: Option<WorkflowRef>,
    /// The input was already tokenised (by the router, in the run's scope): stored as is.
    pub input_tokenised: bool,
    /// The cell id (`c-` and 12 hex digits) the router chose and recorded; fresh when
    /// `None`.
    pub cell: Option<String>,
    /// The task key's id the router chose and recorded (so it can revoke it); fresh when
    /// `None`.
    pub task_key_jti: Option<String>,
    /// A time limit for this turn, in milliseconds; the agent's own `timeout` when
    /// shorter or when `None`.
    pub timeout_ms: Option<u64>,
}

/// What an invocation produced.
#[derive(Debug)]
pub struct InvocationReport {
    /// The task id.
    pub task: String,
    /// How the cell ended.
    pub cell: CellOutcome,
    /// What the agent recorded with `complete` or `escalate`, if anything.
    pub outcome: Option<RecordedOutcome>,
    /// The audit entries of this task, in order.
    pub audit: Vec<Entry>,
    /// Where the invocation's wall time went.
    pub timings: InvocationTimings,
}

/// Where one invocation's wall time went, phase by phase, in microseconds (measured with
/// a monotonic clock in the calling process). The phases follow one another, so they add
/// up to `total_us` but for the small gaps between them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct InvocationTimings {
    /// Reading `agent.yaml` and hashing the agent folder.
    pub manifest_us: u64,
    /// Opening the key store and minting the base and task keys.
    pub keys_us: u64,
    /// Opening the audit log and the membrane's services, storing the task input.
    pub services_us: u64,
    /// Installing (or finding unchanged) the SDK in the run directory.
    pub sdk_us: u64,
    /// Starting the membrane runtime (unless the host shares one) and binding the socket.
    pub membrane_us: u64,
    /// From spawning the cell supervisor to its exit: the supervisor's start, the cell's
    /// set-up, the agent's run (its membrane calls included) and the cell's teardown.
    pub cell_us: u64,
    /// Membrane shutdown, task-key revocation, reading the outcome, the audit query.
    pub teardown_us: u64,
    /// The whole invocation, from the call to the report.
    pub total_us: u64,
}

/// Microseconds, saturating.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Laps of one monotonic clock.
struct Stopwatch {
    start: Instant,
    last: Instant,
}

impl Stopwatch {
    fn start() -> Self {
        let now = Instant::now();
        Self {
            start: now,
            last: now,
        }
    }

    /// Microseconds since the previous lap (or the start).
    fn lap(&mut self) -> u64 {
        let now = Instant::now();
        let us = micros(now.duration_since(self.last));
        self.last = now;
        us
    }

    fn total(&self) -> u64 {
        micros(self.start.elapsed())
    }
}

fn check_id(what: &str, value: &str) -> Result<(), InvokeError> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(InvokeError::Invalid(format!(
            "{what} `{}` must be 1..=128 characters of letters, digits, `.`, `_`, `:` or `-`",
            value.chars().take(64).collect::<String>()
        )))
    }
}

/// Opens the key store under `<data_dir>/keys`, creating it on first use.
pub fn open_keys(data_dir: &Path) -> Result<KeyStore, InvokeError> {
    open_keys_with(data_dir, None)
}

/// [`open_keys`]; with a shared database, revocations go there and the store's public
/// keys are published there (so membranes on other hosts verify with them).
pub fn open_keys_with(
    data_dir: &Path,
    database: Option<&silo_postgres::Database>,
) -> Result<KeyStore, InvokeError> {
    let dir = data_dir.join("keys");
    Ok(match (dir.exists(), database) {
        (true, None) => KeyStore::open(&dir)?,
        (false, None) => KeyStore::init(&dir, now_unix())?,
        (true, Some(db)) => KeyStore::open_with_postgres(&dir, db)?,
        (false, Some(db)) => KeyStore::init_with_postgres(&dir, now_unix(), db)?,
    })
}

/// The operator policy: `file` when given (it must exist), else `<data_dir>/policy.yaml`
/// when present, else capabilities only.
pub fn load_policy(file: Option<&Path>, data_dir: &Path) -> Result<PolicySet, InvokeError> {
    if let Some(file) = file {
        return Ok(PolicySet::from_file(file)?);
    }
    let path = data_dir.join("policy.yaml");
    if path.exists() {
        Ok(PolicySet::from_file(&path)?)
    } else {
        Ok(PolicySet::capabilities_only())
    }
}

/// Buckets of `silo_cell_spawn_seconds`, from a warm re-exec (a few ms) to a loaded host.
const CELL_SPAWN_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// `silo_cell_spawn_seconds`, in the process's default Prometheus registry (scraped by
/// `silo serve`'s `GET /metrics` on the host that runs the cells); `None` only if the
/// registry refused it (it never does for a valid, unique name).
pub(crate) fn cell_spawn_histogram() -> Option<&'static prometheus::Histogram> {
    static HISTOGRAM: OnceLock<Option<prometheus::Histogram>> = OnceLock::new();
    HISTOGRAM
        .get_or_init(|| {
            let opts = prometheus::HistogramOpts::new(
                "silo_cell_spawn_seconds",
                "Cell spawn latency: from spawning the cell supervisor until its cell runs, \
                 plus handing the outcome back (this process's cells).",
            )
            .buckets(CELL_SPAWN_BUCKETS.to_vec());
            let histogram = prometheus::Histogram::with_opts(opts).ok()?;
            prometheus::default_registry()
                .register(Box::new(histogram.clone()))
                .ok()?;
            Some(histogram)
        })
        .as_ref()
}

/// The cell's spawn latency: the supervisor's whole life as the caller saw it (`cell_us`)
/// less the time the supervisor itself measured running the cell (`run_ms`).
fn cell_spawn_seconds(cell_us: u64, run_ms: u64) -> f64 {
    let overhead_us = cell_us.saturating_sub(run_ms.saturating_mul(1000));
    // Microseconds fit an f64 exactly far beyond any cell's life.
    overhead_us as f64 / 1e6
}

/// The process's membrane runtime, started on first use and never stopped, for
/// [`Host::runtime`]: a process that runs many invocations does not start and stop two
/// worker threads for each (and, never dropped, it is safe to hold anywhere).
pub fn shared_runtime() -> Result<&'static tokio::runtime::Runtime, InvokeError> {
    static SHARED: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    if let Some(runtime) = SHARED.get() {
        return Ok(runtime);
    }
    let runtime = membrane_runtime()?;
    // A racing first caller may have set it; its runtime is used and this one dropped.
    let _ = SHARED.set(runtime);
    SHARED
        .get()
        .ok_or_else(|| InvokeError::Invalid("the shared membrane runtime is missing".into()))
}

fn membrane_runtime() -> Result<tokio::runtime::Runtime, InvokeError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| InvokeError::Io {
            what: "start the membrane runtime",
            path: PathBuf::new(),
            source,
        })
}

/// Revokes a minted task key when dropped, so an error between minting and the normal
/// revocation cannot leave it valid; [`RevokeOnDrop::revoke`] does it on the normal path
/// and reports a failure.
pub(crate) struct RevokeOnDrop<'a> {
    store: &'a Keyring,
    jti: String,
    done: bool,
}

impl<'a> RevokeOnDrop<'a> {
    pub(crate) fn new(store: &'a Keyring, jti: &str) -> Self {
        Self {
            store,
            jti: jti.to_owned(),
            done: false,
        }
    }

    pub(crate) fn revoke(mut self) -> Result<(), InvokeError> {
        self.done = true;
        self.store.revoke_task_key(&self.jti, now_unix())
    }
}

impl Drop for RevokeOnDrop<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.store.revoke_task_key(&self.jti, now_unix());
        }
    }
}

/// A file's identity and version: (inode, size, modification time in ns).
fn stamp(path: &Path) -> Option<(u64, u64, i128)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((
        m.ino(),
        m.size(),
        i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
    ))
}

/// Everything a [`Services`] is built from: when one of these changes, it is rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WarmKey {
    data_dir: PathBuf,
    run_dir: PathBuf,
    durability: Durability,
    policy: Option<PathBuf>,
    policy_stamp: Option<(u64, u64, i128)>,
    default_policy_stamp: Option<(u64, u64, i128)>,
    keyring_stamp: Option<(u64, u64, i128)>,
    llm: bool,
    smtp: Option<String>,
    database: Option<String>,
    issued: bool,
}

struct Warm {
    key: WarmKey,
    services: Arc<Services>,
    audit: Arc<AuditLog>,
}

/// The last turn's services, for [`Host::warm`] callers (one per process).
static WARM: std::sync::Mutex<Option<Warm>> = std::sync::Mutex::new(None);

/// The membrane services and audit log for a turn on `host`: reused from this process's
/// previous turn when `host.warm` and nothing they were built from changed (directories,
/// policy files, the key ring, the connectors), else built fresh. One `Services` serves
/// many cells at once (every request carries its own keys and task).
pub(crate) fn services_for(
    host: &mut Host,
    store: &Keyring,
) -> Result<(Arc<Services>, Arc<AuditLog>), InvokeError> {
    let key = WarmKey {
        data_dir: host.data_dir.clone(),
        run_dir: host.run_dir.clone(),
        durability: host.audit_durability,
        policy: host.policy.clone(),
        policy_stamp: host.policy.as_deref().and_then(stamp),
        default_policy_stamp: stamp(&host.data_dir.join("policy.yaml")),
        keyring_stamp: stamp(&host.data_dir.join("keys").join("keyring.json")),
        llm: host.llm.is_some(),
        smtp: host.smtp.as_ref().map(|s| format!("{s:?}")),
        database: host.database.as_ref().map(|d| d.shown_url().to_owned()),
        issued: host.key_issuer.is_some(),
    };
    if host.warm {
        let warm = WARM.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = warm.as_ref().filter(|w| w.key == key) {
            return Ok((w.services.clone(), w.audit.clone()));
        }
    }
    let policy = load_policy(host.policy.as_deref(), &host.data_dir)?;
    let (audit, mut services) = match &host.database {
        None => {
            let audit = Arc::new(AuditLog::open_with(&host.data_dir, host.audit_durability)?);
            let services =
                Services::embedded(&host.data_dir, store.verifier()?, policy, audit.clone())?;
            (audit, services)
        }
        Some(db) => {
            // The router's workers run no more turns at once than they have threads, so the
            // pool is shared by this process's cells.
            let audit = Arc::new(AuditLog::open_postgres(db, &host.data_dir)?);
            let vault = silo_pii::Vault::open_postgres(
                db,
                &silo_membrane::Intake::vault_key_dir(&host.data_dir),
            )
            .map_err(|e| InvokeError::Invalid(format!("the vault: {e}")))?;
            let services = Services::postgres(
                db,
                &host.data_dir,
                store.verifier()?,
                policy,
                audit.clone(),
                vault,
            )?;
            (audit, services)
        }
    };
    if let Some(llm) = host.llm.take() {
        services = services.with_llm(llm);
    }
    // The policy may order a cell killed on a refusal (`kill_on`).
    let registry_dir = host.run_dir.clone();
    services = services.with_kill_switch(Box::new(move |cell| {
        silo_cell::Registry::open(&registry_dir)
            .and_then(|r| r.kill(cell))
            .is_ok()
    }));
    let dir = DirOutbox::new(&Connectors::outbox_dir(&host.data_dir));
    let local: Box<dyn silo_membrane::connectors::outbox::Outbox> = match &host.smtp {
        // The outbox directory is the relay's journal (one file per message id, so nothing
        // is sent twice) and keeps SMS.
        Some(smtp) => Box::new(
            SmtpOutbox::new(smtp, dir.clone(), Box::new(dir))
                .map_err(|e| InvokeError::Invalid(format!("SMTP relay: {e}")))?,
        ),
        None => Box::new(dir),
    };
    services = match &host.database {
        // Once per message id across hosts: a turn run again elsewhere replays.
        Some(db) => services.with_outbox(Box::new(silo_membrane::PgOnceOutbox::new(
            db.clone(),
            local,
        ))),
        None if host.smtp.is_some() => services.with_outbox(local),
        None => services,
    };
    let services = Arc::new(services);
    if host.warm {
        *WARM.lock().unwrap_or_else(|e| e.into_inner()) = Some(Warm {
            key,
            services: services.clone(),
            audit: audit.clone(),
        });
    }
    Ok((services, audit))
}

/// Runs `inv` end to end. `stdout`/`stderr` receive the agent's output.
pub fn invoke(
    mut host: Host,
    inv: &Invocation,
    stdout: Stdio,
    stderr: Stdio,
) -> Result<InvocationReport, InvokeError> {
    let mut clock = Stopwatch::start();
    let mut timings = InvocationTimings::default();
    check_id("customer", &inv.customer)?;
    check_id("case", &inv.case)?;
    let agent_dir = inv
        .agent_dir
        .canonicalize()
        .map_err(|source| InvokeError::Io {
            what: "agent folder",
            path: inv.agent_dir.clone(),
            source,
        })?;
    let manifest = Manifest::load(&agent_dir)?;
    let agent = manifest.agent_name()?;
    // `python_path` folders are checked against the host before anything is minted.
    let python_path = manifest
        .python_path_dirs(
            silo_cell::agents_get_own_uid().then(|| silo_cell::host_ids_for(&agent)),
            &[&host.data_dir, &host.run_dir],
        )
        .map_err(|reason| InvokeError::Manifest {
            path: agent_dir.join(crate::manifest::MANIFEST_FILE),
            reason,
        })?;
    let mut limits = manifest.limits().map_err(InvokeError::Invalid)?;
    if let Some(cap) = inv.timeout_ms {
        if cap == 0 {
            return Err(InvokeError::Invalid("a turn time limit of 0 ms".into()));
        }
        limits.timeout_ms = limits.timeout_ms.min(cap);
    }
    let membrane_limits = manifest.membrane_limits().map_err(InvokeError::Invalid)?;
    let hash = folder_hash(&agent_dir)?;
    timings.manifest_us = clock.lap();

    let now = now_unix();
    let cell = match &inv.cell {
        Some(c) => c.clone(),
        None => new_cell_id(),
    };
    let task = match &inv.task {
        Some(t) => {
            check_id("task", t)?;
            t.clone()
        }
        None => format!("task-{}", &new_jti()?[..16]),
    };
    let task_jti = match &inv.task_key_jti {
        Some(j) => {
            check_id("task key id", j)?;
            j.clone()
        }
        None => new_jti()?,
    };
    let (store, base_key, task_key) = match &host.key_issuer {
        None => {
            let store = open_keys_with(&host.data_dir, host.database.as_ref())?;
            let turn = TurnClaims {
                manifest: &manifest,
                folder_hash: hash.as_str(),
                task: &task,
                cell: &cell,
                task_key_jti: &task_jti,
                customer: &inv.customer,
                case: &inv.case,
                run: inv.run.clone(),
                timeout_ms: limits.timeout_ms,
            };
            let (base, task_claims) = turn.claims(now)?;
            let minter = store.minter()?;
            let base_key = minter.mint_base(&base)?;
            let task_key = minter.mint_task(&task_claims)?;
            (Keyring::Local(store), base_key, task_key)
        }
        Some(issuer) => {
            let database = host.database.clone().ok_or_else(|| {
                InvokeError::Invalid("a key issuer needs the shared database".into())
            })?;
            let issued = issuer
                .issue(&TurnKeyRequest {
                    task: task.clone(),
                    cell: cell.clone(),
                    task_key_jti: task_jti.clone(),
                    agent: manifest.name.clone(),
                    folder_hash: hash.as_str().to_owned(),
                })
                .map_err(|reason| {
                    InvokeError::Invalid(format!("the router refused this turn's keys: {reason}"))
                })?;
            let revocations = silo_keys::RevocationList::postgres(&database)?;
            let ring = Keyring::Shared {
                issuer: issuer.clone(),
                database,
                revocations,
            };
            (ring, issued.base, issued.task)
        }
    };
    // Whatever happens from here on, the key does not outlive this call.
    let revoke_guard = RevokeOnDrop::new(&store, &task_jti);
    timings.keys_us = clock.lap();
    silo_fault::crash_point("after_key_mint");

    let (services, audit) = services_for(&mut host, &store)?;
    if inv.input_tokenised {
        services.set_tokenised_task_input(&task, &inv.input)?;
    } else {
        services.set_task_input(&task, &inv.customer, &inv.input)?;
    }
    timings.services_us = clock.lap();

    let sdk = crate::sdk::install(&host.run_dir)?;
    timings.sdk_us = clock.lap();
    let sockets = host.run_dir.join("sockets");
    std::fs::create_dir_all(&sockets).map_err(|source| InvokeError::Io {
        what: "create the socket folder",
        path: sockets.clone(),
        source,
    })?;
    let socket = sockets.join(format!("{cell}.sock"));

    let mut binding = CellBinding::new(cell.as_str())?
        .with_folder_hash(hash)
        .with_agent_dir(agent_dir.clone());
    // Only the cell's agent may connect, when it has a uid of its own.
    if let Some(uid) = agent_host_uid(&agent) {
        binding = binding.with_peer_uid(uid);
    }

    let mut spec = CellSpec::new(agent, manifest.entry.clone());
    spec.id = cell.clone();
    spec.agent_dir = Some(agent_dir);
    spec.sdk_dir = Some(sdk);
    spec.socket = Some(socket.clone());
    spec.limits = limits;
    spec.run_dir = host.run_dir.clone();
    if !python_path.is_empty() {
        // Read-only at the same paths (Landlock: read and execute), after the SDK.
        let mut path = vec![silo_cell::CELL_SDK_DIR.to_string()];
        path.extend(python_path.iter().map(|p| p.display().to_string()));
        spec.env.push(("PYTHONPATH".into(), path.join(":")));
        spec.ro_binds.extend(python_path);
    }
    if manifest.llm_loopback {
        spec.llm_loopback_port = Some(LLM_LOOPBACK_PORT);
        spec.env.push((
            "OPENAI_BASE_URL".into(),
            format!("http://127.0.0.1:{LLM_LOOPBACK_PORT}/v1"),
        ));
        // The cell's own two keys, in the one header an OpenAI client sends.
        spec.env
            .push(("OPENAI_API_KEY".into(), format!("{base_key}:{task_key}")));
    }
    if manifest.mcp {
        // The agent's MCP client starts this over stdio; it talks only to the membrane
        // socket, with the keys below, inside the same walls as the agent.
        spec.silo_exe = Some(host.silo_exe.clone());
        spec.env.push((
            "SILO_MCP_COMMAND".into(),
            format!("{} mcp --cell", silo_cell::CELL_SILO_EXE),
        ));
    }
    spec.env.push(("SILO_BASE_KEY".into(), base_key));
    spec.env.push(("SILO_TASK_KEY".into(), task_key));

    let own;
    let runtime = match host.runtime {
        Some(shared) => shared,
        None => {
            own = membrane_runtime()?;
            &own
        }
    };
    let silo_exe = host.silo_exe.clone();
    // The cell's span (a child of the caller's: the router's `dispatch`); the membrane
    // bound inside it makes each request's span a child of it.
    let cell_span = tracing::info_span!(
        "cell",
        cell.id = %cell,
        agent = %manifest.name,
        spawn_ms = tracing::field::Empty,
        run_ms = tracing::field::Empty,
        exit = tracing::field::Empty,
    );
    let (cell_outcome, membrane_us, cell_us) = runtime.block_on(async {
        let membrane = cell_span
            .in_scope(|| Membrane::bind(&socket, binding, services.clone(), membrane_limits))?;
        let membrane_us = clock.lap();
        let ran = tokio::task::spawn_blocking(move || {
            silo_cell::spawn_supervisor(&silo_exe, &spec, stdout, stderr).and_then(|h| h.wait())
        })
        .await;
        let cell_us = clock.lap();
        membrane.shutdown().await;
        match ran {
            Ok(r) => Ok((r.map_err(InvokeError::from)?, membrane_us, cell_us)),
            Err(e) => Err(InvokeError::Invalid(format!("the cell task failed: {e}"))),
        }
    })?;
    timings.membrane_us = membrane_us;
    timings.cell_us = cell_us;
    let spawn = cell_spawn_seconds(cell_us, cell_outcome.duration_ms);
    if let Some(h) = cell_spawn_histogram() {
        h.observe(spawn);
    }
    cell_span.record("spawn_ms", spawn * 1000.0);
    cell_span.record("run_ms", cell_outcome.duration_ms);
    cell_span.record("exit", cell_outcome.exit_code());
    drop(cell_span);
    // The task is over: its key must not work again, even before it expires.
    // The key store locks and merges the list file, so concurrent turns and processes
    // never drop each other's revocations.
    revoke_guard.revoke()?;

    let mut outcome = services.outcomes().get(&task)?;
    // A cell the policy killed failed its turn, whatever the agent recorded before.
    if let Some(rule) = services.killed_by_policy(&task) {
        outcome = Some(RecordedOutcome {
            task: task.clone(),
            agent: manifest.name.clone(),
            outcome: silo_membrane::Outcome::Complete {
                status: silo_membrane::CompletionStatus::Failed,
                summary: format!("killed by policy: a call was refused by rule `{rule}`"),
                report: None,
            },
            recorded_at: now_unix(),
        });
    }
    let query = Query {
        task: TaskId::new(task.as_str()).ok(),
        ..Query::all()
    };
    let audit = audit.query(&query)?;
    timings.teardown_us = clock.lap();
    timings.total_us = clock.total();
    Ok(InvocationReport {
        task,
        cell: cell_outcome,
        outcome,
        audit,
        timings,
    })
}
