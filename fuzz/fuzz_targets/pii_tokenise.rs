//! libFuzzer entry for `pii_tokenise`: the target, and what it checks, is `silo_fuzz::pii`
//! (crates/silo-fuzz/src/pii.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| silo_fuzz::pii::run(data));
