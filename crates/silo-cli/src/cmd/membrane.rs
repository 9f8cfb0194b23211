//! `silo membrane`: read what agents did through their membranes — the refund ledger and
//! the outcomes tasks recorded (arguments and output only).

use anyhow::bail;
use silo_membrane::{Outcome, Services};

/// The membrane's embedded stores: refunds paid and outcomes recorded.
#[derive(clap::Subcommand, Debug)]
pub enum MembraneCmd {
    /// List the refunds paid to a customer (by customer token), oldest first.
    Ledger {
        /// The customer token, e.g. `cus_7`.
        #[arg(long)]
        customer: String,
    },
    /// Show the outcome a task recorded (complete or escalate).
    Outcome {
        /// The task id.
        #[arg(long)]
        task: String,
    },
}

/// Runs a `silo membrane` command.
pub fn run(cmd: MembraneCmd, ctx: &crate::Ctx) -> anyhow::Result<u8> {
    if !crate::cmd::backend::membrane_state_exists(ctx)? {
        bail!(
            "no membrane database at `{}`; nothing has run through a membrane in this data directory yet",
            Services::db_path(&ctx.data_dir).display()
        );
    }
    match cmd {
        MembraneCmd::Ledger { customer } => {
            let ledger = crate::cmd::backend::ledger(ctx)?;
            let refunds = ledger.refunds_for(&customer)?;
            if ctx.json {
                println!("{}", serde_json::to_string_pretty(&refunds)?);
            } else if refunds.is_empty() {
                println!("no refunds to `{customer}`");
            } else {
                for r in &refunds {
                    println!(
                        "{}  {:>12} {}  task {}  agent {}  key {}",
                        r.refund_id,
                        format_minor(r.amount_cents),
                        r.currency,
                        r.task,
                        r.agent,
                        r.idempotency_key
                    );
                }
            }
            Ok(0)
        }
        MembraneCmd::Outcome { task } => {
            let store = crate::cmd::backend::outcomes(ctx)?;
            let Some(recorded) = store.get(&task)? else {
                bail!("task `{task}` has recorded no outcome");
            };
            if ctx.json {
                println!("{}", serde_json::to_string_pretty(&recorded)?);
                return Ok(0);
            }
            match &recorded.outcome {
                Outcome::Complete {
                    status,
                    summary,
                    report,
                } => {
                    println!(
                        "task {}: {} ({})",
                        recorded.task,
                        status.as_str(),
                        recorded.agent
                    );
                    println!("summary: {summary}");
                    if let Some(report) = report {
                        println!("{}", report.render());
                    }
                }
                Outcome::Redirect {
                    target,
                    hard,
                    summary,
                    report,
                } => {
                    let code = if *hard { "301" } else { "302" };
                    println!(
                        "task {}: redirected ({code}) to {target} ({})",
                        recorded.task, recorded.agent
                    );
                    println!("summary: {summary}");
                    if let Some(report) = report {
                        println!("{}", report.render());
                    }
                }
                Outcome::Escalate {
                    target,
                    reason,
                    recommendation,
                } => {
                    println!(
                        "task {}: escalated to {target} ({})",
                        recorded.task, recorded.agent
                    );
                    println!("reason: {reason}");
                    println!("recommendation: {recommendation}");
                }
            }
            Ok(0)
        }
    }
}

/// `2500` → `25.00`: minor units shown with two decimals (display only).
fn format_minor(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_units_format_with_two_decimals() {
        assert_eq!(format_minor(2500), "25.00");
        assert_eq!(format_minor(7), "0.07");
        assert_eq!(format_minor(-120), "-1.20");
    }
}
