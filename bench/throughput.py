"""The driver of bench/router-throughput.sh (see there): the per-phase split of one turn
from `silo --json run`, then the router's throughput under `silo serve`, per no-op agent.

Usage: throughput.py SILO WORK N WORKERS RUNS AGENT...
  THROUGHPUT_JSON=path   also write the figures there as JSON (for bench/all.sh), with the
                         daemon's memory (smaps_rollup) idle before the first task and after
                         the N tasks
"""

import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time

PHASES = ["manifest", "keys", "services", "sdk", "membrane", "cell", "teardown", "total"]
GOAL = 300.0
TICKS = os.sysconf("SC_CLK_TCK")


def ms(us):
    return us / 1000.0


def split(silo, work, agent, runs):
    """Median phase times (ms) of RUNS sequential `silo run`, and of the whole process."""
    data = os.path.join(work, f"data-run-{agent}")
    cmd = [silo, "--json", "--data-dir", data, "run", "--run-dir", os.path.join(work, "run"),
           "--agent", os.path.join(work, "agents", f"noop-{agent}"),
           "--customer", "cus_001", "--case", "case_001"]
    phases = {p: [] for p in PHASES}
    walls = []
    for i in range(runs + 2):
        start = time.monotonic()
        out = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.monotonic() - start
        if out.returncode != 0:
            sys.exit(f"`silo run` of noop-{agent} failed ({out.returncode}):\n{out.stderr}")
        if i < 2:  # warm-up: first keys, databases, SDK install
            continue
        t = json.loads(out.stdout)["timings"]
        for p in PHASES:
            phases[p].append(ms(t[f"{p}_us"]))
        walls.append(wall * 1000)
    med = {p: statistics.median(v) for p, v in phases.items()}
    med["process"] = statistics.median(walls)
    return med


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pid):
    """utime + stime + cutime + cstime of `pid` (clock ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15])


def memory(pid):
    """{'rss','pss','uss'} bytes of one process, from /proc/PID/smaps_rollup."""
    rows = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "kB":
                rows[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return {"rss": rows.get("Rss", 0), "pss": rows.get("Pss", 0),
            "uss": rows.get("Private_Clean", 0) + rows.get("Private_Dirty", 0)}


def machine_busy():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]  # idle + iowait
    return sum(v) - idle, sum(v)


def router(silo, work, agent, n, workers):
    port = free_port()
    log = open(os.path.join(work, f"serve-{agent}.log"), "w")
    serve = subprocess.Popen(
        [silo, "--data-dir", os.path.join(work, f"data-serve-{agent}"), "serve",
         "--listen", f"127.0.0.1:{port}", "--no-console", "--workers", str(workers),
         "--agents", os.path.join(work, "agents"), "--run-dir", os.path.join(work, "run")],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        return drive(serve, port, agent, n, work)
    finally:
        serve.terminate()
        serve.wait()
        log.close()


def drive(serve, port, agent, n, work):
    def call(method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers={"content-type": "application/json"})
        r = c.getresponse()
        data = json.loads(r.read() or b"null")
        c.close()
        return data

    deadline = time.monotonic() + 60
    while True:
        try:
            call("GET", "/v1/tasks")
            break
        except OSError:
            if serve.poll() is not None or time.monotonic() > deadline:
                with open(os.path.join(work, f"serve-{agent}.log")) as f:
                    sys.exit(f"`silo serve` did not start:\n{f.read()}")
            time.sleep(0.05)
    time.sleep(0.5)
    mem_idle = memory(serve.pid)
    task = {"entry": f"noop-{agent}", "customer": "cus_001", "case": "case_001", "input": {}}
    # One task first, so keys, databases and the SDK exist before the clock starts.
    first = call("POST", "/v1/tasks", task)["id"]
    while call("GET", f"/v1/tasks/{first}")["state"] not in ("completed", "failed", "aborted"):
        time.sleep(0.02)
    cpu0 = cpu_ticks(serve.pid)
    busy0, all0 = machine_busy()
    start = time.monotonic()
    ids = [call("POST", "/v1/tasks", task)["id"] for _ in range(n)]
    submitted = time.monotonic() - start
    # The queue is first in, first out: wait on the oldest task still open, so the
    # client's polling costs about one request per task and not the daemon's CPU.
    pending = list(ids)
    states = {}
    while pending:
        state = call("GET", f"/v1/tasks/{pending[0]}")["state"]
        if state in ("completed", "failed", "aborted"):
            states[pending.pop(0)] = state
        else:
            time.sleep(0.01)
    wall = time.monotonic() - start
    cpu = (cpu_ticks(serve.pid) - cpu0) / TICKS
    mem_after = memory(serve.pid)
    busy1, all1 = machine_busy()
    failed = [i for i, s in states.items() if s != "completed"]
    if failed:
        events = call("GET", f"/v1/tasks/{failed[0]}/events")
        print(f"  task {failed[0]} ended {states[failed[0]]}: "
              + "; ".join(json.dumps(e["event"]) for e in events), file=sys.stderr)
    waits, turns = [], []
    for i in ids:
        at = {e["event"]["event"]: e["at"] for e in call("GET", f"/v1/tasks/{i}/events")}
        if "dispatched" in at and "agent_result" in at:
            waits.append(at["dispatched"] - at["task_created"])
            turns.append(at["agent_result"] - at["dispatched"])
    return {
        "tps": n / wall, "wall": wall, "submitted": submitted, "failed": len(failed),
        "cpu_ms": cpu * 1000 / n, "machine_busy": (busy1 - busy0) / max(1, all1 - all0),
        "wait": statistics.median(waits) if waits else float("nan"),
        "turn": statistics.median(turns) if turns else float("nan"),
        "daemon_memory_idle": mem_idle, "daemon_memory_after": mem_after,
    }


def main():
    silo, work, n, workers, runs = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    agents = sys.argv[6:]
    cores = os.cpu_count() or 1
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                  if l.startswith("model name")), "?")
    print(f"machine: {cores} cores ({model}), {platform.system()} {platform.release()}, "
          f"load average {os.getloadavg()[0]:.2f} at the start")
    results = {}
    for agent in agents:
        med = split(silo, work, agent, runs)
        print(f"\nnoop-{agent}: one turn, median of {runs} sequential `silo --json run` (ms)")
        print("  " + "  ".join(f"{p} {med[p]:.1f}" for p in PHASES))
        print(f"  whole `silo run` process {med['process']:.1f} "
              f"(start-up, project file, host set-up and output: "
              f"{med['process'] - med['total']:.1f})")
        r = router(silo, work, agent, n, workers)
        results[agent] = (med, r)
        print(f"noop-{agent}: router, `silo serve --workers {workers}`, {n} tasks")
        print(f"  {n} tasks in {r['wall']:.2f} s = {r['tps']:.1f} tasks/s "
              f"({r['failed']} not completed; submitting took {r['submitted']:.2f} s)")
        print(f"  median queue wait {r['wait']:.0f} s, median agent turn {r['turn']:.0f} s "
              f"(router event times have 1 s resolution)")
        print(f"  CPU per task (daemon + supervisors + cells + agents): {r['cpu_ms']:.1f} ms "
              f"-> CPU ceiling on {cores} cores: {cores * 1000 / r['cpu_ms']:.0f} tasks/s; "
              f"the machine was {r['machine_busy']:.0%} busy (everything running)")
        print(f"  turn latency ceiling with {workers} workers: "
              f"{workers * 1000 / med['total']:.0f} tasks/s (workers / median invoke total)")
    best_agent, (med, r) = max(results.items(), key=lambda kv: kv[1][1]["tps"])
    met = "met" if r["tps"] >= GOAL else "NOT met"
    cpu_share = r["tps"] * r["cpu_ms"] / (cores * 1000)
    ceiling = cores * 1000 / r["cpu_ms"]
    if cpu_share > 0.8 or r["machine_busy"] > 0.9:
        bound = (f"CPU: {r['cpu_ms']:.1f} ms of CPU per task caps {cores} cores at "
                 f"{ceiling:.0f} tasks/s")
    else:
        bound = (f"turn latency at {cpu_share:.0%} CPU (fsyncs, process start-up, the "
                 f"workers' idle poll); more workers approach the CPU ceiling of "
                 f"{ceiling:.0f} tasks/s ({r['cpu_ms']:.1f} ms CPU per task)")
    largest = max((p for p in PHASES if p != "total"), key=lambda p: med[p])
    if os.environ.get("THROUGHPUT_JSON"):
        with open(os.environ["THROUGHPUT_JSON"], "w") as f:
            json.dump({
                "n": n, "workers": workers, "runs": runs, "cores": cores,
                "agents": {a: {"split_ms": m, "router": rr} for a, (m, rr) in results.items()},
                "goal": GOAL, "best": best_agent, "met": r["tps"] >= GOAL, "bound": bound,
                "largest_phase": largest, "cpu_ms_needed": cores * 1000 / GOAL,
            }, f, indent=1)
    print(f"\ngoal: >= {GOAL:.0f} tasks/s: {met} (best: noop-{best_agent}, {r['tps']:.1f} tasks/s)")
    print(f"bound by: {bound}; the largest phase of a turn is `{largest}` "
          f"({med[largest]:.1f} of {med['total']:.1f} ms); {GOAL:.0f} tasks/s on {cores} "
          f"cores needs <= {cores * 1000 / GOAL:.1f} ms of CPU per task, all included")


if __name__ == "__main__":
    main()
