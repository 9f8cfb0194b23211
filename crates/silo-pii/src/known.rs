//! Known values: the customer's own name, emails, phones, addresses, cards… given by the
//! caller, found in free text whatever the spelling, and all mapped to the token of the
//! value as given.
//!
//! Each value becomes one or more patterns, compiled together into one multi-pattern regex
//! (build a [`KnownSet`] once per task or request, then scan many texts with it):
//! - names: the full name in order, `Last, First`, `Last First`, first and last name alone
//!   (whole words only, two letters or more), any case; `'` also matches `’`;
//! - emails: the address, any case;
//! - phones: the digits with any of ` .-()/` between them, with or without the country
//!   code (`+1`, `1`, `001`) or a national trunk `0`;
//! - cards, SSNs, IBANs: the characters with optional spaces or dashes between them;
//! - addresses: the words with any punctuation between them and `Street`/`St`-style
//!   abbreviations interchangeable; the street line (before the first comma) alone too;
//! - dates of birth: the date in the formats [`Date::parse`] reads;
//! - IPs: the address as given and in its canonical form.
//!
//! A match counts only on word (or digit) boundaries, so `Jane` does not match in `Janet`.
//! Single-word name matching replaces a first name that is also a common word ("May");
//! over-redaction is the safe side.

use std::collections::HashMap;
use std::net::IpAddr;

use regex_automata::meta;

use crate::date::Date;
use crate::error::PiiError;
use crate::kind::PiiKind;
use crate::normalize::{self, ADDRESS_SYNONYMS};
use crate::phone;
use crate::scan::{char_at, char_before, search_validated, Candidate, Found, Layer};

/// At most this many known values in one set.
pub const MAX_KNOWN_VALUES: usize = 256;
/// At most this many bytes in one known value.
pub const MAX_KNOWN_VALUE_LEN: usize = 1024;

/// One of the customer's real values, as the membrane knows it from the customer record.
#[derive(Clone, PartialEq, Eq)]
pub struct KnownValue {
    /// What it is.
    pub kind: PiiKind,
    /// The value as stored in the record; this exact string is what its token hydrates to.
    pub value: String,
}

impl KnownValue {
    /// A known value.
    pub fn new(kind: PiiKind, value: impl Into<String>) -> KnownValue {
        KnownValue {
            kind,
            value: value.into(),
        }
    }
}

impl std::fmt::Debug for KnownValue {
    /// Never prints the value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownValue")
            .field("kind", &self.kind)
            .field("value", &"<redacted>")
            .finish()
    }
}

/// How a match must sit among its neighbours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Boundary {
    /// No letter or digit right before or after.
    Word,
    /// No digit right before or after.
    Digits,
    /// Not inside a longer email address.
    Email,
    /// Not inside a longer address or number.
    Ip,
}

#[derive(Debug, Clone)]
pub(crate) struct KnownEntry {
    pub kind: PiiKind,
    pub value: String,
    pub normalized: String,
}

/// A compiled set of known values, ready to scan text. Cheap to share; build once per task.
pub struct KnownSet {
    entries: Vec<KnownEntry>,
    /// Per pattern id: (entry index, boundary rule).
    patterns: Vec<(usize, Boundary)>,
    regex: Option<meta::Regex>,
    by_key: HashMap<(PiiKind, String), usize>,
}

impl std::fmt::Debug for KnownSet {
    /// Never prints the values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownSet")
            .field("values", &self.entries.len())
            .field("patterns", &self.patterns.len())
            .finish()
    }
}

impl Default for KnownSet {
    fn default() -> Self {
        KnownSet::empty()
    }
}

impl KnownSet {
    /// A set with no values: only the recognizers apply.
    pub fn empty() -> KnownSet {
        KnownSet {
            entries: Vec::new(),
            patterns: Vec::new(),
            regex: None,
            by_key: HashMap::new(),
        }
    }

