//! silo-redteam owns `silo redteam`: an adversarial suite that attacks silo's real
//! mechanisms, not a model's manners. Every case is a small agent folder run in a real
//! cell against the real membrane with real keys and the real policy (`lab.rs`), grouped
//! by category (containment, keys, authority, privacy, membrane abuse, audit tampering,
//! persistence across runs, cross-task leakage; `catalog/`), plus a legitimate suite of
//! the demo agents' normal work that must all be allowed. A case's own account
//! (`REDTEAM BLOCKED …`) is never enough: after each run the host checks its own evidence
//! — the refund ledger, every new outbox message's real recipient, every byte the cell
//! printed (scanned for the customers' raw personal data and the host canary), the canary
//! folder, and that the audit log still verifies — and any of it turns the case into a
//! breach. A case that ends without a verdict is an error, never a pass.
//!
//! It must never: count a case as blocked on the attacker's word alone; run a case
//! outside a cell; touch anything outside its own throw-away lab folder (the lab is a
//! fresh data directory under the system's temporary folder, removed at the end).
#![forbid(unsafe_code)]

pub mod attack;
pub mod catalog;
mod lab;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

pub use attack::{AgentOs, Attack, Category, Expect, HostKey};
pub use lab::Lab;

/// The suite could not run.
#[derive(Debug, thiserror::Error)]
pub enum RedteamError {
    /// Setting up the lab or running a case failed (not a verdict).
    #[error("{0}")]
    Lab(String),
}

impl RedteamError {
    pub(crate) fn lab(e: impl std::fmt::Display) -> Self {
        Self::Lab(e.to_string())
    }
}

/// What happened to one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// An attack was refused or contained, and the host found nothing wrong.
    Blocked,
    /// An attack got through (by its own account or by the host's evidence).
    Breached,
    /// A legitimate operation went through.
    Allowed,
    /// A legitimate operation was refused.
    FalsePositive,
    /// No verdict (the case crashed, or the lab failed): counted as a failure.
    Error,
}

/// One case's result.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// The case id.
    pub id: String,
    /// Its category.
    pub category: Category,
    /// Its Agent OS category, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_os: Option<AgentOs>,
    /// What it tried.
    pub title: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Why: the case's own line, how the cell ended, and any breach the host found.
    pub evidence: Vec<String>,
    /// How long it took.
    pub millis: u64,
}

/// Counts for one category.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Cases run.
    pub attempted: usize,
    /// Attacks refused or contained.
    pub blocked: usize,
    /// Attacks that got through.
    pub breached: usize,
    /// Legitimate operations that went through.
    pub allowed: usize,
    /// Legitimate operations refused.
    pub false_positives: usize,
    /// Cases without a verdict.
    pub errors: usize,
}

impl Tally {
    fn add(&mut self, v: Verdict) {
        self.attempted += 1;
        match v {
            Verdict::Blocked => self.blocked += 1,
            Verdict::Breached => self.breached += 1,
            Verdict::Allowed => self.allowed += 1,
            Verdict::FalsePositive => self.false_positives += 1,
            Verdict::Error => self.errors += 1,
        }
    }
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Every case, in order.
    pub cases: Vec<CaseResult>,
    /// Counts by category.
    pub by_category: BTreeMap<Category, Tally>,
    /// Counts by Agent OS category (the cases that map to one).
    pub by_agent_os: BTreeMap<AgentOs, Tally>,
    /// All attacks (every category but the legitimate one).
    pub attacks: Tally,
    /// The legitimate suite.
    pub legitimate: Tally,
    /// Wall time of the run.
    pub millis: u64,
}

impl Report {
    /// True when no attack got through, no legitimate operation was refused and every
    /// case reached a verdict.
    pub fn passed(&self) -> bool {
        self.attacks.breached == 0
            && self.attacks.errors == 0
            && self.legitimate.false_positives == 0
            && self.legitimate.errors == 0
    }
}

/// Which cases to run.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only these categories (all when empty).
    pub categories: Vec<Category>,
    /// Only cases whose id contains this.
    pub id_contains: Option<String>,
}

impl Selection {
    fn picks(&self, a: &Attack) -> bool {
        (self.categories.is_empty() || self.categories.contains(&a.category))
            && self.id_contains.as_deref().is_none_or(|s| a.id.contains(s))
    }
}

/// Runs the selected cases of the catalog in a fresh lab; `progress` is told about each
/// case as it ends.
pub fn run(
    silo_exe: &Path,
    selection: &Selection,
    mut progress: impl FnMut(usize, usize, &CaseResult),
) -> Result<Report, RedteamError> {
    let started = std::time::Instant::now();
    let cases: Vec<Attack> = catalog::all()
        .into_iter()
        .filter(|a| selection.picks(a))
        .collect();
    let lab = Lab::new(silo_exe)?;
    let mut results = Vec::with_capacity(cases.len());
    for (i, a) in cases.iter().enumerate() {
        let r = lab.run(a, i);
        progress(i + 1, cases.len(), &r);
        results.push(r);
    }
    Ok(summarise(
        results,
        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    ))
}

/// The counts of `cases`.
pub fn summarise(cases: Vec<CaseResult>, millis: u64) -> Report {
    let mut by_category: BTreeMap<Category, Tally> = BTreeMap::new();
    let mut by_agent_os: BTreeMap<AgentOs, Tally> = BTreeMap::new();
    let mut attacks = Tally::default();
    let mut legitimate = Tally::default();
    for c in &cases {
        by_category.entry(c.category).or_default().add(c.verdict);
        if let Some(os) = c.agent_os {
            by_agent_os.entry(os).or_default().add(c.verdict);
        }
        if c.category == Category::Legitimate {
            legitimate.add(c.verdict);
        } else {
            attacks.add(c.verdict);
        }
    }
    Report {
        cases,
        by_category,
        by_agent_os,
        attacks,
        legitimate,
        millis,
    }
}
