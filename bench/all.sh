#!/usr/bin/env bash
# Every silo benchmark in one run on this machine, side by side: cell start-up against
# bubblewrap, a Python agent against bare python3, the membrane round trip (in a real cell
# and in process), policy decisions, key verification, audit appends, PII throughput and
# quality, router tasks/s with a no-op agent and its per-phase latency, tasks/s with 1-3
# cell hosts on PostgreSQL (bench/scale-out.sh), load and soak (bench/soak.sh --quick: 1,000
# mixed tasks with leak checks, and a membrane flood beside normal tasks; the 10,000-task
# run is by hand), and memory (an idle cell, the daemon). Each figure next to its goal,
# MET / NOT MET, and what bounds it.
#
# Usage: bench/all.sh [--quick] [--out DIR] [--wait-idle SECONDS]
#   --quick     fewer runs (a few minutes after the build); default: the full run (~10 min)
#   --out DIR   where to write latest.json, latest.md and raw/ (default: bench/results)
#   --wait-idle S  wait up to S seconds (default 60) for other work on the machine to stop
#
# Needs root (cells); installs bubblewrap and hyperfine from Debian if missing; builds silo
# and the cargo benches in release mode first. Exit 0 when every figure was produced
# (goals missed or not), 1 when a benchmark broke. Method: docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "bench/all.sh needs root: cells need namespaces, cgroups and id maps" >&2
  exit 2
fi
if ! command -v bwrap >/dev/null || ! command -v hyperfine >/dev/null; then
  echo "installing bubblewrap and hyperfine (apt-get)" >&2
  apt-get update -qq && apt-get install -y -qq bubblewrap hyperfine >/dev/null
fi
exec python3 bench/harness.py "$@"
