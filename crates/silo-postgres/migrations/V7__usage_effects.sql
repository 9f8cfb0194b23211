-- Usage of an idempotent effect (a refund, a queued message) carries the effect's id,
-- counted once per scope and action (silo-membrane connectors/postgres/usage.rs): the
-- membrane records it again on every replay, so a crash between the effect's commit and
-- its usage record is counted on the retry, and a second row is a no-op.
ALTER TABLE membrane_usage_events ADD COLUMN effect TEXT;
CREATE UNIQUE INDEX membrane_usage_effect
    ON membrane_usage_events (scope, action, effect) WHERE effect IS NOT NULL;
