//! The runner's mutator: byte-level changes in the style of libFuzzer's (flip, set,
//! insert, erase, duplicate, splice, dictionary words, numbers at their edges), driven by a
//! seeded generator so a run can be repeated from its seed.
//!
//! Hand-written rather than a crate: the mutators that exist come with a whole fuzzing
//! engine (LibAFL, libFuzzer itself) that needs coverage instrumentation, i.e. nightly
//! Rust; the stable runner only needs these few lines.

use fastrand::Rng;

/// Longest input the mutator makes.
pub const MAX_LEN: usize = 64 * 1024;

/// Values at the edges of integer types and of the limits silo checks, as text.
const NUMBERS: [&str; 16] = [
    "0",
    "-1",
    "1",
    "255",
    "256",
    "65535",
    "2147483647",
    "-2147483648",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "1e308",
    "-0.0",
    "0.1",
    "99999999999999999999999999",
];

/// Applies one to four random mutations to `input`. `other` is another corpus input to
/// splice from; `dictionary` holds words worth inserting.
pub fn mutate(rng: &mut Rng, input: &[u8], other: &[u8], dictionary: &[&str]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.usize(1..=4) {
        mutate_once(rng, &mut out, other, dictionary);
    }
    out.truncate(MAX_LEN);
    out
}

fn mutate_once(rng: &mut Rng, out: &mut Vec<u8>, other: &[u8], dictionary: &[&str]) {
    let len = out.len();
    match rng.u8(0..11) {
        // Flip one bit.
        0 if len > 0 => {
            let i = rng.usize(0..len);
            out[i] ^= 1 << rng.u8(0..8);
        }
        // Set a byte to an interesting value.
        1 if len > 0 => {
            let i = rng.usize(0..len);
            out[i] = *rng
                .choice(b"\0\x01\x7f\x80\xff\r\n\t \"'\\{}[]:,.-_%")
                .unwrap_or(&0);
        }
        // Insert random bytes.
        2 => {
            let at = rng.usize(0..=len);
            let n = rng.usize(1..=8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.u8(..)).collect();
            out.splice(at..at, bytes);
        }
        // Erase a range.
        3 if len > 0 => {
            let at = rng.usize(0..len);
            let n = rng.usize(1..=(len - at).min(32));
            out.drain(at..at + n);
        }
        // Duplicate a range in place (repetition finds length and nesting bugs).
        4 if len > 0 => {
            let at = rng.usize(0..len);
            let n = rng.usize(1..=(len - at).min(64));
            let chunk = out[at..at + n].to_vec();
            let times = rng.usize(1..=16);
            for _ in 0..times {
                out.splice(at..at, chunk.iter().copied());
            }
        }
        // Splice a piece of another input in.
        5 if !other.is_empty() => {
            let from = rng.usize(0..other.len());
            let n = rng.usize(1..=(other.len() - from).min(128));
            let at = rng.usize(0..=len);
            out.splice(at..at, other[from..from + n].iter().copied());
        }
        // Insert or overwrite with a dictionary word.
        6 | 7 if !dictionary.is_empty() => {
            let word = rng.choice(dictionary).map_or(&b""[..], |w| w.as_bytes());
            let at = rng.usize(0..=len);
            if rng.bool() || at + word.len() > len {
                out.splice(at..at, word.iter().copied());
            } else {
                out.splice(at..at + word.len(), word.iter().copied());
            }
        }
        // Replace a run of digits (or insert) with a number at an edge.
        8 => {
            let number = rng.choice(NUMBERS).unwrap_or("0").as_bytes();
            match find_digits(out, rng.usize(0..=len)) {
                Some((s, e)) => {
                    out.splice(s..e, number.iter().copied());
                }
                None => {
                    let at = rng.usize(0..=len);
                    out.splice(at..at, number.iter().copied());
                }
            }
        }
        // Swap two bytes.
        9 if len > 1 => {
            let (a, b) = (rng.usize(0..len), rng.usize(0..len));
            out.swap(a, b);
        }
        // Truncate.
        10 if len > 0 => {
            out.truncate(rng.usize(0..len));
        }
        _ => {
            let at = rng.usize(0..=len);
            out.insert(at, rng.u8(..));
        }
    }
}

/// The first run of ASCII digits at or after `from`.
fn find_digits(bytes: &[u8], from: usize) -> Option<(usize, usize)> {
    let start = from + bytes.get(from..)?.iter().position(u8::is_ascii_digit)?;
    let end = bytes[start..]
        .iter()
        .position(|b| !b.is_ascii_digit())
        .map_or(bytes.len(), |n| start + n);
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_makes_the_same_mutations() {
        let run = |seed| {
            let mut rng = Rng::with_seed(seed);
            (0..200)
                .map(|_| mutate(&mut rng, b"{\"amount\": 100}", b"other", &["{{BASE}}"]))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn mutations_change_the_input_and_stay_bounded() {
        let mut rng = Rng::with_seed(1);
        let input = vec![b'a'; MAX_LEN];
        let mut changed = 0;
        for _ in 0..500 {
            let m = mutate(&mut rng, &input, b"xyz", &["word"]);
            assert!(m.len() <= MAX_LEN);
            changed += usize::from(m != input);
        }
        assert!(
            changed > 400,
            "only {changed} of 500 mutations changed anything"
        );
    }
}
