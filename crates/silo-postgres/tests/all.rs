//! A real server: the throw-away cluster starts, the schema migrates once even when
//! several processes' pools connect at the same moment, and a fresh database is empty.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use silo_postgres::{Database, Throwaway};

#[test]
fn migrations_apply_once_under_concurrent_connects() {
    let server = Throwaway::shared().unwrap();
    let url = server.fresh_database().unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || Database::connect(&url).map(|_| ()))
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    let db = Database::connect(&url).unwrap();
    let mut client = db.client().unwrap();
    let applied: i64 = client
        .query_one("SELECT COUNT(*) FROM silo_schema_history", &[])
        .unwrap()
        .get(0);
    assert_eq!(applied as usize, silo_postgres::SCHEMA_VERSION);
}

#[test]
fn an_unreachable_server_is_a_clear_error() {
    let err = Database::connect("postgresql://silo:hunter2@%2Fnonexistent%2Fdir:5432/silo")
        .unwrap_err()
        .to_string();
    assert!(err.contains("database `postgresql://silo:***@"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}
