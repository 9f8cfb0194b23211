//! The operator console in a real browser: `silo serve --console` over a copy of the
//! customer-service example, worked by two operators in headless Chromium. The browser is
//! driven by `crates/silo-console/e2e/console.mjs` (playwright-core, Debian's
//! `/usr/bin/chromium`); this test builds the project, creates the operators, starts the
//! daemon, runs the script and fails on its exit status. The script's full-page
//! screenshots stay in `target/console-screenshots/`.
//!
//! Needs root (cells) like `serve.rs`, and Chromium and Node.js (`apt-get install chromium
//! chromium-driver nodejs npm`; `.ci/run` installs them): without them the test fails,
//! unless `SILO_SKIP_BROWSER_TESTS=1` says to skip it. Every wait is bounded: the whole
//! test has five minutes, after which the script (and with it the browser) is killed.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The example project the test copies, relative to the repository root.
const EXAMPLE: &str = "examples/customer-service";
/// The browser harness: package.json, package-lock.json and console.mjs.
const E2E: &str = "crates/silo-console/e2e";
/// Debian's Chromium; playwright-core is pointed at it (it cannot download a browser).
const CHROMIUM: &str = "/usr/bin/chromium";
/// The whole test's time limit; the script's own limit is a minute shorter.
const TOTAL: Duration = Duration::from_secs(300);
const SCRIPT_LIMIT_MS: u64 = 240_000;
/// A history entry for cus_001 that would run script if a page ever rendered it as HTML.
const XSS: &str = r#"<script>window.__siloXss=1</script><img src=x onerror="window.__siloXss=2">"#;
const OPERATORS: [(&str, &str); 2] = [
    ("alice", "correct horse alice"),
    ("bob", "correct horse bob"),
];

#[test]
fn operators_work_tasks_in_the_console_in_a_real_browser() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    if !browser_tools_present() {
        return;
    }
    let deadline = Instant::now() + TOTAL;
    npm_ci(deadline);

    let tmp = tempfile::tempdir().unwrap();
    let project = project(tmp.path());
    let data = tmp.path().join("data");
    add_operators(&project, &data, deadline);
    let serve = serve(&project, &data, tmp.path(), deadline);

    let shots = screenshot_dir();
    let mut script = Command::new("node");
    script
        .arg(repo().join(E2E).join("console.mjs"))
        .current_dir(repo())
        .env("SILO_CONSOLE_URL", format!("http://{}", serve.console))
        .env("SILO_API_URL", format!("http://{}", serve.api))
        .env("SCREENSHOT_DIR", &shots)
        .env("SILO_ALICE_PASSWORD", OPERATORS[0].1)
        .env("SILO_BOB_PASSWORD", OPERATORS[1].1)
        .env("SILO_E2E_TIMEOUT_MS", SCRIPT_LIMIT_MS.to_string());
    let done = run_bounded(script, None, deadline);
    println!("{}", done.stdout);
    if !done.stderr.is_empty() {
        eprintln!("console.mjs stderr:\n{}", done.stderr);
    }
    let context = format!(
        "{done}\nscreenshots: {}\nsilo serve's stderr:\n{}",
        shots.display(),
        serve.stderr()
    );
    drop(serve);
    assert!(
        !done.timed_out,
        "console.mjs was still running after the test's {} s and was killed:\n{context}",
        TOTAL.as_secs()
    );
    assert!(done.success(), "console.mjs reported failures:\n{context}");
}

