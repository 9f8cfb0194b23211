//! Property tests: whatever the agent puts in a refund's params, an allow means a positive
//! integer amount within the base key's limit, in its currency, for the task's customer.

use proptest::prelude::*;
use serde_json::{json, Value};
use silo_policy::{Context, NoCounters, PolicySet};

use crate::common::*;

fn any_json_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::from),
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (0i64..100_000).prop_map(|n| json!([n])),
        (0i64..100_000).prop_map(|n| json!({"cents": n})),
    ]
}

fn currency() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("USD")),
        Just(json!("EUR")),
        Just(json!("usd")),
        any_json_scalar()
    ]
}

fn customer() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(Some(json!("cust_1"))),
        Just(Some(json!("cust_2"))),
        Just(None),
        any_json_scalar().prop_map(Some)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn refund_allow_implies_every_constraint(
        amount in prop_oneof![any_json_scalar(), (-10i64..60_000).prop_map(Value::from)],
        currency in currency(),
        customer in customer(),
    ) {
        let policy = PolicySet::capabilities_only();
        let (base, task) = (base_claims(), task_claims());
        let mut params = json!({"amount": amount, "currency": currency});
        if let Some(c) = customer {
            params["customer"] = c;
        }
        let d = policy.decide(&base, &task, "refund", &params, &Context::new(NOW, &NoCounters));
        if d.is_allow() {
            let n = params["amount"].as_i64();
            prop_assert!(params["amount"].is_i64() && n.is_some_and(|n| (1..=50_000).contains(&n)), "{params}");
            prop_assert_eq!(&params["currency"], &json!("USD"));
            prop_assert_eq!(&params["customer"], &json!("cust_1"));
        }
    }

    #[test]
    fn arbitrary_action_names_never_allow_unless_known(action in prop_oneof!["[a-z.]{0,16}", "kv\\.(get|put|gte)", "llm\\.cha[st]"]) {
        let policy = PolicySet::capabilities_only();
        let d = policy.decide(&base_claims(), &task_claims(), &action, &json!({}), &Context::new(NOW, &NoCounters));
        if d.is_allow() {
            prop_assert!(action.parse::<silo_policy::Action>().is_ok(), "{action}");
        }
    }
}
