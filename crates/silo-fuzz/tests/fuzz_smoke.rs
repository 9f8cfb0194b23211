//! The fuzz smoke run: each target replays its seed corpus (`fuzz/corpus/<target>/`, where
//! every crash found also lands as a regression input), then runs mutations of it — a fixed
//! number with a fixed seed in the test suite, or for `SILO_FUZZ_SECONDS` each with
//! `SILO_FUZZ_SEED` in CI's smoke run (`fuzz/smoke.sh`, which selects this binary alone with
//! `cargo test --workspace --test fuzz_smoke`, so nothing is built again). A test binary of
//! its own so that selection is possible.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use silo_fuzz::runner::{self, Budget};

fn smoke(name: &str, default_mutations: u64) {
    let target = silo_fuzz::target(name).unwrap();
    let budget = Budget::from_env(default_mutations);
    match runner::run(target, budget) {
        Ok(r) => {
            assert!(r.replayed > 0, "`{name}` has no seed corpus");
            eprintln!(
                "fuzz smoke {name}: {} corpus inputs, {} mutations, seed {}, {} ms",
                r.replayed, r.mutated, r.seed, r.millis
            );
        }
        Err(crash) => panic!("{crash}"),
    }
}

#[test]
fn membrane_request() {
    smoke("membrane_request", 200);
    silo_fuzz::membrane::check_audit_now();
}

#[test]
fn key_parse() {
    smoke("key_parse", 300);
}

#[test]
fn policy_yaml() {
    smoke("policy_yaml", 1000);
}

#[test]
fn workflow_yaml() {
    smoke("workflow_yaml", 1000);
}

#[test]
fn pii_tokenise() {
    smoke("pii_tokenise", 200);
}

#[test]
fn audit_verify() {
    smoke("audit_verify", 200);
}

#[test]
fn config_yaml() {
    smoke("config_yaml", 1000);
}
