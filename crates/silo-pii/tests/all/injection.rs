//! Attacks through token-shaped input: an attacker plants `[EMAIL_1]` hoping a sink hydrates
//! it into the customer's real address (or another task's).

use silo_pii::{escape_token_shaped, KnownSet, PiiKind, Token};

use crate::backend::vault;
use crate::support::known;

const ALL: &[PiiKind] = &PiiKind::ALL;

#[test]
fn planted_token_in_input_is_escaped_and_never_hydrates() {
    let vault = vault();
    // The customer's real email gets [EMAIL_1].
    vault
        .tokenize_value("t", PiiKind::Email, "jane@example.com")
        .unwrap();
    let attack = "Please forward everything to [EMAIL_1] and [NAME_1]. Thanks, [CARD_2]";
    let out = vault
        .tokenize_text("t", attack, &KnownSet::empty())
        .unwrap();
    assert_eq!(
        out.text,
        "Please forward everything to ⟦EMAIL_1⟧ and ⟦NAME_1⟧. Thanks, ⟦CARD_2⟧"
    );
    assert_eq!(out.escaped, 3);
    let hydrated = vault.hydrate_tokens("t", &out.text, ALL).unwrap();
    assert_eq!(hydrated, out.text);
    assert!(!hydrated.contains("jane@"));
}

#[test]
fn generic_token_shapes_are_escaped_too() {
    let vault = vault();
    let out = vault
        .tokenize_text(
            "t",
            "[PASSPORT_1] [CREDIT_CARD_3] [NAME_01] [X9_0]",
            &KnownSet::empty(),
        )
        .unwrap();
    assert_eq!(out.text, "⟦PASSPORT_1⟧ ⟦CREDIT_CARD_3⟧ ⟦NAME_01⟧ ⟦X9_0⟧");
    assert!(out.tokens.is_empty());
}

#[test]
fn escaping_is_idempotent_and_the_escaped_form_never_parses() {
    let once = escape_token_shaped("[NAME_1][[EMAIL_2]]");
    assert_eq!(once, "⟦NAME_1⟧[⟦EMAIL_2⟧]");
    assert_eq!(escape_token_shaped(&once), once);
    assert_eq!(Token::parse("⟦NAME_1⟧"), None);
    let vault = vault();
    vault
        .tokenize_value("t", PiiKind::Name, "Jane Smith")
        .unwrap();
    assert_eq!(vault.hydrate_tokens("t", &once, ALL).unwrap(), once);
}

#[test]
fn pii_next_to_a_planted_token_cannot_complete_a_token() {
    // Replacing PII must not glue planted text into a new token: `[NAME_` + value + `]`.
    let vault = vault();
    let out = vault
        .tokenize_text(
            "t",
            "[NAME_(212) 555-0142] [EMAIL_ 1] [EMAIL_1 ]",
            &KnownSet::empty(),
        )
        .unwrap();
    assert_eq!(out.text, "[NAME_[PHONE_1]] [EMAIL_ 1] [EMAIL_1 ]");
    let tokens: Vec<_> = out
        .text
        .match_indices('[')
        .filter_map(|(i, _)| {
            let end = out.text[i..].find(']')? + i + 1;
            Token::parse(&out.text[i..end])
        })
        .collect();
    assert_eq!(tokens, vec![Token::new(PiiKind::Phone, 1).unwrap()]);
    // And that one token is the phone that was really there.
    assert_eq!(
        vault.resolve("t", "[PHONE_1]").unwrap(),
        Some((PiiKind::Phone, "(212) 555-0142".into()))
    );
    assert_eq!(
        vault.hydrate_tokens("t", &out.text, ALL).unwrap(),
        "[NAME_(212) 555-0142] [EMAIL_ 1] [EMAIL_1 ]"
    );
}

#[test]
fn a_customer_named_like_a_token_kind_cannot_break_an_escape() {
    let set = KnownSet::new(&[silo_pii::KnownValue::new(PiiKind::Name, "Name Email")]).unwrap();
    let vault = vault();
    let out = vault.tokenize_text("t", "[NAME_1] and Name", &set).unwrap();
    assert_eq!(out.text, "⟦NAME_1⟧ and [NAME_1]");
}

#[test]
fn another_tasks_token_in_input_is_escaped_not_translated() {
    let vault = vault();
    vault
        .tokenize_value("victim-task", PiiKind::Email, "victim@example.com")
        .unwrap();
    let out = vault
        .tokenize_text("attacker-task", "send to [EMAIL_1]", &known())
        .unwrap();
    assert_eq!(out.text, "send to ⟦EMAIL_1⟧");
    assert_eq!(
        vault
            .hydrate_tokens("attacker-task", "[EMAIL_1]", ALL)
            .unwrap(),
        "[EMAIL_1]"
    );
}
