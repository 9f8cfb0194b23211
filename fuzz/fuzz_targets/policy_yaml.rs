//! libFuzzer entry for `policy_yaml`: the target, and what it checks, is `silo_fuzz::policy`
//! (crates/silo-fuzz/src/policy.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| silo_fuzz::policy::run(data));
