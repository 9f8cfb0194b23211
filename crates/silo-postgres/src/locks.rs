//! The advisory lock keys the stores share, in one place so that no two uses collide.
//! Transaction-level locks (`pg_advisory_xact_lock`) end with their transaction;
//! session-level ones with their connection, so a process that dies releases them.

/// Held while the schema is migrated.
pub const MIGRATE: i64 = 0x5110_0001;
/// Serialises audit appends: the hash chain has one tip.
pub const AUDIT_APPEND: i64 = 0x5110_0002;
/// Serialises counted membrane actions from decision to recorded usage (rate limits and
/// daily totals cannot be raced across hosts).
pub const USAGE_GATE: i64 = 0x5110_0003;
/// Serialises router events copied into the audit log.
pub const ROUTER_RECORDER: i64 = 0x5110_0004;
/// The class of the session locks that say a job holder is alive: `(HOLDER_CLASS, id)`
/// with the two-key form of `pg_advisory_lock`.
pub const HOLDER_CLASS: i32 = 0x5110;
/// Serialises router event appends, so event numbers increase in commit order.
pub const ROUTER_EVENTS: i64 = 0x5110_0005;
/// The class of the transaction locks that serialise one task's scratch-storage writes (its key
/// count is bounded): `(KV_TASK_CLASS, hashtext(task))` with the two-key form.
pub const KV_TASK_CLASS: i32 = 0x5111;
/// The class of the transaction locks that serialise minting PII tokens for one vault task:
/// `(VAULT_TASK_CLASS, hash of tenant and task)` with the two-key form.
pub const VAULT_TASK_CLASS: i32 = 0x5112;
