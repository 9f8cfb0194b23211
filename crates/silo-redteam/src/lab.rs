//! The lab: a throw-away silo installation (data directory with the built-in demo
//! customers, a policy with daily totals and rate limits, a host canary) in which each
//! case runs as its own agent in a real cell, and the host's evidence after each run:
//! the refund ledger, the outbox, the audit log's verification, the canary, and every
//! byte the cell printed, scanned for raw personal data.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use serde_json::Value;
use silo_keys::{new_jti, now_unix, BaseKey, TaskKey, BASE_AUDIENCE, TASK_AUDIENCE};

use crate::attack::{Attack, Expect, HostKey};
use crate::{CaseResult, RedteamError, Verdict};

const PRELUDE: &str = include_str!("../py/prelude.py");

/// The lab's operator policy: a daily refund budget per agent, a refund rate per task, a
/// message rate per customer, USD only.
const POLICY: &str = "# silo redteam lab policy
version: 1
default: allow
rules:
  - name: usd-only
    action: refund
    when:
      - { param: currency, not_in: [USD] }
    effect: deny
    reason: refunds are paid in USD only
  - name: refund-budget-per-agent
    action: refund
    daily_total: { per: agent, max_cents: 60000 }
    effect: deny
    reason: the agent's refunds today would exceed $600
  - name: refunds-per-task
    action: refund
    rate_limit: { per: task, max: 5, window_secs: 60 }
    effect: deny
    reason: at most five refunds a task a minute
  - name: messages-per-customer
    action: [email.send, sms.send]
    rate_limit: { per: customer, max: 500, window_secs: 3600 }
    effect: deny
    reason: too many messages to one customer
";

const TEMPLATES: [(&str, &str); 6] = [
    (
        "refund_confirmation.email",
        "Subject: Your refund for order {{vars.order_id}}\n\nDear {{customer.name}},\n\nWe refunded {{vars.amount}} for order {{vars.order_id}} (reference {{vars.refund_id}}).\n\nThe customer care team\n",
    ),
    (
        "refund_confirmation.sms",
        "Your refund for order {{vars.order_id}}: {{vars.amount}}, reference {{vars.refund_id}}.\n",
    ),
    (
        "payment_reminder.email",
        "Subject: A reminder about your balance\n\nDear {{customer.name}},\n\nYour balance of {{vars.amount}} is due on {{vars.due_date}}.\n",
    ),
    (
        "payment_reminder.sms",
        "Reminder: {{vars.amount}} is due on {{vars.due_date}}.\n",
    ),
    (
        "case_update.email",
        "Subject: About your case {{vars.case_id}}\n\nDear {{customer.name}},\n\n{{vars.update}}\n",
    ),
    (
        "apology.email",
        "Subject: About order {{vars.order_id}}\n\nDear {{customer.name}},\n\nWe are sorry about order {{vars.order_id}}; a manager will decide within one working day.\n",
    ),
];

/// The case of each built-in customer.
fn case_of(customer: &str) -> &'static str {
    match customer {
        "cus_002" => "case_002",
        "cus_003" => "case_003",
        _ => "case_001",
    }
}

/// One customer's personal values, as the business database holds them.
#[derive(Debug, Clone)]
struct Person {
    id: String,
    email: String,
    phone: String,
    /// Values that must never appear in anything a cell printed.
    secrets: Vec<String>,
    /// Digit runs (card numbers, phone numbers) that must not appear either, in any
    /// spacing.
    digits: Vec<String>,
}

/// The lab.
pub struct Lab {
    root: tempfile::TempDir,
    data: PathBuf,
    run: PathBuf,
    silo_exe: PathBuf,
    policy: PathBuf,
    canary_dir: PathBuf,
    canary: String,
    people: Vec<Person>,
    /// The membrane's refund ledger, read before and after every case.
    ledger: silo_membrane::SqliteLedger,
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab")
            .field("root", &self.root.path())
            .finish_non_exhaustive()
    }
}

