//! Normalisation: the one key each written value reduces to, per kind, so the same value in
//! the same task always finds the same token (`JANE@X.COM` and `jane@x.com`; `5550102030`
//! and `+1 (555) 010-2030`; `4111-1111-1111-1111` and `4111111111111111`).
//!
//! The key feeds the vault's keyed blind index; it is never stored or logged itself.

use std::net::IpAddr;

use crate::date::Date;
use crate::kind::PiiKind;
use crate::phone;

/// The normalised key of `value` as a `kind`. Never empty for a value with any
/// non-whitespace character: when the kind-specific rule leaves nothing (a "phone" with no
/// digits), the generic rule (lower case, single spaces) applies.
pub fn normalize(kind: PiiKind, value: &str) -> String {
    let specific = match kind {
        PiiKind::Name => name_key(value),
        PiiKind::Email => value.trim().to_lowercase(),
        PiiKind::Phone => phone::canonical(value).unwrap_or_else(|| digits(value)),
        PiiKind::Card | PiiKind::Ssn => digits(value),
        PiiKind::Iban => value
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect(),
        PiiKind::Ip => value
            .trim()
            .parse::<IpAddr>()
            .map(|ip| ip.to_string())
            .unwrap_or_else(|_| value.trim().to_lowercase()),
        PiiKind::Address => address_key(value),
        PiiKind::Dob => Date::parse(value).map(Date::iso).unwrap_or_default(),
    };
    if specific.is_empty() {
        generic(value)
    } else {
        specific
    }
}

fn generic(value: &str) -> String {
    value
        .split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

fn digits(value: &str) -> String {
    value.chars().filter(char::is_ascii_digit).collect()
}

/// The words of a name, in given-name-first order: `Smith, Jane` → `[Jane, Smith]`.
/// Words are split on whitespace and commas; a trailing `.` (an initial) is dropped.
pub(crate) fn name_words(value: &str) -> Vec<&str> {
    fn words(s: &str) -> Vec<&str> {
        s.split(|c: char| c.is_whitespace() || c == ',')
            .map(|w| w.trim_matches(|c: char| c == '.' || c == '"'))
            .filter(|w| !w.is_empty())
            .collect()
    }
    match value.split_once(',') {
        Some((last, first)) if !first.contains(',') && !first.trim().is_empty() => {
            let mut out = words(first);
            out.extend(words(last));
            out
        }
        _ => words(value),
    }
}

fn name_key(value: &str) -> String {
    name_words(value)
        .iter()
        .map(|w| w.to_lowercase().replace('’', "'"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Address words that have a usual abbreviation, with it; both forms normalise to the
/// abbreviation and both are matched in text.
pub(crate) const ADDRESS_SYNONYMS: [(&str, &str); 28] = [
    ("street", "st"),
    ("avenue", "ave"),
    ("road", "rd"),
    ("boulevard", "blvd"),
    ("lane", "ln"),
    ("drive", "dr"),
    ("court", "ct"),
    ("place", "pl"),
    ("terrace", "ter"),
    ("circle", "cir"),
    ("highway", "hwy"),
    ("parkway", "pkwy"),
    ("square", "sq"),
    ("trail", "trl"),
    ("apartment", "apt"),
    ("suite", "ste"),
    ("north", "n"),
    ("south", "s"),
    ("east", "e"),
    ("west", "w"),
    ("northeast", "ne"),
    ("northwest", "nw"),
    ("southeast", "se"),
    ("southwest", "sw"),
    ("mount", "mt"),
    ("floor", "fl"),
    ("building", "bldg"),
    ("crescent", "cres"),
];

/// The abbreviation of an address word (lower case), or the word itself.
pub(crate) fn address_abbrev(word: &str) -> &str {
    ADDRESS_SYNONYMS
        .iter()
        .find(|(long, _)| *long == word)
        .map_or(word, |(_, short)| short)
}

/// The words of an address: runs of letters and digits.
pub(crate) fn address_words(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

fn address_key(value: &str) -> String {
    address_words(value)
        .map(|w| address_abbrev(&w.to_lowercase()).to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_share_a_key() {
        let same = |kind, a: &str, b: &str| assert_eq!(normalize(kind, a), normalize(kind, b));
        same(PiiKind::Name, "Jane Smith", "SMITH, JANE");
        same(PiiKind::Name, "  jane   smith ", "Jane Smith");
        same(PiiKind::Email, "Jane@Example.COM", "jane@example.com");
        same(PiiKind::Phone, "+1 (555) 010-2030", "555.010.2030");
        same(PiiKind::Card, "4111-1111-1111-1111", "4111 1111 1111 1111");
        same(
            PiiKind::Iban,
            "de89 3704 0044 0532 0130 00",
            "DE89370400440532013000",
        );
        same(PiiKind::Ip, "2001:DB8:0:0:0:0:0:1", "2001:db8::1");
        same(
            PiiKind::Address,
            "123 Main Street, Apt. 4",
            "123 main st apt 4",
        );
        same(PiiKind::Dob, "March 14, 1985", "1985-03-14");
        assert_ne!(
            normalize(PiiKind::Name, "Jane Smith"),
            normalize(PiiKind::Name, "John Smith")
        );
    }

    #[test]
    fn never_empty_for_a_non_blank_value() {
        for kind in PiiKind::ALL {
            assert!(!normalize(kind, "n/a").is_empty(), "{kind}");
        }
    }
}
