//! `silo agent`: the agents of an agents directory and whether the router may dispatch to
//! them. An offline agent's tasks go to its human pool. The offline list is a small file
//! in the data directory (`router/offline.json`), read by every router command.

use std::path::PathBuf;

use anyhow::Context;
use silo_invoke::{Manifest, MANIFEST_FILE};

use crate::Ctx;

/// `silo agent` commands.
#[derive(clap::Subcommand, Debug)]
pub enum AgentCmd {
    /// The agents of the agents directory, with their version and status.
    List {
        /// Where the agent folders are.
        #[arg(long, default_value = "agents")]
        agents: PathBuf,
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
    /// Scaffold a new agent folder with a working `main.py` that uses the SDK.
    New {
        /// The agent's name (lower case, digits, `-`).
        name: String,
        /// Where the agent folders are.
        #[arg(long, default_value = "agents")]
        agents: PathBuf,
    },
}

const NEW_MANIFEST: &str =
    "# What this agent is and what its base key grants. See docs/PROTOCOL.md.
name: {name}
version: 0.1.0
entry: [python3, main.py]
limits: { memory: 256M, timeout: 30s }
capabilities:
  data.read: { fields: [name, tier, balance_cents] }
  escalate: [human]
";

const NEW_MAIN: &str = r#""""{name}: one task in, one outcome out. Outside effects only through `silo`."""

import silo


def main():
    task = silo.task()
    message = (task.get("input") or {}).get("message", "")
    customer = silo.data.customer()  # personal data arrives as tokens: [NAME_1]
    if not message:
        silo.escalate("human", "the task has no message", "read the case")
        return
    silo.done(f"read {customer['name']} ({customer['tier']}): {message[:200]}")


if __name__ == "__main__":
    main()
"#;

const NEW_INSTRUCTIONS: &str = "# {name}: operating procedure

Write here, as for a new employee, what this agent does, what it may decide alone, and
when it hands over (and to whom). Its code follows these steps; its base key
(`agent.yaml`, `capabilities`) is what it may do at most.
";

fn scaffold(agents: &std::path::Path, name: &str) -> anyhow::Result<PathBuf> {
    silo_cell::AgentName::new(name).map_err(|e| anyhow::anyhow!("agent name: {e}"))?;
    let dir = agents.join(name);
    if dir.exists() {
        anyhow::bail!("`{}` already exists", dir.display());
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating `{}`", dir.display()))?;
    for (file, text) in [
        ("agent.yaml", NEW_MANIFEST),
        ("main.py", NEW_MAIN),
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

fn offline_file(ctx: &Ctx) -> PathBuf {
    ctx.data_dir.join("router").join("offline.json")
}

/// The agents marked offline.
pub fn offline(ctx: &Ctx) -> anyhow::Result<Vec<String>> {
    let path = offline_file(ctx);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("`{}` is not a JSON list of names", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading `{}`", path.display())),
    }
}

fn save(ctx: &Ctx, names: &[String]) -> anyhow::Result<()> {
    let path = offline_file(ctx);
    let dir = path.parent().context("offline file has no folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(names)?)
        .with_context(|| format!("writing `{}`", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("replacing `{}`", path.display()))?;
    Ok(())
}

/// Runs a `silo agent` command.
pub fn run(cmd: AgentCmd, ctx: &Ctx) -> anyhow::Result<u8> {
    let mut names = offline(ctx)?;
    match cmd {
        AgentCmd::List { agents } => {
            let mut rows = Vec::new();
            let mut dirs: Vec<PathBuf> = std::fs::read_dir(&agents)
                .with_context(|| format!("reading `{}`", agents.display()))?
                .filter_map(Result::ok)
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
            if !names.contains(&name) {
                names.push(name.clone());
                names.sort();
                save(ctx, &names)?;
            }
            println!("{name}: offline (its tasks go to its human pool)");
        }
        AgentCmd::New { name, agents } => {
            let dir = scaffold(&agents, &name)?;
            println!("created {}", dir.display());
            println!(
                "run it: silo run --agent {} --customer cus_001 --case case_001 --input '{{\"message\":\"hello\"}}'",
                dir.display()
            );
        }
        AgentCmd::Online { name } => {
            names.retain(|n| n != &name);
            save(ctx, &names)?;
            println!("{name}: online");
        }
    }
    Ok(0)
}
