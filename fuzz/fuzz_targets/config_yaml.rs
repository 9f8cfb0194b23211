//! libFuzzer entry for `config_yaml`: the target, and what it checks, is `silo_fuzz::config`
//! (crates/silo-fuzz/src/config.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| silo_fuzz::config::run(data));
