//! `/v1/data/*`: the task's customer only, granted fields only, personal data as tokens,
//! named writes only.

use serde_json::json;

use crate::support::{Fixture, CASE, OTHER_CUSTOMER};

/// Raw values of the seed customer that must never cross the membrane.
const RAW: [&str; 6] = [
    "Jane Smith",
    "jane.smith@example.com",
    "555",
    "Harbour",
    "1984-03-07",
    "JANE SMITH",
];

fn assert_no_raw(text: &str) {
    for raw in RAW {
        assert!(!text.contains(raw), "raw value `{raw}` crossed: {text}");
    }
}

#[tokio::test]
async fn customer_record_comes_back_tokenised_and_clear_where_operational() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let a = c.post("/v1/data/customer", &json!({})).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let cust = &a.body["customer"];
    assert_eq!(cust["name"], "[NAME_1]");
    assert_eq!(cust["email"], "[EMAIL_1]");
    assert_eq!(cust["phone"], "[PHONE_1]");
    assert_eq!(cust["balance_cents"], 1250);
    assert_eq!(cust["tier"], "gold");
    assert!(cust.get("address").is_none(), "not granted, not returned");
    assert_no_raw(&a.body.to_string());
    // Stable within the task.
    let again = c
        .post("/v1/data/customer", &json!({"fields": ["email"]}))
        .await;
    assert_eq!(again.body["customer"]["email"], "[EMAIL_1]");
}

#[tokio::test]
async fn attack_ungranted_field_is_denied() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let a = c
        .post(
            "/v1/data/customer",
            &json!({"fields": ["name", "date_of_birth"]}),
        )
        .await;
    assert_eq!(a.status, 403);
    assert_eq!(a.code(), "denied");
    assert_eq!(a.body["error"]["rule"], "capability.data.read.fields");
    assert_no_raw(&a.body.to_string());
    let a = c
        .post("/v1/data/customer", &json!({"fields": ["password_hash"]}))
        .await;
    assert_eq!(a.code(), "invalid_request");
}

#[tokio::test]
async fn attack_other_customers_record_is_out_of_reach() {
    let f = Fixture::new();
    // The body cannot name a customer at all.
    let mut c = f.client().await;
    let a = c
        .post("/v1/data/customer", &json!({"customer": OTHER_CUSTOMER}))
        .await;
    assert_eq!(a.code(), "invalid_request");
    // A task key for another customer reads that customer, never ours.
    let mut other = f.client_for("task-other", OTHER_CUSTOMER).await;
    let a = other
        .post("/v1/data/customer", &json!({"fields": ["balance_cents"]}))
        .await;
    assert_eq!(a.body["customer"]["balance_cents"], 0);
}

#[tokio::test]
async fn orders_and_history_free_text_is_tokenised() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let a = c.post("/v1/data/orders", &json!({})).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let orders = a.body["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 3);
    assert_eq!(orders[1]["total_cents"], 4599);
    assert_eq!(orders[1]["items"], json!(["Kettle"]));
    let h = c.post("/v1/data/history", &json!({})).await;
    assert_eq!(h.status, 200);
    let text = format!("{}{}", a.body, h.body);
    assert!(text.contains("[NAME_1]"), "{text}");
    assert_no_raw(&text);
}

#[tokio::test]
async fn attack_raw_sql_and_unknown_operations_are_refused() {
    let f = Fixture::new();
    let mut c = f.client().await;
    for body in [
        json!({"op": "sql", "text": "DROP TABLE customers"}),
        json!({"sql": "SELECT * FROM customers"}),
        json!({"op": "case.set_status; DROP TABLE cases", "status": "resolved"}),
    ] {
        let a = c.post("/v1/data/write", &body).await;
        assert_eq!(a.code(), "invalid_request", "{body}");
    }
    // A known operation the base key does not grant.
    let a = c
        .post(
            "/v1/data/write",
            &json!({"op": "case.set_status", "status": "resolved"}),
        )
        .await;
    assert_eq!(a.code(), "denied");
    assert_eq!(a.body["error"]["rule"], "capability.data.write.ops");
    // The granted one works, on the task's own case, and stores text verbatim.
    let a = c
        .post(
            "/v1/data/write",
            &json!({"op": "case.add_note", "text": "'); DROP TABLE cases; --"}),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["case"], CASE);
    let data = silo_membrane::connectors::data::SqliteData::open(
        &silo_membrane::Connectors::business_db(f.dir.path()),
    )
    .unwrap();
    let (status, notes) = data.case(CASE).unwrap().unwrap();
    assert_eq!(status, "open");
    assert_eq!(notes, vec!["'); DROP TABLE cases; --".to_string()]);
}