    /// Compiles `values`. Blank values are skipped; values that normalise alike are kept
    /// once (the first spelling wins). Errors never contain a value.
    pub fn new(values: &[KnownValue]) -> Result<KnownSet, PiiError> {
        if values.len() > MAX_KNOWN_VALUES {
            return Err(PiiError::TooManyKnownValues {
                given: values.len(),
                max: MAX_KNOWN_VALUES,
            });
        }
        let mut set = KnownSet::empty();
        let mut sources: Vec<(u8, String, usize, Boundary)> = Vec::new();
        for v in values {
            let value = v.value.trim();
            if value.is_empty() {
                continue;
            }
            if value.len() > MAX_KNOWN_VALUE_LEN {
                return Err(PiiError::KnownValueTooLong {
                    kind: v.kind,
                    max: MAX_KNOWN_VALUE_LEN,
                });
            }
            let normalized = normalize::normalize(v.kind, value);
            let key = (v.kind, normalized.clone());
            if set.by_key.contains_key(&key) {
                continue;
            }
            let index = set.entries.len();
            set.entries.push(KnownEntry {
                kind: v.kind,
                value: value.to_string(),
                normalized,
            });
            set.by_key.insert(key, index);
            for (priority, pattern, boundary) in patterns_for(v.kind, value) {
                sources.push((priority, pattern, index, boundary));
            }
        }
        // Leftmost-first picks the first pattern that matches at a position: put the more
        // specific (then the longer) first, so `Jane Smith` beats `Jane` and an email beats
        // the name inside it.
        sources.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.len().cmp(&a.1.len())));
        sources.dedup_by(|a, b| a.1 == b.1);
        if sources.is_empty() {
            return Ok(set);
        }
        let digit_led = set.entries.iter().any(|e| {
            matches!(
                e.kind,
                PiiKind::Phone
                    | PiiKind::Card
                    | PiiKind::Ssn
                    | PiiKind::Address
                    | PiiKind::Dob
                    | PiiKind::Ip
            )
        });
        let regex = meta::Regex::builder()
            .configure(
                meta::Config::new()
                    .hybrid_cache_capacity(4 * 1024 * 1024)
                    // Patterns that start with a digit make the literal prefilter fire on
                    // nearly every number in the text; the lazy DFA alone is faster then.
                    .auto_prefilter(!digit_led),
            )
            .build_many(&sources.iter().map(|s| s.1.as_str()).collect::<Vec<_>>())
            // The build error would quote the pattern, which is built from the values.
            .map_err(|_| PiiError::KnownValuesTooComplex)?;
        set.patterns = sources.iter().map(|s| (s.2, s.3)).collect();
        set.regex = Some(regex);
        Ok(set)
    }

    /// How many distinct values the set holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the set holds no values.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn entry(&self, index: usize) -> Option<&KnownEntry> {
        self.entries.get(index)
    }

    /// The entry whose normalised key is `normalized`, so a recognizer's find of a known
    /// value maps to the value as given.
    pub(crate) fn lookup(&self, kind: PiiKind, normalized: &str) -> Option<&KnownEntry> {
        self.by_key
            .get(&(kind, normalized.to_string()))
            .and_then(|&i| self.entries.get(i))
    }

    /// Adds this set's candidates in `text` to `out`.
    pub(crate) fn find(&self, text: &str, out: &mut Vec<Candidate>) {
        let Some(regex) = &self.regex else {
            return;
        };
        search_validated(
            regex,
            text,
            |_, _| true,
            |pid, start, end| {
                let &(entry, boundary) = self.patterns.get(pid)?;
                let kind = self.entries.get(entry)?.kind;
                boundary_ok(text, start, end, boundary).then_some(())?;
                out.push(Candidate {
                    start,
                    end,
                    found: Found::Pii {
                        kind,
                        layer: Layer::Known,
                        known: Some(entry),
                    },
                });
                Some(end)
            },
        );
    }
}

fn boundary_ok(text: &str, start: usize, end: usize, boundary: Boundary) -> bool {
    let before = char_before(text, start);
    let after = char_at(text, end);
    let after2 = after.and_then(|c| char_at(text, end + c.len_utf8()));
    match boundary {
        Boundary::Word => {
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        }
        Boundary::Digits => {
            !before.is_some_and(|c| c.is_ascii_digit())
                && !after.is_some_and(|c| c.is_ascii_digit())
        }
        Boundary::Email => {
            let local = |c: char| c.is_alphanumeric() || "._%+-".contains(c);
            let inside = before.is_some_and(local)
                || after.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
                || (after == Some('.') && after2.is_some_and(char::is_alphanumeric));
            !inside
        }
        Boundary::Ip => {
            let inside = before.is_some_and(|c| c.is_alphanumeric() || c == '.' || c == ':')
                || after.is_some_and(|c| c.is_alphanumeric() || c == ':')
                || (after == Some('.') && after2.is_some_and(|c| c.is_ascii_digit()));
            !inside
        }
    }
}

