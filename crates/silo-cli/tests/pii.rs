//! `silo pii`: scan, a scratch-vault round trip, and an audited reveal.

use std::io::Write;
use std::process::{Command, Stdio};

fn silo_in(dir: &std::path::Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_silo"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

const TEXT: &str = "SMITH, JANE (jane@example.com) paid with 4111 1111 1111 1111; not 4111 1111 1111 1112. [CARD_1]";

#[test]
fn scan_tokenize_and_hydrate_round_trip_with_a_scratch_vault() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = silo_in(
        dir.path(),
        &["--json", "pii", "scan", "--known", "name=Jane Smith"],
        TEXT,
    );
    assert_eq!(code, 0, "{err}");
    let spans: serde_json::Value = serde_json::from_str(&out).unwrap();
    let kinds: Vec<&str> = spans
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["NAME", "EMAIL", "CARD"], "{out}");
    let (code, tokenised, _) = silo_in(
        dir.path(),
        &[
            "pii",
            "tokenize",
            "--task",
            "t1",
            "--known",
            "name=Jane Smith",
        ],
        TEXT,
    );
    assert_eq!(code, 0);
    assert_eq!(
        tokenised,
        "[NAME_1] ([EMAIL_1]) paid with [CARD_1]; not 4111 1111 1111 1112. ⟦CARD_1⟧"
    );
    let (_, back, _) = silo_in(dir.path(), &["pii", "hydrate", "--task", "t1"], &tokenised);
    assert!(
        back.contains("(jane@example.com) paid with 4111 1111 1111 1111;"),
        "{back}"
    );
    assert!(
        back.ends_with("⟦CARD_1⟧"),
        "an escaped token never hydrates: {back}"
    );
    // Another task's tokens mean nothing.
    let (_, other, _) = silo_in(dir.path(), &["pii", "hydrate", "--task", "t2"], &tokenised);
    assert_eq!(other, tokenised);
}

#[test]
fn reveal_is_audited_and_refuses_unknown_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = silo_in(
        dir.path(),
        &[
            "pii",
            "reveal",
            "--task",
            "t",
            "--operator",
            "alice",
            "--reason",
            "x",
            "[NAME_1]",
        ],
        "",
    );
    assert_ne!(code, 0);
    assert!(err.contains("no vault"), "{err}");
    // Make a vault with one token through the real path: the scratch vault is separate,
    // so use the vault directory itself.
    let vault = dir.path().join("vault");
    let (code, tok, _) = silo_in(
        dir.path(),
        &[
            "pii",
            "tokenize",
            "--task",
            "t",
            "--vault",
            vault.to_str().unwrap(),
            "--known",
            "email=a@b.example",
        ],
        "mail a@b.example",
    );
    assert_eq!((code, tok.as_str()), (0, "mail [EMAIL_1]"));
    let (code, out, err) = silo_in(
        dir.path(),
        &[
            "pii",
            "reveal",
            "--task",
            "t",
            "--operator",
            "alice",
            "--reason",
            "DSAR 7",
            "[EMAIL_1]",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "EMAIL a@b.example");
    let (_, log, _) = silo_in(
        dir.path(),
        &["--json", "audit", "query", "--action", "pii.reveal"],
        "",
    );
    assert!(
        log.contains("operator:alice") && log.contains("DSAR 7"),
        "{log}"
    );
    assert!(
        !log.contains("a@b.example"),
        "the audit log holds the token, not the value: {log}"
    );
}
