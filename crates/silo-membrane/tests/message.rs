//! `/v1/email/send` and `/v1/sms/send`: templates from the agent folder, to the customer's
//! own token, rendered by the membrane, never shown to the agent.

use serde_json::{json, Value};
use silo_membrane::connectors::outbox::Channel;

use crate::support::{Client, Fixture};

async fn tokens(c: &mut Client) -> Value {
    let a = c
        .post("/v1/data/customer", &json!({"fields": ["email", "phone"]}))
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    a.body["customer"].clone()
}

fn email(to: &Value, key: &str, note: &str) -> Value {
    json!({
        "template": "refund_issued",
        "to": to,
        "vars": {"refund_id": "rf_1", "amount": "$12.34", "note": note},
        "idempotency_key": key,
    })
}

#[tokio::test]
async fn email_to_the_customers_token_is_rendered_and_queued_once() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let t = tokens(&mut c).await;
    let a = c
        .post("/v1/email/send", &email(&t["email"], "k1", "Thanks."))
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["status"], "queued");
    assert_eq!(a.body["replayed"], false);
    // The agent never sees the rendered text or the address.
    let answer = a.body.to_string();
    assert!(
        !answer.contains("Jane") && !answer.contains("example.com"),
        "{answer}"
    );
    let again = c
        .post("/v1/email/send", &email(&t["email"], "k1", "Thanks."))
        .await;
    assert_eq!(again.body["replayed"], true);
    assert_eq!(again.body["message_id"], a.body["message_id"]);
    let changed = c
        .post("/v1/email/send", &email(&t["email"], "k1", "Other."))
        .await;
    assert_eq!(changed.code(), "idempotency_conflict");
    let out = f.outbox(Channel::Email);
    assert_eq!(out.len(), 1, "sent exactly once");
    assert_eq!(out[0].to, "jane.smith@example.com");
    assert_eq!(out[0].subject.as_deref(), Some("Your refund rf_1"));
    assert!(
        out[0]
            .body
            .starts_with("Dear Jane Smith,\nwe refunded $12.34."),
        "{}",
        out[0].body
    );
}

#[tokio::test]
async fn sms_goes_to_the_phone_token() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let t = tokens(&mut c).await;
    let body = json!({"template": "refund_issued", "to": t["phone"], "vars": {"refund_id": "rf_9"}, "idempotency_key": "s1"});
    let a = c.post("/v1/sms/send", &body).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let out = f.outbox(Channel::Sms);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].to, "+1 (555) 010-2030");
    assert_eq!(out[0].body, "Hi Jane, refund rf_9 is on its way.");
    // An email token is not a phone number.
    let wrong = json!({"template": "refund_issued", "to": t["email"], "vars": {"refund_id": "rf_9"}, "idempotency_key": "s2"});
    assert_eq!(
        c.post("/v1/sms/send", &wrong).await.code(),
        "invalid_request"
    );
}

#[tokio::test]
async fn attack_raw_address_instead_of_a_token_is_refused() {
    let f = Fixture::new();
    let mut c = f.client().await;
    tokens(&mut c).await;
    for to in [
        "attacker@evil.example",
        "jane.smith@example.com",
        "[EMAIL_7]",
        "⟦EMAIL_1⟧",
    ] {
        let a = c.post("/v1/email/send", &email(&json!(to), to, "x")).await;
        assert_eq!(a.code(), "invalid_request", "{to}");
        assert!(
            !a.body.to_string().contains("example.com") || to.contains("example"),
            "{:?}",
            a.body
        );
    }
    assert!(f.outbox(Channel::Email).is_empty());
}

#[tokio::test]
async fn attack_token_from_another_task_does_not_resolve() {
    let f = Fixture::new();
    let mut a_task = f.client().await;
    let t = tokens(&mut a_task).await;
    let mut b_task = f.client_for("task-2", crate::support::CUSTOMER).await;
    let a = b_task
        .post("/v1/email/send", &email(&t["email"], "k", "x"))
        .await;
    assert_eq!(a.code(), "invalid_request");
    assert!(f.outbox(Channel::Email).is_empty());
}

