"""The driver of bench/soak.sh (see there): N tasks of mixed agents through `silo serve`,
sampling the daemon's memory, fds, cell cgroups, mounts, run-dir entries and processes
while they run; per-kind latencies; every task's final state checked once; then the flood
isolation phase.

Usage: soak.py SILO WORK AGENT_BIN [--quick] [--n N] [--workers W] [--window N]
               [--flood-k K] [--sample-s S] [--json PATH] [--seed S]
  SILO        the silo binary
  WORK        an empty temporary directory (the project, data and run dirs go there)
  AGENT_BIN   the compiled bench/soak-agent.c
Standard library only.
"""

import argparse
import collections
import http.client
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

# `signal_kill` ends a task as aborted without an `aborted` event.
FINAL_EVENTS = {"completed", "failed", "aborted", "timed_out", "escalated_to_human",
                "signal_kill"}
FINAL_STATES = {"completed", "failed", "aborted", "timed_out", "waiting_for_human"}

# kind -> (entry agent, share of the mix, the final state it must reach)
KINDS = {
    "complete": ("soak-complete", 0.70, "completed"),
    "escalate-agent": ("soak-escalate-agent", 0.075, "completed"),
    "escalate-human": ("soak-escalate-human", 0.075, "waiting_for_human"),
    "hostile-done": ("soak-hostile", 0.075, "completed"),
    "hostile-crash": ("soak-hostile-crash", 0.075, "failed"),
}
CUSTOMERS = ["cus_001", "cus_002", "cus_003"]


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the project

def agent(folder, name, entry, extra=""):
    d = os.path.join(folder, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "agent.yaml"), "w") as f:
        f.write(f"name: {name}\nversion: 0.0.1\nentry: {json.dumps(entry)}\n{extra}")


def write_project(work, agent_bin, flood_procs=4, flood_cpu=None):
    """silo.yaml and the agent folders; each folder holds its own copy of the binary."""
    proj = os.path.join(work, "project")
    agents = os.path.join(proj, "agents")
    os.makedirs(agents, exist_ok=True)
    bin_ = "/agent/soak-agent"
    agent(agents, "soak-complete", [bin_, "complete"], "limits: { timeout: 30s }\n")
    agent(agents, "soak-second", [bin_, "complete"], "limits: { timeout: 30s }\n")
    agent(agents, "soak-escalate-agent", [bin_, "escalate", "soak-second"],
          "limits: { timeout: 30s }\ncapabilities:\n  escalate: [soak-second, human]\n")
    agent(agents, "soak-escalate-human", [bin_, "escalate", "human"],
          "limits: { timeout: 30s }\ncapabilities:\n  escalate: [soak-second, human]\n")
    hostile_caps = ("limits: { timeout: 30s, pids: 16, memory: 64M }\ncapabilities:\n"
                    "  refund: { max_cents: 5000, currency: USD }\n")
    agent(agents, "soak-hostile", [bin_, "hostile", "done"], hostile_caps)
    agent(agents, "soak-hostile-crash", [bin_, "hostile", "crash"], hostile_caps)
    # The flood runs until the phase ends and the driver kills it (the time limit is a
    # safety net); `flood_procs` processes hammer the socket; the cell's CPU limit is the
    # default (one core) unless `flood_cpu` is given.
    cpu = f", cpu: \"{flood_cpu}\"" if flood_cpu else ""
    agent(agents, "soak-flood", [bin_, "flood", "900", str(flood_procs)],
          f"limits: {{ timeout: 960s, pids: 16{cpu} }}\n")
    for name in os.listdir(agents):
        with open(agent_bin, "rb") as src, open(os.path.join(agents, name, "soak-agent"),
                                                 "wb") as dst:
            dst.write(src.read())
        os.chmod(os.path.join(agents, name, "soak-agent"), 0o755)
    with open(os.path.join(proj, "silo.yaml"), "w") as f:
        f.write("# The soak benchmark's project (bench/soak.py).\nagents: agents\n"
                "routing:\n  humans: [human]\n  default_human: human\n")
    for root, dirs, files in os.walk(work):
        for x in dirs + files:
            p = os.path.join(root, x)
            os.chmod(p, os.stat(p).st_mode | 0o005 | (0o050 if x in dirs else 0o040))
    os.chmod(work, 0o755)
    return proj


