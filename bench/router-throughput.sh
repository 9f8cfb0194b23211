#!/usr/bin/env bash
# Router end to end with a no-op agent (issue 6; goal: >= 300 tasks/s on this 2-core
# machine). For each no-op agent — `py` (python3 -S, one `POST /v1/complete` over the
# membrane socket with http.client, no SDK import) and `c` (the same call from a static C
# binary, bench/noop-agent.c, built here with gcc) — it prints:
#
#   1. the latency split of one turn: RUNS sequential `silo --json run`, medians of the
#      phases `silo-invoke` reports (manifest, keys, services, sdk, membrane, cell,
#      teardown) and of the whole process;
#   2. the router: `silo serve` with WORKERS workers, N tasks submitted over its API, the
#      wall time until all completed (tasks/s), the queue wait and the agent turn from the
#      router's events (1 s resolution), and the CPU time per task (the daemon and its
#      children: supervisors, cells, agents);
#
# then the machine, the goal and whether it was met, and what bounds the figure.
#
# Usage: bench/router-throughput.sh [N] [WORKERS] [RUNS]    (needs root)
#   SILO=path    use this silo binary (default: build target/release/silo)
#   AGENTS="c"   only these no-op agents (default: "py c"; `c` needs gcc)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
n="${1:-100}"
workers="${2:-2}"
runs="${3:-30}"
if [ -z "${SILO:-}" ]; then
  cargo build --release -q -p silo-cli
  SILO="$PWD/target/release/silo"
fi
agents="${AGENTS:-py c}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

. bench/noop-agents.sh
noop_agents "$work/agents" $agents
chmod -R o+rX "$work"
# No project file: the built-in defaults (no seed, no LLM, no SMTP).
cd "$work"
python3 "$root/bench/throughput.py" "$SILO" "$work" "$n" "$workers" "$runs" $agents
