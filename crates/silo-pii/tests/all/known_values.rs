//! The known-value layer: every spelling of the customer's values maps to one token.

use silo_pii::{KnownSet, KnownValue, Layer, PiiKind, Vault};

use crate::support::{found, known};

fn tokenised(text: &str) -> String {
    let vault = Vault::scratch().unwrap();
    vault.tokenize_text("t", text, &known()).unwrap().text
}

#[test]
fn every_spelling_of_the_name_is_the_full_names_token() {
    for text in [
        "JANE SMITH",
        "jane smith",
        "Jane  Smith",
        "Jane\nSmith",
        "Smith, Jane",
        "Smith Jane",
        "Jane",
        "Smith",
        "SMITH",
    ] {
        assert_eq!(
            tokenised(&format!("hi {text}!")),
            "hi [NAME_1]!",
            "{text:?}"
        );
    }
    // Whole words only.
    assert_eq!(tokenised("Janet Smithers"), "Janet Smithers");
    assert_eq!(tokenised("Jane's order"), "[NAME_1]'s order");
}

#[test]
fn names_with_middle_names_accents_and_apostrophes() {
    let set = KnownSet::new(&[
        KnownValue::new(PiiKind::Name, "José Q. García"),
        KnownValue::new(PiiKind::Name, "Siobhan O'Brien"),
    ])
    .unwrap();
    let vault = Vault::scratch().unwrap();
    let t = |text: &str| vault.tokenize_text("t", text, &set).unwrap().text;
    assert_eq!(t("JOSÉ GARCÍA y José Q García"), "[NAME_1] y [NAME_1]");
    assert_eq!(t("García, José; josé"), "[NAME_1]; [NAME_1]");
    assert_eq!(t("Ms O’Brien wrote"), "Ms [NAME_2] wrote");
    assert_eq!(t("SIOBHAN O'BRIEN"), "[NAME_2]");
    assert_eq!(
        vault
            .hydrate_tokens("t", "[NAME_1]", &[PiiKind::Name])
            .unwrap(),
        "José Q. García"
    );
}

#[test]
fn every_format_of_the_phone_is_one_token() {
    for text in [
        "+1 (555) 010-2030",
        "5550102030",
        "555.010.2030",
        "555-010-2030",
        "(555) 010 2030",
        "1-555-010-2030",
        "+15550102030",
        "001 555 010 2030",
        // Found by `silo redteam` (privacy-input-phone-unicode-separators).
        "555\u{a0}010\u{a0}2030",
        "555\u{2011}010\u{2011}2030",
        "555\u{2013}010\u{2013}2030",
        "+1\u{202f}555\u{202f}010\u{202f}2030",
    ] {
        assert_eq!(
            tokenised(&format!("call {text} now")),
            "call [PHONE_1] now",
            "{text:?}"
        );
    }
    // Not inside a longer number.
    assert_eq!(tokenised("ref 95550102030"), "ref 95550102030");
}

#[test]
fn emails_match_in_any_case_but_not_inside_longer_addresses() {
    assert_eq!(tokenised("JANE.SMITH@EXAMPLE.COM"), "[EMAIL_1]");
    assert_eq!(tokenised("<jane.smith@example.com>"), "<[EMAIL_1]>");
    // A different address that contains hers is a different (recognised) email.
    let vault = Vault::scratch().unwrap();
    let out = vault
        .tokenize_text("t", "xjane.smith@example.com.evil.io", &known())
        .unwrap();
    assert_eq!(out.text, "[EMAIL_1]");
    assert_eq!(
        vault.resolve("t", "[EMAIL_1]").unwrap(),
        Some((PiiKind::Email, "xjane.smith@example.com.evil.io".into()))
    );
}

#[test]
fn cards_with_spaces_or_dashes_are_one_token() {
    for text in [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        // Found by `silo redteam` (privacy-input-card-separators): these crossed raw.
        "4111.1111.1111.1111",
        "4111/1111/1111/1111",
        "4111  1111  1111  1111",
        "4111 - 1111 - 1111 - 1111",
        "4111\u{a0}1111\u{a0}1111\u{a0}1111",
        "4111\u{2011}1111\u{2011}1111\u{2011}1111",
        "4111\u{2013}1111\u{2013}1111\u{2013}1111",
        "4111_1111.1111-1111",
    ] {
        assert_eq!(
            tokenised(&format!("card {text}.")),
            "card [CARD_1].",
            "{text:?}"
        );
    }
}

#[test]
fn address_street_line_and_abbreviations() {
    for text in [
        "742 Evergreen Terrace, Springfield, OR 97403",
        "742 evergreen ter., springfield or 97403",
        "742 Evergreen Terrace",
        "742 EVERGREEN TER",
    ] {
        assert_eq!(
            tokenised(&format!("at {text}, ok")),
            "at [ADDRESS_1], ok",
            "{text:?}"
        );
    }
}

#[test]
fn date_of_birth_in_other_formats() {
    for text in [
        "1985-03-14",
        "03/14/1985",
        "March 14, 1985",
        "14 March 1985",
        "3/14/85",
    ] {
        assert_eq!(tokenised(&format!("on {text}.")), "on [DOB_1].", "{text:?}");
    }
}

#[test]
fn known_values_beat_recognizers_on_equal_spans() {
    let text = "mail jane.smith@example.com";
    let spans = silo_pii::scan(text, &known()).unwrap();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].layer, Layer::Known);
    assert_eq!(spans[0].kind, PiiKind::Email);
}

#[test]
fn a_recognised_value_equal_to_a_known_one_hydrates_to_the_known_spelling() {
    // The recogniser finds "+1 555 010 2030" (with its prefix); it normalises to the known
    // phone, so it shares its token and hydrates as the record spells it.
    let vault = Vault::scratch().unwrap();
    let out = vault
        .tokenize_text("t", "ring +1 555 010 2030", &known())
        .unwrap();
    assert_eq!(out.text, "ring [PHONE_1]");
    assert_eq!(
        vault.resolve("t", "[PHONE_1]").unwrap(),
        Some((PiiKind::Phone, "+1 (555) 010-2030".into()))
    );
}

#[test]
fn an_address_containing_the_surname_is_replaced_whole() {
    let spans = found("see 12 Smith Street today", &known());
    assert_eq!(
        spans,
        vec![("12 Smith Street".to_string(), PiiKind::Address)]
    );
}

#[test]
fn limits_are_enforced_without_quoting_values() {
    let many: Vec<_> = (0..300)
        .map(|i| KnownValue::new(PiiKind::Email, format!("u{i}@x.io")))
        .collect();
    assert!(KnownSet::new(&many).is_err());
    let long = KnownValue::new(PiiKind::Name, "secretname ".repeat(200));
    let err = KnownSet::new(&[long]).unwrap_err().to_string();
    assert!(!err.contains("secretname"), "{err}");
    assert!(KnownSet::new(&[KnownValue::new(PiiKind::Name, "  ")])
        .unwrap()
        .is_empty());
}