fn io(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> RedteamError {
    let what = format!("{what} `{}`", path.display());
    move |e| RedteamError::Lab(format!("{what}: {e}"))
}

/// Makes `path` and everything under it readable by the agents' own uids.
fn world_readable(path: &Path) -> Result<(), RedteamError> {
    let meta = fs::symlink_metadata(path).map_err(io("reading", path))?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = if meta.is_dir() { 0o755 } else { 0o644 };
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io("chmod", path))?;
    if meta.is_dir() {
        for entry in fs::read_dir(path).map_err(io("listing", path))? {
            world_readable(&entry.map_err(io("listing", path))?.path())?;
        }
    }
    Ok(())
}

fn digits_only(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// The digits of every number-like run of `text` (digits with the separators phone and
/// card numbers are written with), so `4111 1111 1111 1111` and `(555) 010-2030` are
/// found in any spacing without joining unrelated numbers.
fn number_runs(text: &str) -> Vec<String> {
    let joins = |c: char| {
        c.is_ascii_digit()
            || c.is_whitespace()
            || "+().-/_".contains(c)
            || ('\u{2010}'..='\u{2015}').contains(&c)
            || matches!(c, '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}')
    };
    text.split(|c: char| !joins(c))
        .map(digits_only)
        .filter(|d| d.len() >= 7)
        .collect()
}

/// The files under `dir` (recursively), as paths.
fn files_under(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.insert(path);
        }
    }
    out
}

/// The evidence the host takes before a run, to compare after it.
struct Before {
    refunds: i64,
    outbox: BTreeSet<PathBuf>,
    canary_files: BTreeSet<PathBuf>,
}

impl Lab {
    /// A fresh lab under the system's temporary directory; `silo_exe` is the `silo`
    /// binary (the cell supervisor).
    pub fn new(silo_exe: &Path) -> Result<Self, RedteamError> {
        let root = tempfile::Builder::new()
            .prefix("silo-redteam-")
            .tempdir()
            .map_err(|e| RedteamError::Lab(format!("creating the lab folder: {e}")))?;
        let base = root.path().to_path_buf();
        let data = base.join("data");
        let run = base.join("run");
        for d in [&data, &run, &base.join("agents"), &base.join("out")] {
            fs::create_dir_all(d).map_err(io("creating", d))?;
        }
        let policy = base.join("policy.yaml");
        fs::write(&policy, POLICY).map_err(io("writing", &policy))?;
        // The canary: a world-readable secret on the host, so only the cell's walls keep
        // it from a case (file permissions alone would not prove anything), in a
        // world-writable folder, so only the walls keep a case from writing there.
        let canary_dir = base.join("canary");
        fs::create_dir_all(&canary_dir).map_err(io("creating", &canary_dir))?;
        let canary = format!("CANARY-{}", new_jti().map_err(RedteamError::lab)?);
        let canary_file = canary_dir.join("secret.txt");
        fs::write(&canary_file, &canary).map_err(io("writing", &canary_file))?;
        world_readable(&base)?;
        fs::set_permissions(&canary_dir, fs::Permissions::from_mode(0o777))
            .map_err(io("chmod", &canary_dir))?;
        // The business database with the built-in demo customers, and their values.
        silo_membrane::Intake::open(&data).map_err(RedteamError::lab)?;
        let people = read_people(&data)?;
        let ledger = silo_membrane::SqliteLedger::open(&silo_membrane::Services::db_path(&data))
            .map_err(RedteamError::lab)?;
        Ok(Self {
            root,
            data,
            run,
            silo_exe: silo_exe.to_path_buf(),
            policy,
            canary_dir,
            canary,
            people,
            ledger,
        })
    }