/// `chars` with `sep` allowed between each (each char escaped).
fn spaced(chars: impl IntoIterator<Item = char>, sep: &str) -> String {
    let mut out = String::new();
    for (i, c) in chars.into_iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(&regex_syntax_escape(c));
    }
    out
}

fn regex_syntax_escape(c: char) -> String {
    regex::escape(c.encode_utf8(&mut [0u8; 4]))
}

/// A word as a case-insensitive pattern; `'` and `’` match each other.
fn word_pattern(word: &str) -> String {
    let mut out = String::from("(?i:");
    for c in word.chars() {
        if c == '\'' || c == '’' {
            out.push_str("['’]");
        } else {
            out.push_str(&regex_syntax_escape(c));
        }
    }
    out.push(')');
    out
}

/// The patterns that find `value` (trimmed, non-empty) as a `kind`, with priority (lower
/// first) and boundary rule.
fn patterns_for(kind: PiiKind, value: &str) -> Vec<(u8, String, Boundary)> {
    let mut out = Vec::new();
    match kind {
        PiiKind::Email => out.push((0, word_pattern(value), Boundary::Email)),
        PiiKind::Card => {
            let digits: String = value.chars().filter(char::is_ascii_digit).collect();
            if digits.len() >= 8 {
                let sep = format!("{DIGIT_SEP}{{0,3}}");
                out.push((1, spaced(digits.chars(), &sep), Boundary::Digits));
            }
        }
        PiiKind::Iban => {
            let chars: String = value.chars().filter(char::is_ascii_alphanumeric).collect();
            if chars.len() >= 8 {
                out.push((
                    1,
                    format!("(?i:{})", spaced(chars.chars(), r"[ \t\-]?")),
                    Boundary::Word,
                ));
            }
        }
        PiiKind::Ssn => {
            let digits: String = value.chars().filter(char::is_ascii_digit).collect();
            if digits.len() >= 7 {
                out.push((2, spaced(digits.chars(), r"[ \t\-.]?"), Boundary::Digits));
            }
        }
        PiiKind::Phone => {
            if let Some(p) = phone_pattern(value) {
                out.push((2, p, Boundary::Digits));
            }
        }
        PiiKind::Ip => {
            let mut forms = vec![value.to_string()];
            if let Ok(ip) = value.parse::<IpAddr>() {
                forms.push(ip.to_string());
                if let IpAddr::V6(v6) = ip {
                    // The fully written-out form too.
                    forms.push(
                        v6.segments()
                            .iter()
                            .map(|s| format!("{s:x}"))
                            .collect::<Vec<_>>()
                            .join(":"),
                    );
                }
            }
            forms.dedup();
            for f in forms {
                out.push((2, word_pattern(&f), Boundary::Ip));
            }
        }
        PiiKind::Address => {
            if let Some(p) = address_pattern(value) {
                out.push((3, p, Boundary::Word));
            }
            if let Some((street, _)) = value.split_once(',') {
                if normalize::address_words(street).count() >= 2 {
                    if let Some(p) = address_pattern(street) {
                        out.push((3, p, Boundary::Word));
                    }
                }
            }
        }
        PiiKind::Dob => match Date::parse(value) {
            Some(date) => out.push((3, date.pattern(), Boundary::Digits)),
            None => out.push((3, word_pattern(value), Boundary::Word)),
        },
        PiiKind::Name => {
            let words = normalize::name_words(value);
            let sep = r"[\s.,]+";
            let full = words.iter().map(|w| word_pattern(w)).collect::<Vec<_>>();
            if !full.is_empty() {
                out.push((4, full.join(sep), Boundary::Word));
            }
            if let (Some(first), Some(last)) = (full.first(), full.last()) {
                if full.len() >= 2 {
                    let middle: String = full
                        .get(1..full.len() - 1)
                        .unwrap_or_default()
                        .iter()
                        .map(|m| format!("(?:{sep}{m})?"))
                        .collect();
                    out.push((
                        4,
                        format!(r"{last}(?:[ \t]*,[ \t]*|\s+){first}{middle}"),
                        Boundary::Word,
                    ));
                }
                if full.len() >= 3 {
                    out.push((4, format!(r"{first}\s+{last}"), Boundary::Word));
                }
            }
            for (w, p) in words.iter().zip(&full) {
                if w.chars().filter(|c| c.is_alphanumeric()).count() >= 2 {
                    out.push((6, p.clone(), Boundary::Word));
                }
            }
        }
    }
    out
}

