-- Messages queued by any host, by their stable id (silo-membrane connectors/postgres/
-- outbox.rs): only the id and a digest of the content, never a recipient or a text.
CREATE TABLE membrane_outbox_sent (
    message_id TEXT PRIMARY KEY,
    digest     TEXT NOT NULL,
    sent_at    BIGINT NOT NULL
);