# ---------------------------------------------------------------- the daemon's API

class Api:
    def __init__(self, port):
        self.port = port
        self.local = threading.local()

    def call(self, method, path, body=None):
        c = getattr(self.local, "conn", None)
        for attempt in (0, 1):
            if c is None:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                self.local.conn = c
            try:
                c.request(method, path, body=json.dumps(body) if body is not None else None,
                          headers={"content-type": "application/json"})
                r = c.getresponse()
                data = r.read()
                if r.status >= 400:
                    raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
                return json.loads(data or b"null")
            except (OSError, http.client.HTTPException):
                c.close()
                c = self.local.conn = None
                if attempt:
                    raise


class Events(threading.Thread):
    """Reads `GET /v1/events` (Server-Sent Events) and keeps, per task, the time each
    final event arrived; wakes waiters on every final event."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.cond = threading.Condition()
        self.final = {}          # task -> (monotonic time, kind) of the first final event
        self.final_count = collections.Counter()  # task -> final events seen
        self.first_event = {}    # task -> monotonic time of its first event
        self.cells = set()       # cell ids of dispatched events
        self.dispatched = {}     # task -> monotonic time of the first dispatch
        self.by_kind = collections.Counter()
        self.error = None

    def run(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port))
            s.sendall(b"GET /v1/events HTTP/1.1\r\nhost: 127.0.0.1\r\n"
                      b"accept: text/event-stream\r\n\r\n")
            f = s.makefile("rb")
            while True:  # response headers
                line = f.readline()
                if not line:
                    raise RuntimeError("event stream closed")
                if line in (b"\r\n", b"\n"):
                    break
            buf = b""
            while True:  # chunked body
                size = f.readline()
                if not size:
                    raise RuntimeError("event stream closed")
                n = int(size.strip().split(b";")[0], 16)
                if n == 0:
                    raise RuntimeError("event stream ended")
                buf += f.read(n)
                f.readline()
                while b"\n\n" in buf:
                    frame, buf = buf.split(b"\n\n", 1)
                    self.frame(frame.decode())
        except Exception as e:  # reported by the main thread
            self.error = repr(e)
            with self.cond:
                self.cond.notify_all()

    def frame(self, frame):
        kind = data = None
        for line in frame.split("\n"):
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
        if data is None:
            return
        now = time.monotonic()
        task = data["task"]
        self.by_kind[kind] += 1
        self.first_event.setdefault(task, now)
        if kind == "dispatched":
            with self.cond:
                self.cells.add(data["event"].get("cell", ""))
                self.dispatched.setdefault(task, now)
        if kind in FINAL_EVENTS:
            with self.cond:
                self.final_count[task] += 1
                self.final.setdefault(task, (now, kind))
                self.cond.notify_all()


# ---------------------------------------------------------------- sampling /proc

def proc_tree():
    """{pid: ppid} of every process."""
    tree = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    tree[int(p)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return tree


def descendants(pid, tree):
    kids = collections.defaultdict(list)
    for p, pp in tree.items():
        kids[pp].append(p)
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def cgroup_dirs(pid):
    """The daemon's own cgroup directory in each hierarchy: {label: path}."""
    mounts = []  # (mount point, fstype, super options)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            fstype, _src, opts = right.split()[:3]
            if fstype in ("cgroup", "cgroup2"):
                mounts.append((left.split()[4], fstype, set(opts.split(","))))
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _id, ctrls, path = line.rstrip("\n").split(":", 2)
            for mp, fstype, opts in mounts:
                if (ctrls == "" and fstype == "cgroup2") or (
                        ctrls and fstype == "cgroup" and set(ctrls.split(",")) <= opts):
                    label = "unified" if ctrls == "" else ctrls
                    out[label] = os.path.join(mp, path.lstrip("/"))
                    break
    return out


