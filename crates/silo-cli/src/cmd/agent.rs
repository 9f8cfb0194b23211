//! `silo agent`: the agents of an agents directory and whether the router may dispatch to
//! them. An offline agent's tasks go to its human pool. Which agents are offline is kept
//! in the router store (`router/router.db` in the data directory), which every router —
//! a running `silo serve` included — reads at each dispatch.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Context;
use silo_invoke::{Manifest, MANIFEST_FILE};
use silo_router::Store;

use crate::Ctx;

/// `silo agent` commands.
#[derive(clap::Subcommand, Debug)]
pub enum AgentCmd {
    /// The agents of the agents directory, with their version and status.
    List {
        /// Where the agent folders are (default: the project file's `agents`).
        #[arg(long)]
        agents: Option<PathBuf>,
    },
    /// Stop dispatching to an agent: its tasks go to the human pool.
    Offline {
        /// The agent.
        name: String,
    },
    /// Dispatch to an agent again.
    Online {
        /// The agent.
        name: String,
    },
    /// Install a new version of an agent folder: new turns get it at once, running cells
    /// keep theirs; earlier versions stay in `<agents>/.versions/`.
    Deploy {
        /// The agent folder to deploy (its `agent.yaml` names the agent).
        dir: PathBuf,
        /// Where the agent folders are (default: the project file's `agents`).
        #[arg(long)]
        agents: Option<PathBuf>,
    },
    /// Scaffold a new agent folder with a working `main.py` that uses the SDK.
    New {
        /// The agent's name (lower case, digits, `-`).
        name: String,
        /// Where the agent folders are (default: the project file's `agents`).
        #[arg(long)]
        agents: Option<PathBuf>,
    },
}

const NEW_MANIFEST: &str =
    "# {name}: what this agent is and what its base key grants (docs/AGENTS.md).
name: {name}
version: 0.1.0
description: Reads the customer's message and records what it read.
entry: [python3, main.py]
# The cell's limits; absent ones take the defaults.
limits: { memory: 256M, timeout: 30s }
# The base key: the membrane refuses anything not granted here.
capabilities:
  data.read: { fields: [name, tier, balance_cents] }
  escalate: [human]
";

const NEW_MAIN: &str = r#""""{name}: one task in, one outcome out. Outside effects only through `silo`.

Test it without a cell: `python3 -B -m unittest` in this folder (see test_main.py).
"""

import silo


def main():
    task = silo.task()
    message = str((task.get("input") or {}).get("message", ""))
    if not message:
        silo.escalate("human", "the task has no message", "read the case")
        return
    customer = silo.data.customer()  # personal data arrives as tokens: [NAME_1]
    silo.done(f"read {customer['name']} ({customer['tier']}): {message[:200]}")


if __name__ == "__main__":
    main()
"#;

/// The agent's own test: `main.py` against a fake `silo` module, standard library only.
const NEW_TEST: &str = r#""""Tests for main.py without a cell: a fake `silo` module stands in for the SDK,
returns canned (tokenised) data and records what the agent did.

Run them in this folder: python3 -B -m unittest
"""

import importlib
import sys
import types
import unittest


class FakeSilo(types.ModuleType):
    """The SDK's calls that main.py makes, with canned answers."""

    def __init__(self, task_input):
        super().__init__("silo")
        self.calls = []
        self._task = {
            "task": "t-test",
            "agent": "{name}",
            "customer": "cus_001",
            "case": "case_001",
            "input": task_input,
            "capabilities": {},
        }
        # Personal data reaches an agent only as tokens such as [NAME_1].
        record = {"name": "[NAME_1]", "tier": "gold", "balance_cents": 1250}
        self.data = types.SimpleNamespace(customer=lambda fields=None: dict(record))

    def task(self):
        return self._task

    def done(self, summary, report=None):
        self.calls.append(("done", summary))

    def complete(self, status, summary, report=None):
        self.calls.append((status, summary))

    def escalate(self, target, reason, recommendation):
        self.calls.append(("escalate", target, reason, recommendation))

    def redirect(self, target, summary, hard=False, report=None):
        self.calls.append(("redirect", target, summary, hard))


def run_agent(task_input):
    """Runs main.main() with a fresh fake `silo`; returns the calls it recorded."""
    fake = FakeSilo(task_input)
    sys.modules["silo"] = fake
    sys.modules.pop("main", None)
    importlib.import_module("main").main()
    return fake.calls


class MainTest(unittest.TestCase):
    def test_a_message_is_done_and_names_the_customer_by_token(self):
        calls = run_agent({"message": "hello from [NAME_1]"})
        self.assertEqual(calls, [("done", "read [NAME_1] (gold): hello from [NAME_1]")])

    def test_no_message_goes_to_a_human(self):
        calls = run_agent({})
        self.assertEqual(len(calls), 1)
        self.assertEqual(calls[0][:2], ("escalate", "human"))


if __name__ == "__main__":
    unittest.main()
"#;

const NEW_INSTRUCTIONS: &str = "# {name}: operating procedure

Write here, as for a new employee, what this agent does, what it may decide alone, and
when it hands over (and to whom). Its code follows these steps; its base key
(`agent.yaml`, `capabilities`) is what it may do at most. `test_main.py` checks the code
against these steps without a cell: `python3 -B -m unittest` in this folder.
";

