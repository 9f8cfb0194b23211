//! `silo workflow check`: load a workflow file and validate it against the agents directory
//! (every stage's agent, every redirect target, the `on_error` pools), naming the stage at
//! fault.

use std::path::PathBuf;

use anyhow::Context;
use silo_router::{routing_from_agents_dir, Workflow};

use crate::Ctx;

/// `silo workflow` commands.
#[derive(clap::Subcommand, Debug)]
pub enum WorkflowCmd {
    /// Check a workflow file; exit 0 when it loads and every name in it is known.
    Check {
        /// The workflow YAML.
        file: PathBuf,
        /// Where the agent folders are.
        #[arg(long, default_value = "agents")]
        agents: PathBuf,
    },
}

/// Runs a `silo workflow` command.
pub fn run(cmd: WorkflowCmd, _ctx: &Ctx) -> anyhow::Result<u8> {
    match cmd {
        WorkflowCmd::Check { file, agents } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading `{}`", file.display()))?;
            let workflow =
                Workflow::from_yaml(&text).with_context(|| format!("`{}`", file.display()))?;
            let known = routing_from_agents_dir(&agents)?.known();
            workflow
                .validate(&known)
                .with_context(|| format!("`{}`", file.display()))?;
            println!("{}: ok ({} stages)", file.display(), workflow.stages.len());
            Ok(0)
        }
    }
}
