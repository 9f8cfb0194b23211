//! `Services`: what every membrane shares — the key verifier, the policy, usage counters,
//! the audit log and the connectors. One `Arc<Services>` serves many cells' sockets.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use silo_audit::AuditLog;
use silo_keys::Verifier;
use silo_policy::{InMemoryCounters, PolicySet};

use crate::connectors::kv::KvStore;
use crate::connectors::ledger::Ledger;
use crate::connectors::outcomes::OutcomeStore;
use crate::connectors::Connectors;
use crate::error::MembraneError;

/// The shared state behind every membrane socket.
pub struct Services {
    pub(crate) verifier: Verifier,
    pub(crate) policy: PolicySet,
    pub(crate) counters: Box<dyn crate::connectors::usage::UsageStore>,
    pub(crate) audit: Arc<AuditLog>,
    pub(crate) connectors: Connectors,
    pub(crate) privacy: crate::privacy::Privacy,
    /// Kills the cell these services serve, when a refusal's rule is in the policy's
    /// `kill_on` (see [`Services::with_kill_switch`]).
    pub(crate) kill_switch: Option<KillSwitch>,
    /// Tasks whose cell the policy ordered killed, with the rule: their turn failed,
    /// whatever the agent recorded before.
    pub(crate) killed: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
    /// Held by a counted action from its decision until its usage is recorded.
    pub(crate) usage_gate: crate::connectors::usage::UsageGate,
}

/// Kills a cell by id; `true` when it was running.
pub type KillSwitch = Box<dyn Fn(&str) -> bool + Send + Sync>;

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("verifier", &self.verifier)
            .finish_non_exhaustive()
    }
}

impl Services {
    /// Services over explicit connectors and a PII vault.
    pub fn new(
        verifier: Verifier,
        policy: PolicySet,
        audit: Arc<AuditLog>,
        connectors: Connectors,
        vault: silo_pii::Vault,
    ) -> Self {
        Self {
            verifier,
            policy,
            counters: Box::new(InMemoryCounters::default()),
            audit,
            connectors,
            privacy: crate::privacy::Privacy::new(vault),
            kill_switch: None,
            killed: Default::default(),
            usage_gate: crate::connectors::usage::UsageGate::in_process(),
        }
    }

    /// `<data_dir>/membrane/membrane.db`: where the embedded connectors keep their tables.
    pub fn db_path(data_dir: &Path) -> PathBuf {
        data_dir.join("membrane").join("membrane.db")
    }

    /// Services with the embedded SQLite connectors under `data_dir` (see [`Self::db_path`]).
    pub fn embedded(
        data_dir: &Path,
        verifier: Verifier,
        policy: PolicySet,
        audit: Arc<AuditLog>,
    ) -> Result<Self, MembraneError> {
        let connectors = Connectors::embedded(data_dir)?;
        let privacy = crate::privacy::Privacy::open(data_dir)?;
        Ok(Self {
            verifier,
            policy,
            counters: Box::new(crate::connectors::usage::SqliteUsage::open(
                &Self::db_path(data_dir),
            )?),
            audit,
            connectors,
            privacy,
            kill_switch: None,
            killed: Default::default(),
            usage_gate: crate::connectors::usage::UsageGate::shared(
                &data_dir.join("membrane").join("usage.lock"),
            ),
        })
    }

