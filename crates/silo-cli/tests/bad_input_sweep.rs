//! Every command, every argument, hostile values: the command tree is read from `silo -h`
//! (so a new command is swept without anyone listing it), and each leaf command is run with
//! oversized, non-UTF-8, traversal, negative, empty and malformed values for its required
//! slots and each of its options. Whatever it decides, it must decide it cleanly: no panic
//! (exit 101 or "panicked at"), no death by a signal, no hang, and a non-zero exit always
//! comes with a message on standard error. A broken project file names the file, the line
//! and the field.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Commands that serve, or run the whole demo or red-team suite, when their arguments are
/// acceptable: swept for argument errors only when they are given a bad value (a good one
/// that starts them is stopped at the time limit and not counted as a hang).
const LONG_RUNNING: [&str; 3] = ["serve", "demo", "redteam"];

/// Options every command has; their handling is shared, so they are swept once, on `task list`.
const GLOBAL: [&str; 8] = [
    "config",
    "data-dir",
    "json",
    "database",
    "log-format",
    "otlp-endpoint",
    "help",
    "version",
];

fn junk() -> Vec<(&'static str, OsString)> {
    vec![
        ("long", OsString::from("A".repeat(64 * 1024))),
        ("non-utf8", OsString::from_vec(vec![0xff, 0xfe, b'x'])),
        ("traversal", OsString::from("../../../../../../etc/passwd")),
        ("negative", OsString::from("-1")),
        ("empty", OsString::new()),
        ("bidi", OsString::from("\u{202e}gnp.exe")),
        ("json-ish", OsString::from("{\"a\":")),
        ("huge-number", OsString::from("99999999999999999999999")),
    ]
}

/// A leaf command: its words, the value-taking options, and the slots its usage requires.
#[derive(Debug, Clone)]
struct Leaf {
    path: Vec<String>,
    options: Vec<String>,
    required_options: Vec<String>,
    positionals: usize,
}

fn help(path: &[String]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_silo"))
        .args(path)
        .arg("-h")
        .output()
        .unwrap();
    assert!(out.status.success(), "{path:?} -h: {:?}", out);
    String::from_utf8(out.stdout).unwrap()
}

/// Walks `silo -h`, `silo task -h`, … down to the commands that have no subcommands.
fn leaves(path: Vec<String>, out: &mut Vec<Leaf>) {
    let text = help(&path);
    let mut section = "";
    let mut subs = Vec::new();
    let mut options = Vec::new();
    for line in text.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            section = line.trim_end_matches(':');
            continue;
        }
        let t = line.trim_start();
        match section {
            "Commands" => {
                if let Some(name) = t.split_whitespace().next() {
                    if name != "help" && line.starts_with("  ") && !line.starts_with("   ") {
                        subs.push(name.to_owned());
                    }
                }
            }
            "Options" => {
                // `-n, --name <VALUE>` or `--name <VALUE>`; flags have no `<`.
                let spec = t.split("  ").next().unwrap_or("");
                if let Some(long) = spec.split("--").nth(1) {
                    let mut words = long.split_whitespace();
                    let name = words.next().unwrap_or("").to_owned();
                    if words.next().is_some_and(|v| v.starts_with('<'))
                        && !GLOBAL.contains(&name.as_str())
                    {
                        options.push(name);
                    }
                }
            }
            _ => {}
        }
    }
    if !subs.is_empty() {
        for s in subs {
            let mut p = path.clone();
            p.push(s);
            leaves(p, out);
        }
        return;
    }
    let usage = text
        .lines()
        .find(|l| l.starts_with("Usage:"))
        .unwrap_or("")
        .to_owned();
    // Outside brackets: `--name <V>` is a required option, `<NAME>` a required positional.
    let mut depth = 0i32;
    let mut top = String::new();
    for c in usage.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ if depth == 0 => top.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = top.split_whitespace().collect();
    let mut required_options = Vec::new();
    let mut positionals = 0;
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        if let Some(name) = w.strip_prefix("--") {
            required_options.push(name.to_owned());
            i += 2;
            continue;
        }
        if w.starts_with('<') {
            positionals += 1;
        }
        i += 1;
    }
    out.push(Leaf {
        path,
        options,
        required_options,
        positionals,
    });
}

struct Verdict {
    argv: String,
    problem: String,
}

