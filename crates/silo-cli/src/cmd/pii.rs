//! `silo pii`: look at what the PII layer finds and does. `scan`, `tokenize` and `hydrate`
//! are for debugging and use a scratch vault (never the real one); `reveal` resolves a
//! token of the real vault for an authorised operator and records that it did.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context};
use silo_audit::{ActionName, Actor, Decision, Detail, EntryDraft, TaskId};
use silo_pii::{KnownSet, KnownValue, PiiKind, Vault};

use crate::Ctx;

/// Largest input read from a file or stdin.
const MAX_INPUT: u64 = 64 << 20;

/// `silo pii` commands.
#[derive(clap::Subcommand, Debug)]
pub enum PiiCmd {
    /// Show the personal data found in a text: byte spans, kinds and which layer found them.
    Scan(TextArgs),
    /// Replace personal data by task-scoped tokens, using a scratch vault.
    Tokenize {
        #[command(flatten)]
        text: TextArgs,
        /// The task the tokens belong to.
        #[arg(long, default_value = "debug-task")]
        task: String,
        /// The scratch vault [default: <data-dir>/pii-scratch].
        #[arg(long)]
        vault: Option<PathBuf>,
    },
    /// Put the values back for tokens the scratch vault issued for the task.
    Hydrate {
        /// A file, or `-` for standard input.
        #[arg(default_value = "-")]
        input: String,
        /// The task the tokens belong to.
        #[arg(long, default_value = "debug-task")]
        task: String,
        /// The scratch vault [default: <data-dir>/pii-scratch].
        #[arg(long)]
        vault: Option<PathBuf>,
    },
    /// Resolve one token of the real vault (for compliance); the reveal is audited.
    Reveal {
        /// The task the token was issued in.
        #[arg(long)]
        task: String,
        /// Who is asking (recorded in the audit log).
        #[arg(long)]
        operator: String,
        /// Why (recorded in the audit log).
        #[arg(long)]
        reason: String,
        /// The token, e.g. `[EMAIL_1]`.
        token: String,
    },
}

/// Input text and the customer's known values.
#[derive(clap::Args, Debug)]
pub struct TextArgs {
    /// A file, or `-` for standard input.
    #[arg(default_value = "-")]
    pub input: String,
    /// A value the customer is known to have, KIND=VALUE (e.g. `name=Jane Smith`); repeatable.
    #[arg(long = "known", value_name = "KIND=VALUE")]
    pub known: Vec<String>,
}

fn read_input(input: &str) -> anyhow::Result<String> {
    let mut text = String::new();
    if input == "-" {
        std::io::stdin()
            .take(MAX_INPUT + 1)
            .read_to_string(&mut text)
            .context("reading standard input as UTF-8")?;
    } else {
        std::fs::File::open(input)
            .with_context(|| format!("opening `{input}`"))?
            .take(MAX_INPUT + 1)
            .read_to_string(&mut text)
            .with_context(|| format!("reading `{input}` as UTF-8"))?;
    }
    if text.len() as u64 > MAX_INPUT {
        bail!("input is larger than {} MiB", MAX_INPUT >> 20);
    }
    Ok(text)
}

fn known_set(pairs: &[String]) -> anyhow::Result<KnownSet> {
    let mut values = Vec::new();
    for p in pairs {
        let (kind, value) = p
            .split_once('=')
            .with_context(|| format!("--known `{p}` must be KIND=VALUE"))?;
        let kind: PiiKind = kind
            .trim()
            .to_ascii_uppercase()
            .parse()
            .map_err(|e| anyhow::anyhow!("--known: {e}"))?;
        values.push(KnownValue::new(kind, value));
    }
    Ok(KnownSet::new(&values)?)
}

fn scratch(vault: Option<PathBuf>, ctx: &Ctx) -> anyhow::Result<Vault> {
    let dir = vault.unwrap_or_else(|| ctx.data_dir.join("pii-scratch"));
    Vault::open(&dir).with_context(|| format!("opening the scratch vault `{}`", dir.display()))
}

