//! `silo policy`: check a policy file and evaluate one decision (arguments and output only).
//!
//! Exit codes for `eval`: 0 allow, 3 deny, 4 needs approval; 1 for any other error.
//! `check` exits 0 when the file loads and every example holds, 1 otherwise.

use std::path::PathBuf;

use anyhow::Context as _;
use silo_keys::{decode_unverified, folder_hash, now_unix};
use silo_policy::{Context, Decision, NoCounters, PolicySet, Request};

/// Exit code of `eval` for a deny.
pub const EXIT_DENY: u8 = 3;
/// Exit code of `eval` for needs-approval.
pub const EXIT_NEEDS_APPROVAL: u8 = 4;

/// Operator policy: rules in YAML, checked at load, evaluated per action.
#[derive(clap::Subcommand, Debug)]
pub enum PolicyCmd {
    /// Parse and validate policy files and run every rule's examples.
    Check {
        /// Policy YAML files (deployment first, then per-agent files).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Verify a key pair and decide one action, printing the decision and the rule.
    Eval {
        /// The base key token.
        #[arg(long)]
        base: String,
        /// The task key token.
        #[arg(long)]
        task: String,
        /// The action, e.g. `refund`.
        #[arg(long)]
        action: String,
        /// The action's params as JSON.
        #[arg(long, value_name = "JSON", default_value = "{}")]
        params: String,
        /// Policy YAML files; without any, the keys' capabilities decide alone.
        #[arg(long, value_name = "FILE")]
        policy: Vec<PathBuf>,
        /// Cell id of the socket (default: the cell named in the task key).
        #[arg(long)]
        cell: Option<String>,
        /// The agent folder, to check the base key's content hash.
        #[arg(long, value_name = "DIR")]
        agent_dir: Option<PathBuf>,
    },
}

/// Runs a `silo policy` command; returns the exit code.
pub fn run(cmd: PolicyCmd, ctx: &crate::Ctx) -> anyhow::Result<u8> {
    match cmd {
        PolicyCmd::Check { files } => {
            let set = load(&files)?;
            if ctx.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "ok": true,
                        "rules": set.rules().len(),
                        "examples_checked": set.examples_checked(),
                        "default": set.default_effect(),
                    })
                );
            } else {
                println!(
                    "ok: {} rules, {} examples hold, default {}",
                    set.rules().len(),
                    set.examples_checked(),
                    set.default_effect()
                );
                for r in set.rules() {
                    println!(
                        "  {:>5}  {:<16} {}",
                        r.priority,
                        r.effect.to_string(),
                        r.name
                    );
                }
            }
            Ok(0)
        }
        PolicyCmd::Eval {
            base,
            task,
            action,
            params,
            policy,
            cell,
            agent_dir,
        } => {
            let set = if policy.is_empty() {
                PolicySet::capabilities_only()
            } else {
                load(&policy)?
            };
            let params: serde_json::Value = serde_json::from_str(&params)
                .map_err(|e| anyhow::anyhow!("`--params` is not JSON: {e}"))?;
            let store = crate::cmd::backend::key_store(ctx)?;
            let verifier = store.verifier()?;
            let cell = match cell {
                Some(c) => c,
                None => decode_unverified(&task)
                    .ok()
                    .and_then(|(claims, _)| claims.get("cell")?.as_str().map(str::to_string))
                    .unwrap_or_default(),
            };
            let hash = match &agent_dir {
                Some(d) => {
                    Some(folder_hash(d).with_context(|| format!("hashing `{}`", d.display()))?)
                }
                None => None,
            };
            let req = Request {
                base_token: &base,
                task_token: &task,
                cell_id: &cell,
                folder_hash: hash.as_ref(),
                action: &action,
                params: &params,
            };
            // No usage history here: rate limits and daily totals see zero.
            let decision = set.authorize(&verifier, &req, &Context::new(now_unix(), &NoCounters));
            if ctx.json {
                println!("{}", serde_json::to_string(&decision)?);
            } else {
                match &decision {
                    Decision::Allow { rule } => println!("allow (rule `{rule}`)"),
                    Decision::Deny { reason, rule } => println!("deny (rule `{rule}`): {reason}"),
                    Decision::NeedsApproval { rule, reason } => {
                        println!("needs approval (rule `{rule}`): {reason}")
                    }
                }
            }
            Ok(match decision {
                Decision::Allow { .. } => 0,
                Decision::Deny { .. } => EXIT_DENY,
                Decision::NeedsApproval { .. } => EXIT_NEEDS_APPROVAL,
            })
        }
    }
}

fn load(files: &[PathBuf]) -> anyhow::Result<PolicySet> {
    let sets = files
        .iter()
        .map(|f| PolicySet::from_file(f))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PolicySet::merge(sets)?)
}
