//! `pii_tokenise`: detection, tokenisation and hydration (`silo-pii`) on hostile text.
//! The input is text, optionally preceded by the customer's known values
//! (`KIND=value` lines, e.g. `NAME=Jane Smith`) and a NUL byte. Each input is a fresh task
//! in one scratch vault (forgotten afterwards).
//!
//! Invariants: nothing panics; detected spans are sorted, disjoint, non-empty and on
//! `char` boundaries; tokenising replaces exactly the detected spans, each by a token of
//! its kind, and changes nothing else but escaping token-shaped input — so no detected
//! value survives in plain text; every token in the output was issued for it (nothing the
//! input wrote becomes a token); hydrating the output in another task changes nothing; and,
//! without known values, hydrating restores the input (with token-shaped input escaped,
//! and each value in the spelling it first had in the text).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use silo_pii::{escape_token_shaped, normalize, scan, KnownSet, KnownValue, PiiKind, Token, Vault};

/// Words the mutator inserts.
pub const DICTIONARY: &[&str] = &[
    "\0",
    "NAME=Jane Smith\n",
    "EMAIL=jane.smith@example.com\n",
    "PHONE=+1 (555) 010-2030\n",
    "ADDRESS=12 Harbour Street, Springfield\n",
    "CARD=4111 1111 1111 1111\n",
    "Jane Smith",
    "SMITH, JANE",
    "jane.smith@example.com",
    "555.010.2030",
    "+44 20 7946 0018",
    "4111 1111 1111 1111",
    "GB82 WEST 1234 5698 7654 32",
    "078-05-1120",
    "192.168.0.1",
    "2001:db8::1",
    "born 1984-03-07",
    "date of birth: 07/03/1984",
    "12 Harbour Street",
    "Mr. Smith",
    "[NAME_1]",
    "[EMAIL_2]",
    "⟦NAME_1⟧",
    "[",
    "]",
    "@",
];

fn vault() -> &'static Vault {
    static VAULT: OnceLock<Vault> = OnceLock::new();
    VAULT.get_or_init(|| Vault::scratch().expect("a scratch vault"))
}

/// Splits an input into known values and text.
fn parse(data: &[u8]) -> (Vec<KnownValue>, String) {
    let (known, text) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[][..], data),
    };
    let values = String::from_utf8_lossy(known)
        .lines()
        .filter_map(|line| {
            let (kind, value) = line.split_once('=')?;
            Some(KnownValue::new(PiiKind::from_prefix(kind.trim())?, value))
        })
        .collect();
    (values, String::from_utf8_lossy(text).into_owned())
}

/// Runs one input (see the module docs).
pub fn run(data: &[u8]) {
    static TASKS: AtomicU64 = AtomicU64::new(0);
    let (values, text) = parse(data);
    let known = KnownSet::new(&values).unwrap_or_else(|_| KnownSet::empty());
    let Ok(spans) = scan(&text, &known) else {
        return;
    };
    let mut end = 0;
    for s in &spans {
        assert!(
            s.start >= end && s.start < s.end && s.end <= text.len(),
            "spans overlap, are empty or out of order: {spans:?}"
        );
        assert!(
            text.is_char_boundary(s.start) && text.is_char_boundary(s.end),
            "a span is not on char boundaries: {s:?}"
        );
        end = s.end;
    }
    let n = TASKS.fetch_add(1, Ordering::Relaxed);
    let task = format!("fuzz-{n}");
    let other = format!("fuzz-{n}-other");
    let vault = vault();
    let out = vault
        .tokenize_text(&task, &text, &known)
        .unwrap_or_else(|e| panic!("tokenising failed: {e}"));

    // Exactly the detected spans were replaced, each by a token of its kind.
    let mut pos = 0;
    let mut copied = 0;
    let mut restored = String::new();
    let mut first_spelling: HashMap<(PiiKind, String), &str> = HashMap::new();
    for s in &spans {
        let gap = escape_token_shaped(&text[copied..s.start]);
        let rest = &out.text[pos..];
        assert!(
            rest.starts_with(gap.as_ref()),
            "text outside the detected spans changed: expected {gap:?} at byte {pos} of {:?}",
            out.text
        );
        pos += gap.len();
        restored.push_str(&gap);
        let close = out.text[pos..]
            .find(']')
            .unwrap_or_else(|| panic!("no token where {s:?} was detected: {:?}", out.text));
        let token = Token::parse(&out.text[pos..=pos + close])
            .unwrap_or_else(|| panic!("no token where {s:?} was detected: {:?}", out.text));
        assert_eq!(
            token.kind(),
            s.kind,
            "a {:?} was replaced by {token}",
            s.kind
        );
        pos += close + 1;
        let piece = &text[s.start..s.end];
        let spelling = first_spelling
            .entry((s.kind, normalize(s.kind, piece)))
            .or_insert(piece);
        restored.push_str(spelling);
        copied = s.end;
    }
    let tail = escape_token_shaped(&text[copied..]);
    assert_eq!(
        &out.text[pos..],
        tail.as_ref(),
        "text after the last detected span changed"
    );
    restored.push_str(&tail);

    // Every token in the output was issued for this text.
    for (i, _) in out.text.match_indices('[') {
        if let Some(close) = out.text[i..].find(']') {
            if let Some(t) = Token::parse(&out.text[i..=i + close]) {
                assert!(
                    out.tokens.contains(&t),
                    "the output holds {t}, which tokenising did not issue: {:?}",
                    out.text
                );
            }
        }
    }

    // Another task resolves nothing.
    let elsewhere = vault
        .hydrate_tokens(&other, &out.text, &PiiKind::ALL)
        .unwrap_or_else(|e| panic!("hydrating failed: {e}"));
    assert_eq!(
        elsewhere, out.text,
        "another task's hydration resolved a token"
    );

    let hydrated = vault
        .hydrate_tokens(&task, &out.text, &PiiKind::ALL)
        .unwrap_or_else(|e| panic!("hydrating failed: {e}"));
    if known.is_empty() {
        assert_eq!(
            hydrated, restored,
            "hydrate(tokenise(text)) did not restore the text"
        );
    }
    let _ = vault.forget_task(&task);
}