fn shown(args: &[OsString]) -> String {
    args.iter()
        .map(|a| {
            let s = a.to_string_lossy();
            if s.len() > 40 {
                format!("{}…({} bytes)", &s[..20], s.len())
            } else {
                format!("{s:?}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs one command line and judges it.
fn judge(args: Vec<OsString>, data: &Path, cwd: &Path, long_running: bool) -> Option<Verdict> {
    // Standard error goes to a file: an error quoting a 64 KiB value fills a pipe nobody
    // reads until the child exits.
    std::fs::create_dir_all(data).unwrap();
    let err_path = data.with_extension("stderr");
    let err_file = std::fs::File::create(&err_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_silo"))
        .arg("--data-dir")
        .arg(data)
        .args(&args)
        .current_dir(cwd)
        .env_remove("SILO_CONFIG")
        .env_remove("SILO_DATABASE_URL")
        .env("SILO_RUN_DIR", data.join("run"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err_file)
        .spawn()
        .unwrap();
    let limit = if long_running {
        Duration::from_secs(4)
    } else {
        Duration::from_secs(30)
    };
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let err = String::from_utf8_lossy(&std::fs::read(&err_path).unwrap_or_default()).into_owned();
    let _ = std::fs::remove_file(&err_path);
    let argv = shown(&args);
    let problem = match status {
        None if long_running => return None,
        None => format!("still running after {limit:?}"),
        Some(s) if s.code().is_none() => format!("killed by a signal: {s:?}"),
        Some(s) if s.code() == Some(101) || err.contains("panicked at") => {
            format!("panicked: {err}")
        }
        Some(s) if s.code() != Some(0) && err.trim().is_empty() => {
            format!("exit {:?} with nothing on standard error", s.code())
        }
        Some(_) if err.contains("RUST_BACKTRACE") || err.contains("stack backtrace") => {
            format!("a backtrace reached the user: {err}")
        }
        _ => return None,
    };
    Some(Verdict { argv, problem })
}

#[test]
fn every_command_survives_hostile_arguments() {
    let mut all = Vec::new();
    leaves(Vec::new(), &mut all);
    // The tree is really there (a parsing slip must not make this test vacuous).
    for want in [
        "task submit",
        "audit query",
        "policy eval",
        "keys mint-task",
        "pii scan",
        "mcp",
    ] {
        assert!(
            all.iter().any(|l| l.path.join(" ") == want),
            "no `{want}` among {:?}",
            all.iter().map(|l| l.path.join(" ")).collect::<Vec<_>>()
        );
    }
    assert!(all.len() >= 40, "only {} commands found", all.len());

    // Every run gets a deep working folder of its own data, so a traversal value or a
    // relative output path lands inside the test's temporary folder.
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path().join("a/b/c/d/e/f/g/h/i/j");
    std::fs::create_dir_all(&cwd).unwrap();
    let mut runs: Vec<(Vec<OsString>, bool)> = Vec::new();
    for leaf in &all {
        let long = LONG_RUNNING.contains(&leaf.path[0].as_str());
        let base = |value: &OsString| {
            let mut v: Vec<OsString> = leaf.path.iter().map(OsString::from).collect();
            for o in &leaf.required_options {
                v.push(format!("--{o}").into());
                v.push(value.clone());
            }
            for _ in 0..leaf.positionals {
                v.push(value.clone());
            }
            v
        };
        // Required slots: every kind of junk.
        if !leaf.required_options.is_empty() || leaf.positionals > 0 {
            for (_, j) in junk() {
                runs.push((base(&j), long));
            }
        } else if !long {
            runs.push((base(&OsString::new()), false));
        }
        // Each option alone with the nastiest three (required slots get a plain word).
        for o in &leaf.options {
            if leaf.required_options.contains(o) {
                continue;
            }
            for (kind, j) in junk() {
                if !matches!(kind, "long" | "non-utf8" | "traversal" | "negative") {
                    continue;
                }
                let mut v = base(&OsString::from("x"));
                v.push(format!("--{o}").into());
                v.push(j);
                runs.push((v, long));
            }
        }
        // An unknown flag is a usage error, exit 2.
        let mut v = base(&OsString::from("x"));
        v.push("--no-such-flag".into());
        runs.push((v, long));
    }
    // The global options once.
    for (kind, j) in junk() {
        for g in ["config", "log-format", "database", "otlp-endpoint"] {
            if kind == "empty" && g == "database" {
                continue; // an empty database URL means "none", on purpose
            }
            runs.push((
                vec![
                    format!("--{g}").into(),
                    j.clone(),
                    "task".into(),
                    "list".into(),
                ],
                false,
            ));
        }
    }

    let total = runs.len();
    let queue = Mutex::new(runs.into_iter().enumerate().collect::<Vec<_>>());
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let Some((i, (args, long))) = queue.lock().unwrap().pop() else {
                    return;
                };
                let data = tmp.path().join(format!("data-{i}"));
                if let Some(v) = judge(args, &data, &cwd, long) {
                    failures.lock().unwrap().push(v);
                }
                let _ = std::fs::remove_dir_all(&data);
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    eprintln!("swept {} commands with {total} command lines", all.len());
    assert!(
        failures.is_empty(),
        "{} of {total} command lines misbehaved:\n{}",
        failures.len(),
        failures
            .iter()
            .take(30)
            .map(|f| format!("  silo {}\n    {}", f.argv, f.problem.trim()))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn a_broken_project_file_names_the_file_the_line_and_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    for (body, line, needle) in [
        (
            "agents: agents\nrouter:\n  max_redirect: 3\n",
            ":3",
            "max_redirect",
        ),
        (
            "agents: agents\nserve:\n  listen: nowhere\n",
            ":3",
            "listen",
        ),
        ("agents: [1, 2\n", ":", "silo.yaml"),
        (
            "routing:\n  routes:\n    refund: { agnt: x }\n",
            ":3",
            "agnt",
        ),
    ] {
        let file = tmp.path().join("silo.yaml");
        std::fs::write(&file, body).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_silo"))
            .arg("--config")
            .arg(&file)
            .args(["task", "list"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{body}: {err}");
        assert_ne!(out.status.code(), Some(101), "{body}: {err}");
        for want in ["silo.yaml", line, needle] {
            assert!(err.contains(want), "`{want}` missing for {body:?}: {err}");
        }
    }
}
