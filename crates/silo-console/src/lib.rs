//! silo-console owns the operator console: the web app through which a human works a
//! human pool's inbox. Humans are agents too: an operator signs in with a local account
//! (argon2-hashed password, a session cookie, a CSRF token on every form), sees the same
//! tokenised customer context the agent saw (`[NAME_1]`), and acts with the same tools —
//! every refund, note or email goes through the membrane with the operator's own base key
//! (their capabilities from `silo.yaml`) and a task key for the task they took, is decided
//! by the same policy and lands in the same audit log. Admins also see agents (version,
//! online/offline), live cells (pause, resume, kill), every task, the audit browser with
//! its verification status, and shadow-review divergences.
//!
//! Pages are rendered on the server (maud, which escapes every value); the one script,
//! `assets/console.js`, only refreshes the inbox. Assets are compiled into the binary:
//! nothing to build by hand.
//!
//! It must never: show a raw personal value (everything it shows came through the
//! membrane or the router, both tokenised); act for an operator except through the
//! membrane or the router kernel; accept a `POST` without the session's CSRF token; answer
//! a non-loopback `Host`; or store a password or session token in clear.
#![forbid(unsafe_code)]

pub mod accounts;
mod assets;
pub mod markdown;
mod pages;
pub mod security;
mod tools;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::routing::{get, post};
use axum::Router;
use silo_keys::Capabilities;
use silo_router::{AnyStore, CellDispatcher, Kernel};

pub use accounts::{AccountError, Accounts};

/// The kernel the console drives (the daemon's).
pub type ConsoleKernel = Kernel<AnyStore, CellDispatcher>;

/// Makes the settings of one membrane call (data directory, policy, connectors).
pub type HostFn = dyn Fn() -> Result<silo_invoke::Host, String> + Send + Sync;

/// One operator of the project (`operators:` in silo.yaml).
#[derive(Debug, Clone)]
pub struct OperatorProfile {
    /// The human pool whose inbox they work.
    pub pool: String,
    /// Their base key's capabilities.
    pub caps: Capabilities,
    /// May use the admin pages.
    pub admin: bool,
}

/// What the console is given by `silo serve`.
pub struct ConsoleSetup {
    /// The router kernel (shared with the daemon's workers).
    pub kernel: Arc<ConsoleKernel>,
    /// silo's data directory.
    pub data_dir: PathBuf,
    /// The agent folders (instructions, escalation notes, templates, versions).
    pub agents_dir: PathBuf,
    /// The project's operators.
    pub operators: BTreeMap<String, OperatorProfile>,
    /// Settings for each membrane call.
    pub host: Arc<HostFn>,
    /// Called after the console changed the router's state (wakes idle workers).
    pub on_change: Arc<dyn Fn() + Send + Sync>,
    /// The shared database (audit log and ledger there); `None`: embedded SQLite.
    pub database: Option<silo_postgres::Database>,
}

impl std::fmt::Debug for ConsoleSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleSetup")
            .field("data_dir", &self.data_dir)
            .field("agents_dir", &self.agents_dir)
            .field("operators", &self.operators)
            .finish_non_exhaustive()
    }
}

