//! Where each store is opened: the embedded SQLite files under the data directory, or the
//! shared PostgreSQL database when one is configured (`--database`, `SILO_DATABASE_URL`,
//! `database:` in silo.yaml). Every command opens its stores here, so the choice is made
//! in one place.

use anyhow::Context;
use silo_membrane::{Intake, KvStore, Ledger, OutcomeStore, Services};
use silo_router::{AnyStore, PgStore, SqliteStore};

use crate::Ctx;

/// The router's store.
pub fn router_store(ctx: &Ctx) -> anyhow::Result<AnyStore> {
    Ok(match ctx.database()? {
        Some(db) => PgStore::open(&db)
            .with_context(|| format!("opening the router store in `{}`", db.shown_url()))?
            .into(),
        None => {
            let path = ctx.data_dir.join("router").join("router.db");
            SqliteStore::open(&path)
                .with_context(|| format!("opening the router store `{}`", path.display()))?
                .into()
        }
    })
}

/// The router's store, with this process named as the holder of the jobs it claims.
pub fn router_store_holding(ctx: &Ctx) -> anyhow::Result<AnyStore> {
    let holder = silo_router::holder::this_process();
    Ok(match router_store(ctx)? {
        AnyStore::Sqlite(s) => s.with_holder(holder).into(),
        AnyStore::Postgres(s) => s
            .with_holder(holder)
            .context("registering this process as a job holder")?
            .into(),
    })
}

/// The audit log.
pub fn audit_log(ctx: &Ctx) -> anyhow::Result<silo_audit::AuditLog> {
    Ok(match ctx.database()? {
        Some(db) => silo_audit::AuditLog::open_postgres(&db, &ctx.data_dir)
            .with_context(|| format!("opening the audit log in `{}`", db.shown_url()))?,
        None => silo_audit::AuditLog::open(&ctx.data_dir)
            .with_context(|| format!("opening the audit log in `{}`", ctx.data_dir.display()))?,
    })
}

/// Whether the membrane's state exists yet (always, with a database).
pub fn membrane_state_exists(ctx: &Ctx) -> anyhow::Result<bool> {
    Ok(ctx.database()?.is_some() || Services::db_path(&ctx.data_dir).exists())
}

/// The refund ledger.
pub fn ledger(ctx: &Ctx) -> anyhow::Result<Box<dyn Ledger>> {
    Ok(match ctx.database()? {
        Some(db) => Box::new(silo_membrane::PgLedger::new(db)),
        None => Box::new(
            silo_membrane::SqliteLedger::open(&Services::db_path(&ctx.data_dir))
                .context("opening the refund ledger")?,
        ),
    })
}

/// The task-scoped scratch storage.
pub fn kv(ctx: &Ctx) -> anyhow::Result<Box<dyn KvStore>> {
    Ok(match ctx.database()? {
        Some(db) => Box::new(silo_membrane::PgKv::new(db)),
        None => Box::new(silo_membrane::SqliteKv::open(&Services::db_path(
            &ctx.data_dir,
        ))?),
    })
}

/// Where agents' results wait for the router.
pub fn outcomes(ctx: &Ctx) -> anyhow::Result<Box<dyn OutcomeStore>> {
    Ok(match ctx.database()? {
        Some(db) => Box::new(silo_membrane::PgOutcomes::new(db)),
        None => Box::new(
            silo_membrane::SqliteOutcomes::open(&Services::db_path(&ctx.data_dir))
                .context("opening the outcomes table")?,
        ),
    })
}

/// The per-task LLM token usage.
pub fn llm_usage(ctx: &Ctx) -> anyhow::Result<Box<dyn silo_membrane::LlmUsage>> {
    Ok(match ctx.database()? {
        Some(db) => Box::new(silo_membrane::PgLlmUsage::new(db)),
        None => Box::new(
            silo_membrane::SqliteLlmUsage::open(&Services::db_path(&ctx.data_dir))
                .context("opening the LLM usage table")?,
        ),
    })
}

/// What tokenises task input before the router stores it (the business database filled
/// from the project's seed first): its vault is the shared one with a database, so the
/// cell hosts' membranes resolve the same tokens.
pub fn intake(ctx: &Ctx) -> anyhow::Result<Intake> {
    if let Some(seed) = ctx.config.seed.as_deref() {
        Services::seed_business_db(&ctx.data_dir, seed)?;
    }
    Ok(match ctx.database()? {
        Some(db) => {
            let vault = silo_pii::Vault::open_postgres(&db, &Intake::vault_key_dir(&ctx.data_dir))
                .context("opening the vault")?;
            Intake::with_vault(&ctx.data_dir, vault)?
        }
        None => Intake::open(&ctx.data_dir).context("opening the vault")?,
    })
}

/// The key store, created (and published) when there is none yet.
pub fn key_store_or_init(ctx: &Ctx) -> anyhow::Result<silo_keys::KeyStore> {
    Ok(silo_invoke::open_keys_with(
        &ctx.data_dir,
        ctx.database()?.as_ref(),
    )?)
}

/// The key store (`<data_dir>/keys`), with revocations and published public keys in the
/// database when there is one.
pub fn key_store(ctx: &Ctx) -> anyhow::Result<silo_keys::KeyStore> {
    let dir = ctx.data_dir.join("keys");
    Ok(match ctx.database()? {
        Some(db) => silo_keys::KeyStore::open_with_postgres(&dir, &db)?,
        None => silo_keys::KeyStore::open(&dir)?,
    })
}
