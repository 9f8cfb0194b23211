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
    Check {
        /// The workflow YAML files (default: every file of the project's `workflows`).
        files: Vec<PathBuf>,
        /// Where the agent folders are (default: the project file's `agents`).
        #[arg(long)]
        agents: Option<PathBuf>,
    },
}

/// Runs a `silo workflow` command.
pub fn run(cmd: WorkflowCmd, ctx: &Ctx) -> anyhow::Result<u8> {
    match cmd {
        WorkflowCmd::Check { files, agents } => {
            // The project's own workflows load and are checked together with the table.
            let known = crate::cmd::task::routing(ctx, agents.as_deref())?.known();
            if files.is_empty() {
                let dir = &ctx.config.workflows;
                let all = silo_router::load_workflows(dir)?;
                if all.is_empty() {
                    println!("no workflows in `{}`", dir.display());
                }
                for w in &all {
                    println!("{}: ok ({} stages)", w.name, w.stages.len());
                }
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
                println!("{}: ok ({} stages)", file.display(), workflow.stages.len());
            }
            Ok(0)
        }
    }
}
