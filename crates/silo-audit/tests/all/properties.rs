//! Property test against the store: any one-byte edit of any entry is caught at that entry.

use proptest::prelude::*;

use crate::support::log_with;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn any_one_byte_edit_is_caught_at_that_entry(
        seq in 0u64..8,
        at in any::<prop::sample::Index>(),
        replacement in 0x20u8..0x7f,
    ) {
        let fx = log_with(8);
        let mut attacker = fx.attacker();
        let mut bytes = attacker.body(seq).into_bytes();
        let i = at.index(bytes.len());
        prop_assume!(bytes[i] != replacement);
        bytes[i] = replacement;
        let edited = String::from_utf8(bytes).unwrap();
        attacker.set_body(seq, &edited);
        let err = fx.log.verify().unwrap_err();
        prop_assert_eq!(err.tamper().and_then(|t| t.first_bad_seq()), Some(seq));
    }
}
