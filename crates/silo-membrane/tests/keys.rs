//! Key attacks: every request needs both keys, valid, unrevoked, and bound to this cell.

use ed25519_dalek::SigningKey;
use serde_json::json;
use silo_keys::{now_unix, Minter};
use silo_membrane::Limits;

use crate::support::{base_claims, refund, task_claims, Client, Fixture, CUSTOMER};

async fn refund_with(f: &Fixture, base: Option<String>, task: Option<String>) -> (u16, String) {
    let mut c = Client::connect(f.socket(), base, task).await;
    let a = c.post("/v1/refund", &refund(json!(100), "k")).await;
    (a.status, a.code().to_string())
}

fn nothing_paid(f: &Fixture) {
    assert!(f
        .services
        .ledger()
        .refunds_for(CUSTOMER)
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_forged_keys_are_refused() {
    let f = Fixture::new();
    // Same kid, another private key: the signature does not verify.
    let forger = Minter::new(f.minter.kid(), &SigningKey::from_bytes(&[9; 32])).unwrap();
    let forged_task = forger.mint_task(&task_claims("task-1", f.cell())).unwrap();
    let forged_base = forger.mint_base(&base_claims()).unwrap();
    assert_eq!(
        refund_with(&f, Some(f.base_key()), Some(forged_task)).await,
        (401, "invalid_key".into())
    );
    assert_eq!(
        refund_with(&f, Some(forged_base), Some(f.task_key("task-1"))).await,
        (401, "invalid_key".into())
    );
    // Garbage and an `alg: none` token.
    let none = "eyJhbGciOiJub25lIn0.eyJhdWQiOiJzaWxvOnRhc2sifQ.";
    for bad in ["garbage", none] {
        assert_eq!(
            refund_with(&f, Some(f.base_key()), Some(bad.into())).await,
            (401, "invalid_key".into())
        );
    }
    nothing_paid(&f);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_expired_task_key_is_refused() {
    let f = Fixture::new();
    let now = now_unix();
    let mut claims = task_claims("task-1", f.cell());
    claims.iat = now - 3000;
    claims.nbf = now - 3000;
    claims.exp = now - 1000;
    let expired = f.minter.mint_task(&claims).unwrap();
    assert_eq!(
        refund_with(&f, Some(f.base_key()), Some(expired)).await,
        (401, "key_expired".into())
    );
    nothing_paid(&f);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_revoked_task_key_is_refused() {
    let f = Fixture::new();
    let claims = task_claims("task-1", f.cell());
    let task = f.minter.mint_task(&claims).unwrap();
    let mut c = Client::connect(f.socket(), Some(f.base_key()), Some(task)).await;
    assert_eq!(c.get("/v1/task").await.status, 200);
    f.store.revoke(&claims.jti, now_unix()).unwrap();
    let a = c.post("/v1/refund", &refund(json!(100), "k")).await;
    assert_eq!((a.status, a.code()), (401, "key_revoked"));
    nothing_paid(&f);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_key_minted_for_another_cell_is_refused() {
    let mut f = Fixture::new();
    let other = f.add_cell("c-000000000002", Limits::default());
    // A valid task key for cell 2, presented on cell 1's socket.
    let for_cell_2 = f
        .minter
        .mint_task(&task_claims("task-9", "c-000000000002"))
        .unwrap();
    assert_eq!(
        refund_with(&f, Some(f.base_key()), Some(for_cell_2.clone())).await,
        (403, "wrong_cell".into())
    );
    nothing_paid(&f);
    // On its own cell's socket the same key works.
    let mut c = Client::connect(&other, Some(f.base_key()), Some(for_cell_2)).await;
    assert_eq!(
        c.post("/v1/refund", &refund(json!(100), "k")).await.status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_one_key_alone_is_refused() {
    let f = Fixture::new();
    let task = f.task_key("task-1");
    let base = f.base_key();
    assert_eq!(
        refund_with(&f, Some(base.clone()), None).await,
        (401, "missing_key".into())
    );
    assert_eq!(
        refund_with(&f, None, Some(task.clone())).await,
        (401, "missing_key".into())
    );
    assert_eq!(
        refund_with(&f, None, None).await,
        (401, "missing_key".into())
    );
    // A task key cannot stand in for a base key, nor the reverse.
    assert_eq!(
        refund_with(&f, Some(task.clone()), Some(task.clone())).await,
        (401, "invalid_key".into())
    );
    assert_eq!(
        refund_with(&f, Some(task), Some(base)).await,
        (401, "invalid_key".into())
    );
    nothing_paid(&f);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_base_key_of_another_agent_is_refused() {
    let f = Fixture::new();
    let mut claims = base_claims();
    claims.agent = "collections-agent".into();
    let other_agent = f.minter.mint_base(&claims).unwrap();
    assert_eq!(
        refund_with(&f, Some(other_agent), Some(f.task_key("task-1"))).await,
        (403, "agent_mismatch".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_never_echo_a_token() {
    let f = Fixture::new();
    let forged = Minter::new(f.minter.kid(), &SigningKey::from_bytes(&[3; 32]))
        .unwrap()
        .mint_task(&task_claims("task-1", f.cell()))
        .unwrap();
    let mut c = Client::connect(f.socket(), Some(f.base_key()), Some(forged)).await;
    let a = c.post("/v1/refund", &refund(json!(100), "k")).await;
    assert!(!a.body.to_string().contains("eyJ"), "{}", a.body);
}
