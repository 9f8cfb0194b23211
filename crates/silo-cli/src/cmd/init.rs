//! `silo init [DIR]`: a new project that runs as it is — a commented `silo.yaml` with every
//! field and its default, one agent (the `silo agent new` scaffold, with its unit test), a
//! workflow for it, an example operator policy and a `.gitignore` for the data directory —
//! and the commands to run it. It never overwrites: when any of its files exists it writes
//! nothing and lists them.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cmd::agent;
use crate::Ctx;

/// Arguments of `silo init`.
#[derive(clap::Args, Debug)]
#[command(
    long_about = "Start a project that runs as it is: a commented silo.yaml with every field \
and its default, an agent (agent.yaml, main.py using the SDK, its unit test, \
instructions.md), a workflow for it, an example operator policy and a .gitignore for the \
data directory. Nothing is overwritten: when any of these files exists, nothing is written.",
    after_help = "Examples:
  silo init my-shop && cd my-shop
  silo init                                     in the current folder
  silo --json init my-shop                      the files written, as JSON"
)]
pub struct InitArgs {
    /// The project folder (created when missing).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

/// The scaffolded agent's name.
pub const AGENT: &str = "support-agent";

/// `silo.yaml`: every field, its default and what it is for. Parsed by `silo_config`.
const CONFIG: &str = r#"# silo.yaml: this project's configuration. Every field is optional: the value shown is
# the default unless its comment says otherwise, and a commented-out field is off.
# Relative paths are resolved against this file's folder. docs/AGENTS.md, docs/POLICY.md.

# silo's own state: keys, audit log, vault, router store, outbox. Keep it out of git.
data_dir: silo-data
# The agent folders, one per agent, each with its agent.yaml.
agents: agents
# The workflow files (*.yaml); a missing folder means no workflows.
workflows: workflows
# SQL that fills an empty business database; default: the built-in demo customers.
# seed: data/seed.sql
# The operator policy: rules on top of the agents' base keys. Default: none (the base
# keys alone decide); this project starts with the example in policies/.
policy: policies/policy.yaml

routing:
  # The human pools; operators take tasks from their inbox (silo task inbox --pool human).
  humans: [human]
  # The pool for agents that name none (default: the first of `humans`).
  default_human: human
  # An agent's own pool when it is not the default, e.g. { support-agent: human }.
  human_for: {}
  # Entry points by name (silo task submit --agent NAME takes a route name too), e.g.
  #   message: { workflow: support }
  #   hello: { agent: support-agent }
  routes: {}

router:
  # Redirects and escalations one single-agent run may take (workflow stages set theirs).
  max_redirects: 3
  # How long a claimed job is held before another worker may take it (after a crash).
  lease: 5m
  # Claims of one turn (its cell host died, or it could not start) before it counts as
  # the agent's 500 and `on_error` decides; 0: retry for ever.
  max_attempts: 3
  # The longest any one agent turn may run; default: none (each agent's own timeout).
  # stage_timeout: 60s
  # Shadow review: one task in N also goes to a human, whose result acts; default: off.
  # shadow: { one_in: 10 }

serve:
  # Where `silo serve` listens for tasks (loopback only).
  listen: "127.0.0.1:8700"
  # Cells run at once.
  workers: 2
  # Where the operators' web console listens (loopback only; `silo serve --no-console`).
  console: "127.0.0.1:8701"

# People who work the human pools, in the console or with silo task take / act / answer.
# Each acts through the membrane with a base key of these capabilities; an account to
# sign in to the console: silo operator add NAME. `admin: true` adds the admin pages.
# operators:
#   ana:
#     pool: human
#     admin: true
#     capabilities:
#       refund: { max_cents: 50000, currency: USD }
#       data.read: { fields: [id, name, email, tier, orders, history] }
#       data.write: { ops: [case.add_note] }

# An OpenAI-compatible LLM upstream, reached only by the membrane; default: none (agents
# run their deterministic path). SILO_LLM_URL / SILO_LLM_API_KEY win over it.
# llm:
#   url: http://127.0.0.1:8080/v1
#   api_key_env: OPENAI_API_KEY   # the variable that holds the key; never the key itself
# An SMTP relay behind the outbox; default: none (messages stay in silo-data/outbox/).
# SILO_SMTP_URL / SILO_SMTP_FROM win over it.
# smtp:
#   url: smtp://127.0.0.1:2525
#   from: shop@example.com
"#;

/// A workflow for the scaffolded agent; `silo workflow check` passes on it.
const WORKFLOW: &str =
    "# A one-stage workflow: the agent answers; what it cannot settle goes to a human.
# Check it with: silo workflow check
name: support
stages:
  - agent: support-agent
    # A stage may redirect to targets it lists: 302 runs the target and comes back,
    # 301 hands the task over. For example (with a second agent, order-agent):
    # 302: { order-agent: \"questions about an order\" }
    max_redirects: 2
# 400 (needs a human) goes to the `human` pool; 500 (failed) ends the task as failed.
on_error: { 400: human, 500: fail }
";

/// Operator rules on top of the base keys; `silo policy check` passes on them.
const POLICY: &str =
    "# Operator policy: rules on top of each agent's base key (docs/POLICY.md). A rule can
# only narrow what a base key grants, never widen it. silo.yaml's `policy` points here.
# Check it with: silo policy check policies/policy.yaml
version: 1
# An action the base key grants and no rule matches: `allow` (the base key is the grant)
# or `deny` (only an `allow` rule lets it through).
default: allow
rules:
  # Refunds over $200 wait for a human, even within an agent's own limit.
  - name: large-refunds-need-approval
    action: refund
    when:
      - { param: amount, gt: 20000 }   # integer cents
    effect: require_approval
    reason: refunds over $200 need a human's approval
    # Checked when the file loads: each `match` params object must match `when`, each
    # `no_match` one must not.
    examples:
      match: [{ amount: 25000, currency: USD }]
      no_match: [{ amount: 4599, currency: USD }]
  # At most three emails a customer an hour, whichever agent sends them.
  - name: three-emails-an-hour
    action: email.send
    rate_limit: { per: customer, max: 3, window_secs: 3600 }
    effect: deny
    reason: no more than three emails a customer an hour
";

const GITIGNORE: &str = "# silo's state (keys, audit log, vault, outbox): never commit it.
/silo-data/
__pycache__/
";

/// The files `silo init` writes (relative to the project), the agent folder first.
fn planned() -> Vec<PathBuf> {
    vec![
        Path::new("agents").join(AGENT),
        PathBuf::from(silo_config::FILE_NAME),
        PathBuf::from(".gitignore"),
        Path::new("workflows").join("support.yaml"),
        Path::new("policies").join("policy.yaml"),
    ]
}

/// Writes the project into `dir`; refuses, writing nothing, when any file exists.
pub fn scaffold(dir: &Path) -> anyhow::Result<()> {
    let existing: Vec<String> = planned()
        .iter()
        .map(|p| dir.join(p))
        .filter(|p| p.symlink_metadata().is_ok())
        .map(|p| format!("`{}`", p.display()))
        .collect();
    if !existing.is_empty() {
        anyhow::bail!(
            "not overwriting what exists: {}; move it away or init another folder",
            existing.join(", ")
        );
    }
    let agents = dir.join("agents");
    std::fs::create_dir_all(&agents).with_context(|| format!("creating `{}`", agents.display()))?;
    agent::scaffold(&agents, AGENT)?;
    for (file, text) in [
        (PathBuf::from(silo_config::FILE_NAME), CONFIG),
        (PathBuf::from(".gitignore"), GITIGNORE),
        (Path::new("workflows").join("support.yaml"), WORKFLOW),
        (Path::new("policies").join("policy.yaml"), POLICY),
    ] {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating `{}`", parent.display()))?;
        }
        // `create_new`: a file that appeared since the check above is still not overwritten.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .with_context(|| format!("writing `{}`", path.display()))?;
    }
    Ok(())
}

