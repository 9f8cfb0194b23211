-- V3__membrane: the membrane's shared state (silo-membrane, src/connectors/postgres/),
-- the same tables as its embedded SQLite stores. Times are Unix seconds; JSON is kept as
-- the text the store wrote.

-- The refund ledger: one row per refund, unique per (customer, idempotency_key), so a
-- replayed request finds the original row instead of paying again, on any host.
CREATE TABLE membrane_refunds (
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    refund_id TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    agent TEXT NOT NULL,
    customer TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    currency TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (customer, idempotency_key)
);

-- Usage counters for the policy's rate limits and daily totals: one row per done counted
-- action and scope (agent, customer, task); rows older than two days are pruned.
CREATE TABLE membrane_usage_events (
    scope TEXT NOT NULL,
    id TEXT NOT NULL,
    action TEXT NOT NULL,
    at BIGINT NOT NULL,
    amount BIGINT
);
CREATE INDEX membrane_usage_lookup ON membrane_usage_events (scope, id, action, at);
CREATE INDEX membrane_usage_age ON membrane_usage_events (at);

-- Task-scoped scratch storage. Keys compare byte-wise (as in SQLite), whatever the
-- database's collation, so listings come back in the same order and a LIKE prefix can
-- use the primary key.
CREATE TABLE membrane_kv (
    task TEXT NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (task, key)
);

-- The agents' results, written once per task, and the tasks' tokenised inputs.
CREATE TABLE membrane_outcomes (
    task TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    outcome TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE TABLE membrane_task_inputs (
    task TEXT PRIMARY KEY,
    input TEXT NOT NULL
);

-- LLM tokens per task: spent, plus the worst case of calls in flight held as reserved.
-- A reservation left behind by a crash stays held: the budget shrinks rather than grows.
CREATE TABLE membrane_llm_usage (
    task TEXT PRIMARY KEY,
    spent BIGINT NOT NULL DEFAULT 0 CHECK (spent >= 0),
    reserved BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    updated_at BIGINT NOT NULL
);
