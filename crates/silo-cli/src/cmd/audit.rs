//! `silo audit`: verify, tail, query, checkpoint and export the audit log (arguments and output only).
//!
//! Exit codes: 0 when all is well, 3 when the log is tampered with or a checkpoint is
//! refused (the message names the first bad seq), 1 for any other error.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use anyhow::Context;
use silo_audit::{
    ActionName, AgentName, AuditLog, CheckpointFile, CheckpointKey, CheckpointPublicKey,
    CustomerToken, Decision, Entry, Query, SignedCheckpoint, TaskId, Timestamp, Verified,
    VerifyError,
};

/// Exit code for a tampered log or a refused checkpoint.
pub const EXIT_TAMPERED: u8 = 3;

/// How often `tail --follow` looks for new entries.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(500);

/// The audit log: an append-only, tamper-evident record of every step.
#[derive(clap::Subcommand, Debug)]
pub enum AuditCmd {
    /// Recompute the hash chain and the Merkle root; exit 3 naming the first bad entry.
    ///
    /// Without `--checkpoint`, the log is also checked against the last checkpoint saved
    /// beside it (when the local checkpoint key exists).
    #[command(after_help = "Examples:
  silo audit verify
  silo audit verify --checkpoint cp.json --public-key 3f1c…   (the key kept off this machine)
  silo --json audit verify

Exit status:
  0: the log verifies (and extends the checkpoint)
  3: the log was tampered with (the first bad seq is named) or the checkpoint is refused;
     with --json the verdict is on standard output as {\"ok\": false, …}
  1: any other error (the log cannot be read)")]
    Verify {
        /// A checkpoint file from `silo audit export`: the log must still extend it.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// The trusted checkpoint public key: 64 hex characters, or a file holding them
        /// (or an exported checkpoint). Defaults to this data directory's key; pin the
        /// exported key instead to catch someone who also replaced the key.
        #[arg(long, value_name = "HEX|FILE")]
        public_key: Option<String>,
    },
    /// Show the last entries.
    ///
    /// With `--json`, one entry a line (JSON Lines) in its stored, canonical form; with
    /// `--follow` the lines keep coming as entries are appended.
    #[command(after_help = "Examples:
  silo audit tail -n 50
  silo --json audit tail -f | jq -c 'select(.decision == \"deny\")'")]
    Tail {
        /// How many entries.
        #[arg(short = 'n', long, value_name = "N", default_value_t = 20)]
        n: usize,
        /// Keep printing new entries as they are appended (Ctrl-C to stop).
        #[arg(short = 'f', long)]
        follow: bool,
    },
    /// Find entries: all given filters must match; the latest `--limit` are shown.
    ///
    /// With `--json`, one entry a line (JSON Lines) in its stored, canonical form, oldest
    /// first: the same lines `silo audit tail` prints.
    #[command(after_help = "Examples:
  silo audit query --task T-1
  silo audit query --family T-1                  a router task, its turns and operators
  silo audit query --decision deny --since 2026-01-01T00:00:00Z --limit 20
  silo --json audit query --action refund.issue --customer cus_001 | jq .detail")]
    Query {
        /// Task id.
        #[arg(long)]
        task: Option<TaskId>,
        /// A router task and everything under it: its agents' turns (`ID.1`, `ID.2`, …)
        /// and its operators' actions (`ID.op-…`).
        #[arg(long, value_name = "TASK")]
        family: Option<TaskId>,
        /// Agent name.
        #[arg(long)]
        agent: Option<AgentName>,
        /// Customer token.
        #[arg(long)]
        customer: Option<CustomerToken>,
        /// Action, e.g. `refund.issue`.
        #[arg(long)]
        action: Option<ActionName>,
        /// Decision: `allow`, `deny`, `needs_approval` or `none`.
        #[arg(long, value_name = "DECISION")]
        decision: Option<Decision>,
        /// Only entries at or after this RFC 3339 time.
        #[arg(long, value_name = "RFC3339")]
        since: Option<Timestamp>,
        /// Only entries before this RFC 3339 time.
        #[arg(long, value_name = "RFC3339")]
        until: Option<Timestamp>,
        /// At most this many entries (the latest).
        #[arg(long, value_name = "N", default_value_t = 100)]
        limit: usize,
    },
    /// Sign a checkpoint of the verified log and write it with the public key, to keep off
    /// this machine.
    #[command(after_help = "Examples:
  silo audit export --out /mnt/offsite/checkpoint-$(date +%F).json
  silo audit verify --checkpoint /mnt/offsite/checkpoint-2026-01-01.json \\
      --public-key /mnt/offsite/checkpoint-2026-01-01.json

Exit status: 0 written; 3 the log does not verify (nothing is signed); 1 any other error.")]
    Export {
        /// Where to write the checkpoint JSON (default: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Verify the log, then sign and save a checkpoint of it.
    ///
    /// The checkpoint is kept beside the log: a later `silo audit verify` checks that the
    /// log still extends it (catching a truncation).
    #[command(
        after_help = "Exit status: 0 saved; 3 the log does not verify (nothing is signed); 1 any other error."
    )]
    Checkpoint,
}

