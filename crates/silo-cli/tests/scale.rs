//! Scale-out on PostgreSQL (issue 10): two routers and three cell hosts, each a separate
//! `silo serve` process with its own data and run directories (as if on five machines),
//! share one database. 1,000 tasks go in through both routers' APIs; one cell host is
//! killed with SIGKILL midway. Every task must complete exactly once, every refund be paid
//! exactly once, every task key the routers minted be revoked, the one audit chain
//! verify — and no cell host ever hold a signing key (routers sign their turns' keys).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use silo_postgres::postgres::{Client, NoTls};

const TASKS: usize = 1000;
const AMOUNT_CENTS: i64 = 125;

/// A `silo serve` process, killed when dropped.
struct Proc {
    child: Child,
    ready: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn silo(url: &str, data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_silo"));
    cmd.env("SILO_DATABASE_URL", url)
        .env_remove("SILO_CONFIG")
        .arg("--data-dir")
        .arg(data);
    cmd
}

fn serve(name: &'static str, url: &str, root: &Path, args: &[&str]) -> Proc {
    let data = root.join(name);
    let mut child = silo(url, &data)
        .args(["serve", "--agents"])
        .arg(root.join("agents"))
        .args(args)
        .env("SILO_RUN_DIR", root.join(format!("run-{name}")))
        .current_dir(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::File::create(root.join(format!("{name}.log"))).unwrap(),
        ))
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.starts_with("silo serve:"),
        "{name} did not start: {line:?}\n{}",
        std::fs::read_to_string(root.join(format!("{name}.log"))).unwrap_or_default()
    );
    let ready = line.trim().rsplit("http://").next().unwrap().to_string();
    Proc { child, ready }
}

fn count(db: &mut Client, sql: &str) -> i64 {
    db.query_one(sql, &[]).unwrap().get(0)
}

