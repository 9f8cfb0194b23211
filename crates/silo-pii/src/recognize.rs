//! Recognizers: patterns plus validators for personal data nobody told us about.
//!
//! All patterns are compiled into one multi-pattern regex and found in a single left-to-right
//! scan; the pattern id says which recognizer matched, and its validator (Luhn, mod-97, SSA
//! rules, `std::net` parsing, calendar checks, context words) decides. Patterns use ASCII
//! classes and ASCII word boundaries so the lazy DFA never has to give up on non-ASCII text.
//!
//! Deliberately out of scope: names without an honorific (no NER), street addresses that
//! do not start with a house number or lack a street-type suffix (many non-US formats),
//! national-format phone numbers outside NANP, SSNs without dashes or spaces unless a
//! context word ("SSN", "social security") precedes them.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use regex_automata::{meta, Input};

use crate::date::Date;
use crate::error::PiiError;
use crate::kind::PiiKind;
use crate::phone;
use crate::scan::{
    char_at, char_before, floor_char_boundary, search_validated, Candidate, Found, Layer,
};
use crate::validate;

/// One recognizer: what it finds and how it is written. The order is the priority when
/// two match at the same position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    Iban,
    Card,
    Ssn,
    SsnPlain,
    PhoneInternational,
    PhoneNanp,
    PhonePlain,
    Ipv4,
    DobContext,
    Address,
    HonorificName,
}

impl Rule {
    /// Whether a match of this rule can begin with byte `b` (a cheap superset).
    fn may_start(self, b: u8) -> bool {
        match self {
            Rule::Iban => b.is_ascii_uppercase(),
            Rule::Card
            | Rule::Ssn
            | Rule::SsnPlain
            | Rule::PhonePlain
            | Rule::Ipv4
            | Rule::Address => b.is_ascii_digit(),
            Rule::PhoneInternational => b == b'+',
            Rule::PhoneNanp => b.is_ascii_digit() || b == b'+' || b == b'(',
            Rule::DobContext | Rule::HonorificName => b.is_ascii_alphabetic(),
        }
    }
}

const B: &str = r"(?-u:\b)";

/// Street-type words written out (no `.` after them: a `.` there ends the sentence).
const STREET_WORDS: [&str; 19] = [
    "Street",
    "Avenue",
    "Road",
    "Boulevard",
    "Lane",
    "Drive",
    "Court",
    "Way",
    "Place",
    "Terrace",
    "Circle",
    "Highway",
    "Parkway",
    "Square",
    "Trail",
    "Crescent",
    "Close",
    "Alley",
    "Row",
];
/// Their abbreviations (an optional `.` after them belongs to the address).
const STREET_ABBREVIATIONS: [&str; 15] = [
    "St", "Ave", "Rd", "Blvd", "Ln", "Dr", "Ct", "Pl", "Ter", "Cir", "Hwy", "Pkwy", "Sq", "Trl",
    "Cres",
];

const MONTH_WORD: &str = r"(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[A-Za-z]{0,6}\.?";

