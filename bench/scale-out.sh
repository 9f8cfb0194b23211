#!/usr/bin/env bash
# Scale-out on PostgreSQL (issue 10): tasks/s with 1, 2 and 3 cell-host processes
# (`silo serve --role cells`) behind one router process (`silo serve --role router`, which
# takes the submissions), all sharing one throw-away PostgreSQL database (fsync on, as in
# production), and what bounds it. For each no-op agent — `py` (python3 -S, one
# `POST /v1/complete` over the membrane socket) and `c` (the same call from a static C
# binary, bench/noop-agent.c; it shows the router's and the database's own limit) — and
# each number of hosts, on a fresh server and database each time, it prints:
#
#   hosts | tasks/s | speed-up vs 1 host | intake (submissions/s) | CPU ms per task: cell hosts (+ supervisors,
#   cells, agents), router, PostgreSQL server processes | db transactions, WAL fsyncs and
#   write transactions per task | the machine's idle CPU while it ran
#
# then a "what bounds it" reading derived from those figures. Method: N tasks submitted
# over the router's API on SUBMITTERS connections at once (after a warm-up of two tasks per
# worker, so keys and first-turn set-up are done), timed from the first submission until all
# N are completed, counted with psql against the database (one long-lived session, polled
# every 50 ms); CPU from /proc/<pid>/stat (utime+stime+cutime+cstime of each process and of
# its live descendants; PostgreSQL's: the postmaster's tree); transactions from
# pg_stat_database (write transactions from the transaction id counter), per-table scans
# from pg_stat_user_tables and WAL fsyncs from pg_stat_wal, read after waiting out
# PostgreSQL's statistics flush delay (~10 s), minus the poller's own queries and minus
# what the idle set-up does by itself over that wait.
#
# Usage: bench/scale-out.sh [--quick] [N] [WORKERS_PER_HOST]    (needs root; N=300, 2)
#   --quick      a smoke run (~40 s): N=40 unless given, no statistics wait (transaction
#                counts then miss up to the last 10 s of each backend's work)
#   SILO=path    use this silo binary (default: build target/release/silo)
#   AGENTS="c"   only these no-op agents (default: "py c"; `c` needs gcc)
#   HOSTS="1 2 3"  the numbers of cell hosts to measure (default "1 2 3")
#   SUBMITTERS=4   API connections submitting at once (default 4)
#   SCALE_JSON=path  also write the figures there as JSON (for bench/all.sh)
# A full run takes about 4 minutes on a 2-core machine (plus the build). Exit status: 0 when
# every configuration was measured and every measured task completed, else 1 (2: usage).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
quick=0
args=()
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$a") ;;
  esac
done
if [ "$quick" = 1 ]; then n="${args[0]:-40}"; else n="${args[0]:-300}"; fi
workers="${args[1]:-2}"
if [ "$(id -u)" -ne 0 ]; then
  echo "bench/scale-out.sh needs root: cells need namespaces, cgroups and id maps" >&2
  exit 2
fi
if ! command -v psql >/dev/null; then
  echo "bench/scale-out.sh needs psql and a PostgreSQL server: apt-get install postgresql" >&2
  exit 2
fi
if [ -z "${SILO:-}" ]; then
  cargo build --release -q -p silo-cli
  SILO="$PWD/target/release/silo"
fi
agents="${AGENTS:-py c}"
work="$(mktemp -d -t silo-scale-out.XXXXXX)"
driver=""
cleanup() {
  # The driver stops its servers itself (SIGTERM, then SIGKILL); wait for it first.
  if [ -n "$driver" ] && kill -0 "$driver" 2>/dev/null; then
    kill -TERM "$driver" 2>/dev/null || true
    wait "$driver" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

. bench/noop-agents.sh
noop_agents "$work/agents" $agents
chmod -R o+rX "$work"
# No project file: the built-in defaults (no seed, no LLM, no SMTP).
cd "$work"
SCALE_QUICK="$quick" python3 "$root/bench/scale_out.py" "$SILO" "$work" "$n" "$workers" \
  ${HOSTS:-1 2 3} -- $agents &
driver=$!
wait "$driver"
