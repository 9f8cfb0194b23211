-- V4__keys_and_vault: the PII vault (silo-pii, vault.rs) and the key crate's shared state
-- (silo-keys: revocation.rs, published.rs). Times are Unix seconds.

-- One data key per tenant, wrapped under the master key (a file every host is given,
-- never in the database). The first host to open a tenant inserts; the others read it.
CREATE TABLE pii_tenants (
    tenant      TEXT PRIMARY KEY,
    key_version INTEGER NOT NULL,
    nonce       BYTEA NOT NULL,
    wrapped_key BYTEA NOT NULL
);

-- One row per token: AES-256-GCM ciphertext bound to (tenant, task, kind, number), and the
-- HMAC blind index of (task, kind, normalised value). Never a plaintext or normalised
-- value. The two unique keys are what make concurrent hosts agree: the same value cannot
-- get two numbers, and one number cannot stand for two values.
CREATE TABLE pii_tokens (
    tenant     TEXT NOT NULL,
    task       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    number     BIGINT NOT NULL CHECK (number >= 1 AND number <= 4294967295),
    blind      BYTEA NOT NULL,
    nonce      BYTEA NOT NULL,
    ciphertext BYTEA NOT NULL,
    PRIMARY KEY (tenant, task, kind, number),
    UNIQUE (tenant, blind)
);

-- Revoked token ids. `until_at` is when the entry stops mattering (the token's latest
-- possible expiry, for task keys); NULL keeps it for ever. Rows are only ever added, and
-- dropped once past `until_at`.
CREATE TABLE key_revocations (
    jti        TEXT PRIMARY KEY,
    revoked_at BIGINT NOT NULL,
    until_at   BIGINT
);
CREATE INDEX key_revocations_until ON key_revocations (until_at) WHERE until_at IS NOT NULL;

-- The public half of every signing key, published by the key store of the router host so
-- that hosts without the private keys can verify. A kid is never removed and never
-- un-retired: publishing merges (the earliest retirement wins).
CREATE TABLE key_public_keys (
    kid          TEXT PRIMARY KEY,
    public_key   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    retire_at    BIGINT,
    published_at BIGINT NOT NULL
);
