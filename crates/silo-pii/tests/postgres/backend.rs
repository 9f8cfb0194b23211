//! The vault the shared behaviour tests run against: a PostgreSQL vault. The tests share
//! one database on the throw-away server (each vault gets a tenant of its own, which is a
//! complete separation: its own data key and its own rows) and each has its own key file.

use std::ops::Deref;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use silo_pii::Vault;
use silo_postgres::{Database, Throwaway};

/// The URL of a fresh database on the shared throw-away server.
pub fn fresh_url() -> String {
    Throwaway::shared().unwrap().fresh_database().unwrap()
}

/// A fresh database on the shared throw-away server.
pub fn fresh_database() -> Database {
    Database::connect(&fresh_url()).unwrap()
}

/// The database the shared behaviour tests use.
fn shared_database() -> &'static Database {
    static DB: OnceLock<Database> = OnceLock::new();
    DB.get_or_init(fresh_database)
}

/// A vault with the folder of its master key (removed with it).
pub struct TestVault {
    vault: Vault,
    _keys: tempfile::TempDir,
}

impl Deref for TestVault {
    type Target = Vault;
    fn deref(&self) -> &Vault {
        &self.vault
    }
}

/// A fresh, empty vault: a new tenant in the shared database.
pub fn vault() -> TestVault {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let keys = tempfile::tempdir().unwrap();
    let tenant = format!("test-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let vault = Vault::open_postgres_tenant(shared_database(), keys.path(), &tenant).unwrap();
    TestVault { vault, _keys: keys }
}