/// Runs one `silo audit` command.
pub fn run(cmd: AuditCmd, ctx: &crate::Ctx) -> anyhow::Result<u8> {
    let log = crate::cmd::backend::audit_log(ctx)?;
    match cmd {
        AuditCmd::Verify {
            checkpoint,
            public_key,
        } => verify(&log, ctx, checkpoint.as_deref(), public_key.as_deref()),
        AuditCmd::Tail { n, follow } => tail(&log, ctx, n, follow),
        AuditCmd::Query {
            task,
            family,
            agent,
            customer,
            action,
            decision,
            since,
            until,
            limit,
        } => {
            let query = Query {
                task,
                task_family: family,
                agent,
                customer,
                action,
                decision,
                since,
                until,
                after_seq: None,
                limit: Some(limit),
            };
            print_entries(ctx, &log.query(&query)?)?;
            Ok(0)
        }
        AuditCmd::Export { out } => export(&log, ctx, out.as_deref()),
        AuditCmd::Checkpoint => {
            let signed = log.checkpoint();
            match signed {
                Ok(signed) => {
                    print_checkpoint(ctx, &signed)?;
                    Ok(0)
                }
                Err(silo_audit::AuditError::Verify(e)) => report_failure(ctx, &e),
                Err(e) => Err(e.into()),
            }
        }
    }
}

fn verify(
    log: &AuditLog,
    ctx: &crate::Ctx,
    checkpoint_file: Option<&Path>,
    public_key: Option<&str>,
) -> anyhow::Result<u8> {
    let key_path = AuditLog::key_path(&ctx.data_dir);
    let (checkpoint, trusted) = match checkpoint_file {
        Some(path) => {
            let bytes = fs::read(path)
                .with_context(|| format!("reading checkpoint `{}`", path.display()))?;
            let file = CheckpointFile::from_json(&bytes)
                .with_context(|| format!("reading checkpoint `{}`", path.display()))?;
            let trusted = match public_key {
                Some(spec) => parse_public_key(spec)?,
                None => local_public_key(&key_path)?.with_context(|| {
                    format!(
                        "no checkpoint key at `{}`; pass `--public-key` with the exported key",
                        key_path.display()
                    )
                })?,
            };
            (Some(file.signed()), Some(trusted))
        }
        None => {
            let trusted = match public_key {
                Some(spec) => Some(parse_public_key(spec)?),
                None => local_public_key(&key_path)?,
            };
            // The last checkpoint saved beside the log catches a truncation after it. On a
            // shared database it may have been signed by another host's key: only one
            // signed by the trusted key is checked here (pass that host's checkpoint and
            // `--public-key` to check it).
            let saved = match &trusted {
                Some(key) => log
                    .latest_checkpoint()?
                    .filter(|cp| cp.checkpoint.kid == key.kid()),
                None => None,
            };
            (saved, trusted)
        }
    };
    let result = match (&checkpoint, &trusted) {
        (Some(cp), Some(key)) => log.verify_against(cp, key),
        _ => log.verify(),
    };
    match result {
        Ok(verified) => {
            print_verified(ctx, &verified, checkpoint.as_ref())?;
            Ok(0)
        }
        Err(e) => report_failure(ctx, &e),
    }
}

/// The local checkpoint public key, if the key file exists (verification never creates one).
fn local_public_key(path: &Path) -> anyhow::Result<Option<CheckpointPublicKey>> {
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(CheckpointKey::load(path)?.public_key()))
}

fn parse_public_key(spec: &str) -> anyhow::Result<CheckpointPublicKey> {
    if let Ok(key) = spec.parse::<CheckpointPublicKey>() {
        return Ok(key);
    }
    let text = fs::read_to_string(spec)
        .with_context(|| format!("`{spec}` is neither a hex public key nor a readable file"))?;
    if let Ok(key) = text.parse::<CheckpointPublicKey>() {
        return Ok(key);
    }
    CheckpointFile::from_json(text.as_bytes())
        .ok()
        .and_then(|f| f.public_key)
        .with_context(|| format!("`{spec}` holds no checkpoint public key"))
}

