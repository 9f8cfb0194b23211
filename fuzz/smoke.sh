#!/usr/bin/env bash
# CI's fuzz smoke run (docs/FUZZING.md): every fuzz target replays its seed corpus, then
# runs mutations of it for SILO_FUZZ_SECONDS (default 12) each, on the stable toolchain,
# through crates/silo-fuzz's runner (two targets at a time on two cores: about 45 s). It
# runs the `fuzz_smoke` test binary alone, with the workspace's feature set, so after
# `cargo test --workspace` nothing is compiled again. A crash fails it, prints the input and
# saves it as fuzz/artifacts/<target>/crash-<sha256>; SILO_FUZZ_SEED repeats a run.
set -euo pipefail
cd "$(dirname "$0")/.."
export SILO_FUZZ_SECONDS="${SILO_FUZZ_SECONDS:-12}"
export SILO_FUZZ_SEED="${SILO_FUZZ_SEED:-$(date +%s)}"
echo "fuzz smoke: ${SILO_FUZZ_SECONDS} s of mutations a target, seed ${SILO_FUZZ_SEED}" \
  "(SILO_FUZZ_SEED=${SILO_FUZZ_SEED} bash fuzz/smoke.sh runs the same sequence of inputs)"
cargo test --workspace --test fuzz_smoke -- --nocapture
