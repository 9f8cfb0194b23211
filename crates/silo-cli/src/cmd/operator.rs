//! `silo operator`: the console's operator accounts (`silo-console`'s accounts database).
//! An account signs a person in; what they may do comes from `operators:` in silo.yaml
//! (pool, capabilities, admin), so an account needs an entry there.

use std::io::BufRead;

use anyhow::Context;
use silo_console::Accounts;

use crate::Ctx;

/// `silo operator` commands.
#[derive(clap::Subcommand, Debug)]
pub enum OperatorCmd {
    /// Create an account, or set a new password (which signs the operator out everywhere).
    Add {
        /// The operator (must be under `operators:` in silo.yaml).
        name: String,
        /// Read the password from the first line of standard input instead of asking.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove an account and its sessions.
    Remove {
        /// The operator.
        name: String,
    },
    /// The accounts, with their pool and whether silo.yaml still lists them.
    List,
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !from_stdin {
        eprintln!("password (at least {} characters; input is shown — pipe it with --password-stdin to keep it off the screen):", silo_console::accounts::MIN_PASSWORD_CHARS);
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        anyhow::bail!("no password given on standard input");
    }
    Ok(password)
}

/// Runs a `silo operator` command.
pub fn run(cmd: OperatorCmd, ctx: &Ctx) -> anyhow::Result<u8> {
    let accounts = || {
        Accounts::open(&ctx.data_dir)
            .with_context(|| format!("opening `{}`", Accounts::path(&ctx.data_dir).display()))
    };
    match cmd {
        OperatorCmd::Add {
            name,
            password_stdin,
        } => {
            if !ctx.config.operators.contains_key(&name) {
                anyhow::bail!(
                    "`{name}` is not under `operators:` in {}; add them there first (pool, capabilities)",
                    ctx.config
                        .file
                        .as_ref()
                        .map_or("silo.yaml".to_owned(), |f| f.display().to_string())
                );
            }
            let password = read_password(password_stdin)?;
            let created = accounts()?.set_password(&name, &password, silo_keys::now_unix())?;
            if ctx.json {
                println!(
                    "{}",
                    serde_json::json!({"operator": name, "created": created})
                );
            } else if created {
                println!("operator `{name}` can sign in to the console");
            } else {
                println!("operator `{name}` has a new password; their sessions are ended");
            }
            Ok(0)
        }
        OperatorCmd::Remove { name } => {
            accounts()?.remove(&name)?;
            if ctx.json {
                println!("{}", serde_json::json!({"operator": name, "removed": true}));
            } else {
                println!("operator `{name}` removed");
            }
            Ok(0)
        }
        OperatorCmd::List => {
            let names = accounts()?.names()?;
            let rows: Vec<serde_json::Value> = names
                .iter()
                .map(|n| {
                    let op = ctx.config.operators.get(n);
                    serde_json::json!({
                        "operator": n,
                        "pool": op.map(|o| o.pool.clone()),
                        "admin": op.is_some_and(|o| o.admin),
                        "in_project": op.is_some(),
                    })
                })
                .collect();
            if ctx.json {
                println!("{}", serde_json::Value::Array(rows));
            } else if rows.is_empty() {
                println!("no operator accounts (silo operator add NAME)");
            } else {
                for r in &rows {
                    println!(
                        "{:<20} pool {:<12} {}{}",
                        r["operator"].as_str().unwrap_or(""),
                        r["pool"].as_str().unwrap_or("-"),
                        if r["admin"] == true { "admin" } else { "" },
                        if r["in_project"] == true {
                            ""
                        } else {
                            " (not in silo.yaml: cannot sign in)"
                        }
                    );
                }
            }
            Ok(0)
        }
    }
}
