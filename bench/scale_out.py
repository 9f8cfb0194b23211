"""The driver of bench/scale-out.sh (see there): tasks/s with 1, 2 and 3 cell-host
processes behind one router process on a shared, fresh, fsyncing PostgreSQL database per
configuration, and where the CPU of a task goes (cell hosts, router, PostgreSQL).

Usage: scale_out.py SILO WORK N WORKERS_PER_HOST HOSTS... -- AGENT...
  SCALE_JSON=path   also write the figures there as JSON (for bench/all.sh)
  SCALE_QUICK=1     no wait for PostgreSQL's statistics flush (a smoke run)
  SUBMITTERS=4      API connections submitting at once

Per configuration: start `silo __throwaway-postgres --durable`, `silo keys init` in the
router's data folder, the router (`--role router`), hand its keys/ and vault/ folders to
every cell host's data folder, start the hosts (`--role cells`); warm up with two tasks per
worker; wait for PostgreSQL's statistics to settle; then read the counters, submit N tasks,
poll (psql) until all N ended, read the CPU; wait again, read the counters, and once more a
few seconds later to measure what the idle set-up does by itself (workers polling,
housekeeping), which is taken off the run's database counters for the wait.
"""

import http.client
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

TICKS = os.sysconf("SC_CLK_TCK")
BAD = ("failed", "aborted", "timed_out")
# A backend that flushed its statistics less than 1 s ago defers the next flush while idle
# for up to PGSTAT_IDLE_INTERVAL (10 s): wait that out before reading pg_stat_*.
STATS_SETTLE = 10.5
POLL = 0.05
IDLE_WINDOW = 4.0


class Broken(Exception):
    pass


# ---------------------------------------------------------------- /proc

def proc_table():
    """{pid: (ppid, ticks)} for every process, ticks = utime+stime+cutime+cstime."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(name)] = (int(fields[1]), sum(int(x) for x in fields[11:15]))
    return table


def tree_ticks(table, roots):
    """CPU ticks of `roots` and of their live descendants. A process's cutime/cstime hold its
    reaped children, so a child that ends between two readings moves from the second term
    to its parent's: nothing is counted twice or lost (unless reparented away)."""
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, seen, todo = 0, set(), [p for p in roots if p in table]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += table[pid][1]
        todo += children.get(pid, [])
    return total


def machine_jiffies():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]  # idle + iowait
    return sum(v) - idle, sum(v)


def own_ticks():
    t = os.times()
    return (t.user + t.system + t.children_user + t.children_system) * TICKS


# ---------------------------------------------------------------- one configuration