    /// Services for one of several hosts sharing the PostgreSQL database `db`: scratch
    /// state, ledger, outcomes and task inputs in `db` ([`Connectors::postgres`]), the usage
    /// counters in `db`, and the usage gate across hosts (a session advisory lock on `db`,
    /// see [`crate::connectors::usage::UsageGate::postgres`]), so rate limits and daily
    /// totals hold over every host's actions together. Tokens come from `vault` (a vault
    /// every host shares, for tokens to resolve on any of them). The business database and
    /// the outbox stay local to this host under `data_dir`, as with [`Self::embedded`].
    pub fn postgres(
        db: &silo_postgres::Database,
        data_dir: &Path,
        verifier: Verifier,
        policy: PolicySet,
        audit: Arc<AuditLog>,
        vault: silo_pii::Vault,
    ) -> Result<Self, MembraneError> {
        Ok(Self {
            verifier,
            policy,
            counters: Box::new(crate::connectors::postgres::PgUsage::new(db.clone())),
            audit,
            connectors: Connectors::postgres(db, data_dir)?,
            privacy: crate::privacy::Privacy::new(vault),
            kill_switch: None,
            killed: Default::default(),
            usage_gate: crate::connectors::usage::UsageGate::postgres(db),
        })
    }

    /// Fills the embedded business database under `data_dir` from the SQL file `seed`
    /// (a project's `seed`), unless it already has customers: `Ok(true)` when it loaded.
    /// Call it before anything opens the database (the membrane's services, [`Intake`]),
    /// or that opener fills an empty database with the built-in customers first. A file
    /// that does not load is an error naming it, and leaves the database empty.
    pub fn seed_business_db(data_dir: &Path, seed: &Path) -> Result<bool, MembraneError> {
        crate::connectors::data::load_seed_file(&Connectors::business_db(data_dir), seed)
            .map_err(|e| MembraneError::InvalidConfig(e.to_string()))
    }

    /// [`Self::embedded`] with the business database filled from `seed` when it is empty
    /// (see [`Self::seed_business_db`]); `None`: the built-in customers.
    pub fn embedded_seeded(
        data_dir: &Path,
        verifier: Verifier,
        policy: PolicySet,
        audit: Arc<AuditLog>,
        seed: Option<&Path>,
    ) -> Result<Self, MembraneError> {
        if let Some(seed) = seed {
            Self::seed_business_db(data_dir, seed)?;
        }
        Self::embedded(data_dir, verifier, policy, audit)
    }

    /// Sends rendered messages through `outbox` instead of the embedded directory.
    pub fn with_outbox(mut self, outbox: Box<dyn crate::connectors::outbox::Outbox>) -> Self {
        self.connectors.outbox = outbox;
        self
    }

    /// Lets the policy order a kill: when a call is refused by a rule the policy's
    /// `kill_on` names, the task's outcome is recorded as failed ("killed by policy") and
    /// `kill` is called with the cell id, at once, before the refusal is answered.
    pub fn with_kill_switch(mut self, kill: KillSwitch) -> Self {
        self.kill_switch = Some(kill);
        self
    }

    /// The rule whose refusal killed `task`'s cell, if the policy ordered it: that turn
    /// failed, even if the agent recorded another outcome before the refused call.
    pub fn killed_by_policy(&self, task: &str) -> Option<String> {
        self.killed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(task)
    }

    /// Forwards `/v1/chat/completions` to `upstream`.
    pub fn with_llm(mut self, upstream: Box<dyn crate::connectors::llm::LlmUpstream>) -> Self {
        self.connectors.llm = Some(upstream);
        self
    }

    /// Stores a task's input for `GET /v1/task`, tokenised first (in the task's own token
    /// scope): every string in it is scanned for the customer's known values and
    /// recognisable personal data, so the raw input never reaches the cell (nor this
    /// database).
    pub fn set_task_input(
        &self,
        task: &str,
        customer: &str,
        input: &serde_json::Value,
    ) -> Result<(), MembraneError> {
        let tokenised = tokenise_with(
            &self.privacy,
            self.connectors.data.as_ref(),
            task,
            customer,
            input,
        )?;
        self.connectors.outcomes.put_input(task, &tokenised)?;
        Ok(())
    }

    /// Stores an input a dispatcher already tokenised (with [`Intake`], in the run's
    /// scope), as it is.
    pub fn set_tokenised_task_input(
        &self,
        task: &str,
        input: &serde_json::Value,
    ) -> Result<(), MembraneError> {
        self.connectors.outcomes.put_input(task, input)?;
        Ok(())
    }

