//! Shared helpers: a customer's known values and span extraction.

use silo_pii::{scan, KnownSet, KnownValue, PiiKind, Span};

/// A customer with distinctive values (so "absent from disk" means something).
pub fn customer() -> Vec<KnownValue> {
    vec![
        KnownValue::new(PiiKind::Name, "Jane Smith"),
        KnownValue::new(PiiKind::Email, "Jane.Smith@Example.com"),
        KnownValue::new(PiiKind::Phone, "+1 (555) 010-2030"),
        KnownValue::new(
            PiiKind::Address,
            "742 Evergreen Terrace, Springfield, OR 97403",
        ),
        KnownValue::new(PiiKind::Card, "4111 1111 1111 1111"),
        KnownValue::new(PiiKind::Dob, "1985-03-14"),
    ]
}

pub fn known() -> KnownSet {
    KnownSet::new(&customer()).unwrap()
}

/// The detected spans as (text, kind).
pub fn found(text: &str, known: &KnownSet) -> Vec<(String, PiiKind)> {
    scan(text, known)
        .unwrap()
        .into_iter()
        .map(|s: Span| (text[s.start..s.end].to_string(), s.kind))
        .collect()
}

/// The detected spans of one kind, as text, with no known values.
pub fn found_kind(text: &str, kind: PiiKind) -> Vec<String> {
    found(text, &KnownSet::empty())
        .into_iter()
        .filter(|(_, k)| *k == kind)
        .map(|(t, _)| t)
        .collect()
}
