//! `silo keys`: the key store, minting, inspection and revocation (arguments and output only).
//!
//! Exit codes: 0 on success, 3 when `inspect` refuses the token (the output says why),
//! 1 for any other error.

use std::path::PathBuf;

use anyhow::Context as _;
use silo_keys::{
    decode_unverified, folder_hash, new_jti, now_unix, BaseKey, Capabilities, KeyStore, TaskKey,
    VerifyError, WorkflowRef, BASE_AUDIENCE, BASE_TTL_SECS, DEFAULT_OVERLAP_SECS, TASK_AUDIENCE,
    TASK_TTL_SECS,
};

/// Exit code when `inspect` refuses a token.
pub const EXIT_REFUSED: u8 = 3;

/// Base keys and task keys: the signing keys, minting, inspection, revocation.
#[derive(clap::Subcommand, Debug)]
#[command(after_help = "Examples:
  silo keys init
  silo keys rotate --overlap-secs 3600
  silo keys mint-base --agent agents/refund-agent --name refund-agent --version 1.0.0 \\
      --caps '{\"refund\":{\"max_cents\":50000,\"currency\":\"USD\"}}'
  silo keys inspect \"$TOKEN\" --agent-dir agents/refund-agent
  silo keys revoke 9f2c1e…

The store lives in <data-dir>/keys (private keys: file mode 0600).")]
pub enum KeysCmd {
    /// Create the key store in `<data-dir>/keys` with one Ed25519 signing key (file mode 0600).
    Init,
    /// Make a new signing key current; the old one keeps verifying for the overlap window.
    Rotate {
        /// Seconds the previous key keeps verifying.
        #[arg(long, value_name = "SECS", default_value_t = DEFAULT_OVERLAP_SECS)]
        overlap_secs: u64,
    },
    /// Decode a token, verify it against the key store and explain the verdict.
    #[command(
        after_help = "Exit status: 0 the token verifies; 3 it is refused (the output says why); \
1 any other error."
    )]
    Inspect {
        /// The token (base key or task key).
        token: String,
        /// For a task key: the cell id of the socket it is presented on
        /// (default: the cell named in the token, so cell binding is not tested).
        #[arg(long)]
        cell: Option<String>,
        /// For a base key: the agent folder, to check its content hash.
        #[arg(long, value_name = "DIR")]
        agent_dir: Option<PathBuf>,
    },
    /// Revoke a token by its `jti`; every later verification refuses it.
    Revoke {
        /// The token id.
        jti: String,
    },
    /// Mint a base key for an agent folder (its content hash is bound into the key).
    MintBase {
        /// The agent folder.
        #[arg(long, value_name = "DIR")]
        agent: PathBuf,
        /// Agent name.
        #[arg(long)]
        name: String,
        /// Agent version.
        #[arg(long)]
        version: String,
        /// Capabilities as JSON, e.g. `{"refund":{"max_cents":50000,"currency":"USD"}}`.
        #[arg(long, value_name = "JSON")]
        caps: String,
        /// Lifetime in seconds.
        #[arg(long, value_name = "SECS", default_value_t = BASE_TTL_SECS)]
        ttl_secs: u64,
    },
    /// Mint a task key bound to one cell (normally the router's job).
    MintTask {
        /// Agent name (must match the base key's).
        #[arg(long)]
        agent: String,
        /// Task id.
        #[arg(long)]
        task: String,
        /// Customer token.
        #[arg(long)]
        customer: String,
        /// Case id.
        #[arg(long)]
        case: String,
        /// Id of the cell the key is bound to.
        #[arg(long)]
        cell: String,
        /// Workflow run id (with `--workflow-stage`).
        #[arg(long, requires = "workflow_stage")]
        workflow_run: Option<String>,
        /// Workflow stage (with `--workflow-run`).
        #[arg(long, requires = "workflow_run")]
        workflow_stage: Option<String>,
        /// Lifetime in seconds (minutes, not hours).
        #[arg(long, value_name = "SECS", default_value_t = TASK_TTL_SECS)]
        ttl_secs: u64,
    },
}

