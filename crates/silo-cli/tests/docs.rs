//! The samples in README.md and docs/*.md are tested, so a newcomer who copies one gets
//! something that works. The convention, per fenced block:
//!
//! - ```` ```sh ```` (or `bash`, `shell`): every line is a command; ```` ```console ````:
//!   every line starting with `$ ` is. Commands are split at `&&`, `||`, `;`, `|` and
//!   parentheses; `# …` ends a line; a trailing `\` joins lines. A `silo …` command or a
//!   `cargo run … -- …` one must parse with the real CLI (its arguments with `--help`
//!   added, exit 0), so an unknown subcommand or flag fails. The safe ones — `silo init`,
//!   `agent new`, `agent list`, `workflow check`, `policy check`, and `run` as root — are
//!   also run, in document order, in a fresh project that `silo init` made for the file,
//!   and must exit 0; `cd` moves between them and `python3 … -m unittest` lines run too.
//!   Other commands (`cargo test`, `bench/…`, `curl`) are not checked. A shell block whose
//!   first line is `# from the repository …` is about the repository itself (the demo,
//!   `examples/`): its `silo` commands are only parsed and its `cd`s are not followed.
//! - ```` ```yaml ````: the first line names what the block is, and the real parser must
//!   accept it: `# agent.yaml` (the agent manifest), `# policy.yaml` (operator policy),
//!   `# workflow` (a workflow file), `# silo.yaml` (the project file). A YAML block
//!   without one of these markers fails.
//! - ```` ```python ````: compiles with `python3 -m py_compile`.
//!
//! Blocks with no tag, or another tag (`json`, `text`), are prose and are not checked.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::text;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fenced block: its tag, its text, and where it starts (for messages).
#[derive(Debug)]
struct Block {
    tag: String,
    text: String,
    line: usize,
}

/// The fenced blocks of a markdown text. An unclosed fence is an error.
fn blocks(markdown: &str) -> Result<Vec<Block>, String> {
    let mut out = Vec::new();
    let mut open: Option<(String, usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let tag = info.split_whitespace().next().unwrap_or("").to_owned();
                    open = Some((tag, i + 1, String::new()));
                }
            }
            Some((tag, start, body)) => {
                if trimmed == "```" {
                    out.push(Block {
                        tag: std::mem::take(tag),
                        text: std::mem::take(body),
                        line: *start,
                    });
                    open = None;
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    match open {
        Some((_, start, _)) => Err(format!("the block at line {start} is never closed")),
        None => Ok(out),
    }
}

/// One piece of a shell line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    /// `&&`, `||`, `;`, `|`, `(`, `)`, and `>` for any redirection (`>`, `>>`, `<`).
    Op(String),
}

/// Splits a shell line into words and operators: '…' and "…" quoting, `\` escapes,
/// `#` at the start of a word ends the line. Enough for documentation, not a shell.
fn tokens(line: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(format!("unclosed ' in `{line}`")),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err(format!("unclosed \" in `{line}`")),
                        },
                        Some(c) => w.push(c),
                        None => return Err(format!("unclosed \" in `{line}`")),
                    }
                }
            }
            '\\' => {
                if let Some(c) = chars.next() {
                    word.get_or_insert_with(String::new).push(c);
                }
            }
            '#' if word.is_none() => break,
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    out.push(Tok::Word(w));
                }
            }
            '>' | '<' => {
                if let Some(w) = word.take() {
                    out.push(Tok::Word(w));
                }
                if chars.peek() == Some(&c) {
                    chars.next();
                }
                out.push(Tok::Op(">".into()));
            }
            '&' | '|' | ';' | '(' | ')' => {
                if let Some(w) = word.take() {
                    out.push(Tok::Word(w));
                }
                let mut op = c.to_string();
                if (c == '&' || c == '|') && chars.peek() == Some(&c) {
                    chars.next();
                    op.push(c);
                }
                if op == "&" {
                    return Err(format!("background `&` in `{line}`"));
                }
                out.push(Tok::Op(op));
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = word {
        out.push(Tok::Word(w));
    }
    Ok(out)
}

/// The `silo` binary, with no project settings from the environment.
fn silo_in(cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_silo"));
    c.current_dir(cwd)
        .env_remove("SILO_CONFIG")
        .env_remove("SILO_DATA_DIR");
    c
}

