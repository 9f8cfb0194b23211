//! libFuzzer entry for `key_parse`: the target, and what it checks, is `silo_fuzz::keys`
//! (crates/silo-fuzz/src/keys.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| silo_fuzz::keys::run(data));