def silo_groups(cgdirs):
    """{label: [names of silo-* groups]} under the daemon's cgroups (two levels deep)."""
    out = {}
    for label, d in cgdirs.items():
        names = []
        try:
            for e in os.scandir(d):
                if e.is_dir() and e.name.startswith("silo-"):
                    names.append(e.name)
        except OSError:
            pass
        out[label] = names
    return out


def count_files(d):
    n = 0
    for _root, dirs, files in os.walk(d):
        n += len(dirs) + len(files)
    return n


def sample(pid, cgdirs, work, run_dir, cells, t0):
    s = {"t": round(time.monotonic() - t0, 1)}
    try:
        with open(f"/proc/{pid}/status") as f:
            st = dict(l.split(":", 1) for l in f if ":" in l)
        s["rss_kib"] = int(st["VmRSS"].split()[0])
        s["threads"] = int(st["Threads"])
        fds = {}
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                fds[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                pass
        s["fds"] = len(fds)
        s["fd_targets"] = fds
    except OSError:
        s.update(rss_kib=None, threads=None, fds=None)
    tree = proc_tree()
    desc = descendants(pid, tree)
    s["children"] = len(desc)
    ns = set()
    for p in desc:
        try:
            ns.add(os.readlink(f"/proc/{p}/ns/mnt"))
        except OSError:
            pass
    mine = os.readlink("/proc/self/ns/mnt")
    s["child_mnt_ns"] = len(ns - {mine})
    groups = silo_groups(cgdirs)
    ours = {lbl: sum(1 for g in names if g[5:] in cells) for lbl, names in groups.items()}
    s["cgroups"] = sum(ours.values())
    s["cgroups_by"] = ours
    s["cgroups_other"] = sum(len(v) for v in groups.values()) - s["cgroups"]
    with open("/proc/self/mountinfo") as f:
        lines = f.readlines()
    s["mounts"] = len(lines)
    s["mounts_ours"] = sum(1 for l in lines if work in l)
    s["run_entries"] = count_files(run_dir)
    # processes left in one of our cells' cgroups, whoever their parent is now
    strays = 0
    for p in tree:
        if p in desc or p == pid:
            continue
        try:
            with open(f"/proc/{p}/cgroup") as f:
                cg = f.read()
        except OSError:
            continue
        if any(m in cells for m in re.findall(r"/silo-([A-Za-z0-9_.-]+)", cg)):
            strays += 1
    s["strays"] = strays
    return s


class Sampler(threading.Thread):
    def __init__(self, every, fn):
        super().__init__(daemon=True)
        self.every, self.fn, self.rows = every, fn, []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                self.rows.append(self.fn())
            except Exception as e:  # a process or file vanished mid-read: next time
                log(f"sample failed: {e!r}")
            self.stop.wait(self.every)


# ---------------------------------------------------------------- driving tasks

def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def lat_row(xs):
    return {"n": len(xs), "p50": pct(xs, 50), "p90": pct(xs, 90), "p99": pct(xs, 99),
            "max": max(xs) if xs else float("nan")}


def run_batch(api, events, plan, window, stall_s=120):
    """Submit `plan` (a list of kinds) keeping at most `window` not final; returns
    {task id: (kind, submit time)} and the ids that did not reach a final event."""
    sent = {}
    open_ = set()
    it = iter(plan)
    done_sending = False
    last_progress = time.monotonic()
    while True:
        with events.cond:
            open_ = {t for t in open_ if t not in events.final}
            while not done_sending and len(open_) < window:
                kind = next(it, None)
                if kind is None:
                    done_sending = True
                    break
                entry = KINDS[kind][0] if kind in KINDS else kind
                body = {"entry": entry, "customer": CUSTOMERS[len(sent) % 3],
                        "case": f"case_{len(sent) % 997:03d}", "input": {"n": len(sent)}}
                t = time.monotonic()
                events.cond.release()  # do not hold the lock over the HTTP call
                try:
                    tid = api.call("POST", "/v1/tasks", body)["id"]
                finally:
                    events.cond.acquire()
                sent[tid] = (kind, t)
                if tid not in events.final:
                    open_.add(tid)
                last_progress = time.monotonic()
            if done_sending and not open_:
                return sent, []
            before = len(events.final)
            events.cond.wait(1.0)
            if events.error:
                raise RuntimeError(f"event stream: {events.error}")
            if len(events.final) != before:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > stall_s:
                return sent, sorted(open_ | {t for t in sent if t not in events.final})


def latencies(sent, events):
    by = collections.defaultdict(list)
    for tid, (kind, t) in sent.items():
        if tid in events.final:
            by[kind].append((events.final[tid][0] - t) * 1000)
    return by


# ---------------------------------------------------------------- report helpers

def verdicts(rows, before, after):
    """'flat' or 'growing' per measure, with the rule that decided."""
    out = {}
    rss = [r["rss_kib"] for r in rows if r.get("rss_kib")]
    if len(rss) >= 8:
        q = len(rss) // 4
        second, last = statistics.median(rss[q:2 * q]), statistics.median(rss[-q:])
        growth = (last - second) / second
        out["rss"] = ("flat" if growth <= 0.10 else "GROWING",
                      f"last-quarter median {last / 1024:.1f} MiB vs second-quarter "
                      f"{second / 1024:.1f} MiB ({growth:+.1%}; flat within 10%)")
    else:
        out["rss"] = ("n/a", f"only {len(rss)} samples")
    b, a = before.get("threads"), after.get("threads")
    out["threads"] = ("info", f"threads: {b} before, {a} after drain (tokio's blocking "
                              f"pool grows and shrinks with the load: not a leak rule)")
    for k, what in (("fds", "open fds"),
                    ("cgroups", "our cells' cgroups"), ("children", "daemon's descendants"),
                    ("child_mnt_ns", "mount namespaces of descendants"),
                    ("mounts", "host mounts (all)"), ("mounts_ours", "host mounts under WORK"),
                    ("run_entries", "run-dir entries"), ("strays", "processes in our cgroups")):
        b, a = before.get(k), after.get(k)
        out[k] = ("flat" if a == b else ("GROWING" if (a or 0) > (b or 0) else "shrank"),
                  f"{what}: {b} before, {a} after drain")
    return out


def fmt(x, unit=""):
    return "n/a" if x is None or (isinstance(x, float) and x != x) else f"{x:.0f}{unit}"


def print_latency(title, by):
    print(f"\n{title} (submit -> final event on the API's event stream, ms)")
    print(f"  {'kind':16} {'n':>6} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    allx = []
    for kind in list(KINDS) + sorted(k for k in by if k not in KINDS):
        if kind not in by:
            continue
        r = lat_row(by[kind])
        allx += by[kind]
        print(f"  {kind:16} {r['n']:6d} {fmt(r['p50']):>8} {fmt(r['p90']):>8} "
              f"{fmt(r['p99']):>8} {fmt(r['max']):>8}")
    r = lat_row(allx)
    print(f"  {'all':16} {r['n']:6d} {fmt(r['p50']):>8} {fmt(r['p90']):>8} "
          f"{fmt(r['p99']):>8} {fmt(r['max']):>8}")


def all_tasks(api):
    """Every task through the paged list (newest first, 1000 a page)."""
    out, before = [], None
    while True:
        q = "/v1/tasks?limit=1000" + (f"&before={before}" if before else "")
        page = api.call("GET", q)
        if not page:
            return out
        out += page
        # the ids are `task-<sequence number>`, which `before` takes
        seqs = [int(t["id"].rsplit("-", 1)[1]) for t in page
                if t["id"].rsplit("-", 1)[-1].isdigit()]
        if len(page) < 1000 or not seqs:
            return out
        before = min(seqs)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("silo")
    ap.add_argument("work")
    ap.add_argument("agent_bin")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--n", type=int)
    ap.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1))
    ap.add_argument("--window", type=int)
    ap.add_argument("--flood-k", type=int)
    ap.add_argument("--sample-s", type=float)
    ap.add_argument("--flood-procs", type=int, default=4)
    ap.add_argument("--flood-cpu")
    ap.add_argument("--json")
    ap.add_argument("--seed", type=int, default=12)
    a = ap.parse_args()
    n = a.n or (1000 if a.quick else 10000)
    k = a.flood_k or (150 if a.quick else 400)
    w = a.workers
    window = a.window or 2 * w
    every = a.sample_s or (2.0 if a.quick else 5.0)
    work = os.path.abspath(a.work)
    proj = write_project(work, a.agent_bin, a.flood_procs, a.flood_cpu)
    run_dir, data = os.path.join(work, "run"), os.path.join(work, "data")
    os.makedirs(run_dir, exist_ok=True)
    cores = os.cpu_count() or 1
    print(f"soak: {n} tasks, silo serve --workers {w}, in-flight window {window}, "
          f"{cores} cores, load average {os.getloadavg()[0]:.2f} at the start; "
          f"mix: " + ", ".join(f"{k_} {v[1]:.1%}" for k_, v in KINDS.items()))

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    logf = open(os.path.join(work, "serve.log"), "w")
    serve = subprocess.Popen(
        [a.silo, "--data-dir", data, "serve", "--config", os.path.join(proj, "silo.yaml"),
         "--listen", f"127.0.0.1:{port}", "--no-console", "--workers", str(w),
         "--run-dir", run_dir], stdout=logf, stderr=subprocess.STDOUT, cwd=proj)
    api = Api(port)
    result = {"n": n, "workers": w, "window": window, "cores": cores, "flood_k": k}
    t_start = time.monotonic()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                api.call("GET", "/v1/tasks?limit=1")
                break
            except (OSError, RuntimeError, http.client.HTTPException):
                if serve.poll() is not None or time.monotonic() > deadline:
                    logf.flush()
                    sys.exit("`silo serve` did not start:\n"
                             + open(os.path.join(work, "serve.log")).read())
                time.sleep(0.05)
        events = Events(port)
        events.start()
        cgdirs = cgroup_dirs(serve.pid)
        t0 = time.monotonic()
        def snap():
            with events.cond:  # the event thread adds cells under this lock
                cells = set(events.cells)
            return sample(serve.pid, cgdirs, work, run_dir, cells, t0)
        idle = snap()
        # warm-up: one task of each kind, so keys, databases and caches exist
        warm, stuck = run_batch(api, events, list(KINDS), len(KINDS), stall_s=60)
        if stuck:
            sys.exit(f"warm-up tasks did not finish: {stuck}")
        time.sleep(2)
        before = snap()
        log(f"warm-up done: RSS {before['rss_kib'] / 1024:.1f} MiB, {before['fds']} fds; "
            f"{n} tasks")

        # ------------------------------------------------ phase 1: the soak
        rng = random.Random(a.seed)
        names, weights = list(KINDS), [v[1] for v in KINDS.values()]
        plan = rng.choices(names, weights, k=n)
        sampler = Sampler(every, snap)
        sampler.start()
        progress_stop = threading.Event()

        def progress():
            while not progress_stop.wait(30):
                log(f"{len(events.final) - len(warm)} of {n} final")
        threading.Thread(target=progress, daemon=True).start()
        t1 = time.monotonic()
        cpu1 = cpu_split(serve.pid, None)
        sent, stuck = run_batch(api, events, plan, window)
        wall = time.monotonic() - t1
        cpu2 = cpu_split(serve.pid, None)
        progress_stop.set()
        # drain: let the last cells be torn down
        drain_deadline = time.monotonic() + 30
        while time.monotonic() < drain_deadline:
            s_ = snap()
            if s_["children"] == 0 and s_["cgroups"] == before["cgroups"]:
                break
            time.sleep(0.5)
        time.sleep(2)
        sampler.stop.set()
        sampler.join()
        after = snap()
        rows = sampler.rows + [after]

        ours = cpu2["ours"] - cpu1["ours"]
        machine = cpu2["machine"] - cpu1["machine"]
        print(f"\nphase 1: {n} tasks in {wall:.1f} s = {n / wall:.1f} tasks/s "
              f"(submit of the first -> final event of the last); CPU: "
              f"{ours * 1000 / n:.1f} ms per task (the daemon and everything under it), "
              f"the machine {machine / wall:.2f} cores busy of {cores}, other processes' "
              f"{max(0.0, machine - ours) / wall:.2f} cores")
        result["cpu"] = {"ms_per_task": ours * 1000 / n, "machine_cores": machine / wall,
                         "other_cores": max(0.0, machine - ours) / wall}
        print(f"\nsamples every {every:.0f} s (idle before warm-up, then during the run, "
              f"the last after the drain):")
        print(f"  {'t(s)':>7} {'RSS MiB':>8} {'fds':>5} {'thr':>4} {'procs':>5} {'mntns':>5} "
              f"{'cgroups':>7} {'mounts':>6} {'ours':>4} {'run/':>5} {'strays':>6} {'final':>6}")
        step = max(1, len(rows) // 40)
        shown = [idle, before] + rows[::step] + ([rows[-1]] if (len(rows) - 1) % step else [])
        for r in shown:
            print(f"  {r['t']:7.1f} {fmt((r['rss_kib'] or 0) / 1024):>8} {fmt(r['fds']):>5} "
                  f"{fmt(r['threads']):>4} {r['children']:5d} {r['child_mnt_ns']:5d} "
                  f"{r['cgroups']:7d} {r['mounts']:6d} {r['mounts_ours']:4d} "
                  f"{r['run_entries']:5d} {r['strays']:6d}")
        v = verdicts(rows, before, after)
        print("\nbefore (after warm-up) -> after (drained):")
        for key, (verdict, why) in v.items():
            print(f"  {verdict:8} {why}")
        gone = {fd: t for fd, t in before["fd_targets"].items()
                if after["fd_targets"].get(fd) != t}
        new = {fd: t for fd, t in after["fd_targets"].items()
               if before["fd_targets"].get(fd) != t}
        if gone or new:
            print(f"  fds closed since before: {sorted(gone.items())}; opened: "
                  f"{sorted(new.items())}")
        peak = max((r["rss_kib"] or 0) for r in rows)
        print(f"  RSS idle {idle['rss_kib'] / 1024:.1f} MiB, after warm-up "
              f"{before['rss_kib'] / 1024:.1f}, peak {peak / 1024:.1f}, after "
              f"{after['rss_kib'] / 1024:.1f}; cgroups of other silo processes seen beside "
              f"ours: {after['cgroups_other']} (not counted)")
        by = latencies(sent, events)
        print_latency(f"phase 1 latencies, {w} workers, window {window}", by)

        # ------------------------------------------------ every task final exactly once
        tasks = all_tasks(api)
        states = collections.Counter(t["state"] for t in tasks)
        print(f"\ntask list: {len(tasks)} tasks: "
              + ", ".join(f"{s} {c}" for s, c in sorted(states.items())))
        by_id = {t["id"]: t for t in tasks}
        wrong, missing, twice = [], [], []
        for tid, (kind, _) in {**warm, **sent}.items():
            t = by_id.get(tid)
            if t is None:
                missing.append(tid)
            elif t["state"] != KINDS[kind][2]:
                wrong.append((tid, kind, t["state"]))
            if events.final_count[tid] != 1:
                twice.append((tid, kind, events.final_count[tid]))
        not_final = [t for t in tasks if t["state"] not in FINAL_STATES]
        print(f"  not in a final state: {len(not_final)}; missing from the list: "
              f"{len(missing)}; final state other than expected: {len(wrong)}; "
              f"final events != 1: {len(twice)}; stalled at the end: {len(stuck)}")
        for t in not_final[:20]:
            print(f"    not final: {t['id']} {t['state']} entry {t['spec']['entry']}")
        for tid, kind, st in wrong[:20]:
            ev = api.call("GET", f"/v1/tasks/{tid}/events")
            print(f"    unexpected: {tid} ({kind}) ended {st}: "
                  + "; ".join(json.dumps(e["event"])[:200] for e in ev))
        for tid, kind, c in twice[:20]:
            print(f"    {tid} ({kind}): {c} final events")
        result["phase1"] = {
            "wall_s": wall, "tasks_s": n / wall, "idle": idle,
            "samples": [{k_: v_ for k_, v_ in r.items() if k_ != "fd_targets"} for r in rows],
            "before": before, "after": after, "verdicts": v,
            "latency_ms": {kd: lat_row(x) for kd, x in by.items()},
            "latency_all_ms": lat_row([y for x in by.values() for y in x]),
            "states": dict(states), "not_final": len(not_final), "missing": len(missing),
            "unexpected": len(wrong), "final_events_not_1": len(twice), "stuck": stuck,
            "event_kinds": dict(events.by_kind)}

        # ------------------------------------------------ phase 2: flood isolation
        fw = max(1, w - 1)  # the flood holds one worker: the normal tasks get the rest
        log(f"flood phase: {k} tasks alone, window {fw}")
        alone, st1 = run_batch(api, events, ["complete"] * k, fw)
        flood_id = api.call("POST", "/v1/tasks", {"entry": "soak-flood", "customer": "cus_001",
                                                   "case": "case_flood", "input": {}})["id"]
        deadline = time.monotonic() + 30
        while flood_id not in events.dispatched and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2)  # the flood is at full speed
        flood_cell = (api.call("GET", f"/v1/tasks/{flood_id}").get("dispatch") or {}).get("cell")
        log(f"flood {flood_id} (cell {flood_cell}) running; {k} tasks beside it")
        c0 = cpu_split(serve.pid, flood_cell)
        flooded, st2 = run_batch(api, events, ["complete"] * k, fw)
        c1 = cpu_split(serve.pid, flood_cell)
        flood_state = api.call("GET", f"/v1/tasks/{flood_id}")["state"]
        try:
            api.call("POST", f"/v1/tasks/{flood_id}/signal", {"signal": "kill"})
        except RuntimeError as e:
            log(f"kill of the flood: {e}")
        log(f"{k} tasks alone again")
        c2 = cpu_split(serve.pid, None)
        alone2, st3 = run_batch(api, events, ["complete"] * k, fw)
        c3 = cpu_split(serve.pid, None)
        deadline = time.monotonic() + 30
        while flood_id not in events.final and time.monotonic() < deadline:
            time.sleep(0.2)
        la = latencies(alone, events)["complete"]
        lf = latencies(flooded, events)["complete"]
        la2 = latencies(alone2, events)["complete"]
        p99a, p99f, p99a2 = pct(la, 99), pct(lf, 99), pct(la2, 99)
        ratio = p99f / p99a
        cores_flood = {key: (c1[key] - c0[key]) / (c1["t"] - c0["t"])
                       for key in ("daemon", "flood", "machine")}
        cores_alone = {key: (c3[key] - c2[key]) / (c3["t"] - c2["t"])
                       for key in ("daemon", "machine", "ours")}
        cores_flood["ours"] = (c1["ours"] - c0["ours"]) / (c1["t"] - c0["t"]) + \
            cores_flood["flood"]  # the flood's processes are not reaped yet
        print(f"\nphase 2: flood isolation, {k} `complete` tasks each run, window {fw} "
              f"(one worker holds the flooding cell: {a.flood_procs} processes, CPU limit "
              f"{a.flood_cpu or 'the default, 1 core'})")
        print(f"  alone:        p50 {pct(la, 50):.0f} ms, p99 {p99a:.0f} ms, max {max(la):.0f} ms")
        print(f"  with flood:   p50 {pct(lf, 50):.0f} ms, p99 {p99f:.0f} ms, max {max(lf):.0f} ms")
        print(f"  alone again:  p50 {pct(la2, 50):.0f} ms, p99 {p99a2:.0f} ms, "
              f"max {max(la2):.0f} ms")
        print(f"  p99 ratio with / without flood: {ratio:.2f}x (target <= 2x: "
              f"{'MET' if ratio <= 2 else 'NOT MET'}); against the second alone run "
              f"{p99f / p99a2:.2f}x; the flood task was `{flood_state}` during the run, then "
              f"killed (final: {events.final.get(flood_id, (0, 'not final'))[1]})")
        print(f"  CPU in cores, flooded run: the daemon's own threads (API, router, every "
              f"membrane) {cores_flood['daemon']:.2f}, the flooding cell's processes "
              f"{cores_flood['flood']:.2f}, the whole machine {cores_flood['machine']:.2f} "
              f"(other processes': {max(0, cores_flood['machine'] - cores_flood['ours']):.2f})"
              f"; alone again: daemon {cores_alone['daemon']:.2f}, machine "
              f"{cores_alone['machine']:.2f} (other processes': "
              f"{max(0, cores_alone['machine'] - cores_alone['ours']):.2f})")
        result["flood"] = {
            "k": k, "window": fw, "procs": a.flood_procs, "cpu_limit": a.flood_cpu,
            "alone": lat_row(la), "flooded": lat_row(lf),
            "alone_again": lat_row(la2), "ratio_p99": ratio, "met": ratio <= 2,
            "flood_task": flood_id, "flood_state_during": flood_state,
            "flood_final": events.final.get(flood_id, (0, None))[1],
            "cores_flooded": cores_flood, "cores_alone_again": cores_alone,
            "stalled": st1 + st2 + st3}
        if st1 or st2 or st3:
            print(f"  tasks that did not finish in phase 2: {st1 + st2 + st3}")
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(30)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()
        logf.close()
    took = time.monotonic() - t_start
    result["took_s"] = took
    print(f"\ntook {took / 60:.1f} min in all")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1, default=str)
    p1 = result["phase1"]
    failed = (p1["not_final"] or p1["missing"] or p1["unexpected"] or
              p1["final_events_not_1"] or p1["stuck"])
    return 1 if failed else 0


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_split(pid, cell):
    """CPU seconds so far: the daemon's own threads, the processes in `cell`'s cgroup,
    and the whole machine (busy jiffies of /proc/stat), with a timestamp."""
    def ticks(p):
        with open(f"/proc/{p}/stat") as f:
            v = f.read().rsplit(")", 1)[1].split()
        return int(v[11]) + int(v[12])
    out = {"t": time.monotonic(), "daemon": ticks(pid) / TICKS, "flood": 0.0}
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    # the daemon and every child it reaped (supervisors, with the cells under them)
    out["ours"] = sum(int(x) for x in v[11:15]) / TICKS
    if cell:
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open(f"/proc/{p}/cgroup") as f:
                    if f"/silo-{cell}" in f.read():
                        out["flood"] += ticks(p) / TICKS
            except (OSError, IndexError, ValueError):
                pass
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    out["machine"] = (sum(v) - v[3] - v[4]) / TICKS
    return out


if __name__ == "__main__":
    sys.exit(main())