    /// The key verifier (its revocation list is checked on every request).
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The audit log every call is recorded in.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// The refund ledger.
    pub fn ledger(&self) -> &dyn Ledger {
        self.connectors.ledger.as_ref()
    }

    /// The business database.
    pub fn data(&self) -> &dyn crate::connectors::data::CustomerData {
        self.connectors.data.as_ref()
    }

    /// Where rendered messages go.
    pub fn outbox(&self) -> &dyn crate::connectors::outbox::Outbox {
        self.connectors.outbox.as_ref()
    }

    /// Task-scoped scratch storage.
    pub fn kv(&self) -> &dyn KvStore {
        self.connectors.kv.as_ref()
    }

    /// The agents' recorded results, for the caller to read after a cell exits.
    pub fn outcomes(&self) -> &dyn OutcomeStore {
        self.connectors.outcomes.as_ref()
    }
}

fn tokenise_with(
    privacy: &crate::privacy::Privacy,
    data: &dyn crate::connectors::data::CustomerData,
    scope: &str,
    customer: &str,
    input: &serde_json::Value,
) -> Result<serde_json::Value, MembraneError> {
    let fail = |e: crate::wire::ApiError| {
        MembraneError::InvalidConfig(format!("cannot tokenise the task input: {}", e.message))
    };
    let known = match data.customer(customer)? {
        Some(record) => crate::routes::known_values(privacy, scope, &record).map_err(fail)?,
        None => std::sync::Arc::new(silo_pii::KnownSet::empty()),
    };
    privacy.json(scope, input, &known).map_err(fail)
}

/// Tokenises task input before anything stores it: the router runs every submitted input
/// through this, in the scope of the task's run, so neither its store nor any cell holds
/// the raw text. Uses the same vault and business database as the membrane.
pub struct Intake {
    privacy: crate::privacy::Privacy,
    data: crate::connectors::data::SqliteData,
}

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intake").finish_non_exhaustive()
    }
}

impl Intake {
    /// The vault and business database under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, MembraneError> {
        Ok(Self {
            privacy: crate::privacy::Privacy::open(data_dir)?,
            data: crate::connectors::data::SqliteData::open(&Connectors::business_db(data_dir))?,
        })
    }

    /// The business database under `data_dir`, tokenising into `vault` (a PostgreSQL
    /// vault when several hosts share a database: the router that tokenises a task's
    /// input and the cell host whose membrane hydrates its tokens must agree).
    pub fn with_vault(data_dir: &Path, vault: silo_pii::Vault) -> Result<Self, MembraneError> {
        Ok(Self {
            privacy: crate::privacy::Privacy::new(vault),
            data: crate::connectors::data::SqliteData::open(&Connectors::business_db(data_dir))?,
        })
    }

    /// The folder of the vault's master key under `data_dir` (`<data_dir>/vault`): the
    /// embedded vault keeps its database there too; a PostgreSQL vault only the key.
    pub fn vault_key_dir(data_dir: &Path) -> PathBuf {
        crate::privacy::Privacy::dir(data_dir)
    }

    /// [`Self::open`], with the business database filled from `seed` when it is empty
    /// (see [`Services::seed_business_db`]).
    pub fn open_seeded(data_dir: &Path, seed: Option<&Path>) -> Result<Self, MembraneError> {
        if let Some(seed) = seed {
            Services::seed_business_db(data_dir, seed)?;
        }
        Self::open(data_dir)
    }

    /// `input` with personal data replaced by tokens of `scope`.
    pub fn tokenise(
        &self,
        scope: &str,
        customer: &str,
        input: &serde_json::Value,
    ) -> Result<serde_json::Value, MembraneError> {
        tokenise_with(&self.privacy, &self.data, scope, customer, input)
    }
}
