//! `silo workflow check`: load workflow files and validate them against the project (every
//! stage's agent, every redirect target, the `on_error` pools, other workflows), naming the
//! file and stage at fault. With no file, every workflow of the project is checked.

use std::path::PathBuf;

use anyhow::Context;
use silo_router::Workflow;

use crate::Ctx;

/// `silo workflow` commands.
#[derive(clap::Subcommand, Debug)]
pub enum WorkflowCmd {
    /// Check workflow files; exit 0 when each loads and every name in it is known.
    #[command(after_help = "Examples:
  silo workflow check                           every workflow of the project
  silo workflow check workflows/support.yaml --agents agents

Exit status: 0 every file loads and every name in it is known; 1 otherwise (the file and
stage at fault are named).")]
    Check {
        /// The workflow YAML files (default: every file of the project's `workflows`).
        files: Vec<PathBuf>,
        /// Where the agent folders are (default: the project file's `agents`).
        #[arg(long)]
        agents: Option<PathBuf>,
    },
}

/// With `--json`: the workflows checked (a failure is an error on stderr, exit 1).
fn print_checked(ctx: &Ctx, checked: &[serde_json::Value]) {
    if ctx.json {
        println!("{}", serde_json::json!({ "workflows": checked }));
    }
}

/// Runs a `silo workflow` command.
pub fn run(cmd: WorkflowCmd, ctx: &Ctx) -> anyhow::Result<u8> {
    match cmd {
        WorkflowCmd::Check { files, agents } => {
            // The project's own workflows load and are checked together with the table.
            let known = crate::cmd::task::routing(ctx, agents.as_deref())?.known();
            // `--json`: one document, `{"workflows": [{"name", "file", "stages", "ok"}]}`.
            let mut checked = Vec::new();
            if files.is_empty() {
                let dir = &ctx.config.workflows;
                let all = silo_router::load_workflows(dir)?;
                if all.is_empty() && !ctx.json {
                    println!("no workflows in `{}`", dir.display());
                }
                for w in &all {
                    if !ctx.json {
                        println!("{}: ok ({} stages)", w.name, w.stages.len());
                    }
                    checked.push(serde_json::json!({
                        "name": w.name, "file": null, "stages": w.stages.len(), "ok": true,
                    }));
                }
                print_checked(ctx, &checked);
                return Ok(0);
            }
            for file in &files {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("reading `{}`", file.display()))?;
                let workflow =
                    Workflow::from_yaml(&text).with_context(|| format!("`{}`", file.display()))?;
                let mut known = known.clone();
                known.workflows.insert(workflow.name.clone());
                workflow
                    .validate(&known)
                    .with_context(|| format!("`{}`", file.display()))?;
                if !ctx.json {
                    println!("{}: ok ({} stages)", file.display(), workflow.stages.len());
                }
                checked.push(serde_json::json!({
                    "name": workflow.name, "file": file, "stages": workflow.stages.len(), "ok": true,
                }));
            }
            print_checked(ctx, &checked);
            Ok(0)
        }
    }
}