fn write_agent(root: &Path) {
    let dir = root.join("agents").join("payer");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("agent.yaml"),
        "name: payer\nversion: 1.0.0\nentry: [python3, main.py]\n\
         limits: { timeout: 60s, memory: 128M, pids: 16 }\n\
         capabilities:\n  refund: { max_cents: 500, currency: USD }\n",
    )
    .unwrap();
    // A refund whose idempotency key comes from the task (so a turn run again after its
    // host died replays instead of paying twice), then done.
    std::fs::write(
        dir.join("main.py"),
        format!(
            "import silo\n\
             n = silo.task()['input']['n']\n\
             silo.refund({AMOUNT_CENTS}, 'scale test', idempotency_key=f'scale-{{n}}')\n\
             silo.complete('done', f'paid {{n}}')\n"
        ),
    )
    .unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn two_routers_and_three_cell_hosts_finish_a_thousand_tasks_once_with_a_host_killed() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root (cells)");
        return;
    }
    let server = silo_postgres::Throwaway::start(false).unwrap();
    let url = server.fresh_database().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_agent(root);
    // The routers' signing keys go to the router hosts only, the vault's master key to
    // every host (docs/SCALING.md: what each host needs): cell hosts get their turns' keys
    // signed by a router, through the database.
    let keys = silo(&url, &root.join("r1"))
        .args(["keys", "init"])
        .output()
        .unwrap();
    assert!(keys.status.success(), "{}", crate::text(&keys));
    let r1 = serve(
        "r1",
        &url,
        root,
        &[
            "--role",
            "router",
            "--listen",
            "127.0.0.1:0",
            "--no-console",
        ],
    );
    copy_dir(&root.join("r1").join("keys"), &root.join("r2").join("keys"));
    for host in ["r2", "c1", "c2", "c3"] {
        copy_dir(
            &root.join("r1").join("vault"),
            &root.join(host).join("vault"),
        );
    }
    let r2 = serve(
        "r2",
        &url,
        root,
        &[
            "--role",
            "router",
            "--listen",
            "127.0.0.1:0",
            "--no-console",
        ],
    );
    let mut hosts: Vec<Proc> = ["c1", "c2", "c3"]
        .into_iter()
        .map(|h| serve(h, &url, root, &["--role", "cells", "--workers", "2"]))
        .collect();

    let started = Instant::now();
    // Submitted from a thread of its own, half through each router, while the hosts work.
    let routers = [r1.ready.clone(), r2.ready.clone()];
    let submitter = std::thread::spawn(move || {
        let customers = ["cus_001", "cus_002", "cus_003"];
        for n in 0..TASKS {
            let body = format!(
                r#"{{"entry":"payer","customer":"{}","case":"case_{n}","input":{{"n":{n}}}}}"#,
                customers[n % 3]
            );
            let (status, created) = crate::http(&routers[n % 2], "POST", "/v1/tasks", &body);
            assert_eq!(
                status,
                201,
                "router {} refused task {n}: {created}",
                n % 2 + 1
            );
        }
        started.elapsed()
    });

    let mut db = Client::connect(&url, NoTls).unwrap();
    let completed = |db: &mut Client| {
        count(
            db,
            "SELECT COUNT(*) FROM router_tasks WHERE state = 'completed'",
        ) as usize
    };
    // Kill a cell host once about a third of the work is done: its cells die with it, its
    // database session ends, and the other hosts take its turns over.
    let deadline = Instant::now() + Duration::from_secs(900);
    while completed(&mut db) < TASKS / 3 {
        assert!(Instant::now() < deadline, "stalled before the kill");
        std::thread::sleep(Duration::from_millis(200));
    }
    // ... at a moment it holds a turn (its claims name its pid).
    let pid = hosts[1].child.id();
    while count(
        &mut db,
        &format!(
            "SELECT COUNT(*) FROM router_jobs WHERE lease_until > 0 AND holder LIKE '%:{pid}:%'"
        ),
    ) == 0
    {
        assert!(Instant::now() < deadline, "host c2 never held a turn");
        std::thread::sleep(Duration::from_millis(20));
    }
    let victim = hosts.remove(1);
    let submitted_then = count(&mut db, "SELECT COUNT(*) FROM router_tasks");
    let leased = count(
        &mut db,
        "SELECT COUNT(*) FROM router_jobs WHERE lease_until > 0",
    );
    drop(victim); // SIGKILL
    let killed_at = started.elapsed();
    // What the dead host still held (it cannot change that any more): its turn may have
    // ended between the check above and the kill.
    let held_at_kill = count(
        &mut db,
        &format!(
            "SELECT COUNT(*) FROM router_jobs WHERE lease_until > 0 AND holder LIKE '%:{pid}:%'"
        ),
    );
    let submitted = submitter.join().unwrap();
    while completed(&mut db) < TASKS {
        let states: Vec<(String, i64)> = db
            .query(
                "SELECT state, COUNT(*) FROM router_tasks GROUP BY state",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        assert!(
            Instant::now() < deadline,
            "not every task completed: {states:?}; logs in {}",
            root.display()
        );
        assert!(
            states
                .iter()
                .all(|(s, _)| s != "failed" && s != "aborted" && s != "timed_out"),
            "a task ended badly: {states:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let elapsed = started.elapsed();
    eprintln!(
        "scale: {TASKS} tasks submitted in {submitted:?}, host c2 killed at {killed_at:?} \
         ({leased} jobs leased, {submitted_then} tasks submitted then), all completed after {elapsed:?} \
         ({:.1} tasks/s)",
        TASKS as f64 / elapsed.as_secs_f64()
    );

    // Exactly once: one task per submission, each completed by exactly one event.
    assert_eq!(
        count(&mut db, "SELECT COUNT(*) FROM router_tasks"),
        TASKS as i64
    );
    let per_task: Vec<i64> = db
        .query(
            "SELECT COUNT(*) FROM router_events WHERE kind = 'completed' GROUP BY task",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(per_task.len(), TASKS, "tasks with a completion event");
    assert!(per_task.iter().all(|&c| c == 1), "a task completed twice");
    // Every refund paid exactly once, one per task, for the right amount.
    let paid: BTreeMap<String, i64> = db
        .query(
            "SELECT idempotency_key, amount_cents FROM membrane_refunds",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let want: BTreeSet<String> = (0..TASKS).map(|n| format!("scale-{n}")).collect();
    assert_eq!(
        count(&mut db, "SELECT COUNT(*) FROM membrane_refunds"),
        TASKS as i64,
        "refund rows"
    );
    assert_eq!(paid.keys().cloned().collect::<BTreeSet<_>>(), want);
    assert!(paid.values().all(|&c| c == AMOUNT_CENTS));
    // The kill mattered: some turns were dispatched again after the host died.
    let redispatched = count(
        &mut db,
        "SELECT COUNT(*) FROM (SELECT task FROM router_events WHERE kind = 'dispatched' \
         GROUP BY task HAVING COUNT(*) > 1) t",
    );
    if held_at_kill > 0 {
        assert!(
            redispatched >= 1,
            "no turn was taken over from the killed host"
        );
    } else {
        eprintln!("scale: the killed host's turn ended just before the kill; nothing to take over");
    }
    // Every task key any host minted was revoked (the killed host's included: the router
    // revokes an abandoned turn's key before dispatching again).
    let minted: Vec<String> = db
        .query(
            "SELECT body FROM router_events WHERE kind = 'dispatched'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| {
            let body: String = r.get(0);
            let event: Value = serde_json::from_str(&body).unwrap();
            event["task_key_jti"].as_str().unwrap().to_string()
        })
        .collect();
    let revoked: BTreeSet<String> = db
        .query("SELECT jti FROM key_revocations", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let live: Vec<&String> = minted.iter().filter(|j| !revoked.contains(*j)).collect();
    assert!(
        live.is_empty(),
        "{} task keys outlived their turn",
        live.len()
    );
    // One audit chain, written by five processes, verifies.
    let verify = silo(&url, &root.join("r1"))
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", crate::text(&verify));
    // No cell host ever held a signing key.
    for host in ["c1", "c2", "c3"] {
        assert!(
            !root.join(host).join("keys").exists(),
            "cell host {host} made a key store"
        );
    }
    drop(hosts);
    drop((r1, r2));
}