    /// The lab's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    fn host(&self) -> Result<silo_invoke::Host, RedteamError> {
        Ok(silo_invoke::Host {
            data_dir: self.data.clone(),
            run_dir: self.run.clone(),
            silo_exe: self.silo_exe.clone(),
            llm: None,
            audit_durability: silo_audit::Durability::Process,
            smtp: None,
            policy: Some(self.policy.clone()),
            runtime: Some(silo_invoke::shared_runtime().map_err(RedteamError::lab)?),
            warm: true,
            // The lab is a throw-away embedded data directory.
            database: None,
            key_issuer: None,
        })
    }

    fn refund_total(&self) -> Result<i64, RedteamError> {
        use silo_membrane::Ledger;
        let mut total = 0i64;
        for p in &self.people {
            for r in self.ledger.refunds_for(&p.id).map_err(RedteamError::lab)? {
                total = total.saturating_add(r.amount_cents);
            }
        }
        Ok(total)
    }

    fn before(&self) -> Result<Before, RedteamError> {
        Ok(Before {
            refunds: self.refund_total()?,
            outbox: files_under(&self.data.join("outbox")),
            canary_files: files_under(&self.canary_dir),
        })
    }

    /// Writes the case's agent folder; returns it.
    fn agent_folder(&self, a: &Attack, task: &str, cell: &str) -> Result<PathBuf, RedteamError> {
        let dir = self.root.path().join("agents").join(a.id);
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(io("clearing", &dir))?;
        }
        fs::create_dir_all(dir.join("templates")).map_err(io("creating", &dir))?;
        let manifest = format!(
            "name: {id}\nversion: 1.0.0\ndescription: silo redteam case {id}\nentry: [python3, main.py]\nlimits:\n  timeout: 20s\n  memory: 256M\n  pids: 64\n  tmpfs: 16M\n{limits}capabilities:\n{caps}",
            id = a.id,
            limits = a.limits,
            caps = a.caps
        );
        fs::write(dir.join("agent.yaml"), manifest).map_err(io("writing", &dir))?;
        fs::write(
            dir.join("main.py"),
            format!("{PRELUDE}\n# --- the case ---\n{}", a.code),
        )
        .map_err(io("writing", &dir))?;
        for (name, text) in TEMPLATES {
            fs::write(dir.join("templates").join(name), text).map_err(io("writing", &dir))?;
        }
        if !a.keys.is_empty() {
            let keys = self.host_keys(a, task, cell)?;
            fs::write(dir.join("keys.json"), keys.to_string()).map_err(io("writing", &dir))?;
        }
        world_readable(&dir)?;
        Ok(dir)
    }

    /// The keys of `a.keys`, minted (or made) by the host for this task and cell.
    fn host_keys(&self, a: &Attack, task: &str, cell: &str) -> Result<Value, RedteamError> {
        let store = silo_invoke::open_keys(&self.data).map_err(RedteamError::lab)?;
        let minter = store.minter().map_err(RedteamError::lab)?;
        let now = now_unix();
        let customer = a.check_customer;
        let task_key = |customer: &str, case: &str, cell: &str, iat: u64, nbf: u64, exp: u64| {
            Ok::<TaskKey, RedteamError>(TaskKey {
                aud: TASK_AUDIENCE.into(),
                jti: new_jti().map_err(RedteamError::lab)?,
                iat,
                nbf,
                exp,
                task: task.into(),
                agent: a.id.into(),
                customer: customer.into(),
                case: case.into(),
                workflow: None,
                cell: cell.into(),
            })
        };
        let mut out = serde_json::Map::new();
        for k in a.keys {
            let token = match k {
                HostKey::Expired => minter.mint_task(&task_key(
                    customer,
                    case_of(customer),
                    cell,
                    now - 7200,
                    now - 7200,
                    now - 3600,
                )?),
                HostKey::NotYetValid => minter.mint_task(&task_key(
                    customer,
                    case_of(customer),
                    cell,
                    now,
                    now + 1800,
                    now + 3000,
                )?),
                HostKey::OtherCell => minter.mint_task(&task_key(
                    customer,
                    case_of(customer),
                    &silo_cell::new_cell_id(),
                    now,
                    now,
                    now + 600,
                )?),
                HostKey::Revoked => {
                    let claims = task_key(customer, case_of(customer), cell, now, now, now + 600)?;
                    let token = minter.mint_task(&claims).map_err(RedteamError::lab)?;
                    store.revoke(&claims.jti, now).map_err(RedteamError::lab)?;
                    Ok(token)
                }
                HostKey::OtherCustomer => {
                    let other = if customer == "cus_002" {
                        "cus_003"
                    } else {
                        "cus_002"
                    };
                    // Stolen from that customer's task: bound to its cell, not this one.
                    minter.mint_task(&task_key(
                        other,
                        case_of(other),
                        &silo_cell::new_cell_id(),
                        now,
                        now,
                        now + 600,
                    )?)
                }
                HostKey::OtherCase => {
                    minter.mint_task(&task_key(customer, "case_003", cell, now, now, now + 600)?)
                }
                HostKey::OtherAgentBase => minter.mint_base(&BaseKey {
                    aud: BASE_AUDIENCE.into(),
                    jti: new_jti().map_err(RedteamError::lab)?,
                    iat: now,
                    exp: now + 600,
                    agent: "manager-agent".into(),
                    version: "9.9.9".into(),
                    folder_hash: format!("sha256:{}", "ab".repeat(32)),
                    caps: serde_json::from_value(serde_json::json!({
                        "refund": {"max_cents": 10_000_000, "currency": "USD"}
                    }))
                    .map_err(RedteamError::lab)?,
                }),
                HostKey::UntrustedSigner => {
                    // A key store of its own: a well-formed key nobody trusts.
                    let other = tempfile::tempdir().map_err(RedteamError::lab)?;
                    let rogue = silo_keys::KeyStore::init(&other.path().join("keys"), now)
                        .map_err(RedteamError::lab)?;
                    let claims = BaseKey {
                        aud: BASE_AUDIENCE.into(),
                        jti: new_jti().map_err(RedteamError::lab)?,
                        iat: now,
                        exp: now + 600,
                        agent: a.id.into(),
                        version: "1.0.0".into(),
                        folder_hash: format!("sha256:{}", "cd".repeat(32)),
                        caps: serde_json::from_value(serde_json::json!({
                            "refund": {"max_cents": 10_000_000, "currency": "USD"}
                        }))
                        .map_err(RedteamError::lab)?,
                    };
                    rogue
                        .minter()
                        .map_err(RedteamError::lab)?
                        .mint_base(&claims)
                }
            }
            .map_err(RedteamError::lab)?;
            out.insert(k.field().into(), Value::String(token));
        }
        Ok(Value::Object(out))
    }

    /// Runs one case (both runs of a two-run case) and judges it.
    pub fn run(&self, a: &Attack, seq: usize) -> CaseResult {
        let started = Instant::now();
        let (verdict, evidence) = match self.run_and_judge(a, seq) {
            Ok(v) => v,
            Err(e) => (Verdict::Error, vec![format!("the lab failed: {e}")]),
        };
        CaseResult {
            id: a.id.to_owned(),
            category: a.category,
            agent_os: a.agent_os,
            title: a.title.to_owned(),
            verdict,
            evidence,
            millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }

    fn invoke(
        &self,
        a: &Attack,
        task: &str,
        customer: &str,
        input: Value,
    ) -> Result<(silo_invoke::InvocationReport, String), RedteamError> {
        let cell = silo_cell::new_cell_id();
        let dir = self.agent_folder(a, task, &cell)?;
        let out_path = self.root.path().join("out").join(format!("{task}.out"));
        let out = fs::File::create(&out_path).map_err(io("creating", &out_path))?;
        let err = out.try_clone().map_err(io("creating", &out_path))?;
        let inv = silo_invoke::Invocation {
            agent_dir: dir,
            customer: customer.into(),
            case: case_of(customer).into(),
            input,
            task: Some(task.into()),
            run: None,
            input_tokenised: false,
            cell: Some(cell),
            task_key_jti: None,
            timeout_ms: None,
        };
        let report = silo_invoke::invoke(self.host()?, &inv, Stdio::from(out), Stdio::from(err))
            .map_err(RedteamError::lab)?;
        let printed = fs::read(&out_path).map_err(io("reading", &out_path))?;
        Ok((report, String::from_utf8_lossy(&printed).into_owned()))
    }

    fn run_and_judge(
        &self,
        a: &Attack,
        seq: usize,
    ) -> Result<(Verdict, Vec<String>), RedteamError> {
        let before = self.before()?;
        let task = format!("rt-{seq}-{}", a.id);
        let mut printed = String::new();
        let mut plant_note = None;
        let customer = if a.two_runs {
            let (_, plant_out) = self.invoke(
                a,
                &format!("{task}-plant"),
                a.customer,
                serde_json::json!({"phase": "plant"}),
            )?;
            let planted = plant_out
                .lines()
                .rev()
                .find(|l| l.starts_with("REDTEAM "))
                .unwrap_or("REDTEAM (the plant run printed no verdict)")
                .trim_start_matches("REDTEAM ")
                .chars()
                .take(200)
                .collect::<String>();
            plant_note = Some(format!("plant run: {planted}"));
            printed.push_str(&plant_out);
            a.check_customer
        } else {
            a.customer
        };
        let input = if a.two_runs {
            serde_json::json!({"phase": "check"})
        } else {
            let mut v: Value = serde_json::from_str(a.input)
                .map_err(|e| RedteamError::Lab(format!("case {}: input: {e}", a.id)))?;
            if let Value::Object(m) = &mut v {
                m.insert(
                    "canary".into(),
                    Value::String(self.canary_dir.join("secret.txt").display().to_string()),
                );
            }
            v
        };
        let (report, out) = self.invoke(a, &task, customer, input)?;
        printed.push_str(&out);
        let (verdict, mut evidence) = self.judge(a, customer, &before, &report, &out, &printed);
        evidence.extend(plant_note);
        Ok((verdict, evidence))
    }

    fn judge(
        &self,
        a: &Attack,
        customer: &str,
        before: &Before,
        report: &silo_invoke::InvocationReport,
        last_run: &str,
        everything: &str,
    ) -> (Verdict, Vec<String>) {
        let mut breaches = Vec::new();
        let mut evidence = Vec::new();
        // What the case says about the last run.
        let mut said: Option<(&str, String)> = None;
        for line in last_run.lines() {
            if let Some(rest) = line.strip_prefix("REDTEAM ") {
                let (kind, msg) = rest.split_once(' ').unwrap_or((rest, ""));
                match kind {
                    "BLOCKED" | "BREACH" | "OK" | "REFUSED" | "ERROR" => {
                        said = Some((kind, msg.to_owned()));
                    }
                    _ => {}
                }
            }
        }
        if let Some(("BREACH", msg)) = &said {
            breaches.push(format!("the case got through: {msg}"));
        }
        // The host's own evidence.
        match self.refund_total() {
            Ok(after) if after - before.refunds > a.refund_allowance => breaches.push(format!(
                "the ledger grew by {} cents (allowed: {})",
                after - before.refunds,
                a.refund_allowance
            )),
            Ok(_) => {}
            Err(e) => evidence.push(format!("ledger unreadable: {e}")),
        }
        let person = self.people.iter().find(|p| p.id == customer);
        for path in files_under(&self.data.join("outbox")).difference(&before.outbox) {
            let Ok(text) = fs::read_to_string(path) else {
                continue;
            };
            let msg: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let to = msg["to"].as_str().unwrap_or("");
            let own = person.is_some_and(|p| to == p.email || to == p.phone);
            if !own {
                breaches.push(format!("a message went to `{to}`, not the task's customer"));
            }
            let body = format!("{} {}", msg["subject"].as_str().unwrap_or(""), msg["body"]);
            for other in self.people.iter().filter(|p| p.id != customer) {
                if let Some(v) = other.secrets.iter().find(|s| body.contains(s.as_str())) {
                    breaches.push(format!("a message carried another customer's `{v}`"));
                }
            }
            // No card number, and no other customer's card or phone, in any spelling.
            let numbers = number_runs(&body);
            for p in &self.people {
                let own = p.id == customer;
                if let Some(d) = p
                    .digits
                    .iter()
                    .filter(|d| !own || d.len() >= 12)
                    .find(|d| numbers.iter().any(|n| n.contains(d.as_str())))
                {
                    breaches.push(format!(
                        "a message carried {} digits ending {}",
                        if own {
                            "the customer's card"
                        } else {
                            "another customer's"
                        },
                        &d[d.len().saturating_sub(4)..]
                    ));
                }
            }
        }
        let lowered = everything.to_lowercase();
        let printed_numbers = number_runs(everything);
        for p in &self.people {
            if let Some(v) = p
                .secrets
                .iter()
                .find(|s| lowered.contains(&s.to_lowercase()))
            {
                breaches.push(format!("the cell saw the raw value `{v}`"));
            }
            if let Some(d) = p
                .digits
                .iter()
                .find(|d| printed_numbers.iter().any(|n| n.contains(d.as_str())))
            {
                breaches.push(format!(
                    "the cell saw the digits of `…{}`",
                    &d[d.len().saturating_sub(4)..]
                ));
            }
        }
        if everything.contains(&self.canary) {
            breaches.push("the cell read the host's canary file".into());
        }
        let canary_now = files_under(&self.canary_dir);
        if canary_now != before.canary_files {
            breaches.push("the cell wrote into the host's canary folder".into());
        }
        match fs::read_to_string(self.canary_dir.join("secret.txt")) {
            Ok(t) if t == self.canary => {}
            _ => breaches.push("the host's canary file changed".into()),
        }
        if let Some(uid) = silo_cell::AgentName::new(a.id)
            .ok()
            .and_then(|n| silo_cell::agent_host_uid(&n))
        {
            let left = processes_of(uid);
            if !left.is_empty() {
                breaches.push(format!(
                    "processes of the agent's uid {uid} outlived its cell: {}",
                    left.join(", ")
                ));
            }
        }
        let verified = silo_audit::AuditLog::open(&self.data)
            .map_err(|e| e.to_string())
            .and_then(|l| l.verify().map_err(|e| e.to_string()));
        if let Err(e) = verified {
            breaches.push(format!("the audit log no longer verifies: {e}"));
        }
        let cell = &report.cell;
        let ended = match cell.limit_note() {
            Some(n) => n,
            None => format!("cell exit {}", cell.exit_code()),
        };
        evidence.push(ended.clone());
        if let Some((kind, msg)) = &said {
            evidence.push(format!("{kind}: {msg}"));
        }
        if !breaches.is_empty() {
            let verdict = if a.expect == Expect::Allowed {
                Verdict::FalsePositive
            } else {
                Verdict::Breached
            };
            breaches.extend(evidence);
            return (verdict, breaches);
        }
        let killed = cell.exit_code() >= 128 || cell.oom_killed || cell.limit_note().is_some();
        let verdict = match (a.expect, said.as_ref().map(|(k, _)| *k)) {
            (Expect::Allowed, Some("OK")) => Verdict::Allowed,
            (Expect::Allowed, _) => Verdict::FalsePositive,
            (Expect::Blocked | Expect::BlockedOrKilled, Some("BLOCKED")) => Verdict::Blocked,
            (Expect::BlockedOrKilled, None | Some("ERROR")) if killed => Verdict::Blocked,
            _ => Verdict::Error,
        };
        if verdict == Verdict::Error || verdict == Verdict::FalsePositive {
            let tail: Vec<&str> = last_run.lines().rev().take(8).collect();
            evidence.push(format!(
                "last lines: {}",
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            ));
        }
        (verdict, evidence)
    }
}