fn rules() -> Vec<(Rule, String)> {
    let cased = |words: &[&str]| {
        words
            .iter()
            .flat_map(|s| [s.to_string(), s.to_uppercase()])
            .collect::<Vec<_>>()
            .join("|")
    };
    let suffix = format!(
        r"(?:{}){B}|(?:{}){B}\.?",
        cased(&STREET_WORDS),
        cased(&STREET_ABBREVIATIONS)
    );
    vec![
        (
            Rule::Iban,
            format!(r"{B}[A-Z]{{2}}[0-9]{{2}}(?:[ ]?[A-Z0-9]){{11,30}}{B}"),
        ),
        // Issuer numbers start with 2–6; putting that in the pattern keeps long runs of other
        // digits from becoming candidates at all.
        (
            Rule::Card,
            format!(
                r"{B}[2-6](?:{sep}{{0,2}}[0-9]){{12,18}}{B}",
                sep = crate::known::DIGIT_SEP
            ),
        ),
        (
            Rule::Ssn,
            format!(r"{B}(?:[0-9]{{3}}-[0-9]{{2}}-[0-9]{{4}}|[0-9]{{3}} [0-9]{{2}} [0-9]{{4}}){B}"),
        ),
        (Rule::SsnPlain, format!(r"{B}[0-9]{{9}}{B}")),
        (
            Rule::PhoneInternational,
            format!(
                r"\+[0-9](?:{sep}?\(?[0-9]\)?){{6,14}}",
                sep = crate::known::DIGIT_SEP
            ),
        ),
        (
            Rule::PhoneNanp,
            format!(
                r"(?:\+?1{sep}?)?(?:\([0-9]{{3}}\){sep}?|[0-9]{{3}}{sep})[0-9]{{3}}{sep}[0-9]{{4}}",
                sep = crate::known::DIGIT_SEP
            ),
        ),
        (Rule::PhonePlain, format!(r"{B}1?[0-9]{{10}}{B}")),
        (
            Rule::Ipv4,
            format!(r"{B}(?:[0-9]{{1,3}}\.){{3}}[0-9]{{1,3}}{B}"),
        ),
        (
            Rule::DobContext,
            format!(
                r"{B}(?i:date[ \t]+of[ \t]+birth|birth[ \t]?date|birthday|born|d\.o\.b|dob){B}"
            ),
        ),
        (
            Rule::Address,
            format!(
                r"{B}[0-9]{{1,6}}[A-Za-z]?(?:[ \t]{{1,4}}(?:[A-Z][A-Za-z'\-]{{0,24}}\.?|[0-9]{{1,3}}(?:st|nd|rd|th))){{1,5}}[ \t]{{1,4}}(?:{suffix})(?:,?[ \t]+(?:Apt|APT|Apartment|Suite|Ste|STE|Unit|UNIT|\#)\.?[ \t]*\#?[A-Za-z0-9\-]{{1,6}})?(?:,[ \t]*[A-Z][A-Za-z]+(?:[ \t]+[A-Z][A-Za-z]+){{0,2}},?[ \t]+[A-Z]{{2}}(?:[ \t]+[0-9]{{5}}(?:-[0-9]{{4}})?)?)?"
            ),
        ),
        (
            Rule::HonorificName,
            format!(
                r"{B}(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?[ \t]{{1,4}}\p{{Lu}}[\p{{Ll}}'’\-]{{1,30}}(?:[ \t]\p{{Lu}}[\p{{Ll}}'’\-]{{1,30}})?"
            ),
        ),
    ]
}

struct Recognizers {
    rules: Vec<Rule>,
    regex: meta::Regex,
    date: meta::Regex,
}

static RECOGNIZERS: LazyLock<Result<Recognizers, String>> = LazyLock::new(|| {
    let (rules, patterns): (Vec<Rule>, Vec<String>) = rules().into_iter().unzip();
    let regex = build(&patterns)?;
    let date = build(&[format!(
        r"{B}(?:[0-9]{{4}}[-/.][0-9]{{1,2}}[-/.][0-9]{{1,2}}|[0-9]{{1,2}}[-/.][0-9]{{1,2}}[-/.](?:[0-9]{{4}}|[0-9]{{2}})|{MONTH_WORD}[ \t]+[0-9]{{1,2}}(?i:st|nd|rd|th)?,?[ \t]+[0-9]{{4}}|[0-9]{{1,2}}(?i:st|nd|rd|th)?[ \t]+(?i:of[ \t]+)?{MONTH_WORD},?[ \t]+[0-9]{{4}}){B}"
    )])?;
    Ok(Recognizers { rules, regex, date })
});

fn build(patterns: &[String]) -> Result<meta::Regex, String> {
    meta::Regex::builder()
        .configure(meta::Config::new().hybrid_cache_capacity(8 * 1024 * 1024))
        .build_many(patterns)
        .map_err(|e| e.to_string())
}

/// Compiles the recognizers now rather than on first use (start-up, or a test).
pub fn warm_up() -> Result<(), PiiError> {
    recognizers().map(|_| ())
}

fn recognizers() -> Result<&'static Recognizers, PiiError> {
    RECOGNIZERS
        .as_ref()
        .map_err(|e| PiiError::Recognizers(e.clone()))
}

/// How far before a match a context word may be.
const CONTEXT_WINDOW: usize = 40;
/// How far after a date-of-birth context word its date may start.
const DOB_WINDOW: usize = 40;