/// A path as one shell word.
fn shell_word(path: &Path) -> String {
    let s = path.display().to_string();
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@".contains(&b))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// What to run next, in the project folder.
pub fn next_steps(dir: &Path) -> String {
    let agent = Path::new("agents").join(AGENT);
    let mut s = String::from("next steps:\n");
    if dir != Path::new(".") {
        s.push_str(&format!("  cd {}\n", shell_word(dir)));
    }
    s.push_str("  # the agent's own test, without a cell\n");
    s.push_str(&format!(
        "  (cd {} && python3 -B -m unittest)\n",
        agent.display()
    ));
    s.push_str("  # one task in a real cell (as root: per-agent uids and cgroup limits need it)\n");
    s.push_str(&format!("  {}\n", agent::run_command(&agent)));
    s.push_str("  # the workflows against the agents; the operator rules against their examples\n");
    s.push_str("  silo workflow check\n");
    s.push_str("  silo policy check policies/policy.yaml\n");
    s.push_str("then read docs/AGENTS.md (writing an agent) and docs/POLICY.md (the rules).\n");
    s
}

/// Runs `silo init`.
pub fn run(args: InitArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    scaffold(&args.dir)?;
    let written = [
        (
            "silo.yaml",
            "the project file: every field with its default",
        ),
        (
            "agents/support-agent/",
            "an agent: agent.yaml, main.py, test_main.py, instructions.md",
        ),
        ("workflows/support.yaml", "a one-stage workflow for it"),
        (
            "policies/policy.yaml",
            "operator rules on top of the base keys",
        ),
        (".gitignore", "keeps silo-data/ out of git"),
    ];
    if ctx.json {
        let files: Vec<serde_json::Value> = written
            .iter()
            .map(|(path, what)| serde_json::json!({"path": path, "what": what}))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "dir": args.dir, "files": files, "agent": AGENT, "next_steps": next_steps(&args.dir),
            })
        );
        return Ok(0);
    }
    println!("created a silo project in `{}`:", args.dir.display());
    for (path, what) in written {
        println!("  {path:<24} {what}");
    }
    print!("{}", next_steps(&args.dir));
    Ok(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn the_config_loads_and_shows_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("silo.yaml");
        std::fs::write(&path, CONFIG).unwrap();
        let config = silo_config::Config::load(&path).unwrap();
        let defaults = silo_config::Config::defaults(&dir.path().canonicalize().unwrap());
        // Everything but the policy (which the project turns on) is the default.
        let policy = config.policy.clone();
        assert_eq!(
            silo_config::Config {
                file: None,
                policy: None,
                ..config
            },
            defaults
        );
        assert_eq!(
            policy,
            Some(
                dir.path()
                    .canonicalize()
                    .unwrap()
                    .join("policies/policy.yaml")
            )
        );
        // Every commented-out field is a real field with a valid example value.
        let optional = [
            "# seed:",
            "  # stage_timeout:",
            "  # shadow:",
            "# llm:",
            "#   url:",
            "#   api_key_env:",
            "# smtp:",
            "#   from:",
        ];
        let mut uncommented = String::new();
        let mut found = 0;
        for line in CONFIG.lines() {
            if optional.iter().any(|p| line.starts_with(p)) {
                found += 1;
                uncommented.push_str(&line.replacen("# ", "", 1));
            } else {
                uncommented.push_str(line);
            }
            uncommented.push('\n');
        }
        assert_eq!(found, optional.len() + 1, "url is in llm and smtp");
        let full = silo_config::Config::parse(&uncommented, &path).unwrap();
        assert!(full.seed.is_some() && full.llm.is_some() && full.smtp.is_some());
        assert!(full.router.stage_timeout.is_some() && full.router.shadow_one_in.is_some());
    }

    #[test]
    fn the_policy_and_the_workflow_load() {
        let set = silo_policy::PolicySet::from_yaml_str("policy.yaml", POLICY).unwrap();
        assert_eq!(set.rules().len(), 2);
        assert_eq!(set.examples_checked(), 2);
        let workflow = silo_router::Workflow::from_yaml(WORKFLOW).unwrap();
        assert_eq!(workflow.stages[0].agent, AGENT);
    }
}
