//! `silo redteam`: the adversarial suite (`silo-redteam`) through real cells and the real
//! membrane, with a table per category and the legitimate suite's false positives.

use anyhow::Context;
use silo_redteam::{Category, Selection, Verdict};

/// Arguments of `silo redteam`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  silo redteam                                  every case (needs root)
  silo redteam --category privacy --category keys -v
  silo redteam --list --only exfil
  silo --json redteam > report.json

Exit status: 0 nothing got through and nothing legitimate was refused; 1 otherwise.")]
pub struct RedteamArgs {
    /// Only these categories (repeatable): containment, keys, authority, privacy,
    /// membrane, audit, persistence, cross_task, legitimate.
    #[arg(long = "category", value_name = "CATEGORY")]
    pub categories: Vec<String>,
    /// Only cases whose id contains this.
    #[arg(long)]
    pub only: Option<String>,
    /// List the cases instead of running them.
    #[arg(long)]
    pub list: bool,
    /// Print every case's verdict and evidence, not only failures.
    #[arg(long, short)]
    pub verbose: bool,
}

/// Runs `silo redteam`: exit 0 when nothing got through and nothing legitimate was
/// refused, 1 otherwise.
pub fn run(args: RedteamArgs, ctx: &crate::Ctx) -> anyhow::Result<u8> {
    let mut categories = Vec::new();
    for name in &args.categories {
        categories.push(Category::from_name(name).with_context(|| {
            let names: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
            format!("--category `{name}` is not one of {}", names.join(", "))
        })?);
    }
    let selection = Selection {
        categories,
        id_contains: args.only.clone(),
    };
    if args.list {
        let mut rows = Vec::new();
        for a in silo_redteam::catalog::all() {
            if (selection.categories.is_empty() || selection.categories.contains(&a.category))
                && args.only.as_deref().is_none_or(|s| a.id.contains(s))
            {
                if ctx.json {
                    rows.push(serde_json::json!({
                        "category": a.category.as_str(), "id": a.id, "title": a.title,
                    }));
                } else {
                    println!("{:<12} {:<40} {}", a.category.as_str(), a.id, a.title);
                }
            }
        }
        if ctx.json {
            println!("{}", serde_json::to_string_pretty(&rows)?);
        }
        return Ok(0);
    }
    let exe = std::env::current_exe().context("cannot find the running `silo` binary")?;
    let json = ctx.json;
    let verbose = args.verbose;
    let report = silo_redteam::run(&exe, &selection, |i, n, r| {
        if json {
            return;
        }
        let failed = matches!(
            r.verdict,
            Verdict::Breached | Verdict::FalsePositive | Verdict::Error
        );
        if verbose || failed {
            eprintln!(
                "[{i:>3}/{n}] {:<13} {:<40} {}",
                format!("{:?}", r.verdict).to_uppercase(),
                r.id,
                r.evidence.join(" · ")
            );
        } else if i % 25 == 0 || i == n {
            eprintln!("[{i:>3}/{n}] …");
        }
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{:<14} {:>9} {:>8} {:>9} {:>7}",
            "category", "attempted", "blocked", "breached", "errors"
        );
        for (cat, t) in &report.by_category {
            if *cat == Category::Legitimate {
                continue;
            }
            println!(
                "{:<14} {:>9} {:>8} {:>9} {:>7}",
                cat.as_str(),
                t.attempted,
                t.blocked,
                t.breached,
                t.errors
            );
        }
        let a = &report.attacks;
        println!(
            "{:<14} {:>9} {:>8} {:>9} {:>7}",
            "all attacks", a.attempted, a.blocked, a.breached, a.errors
        );
        let l = &report.legitimate;
        println!(
            "\nlegitimate suite: {} operations, {} allowed, {} false positives, {} errors",
            l.attempted, l.allowed, l.false_positives, l.errors
        );
        if !report.by_agent_os.is_empty() {
            println!("\nby Agent OS red-team category (action-level versions, docs/REDTEAM.md):");
            for (os, t) in &report.by_agent_os {
                println!(
                    "  {:<22} {:>3} cases: {} blocked, {} breached, {} allowed, {} false positives",
                    os.as_str(),
                    t.attempted,
                    t.blocked,
                    t.breached,
                    t.allowed,
                    t.false_positives
                );
            }
        }
        println!(
            "\n{} in {:.1} s",
            if report.passed() {
                "PASS: nothing got through, nothing legitimate was refused"
            } else {
                "FAIL"
            },
            report.millis as f64 / 1000.0
        );
    }
    Ok(if report.passed() { 0 } else { 1 })
}