/// The subcommand path of `silo` arguments (`["agent", "new"]`), after the global flags.
fn subcommand(args: &[String]) -> Vec<&str> {
    let mut rest = args.iter().map(String::as_str);
    let mut path = Vec::new();
    while let Some(a) = rest.next() {
        match a {
            "--config" | "--data-dir" => {
                rest.next();
            }
            a if a.starts_with('-') => {}
            a => {
                path.push(a);
                if path.len() == 2 {
                    break;
                }
            }
        }
    }
    path
}

/// Commands that are run for real in the file's project (the rest are only parsed).
fn runs_for_real(args: &[String]) -> bool {
    match subcommand(args).as_slice() {
        ["init", ..] => true,
        ["agent", "new" | "list"] | ["workflow", "check"] | ["policy", "check"] => true,
        ["run", ..] => crate::is_root(),
        _ => false,
    }
}

/// A shell session over one temporary project: `cd`, `silo`, `cargo run -- …` and
/// `python3 -m unittest` commands, checked as the module documentation says.
pub struct Session {
    _tmp: tempfile::TempDir,
    /// Where the next command runs.
    pub cwd: PathBuf,
    /// What ran, for messages.
    pub log: Vec<String>,
    /// Only parse `silo` commands; follow no `cd`, run nothing.
    pub parse_only: bool,
}

impl Session {
    /// A fresh project made by `silo init` in a temporary folder.
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let cwd = tmp.path().to_path_buf();
        let o = silo_in(&cwd).arg("init").output().unwrap();
        assert!(o.status.success(), "silo init: {}", text(&o));
        Self {
            _tmp: tmp,
            cwd,
            log: Vec::new(),
            parse_only: false,
        }
    }

    /// An empty temporary folder (no project), for `silo init` itself.
    pub fn empty() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        Self {
            cwd: tmp.path().to_path_buf(),
            _tmp: tmp,
            log: Vec::new(),
            parse_only: false,
        }
    }

    /// Runs one shell line; `Err` says which command failed and how.
    pub fn line(&mut self, line: &str) -> Result<Vec<Output>, String> {
        let mut outputs = Vec::new();
        let mut stack = Vec::new();
        let mut command = Vec::new();
        let mut redirect = false;
        for tok in tokens(line)?.into_iter().chain([Tok::Op(";".into())]) {
            match tok {
                // A redirection's file is not an argument; the output is not checked.
                Tok::Word(_) if redirect => redirect = false,
                Tok::Word(w) => command.push(w),
                Tok::Op(op) if op == ">" => redirect = true,
                Tok::Op(op) => {
                    if !command.is_empty() {
                        if let Some(o) = self.command(&std::mem::take(&mut command))? {
                            outputs.push(o);
                        }
                    }
                    match op.as_str() {
                        "(" => stack.push(self.cwd.clone()),
                        ")" => self.cwd = stack.pop().ok_or(format!("unbalanced ) in `{line}`"))?,
                        _ => {}
                    }
                }
            }
        }
        if !stack.is_empty() {
            return Err(format!("unbalanced ( in `{line}`"));
        }
        Ok(outputs)
    }

    fn command(&mut self, words: &[String]) -> Result<Option<Output>, String> {
        let shown = words.join(" ");
        self.log.push(shown.clone());
        let first = words[0].as_str();
        if self.parse_only && first != "silo" && first != "cargo" {
            return Ok(None);
        }
        if first == "cd" {
            let to = words.get(1).ok_or("`cd` needs a folder")?;
            self.cwd = self.cwd.join(to);
            if !self.cwd.is_dir() {
                return Err(format!(
                    "`{shown}`: `{}` is not a folder",
                    self.cwd.display()
                ));
            }
            return Ok(None);
        }
        if first == "python3" && words.iter().any(|w| w == "unittest") {
            let o = Command::new("python3")
                .args(&words[1..])
                .current_dir(&self.cwd)
                .output()
                .map_err(|e| format!("`{shown}`: {e}"))?;
            return self.expect_success(&shown, o).map(Some);
        }
        let args: Vec<String> = if first == "silo" {
            words[1..].to_vec()
        } else if first == "cargo" && words.get(1).map(String::as_str) == Some("run") {
            match words.iter().position(|w| w == "--") {
                Some(i) => words[i + 1..].to_vec(),
                None => return Err(format!("`{shown}`: `cargo run` without `-- ARGS`")),
            }
        } else {
            return Ok(None);
        };
        if args.is_empty() {
            return Err(format!("`{shown}`: no subcommand"));
        }
        // `cargo run` lines run in the repository, so they are only parsed.
        if first == "silo" && !self.parse_only && runs_for_real(&args) {
            let o = silo_in(&self.cwd)
                .args(&args)
                .output()
                .map_err(|e| format!("`{shown}`: {e}"))?;
            return self.expect_success(&shown, o).map(Some);
        }
        let mut parse = args.clone();
        let at = parse.iter().position(|a| a == "--").unwrap_or(parse.len());
        parse.insert(at, "--help".into());
        let o = silo_in(&self.cwd)
            .args(&parse)
            .output()
            .map_err(|e| format!("`{shown}`: {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "`{shown}` does not parse (ran `silo {}`):\n{}",
                parse.join(" "),
                text(&o)
            ));
        }
        Ok(None)
    }

    fn expect_success(&self, shown: &str, o: Output) -> Result<Output, String> {
        if o.status.success() {
            Ok(o)
        } else {
            Err(format!(
                "`{shown}` failed in `{}`:\n{}",
                self.cwd.display(),
                text(&o)
            ))
        }
    }
}

