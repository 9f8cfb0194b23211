"""The driver of bench/all.sh: every silo benchmark in one run on this machine, side by side,
each figure next to its goal, MET / NOT MET, and what bounds it where the goal is missed.

Usage: python3 bench/harness.py [--quick] [--out DIR] [--wait-idle SECONDS]
       (run it through bench/all.sh; --wait-idle: how long to wait for other work on the
       machine to stop before benchmarking, default 60)

Writes DIR/latest.json (every figure, every run, the machine) and DIR/latest.md (the
table), keeps each tool's raw output in DIR/raw/, and prints the table. Exit status: 0
when every benchmark produced its figures (whether or not a goal was met), 1 when a
benchmark broke (its rows say why), 2 on a usage error. See docs/BENCHMARKS.md.
"""

import datetime
import glob
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in bench/
import memory  # noqa: E402  (bench/memory.py)

MODES = {
    # hyperfine: runs of /bin/true per command (the Python hello gets runs/4 + 10);
    # membrane: repetitions of bench/membrane-in-cell.sh per audit durability, N calls each;
    # cargo: repetitions of each cargo bench binary; router: repetitions of
    # bench/router-throughput.sh with N tasks and RUNS sequential `silo run` for the split;
    # cells: idle cells alive at once for the memory figures.
    "quick": dict(hyperfine=60, membrane=3, membrane_n=2000, cargo=1, pii=1,
                  router=1, router_n=200, router_split=10, cells=5),
    "full": dict(hyperfine=300, membrane=5, membrane_n=2000, cargo=3, pii=3,
                 router=5, router_n=300, router_split=30, cells=10),
}
WORKERS = 2
CARGO_BENCHES = {  # package -> bench target
    "silo-policy": "decide", "silo-keys": "verify", "silo-audit": "append",
    "silo-membrane": "round_trip", "silo-pii": "throughput",
}
# The same bubblewrap line as bench/cell-startup.sh.
BWRAP = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session",
         "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib",
         "/lib", "--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev",
         "--tmpfs", "/tmp", "--setenv", "TMPDIR", "/tmp"]
AGENT_LABEL = {"c": "C (static binary)", "py": "Python (-S, http.client)"}
MET, NOT_MET, NO_GOAL, BROKEN = "MET", "NOT MET", "—", "NOT MEASURED"


class Broken(Exception):
    """A benchmark did not produce its figures."""


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- formatting helpers

def us(x):
    return "n/a" if x is None else (f"{x:.0f} µs" if x >= 10 else f"{x:.2f} µs")


def ms(x):
    return "n/a" if x is None else f"{x:.1f} ms"


def mib(b):
    return "n/a" if b is None else f"{b / 2**20:.1f} MiB"


def med(xs):
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return statistics.median(xs) if xs else None


def row(figure, silo, compare="", runs="", goal="no goal stated", status=NO_GOAL, bound="",
        **data):
    return {"figure": figure, "silo": silo, "compare": compare, "runs": runs, "goal": goal,
            "status": status, "bound": bound, "data": data}


def broken_row(figure, goal, why):
    return row(figure, "not measured", "", "", goal, BROKEN, f"benchmark broke: {why}")


# ---------------------------------------------------------------- running things

class Runner:
    def __init__(self, out_dir):
        self.raw = os.path.join(out_dir, "raw")
        os.makedirs(self.raw, exist_ok=True)

    def run(self, name, cmd, env=None, cwd=ROOT, timeout=1800):
        """Run cmd, keep its output in raw/NAME.txt, return stdout; Broken on failure."""
        full_env = dict(os.environ, **(env or {}))
        start = time.monotonic()
        try:
            p = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Broken(f"`{' '.join(cmd)}` took longer than {timeout} s")
        with open(os.path.join(self.raw, f"{name}.txt"), "w") as f:
            f.write(f"$ {' '.join(cmd)}\n# env: {env or {}}\n# exit {p.returncode}, "
                    f"{time.monotonic() - start:.1f} s\n\n{p.stdout}\n--- stderr ---\n{p.stderr}")
        if p.returncode != 0:
            tail = (p.stderr.strip() or p.stdout.strip()).splitlines()[-3:]
            raise Broken(f"`{os.path.basename(cmd[0])}` exited {p.returncode}: "
                         + " / ".join(tail))
        return p.stdout


# ---------------------------------------------------------------- the machine

def cpu_busy_sample(seconds=1.0):
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v) - v[3] - v[4], sum(v)
    b0, t0 = snap()
    time.sleep(seconds)
    b1, t1 = snap()
    return (b1 - b0) / max(1, t1 - t0)


