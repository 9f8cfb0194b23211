#!/usr/bin/env bash
# Cell start-up benchmark: `silo cell run` against bubblewrap, side by side,
# for /bin/true and for a Python "hello" agent. Prints medians and the ratio.
#
# silo enforces strictly more than the bwrap line below (seccomp allow-list,
# Landlock, cgroup memory/pids/cpu limits, its own init, a uid per agent);
# the goal is a silo median at or below bwrap's.
#
# Usage: bench/cell-startup.sh [RUNS]     (needs root; installs bubblewrap
# and hyperfine from Debian if missing; builds silo in release mode)
#   SILO=path        use this silo binary (default: build target/release/silo)
#   JSON_DIR=dir     also keep hyperfine's JSON there (true.json, python.json) and time
#                    the same Python hello bare on the host (bare.json); for bench/all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-200}"

if ! command -v bwrap >/dev/null || ! command -v hyperfine >/dev/null; then
  apt-get update -qq && apt-get install -y -qq bubblewrap hyperfine >/dev/null
fi
if [ -z "${SILO:-}" ]; then
  cargo build --release -q -p silo-cli
  SILO="$PWD/target/release/silo"
fi
silo="$SILO"
agent="$PWD/agents/hello-agent"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

bwrap_base=(bwrap --unshare-all --die-with-parent --new-session
  --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib
  --symlink usr/lib64 /lib64 --proc /proc --dev /dev --tmpfs /tmp --setenv TMPDIR /tmp)

hyperfine -N --warmup 20 --runs "$runs" --style basic --export-json "$out/true.json" \
  -n "silo /bin/true" "$silo cell run -- /bin/true" \
  -n "bwrap /bin/true" "${bwrap_base[*]} /bin/true" >/dev/null

hyperfine -N --warmup 5 --runs "$((runs / 4 + 10))" --style basic --export-json "$out/python.json" \
  -n "silo python hello" "$silo cell run --agent $agent -- python3 /agent/main.py" \
  -n "bwrap python hello" "${bwrap_base[*]} --ro-bind $agent /agent python3 /agent/main.py" >/dev/null

if [ -n "${JSON_DIR:-}" ]; then
  # The same script and interpreter (the cells bind /usr) with no sandbox at all; it finds
  # its folder through SILO_AGENT_DIR.
  SILO_AGENT_DIR="$agent" TMPDIR="$out" hyperfine -N --warmup 5 --runs "$((runs / 4 + 10))" \
    --style basic --export-json "$out/bare.json" \
    -n "bare python hello" "/usr/bin/python3 $agent/main.py" >/dev/null
  cp "$out"/*.json "$JSON_DIR"/
fi

python3 - "$out/true.json" "$out/python.json" <<'PY'
import json, sys
print(f"{'command':<22}{'median ms':>10}{'mean ms':>10}{'p95 ms':>10}{'runs':>6}")
for path in sys.argv[1:]:
    rows = json.load(open(path))["results"]
    med = {}
    for r in rows:
        t = sorted(r["times"])
        p95 = t[int(len(t) * 0.95) - 1]
        med[r["command"]] = r["median"]
        print(f"{r['command']:<22}{r['median']*1e3:>10.2f}{r['mean']*1e3:>10.2f}{p95*1e3:>10.2f}{len(t):>6}")
    (s, sm), (b, bm) = list(med.items())[:2]
    print(f"  ratio {s} / {b}: {sm / bm:.2f}x  (goal <= 1.00x)")
PY