/// The command that runs the scaffolded agent `dir` once in a cell, for the next steps.
pub(crate) fn run_command(dir: &std::path::Path) -> String {
    format!(
        "silo run --agent {} --customer cus_001 --case case_001 --input '{{\"message\":\"hello\"}}'",
        dir.display()
    )
}

/// Writes a new agent folder `agents/name` (manifest, `main.py`, its unit test,
/// instructions) that runs as it is; refuses when the folder exists.
pub(crate) fn scaffold(agents: &std::path::Path, name: &str) -> anyhow::Result<PathBuf> {
    silo_cell::AgentName::new(name).map_err(|e| anyhow::anyhow!("agent name: {e}"))?;
    let dir = agents.join(name);
    if dir.exists() {
        anyhow::bail!("`{}` already exists", dir.display());
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating `{}`", dir.display()))?;
    for (file, text) in [
        ("agent.yaml", NEW_MANIFEST),
        ("main.py", NEW_MAIN),
        ("test_main.py", NEW_TEST),
        ("instructions.md", NEW_INSTRUCTIONS),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, text.replace("{name}", name))
            .with_context(|| format!("writing `{}`", path.display()))?;
        readable(&path, 0o644)?;
    }
    readable(&dir, 0o755)?;
    // The manifest must load: a scaffold that does not is a bug here, not the user's.
    Manifest::load(&dir)?;
    Ok(dir)
}

/// The agent runs under its own uid and reads its folder as "other".
fn readable(path: &std::path::Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("making `{}` readable", path.display()))
}

fn store_path(ctx: &Ctx) -> PathBuf {
    ctx.data_dir.join("router").join("router.db")
}

fn store(ctx: &Ctx) -> anyhow::Result<silo_router::AnyStore> {
    crate::cmd::backend::router_store(ctx)
}

/// The agents marked offline; none when there is no router store yet.
fn offline(ctx: &Ctx) -> anyhow::Result<BTreeSet<String>> {
    if !store_path(ctx).exists() {
        return Ok(BTreeSet::new());
    }
    Ok(store(ctx)?.offline_agents()?)
}

fn set_online(ctx: &Ctx, name: &str, online: bool) -> anyhow::Result<()> {
    silo_cell::AgentName::new(name).map_err(|e| anyhow::anyhow!("agent name: {e}"))?;
    store(ctx)?.set_online(name, online, silo_keys::now_unix())?;
    Ok(())
}

/// Runs a `silo agent` command.
pub fn run(cmd: AgentCmd, ctx: &Ctx) -> anyhow::Result<u8> {
    match cmd {
        AgentCmd::List { agents } => {
            let agents = agents.unwrap_or_else(|| ctx.config.agents.clone());
            let names = offline(ctx)?;
            let mut rows = Vec::new();
            let mut dirs: Vec<PathBuf> = std::fs::read_dir(&agents)
                .with_context(|| format!("reading `{}`", agents.display()))?
                .filter_map(Result::ok)
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .map(|e| e.path())
                .filter(|p| p.join(MANIFEST_FILE).is_file())
                .collect();
            dirs.sort();
            for dir in dirs {
                let m = Manifest::load(&dir)?;
                let online = !names.contains(&m.name);
                rows.push(
                    serde_json::json!({"name": m.name, "version": m.version, "online": online}),
                );
            }
            if ctx.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in &rows {
                    println!(
                        "{:<24} {:<10} {}",
                        r["name"].as_str().unwrap_or(""),
                        r["version"].as_str().unwrap_or(""),
                        if r["online"] == true {
                            "online"
                        } else {
                            "offline"
                        }
                    );
                }
            }
        }
        AgentCmd::Offline { name } => {
            set_online(ctx, &name, false)?;
            if ctx.json {
                println!("{}", serde_json::json!({"name": name, "online": false}));
            } else {
                println!("{name}: offline (its tasks go to its human pool)");
            }
        }
        AgentCmd::New { name, agents } => {
            let agents = agents.unwrap_or_else(|| ctx.config.agents.clone());
            let dir = scaffold(&agents, &name)?;
            let test = format!("(cd {} && python3 -B -m unittest)", dir.display());
            if ctx.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "name": name, "dir": dir, "test": test, "run": run_command(&dir),
                    })
                );
            } else {
                println!("created {}", dir.display());
                println!("test it: {test}");
                println!("run it: {}", run_command(&dir));
            }
        }
        AgentCmd::Deploy { dir, agents } => {
            let agents = agents.unwrap_or_else(|| ctx.config.agents.clone());
            let d = silo_invoke::deploy(&dir, &agents)?;
            if ctx.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "name": d.name, "version": d.version, "previous": d.previous,
                        "folder_hash": d.folder_hash, "path": d.path, "unchanged": d.unchanged,
                    })
                );
            } else if d.unchanged {
                println!(
                    "{} {}: already deployed ({})",
                    d.name, d.version, d.folder_hash
                );
            } else {
                println!(
                    "{}: {} -> {} ({}); new turns use it, running cells keep theirs",
                    d.name,
                    d.previous.as_deref().unwrap_or("none"),
                    d.version,
                    d.folder_hash
                );
            }
        }
        AgentCmd::Online { name } => {
            set_online(ctx, &name, true)?;
            if ctx.json {
                println!("{}", serde_json::json!({"name": name, "online": true}));
            } else {
                println!("{name}: online");
            }
        }
    }
    Ok(0)
}