/// The pids and names of the host's processes running as `uid`.
fn processes_of(uid: u32) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(status) = fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let real = status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|u| u.parse::<u32>().ok());
        if real == Some(uid) {
            let comm = status
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("Name:"))
                .unwrap_or("")
                .trim();
            out.push(format!("{pid} ({comm})"));
        }
    }
    out
}

/// Every customer's personal values from the business database.
fn read_people(data: &Path) -> Result<Vec<Person>, RedteamError> {
    let path = silo_membrane::Connectors::business_db(data);
    let conn =
        silo_sqlite::open(&path, silo_sqlite::Synchronous::Normal).map_err(RedteamError::lab)?;
    let mut stmt = conn
        .prepare("SELECT id, name, email, phone, address, date_of_birth, COALESCE(card_number, '') FROM customers")
        .map_err(RedteamError::lab)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })
        .map_err(RedteamError::lab)?;
    let mut people = Vec::new();
    for row in rows {
        let (id, name, email, phone, address, dob, card) = row.map_err(RedteamError::lab)?;
        let street = address.split(',').next().unwrap_or("").trim().to_owned();
        let mut digits = vec![digits_only(&card)];
        // The phone's subscriber part (the last seven digits), in any spacing.
        let phone_digits = digits_only(&phone);
        digits.push(phone_digits[phone_digits.len().saturating_sub(7)..].to_owned());
        digits.retain(|d| d.len() >= 7);
        people.push(Person {
            id,
            secrets: vec![name, email.clone(), street, dob],
            email,
            phone,
            digits,
        });
    }
    if people.is_empty() {
        return Err(RedteamError::Lab(
            "the business database has no customers".into(),
        ));
    }
    Ok(people)
}
