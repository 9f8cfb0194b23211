//! `silo policy`: check a policy file and evaluate one decision (arguments and output only).
//!
//! Exit codes for `eval`: 0 allow, 3 deny, 4 needs approval; 1 for any other error.
//! `check` exits 0 when the file loads and every example holds, 1 otherwise.
//! `import agent-os` exits 0 when everything converted, 3 when the policy was written but
//! something was reported unsupported, 2 for a malformed or unknown document, 1 otherwise
//! (unreadable file, an `--out` that exists without `--force`).

use std::path::PathBuf;

use anyhow::Context as _;
use silo_keys::{decode_unverified, folder_hash, now_unix};
use silo_policy::{Context, Decision, NoCounters, PolicySet, Request};

/// Exit code of `eval` for a deny.
pub const EXIT_DENY: u8 = 3;
/// Exit code of `eval` for needs-approval.
pub const EXIT_NEEDS_APPROVAL: u8 = 4;
/// Exit code of `import` when the policy was produced but something was not converted.
pub const EXIT_UNSUPPORTED: u8 = 3;
/// Exit code of `import` for a document that does not parse or is in no known format.
pub const EXIT_BAD_INPUT: u8 = 2;

/// Operator policy: rules in YAML, checked at load, evaluated per action.
#[derive(clap::Subcommand, Debug)]
pub enum PolicyCmd {
    /// Parse and validate policy files and run every rule's examples.
    #[command(after_help = "Examples:
  silo policy check policies/policy.yaml
  silo --json policy check policies/policy.yaml agents/refund-agent/policy.yaml

Exit status: 0 every file loads and every example holds; 1 otherwise.")]
    Check {
        /// Policy YAML files (deployment first, then per-agent files).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Verify a key pair and decide one action, printing the decision and the rule.
    ///
    /// The keys are verified against this data directory's key store, then the policy
    /// decides as the membrane would (without usage history: rate limits and daily totals
    /// see zero). A what-if for an operator: would this agent be allowed to do this?
    #[command(after_help = "Examples:
  silo policy eval --base \"$BASE\" --task \"$TASK\" --action refund \\
      --params '{\"amount\":25000,\"currency\":\"USD\"}' --policy policies/policy.yaml
  silo --json policy eval --base \"$BASE\" --task \"$TASK\" --action email.send

Exit status:
  0: allow
  3: deny (the reason and the rule are printed)
  4: needs approval (a person must approve it first)
  1: any other error (a policy file that does not load, a bad --params)")]
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
    /// Convert another system's policy into a silo policy, reporting what cannot be
    /// expressed.
    #[command(subcommand)]
    Import(ImportCmd),
}

/// Policy formats `silo policy import` reads.
#[derive(clap::Subcommand, Debug)]
pub enum ImportCmd {
    /// Convert an Agent OS policy (a policy document with `rules`/`defaults`, a kernel
    /// `.agents/security.md` spec, or a `GovernancePolicy` template) into silo policy YAML.
    ///
    /// Prints the policy (or writes `--out`) and the items it could not convert to stderr.
    /// Exit 0: everything converted; 3: written, but something was reported unsupported;
    /// 2: the document is malformed or in no Agent OS format; 1: any other error.
    AgentOs {
        /// The Agent OS document (YAML or JSON).
        file: PathBuf,
        /// Write the silo policy here instead of printing it.
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
        /// Overwrite `--out` when it exists.
        #[arg(long, requires = "out")]
        force: bool,
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
                        // The rules in evaluation order, as the text lists them.
                        "evaluation_order": set.rules().iter().map(|r| serde_json::json!({
                            "priority": r.priority, "effect": r.effect.to_string(), "name": r.name,
                        })).collect::<Vec<_>>(),
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
        PolicyCmd::Import(ImportCmd::AgentOs { file, out, force }) => {
            import_agent_os(&file, out.as_deref(), force, ctx)
        }
    }
}

fn import_agent_os(
    file: &std::path::Path,
    out: Option<&std::path::Path>,
    force: bool,
    ctx: &crate::Ctx,
) -> anyhow::Result<u8> {
    use std::io::Write as _;
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read `{}`", file.display()))?;
    let imported = match silo_policy::agentos::import(&file.display().to_string(), &text) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("silo: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let report = &imported.report;
    if let Some(path) = out {
        // `create_new` refuses an existing file atomically; `--force` replaces it.
        let mut f = if force {
            std::fs::File::create(path)
        } else {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
        }
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
                "`{}` exists; pass `--force` to overwrite it",
                path.display()
            ),
            _ => anyhow::anyhow!("cannot write `{}`: {e}", path.display()),
        })?;
        f.write_all(imported.yaml.as_bytes())
            .with_context(|| format!("writing `{}`", path.display()))?;
    }
    // Written in one piece: a closed pipe is an error, not a panic.
    let mut stdout = std::io::stdout().lock();
    if ctx.json {
        let doc = serde_json::json!({
            "kind": report.kind,
            "policy": imported.yaml,
            "converted": report.converted,
            "unsupported": report.unsupported,
        });
        writeln!(stdout, "{doc}")?;
    } else {
        if out.is_none() {
            stdout.write_all(imported.yaml.as_bytes())?;
        }
        let mut err = std::io::stderr().lock();
        writeln!(
            err,
            "imported {}: {} converted, {} unsupported{}",
            report.kind,
            report.converted.len(),
            report.unsupported.len(),
            out.map(|p| format!(", written to `{}`", p.display()))
                .unwrap_or_default()
        )?;
        for f in &report.unsupported {
            writeln!(err, "unsupported: {}: {} — {}", f.path, f.what, f.why)?;
        }
    }
    Ok(if report.is_complete() {
        0
    } else {
        EXIT_UNSUPPORTED
    })
}

fn load(files: &[PathBuf]) -> anyhow::Result<PolicySet> {
    let sets = files
        .iter()
        .map(|f| PolicySet::from_file(f))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PolicySet::merge(sets)?)
}