/// Adds the recognizers' candidates in `text` to `out`.
pub(crate) fn find(text: &str, out: &mut Vec<Candidate>) -> Result<(), PiiError> {
    let rec = recognizers()?;
    let mut push = |kind, start, end| {
        out.push(Candidate {
            start,
            end,
            found: Found::Pii {
                kind,
                layer: Layer::Recognizer,
                known: None,
            },
        })
    };
    find_emails(text, &mut push);
    find_ipv6(text, &mut push);
    let may_start = |pid: usize, b: u8| rec.rules.get(pid).is_some_and(|r| r.may_start(b));
    search_validated(&rec.regex, text, may_start, |pid, start, end| {
        let rule = *rec.rules.get(pid)?;
        let m = text.get(start..end)?;
        match rule {
            Rule::Iban => {
                let end = iban_end(text, start, end)?;
                push(PiiKind::Iban, start, end);
                Some(end)
            }
            Rule::Card => {
                let end = card_end(text, start, end)?;
                push(PiiKind::Card, start, end);
                Some(end)
            }
            Rule::Ssn => {
                (digit_context_ok(text, start, end) && validate::ssn_valid(m)).then_some(())?;
                push(PiiKind::Ssn, start, end);
                Some(end)
            }
            Rule::SsnPlain => {
                (validate::ssn_valid(m)
                    && context_before(text, start, &["ssn", "social security", "ss#", "ss no"]))
                .then_some(())?;
                push(PiiKind::Ssn, start, end);
                Some(end)
            }
            Rule::PhoneInternational => {
                let end = trim_unbalanced_paren(m).map_or(end, |len| start + len);
                let m = text.get(start..end)?;
                (!char_before(text, start).is_some_and(|c| c.is_alphanumeric())
                    && !char_at(text, end).is_some_and(|c| c.is_ascii_digit())
                    && phone::international_plausible(m))
                .then_some(())?;
                push(PiiKind::Phone, start, end);
                Some(end)
            }
            Rule::PhoneNanp => {
                let digits: Vec<u8> = m.bytes().filter(u8::is_ascii_digit).collect();
                let national = digits.get(digits.len().saturating_sub(10)..)?;
                (digit_context_ok(text, start, end)
                    && !char_before(text, start).is_some_and(|c| c.is_alphanumeric())
                    && !char_at(text, end).is_some_and(|c| c.is_alphanumeric())
                    && phone::nanp_plausible(national, false)
                    && m.bytes().filter(|&b| b == b'(').count()
                        == m.bytes().filter(|&b| b == b')').count())
                .then_some(())?;
                push(PiiKind::Phone, start, end);
                Some(end)
            }
            Rule::PhonePlain => {
                let national = m.strip_prefix('1').filter(|n| n.len() == 10).unwrap_or(m);
                (national.len() == 10
                    && phone::nanp_plausible(national.as_bytes(), true)
                    && context_before(
                        text,
                        start,
                        &[
                            "phone", "tel", "call", "mobile", "cell", "fax", "text", "sms",
                            "whatsapp", "contact", "reach", "ring",
                        ],
                    ))
                .then_some(())?;
                push(PiiKind::Phone, start, end);
                Some(end)
            }
            Rule::Ipv4 => {
                (digit_context_ok(text, start, end) && m.parse::<Ipv4Addr>().is_ok())
                    .then_some(())?;
                push(PiiKind::Ip, start, end);
                Some(end)
            }
            Rule::DobContext => {
                let (date_start, date_end) = date_after(rec, text, end)?;
                push(PiiKind::Dob, date_start, date_end);
                // Resume right after the context word: what lies between it and the date is
                // scanned like any other text.
                Some(end)
            }
            Rule::Address => {
                push(PiiKind::Address, start, end);
                Some(end)
            }
            Rule::HonorificName => {
                let name_start = start
                    + m.find(|c: char| c.is_whitespace())
                        .map(|i| {
                            i + m
                                .get(i..)
                                .unwrap_or_default()
                                .find(|c: char| !c.is_whitespace())
                                .unwrap_or(0)
                        })
                        .unwrap_or(0);
                push(PiiKind::Name, name_start, end);
                Some(end)
            }
        }
    });
    Ok(())
}

