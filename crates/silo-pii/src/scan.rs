//! Detection over free text: the known-value layer and the recognizer layer each produce
//! candidate spans, token-shaped input is marked for escaping, and one resolution pass picks
//! a non-overlapping set.
//!
//! Resolution: escapes of token-shaped input first (nothing may overlap them), then the
//! longest span wins; on equal length a known value beats a recognizer; then the earlier
//! span. A span inside an accepted one is dropped; one that only partly overlaps widens the
//! accepted span to cover both (keeping the winner's kind), so no detected byte stays in
//! clear. Longest-first means an address that contains the customer's surname is replaced
//! whole, not around the name.

use std::collections::BTreeMap;

use regex_automata::{meta, Anchored, Input, PatternID};

use crate::error::PiiError;
use crate::kind::PiiKind;
use crate::known::KnownSet;
use crate::recognize;
use crate::token;

/// Which detection layer found a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layer {
    /// One of the customer's own values, given by the caller.
    Known,
    /// A pattern plus validator for PII nobody told us about.
    Recognizer,
}

impl Layer {
    /// `"known"` or `"recognizer"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Layer::Known => "known",
            Layer::Recognizer => "recognizer",
        }
    }
}

/// One detected piece of personal data: byte offsets into the scanned text (always on
/// `char` boundaries), its kind, and the layer that found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
    /// What it is.
    pub kind: PiiKind,
    /// Who found it.
    pub layer: Layer,
}

/// What a resolved candidate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// Personal data; `known` is the index of the [`KnownSet`] entry it belongs to.
    Pii {
        kind: PiiKind,
        layer: Layer,
        known: Option<usize>,
    },
    /// Token-shaped input to escape.
    TokenShaped,
}

/// A candidate span before or after resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub start: usize,
    pub end: usize,
    pub found: Found,
}

/// Detects the personal data in `text`: the customer's `known` values (whatever their
/// spelling) and, by recognizers with validators, emails, phones, cards, IBANs, SSNs, IP
/// addresses, street addresses, dates of birth (with context) and honorific-led names.
/// Spans are sorted, non-overlapping and on `char` boundaries. This is what
/// [`Vault::tokenize_text`](crate::Vault::tokenize_text) replaces; it stores nothing.
pub fn scan(text: &str, known: &KnownSet) -> Result<Vec<Span>, PiiError> {
    Ok(detect(text, known)?
        .into_iter()
        .filter_map(|c| match c.found {
            Found::Pii { kind, layer, .. } => Some(Span {
                start: c.start,
                end: c.end,
                kind,
                layer,
            }),
            Found::TokenShaped => None,
        })
        .collect())
}

/// All layers, resolved: sorted by start, non-overlapping.
pub(crate) fn detect(text: &str, known: &KnownSet) -> Result<Vec<Candidate>, PiiError> {
    let mut candidates = Vec::new();
    candidates.extend(
        token::token_shaped_spans(text).map(|(start, end)| Candidate {
            start,
            end,
            found: Found::TokenShaped,
        }),
    );
    known.find(text, &mut candidates);
    recognize::find(text, &mut candidates)?;
    Ok(resolve(candidates))
}

/// Resolves overlaps. Candidates rarely overlap, so they are split into clusters of
/// mutually overlapping spans first; a lone candidate is accepted as it is and only real
/// clusters go through [`resolve_cluster`].
fn resolve(mut candidates: Vec<Candidate>) -> Vec<Candidate> {
    candidates.retain(|c| c.end > c.start);
    candidates.sort_unstable_by_key(|c| (c.start, c.end));
    let mut out = Vec::with_capacity(candidates.len());
    let mut cluster: Vec<Candidate> = Vec::new();
    let mut cluster_end = 0;
    for c in candidates {
        if !cluster.is_empty() && c.start >= cluster_end {
            flush(&mut cluster, &mut out);
        }
        cluster_end = if cluster.is_empty() {
            c.end
        } else {
            cluster_end.max(c.end)
        };
        cluster.push(c);
    }
    flush(&mut cluster, &mut out);
    out
}

fn flush(cluster: &mut Vec<Candidate>, out: &mut Vec<Candidate>) {
    match cluster.len() {
        0 => {}
        1 => out.append(cluster),
        _ => out.extend(resolve_cluster(std::mem::take(cluster))),
    }
}

