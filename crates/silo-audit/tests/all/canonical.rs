//! Property tests without a store: canonical JSON is a fixed point; the entry decoder
//! refuses garbage without panicking.

use proptest::prelude::*;
use serde_json::Value;
use silo_audit::canonical::canonical_value;
use silo_audit::Entry;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-(1i64 << 53) + 1..(1i64 << 53)).prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn canonical_json_is_a_fixed_point(v in json_value()) {
        let once = canonical_value(&v).unwrap();
        let reparsed: Value = serde_json::from_slice(&once).unwrap();
        prop_assert_eq!(canonical_value(&reparsed).unwrap(), once);
    }

    #[test]
    fn the_entry_decoder_refuses_garbage_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        prop_assert!(Entry::decode(&bytes).is_err());
    }
}
