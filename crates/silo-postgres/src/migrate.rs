//! The schema: `migrations/V<n>__<name>.sql`, embedded at build time and applied in order
//! by refinery, recorded in `silo_schema_history`. Processes that start together take
//! [`crate::locks::MIGRATE`] first, so one migrates and the others find it done.

use crate::error::PgError;
use crate::locks;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// The number of embedded migrations: the schema version this build needs.
pub const SCHEMA_VERSION: usize = 7;

/// Applies every embedded migration not yet applied.
pub(crate) fn run(config: &postgres::Config, shown: &str) -> Result<(), PgError> {
    let fail = |source: Box<dyn std::error::Error + Send + Sync>| PgError::Migrate {
        url: shown.to_owned(),
        source,
    };
    let mut client = config
        .connect(postgres::NoTls)
        .map_err(|e| PgError::Connect {
            url: shown.to_owned(),
            source: Box::new(e),
        })?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&locks::MIGRATE])
        .map_err(|e| fail(Box::new(e)))?;
    let report = embedded::migrations::runner()
        .set_migration_table_name("silo_schema_history")
        .run(&mut client);
    // The lock also ends with the connection; unlock anyway so the pool is not surprised.
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&locks::MIGRATE]);
    let report = report.map_err(|e| fail(Box::new(e)))?;
    for applied in report.applied_migrations() {
        tracing::info!(migration = %applied, "database schema migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_schema_version_counts_the_embedded_migrations() {
        assert_eq!(
            super::embedded::migrations::runner().get_migrations().len(),
            super::SCHEMA_VERSION
        );
    }
}
