#!/usr/bin/env bash
# Router end to end: `silo serve` with W workers, N tasks submitted over its API to a
# no-op agent (python3 -S, one `POST /v1/complete` over the membrane socket) and the wall
# time until all are completed. Prints tasks/s and the per-task latency split
# from the router's events (queue wait, agent turn incl. cell spawn and teardown).
# Goal (issue 6): >= 300 tasks/s on this 2-core machine.
#
# Usage: bench/router-throughput.sh [N] [WORKERS]     (needs root; builds silo in release)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100}"
workers="${2:-2}"
cargo build --release -q -p silo-cli
silo="$PWD/target/release/silo"
work="$(mktemp -d)"
port=$((20000 + RANDOM % 20000))
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/agents/noop-agent"
cat >"$work/agents/noop-agent/agent.yaml" <<'YAML'
name: noop-agent
version: 0.0.1
entry: [python3, -S, main.py]
limits: { timeout: 30s }
YAML
cat >"$work/agents/noop-agent/main.py" <<'PY'
import http.client, os, socket
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(os.environ["SILO_SOCKET"])
c = C("silo")
c.request("POST", "/v1/complete", body='{"status":"done","summary":"noop"}',
          headers={"x-silo-base-key": os.environ["SILO_BASE_KEY"],
                   "x-silo-task-key": os.environ["SILO_TASK_KEY"], "content-type": "application/json"})
assert c.getresponse().status == 200
PY
chmod -R o+rX "$work"
"$silo" --data-dir "$work/data" serve --listen "127.0.0.1:$port" --workers "$workers" \
  --agents "$work/agents" --run-dir "$work/run" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q "task API" "$work/serve.log" && break; sleep 0.1; done
python3 - "$port" "$n" <<'PY'
import http.client, json, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
def call(method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request(method, path, body=json.dumps(body) if body is not None else None,
              headers={"content-type": "application/json"})
    r = c.getresponse(); data = json.loads(r.read() or b"null"); c.close(); return data
start = time.monotonic()
ids = [call("POST", "/v1/tasks", {"entry": "noop-agent", "customer": "cus_001",
                                  "case": "case_001", "input": {}})["id"] for _ in range(n)]
pending = set(ids)
while pending:
    for i in list(pending):
        if call("GET", f"/v1/tasks/{i}")["state"] in ("completed", "failed", "aborted"):
            pending.discard(i)
    time.sleep(0.05)
wall = time.monotonic() - start
waits, turns = [], []
for i in ids:
    ev = call("GET", f"/v1/tasks/{i}/events")
    at = {e["event"]["event"]: e["at"] for e in ev}
    waits.append(at["dispatched"] - at["task_created"])
    turns.append(at["agent_result"] - at["dispatched"])
print(f"router end to end: {n} tasks in {wall:.2f} s = {n / wall:.1f} tasks/s "
      f"(mean queue wait {sum(waits)/n:.2f} s, mean agent turn {sum(turns)/n:.2f} s; "
      f"event times have 1 s resolution)")
PY
