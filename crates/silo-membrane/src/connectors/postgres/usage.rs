//! [`PgUsage`]: the policy's usage counters in `membrane_usage_events`, one row per done
//! counted action and scope, shared by every host. Counting reads and recording writes
//! separately, exactly as `SqliteUsage`; what keeps two hosts from deciding on the same
//! counters at once is the usage gate (`UsageGate::postgres`), held from decision to record.
//! A counter that cannot be read reads as "limit reached": a failure never loosens a limit.
//! Usage of an idempotent effect carries the effect's id, unique per scope and action
//! (migration `V7__usage_effects.sql`), so recording it again on a replay is a no-op.

use silo_keys::{BaseKey, TaskKey};
use silo_policy::{Action, RateScope, UsageCounters, DAY_SECS};
use silo_postgres::Database;

use crate::connectors::usage::{scope_name, Effect, Event, UsageStore, KEEP_SECS};
use crate::connectors::{pg_conn_err, pg_err, secs_to_sql, ConnectorError};

const NAME: &str = "usage";

/// [`UsageStore`] in the shared PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgUsage {
    db: Database,
}

impl PgUsage {
    /// The counters in `db` (their table comes with the schema).
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    fn try_count(
        &self,
        scope: RateScope,
        id: &str,
        action: Action,
        window_secs: u64,
        now: u64,
    ) -> Result<u64, ConnectorError> {
        let cutoff = secs_to_sql(now.saturating_sub(window_secs));
        let mut client = self.db.client().map_err(pg_conn_err(NAME))?;
        let row = client
            .query_one(
                "SELECT count(*) FROM membrane_usage_events
                 WHERE scope = $1 AND id = $2 AND action = $3 AND at > $4",
                &[&scope_name(scope), &id, &action.as_str(), &cutoff],
            )
            .map_err(pg_err(NAME, "counting usage"))?;
        let n: i64 = super::column(NAME, &row, 0)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn try_daily_total(
        &self,
        scope: RateScope,
        id: &str,
        action: Action,
        now: u64,
    ) -> Result<i64, ConnectorError> {
        let day_start = now - now % DAY_SECS;
        let mut client = self.db.client().map_err(pg_conn_err(NAME))?;
        // SUM of BIGINT is NUMERIC: cast back (a total past i64 fails, and so reads as
        // "limit reached").
        let row = client
            .query_one(
                "SELECT COALESCE(SUM(amount), 0)::BIGINT FROM membrane_usage_events
                 WHERE scope = $1 AND id = $2 AND action = $3 AND at >= $4 AND at < $5",
                &[
                    &scope_name(scope),
                    &id,
                    &action.as_str(),
                    &secs_to_sql(day_start),
                    &secs_to_sql(day_start.saturating_add(DAY_SECS)),
                ],
            )
            .map_err(pg_err(NAME, "summing usage"))?;
        super::column(NAME, &row, 0)
    }

    fn try_record(
        &self,
        base: &BaseKey,
        task: &TaskKey,
        event: Event<'_>,
        now: u64,
    ) -> Result<(), ConnectorError> {
        let mut client = self.db.client().map_err(pg_conn_err(NAME))?;
        let mut tx = client
            .transaction()
            .map_err(pg_err(NAME, "starting a transaction"))?;
        let at = secs_to_sql(event.at);
        for scope in [RateScope::Agent, RateScope::Customer, RateScope::Task] {
            // A row of an effect already counted under this scope is ignored.
            tx.execute(
                "INSERT INTO membrane_usage_events (scope, id, action, at, amount, effect)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                &[
                    &scope_name(scope),
                    &scope.id(base, task),
                    &event.action.as_str(),
                    &at,
                    &event.amount,
                    &event.effect,
                ],
            )
            .map_err(pg_err(NAME, "recording usage"))?;
        }
        tx.execute(
            "DELETE FROM membrane_usage_events WHERE at < $1",
            &[&secs_to_sql(now.saturating_sub(KEEP_SECS))],
        )
        .map_err(pg_err(NAME, "pruning old usage"))?;
        tx.commit().map_err(pg_err(NAME, "committing usage"))
    }
}

impl UsageCounters for PgUsage {
    fn count(&self, scope: RateScope, id: &str, action: Action, window_secs: u64, now: u64) -> u64 {
        super::off_async(|| {
            self.try_count(scope, id, action, window_secs, now)
                .unwrap_or_else(|e| {
                    tracing::error!(error = %e, "usage counters unreadable");
                    u64::MAX
                })
        })
    }

    fn daily_total(&self, scope: RateScope, id: &str, action: Action, now: u64) -> i64 {
        super::off_async(|| {
            self.try_daily_total(scope, id, action, now)
                .unwrap_or_else(|e| {
                    tracing::error!(error = %e, "usage totals unreadable");
                    i64::MAX
                })
        })
    }
}

impl UsageStore for PgUsage {
    fn record(
        &self,
        base: &BaseKey,
        task: &TaskKey,
        action: Action,
        amount: Option<i64>,
        now: u64,
    ) {
        let event = Event::plain(action, amount, now);
        super::off_async(|| {
            if let Err(e) = self.try_record(base, task, event, now) {
                tracing::error!(error = %e, "recording usage failed");
            }
        })
    }

    fn record_effect(
        &self,
        base: &BaseKey,
        task: &TaskKey,
        action: Action,
        amount: Option<i64>,
        effect: Effect<'_>,
        now: u64,
    ) {
        let event = Event::of_effect(action, amount, effect);
        super::off_async(|| {
            if let Err(e) = self.try_record(base, task, event, now) {
                tracing::error!(error = %e, "recording usage failed");
            }
        })
    }
}