/// The priority rules of the module docs, for one cluster of overlapping candidates.
fn resolve_cluster(mut candidates: Vec<Candidate>) -> Vec<Candidate> {
    candidates.sort_by_key(|c| {
        let (class, layer) = match c.found {
            Found::TokenShaped => (0u8, 0u8),
            Found::Pii { layer, .. } => (1, layer as u8),
        };
        (class, std::cmp::Reverse(c.end - c.start), layer, c.start)
    });
    let mut accepted: BTreeMap<usize, Candidate> = BTreeMap::new();
    let mut dropped = Vec::new();
    for c in candidates {
        if c.end <= c.start {
            continue;
        }
        let overlaps = accepted
            .range(..c.end)
            .next_back()
            .is_some_and(|(_, prev)| prev.end > c.start);
        if overlaps {
            dropped.push(c);
        } else {
            accepted.insert(c.start, c);
        }
    }
    // A dropped candidate that sticks out of the spans that beat it would leave part of a
    // detected value in clear: widen the winner over it instead (its kind, verbatim value).
    for c in dropped {
        if c.found == Found::TokenShaped {
            continue;
        }
        let hits: Vec<Candidate> = accepted
            .range(..c.end)
            .rev()
            .take_while(|(_, a)| a.end > c.start)
            .map(|(_, a)| *a)
            .collect();
        let contained = hits.iter().any(|a| a.start <= c.start && c.end <= a.end);
        let touches_escape = hits.iter().any(|a| a.found == Found::TokenShaped);
        let Some(winner) = hits
            .iter()
            .copied()
            .max_by_key(|a| (a.end - a.start, std::cmp::Reverse(a.start)))
        else {
            continue;
        };
        if contained || touches_escape {
            continue;
        }
        let Found::Pii { kind, layer, .. } = winner.found else {
            continue;
        };
        let start = hits
            .iter()
            .map(|a| a.start)
            .chain([c.start])
            .min()
            .unwrap_or(c.start);
        let end = hits
            .iter()
            .map(|a| a.end)
            .chain([c.end])
            .max()
            .unwrap_or(c.end);
        for a in &hits {
            accepted.remove(&a.start);
        }
        accepted.insert(
            start,
            Candidate {
                start,
                end,
                found: Found::Pii {
                    kind,
                    layer,
                    known: None,
                },
            },
        );
    }
    accepted.into_values().collect()
}

/// Runs `re` over `text` from left to right. For each match, `accept(pattern, start, end)`
/// validates it and returns where to resume, or `None` to reject. A rejected match gives
/// the later patterns a chance at the same start (leftmost-first reports only the first
/// pattern that matches there), then the search moves one character on.
///
/// `may_start(pattern, byte)` says whether a pattern can start with that byte at all; it
/// spares the anchored retries that cannot match (they dominate on hostile input such as
/// `1 1 1 1 …`, where every position is a rejected candidate).
pub(crate) fn search_validated(
    re: &meta::Regex,
    text: &str,
    may_start: impl Fn(usize, u8) -> bool,
    mut accept: impl FnMut(usize, usize, usize) -> Option<usize>,
) {
    let patterns = re.pattern_len();
    let mut pos = 0;
    while pos < text.len() {
        let Some(m) = re.search(&Input::new(text).range(pos..)) else {
            break;
        };
        let mut resume = accept(m.pattern().as_usize(), m.start(), m.end());
        if resume.is_none() {
            let first = text.as_bytes().get(m.start()).copied().unwrap_or(0);
            for pid in m.pattern().as_usize() + 1..patterns {
                if !may_start(pid, first) {
                    continue;
                }
                let Ok(id) = PatternID::new(pid) else {
                    break;
                };
                let input = Input::new(text)
                    .range(m.start()..)
                    .anchored(Anchored::Pattern(id));
                if let Some(alt) = re.search(&input) {
                    resume = accept(pid, alt.start(), alt.end());
                    if resume.is_some() {
                        break;
                    }
                }
            }
        }
        let next = next_char_boundary(text, m.start());
        pos = resume.map_or(next, |r| r.max(next));
    }
}

/// The first `char` boundary after `i`.
pub(crate) fn next_char_boundary(text: &str, i: usize) -> usize {
    let mut j = i + 1;
    while j < text.len() && !text.is_char_boundary(j) {
        j += 1;
    }
    j
}

/// The last `char` boundary at or before `i`.
pub(crate) fn floor_char_boundary(text: &str, i: usize) -> usize {
    let mut j = i.min(text.len());
    while j > 0 && !text.is_char_boundary(j) {
        j -= 1;
    }
    j
}

/// The `char` before byte `i`, if any.
pub(crate) fn char_before(text: &str, i: usize) -> Option<char> {
    text.get(..i)?.chars().next_back()
}

/// The `char` at byte `i`, if any.
pub(crate) fn char_at(text: &str, i: usize) -> Option<char> {
    text.get(i..)?.chars().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pii(start: usize, end: usize, layer: Layer) -> Candidate {
        Candidate {
            start,
            end,
            found: Found::Pii {
                kind: PiiKind::Name,
                layer,
                known: None,
            },
        }
    }

    #[test]
    fn longest_wins_then_known_then_earliest() {
        let out = resolve(vec![
            pii(0, 5, Layer::Recognizer),
            pii(0, 5, Layer::Known),
            pii(3, 12, Layer::Recognizer),
            pii(12, 14, Layer::Recognizer),
            Candidate {
                start: 13,
                end: 20,
                found: Found::TokenShaped,
            },
        ]);
        // (0, 5) sticks out of (3, 12): the winner widens over it. (12, 14) partly overlaps
        // an escape, which is never widened.
        assert_eq!(
            out.iter().map(|c| (c.start, c.end)).collect::<Vec<_>>(),
            vec![(0, 12), (13, 20)]
        );
        assert!(matches!(
            out[0].found,
            Found::Pii {
                layer: Layer::Recognizer,
                known: None,
                ..
            }
        ));
        let contained = resolve(vec![pii(2, 4, Layer::Known), pii(0, 9, Layer::Recognizer)]);
        assert_eq!(contained.len(), 1);
        assert_eq!((contained[0].start, contained[0].end), (0, 9));
    }
}
