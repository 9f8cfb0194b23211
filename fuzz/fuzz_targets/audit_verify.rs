//! libFuzzer entry for `audit_verify`: the target, and what it checks, is `silo_fuzz::audit`
//! (crates/silo-fuzz/src/audit.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| silo_fuzz::audit::run(data));
