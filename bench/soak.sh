#!/usr/bin/env bash
# Load and soak (issue 12): N tasks (default 10,000; --quick 1,000) of a mix of agents
# through `silo serve` at the machine's capacity, then a membrane flood beside normal
# tasks. The agents are one static C binary (bench/soak-agent.c, built here with gcc):
#
#   complete        70%    one `POST /v1/complete`
#   escalate-agent  7.5%   escalates to a second agent, which completes
#   escalate-human  7.5%   escalates to the `human` pool (final here: waiting_for_human)
#   hostile-done    7.5%   a refund over its limit, /etc/shadow, an AF_INET connect, a
#                          fork bomb under a pids limit of 16; then completes
#   hostile-crash   7.5%   the same, then exits 3 without an outcome (the task fails)
#
# It prints, while the tasks run and after they drained: the daemon's RSS, fds and
# threads, its descendants and their mount namespaces, our cells' cgroups (every
# hierarchy), host mounts, run-dir entries and processes left in our cells' cgroups, each
# flagged flat or GROWING; per-kind submit->final latencies (p50/p90/p99/max) and tasks/s;
# the task list's counts by state with every task that did not reach its expected final
# state exactly once; then phase 2: K `complete` tasks alone, the same K beside a cell
# flooding its membrane (`soak-agent flood`), and alone again, with the p99 ratio
# (target <= 2x). Method and figures: docs/BENCHMARKS.md.
#
# Usage: bench/soak.sh [--quick] [--n N] [--workers W] [--window N] [--flood-k K]
#                      [--sample-s S] [--json PATH]      (needs root and gcc)
#   SILO=path   use this silo binary (default: build target/release/silo)
# Exit 0 when every task reached its expected final state exactly once, else 1.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
if [ "$(id -u)" -ne 0 ]; then
  echo "bench/soak.sh needs root: cells need namespaces, cgroups and id maps" >&2
  exit 2
fi
if [ -z "${SILO:-}" ]; then
  cargo build --release -q -p silo-cli
  SILO="$PWD/target/release/silo"
fi
work="$(mktemp -d /tmp/silo-soak.XXXXXX)"
trap 'rm -rf "$work"' EXIT
gcc -O2 -static -o "$work/soak-agent" bench/soak-agent.c 2>/dev/null ||
  gcc -O2 -o "$work/soak-agent" bench/soak-agent.c
python3 "$root/bench/soak.py" "$SILO" "$work" "$work/soak-agent" "$@"
