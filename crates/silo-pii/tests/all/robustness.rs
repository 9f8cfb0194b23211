//! Large and hostile input: no panics, offsets on char boundaries, bounded time.

use std::time::{Duration, Instant};

use silo_pii::{scan, KnownSet, PiiKind, Vault};

use crate::support::known;

#[test]
fn five_megabytes_of_mixed_text_is_handled() {
    let chunk =
        "Hello Jane Smith, your card 4111 1111 1111 1111 was charged. Call +1 212 555 0142 \
                 or write bob@example.org. Order 12345678901234567 shipped 2024-01-02. ";
    let text = chunk.repeat(5 * 1024 * 1024 / chunk.len());
    let vault = Vault::scratch().unwrap();
    let start = Instant::now();
    let out = vault.tokenize_text("t", &text, &known()).unwrap();
    assert!(start.elapsed() < Duration::from_secs(60));
    assert!(!out.text.contains("4111"));
    assert!(!out.text.contains("Jane"));
    assert!(out.text.contains("Order 12345678901234567"));
    assert_eq!(out.tokens.len(), 4); // one name, card, phone, email: stable across repeats
}

#[test]
fn pathological_inputs_stay_fast_and_panic_free() {
    // Each is a worst case for some recognizer (a rejected candidate at every position).
    // Linear in release at ≥ 2 MB/s; sized so a debug build stays well inside the bound.
    let cases = [
        "a".repeat(512 * 1024),
        "1".repeat(512 * 1024),
        "1 ".repeat(256 * 1024),
        "4111 ".repeat(100 * 1024),
        "[".repeat(512 * 1024),
        "[A_".repeat(170 * 1024),
        ":".repeat(512 * 1024),
        "0:".repeat(256 * 1024),
        "a@".repeat(256 * 1024),
        "born ".repeat(100 * 1024),
        "1.".repeat(256 * 1024),
        "1-".repeat(256 * 1024),
        "Mr. ".repeat(128 * 1024),
        "AB12 ".repeat(100 * 1024),
    ];
    for text in &cases {
        let start = Instant::now();
        let spans = scan(text, &known()).unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{:?}… took {:?}",
            &text[..8],
            start.elapsed()
        );
        for s in spans {
            assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end));
        }
    }
}

#[test]
fn unicode_text_keeps_offsets_on_char_boundaries() {
    let text = "Grüße, Jane Smith! 📞 +1 (555) 010-2030 — émail: jane.smith@example.com; \
                名前: 山田太郎, ☃☃☃ 4111 1111 1111 1111 🎉 née le 14.03.1985, DOB: 14.03.1985 ✓ \
                Dr. Ørsted, 2001:db8::1‽ JANE SMITH\u{200B}SMITH";
    let spans = scan(text, &known()).unwrap();
    assert!(spans.len() >= 8, "{spans:?}");
    let mut last_end = 0;
    for s in &spans {
        assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end));
        assert!(s.start >= last_end, "overlap");
        last_end = s.end;
    }
    let vault = Vault::scratch().unwrap();
    let out = vault.tokenize_text("t", text, &known()).unwrap();
    assert!(!out.text.contains("555") && !out.text.contains("4111"));
    assert!(out.text.contains("名前: 山田太郎"));
    let back = vault.hydrate_tokens("t", &out.text, &PiiKind::ALL).unwrap();
    assert!(back.contains("Grüße, Jane Smith! 📞"));
}

#[test]
fn random_bytes_as_text_never_panic() {
    // A small deterministic generator over a mix of ASCII, digits, separators and
    // multi-byte characters.
    let alphabet: Vec<char> = "aZ09 -.:/@+()[]_,\n€ü名🎉ﬀ".chars().collect();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let set = known();
    for len in [0usize, 1, 2, 7, 64, 1000, 20_000] {
        let text: String = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                alphabet[(state % alphabet.len() as u64) as usize]
            })
            .collect();
        for s in scan(&text, &set).unwrap() {
            assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end));
        }
        let vault = Vault::scratch().unwrap();
        let out = vault.tokenize_text("t", &text, &KnownSet::empty()).unwrap();
        let _ = vault.hydrate_tokens("t", &out.text, &PiiKind::ALL).unwrap();
    }
}