/// Runs a `silo keys` command; returns the exit code.
pub fn run(cmd: KeysCmd, ctx: &crate::Ctx) -> anyhow::Result<u8> {
    let dir = ctx.data_dir.join("keys");
    let now = now_unix();
    match cmd {
        KeysCmd::Init => {
            // With a shared database the new public key is published there at once.
            let store = match ctx.database()? {
                Some(db) => KeyStore::init_with_postgres(&dir, now, &db)?,
                None => KeyStore::init(&dir, now)?,
            };
            emit(
                ctx,
                &serde_json::json!({"dir": dir, "kid": store.current_kid()}),
                &format!(
                    "key store created in `{}` (kid `{}`)",
                    dir.display(),
                    store.current_kid()
                ),
            );
            Ok(0)
        }
        KeysCmd::Rotate { overlap_secs } => {
            // Published to the shared database too: membranes on other hosts accept the
            // new key (and drop the old one when it retires).
            let mut store = open(ctx)?;
            let old = store.current_kid().to_string();
            let kid = store.rotate(now, overlap_secs)?;
            emit(
                ctx,
                &serde_json::json!({"kid": kid, "previous": old, "previous_retires_at": now.saturating_add(overlap_secs)}),
                &format!("new current key `{kid}`; `{old}` keeps verifying for {overlap_secs} s"),
            );
            Ok(0)
        }
        KeysCmd::Revoke { jti } => {
            let store = open(ctx)?;
            let fresh = store.revoke(&jti, now)?;
            let text = if fresh {
                format!("revoked `{jti}`")
            } else {
                format!("`{jti}` was already revoked")
            };
            emit(
                ctx,
                &serde_json::json!({"jti": jti, "newly_revoked": fresh}),
                &text,
            );
            Ok(0)
        }
        KeysCmd::Inspect {
            token,
            cell,
            agent_dir,
        } => inspect(ctx, &token, cell, agent_dir, now),
        KeysCmd::MintBase {
            agent,
            name,
            version,
            caps,
            ttl_secs,
        } => {
            let store = open(ctx)?;
            let hash = folder_hash(&agent)
                .with_context(|| format!("hashing agent folder `{}`", agent.display()))?;
            let caps = Capabilities::from_json(&caps)
                .map_err(|e| anyhow::anyhow!("invalid `--caps`: {e}"))?;
            let claims = BaseKey {
                aud: BASE_AUDIENCE.into(),
                jti: new_jti()?,
                iat: now,
                exp: now.saturating_add(ttl_secs),
                agent: name,
                version,
                folder_hash: hash.to_string(),
                caps,
            };
            let token = store.minter()?.mint_base(&claims)?;
            print_token(ctx, &token, &claims.jti, claims.exp);
            Ok(0)
        }
        KeysCmd::MintTask {
            agent,
            task,
            customer,
            case,
            cell,
            workflow_run,
            workflow_stage,
            ttl_secs,
        } => {
            let store = open(ctx)?;
            let workflow = match (workflow_run, workflow_stage) {
                (Some(run), Some(stage)) => Some(WorkflowRef { run, stage }),
                _ => None,
            };
            let claims = TaskKey {
                aud: TASK_AUDIENCE.into(),
                jti: new_jti()?,
                iat: now,
                nbf: now,
                exp: now.saturating_add(ttl_secs),
                task,
                agent,
                customer,
                case,
                workflow,
                cell,
            };
            let token = store.minter()?.mint_task(&claims)?;
            print_token(ctx, &token, &claims.jti, claims.exp);
            Ok(0)
        }
    }
}

fn open(ctx: &crate::Ctx) -> anyhow::Result<KeyStore> {
    crate::cmd::backend::key_store(ctx)
}

fn emit(ctx: &crate::Ctx, json: &serde_json::Value, text: &str) {
    if ctx.json {
        println!("{json}");
    } else {
        println!("{text}");
    }
}

fn print_token(ctx: &crate::Ctx, token: &str, jti: &str, exp: u64) {
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({"token": token, "jti": jti, "exp": exp})
        );
    } else {
        // The bare token, so `$(silo keys mint-task …)` works.
        println!("{token}");
    }
}

fn inspect(
    ctx: &crate::Ctx,
    token: &str,
    cell: Option<String>,
    agent_dir: Option<PathBuf>,
    now: u64,
) -> anyhow::Result<u8> {
    let (claims, header) = decode_unverified(token)?;
    let store = open(ctx)?;
    let verifier = store.verifier()?;
    let aud = claims.get("aud").and_then(|a| a.as_str()).unwrap_or("");
    let kid = header.get("kid").and_then(|k| k.as_str()).unwrap_or("");
    let kid_status = match store.keys().iter().find(|k| k.kid == kid) {
        None => "unknown to this key store".to_string(),
        Some(k) if k.kid == store.current_kid() => "current signing key".to_string(),
        Some(k) => match k.retire_at {
            Some(t) if now >= t => format!("retired at {t}"),
            Some(t) => format!("previous key, verifies until {t}"),
            None => "previous key".to_string(),
        },
    };
    let (kind, result): (&str, Result<(), VerifyError>) = match aud {
        BASE_AUDIENCE => {
            let hash = match &agent_dir {
                Some(d) => {
                    Some(folder_hash(d).with_context(|| format!("hashing `{}`", d.display()))?)
                }
                None => None,
            };
            (
                "base key",
                verifier.verify_base(token, now, hash.as_ref()).map(|_| ()),
            )
        }
        TASK_AUDIENCE => {
            let cell = cell.unwrap_or_else(|| {
                claims
                    .get("cell")
                    .and_then(|c| c.as_str())
                    .unwrap_or("")
                    .to_string()
            });
            (
                "task key",
                verifier.verify_task(token, &cell, now).map(|_| ()),
            )
        }
        // Try as a base key so the refusal names the audience problem.
        _ => (
            "unknown kind",
            verifier.verify_base(token, now, None).map(|_| ()),
        ),
    };
    let seconds_left = claims
        .get("exp")
        .and_then(|e| e.as_u64())
        .map(|exp| exp as i128 - now as i128);
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({
                "kind": kind,
                "header": header,
                "claims": claims,
                "kid_status": kid_status,
                "seconds_until_expiry": seconds_left,
                "valid": result.is_ok(),
                "refusal": result.as_ref().err().map(|e| e.to_string()),
            })
        );
    } else {
        println!("kind:      {kind}");
        println!(
            "algorithm: {}",
            header.get("alg").and_then(|a| a.as_str()).unwrap_or("?")
        );
        println!("key id:    `{kid}` ({kid_status})");
        if let Some(s) = seconds_left {
            if s >= 0 {
                println!("expires:   in {s} s");
            } else {
                println!("expires:   {} s ago", -s);
            }
        }
        println!("claims:\n{}", serde_json::to_string_pretty(&claims)?);
        match &result {
            Ok(()) => println!("verdict:   valid"),
            Err(e) => println!("verdict:   refused: {e}"),
        }
    }
    Ok(if result.is_ok() { 0 } else { EXIT_REFUSED })
}
