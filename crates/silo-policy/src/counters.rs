//! Usage counters for rate limits and daily totals. The decision only reads them through
//! [`UsageCounters`]; the membrane records an action after it succeeds. Kept outside the
//! decision so that [`crate::PolicySet::decide`] stays a pure function of its inputs.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use silo_keys::{BaseKey, TaskKey};

use crate::action::Action;

/// Seconds in a (UTC) day, for daily totals.
pub const DAY_SECS: u64 = 86_400;

/// Whose usage a rate limit or daily total counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RateScope {
    /// All tasks of one agent.
    Agent,
    /// All tasks for one customer token.
    Customer,
    /// One task.
    Task,
}

impl RateScope {
    /// The id this scope counts under for a key pair.
    pub fn id<'a>(self, base: &'a BaseKey, task: &'a TaskKey) -> &'a str {
        match self {
            RateScope::Agent => &base.agent,
            RateScope::Customer => &task.customer,
            RateScope::Task => &task.task,
        }
    }
}

/// Read access to usage, as the decision needs it.
pub trait UsageCounters {
    /// How many times `action` was done under `(scope, id)` in the last `window_secs` before `now`.
    fn count(&self, scope: RateScope, id: &str, action: Action, window_secs: u64, now: u64) -> u64;
    /// Sum of amounts (minor units) of `action` under `(scope, id)` on UTC day `now / 86400`.
    fn daily_total(&self, scope: RateScope, id: &str, action: Action, now: u64) -> i64;
}

/// Counters that are always zero (no rate limits in force); for tests and one-off evaluations.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCounters;

impl UsageCounters for NoCounters {
    fn count(&self, _: RateScope, _: &str, _: Action, _: u64, _: u64) -> u64 {
        0
    }
    fn daily_total(&self, _: RateScope, _: &str, _: Action, _: u64) -> i64 {
        0
    }
}

type Key = (RateScope, String, Action);

/// In-memory counters for one membrane process. Lost on restart; a durable implementation
/// belongs to the store crate later. Events older than `horizon_secs` are pruned on record.
#[derive(Debug)]
pub struct InMemoryCounters {
    horizon_secs: u64,
    events: Mutex<HashMap<Key, VecDeque<u64>>>,
    totals: Mutex<HashMap<(Key, u64), i64>>,
    /// Effects already counted ([`Self::record_effect`]), with when they were done.
    effects: Mutex<HashMap<(Action, String), u64>>,
}

impl Default for InMemoryCounters {
    fn default() -> Self {
        Self::new(DAY_SECS)
    }
}

impl InMemoryCounters {
    /// Counters that remember events for `horizon_secs` (the longest rate window in force).
    pub fn new(horizon_secs: u64) -> Self {
        Self {
            horizon_secs,
            events: Mutex::default(),
            totals: Mutex::default(),
            effects: Mutex::default(),
        }
    }

    /// [`Self::record`] for an idempotent effect (a refund, a queued message) done at `at`:
    /// counted once per `effect` id, so recording it again on a replay is a no-op.
    /// Returns whether this call counted it.
    pub fn record_effect(
        &self,
        base: &BaseKey,
        task: &TaskKey,
        action: Action,
        amount: Option<i64>,
        effect: &str,
        at: u64,
    ) -> bool {
        {
            let Ok(mut effects) = self.effects.lock() else {
                return false;
            };
            // Kept as long as the events they count, and the day before for the totals.
            let keep = self.horizon_secs.max(2 * DAY_SECS);
            effects.retain(|_, done| done.saturating_add(keep) >= at);
            if effects.insert((action, effect.to_owned()), at).is_some() {
                return false;
            }
        }
        self.record(base, task, action, amount, at);
        true
    }

    /// Records one done `action` (with its amount, if any) under agent, customer and task.
    pub fn record(
        &self,
        base: &BaseKey,
        task: &TaskKey,
        action: Action,
        amount: Option<i64>,
        now: u64,
    ) {
        let scopes = [RateScope::Agent, RateScope::Customer, RateScope::Task];
        if let Ok(mut events) = self.events.lock() {
            let cutoff = now.saturating_sub(self.horizon_secs);
            for scope in scopes {
                let q = events
                    .entry((scope, scope.id(base, task).to_string(), action))
                    .or_default();
                while q.front().is_some_and(|t| *t <= cutoff) {
                    q.pop_front();
                }
                // In time order: an effect counted late (on its replay) keeps its own time.
                let at = q.partition_point(|t| *t <= now);
                q.insert(at, now);
            }
        }
        if let (Some(amount), Ok(mut totals)) = (amount, self.totals.lock()) {
            let day = now / DAY_SECS;
            totals.retain(|(_, d), _| *d + 1 >= day);
            for scope in scopes {
                let t = totals
                    .entry(((scope, scope.id(base, task).to_string(), action), day))
                    .or_insert(0);
                *t = t.saturating_add(amount);
            }
        }
    }
}

