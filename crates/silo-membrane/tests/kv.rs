//! Task-scoped scratch storage.

use serde_json::json;
use silo_membrane::Limits;

use crate::support::{Client, Fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_round_trips_within_a_task() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let a = c
        .post("/v1/kv/put", &json!({"key": "plan", "value": {"step": 2}}))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = c.post("/v1/kv/get", &json!({"key": "plan"})).await;
    assert_eq!(a.body, json!({"found": true, "value": {"step": 2}}));
    let a = c.post("/v1/kv/get", &json!({"key": "nothing"})).await;
    assert_eq!(a.body, json!({"found": false, "value": null}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_kv_of_another_task_is_invisible() {
    let mut f = Fixture::new();
    let mut one = f.client().await;
    one.post(
        "/v1/kv/put",
        &json!({"key": "secret", "value": "task-1 only"}),
    )
    .await;
    // Another task on the same cell, and another task on another cell.
    let mut same_cell =
        Client::connect(f.socket(), Some(f.base_key()), Some(f.task_key("task-2"))).await;
    let other = f.add_cell("c-000000000003", Limits::default());
    let key = f
        .minter
        .mint_task(&crate::support::task_claims("task-3", "c-000000000003"))
        .unwrap();
    let mut other_cell = Client::connect(&other, Some(f.base_key()), Some(key)).await;
    for c in [&mut same_cell, &mut other_cell] {
        let a = c.post("/v1/kv/get", &json!({"key": "secret"})).await;
        assert_eq!(a.body, json!({"found": false, "value": null}));
        // Naming the other task in the body is not a thing the protocol accepts.
        let a = c
            .post("/v1/kv/get", &json!({"key": "secret", "task": "task-1"}))
            .await;
        assert_eq!(a.code(), "invalid_request");
        // Writing the same key does not touch task-1's value.
        c.post(
            "/v1/kv/put",
            &json!({"key": "secret", "value": "overwritten"}),
        )
        .await;
    }
    let a = one.post("/v1/kv/get", &json!({"key": "secret"})).await;
    assert_eq!(a.body["value"], "task-1 only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_keys_and_values_are_bounded() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let a = c
        .post("/v1/kv/put", &json!({"key": "k".repeat(257), "value": 1}))
        .await;
    assert_eq!(a.code(), "invalid_request");
    let a = c
        .post(
            "/v1/kv/put",
            &json!({"key": "big", "value": "x".repeat(40_000)}),
        )
        .await;
    assert_eq!(a.code(), "invalid_request");
}
