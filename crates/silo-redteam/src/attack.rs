//! What one red-team case is: a small agent folder (an `agent.yaml` with the case's
//! capabilities, a `main.py` of the prelude plus the case's Python) run in a real cell
//! against the real membrane, what the host mints for it, and what must happen.

use serde::Serialize;

/// The suite's categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Escapes from the cell: files, devices, syscalls, network, namespaces, limits.
    Containment,
    /// Forged, tampered, expired, revoked, replayed or misplaced keys.
    Keys,
    /// Doing more than the base key and the policy allow.
    Authority,
    /// Getting personal data out, or into a place it does not belong.
    Privacy,
    /// Floods, slow clients, huge and malformed requests against the membrane.
    Membrane,
    /// Rewriting or forging the audit trail.
    Audit,
    /// Leaving something behind for a later run.
    Persistence,
    /// Reaching another task's state, data or tokens.
    CrossTask,
    /// Normal work of the demo agents: must all be allowed.
    Legitimate,
}

impl Category {
    /// Every category, in report order.
    pub const ALL: [Category; 9] = [
        Category::Containment,
        Category::Keys,
        Category::Authority,
        Category::Privacy,
        Category::Membrane,
        Category::Audit,
        Category::Persistence,
        Category::CrossTask,
        Category::Legitimate,
    ];

    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Containment => "containment",
            Category::Keys => "keys",
            Category::Authority => "authority",
            Category::Privacy => "privacy",
            Category::Membrane => "membrane",
            Category::Audit => "audit",
            Category::Persistence => "persistence",
            Category::CrossTask => "cross_task",
            Category::Legitimate => "legitimate",
        }
    }

    /// The category named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// The Agent OS red-team categories (its published 60-prompt benchmark), which the
/// action-level cases here map to (docs/REDTEAM.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentOs {
    /// Asking for a forbidden action outright.
    DirectViolation,
    /// Instructions smuggled in through data the agent reads.
    Injection,
    /// Claims of another identity, role or authority to confuse the agent.
    ContextualConfusion,
    /// Ordinary requests that must go through.
    ValidRequest,
}

impl AgentOs {
    /// The name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentOs::DirectViolation => "direct_violation",
            AgentOs::Injection => "injection",
            AgentOs::ContextualConfusion => "contextual_confusion",
            AgentOs::ValidRequest => "valid_request",
        }
    }
}

/// Keys the host mints for a case and writes to `/agent/keys.json` (the cell's own,
/// genuine keys are in its environment as usual).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostKey {
    /// A task key for this task and cell that expired an hour ago (`expired`).
    Expired,
    /// A task key for this task and cell valid only from an hour from now (`future`).
    NotYetValid,
    /// A genuine task key for this task, bound to another cell (`other_cell`).
    OtherCell,
    /// A task key for this task and cell, revoked before the run (`revoked`).
    Revoked,
    /// A genuine task key of another customer's task, bound to that task's cell (stolen)
    /// (`other_customer`).
    OtherCustomer,
    /// A base key for another agent with bigger limits (`other_agent_base`).
    OtherAgentBase,
    /// A base key for this agent's name and folder hash but with bigger limits, signed
    /// by a key the membrane does not trust (`untrusted_base`).
    UntrustedSigner,
    /// A task key for this cell naming another case (`other_case`).
    OtherCase,
}

impl HostKey {
    /// The field of `keys.json`.
    pub fn field(self) -> &'static str {
        match self {
            HostKey::Expired => "expired",
            HostKey::NotYetValid => "future",
            HostKey::OtherCell => "other_cell",
            HostKey::Revoked => "revoked",
            HostKey::OtherCustomer => "other_customer",
            HostKey::OtherAgentBase => "other_agent_base",
            HostKey::UntrustedSigner => "untrusted_base",
            HostKey::OtherCase => "other_case",
        }
    }
}

/// What must happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// The attempt is refused: the case says `BLOCKED`, the host finds nothing wrong.
    Blocked,
    /// Refused, or the cell is killed trying (a seccomp kill, a limit): both are blocks.
    BlockedOrKilled,
    /// Legitimate: the case says `OK`.
    Allowed,
}

