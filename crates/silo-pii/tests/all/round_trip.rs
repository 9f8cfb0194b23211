//! Tokenise → hydrate, token stability within a task, and isolation between tasks.

use silo_pii::{KnownSet, PiiKind, Token};

use crate::backend::vault;
use crate::support::known;

const ALL: &[PiiKind] = &PiiKind::ALL;

#[test]
fn tokenise_then_hydrate_gives_back_the_original() {
    let vault = vault();
    let text = "Jane Smith (jane.smith@example.com, +1 (555) 010-2030) lives at \
                742 Evergreen Terrace, Springfield, OR 97403. Card 4111 1111 1111 1111, \
                IBAN DE89 3704 0044 0532 0130 00, SSN 123-45-6789, from 203.0.113.7, \
                born on 1985-03-14. Bob's mail: bob@example.org.";
    let out = vault.tokenize_text("t-1", text, &known()).unwrap();
    for needle in [
        "Jane",
        "Smith",
        "jane.smith",
        "555",
        "Evergreen",
        "4111",
        "DE89",
        "123-45",
        "203.0.113",
        "1985",
        "bob@",
    ] {
        assert!(!out.text.contains(needle), "{needle} leaked: {}", out.text);
    }
    assert!(
        out.text.contains("[NAME_1]") && out.text.contains("[EMAIL_2]"),
        "{}",
        out.text
    );
    // The known email is stored as the customer record spells it; the text had it in lower
    // case, so compare case-insensitively there and exactly everywhere else.
    let back = vault.hydrate_tokens("t-1", &out.text, ALL).unwrap();
    assert_eq!(back.to_lowercase(), text.to_lowercase());
    assert!(back.starts_with("Jane Smith (Jane.Smith@Example.com,"));
}

#[test]
fn recognizer_finds_round_trip_exactly() {
    let vault = vault();
    let text = "Contact bob@example.org or +44 20 7946 0958; SSN 123-45-6789.";
    let out = vault.tokenize_text("t", text, &KnownSet::empty()).unwrap();
    assert_eq!(out.text, "Contact [EMAIL_1] or [PHONE_1]; SSN [SSN_1].");
    assert_eq!(vault.hydrate_tokens("t", &out.text, ALL).unwrap(), text);
}

#[test]
fn same_value_same_token_within_a_task() {
    let vault = vault();
    let k = known();
    let a = vault
        .tokenize_text("t", "Call 555-010-2030, JANE SMITH", &k)
        .unwrap();
    let b = vault
        .tokenize_text("t", "or (555) 010 2030 — Smith, Jane", &k)
        .unwrap();
    assert_eq!(a.text, "Call [PHONE_1], [NAME_1]");
    assert_eq!(b.text, "or [PHONE_1] — [NAME_1]");
    let t = vault
        .tokenize_value("t", PiiKind::Phone, "5550102030")
        .unwrap();
    assert_eq!(t.to_string(), "[PHONE_1]");
    let e1 = vault
        .tokenize_value("t", PiiKind::Email, "X@Example.com")
        .unwrap();
    let e2 = vault
        .tokenize_value("t", PiiKind::Email, "x@example.COM")
        .unwrap();
    assert_eq!(e1, e2);
    let c1 = vault
        .tokenize_value("t", PiiKind::Card, "5500-0000-0000-0004")
        .unwrap();
    let c2 = vault
        .tokenize_value("t", PiiKind::Card, "5500 0000 0000 0004")
        .unwrap();
    assert_eq!(c1, c2);
}

#[test]
fn tokens_number_per_task_and_kind_from_one() {
    let vault = vault();
    let n = |task, kind, v| vault.tokenize_value(task, kind, v).unwrap().to_string();
    assert_eq!(n("a", PiiKind::Name, "Ann Lee"), "[NAME_1]");
    assert_eq!(n("a", PiiKind::Name, "Bo Chen"), "[NAME_2]");
    assert_eq!(n("a", PiiKind::Email, "ann@x.io"), "[EMAIL_1]");
    assert_eq!(n("b", PiiKind::Name, "Bo Chen"), "[NAME_1]");
    assert_eq!(n("a", PiiKind::Name, "ann lee"), "[NAME_1]");
}