class CpuAccount:
    """Splits the machine's CPU time into ours (this process and everything it starts,
    including processes that outlive their parent, such as bubblewrap's), kernel threads'
    (write-back, network-namespace clean-up: partly caused by us) and other processes'.

    Ours comes from a cgroup v1 `cpuacct` group made for this run (a hierarchy silo does
    not use); without one, from the CPU time of the children this process reaped, which
    misses orphans."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self):
        self.group = self.parent = None
        try:
            mounts = {}
            with open("/proc/self/mountinfo") as f:
                for line in f:
                    left, right = line.split(" - ", 1)
                    tail = right.split()
                    if tail[0] == "cgroup" and "cpuacct" in tail[2].split(","):
                        mounts = {"point": left.split()[4], "root": left.split()[3]}
            if not mounts:
                return
            with open("/proc/self/cgroup") as f:
                path = next(l.rstrip("\n").split(":", 2)[2] for l in f
                            if "cpuacct" in l.split(":")[1].split(","))
            rel = os.path.relpath(path, mounts["root"])
            self.parent = os.path.normpath(os.path.join(mounts["point"], rel))
            group = os.path.join(self.parent, f"silo-bench-{os.getpid()}")
            os.mkdir(group)
            self.group = group
            with open(os.path.join(group, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        except (OSError, StopIteration):
            self.close()
            self.group = None

    def method(self):
        return ("cgroup v1 cpuacct group" if self.group else
                "reaped children's CPU time (misses orphaned processes)")

    def snapshot(self):
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        busy = (sum(v) - v[3] - v[4]) / self.TICK
        if self.group:
            with open(os.path.join(self.group, "cpuacct.usage")) as f:
                ours = int(f.read()) / 1e9
        else:
            ours = sum(os.times()[:4])
        kthreads = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[6]) & 0x00200000:  # PF_KTHREAD
                kthreads[pid] = (int(fields[11]) + int(fields[12])) / self.TICK
        return busy, ours, kthreads

    @staticmethod
    def kthread_delta(k0, k1):
        """CPU of kernel threads between two snapshots (those that ended in between: lost)."""
        return sum(t - k0.get(pid, 0) for pid, t in k1.items())

    def close(self):
        if not self.group:
            return
        try:
            with open(os.path.join(self.parent, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
            for _ in range(50):  # orphans of the last benchmark may still be exiting
                try:
                    os.rmdir(self.group)
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                log(f"could not remove the cgroup {self.group}")
        except OSError as e:
            log(f"could not leave the cgroup {self.group}: {e}")


def wait_idle(limit_s, threshold=0.15):
    """Wait up to limit_s for the machine to be quiet (< threshold busy over 3 s)."""
    deadline = time.monotonic() + limit_s
    while True:
        busy = cpu_busy_sample(3.0)
        if busy < threshold:
            return busy, True
        if time.monotonic() >= deadline:
            return busy, False
        log(f"the machine is {busy:.0%} busy with other work; waiting for it to quiet down "
            f"(up to {max(0, deadline - time.monotonic()):.0f} s more)")


def machine():
    info = {}
    with open("/proc/cpuinfo") as f:
        text = f.read()
    m = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    info["cpu"] = m.group(1).strip() if m else platform.processor() or "?"
    info["cores"] = os.cpu_count()
    info["kernel"] = platform.release()
    with open("/proc/meminfo") as f:
        mem = {l.split(":")[0]: int(l.split()[1]) for l in f}
    info["memory_gib"] = round(mem["MemTotal"] / 2**20, 1)
    try:
        with open("/etc/os-release") as f:
            osr = dict(l.rstrip("\n").split("=", 1) for l in f if "=" in l)
        info["os"] = osr.get("PRETTY_NAME", "?").strip('"')
    except OSError:
        info["os"] = "?"
    try:
        fs = subprocess.run(["stat", "-f", "-c", "%T", tempfile.gettempdir()],
                            capture_output=True, text=True).stdout.strip() or "?"
    except OSError:
        fs = "?"
    info["tmp_fs"] = fs
    cg = memory.cgroup_mounts()
    info["cgroups"] = ("v1 memory controller (hybrid)" if cg["v1"] else
                       "v2" if cg["v2"] else "none")
    git = lambda *a: subprocess.run(["git", *a], cwd=ROOT, capture_output=True,
                                    text=True).stdout.strip()
    info["commit"] = git("rev-parse", "--short", "HEAD") or "?"
    changed = [l for l in git("status", "--porcelain").splitlines() if l.strip()]
    info["working_tree"] = (f"{len(changed)} uncommitted changes" if changed else "clean")
    return info


def machine_line(m):
    return (f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM, Linux {m['kernel']} "
            f"({m['os']}), /tmp on {m['tmp_fs']}, cgroups: {m['cgroups']}")


# ---------------------------------------------------------------- 0. build

def build(runner):
    log("building silo (cargo build --release -p silo-cli)")
    t = time.monotonic()
    runner.run("build-silo", ["cargo", "build", "--release", "-q", "-p", "silo-cli"],
               timeout=3600)
    silo_s = time.monotonic() - t
    silo = os.path.join(ROOT, "target", "release", "silo")
    log("building the cargo benches (cargo bench --no-run)")
    t = time.monotonic()
    cmd = ["cargo", "bench", "--no-run", "--message-format=json"]
    for pkg in CARGO_BENCHES:
        cmd += ["-p", pkg]
    exes, why = {}, None
    try:
        out = runner.run("build-benches", cmd, timeout=3600)
        for line in out.splitlines():
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if (msg.get("reason") == "compiler-artifact" and msg.get("executable")
                    and "bench" in msg["target"]["kind"]):
                exes[msg["target"]["name"]] = msg["executable"]
    except Broken as e:
        why = str(e)
    return silo, exes, why, {"silo_s": round(silo_s, 1),
                             "benches_s": round(time.monotonic() - t, 1)}


# ---------------------------------------------------------------- 1 + 2. cell start-up

def cell_startup(runner, silo, mode):
    runs = mode["hyperfine"]
    with tempfile.TemporaryDirectory(prefix="silo-bench-start-") as d:
        runner.run("cell-startup", ["bash", os.path.join(HERE, "cell-startup.sh"), str(runs)],
                   env={"SILO": silo, "JSON_DIR": d})
        res = {}
        for name in ("true", "python", "bare"):
            with open(os.path.join(d, f"{name}.json")) as f:
                for r in json.load(f)["results"]:
                    res[r["command"]] = {
                        "median_ms": r["median"] * 1e3, "mean_ms": r["mean"] * 1e3,
                        "stddev_ms": r["stddev"] * 1e3,
                        "user_ms": r["user"] * 1e3, "system_ms": r["system"] * 1e3,
                        "runs": len(r["times"]),
                    }
    s, b = res["silo /bin/true"], res["bwrap /bin/true"]
    ratio = s["median_ms"] / b["median_ms"]
    cpu = s["user_ms"] + s["system_ms"]
    met = ratio <= 1.0
    bound = ""
    if not met:
        busy = cpu / s["mean_ms"]
        what = ("CPU-bound" if busy > 0.8 else
                f"{s['mean_ms'] - cpu:.1f} ms of it waiting (cgroup v1 attach can wait an RCU "
                f"grace period)")
        bound = (f"silo's spawn→exit costs {cpu:.1f} ms CPU (user {s['user_ms']:.1f} + sys "
                 f"{s['system_ms']:.1f}) of {s['mean_ms']:.1f} ms wall: {what}; it does more "
                 f"than this bwrap line (seccomp allow-list compiled per cell, Landlock, cgroup "
                 f"create/limits/attach/remove, its own init, a uid per agent)")
    rows = [row("cell spawn→exit, `/bin/true`", f"{s['median_ms']:.2f} ms",
                f"bwrap {b['median_ms']:.2f} ms → ratio {ratio:.2f}×",
                f"median of {s['runs']} (hyperfine)", "ratio ≤ 1.00 (silo ≤ bwrap)",
                MET if met else NOT_MET, bound, silo_ms=s["median_ms"], bwrap_ms=b["median_ms"],
                ratio=ratio)]
    sp, bp, bare = res["silo python hello"], res["bwrap python hello"], res["bare python hello"]
    over = sp["median_ms"] - bare["median_ms"]
    ratio_py, ratio_bw = sp["median_ms"] / bare["median_ms"], bp["median_ms"] / bare["median_ms"]
    rows.append(row(
        "Python hello agent start→exit", f"{sp['median_ms']:.1f} ms",
        f"bare python3 {bare['median_ms']:.1f} ms → ratio {ratio_py:.2f}×, +{over:.1f} ms; "
        f"bwrap {bp['median_ms']:.1f} ms ({ratio_bw:.2f}×)",
        f"median of {sp['runs']} (hyperfine)", "no goal stated", NO_GOAL,
        f"an empty cell's spawn→exit alone is {s['median_ms']:.1f} ms; Python's own start-up "
        f"varies by σ {bare['stddev_ms']:.1f} ms bare, {sp['stddev_ms']:.1f} ms in a cell",
        silo_ms=sp["median_ms"], bare_ms=bare["median_ms"], bwrap_ms=bp["median_ms"],
        ratio=ratio_py, overhead_ms=over))
    return rows, res


# ---------------------------------------------------------------- 3. membrane in a cell

RTT = re.compile(r"n=(\d+) p50=(\d+)us p99=(\d+)us max=(\d+)us")


def membrane_in_cell(runner, silo, mode, inproc):
    """inproc: figures of the in-process bench if it ran ({'append_p50', 'nofsync_p50'})."""
    out = {}
    for durability in ("disk", "process"):
        runs = []
        for i in range(mode["membrane"]):
            text = runner.run(f"membrane-in-cell-{durability}-{i}",
                              ["bash", os.path.join(HERE, "membrane-in-cell.sh"),
                               str(mode["membrane_n"])],
                              env={"SILO": silo, "SILO_AUDIT_DURABILITY": durability})
            m = RTT.search(text)
            if not m:
                raise Broken(f"no `p50=… p99=…` line in bench/membrane-in-cell.sh's output")
            runs.append({"n": int(m[1]), "p50": int(m[2]), "p99": int(m[3]), "max": int(m[4])})
        out[durability] = {"runs": runs, "p50": med([r["p50"] for r in runs]),
                           "p99": med([r["p99"] for r in runs])}
    d, p = out["disk"], out["process"]
    reps = f"median of {mode['membrane']} runs × {mode['membrane_n']} calls"
    goal = "p50 ≤ 100 µs, p99 ≤ 500 µs"
    rows = []
    for key, label in (("disk", "audit fsynced per entry (default)"),
                       ("process", "audit durability=process (no fsync)")):
        v = out[key]
        met = v["p50"] <= 100 and v["p99"] <= 500
        if met:
            bound = ""
        elif key == "disk":
            bound = (f"the audit entry's fsync, one per call: without it (durability=process) "
                     f"p50 {us(p['p50'])} / p99 {us(p['p99'])}"
                     + (f"; one durable audit append alone is p50 {us(inproc['append_p50'])}"
                        if inproc.get("append_p50") else ""))
        else:
            bound = ("the membrane's own work (HTTP, keys, policy, SQLite read, audit append "
                     "without fsync"
                     + (f": p50 {us(inproc['nofsync_p50'])} in process, Rust client"
                        if inproc.get("nofsync_p50") else "")
                     + ") plus the Python http.client in the cell")
        rows.append(row(f"membrane round trip from a cell, {label}",
                        f"p50 {us(v['p50'])} / p99 {us(v['p99'])}",
                        "POST /v1/kv/get, Python agent in a real cell", reps, goal,
                        MET if met else NOT_MET, bound, p50_us=v["p50"], p99_us=v["p99"]))
    return rows, out


# ---------------------------------------------------------------- 4. cargo benches

DUR = re.compile(r"([\d.]+)\s*(ns|µs|us|ms|s)\b")


def dur_us(text):
    m = DUR.fullmatch(text.strip())
    if not m:
        raise Broken(f"cannot read the duration `{text}`")
    return float(m[1]) * {"ns": 1e-3, "µs": 1, "us": 1, "ms": 1e3, "s": 1e6}[m[2]]


def parse_policy_keys(text):
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(.+?)\s+p50\s+([\d.]+) µs\s+p99\s+([\d.]+) µs", line)
        if m:
            out[m[1].strip()] = {"p50": float(m[2]), "p99": float(m[3])}
    return out


def parse_audit(text):
    out = {"batch": {}}
    for line in text.splitlines():
        if m := re.match(r"^append_batch\s+batch=\s*(\d+)\s+(\d+) entries\s+(\d+) entries/s", line):
            out["batch"][int(m[1])] = float(m[3])
        elif m := re.match(r"^seal only\s+(\d+) entries\s+(\d+) entries/s", line):
            out["seal"] = float(m[2])
        elif m := re.match(r"^append single\s+(\d+) entries\s+p50 (\d+) µs\s+p99 (\d+) µs", line):
            out["single_p50"], out["single_p99"] = float(m[2]), float(m[3])
        elif m := re.match(r"^verify\s+(\d+) entries\s+(\d+) entries/s", line):
            out["verify"] = float(m[2])
    return out


def parse_membrane(text):
    out, section = {}, None
    for line in text.splitlines():
        if m := re.match(r"^-- audit durability: (\w+)", line):
            section = m[1].lower()
            out[section] = {}
        elif section and (m := re.match(
                r"^(verify \+ decide|audit append|GET /v1/task|POST /v1/kv/get)\s+n=(\d+) "
                r"p50=\s*(\S+) p99=\s*(\S+) max=\s*(\S+)", line)):
            out[section][m[1]] = {"p50": dur_us(m[3]), "p99": dur_us(m[4])}
    return out


def parse_pii(text):
    out = {"speed": {}, "categories": {}, "kinds": {}}
    part = None
    for line in text.splitlines():
        if line.startswith("quality on"):
            part = "quality"
        if m := re.match(r"^((?:scan|tokenize_text), .+?)\s{2,}([\d.]+) MB/s\s+(\d+) docs/s"
                         r"\s+\| wall, best run:\s+([\d.]+) MB/s", line):
            out["speed"][m[1]] = {"mb_s_cpu": float(m[2]), "docs_s": float(m[3]),
                                  "mb_s_wall": float(m[4])}
        elif part == "quality" and (m := re.match(
                r"^\s+(\S.*?)\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)%\s+([\d.]+)%$", line)):
            out["categories"][m[1]] = {"gold": int(m[2]), "found": int(m[3]),
                                       "missed": int(m[4]), "recall": float(m[5])}
        elif part == "quality" and (m := re.match(
                r"^\s+([A-Z]+)\s+(\d+)\s+(\d+)\s+([\d.]+)%\s+([\d.]+)%$", line)):
            out["kinds"][m[1]] = {"tp": int(m[2]), "fp": int(m[3]),
                                  "precision": float(m[4]), "recall": float(m[5])}
    return out


def run_cargo_bench(runner, exes, name, reps, parse, check):
    if name not in exes:
        raise Broken(f"the `{name}` bench was not built")
    runs = []
    for i in range(reps):
        text = runner.run(f"cargo-bench-{name}-{i}", [exes[name]],
                          cwd=os.path.join(ROOT, "crates"))
        parsed = parse(text)
        missing = check(parsed)
        if missing:
            raise Broken(f"`{name}` printed no {missing} (did its output format change?)")
        runs.append(parsed)
    return runs


def cargo_benches(runner, exes, build_error, mode):
    rows, data, errors = [], {}, []

    def guard(figures, fn):
        if build_error:
            for fig, goal in figures:
                rows.append(broken_row(fig, goal, build_error))
            errors.append(build_error)
            return
        try:
            fn()
        except Broken as e:
            for fig, goal in figures:
                rows.append(broken_row(fig, goal, str(e)))
            errors.append(str(e))

    reps = mode["cargo"]
    rep_text = f"median of {reps} run{'s' if reps > 1 else ''}"

    # policy
    def policy():
        runs = run_cargo_bench(runner, exes, "decide", reps, parse_policy_keys,
                               lambda p: None if "decide, mixed actions (allow/deny/approval)" in p
                               else "`decide, mixed actions` line")
        data["policy"] = runs
        mixed = "decide, mixed actions (allow/deny/approval)"
        refund = "decide, refund (all 5 refund rules evaluated)"
        p50, p99 = med([r[mixed]["p50"] for r in runs]), med([r[mixed]["p99"] for r in runs])
        r50 = med([r[refund]["p50"] for r in runs if refund in r])
        r99 = med([r[refund]["p99"] for r in runs if refund in r])
        auth = "authorize = verify pair (cache hit) + decide"
        a99 = med([r[auth]["p99"] for r in runs if auth in r])
        met = p99 <= 10
        rows.append(row("policy decision, mixed actions", f"p50 {us(p50)} / p99 {us(p99)}",
                        f"refund, 5 rules: p50 {us(r50)} / p99 {us(r99)}; with key check "
                        f"(claims cache): p99 {us(a99)}",
                        f"{rep_text} × 200,000 decisions", "p99 ≤ 10 µs",
                        MET if met else NOT_MET,
                        "" if met else "the rule evaluation itself (no IO on this path)",
                        p50_us=p50, p99_us=p99))
    guard([("policy decision, mixed actions", "p99 ≤ 10 µs")], policy)

    # keys
    def keys():
        runs = run_cargo_bench(runner, exes, "verify", reps, parse_policy_keys,
                               lambda p: None if len(p) >= 2 else "p50/p99 lines")
        data["keys"] = runs
        nc, hit = "verify_pair, no cache (2 signatures)", "verify_pair, verified-claims cache hit"
        rows.append(row("key verification, base + task key pair",
                        f"cache hit: p50 {us(med([r[hit]['p50'] for r in runs]))} / "
                        f"p99 {us(med([r[hit]['p99'] for r in runs]))}",
                        f"no cache (2 Ed25519 signatures): p50 "
                        f"{us(med([r[nc]['p50'] for r in runs]))} / p99 "
                        f"{us(med([r[nc]['p99'] for r in runs]))}",
                        f"{rep_text} × 50,000 / 2,000 verifications", "no goal stated", NO_GOAL,
                        "", cache_hit_p50_us=med([r[hit]["p50"] for r in runs]),
                        no_cache_p50_us=med([r[nc]["p50"] for r in runs])))
    guard([("key verification, base + task key pair", "no goal stated")], keys)

    # audit
    def audit():
        runs = run_cargo_bench(runner, exes, "append", reps, parse_audit,
                               lambda p: None if 1000 in p["batch"] and "seal" in p
                               and "single_p50" in p else "append_batch/seal/single lines")
        data["audit"] = runs
        b = {k: med([r["batch"].get(k) for r in runs]) for k in (100, 1000, 5000)}
        seal = med([r["seal"] for r in runs])
        s50, s99 = med([r["single_p50"] for r in runs]), med([r["single_p99"] for r in runs])
        met = b[1000] >= 20000
        per_entry = 1e6 / b[1000]
        seal_us = 1e6 / seal
        bound = "" if met else (
            f"storage per entry: {per_entry:.0f} µs an entry in batches of 1,000, of which "
            f"sealing (canonical JSON + SHA-256) is {seal_us:.1f} µs; the rest is the SQLite "
            f"insert and tree; one fsync per batch (a lone durable append: p50 {us(s50)})")
        rows.append(row("audit append, durable, batches of 1,000",
                        f"{b[1000]:,.0f} entries/s",
                        f"batches of 100: {b[100]:,.0f}/s, of 5,000: {b[5000]:,.0f}/s; one "
                        f"entry per fsync: p50 {us(s50)} / p99 {us(s99)}",
                        f"{rep_text} × 50,000 entries", "≥ 20,000 entries/s durable, in batches",
                        MET if met else NOT_MET, bound, entries_s=b[1000], batch_100=b[100],
                        batch_5000=b[5000], single_p50_us=s50, single_p99_us=s99))
    guard([("audit append, durable, batches of 1,000", "≥ 20,000 entries/s durable, in batches")],
          audit)

    # membrane in process
    def membrane_inproc():
        runs = run_cargo_bench(runner, exes, "round_trip", reps, parse_membrane,
                               lambda p: None if all(
                                   "POST /v1/kv/get" in p.get(k, {}) and "audit append" in p[k]
                                   for k in ("disk", "process")) else "p50/p99 lines")
        data["membrane"] = runs
        for key, label in (("disk", "audit fsynced per entry"),
                           ("process", "durability=process (no fsync)")):
            p50 = med([r[key]["POST /v1/kv/get"]["p50"] for r in runs])
            p99 = med([r[key]["POST /v1/kv/get"]["p99"] for r in runs])
            a50 = med([r[key]["audit append"]["p50"] for r in runs])
            vd = med([r[key]["verify + decide"]["p50"] for r in runs])
            met = p50 <= 100 and p99 <= 500
            bound = "" if met else (
                f"the audit append: p50 {us(a50)} alone "
                f"({'fsync' if key == 'disk' else 'no fsync'}); keys + policy p50 {us(vd)}; "
                f"the rest is HTTP over the socket, the SQLite read and the tokio hand-offs")
            rows.append(row(f"membrane round trip in process, {label}",
                            f"p50 {us(p50)} / p99 {us(p99)}",
                            "POST /v1/kv/get over the Unix socket, Rust client "
                            "(cargo bench -p silo-membrane)",
                            f"{rep_text} × 3,000 calls", "p50 ≤ 100 µs, p99 ≤ 500 µs",
                            MET if met else NOT_MET, bound, p50_us=p50, p99_us=p99,
                            audit_append_p50_us=a50))
    guard([("membrane round trip in process, audit fsynced per entry",
            "p50 ≤ 100 µs, p99 ≤ 500 µs"),
           ("membrane round trip in process, durability=process (no fsync)",
            "p50 ≤ 100 µs, p99 ≤ 500 µs")], membrane_inproc)

    # PII
    def pii():
        runs = run_cargo_bench(runner, exes, "throughput", mode["pii"], parse_pii,
                               lambda p: None if p["kinds"] and p["categories"] and
                               "scan, short docs" in p["speed"] else "throughput/quality lines")
        data["pii"] = runs
        sp = lambda k: med([r["speed"][k]["mb_s_cpu"] for r in runs if k in r["speed"]])
        short, dense = sp("scan, short docs"), sp("scan, long docs (dense: PII every ~80 B)")
        clean = sp("scan, clean prose (no PII), 2 MB")
        tok = sp("tokenize_text, short docs, in-memory vault")
        tok_disk = sp("tokenize_text, short docs, on-disk vault")
        reps_pii = f"median of {mode['pii']} run{'s' if mode['pii'] > 1 else ''}"
        rows.append(row("PII scan throughput (one core)",
                        f"{short:.1f} MB/s short docs, {dense:.1f} MB/s long dense docs",
                        f"clean prose {clean:.0f} MB/s; tokenise (scan + vault): "
                        f"{tok:.1f} MB/s in memory, {tok_disk:.1f} MB/s on disk (short docs)",
                        f"{reps_pii}, each ≥ 1 CPU-s", "no goal stated", NO_GOAL, "",
                        scan_short_mb_s=short, scan_long_dense_mb_s=dense,
                        tokenize_short_mb_s=tok))
        q = runs[0]  # fixed seed: the quality figures are the same in every run
        tp = sum(k["tp"] for k in q["kinds"].values())
        fp = sum(k["fp"] for k in q["kinds"].values())
        gold = sum(c["gold"] for c in q["categories"].values())
        found = sum(c["found"] for c in q["categories"].values())
        prec, rec = 100 * tp / max(1, tp + fp), 100 * found / max(1, gold)
        worst_r = min(q["kinds"].items(), key=lambda kv: kv[1]["recall"])
        worst_p = min(q["kinds"].items(), key=lambda kv: kv[1]["precision"])
        worst_c = min(q["categories"].items(), key=lambda kv: kv[1]["recall"])
        rows.append(row("PII detection quality, all kinds",
                        f"precision {prec:.1f}%, recall {rec:.1f}%",
                        f"lowest recall {worst_r[0]} {worst_r[1]['recall']:.1f}% ("
                        f"{worst_c[0]}: {worst_c[1]['recall']:.1f}%); lowest precision "
                        f"{worst_p[0]} {worst_p[1]['precision']:.1f}%",
                        f"{gold:,} labelled spans, fixed seed", "no goal stated", NO_GOAL, "",
                        precision=prec, recall=rec))
    guard([("PII scan throughput (one core)", "no goal stated"),
           ("PII detection quality, all kinds", "no goal stated")], pii)
    return rows, data, errors


# ---------------------------------------------------------------- 5. router

def router(runner, silo, mode, agents):
    reps = []
    with tempfile.TemporaryDirectory(prefix="silo-bench-router-") as d:
        for i in range(mode["router"]):
            path = os.path.join(d, f"{i}.json")
            runner.run(f"router-throughput-{i}",
                       ["bash", os.path.join(HERE, "router-throughput.sh"), str(mode["router_n"]),
                        str(WORKERS), str(mode["router_split"])],
                       env={"SILO": silo, "THROUGHPUT_JSON": path, "AGENTS": " ".join(agents)})
            with open(path) as f:
                reps.append(json.load(f))
    cores = reps[0]["cores"]
    n = mode["router_n"]
    rows, summary = [], {}
    for agent in agents:
        rr = [r["agents"][agent]["router"] for r in reps]
        tps = med([r["tps"] for r in rr])
        cpu = med([r["cpu_ms"] for r in rr])
        busy = med([r["machine_busy"] for r in rr])
        failed = sum(r["failed"] for r in rr)
        split = {p: med([r["agents"][agent]["split_ms"][p] for r in reps])
                 for p in reps[0]["agents"][agent]["split_ms"]}
        summary[agent] = {"tps": tps, "cpu_ms": cpu, "machine_busy": busy, "split_ms": split,
                          "failed": failed,
                          "daemon_idle": {k: med([r["daemon_memory_idle"][k] for r in rr])
                                          for k in ("rss", "pss", "uss")},
                          "daemon_after": {k: med([r["daemon_memory_after"][k] for r in rr])
                                           for k in ("rss", "pss", "uss")}}
        met = tps >= 300
        ceiling = cores * 1000 / cpu
        largest = max((p for p in split if p not in ("total", "process")), key=split.get)
        if met:
            bound = ""
        elif tps * cpu / (cores * 1000) > 0.8 or busy > 0.9:
            bound = (f"CPU: {cpu:.1f} ms of CPU per task (daemon, supervisors, cells, agent) "
                     f"caps {cores} cores at {ceiling:.0f} tasks/s; 300/s needs ≤ "
                     f"{cores * 1000 / 300:.1f} ms; largest phase of a turn: `{largest}` "
                     f"{split[largest]:.1f} of {split['total']:.1f} ms")
        else:
            bound = (f"turn latency at {busy:.0%} machine CPU: {WORKERS} workers × 1 turn of "
                     f"{split['total']:.1f} ms; CPU ceiling {ceiling:.0f} tasks/s "
                     f"({cpu:.1f} ms CPU per task); largest phase `{largest}`")
        label = AGENT_LABEL.get(agent, agent)
        rows.append(row(f"router throughput, no-op {label} agent", f"{tps:.1f} tasks/s",
                        f"{cpu:.1f} ms CPU per task; one turn {split['total']:.1f} ms "
                        f"(`silo run` process {split['process']:.1f} ms)"
                        + (f"; {failed} tasks not completed" if failed else ""),
                        f"median of {len(reps)} × {n} tasks, {WORKERS} workers",
                        "≥ 300 tasks/s", MET if met else NOT_MET, bound,
                        tasks_s=tps, cpu_ms_per_task=cpu))
        if failed:
            raise Broken(f"{failed} router tasks of noop-{agent} did not complete")
    return rows, {"reps": reps, "summary": summary}


def scale_out(runner, silo, mode, agents):
    """bench/scale-out.sh once: tasks/s with 1, 2 and 3 cell-host processes on PostgreSQL."""
    quick = ["--quick"] if mode is MODES["quick"] else []
    with tempfile.TemporaryDirectory(prefix="silo-bench-scale-") as d:
        path = os.path.join(d, "scale.json")
        runner.run("scale-out", ["bash", os.path.join(HERE, "scale-out.sh"), *quick],
                   env={"SILO": silo, "SCALE_JSON": path, "AGENTS": " ".join(agents)})
        with open(path) as f:
            data = json.load(f)
    rows = []
    for agent, a in data["agents"].items():
        rr = a["rows"]
        failed = sum(r["failed"] for r in rr)
        if failed:
            raise Broken(f"{failed} scale-out tasks of noop-{agent} did not complete")
        base = rr[0]["tps"]
        per = "; ".join(
            f"{r['hosts']} host{'s' if r['hosts'] > 1 else ''} {r['tps']:.1f}/s "
            f"({r['tps'] / base:.2f}x, {sum(r['cpu_ms'].values()):.0f} ms CPU/task, "
            f"PostgreSQL {r['cpu_ms']['postgres']:.0f})" for r in rr)
        label = AGENT_LABEL.get(agent, agent)
        last = rr[-1]
        rows.append(row(f"router scale-out on PostgreSQL, no-op {label} agent",
                        f"{last['tps']:.1f} tasks/s with {last['hosts']} cell hosts", per,
                        f"{data['n']} tasks per configuration, "
                        f"{data['workers_per_host']} workers per host", "no goal stated",
                        NO_GOAL, a["bound"], tasks_s=last["tps"]))
    return rows, data


# ---------------------------------------------------------------- 5c. load and soak

def soak(runner, silo):
    """bench/soak.sh --quick once (1,000 mixed tasks, then the flood phase; the 10,000-task
    run takes ~10 minutes and is run by hand: docs/BENCHMARKS.md)."""
    with tempfile.TemporaryDirectory(prefix="silo-bench-soak-") as d:
        path = os.path.join(d, "soak.json")
        runner.run("soak", ["bash", os.path.join(HERE, "soak.sh"), "--quick", "--json", path],
                   env={"SILO": silo})
        with open(path) as f:
            data = json.load(f)
    p1, fl = data["phase1"], data["flood"]
    lat = p1["latency_all_ms"]
    leaks = [k for k, (verdict, _) in p1["verdicts"].items() if verdict == "GROWING"]
    ok = not leaks and not (p1["not_final"] or p1["missing"] or p1["unexpected"]
                            or p1["final_events_not_1"] or p1["stuck"])
    kinds = "; ".join(f"{k} p99 {v['p99']:.0f} ms" for k, v in p1["latency_ms"].items())
    states = ", ".join(f"{k} {v}" for k, v in sorted(p1["states"].items()))
    rss = p1["verdicts"]["rss"][1]
    rows = [row("soak: mixed agents through `silo serve`",
                f"{data['n']} tasks at {p1['tasks_s']:.1f} tasks/s; p50 {lat['p50']:.0f} / "
                f"p99 {lat['p99']:.0f} ms submit→final",
                f"{kinds}; states: {states}; RSS: {rss}; leaks: {', '.join(leaks) or 'none'}",
                f"1 run × {data['n']} tasks, {data['workers']} workers",
                "every task final exactly once; RSS, fds, cgroups, mounts flat",
                MET if ok else NOT_MET,
                "" if ok else f"growing: {', '.join(leaks)}; see raw/soak.txt",
                tasks_s=p1["tasks_s"], p99_ms=lat["p99"]),
            row("soak: membrane flood from one cell, other cells' p99",
                f"{fl['ratio_p99']:.2f}× (p99 {fl['alone']['p99']:.0f} → "
                f"{fl['flooded']['p99']:.0f} ms)",
                f"alone again: p99 {fl['alone_again']['p99']:.0f} ms; daemon "
                f"{fl['cores_flooded']['daemon']:.2f} cores flooded vs "
                f"{fl['cores_alone_again']['daemon']:.2f} alone, the flooding cell "
                f"{fl['cores_flooded']['flood']:.2f}",
                f"{fl['k']} tasks per run, window {fl['window']}", "≤ 2×",
                MET if fl["met"] else NOT_MET,
                "" if fl["met"] else
                f"CPU: the machine was {fl['cores_flooded']['machine']:.2f} of "
                f"{data['cores']} cores busy during the flooded run (other processes "
                f"{max(0.0, fl['cores_flooded']['machine'] - fl['cores_flooded']['ours']):.2f})"
                f"; the second run alone moved by "
                f"{fl['alone_again']['p99'] / fl['alone']['p99']:.2f}× (noise)",
                ratio=fl["ratio_p99"])]
    return rows, data


# ---------------------------------------------------------------- 6. memory

def memory_rows(silo, mode, router_summary):
    k = mode["cells"]
    m = memory.measure(silo, k=k, bwrap_base=BWRAP)
    rows = []
    bw = m.get("bwrap_sleep", {})
    for kind, label in (("sleep", "`/bin/sleep`"), ("python", "Python (`time.sleep`)")):
        v = m["kinds"][kind]
        compare = (f"PSS {mib(v['pss'])}, RSS {mib(v['rss'])}; cgroup charge {mib(v['cgroup'])}"
                   f"; USS split: supervisor {mib(v['supervisor_uss'])}, init "
                   f"{mib(v['init_uss'])}, agent {mib(v['agent_uss'])}")
        if kind == "sleep" and bw:
            compare += f"; bwrap: USS {mib(bw['uss'])}, PSS {mib(bw['pss'])}"
        rows.append(row(f"memory per idle cell, {label} agent", f"USS {mib(v['uss'])}",
                        compare, f"median of {k} cells alive at once", "no goal stated",
                        NO_GOAL, "", uss=v["uss"], pss=v["pss"], rss=v["rss"],
                        cgroup=v["cgroup"]))
    if router_summary:
        agent = "c" if "c" in router_summary else next(iter(router_summary))
        s = router_summary[agent]
        tasks = mode["router_n"] + 1
        growth = (s["daemon_after"]["rss"] - s["daemon_idle"]["rss"]) / tasks / 1024
        rows.append(row(f"memory of `silo serve` (daemon), idle → after {tasks} tasks",
                        f"RSS {mib(s['daemon_idle']['rss'])} → {mib(s['daemon_after']['rss'])}"
                        f" ({growth:+.0f} KiB a task)",
                        f"PSS {mib(s['daemon_idle']['pss'])} → {mib(s['daemon_after']['pss'])};"
                        f" USS {mib(s['daemon_idle']['uss'])} → {mib(s['daemon_after']['uss'])}"
                        f" (noop-{agent} run, {WORKERS} workers)",
                        f"median of {mode['router']} daemon{'s' if mode['router'] > 1 else ''}",
                        "no goal stated", NO_GOAL, "",
                        idle=s["daemon_idle"], after=s["daemon_after"]))
    return rows, m


# ---------------------------------------------------------------- output

def md_escape(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def markdown(result):
    m = result["machine"]
    lines = [
        f"# silo benchmarks — {result['mode']} run, {result['date']}",
        "",
        f"- machine: {machine_line(m)}",
        f"- silo: commit {m['commit']} ({m['working_tree']}), release build",
        f"- other load: {result['load']['start']:.2f} load average and "
        f"{result['load']['busy_start']:.0%} CPU busy just before the benchmarks, "
        f"{result['load']['busy_end']:.0%} just after; took {result['took_s'] / 60:.1f} min "
        f"(+ {result['build']['benches_s'] + result['build']['silo_s']:.0f} s build)",
        "- other processes' CPU while benchmarking, in cores: "
        + ", ".join(f"{k} {v:.2f}" for k, v in result["other_cores"].items())
        + "; kernel threads' (write-back, namespace clean-up): "
        + ", ".join(f"{k} {v:.2f}" for k, v in result["kernel_thread_cores"].items()),
        "",
        "| figure | silo | compared with / detail | runs | goal | status | what bounds it |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append("| " + " | ".join(md_escape(r[k]) for k in
                                        ("figure", "silo", "compare", "runs", "goal", "status",
                                         "bound")) + " |")
    split = result.get("router", {}).get("summary")
    if split:
        agents = list(split)
        phases = list(next(iter(split.values()))["split_ms"])
        lines += ["", f"One router turn, phase medians (ms) from `silo --json run` "
                      f"({result['params']['router_split']} sequential runs × "
                      f"{result['params']['router']}):", "",
                  "| phase | " + " | ".join(f"noop-{a}" for a in agents) + " |",
                  "|---|" + "---:|" * len(agents)]
        for p in phases:
            name = "whole `silo run` process" if p == "process" else p
            lines.append(f"| {name} | " + " | ".join(f"{split[a]['split_ms'][p]:.1f}"
                                                   for a in agents) + " |")
    disturbed = [k for k, v in result["other_cores"].items() if v > 0.25]
    if disturbed:
        lines += ["", f"**Disturbed:** other work used more than a quarter of a core during "
                      f"{', '.join(disturbed)}; treat those figures with care and re-run on a "
                      f"quiet machine."]
    if result["errors"]:
        lines += ["", "Not measured:", ""] + [f"- {e}" for e in result["errors"]]
    lines += ["", "Method, goals and how to read this: docs/BENCHMARKS.md. Raw output: "
                  "bench/results/raw/."]
    return "\n".join(lines) + "\n"


def clean_json(x):
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return None
    if isinstance(x, dict):
        return {str(k): clean_json(v) for k, v in x.items()}
    if isinstance(x, list):
        return [clean_json(v) for v in x]
    return x


# ---------------------------------------------------------------- main

def main():
    args = sys.argv[1:]
    mode_name, out_dir, wait_s = "full", os.path.join(HERE, "results"), 60
    while args:
        a = args.pop(0)
        if a == "--quick":
            mode_name = "quick"
        elif a == "--wait-idle" and args:
            wait_s = int(args.pop(0))
        elif a == "--out" and args:
            out_dir = os.path.abspath(args.pop(0))
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            print(f"unknown argument `{a}`; usage: bench/all.sh [--quick] [--out DIR] "
                  f"[--wait-idle SECONDS]",
                  file=sys.stderr)
            return 2
    mode = MODES[mode_name]
    os.makedirs(out_dir, exist_ok=True)
    runner = Runner(out_dir)
    result = {"mode": mode_name, "params": mode,
              "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
              "machine": machine(), "rows": [], "errors": [], "sections_s": {},
              "other_cores": {}, "kernel_thread_cores": {}}
    log(f"{mode_name} run on {machine_line(result['machine'])}")

    try:
        silo, exes, bench_build_error, build_t = build(runner)
    except Broken as e:
        print(f"cannot build silo: {e}", file=sys.stderr)
        return 1
    result["build"] = build_t
    # what else the machine is doing, measured after the build
    busy, quiet = wait_idle(wait_s)
    if not quiet:
        log(f"still {busy:.0%} busy after {wait_s} s: benchmarking anyway, figures may be "
            f"disturbed (see 'other work' in the output)")
    result["load"] = {"start": os.getloadavg()[0], "busy_start": busy}
    start = time.monotonic()
    agents = ["py", "c"] if shutil.which("gcc") else ["py"]
    if "c" not in agents:
        result["errors"].append("gcc not found: the C no-op agent was not measured")
    account = CpuAccount()
    result["cpu_accounting"] = account.method()

    def section(name, figures, fn):
        log(name)
        t = time.monotonic()
        busy0, own0, k0 = account.snapshot()
        try:
            rows, data = fn()
            result["rows"] += rows
            result[name] = data
        except Broken as e:
            result["errors"].append(f"{name}: {e}")
            result["rows"] += [broken_row(f, g, str(e)) for f, g in figures]
        except Exception as e:  # a bug in the harness itself: say so, keep going
            traceback.print_exc()
            result["errors"].append(f"{name}: harness error {e!r}")
            result["rows"] += [broken_row(f, g, f"harness error {e!r}") for f, g in figures]
        wall = time.monotonic() - t
        busy1, own1, k1 = account.snapshot()
        result["sections_s"][name] = round(wall, 1)
        # CPU of other processes and of kernel threads during the section, in cores
        if wall >= 1.0:  # /proc/stat counts in ticks: shorter parts say nothing
            kt = CpuAccount.kthread_delta(k0, k1)
            result["other_cores"][name] = round(
                max(0.0, (busy1 - busy0) - (own1 - own0) - kt) / wall, 2)
            result["kernel_thread_cores"][name] = round(kt / wall, 2)

    def benchmarks():
        section("cell_startup",
                [("cell spawn→exit, `/bin/true`", "ratio ≤ 1.00 (silo ≤ bwrap)"),
                 ("Python hello agent start→exit", "no goal stated")],
                lambda: cell_startup(runner, silo, mode))

        cargo = {}

        def cargo_section():
            rows, data, errors = cargo_benches(runner, exes, bench_build_error, mode)
            result["errors"] += [f"cargo benches: {e}" for e in dict.fromkeys(errors)]
            cargo.update(data)
            return rows, data

        def membrane_section():
            inproc = {}
            if cargo.get("membrane"):
                runs = cargo["membrane"]
                inproc = {"append_p50": med([r["disk"]["audit append"]["p50"] for r in runs]),
                          "nofsync_p50": med([r["process"]["POST /v1/kv/get"]["p50"]
                                              for r in runs])}
            return membrane_in_cell(runner, silo, mode, inproc)

        # the cargo benches first: the in-cell membrane rows quote the in-process append
        section("cargo_benches", [], cargo_section)
        section("membrane_in_cell",
                [("membrane round trip from a cell, audit fsynced per entry (default)",
                  "p50 ≤ 100 µs, p99 ≤ 500 µs"),
                 ("membrane round trip from a cell, audit durability=process (no fsync)",
                  "p50 ≤ 100 µs, p99 ≤ 500 µs")], membrane_section)
        section("router", [(f"router throughput, no-op {AGENT_LABEL[a]} agent", "≥ 300 tasks/s")
                           for a in agents],
                lambda: router(runner, silo, mode, agents))
        if shutil.which("psql") and glob.glob("/usr/lib/postgresql/*/bin/initdb"):
            section("scale_out",
                    [(f"router scale-out on PostgreSQL, no-op {AGENT_LABEL[a]} agent",
                      "no goal stated") for a in agents],
                    lambda: scale_out(runner, silo, mode, agents))
        else:
            result["errors"].append("scale-out: the `postgresql` package is not installed")
        section("soak", [("soak: mixed agents through `silo serve`",
                          "every task final exactly once; RSS, fds, cgroups, mounts flat"),
                         ("soak: membrane flood from one cell, other cells' p99", "≤ 2×")],
                lambda: soak(runner, silo))
        section("memory", [("memory per idle cell", "no goal stated")],
                lambda: memory_rows(silo, mode, result.get("router", {}).get("summary")))

    try:
        benchmarks()
    finally:
        account.close()

    # table order: the order
    order = ["cell spawn", "Python hello", "membrane round trip from a cell",
             "membrane round trip in process", "policy", "key", "audit", "PII",
             "router throughput", "router scale-out", "soak", "memory"]
    rank = lambda r: next((i for i, p in enumerate(order) if r["figure"].startswith(p)), 99)
    result["rows"].sort(key=rank)
    result["took_s"] = time.monotonic() - start
    result["load"]["end"] = os.getloadavg()[0]
    result["load"]["busy_end"] = cpu_busy_sample(2.0)
    md = markdown(result)
    with open(os.path.join(out_dir, "latest.md"), "w") as f:
        f.write(md)
    with open(os.path.join(out_dir, "latest.json"), "w") as f:
        json.dump(clean_json(result), f, indent=1, ensure_ascii=False)
    print(md)
    log(f"wrote {out_dir}/latest.md and latest.json in {result['took_s'] / 60:.1f} min "
        f"(+ build {build_t['silo_s'] + build_t['benches_s']:.0f} s)")
    broken = any(r["status"] == BROKEN for r in result["rows"]) or any(
        not e.startswith("gcc") for e in result["errors"])
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