/// Whether Chromium and Node.js are here. Without them the test fails naming the Debian
/// packages; `SILO_SKIP_BROWSER_TESTS=1` turns that (and the test) into a loud skip.
fn browser_tools_present() -> bool {
    if std::env::var("SILO_SKIP_BROWSER_TESTS").as_deref() == Ok("1") {
        eprintln!(
            "\n*** SKIPPED: the console's browser test (SILO_SKIP_BROWSER_TESTS=1); \
             the operator console was NOT tested in a browser ***\n"
        );
        return false;
    }
    let mut missing = Vec::new();
    if !Path::new(CHROMIUM).exists() {
        missing.push(CHROMIUM.to_string());
    }
    match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => {
            let version = String::from_utf8_lossy(&o.stdout).trim().to_string();
            let major: u32 = version
                .trim_start_matches('v')
                .split('.')
                .next()
                .and_then(|m| m.parse().ok())
                .unwrap_or(0);
            if major < 20 {
                missing.push(format!("Node.js 20 or later (found {version})"));
            }
        }
        _ => missing.push("node".to_string()),
    }
    assert!(
        missing.is_empty(),
        "the console's browser test needs Chromium and Node.js; missing: {}.\n\
         Install them with `apt-get install chromium chromium-driver nodejs npm` (.ci/run does), \
         or set SILO_SKIP_BROWSER_TESTS=1 to skip this test",
        missing.join(", ")
    );
    true
}

/// Installs playwright-core from the lock file when `node_modules` is not there yet.
fn npm_ci(deadline: Instant) {
    let e2e = repo().join(E2E);
    if e2e.join("node_modules").join("playwright-core").exists() {
        return;
    }
    let mut npm = Command::new("npm");
    npm.args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(&e2e)
        .current_dir(repo());
    let done = run_bounded(npm, None, until(deadline, 180));
    assert!(done.success(), "npm ci --prefix {E2E}:\n{done}");
}

/// The repository root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The earlier of `deadline` and `secs` from now.
fn until(deadline: Instant, secs: u64) -> Instant {
    deadline.min(Instant::now() + Duration::from_secs(secs))
}

/// Where the screenshots go: `target/console-screenshots/`, emptied of the last run's.
fn screenshot_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(tmp).join("console-screenshots");
    fs::create_dir_all(&dir).unwrap();
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "png") {
            fs::remove_file(&path).unwrap();
        }
    }
    dir
}

/// A copy of the customer-service example in `root/project` (without its demo data
/// directory), with an XSS payload in cus_001's contact history and an agent that sleeps
/// in its cell, so there is a live cell to kill. World-readable: agents run under uids of
/// their own.
fn project(root: &Path) -> PathBuf {
    let project = root.join("project");
    fs::create_dir(&project).unwrap();
    for entry in fs::read_dir(repo().join(EXAMPLE)).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == "silo-data" {
            continue; // the demo's state; this project starts from its seed
        }
        let copied = Command::new("cp")
            .arg("-r")
            .arg(entry.path())
            .arg(&project)
            .status()
            .unwrap();
        assert!(copied.success(), "cp -r {}", entry.path().display());
    }

    assert!(!XSS.contains('\''), "the payload must fit in an SQL string");
    let mut seed = OpenOptions::new()
        .append(true)
        .open(project.join("seed.sql"))
        .unwrap();
    write!(
        seed,
        "\n-- Added by crates/silo-cli/tests/console.rs: the console must show this as text,\n\
         -- and the cases its tasks work on (a note goes to the task's case).\n\
         INSERT INTO history (customer_id, at, channel, summary) VALUES\n  \
         ('cus_001', 1763300000, 'chat', '{XSS}');\n\
         INSERT INTO cases (id, customer_id, status, subject, updated_at) VALUES\n  \
         ('case-e2e-1', 'cus_001', 'open', 'Broken espresso machine', 1763300000),\n  \
         ('case-e2e-2', 'cus_002', 'open', 'A live cell to kill', 1763300000),\n  \
         ('case-e2e-3', 'cus_001', 'open', 'Dented kettle', 1763300000);\n"
    )
    .unwrap();

    let sleepy = project.join("agents").join("sleepy-agent");
    fs::create_dir(&sleepy).unwrap();
    fs::write(
        sleepy.join("agent.yaml"),
        "# A test agent (crates/silo-cli/tests/console.rs): it takes its task and sleeps, so\n\
         # that a live cell exists for the console's kill button.\n\
         name: sleepy-agent\n\
         version: 0.1.0\n\
         description: Sleeps in its cell until it is killed (tests only).\n\
         entry: [python3, main.py]\n\
         limits:\n  memory: 128M\n  pids: 16\n  cpu: \"1\"\n  timeout: 120s\n  tmpfs: 8M\n\
         capabilities:\n  data.read: { fields: [id, tier] }\n",
    )
    .unwrap();
    fs::write(
        sleepy.join("main.py"),
        "\"\"\"The sleepy agent: takes its task, then sleeps until the console kills its cell.\"\"\"\n\
         \n\
         import time\n\
         \n\
         import silo\n\
         \n\
         silo.task()\n\
         time.sleep(90)\n\
         silo.done(\"slept\")\n",
    )
    .unwrap();

    readable(root);
    project
}