/// The console could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The address is not loopback.
    #[error("`{0}` is not a loopback address; the console listens on localhost only")]
    NotLoopback(SocketAddr),
    /// The accounts database.
    #[error(transparent)]
    Accounts(#[from] AccountError),
    /// The audit log.
    #[error("opening the audit log: {0}")]
    Audit(#[from] silo_audit::AuditError),
    /// The ledger.
    #[error("opening the ledger: {0}")]
    Ledger(#[from] silo_membrane::ConnectorError),
    /// An operator has the name of an agent or pool: their keys would pass for its.
    #[error("operator `{0}` has the name of an agent or pool; rename the operator")]
    OperatorNamedLikeAgent(String),
    /// Binding or serving.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What the outcome of an action was, shown once on the next page.
#[derive(Debug, Clone)]
pub(crate) struct Flash {
    pub ok: bool,
    pub text: String,
}

/// The console's state, shared by every request.
pub(crate) struct Inner {
    pub setup: ConsoleSetup,
    pub accounts: Accounts,
    pub audit: silo_audit::AuditLog,
    pub ledger: Box<dyn silo_membrane::Ledger>,
    /// One message per session (by session key), shown on the next page it loads.
    pub flashes: Mutex<HashMap<String, Flash>>,
}

pub(crate) type Shared = Arc<Inner>;

impl Inner {
    pub fn set_flash(&self, session: &accounts::Session, ok: bool, text: impl Into<String>) {
        let mut flashes = self.flashes.lock().unwrap_or_else(|e| e.into_inner());
        flashes.insert(
            session.token_hash.clone(),
            Flash {
                ok,
                text: text.into(),
            },
        );
    }

    pub fn take_flash(&self, session: &accounts::Session) -> Option<Flash> {
        let mut flashes = self.flashes.lock().unwrap_or_else(|e| e.into_inner());
        flashes.remove(&session.token_hash)
    }
}

/// The operator console.
pub struct Console {
    shared: Shared,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console").finish_non_exhaustive()
    }
}

impl Console {
    /// A console over `setup`, with the accounts, audit log and ledger of its data
    /// directory.
    pub fn new(setup: ConsoleSetup) -> Result<Self, ConsoleError> {
        // An operator's key must not pass for an agent's (audit trail, usage counters).
        if let Some(name) = setup
            .operators
            .keys()
            .find(|name| setup.kernel.routing().agent(name).is_some())
        {
            return Err(ConsoleError::OperatorNamedLikeAgent(name.clone()));
        }
        let accounts = Accounts::open(&setup.data_dir)?;
        let (audit, ledger): (_, Box<dyn silo_membrane::Ledger>) = match &setup.database {
            Some(db) => (
                silo_audit::AuditLog::open_postgres(db, &setup.data_dir)?,
                Box::new(silo_membrane::PgLedger::new(db.clone())),
            ),
            None => (
                silo_audit::AuditLog::open(&setup.data_dir)?,
                Box::new(silo_membrane::SqliteLedger::open(
                    &silo_membrane::Services::db_path(&setup.data_dir),
                )?),
            ),
        };
        Ok(Self {
            shared: Arc::new(Inner {
                setup,
                accounts,
                audit,
                ledger,
                flashes: Mutex::default(),
            }),
        })
    }

    /// The console's routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(pages::home))
            .route("/login", get(pages::login::form).post(pages::login::submit))
            .route("/logout", post(pages::login::logout))
            .route("/inbox", get(pages::inbox::page))
            .route("/inbox/rows", get(pages::inbox::rows_only))
            .route("/tasks", get(pages::tasks::list))
            .route("/tasks/{id}", get(pages::task::page))
            .route("/tasks/{id}/take", post(pages::task::take))
            .route("/tasks/{id}/act/{tool}", post(tools::act))
            .route("/admin", get(pages::admin::page))
            .route(
                "/admin/agents/{name}/{state}",
                post(pages::admin::set_online),
            )
            .route(
                "/admin/tasks/{id}/signal/{signal}",
                post(pages::admin::signal),
            )
            .route("/audit", get(pages::audit::page))
            .route("/assets/{file}", get(assets::serve))
            .layer(axum::middleware::from_fn_with_state(
                self.shared.clone(),
                security::guard,
            ))
            .with_state(self.shared.clone())
    }

    /// Serves the console on `addr` (loopback only) until the process ends; `ready` gets
    /// the bound address.
    pub async fn serve(
        self,
        addr: SocketAddr,
        ready: impl FnOnce(SocketAddr),
    ) -> Result<(), ConsoleError> {
        if !addr.ip().is_loopback() {
            return Err(ConsoleError::NotLoopback(addr));
        }
        let listener = tokio::net::TcpListener::bind(addr).await?;
        ready(listener.local_addr()?);
        axum::serve(listener, self.router()).await?;
        Ok(())
    }
}
