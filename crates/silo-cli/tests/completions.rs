//! `silo completions bash|zsh|fish`: scripts that really complete silo's commands and
//! options (bash is driven here: the script is sourced and asked), and a clear error for a
//! shell it does not know.

use crate::{silo, text};

#[test]
fn the_bash_script_completes_commands_and_option_values() {
    let out = silo(&["completions", "bash"]);
    assert!(out.status.success(), "{}", text(&out));
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("silo.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    // Source it and ask bash what `silo ser<TAB>` and `silo serve --role <TAB>` complete to.
    // As bash calls a completion function: the command, the current and the previous word.
    let ask = |words: &str, cword: usize| {
        let probe = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE=\"{words}\"; \
             COMP_POINT=${{#COMP_LINE}}; _silo silo \"${{COMP_WORDS[COMP_CWORD]}}\" \
             \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let o = std::process::Command::new("bash")
            .args(["--norc", "--noprofile", "-c", &probe])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let commands = ask("silo ser", 1);
    assert!(commands.lines().any(|l| l == "serve"), "{commands}");
    let roles = ask("silo serve --role ''", 3);
    let roles: Vec<&str> = roles.lines().collect();
    for role in ["all", "router", "cells"] {
        assert!(roles.contains(&role), "{roles:?}");
    }
}

#[test]
fn zsh_and_fish_scripts_name_the_commands_and_an_unknown_shell_is_refused() {
    for shell in ["zsh", "fish"] {
        let out = silo(&["completions", shell]);
        assert!(out.status.success(), "{}", text(&out));
        let script = String::from_utf8(out.stdout).unwrap();
        for word in ["serve", "redteam", "audit", "role"] {
            assert!(script.contains(word), "{shell} script lacks `{word}`");
        }
    }
    let out = silo(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'tcsh'"));
}