/// Creates the console accounts of `OPERATORS` with `silo operator add`.
fn add_operators(project: &Path, data: &Path, deadline: Instant) {
    for (name, password) in OPERATORS {
        let mut add = silo(project, data);
        add.args(["operator", "add", name, "--password-stdin"]);
        let done = run_bounded(add, Some(password), until(deadline, 30));
        assert!(done.success(), "silo operator add {name}:\n{done}");
    }
}

/// Makes `path` and everything under it world-readable (directories also searchable).
fn readable(path: &Path) {
    let meta = fs::symlink_metadata(path).unwrap();
    if meta.file_type().is_symlink() {
        return;
    }
    let mode = if meta.is_dir() { 0o755 } else { 0o644 };
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    if meta.is_dir() {
        for entry in fs::read_dir(path).unwrap() {
            readable(&entry.unwrap().path());
        }
    }
}

/// `silo` on the test project and data directory, without the caller's environment
/// choosing another project, data directory or upstream.
fn silo(project: &Path, data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_silo"));
    cmd.arg("--config")
        .arg(project.join("silo.yaml"))
        .arg("--data-dir")
        .arg(data)
        .current_dir(project);
    for var in [
        "SILO_CONFIG",
        "SILO_DATA_DIR",
        "SILO_LLM_URL",
        "SILO_LLM_API_KEY",
        "SILO_SMTP_URL",
        "SILO_SMTP_FROM",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// A running `silo serve`: killed and reaped when dropped, whatever way the test ends.
struct Serve {
    child: Child,
    api: String,
    console: String,
    stderr_path: PathBuf,
}

impl Serve {
    /// What the daemon wrote to stderr so far, for failure messages.
    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `silo serve` with the task API and the console on free loopback ports, and
/// waits (at most 60 s) for the two lines that name them.
fn serve(project: &Path, data: &Path, tmp: &Path, deadline: Instant) -> Serve {
    let stderr_path = tmp.join("serve.stderr");
    let mut cmd = silo(project, data);
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--console",
        "127.0.0.1:0",
    ])
    .env("SILO_RUN_DIR", tmp.join("run"))
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(File::create(&stderr_path).unwrap());
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut serve = Serve {
        child,
        api: String::new(),
        console: String::new(),
        stderr_path,
    };
    // A thread reads stdout to its end (so the daemon never blocks on a full pipe) and
    // hands each line over.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let end = until(deadline, 60);
    while serve.api.is_empty() || serve.console.is_empty() {
        let left = end.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(line) => line,
            Err(e) => panic!(
                "silo serve did not announce both addresses ({e:?}); status {:?}; stderr:\n{}",
                serve.child.try_wait(),
                serve.stderr()
            ),
        };
        let addr = || {
            line.rsplit("http://")
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        };
        if line.starts_with("silo serve: task API on http://") {
            serve.api = addr();
        } else if line.starts_with("silo serve: console on http://") {
            serve.console = addr();
        }
    }
    serve
}

/// How a bounded command ended.
struct Finished {
    what: String,
    status: Option<ExitStatus>,
    timed_out: bool,
    stdout: String,
    stderr: String,
}

impl Finished {
    fn success(&self) -> bool {
        !self.timed_out && self.status.is_some_and(|s| s.success())
    }
}