/// Emails, found from each `@` outwards rather than by the regex: a local part may start
/// at any letter, so in a regex every word of prose opens a candidate the DFA must track.
/// Local part ≤ 64 bytes (RFC 5321), labels ≤ 63, a final label of 2–24 letters.
fn find_emails(text: &str, push: &mut impl FnMut(PiiKind, usize, usize)) {
    let b = text.as_bytes();
    let local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
    let label = |c: u8| c.is_ascii_alphanumeric() || c == b'-';
    let at_byte = |i: usize| b.get(i).copied().unwrap_or(0);
    let mut done = 0;
    for at in memchr::memchr_iter(b'@', b) {
        if at < done {
            continue;
        }
        let mut start = at;
        while start > done && at - start < 64 && local(at_byte(start - 1)) {
            start -= 1;
        }
        while start < at && at_byte(start) == b'.' {
            start += 1;
        }
        if start == at {
            continue;
        }
        // Labels after the `@`; the address ends after the last label that can be a TLD.
        let mut end = at + 1;
        let mut best = None;
        let mut labels = 0;
        loop {
            let label_start = end;
            while end < b.len() && end - label_start < 63 && label(at_byte(end)) {
                end += 1;
            }
            if end == label_start {
                break;
            }
            labels += 1;
            let tld = b.get(label_start..end).unwrap_or_default();
            if labels >= 2
                && (2..=24).contains(&tld.len())
                && tld.iter().all(u8::is_ascii_alphabetic)
            {
                best = Some(end);
            }
            if at_byte(end) == b'.' && label(at_byte(end + 1)) {
                end += 1;
            } else {
                break;
            }
        }
        let Some(end) = best else {
            continue;
        };
        if char_at(text, end).is_some_and(char::is_alphanumeric) {
            continue;
        }
        push(PiiKind::Email, start, end);
        done = end;
    }
}

/// IPv6 addresses, found from each `:` outwards: the maximal run of hex digits, `:` and
/// `.` around it must parse (`std::net`), hold a digit, and not be `::` or `::1`.
fn find_ipv6(text: &str, push: &mut impl FnMut(PiiKind, usize, usize)) {
    let b = text.as_bytes();
    let v6 = |c: u8| c.is_ascii_hexdigit() || c == b':' || c == b'.';
    let at_byte = |i: usize| b.get(i).copied().unwrap_or(0);
    let mut done = 0;
    for colon in memchr::memchr_iter(b':', b) {
        if colon < done {
            continue;
        }
        let mut start = colon;
        while start > done && colon - start < 45 && v6(at_byte(start - 1)) {
            start -= 1;
        }
        let mut end = colon + 1;
        while end < b.len() && end - start < 64 && v6(at_byte(end)) {
            end += 1;
        }
        done = end;
        // Sentence punctuation after an address is not part of it.
        while end > colon + 1 && at_byte(end - 1) == b'.' {
            end -= 1;
        }
        if end >= 2 && at_byte(end - 1) == b':' && at_byte(end - 2) != b':' {
            end -= 1;
        }
        let Some(candidate) = text.get(start..end) else {
            continue;
        };
        let boundary_ok = !char_before(text, start).is_some_and(char::is_alphanumeric)
            && !char_at(text, end).is_some_and(|c| c.is_alphanumeric() || c == ':');
        if !boundary_ok
            || candidate.bytes().filter(|&c| c == b':').count() < 2
            || !candidate.bytes().any(|c| c.is_ascii_digit())
        {
            continue;
        }
        if let Ok(ip) = candidate.parse::<Ipv6Addr>() {
            if !ip.is_unspecified() && !ip.is_loopback() {
                push(PiiKind::Ip, start, end);
            }
        }
    }
}