/// What people put between the digits of a card or phone number: any whitespace (also
/// no-break and thin spaces), ASCII and Unicode hyphens and dashes, dots, slashes,
/// underscores. Without the Unicode ones `4111\u{a0}1111…` crossed raw (found by
/// `silo redteam`, case `privacy-input-card-separators`).
pub(crate) const DIGIT_SEP: &str = r"[\s\-\x{2010}-\x{2015}\x{2212}\x{FE58}\x{FE63}\x{FF0D}./_]";

fn phone_pattern(value: &str) -> Option<String> {
    let canonical = phone::canonical(value)?;
    let sep = format!(r"(?:{DIGIT_SEP}|[()]){{0,3}}");
    let sep = sep.as_str();
    let international = {
        let t = value.trim_start();
        t.starts_with('+') || t.starts_with("00")
    };
    let nanp = canonical.len() == 11 && canonical.starts_with('1');
    let (prefix, national) = if nanp {
        (
            format!(r"(?:(?:\+|00)[ \t]*1|1){DIGIT_SEP}*"),
            canonical.get(1..)?.to_string(),
        )
    } else if international {
        let cc_len = phone::country_code_len(&canonical);
        let cc = canonical.get(..cc_len)?;
        (
            format!(
                r"(?:(?:\+|00)[ \t]*{}{DIGIT_SEP}*(?:\(0\)[ \t]*)?|\(?0\)?{DIGIT_SEP}*)",
                spaced(cc.chars(), "")
            ),
            canonical.get(cc_len..)?.to_string(),
        )
    } else {
        (String::new(), canonical)
    };
    if national.len() < 6 {
        return None;
    }
    let body = format!(r"\(?{}", spaced(national.chars(), sep));
    Some(if prefix.is_empty() {
        body
    } else {
        format!("(?:{prefix})?{body}")
    })
}

fn address_pattern(value: &str) -> Option<String> {
    let words: Vec<String> = normalize::address_words(value)
        .map(|w| {
            let lower = w.to_lowercase();
            match ADDRESS_SYNONYMS
                .iter()
                .find(|(long, short)| *long == lower || *short == lower)
            {
                Some((long, short)) => format!(r"(?i:{long}|{short}\.?)"),
                None => word_pattern(w),
            }
        })
        .collect();
    (!words.is_empty()).then(|| words.join(r"[\s,.#\-]+"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(set: &KnownSet, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        set.find(text, &mut out);
        out.iter()
            .map(|c| text[c.start..c.end].to_string())
            .collect()
    }

    #[test]
    fn name_variants() {
        let set = KnownSet::new(&[KnownValue::new(PiiKind::Name, "Jane Smith")]).unwrap();
        assert_eq!(
            found(
                &set,
                "JANE SMITH / jane smith / Smith, Jane / Smith Jane / Jane / Smith / Janet"
            ),
            vec![
                "JANE SMITH",
                "jane smith",
                "Smith, Jane",
                "Smith Jane",
                "Jane",
                "Smith"
            ]
        );
    }

    #[test]
    fn phone_variants() {
        let set = KnownSet::new(&[KnownValue::new(PiiKind::Phone, "+1 (555) 010-2030")]).unwrap();
        assert_eq!(
            found(
                &set,
                "a 5550102030 b 555.010.2030 c +1 (555) 010-2030 d 15550102030 e 95550102030"
            ),
            vec![
                "5550102030",
                "555.010.2030",
                "+1 (555) 010-2030",
                "15550102030"
            ]
        );
    }

    #[test]
    fn debug_never_prints_values() {
        let v = KnownValue::new(PiiKind::Email, "secret@example.com");
        assert!(!format!("{v:?}").contains("secret"));
        let set = KnownSet::new(&[v]).unwrap();
        assert!(!format!("{set:?}").contains("secret"));
    }
}
