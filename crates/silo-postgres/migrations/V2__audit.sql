-- V2__audit: the audit log's store (crates/silo-audit/src/postgres.rs), the same tables as
-- the SQLite store (crates/silo-audit/src/sqlite.rs).
--
-- audit_entries holds each entry's canonical JSON (`body`) and its hash; the other columns
-- are copies of entry fields for queries, checked against the body by verification.
-- `task` sorts bytewise (COLLATE "C") so that a task family is one index range,
-- `task >= 'x.' AND task < 'x/'`, whatever the database's locale.
CREATE TABLE audit_entries (
    seq      BIGINT PRIMARY KEY,
    time_us  BIGINT NOT NULL,
    task     TEXT COLLATE "C",
    agent    TEXT,
    customer TEXT,
    action   TEXT NOT NULL,
    decision TEXT NOT NULL,
    body     TEXT NOT NULL,
    hash     BYTEA NOT NULL
);
CREATE INDEX audit_entries_task     ON audit_entries (task)     WHERE task IS NOT NULL;
CREATE INDEX audit_entries_agent    ON audit_entries (agent)    WHERE agent IS NOT NULL;
CREATE INDEX audit_entries_customer ON audit_entries (customer) WHERE customer IS NOT NULL;
CREATE INDEX audit_entries_action   ON audit_entries (action);
CREATE INDEX audit_entries_time     ON audit_entries (time_us);

-- Signed checkpoints saved beside the log, newest = highest id.
CREATE TABLE audit_checkpoints (
    id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    size BIGINT NOT NULL,
    body TEXT NOT NULL
);

-- Append-only: any UPDATE, DELETE or TRUNCATE statement on either table is refused, even
-- one that would touch no row. The table's owner (or a superuser) can still disable or
-- drop these triggers; that is what `silo audit verify` and signed checkpoints are for.
CREATE FUNCTION silo_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% are append-only', TG_ARGV[0]
        USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION silo_audit_append_only('audit entries');
CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION silo_audit_append_only('audit entries');
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION silo_audit_append_only('audit entries');
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION silo_audit_append_only('audit checkpoints');
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION silo_audit_append_only('audit checkpoints');
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION silo_audit_append_only('audit checkpoints');
