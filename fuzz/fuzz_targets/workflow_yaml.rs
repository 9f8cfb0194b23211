//! libFuzzer entry for `workflow_yaml`: the target, and what it checks, is `silo_fuzz::workflow`
//! (crates/silo-fuzz/src/workflow.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| silo_fuzz::workflow::run(data));