/// The command lines of a shell block (`sh`: all; `console`: those after `$ `), with
/// continuation lines joined.
fn command_lines(tag: &str, body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in body.lines() {
        let line = if tag == "console" {
            match line.strip_prefix("$ ") {
                Some(l) => l,
                None if !pending.is_empty() => line,
                None => continue,
            }
        } else {
            line
        };
        match line.strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head);
                pending.push(' ');
            }
            None => {
                pending.push_str(line);
                out.push(std::mem::take(&mut pending));
            }
        }
    }
    if !pending.is_empty() {
        out.push(pending);
    }
    out
}

/// A shell block that starts with this comment runs in the repository (the demo, the
/// examples): its `silo` commands are only parsed, and its `cd`s are not followed.
const REPOSITORY_MARKER: &str = "# from the repository";

/// The kinds of YAML a documentation block may be, by its first line.
const YAML_MARKERS: [&str; 4] = ["# agent.yaml", "# policy.yaml", "# workflow", "# silo.yaml"];

fn check_yaml(body: &str, dir: &Path) -> Result<(), String> {
    let first = body.lines().next().unwrap_or("").trim();
    let marker = YAML_MARKERS
        .iter()
        .find(|m| first.starts_with(*m))
        .ok_or_else(|| {
            format!(
                "a yaml block must start with one of {} so that it can be checked; it starts with `{first}`",
                YAML_MARKERS.join(", ")
            )
        })?;
    match *marker {
        "# agent.yaml" => silo_invoke::Manifest::parse(body).map(|_| ()),
        "# policy.yaml" => silo_policy::PolicySet::from_yaml_str("sample", body)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "# workflow" => silo_router::Workflow::from_yaml(body)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        _ => silo_config::Config::parse(body, &dir.join("silo.yaml"))
            .map(|_| ())
            .map_err(|e| e.to_string()),
    }
}

