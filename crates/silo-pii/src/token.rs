//! `Token`: the typed placeholder (`[NAME_1]`) that stands for one value within one task,
//! and the escape that defuses token-shaped text arriving from outside.
//!
//! A token is `[` + [`PiiKind::as_str`] + `_` + a decimal number ≥ 1 without leading zeros
//! + `]`, all ASCII. Nothing else parses as a token.
//!
//! Text that merely *looks* like a token (`[` upper-case letters, digits or `_`, then `_`
//! and digits, then `]`) and arrives in input is escaped by swapping its brackets for
//! U+27E6/U+27E7: `[NAME_1]` becomes `⟦NAME_1⟧`. The escaped form keeps its meaning visible
//! to a reader (and to an LLM), never parses as a token, and is left alone by a second pass,
//! so an attacker cannot plant a token that later hydrates someone else's data.

use std::borrow::Cow;
use std::fmt;

use crate::kind::PiiKind;

/// What replaces `[` in escaped token-shaped input.
pub const ESCAPED_OPEN: char = '⟦';
/// What replaces `]` in escaped token-shaped input.
pub const ESCAPED_CLOSE: char = '⟧';

/// A token issued by a [`Vault`](crate::Vault) for one value within one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token {
    kind: PiiKind,
    number: u32,
}

impl Token {
    /// The token `[KIND_number]`; `None` for number 0 (tokens count from 1).
    pub fn new(kind: PiiKind, number: u32) -> Option<Token> {
        (number >= 1).then_some(Token { kind, number })
    }

    /// The kind of value it stands for.
    pub fn kind(self) -> PiiKind {
        self.kind
    }

    /// Its number within its (task, kind), from 1.
    pub fn number(self) -> u32 {
        self.number
    }

    /// Parses exactly one canonical token (`[EMAIL_3]`), nothing before or after.
    pub fn parse(s: &str) -> Option<Token> {
        let inner = s.strip_prefix('[')?.strip_suffix(']')?;
        let (prefix, digits) = inner.rsplit_once('_')?;
        let kind = PiiKind::from_prefix(prefix)?;
        if digits.is_empty()
            || digits.starts_with('0')
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let number = digits.parse::<u32>().ok()?;
        Token::new(kind, number)
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}_{}]", self.kind.as_str(), self.number)
    }
}

/// True when `s` (one whole candidate, brackets included) has the general shape of a token:
/// `[`, an upper-case ASCII letter, upper-case letters, digits or `_`, then `_` and ASCII
/// digits, then `]`.
pub fn is_token_shaped(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) else {
        return false;
    };
    let Some((prefix, digits)) = inner.rsplit_once('_') else {
        return false;
    };
    let mut chars = prefix.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The escaped form of one token-shaped string: its outer brackets become `⟦` and `⟧`.
pub fn escape_one(token_shaped: &str) -> String {
    let inner = token_shaped
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(token_shaped);
    let mut out = String::with_capacity(inner.len() + 6);
    out.push(ESCAPED_OPEN);
    out.push_str(inner);
    out.push(ESCAPED_CLOSE);
    out
}

/// Escapes every token-shaped string in `text` (see the module docs), for text that reaches
/// a cell without going through [`Vault::tokenize_text`](crate::Vault::tokenize_text),
/// which escapes as it tokenises.
pub fn escape_token_shaped(text: &str) -> Cow<'_, str> {
    let mut out: Option<String> = None;
    let mut copied = 0;
    for (start, end) in token_shaped_spans(text) {
        let buf = out.get_or_insert_with(|| String::with_capacity(text.len() + 8));
        buf.push_str(text.get(copied..start).unwrap_or_default());
        buf.push_str(&escape_one(text.get(start..end).unwrap_or_default()));
        copied = end;
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut buf) => {
            buf.push_str(text.get(copied..).unwrap_or_default());
            Cow::Owned(buf)
        }
    }
}

/// Byte spans of the token-shaped strings in `text`, in order, non-overlapping.
pub(crate) fn token_shaped_spans(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let bytes = text.as_bytes();
    let mut pos = 0;
    std::iter::from_fn(move || {
        while let Some(offset) = bytes.get(pos..).and_then(|rest| memchr::memchr(b'[', rest)) {
            let start = pos + offset;
            // The shortest token-shaped string is `[A_0]`; the longest we bother with is
            // bounded so a lone `[` never makes the scan quadratic.
            let window_end = bytes.len().min(start + 128);
            let close = bytes
                .get(start + 1..window_end)
                .and_then(|w| w.iter().position(|&b| b == b']' || b == b'['))
                .map(|p| start + 1 + p);
            match close {
                Some(end) if bytes.get(end) == Some(&b']') => {
                    let candidate = text.get(start..=end).unwrap_or_default();
                    if is_token_shaped(candidate) {
                        pos = end + 1;
                        return Some((start, end + 1));
                    }
                    pos = start + 1;
                }
                _ => pos = start + 1,
            }
        }
        None
    })
}

/// Byte spans and parsed tokens of the canonical tokens in `text`.
pub(crate) fn canonical_tokens(text: &str) -> impl Iterator<Item = (usize, usize, Token)> + '_ {
    token_shaped_spans(text).filter_map(|(start, end)| {
        let token = Token::parse(text.get(start..end)?)?;
        Some((start, end, token))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_tokens_parse_and_print_identically() {
        for kind in PiiKind::ALL {
            let t = Token::new(kind, 17).unwrap();
            assert_eq!(Token::parse(&t.to_string()), Some(t));
        }
        assert_eq!(Token::new(PiiKind::Name, 0), None);
    }

    #[test]
    fn near_tokens_do_not_parse() {
        for s in [
            "[NAME_0]",
            "[NAME_01]",
            "[name_1]",
            "[NAME_1] ",
            "[NAME_]",
            "[NAME1]",
            "[PASSPORT_1]",
            "⟦NAME_1⟧",
            "[NAME_99999999999]",
            "[NAME_+1]",
            "［NAME_1］",
        ] {
            assert_eq!(Token::parse(s), None, "{s}");
        }
    }

    #[test]
    fn escaping_defuses_every_token_shaped_string() {
        let text = "hi [NAME_1], [CREDIT_CARD_07] and [X_1] but not [a_1] or [NAME_ 1]";
        let escaped = escape_token_shaped(text);
        assert_eq!(
            escaped,
            "hi ⟦NAME_1⟧, ⟦CREDIT_CARD_07⟧ and ⟦X_1⟧ but not [a_1] or [NAME_ 1]"
        );
        assert_eq!(canonical_tokens(&escaped).count(), 0);
        // A second pass changes nothing.
        assert_eq!(escape_token_shaped(&escaped), escaped);
    }

    #[test]
    fn nested_brackets_are_found_from_the_innermost() {
        let spans: Vec<_> = token_shaped_spans("[[NAME_1]]").collect();
        assert_eq!(spans, vec![(1, 9)]);
    }
}