#[test]
fn another_tasks_token_resolves_to_nothing() {
    let vault = vault();
    let ta = vault
        .tokenize_value("task-a", PiiKind::Name, "Jane Smith")
        .unwrap();
    let tb = vault
        .tokenize_value("task-b", PiiKind::Name, "John Doe")
        .unwrap();
    assert_eq!(ta.to_string(), tb.to_string()); // both [NAME_1]
    assert_eq!(
        vault.resolve("task-a", "[NAME_1]").unwrap(),
        Some((PiiKind::Name, "Jane Smith".into()))
    );
    assert_eq!(
        vault.resolve("task-b", "[NAME_1]").unwrap(),
        Some((PiiKind::Name, "John Doe".into()))
    );
    assert_eq!(vault.resolve("task-c", "[NAME_1]").unwrap(), None);
    assert_eq!(vault.resolve("task-a", "[NAME_2]").unwrap(), None);
    assert_eq!(vault.resolve("task-a", "NAME_1").unwrap(), None);
    assert_eq!(
        vault
            .hydrate_tokens("task-c", "Dear [NAME_1]", ALL)
            .unwrap(),
        "Dear [NAME_1]"
    );
}

#[test]
fn hydration_respects_the_allowed_kinds() {
    let vault = vault();
    vault
        .tokenize_value("t", PiiKind::Name, "Jane Smith")
        .unwrap();
    vault
        .tokenize_value("t", PiiKind::Email, "jane@example.com")
        .unwrap();
    let text = "To [EMAIL_1]: Dear [NAME_1], [NAME_1]! [NAME_9] [PHONE_1]";
    assert_eq!(
        vault.hydrate_tokens("t", text, &[PiiKind::Email]).unwrap(),
        "To jane@example.com: Dear [NAME_1], [NAME_1]! [NAME_9] [PHONE_1]"
    );
    assert_eq!(
        vault.hydrate_tokens("t", text, &[PiiKind::Name]).unwrap(),
        "To [EMAIL_1]: Dear Jane Smith, Jane Smith! [NAME_9] [PHONE_1]"
    );
    assert_eq!(vault.hydrate_tokens("t", text, &[]).unwrap(), text);
}

#[test]
fn a_value_that_looks_like_a_token_is_not_hydrated_again() {
    let vault = vault();
    vault.tokenize_value("t", PiiKind::Name, "Ann").unwrap(); // [NAME_1]
    vault
        .tokenize_value("t", PiiKind::Name, "[NAME_1]")
        .unwrap(); // [NAME_2] stands for a token-shaped string
    assert_eq!(
        vault.hydrate_tokens("t", "[NAME_2]", ALL).unwrap(),
        "[NAME_1]"
    );
}

#[test]
fn forgetting_a_task_drops_its_tokens_only() {
    let vault = vault();
    vault
        .tokenize_value("a", PiiKind::Name, "Jane Smith")
        .unwrap();
    vault
        .tokenize_value("b", PiiKind::Name, "Jane Smith")
        .unwrap();
    assert_eq!(vault.forget_task("a").unwrap(), 1);
    assert_eq!(vault.resolve("a", "[NAME_1]").unwrap(), None);
    assert!(vault.resolve("b", "[NAME_1]").unwrap().is_some());
}

#[test]
fn tokens_issued_lists_distinct_tokens_in_order() {
    let vault = vault();
    let out = vault
        .tokenize_text("t", "a@x.io b@x.io A@X.IO [EMAIL_7]", &KnownSet::empty())
        .unwrap();
    assert_eq!(out.text, "[EMAIL_1] [EMAIL_2] [EMAIL_1] ⟦EMAIL_7⟧");
    assert_eq!(
        out.tokens,
        vec![
            Token::new(PiiKind::Email, 1).unwrap(),
            Token::new(PiiKind::Email, 2).unwrap()
        ]
    );
    assert_eq!(out.escaped, 1);
}

#[test]
fn bad_task_ids_and_blank_values_are_refused() {
    let vault = vault();
    assert!(vault.tokenize_value("", PiiKind::Name, "x").is_err());
    assert!(vault.tokenize_value("a\nb", PiiKind::Name, "x").is_err());
    assert!(vault
        .tokenize_value(&"t".repeat(300), PiiKind::Name, "x")
        .is_err());
    assert!(vault.tokenize_value("t", PiiKind::Name, "   ").is_err());
    assert!(vault.resolve("", "[NAME_1]").is_err());
}