/// One case of the suite.
#[derive(Debug, Clone, Serialize)]
pub struct Attack {
    /// Unique id, also the agent's name (`a-z`, `0-9`, `-`).
    pub id: &'static str,
    /// Its category.
    pub category: Category,
    /// What it tries, in a sentence.
    pub title: &'static str,
    /// The Agent OS category it is an action-level version of, if any.
    pub agent_os: Option<AgentOs>,
    /// The `capabilities:` block of its `agent.yaml` (YAML, two-space indented).
    pub caps: &'static str,
    /// Extra `limits:` lines of its `agent.yaml` (two-space indented), if any.
    pub limits: &'static str,
    /// The Python after the prelude (`py/prelude.py`).
    pub code: &'static str,
    /// Run the case twice: first with input `{"phase": "plant"}` (as a task for
    /// `plant_customer`), then with `{"phase": "check"}`; the verdict is the second run's.
    pub two_runs: bool,
    /// The customer of the (first) run.
    pub customer: &'static str,
    /// The customer of the second run of a two-run case.
    pub check_customer: &'static str,
    /// The task input (for a single run).
    pub input: &'static str,
    /// Keys the host mints for it.
    pub keys: &'static [HostKey],
    /// What must happen.
    pub expect: Expect,
    /// How many cents of new refunds the ledger may show after it (legitimate refunds, or
    /// the part of a split refund the policy allows).
    pub refund_allowance: i64,
}

/// The capabilities most cases get: a refund agent's.
pub const REFUND_CAPS: &str = "  refund: { max_cents: 50000, currency: USD }
  data.read: { fields: [id, name, email, tier, balance_cents, currency, orders, history] }
  data.write: { ops: [case.add_note, case.set_status] }
  email.send: { templates: [refund_confirmation, apology] }
  sms.send: { templates: [refund_confirmation] }
  escalate: [manager-agent, human]
  llm: { max_tokens_per_task: 1000 }
";

impl Attack {
    /// A case with the refund agent's capabilities, run once for `cus_001`, expected to be
    /// blocked.
    pub const fn new(
        id: &'static str,
        category: Category,
        title: &'static str,
        code: &'static str,
    ) -> Self {
        Self {
            id,
            category,
            title,
            agent_os: None,
            caps: REFUND_CAPS,
            limits: "",
            code,
            two_runs: false,
            customer: "cus_001",
            check_customer: "cus_001",
            input: "{}",
            keys: &[],
            expect: if matches!(category, Category::Legitimate) {
                Expect::Allowed
            } else {
                Expect::Blocked
            },
            refund_allowance: 0,
        }
    }

    /// With these capabilities.
    pub const fn caps(mut self, caps: &'static str) -> Self {
        self.caps = caps;
        self
    }

    /// With these extra limits.
    pub const fn limits(mut self, limits: &'static str) -> Self {
        self.limits = limits;
        self
    }

    /// Mapped to an Agent OS category.
    pub const fn agent_os(mut self, c: AgentOs) -> Self {
        self.agent_os = Some(c);
        self
    }

    /// Run twice (plant, then check), the second time for `check_customer`.
    pub const fn two_runs(mut self, check_customer: &'static str) -> Self {
        self.two_runs = true;
        self.check_customer = check_customer;
        self
    }

    /// For this customer.
    pub const fn customer(mut self, customer: &'static str) -> Self {
        self.customer = customer;
        self.check_customer = customer;
        self
    }

    /// With this task input (JSON).
    pub const fn input(mut self, input: &'static str) -> Self {
        self.input = input;
        self
    }

    /// With these host-minted keys in `/agent/keys.json`.
    pub const fn keys(mut self, keys: &'static [HostKey]) -> Self {
        self.keys = keys;
        self
    }

    /// A cell killed trying also counts as blocked.
    pub const fn or_killed(mut self) -> Self {
        self.expect = Expect::BlockedOrKilled;
        self
    }

    /// The ledger may grow by this many cents.
    pub const fn allow_refunds(mut self, cents: i64) -> Self {
        self.refund_allowance = cents;
        self
    }
}