impl fmt::Display for Finished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = if self.timed_out {
            "killed: time limit reached".to_string()
        } else {
            format!("{:?}", self.status)
        };
        write!(
            f,
            "{}: {how}\nstdout:\n{}\nstderr:\n{}",
            self.what, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` (with `stdin` written to it, then closed) until it exits or `end` comes, when
/// it is killed. Its output is read by threads, so a chatty child never blocks; output
/// still held open by a grandchild is given up on five seconds after the child ended.
fn run_bounded(mut cmd: Command, stdin: Option<&str>, end: Instant) -> Finished {
    let what = format!("{cmd:?}");
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting {what}: {e}"));
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).unwrap();
    } // the pipe is closed here: end of input
    let (done_tx, done_rx) = mpsc::channel();
    let stdout = collect(child.stdout.take(), &done_tx);
    let stderr = collect(child.stderr.take(), &done_tx);
    drop(done_tx);

    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break (Some(status), false);
        }
        if Instant::now() >= end {
            let _ = child.kill();
            break (child.wait().ok(), true);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let readers_end = Instant::now() + Duration::from_secs(5);
    for _ in 0..2 {
        let left = readers_end.saturating_duration_since(Instant::now());
        if done_rx.recv_timeout(left).is_err() {
            break;
        }
    }
    let text = |t: &Arc<Mutex<String>>| t.lock().map(|s| s.clone()).unwrap_or_default();
    Finished {
        what,
        status,
        timed_out,
        stdout: text(&stdout),
        stderr: text(&stderr),
    }
}

/// Reads `pipe` to its end on a thread of its own into the returned text, then says so on
/// `done`.
fn collect<R: Read + Send + 'static>(
    pipe: Option<R>,
    done: &mpsc::Sender<()>,
) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    if let Some(mut pipe) = pipe {
        let (text, done) = (Arc::clone(&text), done.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut t) = text.lock() {
                    t.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
            let _ = done.send(());
        });
    }
    text
}

/// The bound itself: a command past its time limit is killed, and output held open by a
/// grandchild it left behind (as the browser is to node) is given up on, so the browser
/// test cannot hang however the script ends.
#[test]
fn a_command_past_its_time_limit_is_killed_and_not_waited_for() {
    let started = Instant::now();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo started; sleep 12 & exec sleep 60"]);
    let done = run_bounded(cmd, None, Instant::now() + Duration::from_secs(1));
    let took = started.elapsed();
    assert!(done.timed_out && !done.success(), "{done}");
    assert_eq!(done.stdout, "started\n", "{done}");
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(10),
        "took {took:?}"
    );
}

/// A plain HTTP client for the console, without a browser: keeps the session cookie,
/// follows no redirect, and reads the CSRF token off each page.
struct Operator {
    http: ureq::Agent,
    base: String,
    cookie: String,
}

/// The value of `name="…" value="…"` on a page.
fn field(page: &str, name: &str) -> String {
    let at = page
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no `{name}` field on the page:\n{page}"));
    let rest = &page[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_string()
}

impl Operator {
    fn login(base: &str, name: &str, password: &str) -> Self {
        let http = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .timeout_global(Some(Duration::from_secs(30)))
                .build(),
        );
        let mut me = Self {
            http,
            base: base.to_string(),
            cookie: String::new(),
        };
        let (_, page, cookies) = me.get("/login");
        me.cookie = cookies;
        let token = field(&page, "csrf");
        let (status, _, cookies) = me.post(
            "/login",
            &[("csrf", &token), ("operator", name), ("password", password)],
        );
        assert_eq!(status, 303, "{name} could not log in");
        me.cookie = cookies;
        me
    }

    fn cookies(resp: &ureq::http::Response<ureq::Body>) -> String {
        resp.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_string))
            .filter(|c| !c.ends_with('='))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn get(&self, path: &str) -> (u16, String, String) {
        let mut resp = self
            .http
            .get(&format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .call()
            .unwrap();
        let cookies = Self::cookies(&resp);
        let body = resp.body_mut().read_to_string().unwrap();
        (resp.status().as_u16(), body, cookies)
    }

    fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        let mut resp = self
            .http
            .post(&format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send_form(form.iter().copied())
            .unwrap();
        let cookies = Self::cookies(&resp);
        let body = resp.body_mut().read_to_string().unwrap();
        (resp.status().as_u16(), body, cookies)
    }
}

/// Shadow review: with every task sampled, the refund agent's recorded "done" and the
/// operator's "failed" differ, and the admin page lists the task as a divergence (and
/// only admins see it). Plain HTTP, no browser: runs wherever cells do.
#[test]
fn a_shadow_divergence_shows_on_the_admin_page() {
    if !crate::is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let deadline = Instant::now() + TOTAL;
    let tmp = tempfile::tempdir().unwrap();
    let project = project(tmp.path());
    let config = project.join("silo.yaml");
    let text = fs::read_to_string(&config).unwrap();
    assert!(text.contains("router:\n  max_redirects: 3\n"));
    fs::write(
        &config,
        text.replace(
            "router:\n  max_redirects: 3\n",
            "router:\n  max_redirects: 3\n  shadow: { one_in: 1 }\n",
        ),
    )
    .unwrap();
    let data = tmp.path().join("data");
    add_operators(&project, &data, deadline);
    let serve = serve(&project, &data, tmp.path(), deadline);
    let api = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build(),
    );
    let mut created = api
        .post(&format!("http://{}/v1/tasks", serve.api))
        .send_json(serde_json::json!({
            "entry": "refund", "customer": "cus_001", "case": "case-e2e-3",
            "input": {"message": "My kettle ord_1001 arrived dented, please refund"},
        }))
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.body_mut().read_json::<serde_json::Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The agent runs, its result is recorded, and the task waits for a person.
    let state = loop {
        let task: serde_json::Value = api
            .get(&format!("http://{}/v1/tasks/{id}", serve.api))
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap();
        let state = task["state"].as_str().unwrap_or("").to_string();
        if state == "waiting_for_human" || Instant::now() > until(deadline, 90) {
            break state;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(state, "waiting_for_human", "{}", serve.stderr());

    let base = format!("http://{}", serve.console);
    let alice = Operator::login(&base, "alice", OPERATORS[0].1);
    let (_, inbox, _) = alice.get("/inbox");
    assert!(
        inbox.contains("shadow"),
        "the inbox does not say why:\n{inbox}"
    );
    let csrf = field(&inbox, "csrf");
    let (status, _, _) = alice.post(&format!("/tasks/{id}/take"), &[("csrf", &csrf)]);
    assert_eq!(status, 303);
    let (status, _, _) = alice.post(
        &format!("/tasks/{id}/act/complete"),
        &[
            ("csrf", &csrf),
            ("summary", "not a refund case after all"),
            ("result", "failed"),
        ],
    );
    assert_eq!(status, 303);
    let (status, admin, _) = alice.get("/admin");
    assert_eq!(status, 200);
    let divergences = &admin[admin.find("data-testid=\"divergences\"").unwrap()..];
    assert!(
        divergences.contains(&format!("data-task=\"{id}\""))
            && divergences.contains("done: refunded 4599 cents")
            && divergences.contains("not a refund case after all"),
        "the divergence is not listed:\n{divergences}"
    );
    // Bob is no admin.
    let bob = Operator::login(&base, "bob", OPERATORS[1].1);
    assert_eq!(bob.get("/admin").0, 403);
    // A page reached through a rebinding name (a foreign Host) is refused, even with a
    // valid session: DNS rebinding cannot turn a web page into an operator.
    let mut resp = alice
        .http
        .get(&format!("{base}/admin"))
        .header("host", "evil.example")
        .header("cookie", &alice.cookie)
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 421);
    assert!(resp
        .body_mut()
        .read_to_string()
        .unwrap()
        .contains("loopback Host"));
    drop(serve);
}