fn check_python(body: &str, dir: &Path, n: usize) -> Result<(), String> {
    let file = dir.join(format!("sample_{n}.py"));
    std::fs::write(&file, body).unwrap();
    let o = Command::new("python3")
        .args(["-B", "-m", "py_compile"])
        .arg(&file)
        .output()
        .map_err(|e| e.to_string())?;
    if o.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

/// Checks every sample of one markdown text; returns the failures and how many blocks
/// were checked.
fn check_markdown(name: &str, markdown: &str) -> (Vec<String>, usize) {
    let mut failures = Vec::new();
    let blocks = match blocks(markdown) {
        Ok(b) => b,
        Err(e) => return (vec![format!("{name}: {e}")], 0),
    };
    let mut session: Option<Session> = None;
    let scratch = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for (n, b) in blocks.iter().enumerate() {
        let result = match b.tag.as_str() {
            "sh" | "bash" | "shell" | "console" => {
                let mut repository = Session::empty();
                let s = if b.text.trim_start().starts_with(REPOSITORY_MARKER) {
                    repository.parse_only = true;
                    &mut repository
                } else {
                    session.get_or_insert_with(Session::new)
                };
                command_lines(&b.tag, &b.text)
                    .iter()
                    .try_for_each(|l| s.line(l).map(|_| ()))
            }
            "yaml" | "yml" => check_yaml(&b.text, scratch.path()),
            "python" | "py" => check_python(&b.text, scratch.path(), n),
            _ => continue,
        };
        checked += 1;
        if let Err(e) = result {
            failures.push(format!("{name}:{}: ```{} block: {e}", b.line, b.tag));
        }
    }
    (failures, checked)
}

fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![repo().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

#[test]
fn every_sample_in_the_readme_and_the_docs_works() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in doc_files() {
        let markdown = std::fs::read_to_string(&file).unwrap();
        let name = file
            .strip_prefix(repo())
            .unwrap_or(&file)
            .display()
            .to_string();
        let (f, n) = check_markdown(&name, &markdown);
        failures.extend(f);
        checked += n;
    }
    assert!(
        failures.is_empty(),
        "{} of the samples do not work:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    // The docs this test exists for have samples of every kind.
    assert!(checked >= 10, "only {checked} blocks were checked");
}

#[test]
fn the_checker_refuses_what_would_mislead_a_reader() {
    for (what, markdown) in [
        ("an unknown subcommand", "```sh\nsilo agent frobnicate x\n```\n"),
        ("an unknown flag", "```sh\nsilo run --agent a --colour blue\n```\n"),
        (
            "an unknown subcommand after `cargo run`",
            "```sh\ncargo run -q -p silo-cli -- nonsense\n```\n",
        ),
        (
            "an unknown subcommand in a console block",
            "```console\n$ silo keys frobnicate\nok\n```\n",
        ),
        (
            "a command that fails when run",
            "```sh\nsilo policy check policies/missing.yaml\n```\n",
        ),
        ("an unmarked yaml block", "```yaml\nname: x\n```\n"),
        (
            "an agent.yaml with an unknown field",
            "```yaml\n# agent.yaml\nname: a\nversion: 1\nentry: [python3, main.py]\nroot: true\n```\n",
        ),
        (
            "a policy with an unknown action",
            "```yaml\n# policy.yaml\nrules:\n  - { name: r, action: wire.transfer, effect: deny }\n```\n",
        ),
        (
            "a workflow without stages",
            "```yaml\n# workflow\nname: w\nstages: []\n```\n",
        ),
        (
            "a silo.yaml with a typo",
            "```yaml\n# silo.yaml\ndata_dri: x\n```\n",
        ),
        ("python that does not compile", "```python\ndef f(:\n```\n"),
        (
            "an unknown subcommand in a repository block",
            "```sh\n# from the repository root\nsilo frobnicate\n```\n",
        ),
        ("an unclosed block", "```sh\nsilo init\n"),
    ] {
        let (failures, _) = check_markdown("sample.md", markdown);
        assert!(!failures.is_empty(), "{what} passed:\n{markdown}");
    }
    // …and accepts the same kinds of sample when they are right.
    let good = "```sh\nsilo agent new my-agent && (cd agents/my-agent && python3 -B -m unittest)\n\
                silo policy check policies/policy.yaml  # the example rules\n\
                cargo run -q -p silo-cli -- keys inspect TOKEN\n```\n\
                ```console\n$ silo workflow check\nsupport: ok (1 stages)\n```\n\
                ```yaml\n# workflow\nname: w\nstages:\n  - agent: a\n```\n\
                ```python\nimport silo\nsilo.done('ok')\n```\n\
                ```sh\n# from the repository root\ncd examples/customer-service\n\
                silo run --agent agents/refund-agent --customer cus_001 --case case_001\n```\n";
    let (failures, checked) = check_markdown("good.md", good);
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(checked, 5);
}

#[test]
fn shell_lines_split_like_a_shell() {
    let t = tokens(r#"silo run --input '{"message":"hi"}' && (cd "a b" && x) # note"#).unwrap();
    let w = |s: &str| Tok::Word(s.into());
    let op = |s: &str| Tok::Op(s.into());
    assert_eq!(
        t,
        vec![
            w("silo"),
            w("run"),
            w("--input"),
            w(r#"{"message":"hi"}"#),
            op("&&"),
            op("("),
            w("cd"),
            w("a b"),
            op("&&"),
            w("x"),
            op(")"),
        ]
    );
    assert!(tokens("echo 'open").is_err());
}
