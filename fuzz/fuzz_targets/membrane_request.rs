//! libFuzzer entry for `membrane_request`: the target, and what it checks, is `silo_fuzz::membrane`
//! (crates/silo-fuzz/src/membrane.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| silo_fuzz::membrane::run(data));
