//! Credentials: a verified base key and a verified task key that agree on the agent.

use crate::claims::{BaseKey, TaskKey};

/// Both keys, verified together. Only [`crate::Verifier::verify_pair`] makes one, so holding a
/// `Credentials` means: both signatures, audiences, times and revocations checked, the task key
/// bound to this cell, and both naming the same agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    base: BaseKey,
    task: TaskKey,
}

impl Credentials {
    pub(crate) fn new(base: BaseKey, task: TaskKey) -> Self {
        Self { base, task }
    }

    /// What the agent role may do.
    pub fn base(&self) -> &BaseKey {
        &self.base
    }

    /// What this invocation may touch.
    pub fn task(&self) -> &TaskKey {
        &self.task
    }

    /// The agent both keys name.
    pub fn agent(&self) -> &str {
        &self.base.agent
    }
}
