//! Shadow sampling: every N-th submitted task (offset by a seed) is reviewed by a human,
//! whose result acts while the agent's is recorded for comparison. Deterministic: it
//! depends only on the task's sequence number.

/// 1-in-`every` sampling, shifted by `seed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShadowSampling {
    /// Sample one task in this many (0: none).
    pub every: u64,
    /// Shifts which tasks are picked.
    pub seed: u64,
}

impl ShadowSampling {
    /// Whether the `seq`-th task (1-based) is sampled.
    pub fn picks(&self, seq: u64) -> bool {
        self.every != 0 && seq.wrapping_add(self.seed).is_multiple_of(self.every)
    }
}
