-- V1__router: the router's durable store (silo-router, store/postgres.rs): tasks, the
-- append-only event log, the leased job queue, offline agents and job holders.

-- The last task number handed out: one row, updated in the creating transaction, so task
-- numbers have no gaps even when a create is refused (a sequence would skip one).
CREATE TABLE router_task_counter (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    last     BIGINT NOT NULL
);
INSERT INTO router_task_counter (only_row, last) VALUES (TRUE, 0);

-- `view` is the task's JSON as text (exactly what was written; jsonb would refuse some
-- strings), with the columns the lists filter on beside it.
CREATE TABLE router_tasks (
    seq      BIGINT PRIMARY KEY,
    id       TEXT NOT NULL UNIQUE,
    state    TEXT NOT NULL,
    assignee TEXT NOT NULL,
    customer TEXT NOT NULL,
    view     TEXT NOT NULL
);
CREATE INDEX router_tasks_inbox ON router_tasks (state, assignee, seq);
CREATE INDEX router_tasks_customer ON router_tasks (customer, seq);

-- Event numbers come from the sequence while `locks::ROUTER_EVENTS` is held (to commit),
-- so they increase in commit order and a follower never skips one.
CREATE TABLE router_events (
    seq  BIGSERIAL PRIMARY KEY,
    task TEXT NOT NULL,
    at   BIGINT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX router_events_task ON router_events (task, seq);

CREATE FUNCTION router_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'router events are append-only';
END
$$;
CREATE TRIGGER router_events_no_change BEFORE UPDATE OR DELETE ON router_events
    FOR EACH ROW EXECUTE FUNCTION router_events_append_only();
CREATE TRIGGER router_events_no_truncate BEFORE TRUNCATE ON router_events
    FOR EACH STATEMENT EXECUTE FUNCTION router_events_append_only();

CREATE TABLE router_jobs (
    id          BIGSERIAL PRIMARY KEY,
    task        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    lease_until BIGINT NOT NULL DEFAULT 0,
    attempt     INTEGER NOT NULL DEFAULT 0,
    holder      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX router_jobs_due ON router_jobs (lease_until, id);
CREATE INDEX router_jobs_task ON router_jobs (task);
CREATE INDEX router_jobs_holder ON router_jobs (holder) WHERE lease_until > 0;

-- Work became due (a job queued, or a claim released): wake the routers waiting on
-- `LISTEN silo_jobs`. Notifications are sent at commit, once per transaction.
CREATE FUNCTION router_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('silo_jobs', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER router_jobs_queued AFTER INSERT ON router_jobs
    FOR EACH ROW EXECUTE FUNCTION router_jobs_notify();
CREATE TRIGGER router_jobs_released AFTER UPDATE OF lease_until ON router_jobs
    FOR EACH ROW WHEN (NEW.lease_until = 0 AND OLD.lease_until <> 0)
    EXECUTE FUNCTION router_jobs_notify();

CREATE TABLE router_offline (
    agent TEXT PRIMARY KEY,
    since BIGINT NOT NULL
);

-- Job holders by number: a live holder keeps the session lock
-- (locks::HOLDER_CLASS, id) on a connection of its own.
CREATE TABLE router_holders (
    id     SERIAL PRIMARY KEY,
    holder TEXT NOT NULL UNIQUE
);
