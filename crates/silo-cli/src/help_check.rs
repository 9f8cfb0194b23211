//! The help a person reads (`silo … --help`, the man pages of `silo man`) is checked here,
//! on the clap command tree itself: every visible command has a one-line about, every
//! visible argument a help line, the main commands show examples, and the commands with
//! exit codes of their own say what they mean. A command or flag added without help
//! fails this test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use clap::CommandFactory;

/// The built command tree (globals propagated, `--help`/`--version` generated).
fn tree() -> clap::Command {
    let mut cmd = crate::Cli::command();
    cmd.build();
    cmd
}

/// Every visible command below `cmd`, with its path (`silo task submit`), `cmd` included.
fn commands(cmd: &clap::Command, path: String, out: &mut Vec<(String, clap::Command)>) {
    out.push((path.clone(), cmd.clone()));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        commands(sub, format!("{path} {}", sub.get_name()), out);
    }
}

fn all() -> Vec<(String, clap::Command)> {
    let mut out = Vec::new();
    commands(&tree(), "silo".to_owned(), &mut out);
    out
}

fn find(path: &str) -> clap::Command {
    all()
        .into_iter()
        .find(|(p, _)| p == path)
        .map(|(_, c)| c)
        .unwrap_or_else(|| panic!("no command `{path}`"))
}

fn styled(s: Option<&clap::builder::StyledStr>) -> String {
    s.map(ToString::to_string).unwrap_or_default()
}

/// Problems of one command's own help: its about and its arguments'.
fn problems_of(path: &str, cmd: &clap::Command) -> Vec<String> {
    let mut problems = Vec::new();
    let about = styled(cmd.get_about());
    if about.trim().is_empty() {
        problems.push(format!(
            "`{path}` has no about (a doc comment on the command)"
        ));
    } else if about.trim().lines().count() > 1 {
        problems.push(format!(
            "`{path}`: the about is more than one line: {about:?}"
        ));
    }
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        let id = arg.get_id().as_str();
        let help = styled(arg.get_help()) + &styled(arg.get_long_help());
        if help.trim().is_empty() {
            problems.push(format!("`{path}`: argument `{id}` has no help"));
        }
    }
    problems
}

#[test]
fn every_command_and_argument_has_help() {
    let all = all();
    // The tree is walked: well over the top-level commands.
    assert!(all.len() > 60, "only {} commands found", all.len());
    let problems: Vec<String> = all.iter().flat_map(|(p, c)| problems_of(p, c)).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_check_finds_a_command_and_an_argument_without_help() {
    let bare = clap::Command::new("bare")
        .arg(clap::Arg::new("thing").long("thing"))
        .subcommand(clap::Command::new("sub").about("has one"));
    let problems = problems_of("bare", &bare);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("no about") && problems[1].contains("`thing`"));
}

#[test]
fn the_main_commands_show_examples() {
    for path in [
        "silo",
        "silo run",
        "silo task submit",
        "silo serve",
        "silo audit query",
        "silo policy eval",
        "silo mcp",
        "silo keys",
        "silo init",
        "silo demo",
    ] {
        let after = styled(find(path).get_after_help()) + &styled(find(path).get_after_long_help());
        assert!(
            after.contains("Examples:") && after.contains("silo "),
            "`{path}` shows no examples after its help: {after:?}"
        );
    }
}

#[test]
fn commands_with_exit_codes_of_their_own_document_them() {
    for (path, codes) in [
        ("silo run", &["0", "3", "4", "124", "125"][..]),
        ("silo task submit", &["0", "1", "3"][..]),
        ("silo policy eval", &["0", "3", "4"][..]),
        ("silo policy check", &["0", "1"][..]),
        ("silo policy import agent-os", &["0", "2", "3"][..]),
        ("silo audit verify", &["0", "3"][..]),
        ("silo audit checkpoint", &["3"][..]),
        ("silo keys inspect", &["0", "3"][..]),
        ("silo redteam", &["0", "1"][..]),
        ("silo demo", &["0", "1"][..]),
        ("silo cell run", &["124", "125", "127"][..]),
    ] {
        let cmd = find(path);
        let text = styled(cmd.get_long_about())
            + &styled(cmd.get_after_help())
            + &styled(cmd.get_after_long_help());
        assert!(
            text.contains("Exit"),
            "`{path}` does not document its exit codes"
        );
        for code in codes {
            assert!(
                text.contains(&format!("{code}:")) || text.contains(&format!("{code} ")),
                "`{path}`: exit code {code} is not documented in {text:?}"
            );
        }
    }
}

#[test]
fn the_help_renders_for_every_command() {
    for (path, mut cmd) in all() {
        let long = cmd.render_long_help().to_string();
        assert!(long.contains("Usage:"), "`{path}`: {long}");
    }
}