class Config:
    """One throw-away PostgreSQL server, a router and `hosts` cell hosts; stop() ends all."""

    def __init__(self, silo, work, agent, hosts, workers):
        self.silo, self.agent, self.hosts, self.workers = silo, agent, hosts, workers
        self.dir = os.path.join(work, f"{agent}-{hosts}")
        os.makedirs(self.dir)
        self.procs = []  # (name, Popen), in start order
        self.pg = None
        self.pg_dir = None
        self.psql = None
        self.queries = 0
        self.polls = 0  # of them, counts of router_tasks

    # -- processes

    def log(self, name):
        return os.path.join(self.dir, f"{name}.log")

    def start_postgres(self):
        self.pg = subprocess.Popen([self.silo, "__throwaway-postgres", "--durable"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=open(self.log("postgres"), "w"), text=True)
        self.url = self.pg.stdout.readline().strip()
        if not self.url.startswith("postgresql://"):
            self.pg.wait()
            raise Broken(f"`silo __throwaway-postgres` failed: {self.read_log('postgres')}")
        netloc = urllib.parse.urlsplit(self.url).netloc
        self.pg_dir = urllib.parse.unquote(netloc.split("@", 1)[1].rsplit(":", 1)[0])
        with open(os.path.join(self.pg_dir, "data", "postmaster.pid")) as f:
            self.postmaster = int(f.readline())
        self.psql = subprocess.Popen(
            ["psql", "-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1", self.url],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(self.log("psql"), "w"), text=True, bufsize=1)

    def read_log(self, name):
        try:
            with open(self.log(name)) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def env(self, name):
        env = dict(os.environ, SILO_DATABASE_URL=self.url,
                   SILO_RUN_DIR=os.path.join(self.dir, f"run-{name}"))
        env.pop("SILO_CONFIG", None)
        return env

    def data(self, name):
        return os.path.join(self.dir, f"data-{name}")

    def keys_init(self):
        out = subprocess.run([self.silo, "--data-dir", self.data("router"), "keys", "init"],
                             env=self.env("router"), capture_output=True, text=True)
        if out.returncode != 0:
            raise Broken(f"`silo keys init` failed: {out.stderr.strip()}")

    def hand_out_keys(self):
        # The routers' signing keys and the vault's master key (made by the router's first
        # start), handed to every host, as in crates/silo-cli/tests/scale.rs.
        for h in range(1, self.hosts + 1):
            for sub in ("keys", "vault"):
                src = os.path.join(self.data("router"), sub)
                if os.path.isdir(src):
                    shutil.copytree(src, os.path.join(self.data(f"c{h}"), sub))

    def serve(self, name, args):
        out = os.path.join(self.dir, f"{name}.out")
        proc = subprocess.Popen(
            [self.silo, "--data-dir", self.data(name), "serve", "--agents",
             os.path.join(os.path.dirname(self.dir), "agents")] + args,
            env=self.env(name), cwd=os.path.dirname(self.dir), stdin=subprocess.DEVNULL,
            stdout=open(out, "w"), stderr=open(self.log(name), "w"))
        self.procs.append((name, proc))
        return proc, out

    def ready(self, name, proc, out):
        deadline = time.monotonic() + 60
        while True:
            with open(out) as f:
                line = f.readline()
            if line.startswith("silo serve:") and line.endswith("\n"):
                return line.strip()
            if proc.poll() is not None or time.monotonic() > deadline:
                raise Broken(f"`silo serve` {name} did not start: {self.read_log(name)}")
            time.sleep(0.02)

    def start(self):
        self.start_postgres()
        self.keys_init()
        router = self.serve("router", ["--role", "router", "--listen", "127.0.0.1:0",
                                       "--no-console"])
        line = self.ready("router", *router)
        self.addr = line.rsplit("http://", 1)[1]
        self.hand_out_keys()
        hosts = [self.serve(f"c{h}", ["--role", "cells", "--workers", str(self.workers)])
                 for h in range(1, self.hosts + 1)]
        for h, (proc, out) in enumerate(hosts, 1):
            self.ready(f"c{h}", proc, out)
        self.router_pid = router[0].pid
        self.host_pids = [p.pid for p, _ in hosts]

    def stop(self):
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 5
        for _, proc in reversed(self.procs):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.psql is not None and self.psql.poll() is None:
            self.psql.stdin.close()
            try:
                self.psql.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.psql.kill()
                self.psql.wait()
        if self.pg is not None and self.pg.poll() is None:
            self.pg.stdin.close()  # the server stops and its folder goes
            try:
                self.pg.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.pg.kill()
                self.pg.wait()
        if self.pg_dir and os.path.isdir(self.pg_dir):
            shutil.rmtree(self.pg_dir, ignore_errors=True)

    # -- the database

    def sql(self, query):
        """One row of `query` from the long-lived psql session, as strings."""
        self.queries += 1
        self.psql.stdin.write(query.strip().rstrip(";") + ";\n")
        self.psql.stdin.flush()
        line = self.psql.stdout.readline()
        if not line:
            raise Broken(f"psql ended: {self.read_log('psql')}")
        return line.rstrip("\n").split("|")

    def counts(self):
        self.polls += 1
        done, bad, total = self.sql(
            "SELECT count(*) FILTER (WHERE state = 'completed'), "
            f"count(*) FILTER (WHERE state IN {BAD!r}), count(*) FROM router_tasks")
        return int(done), int(bad), int(total)

    def stats(self):
        """Counters of the database (pg_stat_database, pg_stat_user_tables) and of the
        cluster's WAL (pg_stat_wal, PostgreSQL 14+), flat; "q" is how many queries this
        session had sent when the first was read (its own transactions: see `delta`)."""
        t = time.monotonic()
        xacts, commits, rollbacks, ins, upd, dele, fetched = map(int, self.sql(
            "SELECT xact_commit + xact_rollback, xact_commit, xact_rollback, tup_inserted, "
            "tup_updated, tup_deleted, tup_returned FROM pg_stat_database "
            "WHERE datname = current_database()"))
        out = {"t": t, "q": self.queries, "polls": self.polls, "xacts": xacts,
               "commits": commits, "rollbacks": rollbacks, "rows_written": ins + upd + dele,
               "rows_read": fetched}
        try:
            out["wal_syncs"], out["wal_records"], out["wal_bytes"] = map(int, map(
                float, self.sql("SELECT wal_sync, wal_records, wal_bytes FROM pg_stat_wal")))
        except (Broken, ValueError):
            out["wal_syncs"] = out["wal_records"] = out["wal_bytes"] = 0
        listed = self.sql(
            "SELECT coalesce(string_agg(relname || ':' || (coalesce(seq_scan, 0) + "
            "coalesce(idx_scan, 0)) || ':' || (n_tup_ins + n_tup_upd + n_tup_del), ','), '') "
            "FROM pg_stat_user_tables")[0]
        for item in filter(None, listed.split(",")):
            name, scans, writes = item.rsplit(":", 2)
            out[f"scans:{name}"], out[f"writes:{name}"] = int(scans), int(writes)
        return out

    def xid(self):
        return int(self.sql("SELECT pg_current_xact_id()")[0])

    # -- the API

    def submit(self, count, clients=1):
        """POSTs `count` tasks over `clients` kept-alive connections at once."""
        task = json.dumps({"entry": f"noop-{self.agent}", "customer": "cus_001",
                           "case": "case_001", "input": {}})
        errors = []

        def client(share):
            c = None
            try:
                for _ in range(share):
                    if c is None:
                        c = http.client.HTTPConnection(self.addr, timeout=60)
                    c.request("POST", "/v1/tasks", body=task,
                              headers={"content-type": "application/json"})
                    r = c.getresponse()
                    body = r.read()
                    if r.status != 201:
                        errors.append(f"the router refused a task: {r.status} {body[:300]!r}")
                        return
                    if r.will_close:
                        c.close()
                        c = None
            except OSError as e:
                errors.append(f"submitting: {e}")
            finally:
                if c is not None:
                    c.close()

        shares = [count // clients + (i < count % clients) for i in range(clients)]
        threads = [threading.Thread(target=client, args=(k,)) for k in shares if k]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise Broken(errors[0])

    def wait_done(self, want, timeout):
        deadline = time.monotonic() + timeout
        while True:
            done, bad, _ = self.counts()
            if done + bad >= want:
                return done, bad
            if time.monotonic() > deadline:
                raise Broken(f"only {done} of {want} tasks completed after {timeout} s "
                             f"({bad} failed); logs in {self.dir}")
            for name, proc in self.procs:
                if proc.poll() is not None:
                    raise Broken(f"`silo serve` {name} exited: {self.read_log(name)}")
            time.sleep(POLL)

    def why_failed(self):
        """The events of one task that ended badly, for the error message."""
        row = self.sql(f"SELECT coalesce(string_agg(kind || ' ' || body, '; ' ORDER BY seq), '') "
                       f"FROM router_events WHERE task = (SELECT id FROM router_tasks WHERE "
                       f"state IN {BAD!r} ORDER BY seq LIMIT 1)")
        return "|".join(row)[:2000]

    def cpu(self):
        table = proc_table()
        busy, total = machine_jiffies()
        return {"hosts": tree_ticks(table, self.host_pids),
                "router": tree_ticks(table, [self.router_pid]),
                "postgres": tree_ticks(table, [self.postmaster]),
                "bench": own_ticks(), "busy": busy, "total": total, "t": time.monotonic()}


def delta(a, b):
    """Counters from reading `a` to reading `b`, without this session's own queries: each is
    a transaction (the one reading `a` included, the one reading `b` not yet flushed), and
    each poll scans router_tasks once."""
    d = {k: b[k] - a.get(k, 0) for k in b if k not in ("t", "q", "polls")}
    for k in ("xacts", "commits"):
        d[k] -= b["q"] - a["q"]
    d["scans:router_tasks"] = d.get("scans:router_tasks", 0) - (b["polls"] - a["polls"])
    return d


def measure(cfg, n, quick, clients):
    cfg.start()
    # Warm-up: a few turns on every worker, so keys, first-turn set-up and connection pools
    # are in place before the clock starts.
    warm = 2 * cfg.hosts * cfg.workers
    cfg.submit(warm, clients)
    done, warm_bad = cfg.wait_done(warm, 120)
    warm_failed = cfg.why_failed() if warm_bad else ""
    if warm_bad:
        print(f"  noop-{cfg.agent}, {cfg.hosts} hosts: {warm_bad} of {warm} warm-up tasks "
              f"failed (not counted), e.g. {warm_failed}", file=sys.stderr)
    idle0 = cfg.cpu()
    time.sleep(2.0 if quick else STATS_SETTLE)  # the warm-up's statistics flushed
    idle1 = cfg.cpu()
    s0, x0, c0 = cfg.stats(), cfg.xid(), cfg.cpu()
    cfg.submit(n, clients)
    submitted = time.monotonic() - c0["t"]
    done, bad = cfg.wait_done(warm + n, max(300, n))
    c1 = cfg.cpu()
    x1 = cfg.xid()
    done, bad = done - (warm - warm_bad), bad - warm_bad
    failed = cfg.why_failed() if bad else ""
    if bad:
        print(f"  noop-{cfg.agent}, {cfg.hosts} hosts: {bad} of {n} tasks failed, e.g. "
              f"{failed}", file=sys.stderr)
    if not quick:
        time.sleep(STATS_SETTLE)
    s1 = cfg.stats()
    # The idle set-up's own database work (workers polling, housekeeping), per second, from
    # two settled readings: taken off the run's counters for the tail waited above.
    time.sleep(IDLE_WINDOW)
    s2 = cfg.stats()
    idle_db = {k: v / (s2["t"] - s1["t"]) for k, v in delta(s1, s2).items()}
    tail = s1["t"] - c1["t"]
    d = {k: v - idle_db.get(k, 0) * tail for k, v in delta(s0, s1).items()}
    wall = c1["t"] - c0["t"]

    def per_task(key):
        return (c1[key] - c0[key]) * 1000 / TICKS / n

    def idle_rate(key):  # background CPU of the idle set-up, ms per second
        return (idle1[key] - idle0[key]) * 1000 / TICKS / max(0.1, idle1["t"] - idle0["t"])

    busy = (c1["busy"] - c0["busy"]) / max(1, c1["total"] - c0["total"])
    ours = sum(c1[k] - c0[k] for k in ("hosts", "router", "postgres", "bench"))
    cores = os.cpu_count() or 1
    other = max(0.0, (c1["busy"] - c0["busy"]) - ours) / TICKS / wall  # cores
    names = sorted({k.split(":", 1)[1] for k in d if k.startswith("scans:")})
    return {
        "hosts": cfg.hosts, "workers_per_host": cfg.workers, "n": n, "wall_s": wall,
        "submit_s": submitted, "tps": n / wall, "completed": done, "failed": bad,
        "failed_example": failed, "warmup": warm, "warmup_failed": warm_bad,
        "warmup_failed_example": warm_failed,
        "cpu_ms": {k: per_task(k) for k in ("hosts", "router", "postgres")},
        "bench_cpu_ms": per_task("bench"),
        "idle_cpu_ms_per_s": {k: idle_rate(k) for k in ("hosts", "router", "postgres")},
        "machine_busy": busy, "machine_idle": 1 - busy, "other_cores": other, "cores": cores,
        "db_per_task": {k: d[k] / n for k in ("xacts", "commits", "rollbacks", "rows_written",
                                              "rows_read", "wal_syncs", "wal_records",
                                              "wal_bytes")},
        "db_idle_per_s": {k: idle_db[k] for k in ("xacts", "wal_syncs")},
        "tables_per_task": {t: {"scans": max(0.0, d.get(f"scans:{t}", 0)) / n,
                                "rows_written": max(0.0, d.get(f"writes:{t}", 0)) / n}
                            for t in names},
        "submitters": clients,
        "write_xacts_per_task": (x1 - x0 - 1) / n,
        "stats_settled": not quick,
    }


# ---------------------------------------------------------------- output

def top_tables(r, k=3):
    t = r["tables_per_task"]
    return sorted(t, key=lambda name: -t[name]["scans"])[:k]


def table(agent, rows):
    base = rows[0]["tps"] if rows and rows[0]["hosts"] == 1 else None
    print(f"\nnoop-{agent}: {rows[0]['n']} tasks over {rows[0]['submitters']} API connections, "
          f"one router + cell hosts x {rows[0]['workers_per_host']} workers, a fresh "
          f"fsyncing database each")
    head = (f"{'hosts':>5} | {'tasks/s':>7} | {'speed-up':>8} | {'intake/s':>8} | "
            f"{'CPU ms/task: hosts':>18} {'router':>6} {'postgres':>8} {'total':>6} | "
            f"{'db xacts/task':>13} {'writing':>7} {'fsyncs':>6} | {'idle CPU':>8}")
    print(head)
    print("-" * len(head))
    for r in rows:
        c = r["cpu_ms"]
        up = f"{r['tps'] / base:.2f}x" if base else "-"
        db = r["db_per_task"]
        print(f"{r['hosts']:>5} | {r['tps']:>7.1f} | {up:>8} | {r['n'] / r['submit_s']:>8.1f} | "
              f"{c['hosts']:>18.1f} {c['router']:>6.1f} {c['postgres']:>8.1f} "
              f"{sum(c.values()):>6.1f} | {db['xacts']:>13.1f} "
              f"{r['write_xacts_per_task']:>7.1f} {db['wal_syncs']:>6.1f} | "
              f"{r['machine_idle']:>8.0%}")
    for r in rows:
        extra = []
        if r["failed"]:
            extra.append(f"{r['failed']} TASKS FAILED, e.g. {r['failed_example'][:300]}")
        if r["warmup_failed"]:
            extra.append(f"{r['warmup_failed']} of {r['warmup']} warm-up tasks failed (not "
                         f"counted)")
        if r["other_cores"] > 0.1:
            extra.append(f"other work on the machine used {r['other_cores']:.2f} cores")
        i = r["idle_cpu_ms_per_s"]
        t = r["tables_per_task"]
        print(f"  {r['hosts']} host{'s' if r['hosts'] > 1 else ''}: {r['n']} tasks in "
              f"{r['wall_s']:.2f} s (all submitted after {r['submit_s']:.2f} s); most-read "
              f"tables, scans/task: "
              + ", ".join(f"{name} {t[name]['scans']:.1f}" for name in top_tables(r))
              + f" (all tables {sum(v['scans'] for v in t.values()):.1f}); idle, the set-up "
              f"costs hosts {i['hosts']:.1f}, router {i['router']:.1f}, PostgreSQL "
              f"{i['postgres']:.1f} ms CPU/s"
              + (f" and makes {r['db_idle_per_s']['xacts']:.0f} database transactions/s"
                 if r["stats_settled"] else "")
              + ("; " + "; ".join(extra) if extra else ""))


def reading(agent, rows):
    """What bounds the figure, derived from the rows."""
    cores = rows[0]["cores"]
    first, last = rows[0], rows[-1]
    c = last["cpu_ms"]
    total = sum(c.values())
    used = last["tps"] * total / 1000  # cores our processes kept busy
    other = last["other_cores"]
    ceiling = cores * 1000 / total if total else float("inf")
    intake = last["n"] / last["submit_s"]
    intake_bound = last["submit_s"] >= 0.9 * last["wall_s"]
    hosts = lambda r: f"{r['hosts']} host{'s' if r['hosts'] > 1 else ''}"
    parts = [f"noop-{agent}: {hosts(first)} → {hosts(last)}: {first['tps']:.1f} → "
             f"{last['tps']:.1f} tasks/s ({last['tps'] / first['tps']:.2f}x)."]
    if last["machine_busy"] > 0.85 or (used + other) / cores > 0.85:
        parts.append(
            f"At {hosts(last)} the {cores} cores are saturated ({last['machine_busy']:.0%} busy;"
            f" silo and PostgreSQL {used:.2f} cores"
            + (f", other work {other:.2f}" if other > 0.05 else "")
            + f"), so on this machine the figure is CPU-bound and more host processes cannot "
            f"help: {total:.1f} ms of CPU per task caps {cores} cores at {ceiling:.0f} tasks/s"
            + (f"; the router's intake ({intake:.0f} submissions/s) kept pace only just"
               if intake_bound else "") + ".")
    elif intake_bound:
        parts.append(
            f"At {hosts(last)} the cells kept up with the router's intake: submissions were "
            f"accepted at {intake:.0f}/s over {last['submitters']} connections (each a "
            f"fsynced commit) with the machine {last['machine_idle']:.0%} idle, so intake "
            f"bounds it; the CPU ceiling is {ceiling:.0f} tasks/s.")
    else:
        parts.append(
            f"At {hosts(last)} the machine is {last['machine_busy']:.0%} busy "
            f"({last['machine_idle']:.0%} idle), so CPU is not the limit: the latency of "
            f"{last['hosts'] * last['workers_per_host']} workers' turns is (fsynced commits, "
            f"cell start-up); the CPU ceiling is {ceiling:.0f} tasks/s.")
    if total:
        parts.append(
            f"Of the {total:.1f} ms CPU per task the cell hosts (supervisors, cells, agents) take "
            f"{c['hosts'] / total:.0%}, the router {c['router'] / total:.0%} and PostgreSQL "
            f"{c['postgres'] / total:.0%}.")
    p0, p1 = first["cpu_ms"]["postgres"], c["postgres"]
    if p1 > 1.1 * p0:
        parts.append(f"PostgreSQL's CPU per task grows with the hosts ({p0:.1f} → {p1:.1f} ms):"
                     f" idle, the set-up costs it {first['idle_cpu_ms_per_s']['postgres']:.0f} → "
                     f"{last['idle_cpu_ms_per_s']['postgres']:.0f} ms/s"
                     + (f" and {first['db_idle_per_s']['xacts']:.0f} → "
                        f"{last['db_idle_per_s']['xacts']:.0f} transactions/s"
                        if last["stats_settled"] else "") + " (idle workers polling).")
    db = last["db_per_task"]
    w = last["write_xacts_per_task"]
    t = last["tables_per_task"]
    parts.append(
        f"A task costs {db['xacts']:.0f} database transactions ({w:.0f} writing, "
        f"{max(0.0, db['xacts'] - w):.0f} read-only; {db['wal_syncs']:.1f} WAL fsyncs, "
        f"{db['wal_bytes'] / 1024:.0f} KiB of WAL); the most-read tables, in scans per task: "
        + ", ".join(f"{name} {t[name]['scans']:.0f}" for name in top_tables(last))
        + ("" if last["stats_settled"] else " (--quick: statistics not settled, undercounted)")
        + ".")
    if c["postgres"] > 0 and c["router"] > 0:
        parts.append(
            f"With the cell hosts on machines of their own, what stays shared is the router "
            f"({c['router']:.1f} ms per task: ~{1000 / c['router']:.0f} tasks/s per core) and "
            f"PostgreSQL ({c['postgres']:.1f} ms: ~{1000 / c['postgres']:.0f} tasks/s per "
            f"database core, before fsync and lock waits) — "
            + ("PostgreSQL" if c["postgres"] > c["router"] else "the router")
            + " is the first shared limit.")
    return " ".join(parts)


def main():
    args = sys.argv[1:]
    if "--" not in args or len(args) < 6:
        sys.exit(__doc__)
    split = args.index("--")
    silo, work, n, workers = args[0], args[1], int(args[2]), int(args[3])
    host_counts = [int(h) for h in args[4:split]]
    agents = args[split + 1:]
    quick = os.environ.get("SCALE_QUICK") == "1"
    clients = int(os.environ.get("SUBMITTERS", "4"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    cores = os.cpu_count() or 1
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                  if line.startswith("model name")), "?")
    busy0, all0 = machine_jiffies()
    time.sleep(1.0)
    busy1, all1 = machine_jiffies()
    start_busy = (busy1 - busy0) / max(1, all1 - all0)
    print(f"machine: {cores} cores ({model}), {platform.system()} {platform.release()}, "
          f"{start_busy:.0%} busy just before the start (load average "
          f"{os.getloadavg()[0]:.2f})")
    print(f"method: {n} tasks submitted over {clients} API connections to the router, timed "
          f"from the first submission until all are done, counted with psql on the shared "
          f"database (one session, polled every {POLL * 1000:.0f} ms); a fresh PostgreSQL "
          f"server with fsync on (`silo __throwaway-postgres --durable`) per configuration"
          + ("; --quick: statistics not settled" if quick else ""))
    results, errors = {}, []
    started = time.monotonic()
    for agent in agents:
        rows = []
        for hosts in host_counts:
            cfg = Config(silo, work, agent, hosts, workers)
            try:
                rows.append(measure(cfg, n, quick, clients))
            except Broken as e:
                errors.append(f"noop-{agent}, {hosts} hosts: {e}")
                print(f"noop-{agent}, {hosts} hosts: BROKEN: {e}", file=sys.stderr)
            finally:
                cfg.stop()
        if rows:
            table(agent, rows)
            results[agent] = {"rows": rows, "bound": reading(agent, rows)}
    print("\nwhat bounds it:")
    for agent, r in results.items():
        print(f"  {r['bound']}")
    took = time.monotonic() - started
    print(f"\n(took {took:.0f} s)")
    if os.environ.get("SCALE_JSON"):
        with open(os.environ["SCALE_JSON"], "w") as f:
            json.dump({"n": n, "workers_per_host": workers, "hosts": host_counts,
                       "cores": cores, "model": model, "busy_before": start_busy,
                       "quick": quick, "count_method": "psql count on router_tasks",
                       "agents": results, "errors": errors, "took_s": took}, f, indent=1)
    failed = any(r["failed"] for a in results.values() for r in a["rows"])
    return 1 if errors or failed else 0


if __name__ == "__main__":
    sys.exit(main())
