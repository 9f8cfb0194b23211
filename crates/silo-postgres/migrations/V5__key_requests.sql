-- Turn keys a router host signs for a cell host (silo-router/src/issuer.rs): the cell host
-- inserts a request for a turn it claimed, a router host answers it (tokens or a refusal)
-- after checking its own records, the cell host reads the answer and deletes the row.
CREATE TABLE key_requests (
    id           BIGSERIAL PRIMARY KEY,
    task         TEXT NOT NULL,
    cell         TEXT NOT NULL UNIQUE,
    task_key_jti TEXT NOT NULL,
    agent        TEXT NOT NULL,
    folder_hash  TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    answered_at  BIGINT,
    base_key     TEXT,
    task_key     TEXT,
    refused      TEXT
);
CREATE INDEX key_requests_pending ON key_requests (id) WHERE answered_at IS NULL;

CREATE FUNCTION silo_key_request_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('silo_key_requests', '');
    RETURN NULL;
END $$;
CREATE TRIGGER key_requests_notify AFTER INSERT ON key_requests
    FOR EACH STATEMENT EXECUTE FUNCTION silo_key_request_notify();