/// The end of the IBAN starting at `start`: the pattern may run into following capitals, so
/// cut it at the country's registered length, then check mod-97.
fn iban_end(text: &str, start: usize, end: usize) -> Option<usize> {
    let m = text.get(start..end)?;
    let want = validate::iban_length(m.get(..2)?)?;
    let mut seen = 0;
    let mut cut = None;
    for (i, b) in m.bytes().enumerate() {
        if b.is_ascii_alphanumeric() {
            seen += 1;
            if seen == want {
                cut = Some(i + 1);
                break;
            }
        }
    }
    let cut = start + cut?;
    let next_ok = !char_at(text, cut).is_some_and(|c| c.is_alphanumeric());
    (next_ok && validate::iban_valid(text.get(start..cut)?)).then_some(cut)
}

/// The end of the card number starting at `start`: the whole match if it is valid, else
/// the longest valid prefix that ends where a group ends.
fn card_end(text: &str, start: usize, end: usize) -> Option<usize> {
    let m = text.get(start..end)?;
    // No issuer number starts with 0, 1, 7, 8 or 9: reject before any work.
    if !matches!(m.as_bytes().first(), Some(b'2'..=b'6')) {
        return None;
    }
    let mut ends: Vec<usize> = m
        .bytes()
        .enumerate()
        .filter(|&(i, b)| {
            b.is_ascii_digit()
                && m.get(i + 1..)
                    .and_then(|rest| rest.chars().next())
                    .is_none_or(validate::is_digit_separator)
        })
        .map(|(i, _)| start + i + 1)
        .collect();
    ends.reverse();
    ends.into_iter().find(|&e| {
        text.get(start..e)
            .is_some_and(|cand| validate::card_valid(cand) && digit_context_ok(text, start, e))
    })
}

/// A digit string is not part of a longer one: no digit right before or after, nor a
/// digit behind a `-`, `.` or `/` that joins it to more digits.
fn digit_context_ok(text: &str, start: usize, end: usize) -> bool {
    let b = text.as_bytes();
    let before = start.checked_sub(1).and_then(|i| b.get(i)).copied();
    let before2 = start.checked_sub(2).and_then(|i| b.get(i)).copied();
    let after = b.get(end).copied();
    let after2 = b.get(end + 1).copied();
    let joins = |sep: Option<u8>, digit: Option<u8>| {
        matches!(sep, Some(b'-' | b'.' | b'/')) && digit.is_some_and(|d| d.is_ascii_digit())
    };
    !before.is_some_and(|d| d.is_ascii_digit())
        && !after.is_some_and(|d| d.is_ascii_digit())
        && !joins(before, before2)
        && !joins(after, after2)
}

/// True when one of `words` (lower case) occurs within [`CONTEXT_WINDOW`] bytes before
/// `start`, in the same sentence (the window stops at `. `, `! `, `? ` or a line break).
fn context_before(text: &str, start: usize, words: &[&str]) -> bool {
    let from = floor_char_boundary(text, start.saturating_sub(CONTEXT_WINDOW));
    let mut window = text
        .get(from..start)
        .unwrap_or_default()
        .to_ascii_lowercase();
    if let Some(cut) = [". ", "! ", "? ", "\n"]
        .iter()
        .filter_map(|end| window.rfind(end).map(|i| i + end.len()))
        .max()
    {
        window.drain(..cut);
    }
    words.iter().any(|w| window.contains(w))
}

/// If a `(` is left open at the end of an international number, the length without it.
fn trim_unbalanced_paren(m: &str) -> Option<usize> {
    let open = m.bytes().filter(|&b| b == b'(').count();
    let close = m.bytes().filter(|&b| b == b')').count();
    (open > close && m.ends_with('(')).then(|| m.trim_end_matches(['(', ' ', '.', '-']).len())
}

/// The first valid date starting within [`DOB_WINDOW`] bytes after a context word ending at
/// `ctx_end`, with no digit in between.
fn date_after(rec: &Recognizers, text: &str, ctx_end: usize) -> Option<(usize, usize)> {
    let limit = floor_char_boundary(text, (ctx_end + DOB_WINDOW + 32).min(text.len()));
    let m = rec.date.search(&Input::new(text).range(ctx_end..limit))?;
    let between = text.get(ctx_end..m.start())?;
    (m.start() - ctx_end <= DOB_WINDOW
        && !between.bytes().any(|b| b.is_ascii_digit())
        && Date::parse(text.get(m.start()..m.end())?).is_some())
    .then_some((m.start(), m.end()))
}