/// Runs a `silo pii` command.
pub fn run(cmd: PiiCmd, ctx: &Ctx) -> anyhow::Result<u8> {
    match cmd {
        PiiCmd::Scan(args) => {
            let text = read_input(&args.input)?;
            let spans = silo_pii::scan(&text, &known_set(&args.known)?)?;
            if ctx.json {
                let rows: Vec<_> = spans
                    .iter()
                    .map(|s| {
                        serde_json::json!({
                            "start": s.start, "end": s.end, "kind": s.kind.as_str(),
                            "layer": s.layer.as_str(), "text": text.get(s.start..s.end),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for s in &spans {
                    println!(
                        "{:>7}..{:<7} {:<8} {:<10} {:?}",
                        s.start,
                        s.end,
                        s.kind.as_str(),
                        s.layer.as_str(),
                        text.get(s.start..s.end).unwrap_or("")
                    );
                }
                eprintln!("{} spans", spans.len());
            }
            Ok(0)
        }
        PiiCmd::Tokenize { text, task, vault } => {
            let input = read_input(&text.input)?;
            let out =
                scratch(vault, ctx)?.tokenize_text(&task, &input, &known_set(&text.known)?)?;
            if ctx.json {
                println!(
                    "{}",
                    serde_json::json!({"task": task, "text": out.text, "escaped": out.escaped})
                );
                return Ok(0);
            }
            print!("{}", out.text);
            if out.escaped > 0 {
                eprintln!(
                    "silo: {} token-shaped strings in the input were escaped",
                    out.escaped
                );
            }
            Ok(0)
        }
        PiiCmd::Hydrate { input, task, vault } => {
            let text = read_input(&input)?;
            let all: Vec<PiiKind> = PiiKind::ALL.to_vec();
            let hydrated = scratch(vault, ctx)?.hydrate_tokens(&task, &text, &all)?;
            if ctx.json {
                println!("{}", serde_json::json!({"task": task, "text": hydrated}));
            } else {
                print!("{hydrated}");
            }
            Ok(0)
        }
        PiiCmd::Reveal {
            task,
            operator,
            reason,
            token,
        } => reveal(ctx, &task, &operator, &reason, &token),
    }
}

fn reveal(ctx: &Ctx, task: &str, operator: &str, reason: &str, token: &str) -> anyhow::Result<u8> {
    if reason.trim().is_empty() {
        bail!("--reason must say why the value is needed");
    }
    let dir = ctx.data_dir.join("vault");
    if !dir.exists() {
        bail!(
            "no vault at `{}`: nothing was tokenised in this data directory",
            dir.display()
        );
    }
    let vault = Vault::open(&dir).context("opening the vault")?;
    let audit = crate::cmd::backend::audit_log(ctx)?;
    let found = vault.resolve(task, token)?;
    // Recorded before the value is shown; the entry names the token and its kind, never
    // the value.
    let mut detail = serde_json::json!({
        "token": token.chars().take(32).collect::<String>(),
        "found": found.is_some(),
        "reason": reason.chars().take(256).collect::<String>(),
    });
    if let Some((kind, _)) = &found {
        detail["kind"] = serde_json::Value::from(kind.as_str());
    }
    let draft = EntryDraft::new(
        Actor::new(format!("operator:{operator}"))
            .map_err(|e| anyhow::anyhow!("--operator: {e}"))?,
        ActionName::new("pii.reveal")?,
        if found.is_some() {
            Decision::Allow
        } else {
            Decision::NotApplicable
        },
    )
    .task(TaskId::new(task).map_err(|e| anyhow::anyhow!("--task: {e}"))?)
    .detail(Detail::new(detail)?);
    audit.append(draft).context("recording the reveal")?;
    match found {
        Some((kind, value)) => {
            if ctx.json {
                println!(
                    "{}",
                    serde_json::json!({"task": task, "token": token, "kind": kind.as_str(), "value": value})
                );
            } else {
                println!("{} {value}", kind.as_str());
            }
            Ok(0)
        }
        None => {
            eprintln!("silo: `{token}` is not a token of task `{task}`");
            Ok(1)
        }
    }
}