fn report_failure(ctx: &crate::Ctx, err: &VerifyError) -> anyhow::Result<u8> {
    let (kind, first_bad_seq) = match err {
        VerifyError::Tamper(t) => ("tampered", t.first_bad_seq()),
        VerifyError::Checkpoint(_) => ("checkpoint_refused", None),
        VerifyError::Store(_) => return Err(anyhow::anyhow!("{err}")),
    };
    // The verdict is the result: as JSON on stdout with `--json`; the message on stderr
    // either way.
    if ctx.json {
        let out = serde_json::json!({
            "ok": false,
            "kind": kind,
            "first_bad_seq": first_bad_seq,
            "error": err.to_string(),
        });
        println!("{out}");
    }
    eprintln!("silo: {err}");
    if let Some(seq) = first_bad_seq {
        eprintln!("silo: first bad entry: seq {seq}");
    }
    Ok(EXIT_TAMPERED)
}

fn print_verified(
    ctx: &crate::Ctx,
    verified: &Verified,
    checkpoint: Option<&SignedCheckpoint>,
) -> anyhow::Result<()> {
    if ctx.json {
        let out = serde_json::json!({
            "ok": true,
            "size": verified.size,
            "root": verified.root,
            "checkpoint": checkpoint.map(|c| &c.checkpoint),
        });
        println!("{out}");
    } else {
        println!(
            "ok: {} entries, Merkle root {}",
            verified.size, verified.root
        );
        if let Some(cp) = checkpoint {
            println!(
                "ok: extends the checkpoint of {} entries signed by key {} at {}",
                cp.checkpoint.size, cp.checkpoint.kid, cp.checkpoint.time
            );
        }
    }
    Ok(())
}

fn tail(log: &AuditLog, ctx: &crate::Ctx, n: usize, follow: bool) -> anyhow::Result<u8> {
    let entries = log.tail(n)?;
    print_entries(ctx, &entries)?;
    if !follow {
        return Ok(0);
    }
    let mut last = entries.last().map(|e| e.seq);
    if last.is_none() {
        last = log.len()?.checked_sub(1);
    }
    loop {
        thread::sleep(FOLLOW_INTERVAL);
        let query = Query {
            after_seq: last,
            limit: Some(1000),
            ..Query::all()
        };
        let new = log.query(&query)?;
        if let Some(e) = new.last() {
            last = Some(e.seq);
        }
        print_entries(ctx, &new)?;
    }
}

fn print_entries(ctx: &crate::Ctx, entries: &[Entry]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for e in entries {
        if ctx.json {
            // JSON Lines: one entry per line, as stored (canonical form).
            let line = e.canonical()?;
            out.write_all(&line)?;
            out.write_all(b"\n")?;
        } else {
            writeln!(out, "{}", entry_line(e))?;
        }
    }
    out.flush()?;
    Ok(())
}

fn entry_line(e: &Entry) -> String {
    let mut line = format!(
        "{:>6}  {}  {:<10} {:<16} {:<14}",
        e.seq,
        e.time,
        e.actor,
        e.action,
        e.decision.as_str()
    );
    let fields = [
        ("task", e.task.as_ref().map(|v| v.to_string())),
        ("agent", e.agent.as_ref().map(|v| v.to_string())),
        ("customer", e.customer.as_ref().map(|v| v.to_string())),
        ("rule", e.rule.as_ref().map(|v| v.to_string())),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            line.push_str(&format!(" {name}={v}"));
        }
    }
    if !e.detail.is_empty() {
        line.push_str(&format!(" {}", serde_json::Value::from(e.detail.clone())));
    }
    line
}

fn export(log: &AuditLog, ctx: &crate::Ctx, out: Option<&Path>) -> anyhow::Result<u8> {
    let file = match log.export() {
        Ok(file) => file,
        Err(silo_audit::AuditError::Verify(e)) => return report_failure(ctx, &e),
        Err(e) => return Err(e.into()),
    };
    let bytes = file.to_json()?;
    match out {
        None => std::io::stdout().lock().write_all(&bytes)?,
        Some(path) => {
            fs::write(path, &bytes)
                .with_context(|| format!("writing checkpoint `{}`", path.display()))?;
            if ctx.json {
                let out = serde_json::json!({
                    "out": path,
                    "size": file.checkpoint.size,
                    "root": file.checkpoint.root,
                    "kid": file.checkpoint.kid,
                });
                println!("{out}");
            } else {
                println!(
                    "wrote checkpoint of {} entries (root {}, key {}) to `{}`; keep it and the public key off this machine",
                    file.checkpoint.size,
                    file.checkpoint.root,
                    file.checkpoint.kid,
                    path.display()
                );
            }
        }
    }
    Ok(0)
}

fn print_checkpoint(ctx: &crate::Ctx, signed: &SignedCheckpoint) -> anyhow::Result<()> {
    if ctx.json {
        println!("{}", serde_json::to_string(signed)?);
    } else {
        let cp = &signed.checkpoint;
        println!(
            "checkpoint: {} entries, root {}, signed by key {} at {}",
            cp.size, cp.root, cp.kid, cp.time
        );
    }
    Ok(())
}