#[tokio::test]
async fn attack_template_not_granted_or_outside_the_folder_is_refused() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let t = tokens(&mut c).await;
    let memo = json!({"template": "internal_memo", "to": t["email"], "vars": {"text": "hi"}, "idempotency_key": "m"});
    let a = c.post("/v1/email/send", &memo).await;
    assert_eq!(a.code(), "denied");
    assert_eq!(a.body["error"]["rule"], "capability.email.send.templates");
    let escape = json!({"template": "../../../etc/passwd", "to": t["email"], "vars": {}, "idempotency_key": "m"});
    assert_eq!(
        c.post("/v1/email/send", &escape).await.code(),
        "invalid_request"
    );
    assert!(f.outbox(Channel::Email).is_empty());
}

#[tokio::test]
async fn attack_tokens_and_placeholders_in_vars_are_never_hydrated() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let t = tokens(&mut c).await;
    // The agent tries to make the membrane put the customer's data where it can read it
    // back, or to add placeholders the template's author did not write.
    let sneaky = "[EMAIL_1] [PHONE_1] {{customer.name}}";
    let a = c
        .post("/v1/email/send", &email(&t["email"], "k", sneaky))
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let out = f.outbox(Channel::Email);
    assert!(out[0].body.contains(sneaky), "{}", out[0].body);
    assert!(!out[0].body.contains("555"), "{}", out[0].body);
    // Extra variables are refused rather than ignored.
    let mut extra = email(&t["email"], "k2", "x");
    extra["vars"]["customer"] = json!("y");
    assert_eq!(
        c.post("/v1/email/send", &extra).await.code(),
        "invalid_request"
    );
    let mut missing = email(&t["email"], "k3", "x");
    missing["vars"].as_object_mut().unwrap().remove("amount");
    assert_eq!(
        c.post("/v1/email/send", &missing).await.code(),
        "invalid_request"
    );
}

const TWO_EMAILS: &str = "version: 1
default: allow
rules:
  - name: two-emails-a-task
    action: email.send
    rate_limit: { per: task, max: 2, window_secs: 3600 }
    effect: deny
";

/// A crash between queueing a message and recording its usage (simulated by deleting the
/// usage rows): the replay of the same idempotency key counts it, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_but_not_counted_is_counted_once_by_its_replay() {
    let policy = silo_policy::PolicySet::from_yaml_str("p.yaml", TWO_EMAILS).unwrap();
    let mut f = Fixture::bare_with(policy, |s| s);
    f.add_cell("c-000000000001", silo_membrane::Limits::default());
    let mut c = f.client().await;
    let t = tokens(&mut c).await;
    let a = c
        .post("/v1/email/send", &email(&t["email"], "k1", "x"))
        .await;
    assert_eq!(
        (a.status, a.body["replayed"].clone()),
        (200, json!(false)),
        "{}",
        a.body
    );
    let lost = rusqlite::Connection::open(silo_membrane::Services::db_path(f.dir.path()))
        .unwrap()
        .execute("DELETE FROM usage_events WHERE action = 'email.send'", [])
        .unwrap();
    assert_eq!(lost, 3, "one row per scope");
    // Two replays: the first counts the lost send, the second nothing.
    for _ in 0..2 {
        let a = c
            .post("/v1/email/send", &email(&t["email"], "k1", "x"))
            .await;
        assert_eq!(
            (a.status, a.body["replayed"].clone()),
            (200, json!(true)),
            "{}",
            a.body
        );
    }
    let a = c
        .post("/v1/email/send", &email(&t["email"], "k2", "x"))
        .await;
    assert_eq!(
        a.status, 200,
        "a double count refused the second email: {}",
        a.body
    );
    let a = c
        .post("/v1/email/send", &email(&t["email"], "k3", "x"))
        .await;
    assert_eq!(
        (a.status, a.code()),
        (403, "denied"),
        "a lost count let a third through: {}",
        a.body
    );
    assert_eq!(f.outbox(Channel::Email).len(), 2);
}