impl UsageCounters for InMemoryCounters {
    fn count(&self, scope: RateScope, id: &str, action: Action, window_secs: u64, now: u64) -> u64 {
        // A poisoned lock reads as "limit reached" so that a failure never loosens a limit.
        let Ok(events) = self.events.lock() else {
            return u64::MAX;
        };
        let cutoff = now.saturating_sub(window_secs);
        events.get(&(scope, id.to_string(), action)).map_or(0, |q| {
            q.iter().rev().take_while(|t| **t > cutoff).count() as u64
        })
    }

    fn daily_total(&self, scope: RateScope, id: &str, action: Action, now: u64) -> i64 {
        let Ok(totals) = self.totals.lock() else {
            return i64::MAX;
        };
        totals
            .get(&((scope, id.to_string(), action), now / DAY_SECS))
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> (BaseKey, TaskKey) {
        let base = BaseKey {
            aud: "silo:base".into(),
            jti: "b".into(),
            iat: 0,
            exp: 1,
            agent: "a".into(),
            version: "1".into(),
            folder_hash: "sha256:0".into(),
            caps: Default::default(),
        };
        let task = TaskKey {
            aud: "silo:task".into(),
            jti: "t".into(),
            iat: 0,
            nbf: 0,
            exp: 1,
            task: "t1".into(),
            agent: "a".into(),
            customer: "c1".into(),
            case: "k".into(),
            workflow: None,
            cell: "cell".into(),
        };
        (base, task)
    }

    #[test]
    fn counts_within_window_per_scope() {
        let c = InMemoryCounters::new(3600);
        let (b, t) = keys();
        c.record(&b, &t, Action::Refund, Some(100), 1000);
        c.record(&b, &t, Action::Refund, Some(250), 1500);
        assert_eq!(
            c.count(RateScope::Customer, "c1", Action::Refund, 600, 1550),
            2
        );
        assert_eq!(
            c.count(RateScope::Customer, "c1", Action::Refund, 100, 1550),
            1
        );
        assert_eq!(c.count(RateScope::Agent, "a", Action::Refund, 600, 1550), 2);
        assert_eq!(
            c.count(RateScope::Task, "t1", Action::EmailSend, 600, 1550),
            0
        );
        assert_eq!(
            c.count(RateScope::Customer, "c2", Action::Refund, 600, 1550),
            0
        );
        assert_eq!(
            c.daily_total(RateScope::Customer, "c1", Action::Refund, 1550),
            350
        );
        assert_eq!(
            c.daily_total(RateScope::Customer, "c1", Action::Refund, 1550 + DAY_SECS),
            0
        );
    }

    #[test]
    fn old_events_are_pruned() {
        let c = InMemoryCounters::new(10);
        let (b, t) = keys();
        for now in 0..100 {
            c.record(&b, &t, Action::KvPut, None, now);
        }
        let events = c.events.lock().unwrap();
        assert!(events.values().all(|q| q.len() <= 11));
    }

    #[test]
    fn an_effect_is_counted_once_at_its_own_time() {
        let c = InMemoryCounters::new(3600);
        let (b, t) = keys();
        c.record(&b, &t, Action::Refund, Some(100), 1000);
        // Counted late (a replay at 1200) but done at 900: before the later event.
        assert!(c.record_effect(&b, &t, Action::Refund, Some(40), "rf_1", 900));
        assert!(!c.record_effect(&b, &t, Action::Refund, Some(40), "rf_1", 900));
        // The same id of another action is another effect.
        assert!(c.record_effect(&b, &t, Action::EmailSend, None, "rf_1", 950));
        assert_eq!(
            c.daily_total(RateScope::Agent, "a", Action::Refund, 1200),
            140
        );
        assert_eq!(c.count(RateScope::Task, "t1", Action::Refund, 400, 1200), 2);
        assert_eq!(c.count(RateScope::Task, "t1", Action::Refund, 250, 1200), 1);
    }
}
