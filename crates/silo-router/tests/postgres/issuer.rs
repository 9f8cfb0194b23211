//! Turn keys for cell hosts that hold no private key (`silo_router::issuer`): a router
//! host signs only the turn its own store shows dispatched, with claims it builds itself,
//! for an agent folder whose content matches its own; anything else is refused.

use std::time::Duration;

use silo_invoke::{KeyIssuer, TurnKeyRequest};
use silo_router::issuer::{DbKeyIssuer, KeyService};
use silo_router::{Event, KernelConfig, Store, TaskId};

use crate::support::{database_at, kernel_at, spec, store_at};

const CELL: &str = "c-0123456789ab";
const JTI: &str = "0123456789abcdef0123456789abcdef";

#[test]
fn a_router_host_signs_only_the_turn_it_dispatched() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("router.db");
    let db = database_at(&path);
    let agents = tmp.path().join("agents");
    let folder = agents.join("refund-agent");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("agent.yaml"),
        "name: refund-agent\nversion: 1.0.0\nentry: [/bin/true]\nlimits: { timeout: 20s }\n\
         capabilities:\n  refund: { max_cents: 500, currency: USD }\n",
    )
    .unwrap();
    let hash = silo_keys::folder_hash(&folder).unwrap().as_str().to_owned();
    let keys = tmp.path().join("keys");
    silo_keys::KeyStore::init_with_postgres(&keys, silo_keys::now_unix(), &db).unwrap();

    // A task, dispatched (as the kernel records it) with a cell and a key id.
    let kernel = kernel_at(&path, KernelConfig::default());
    let now = silo_keys::now_unix();
    let id = kernel.submit(spec("refund"), now).unwrap();
    let dispatched = Event::Dispatched {
        agent: "refund-agent".into(),
        cell: CELL.into(),
        task_key_jti: JTI.into(),
        timeout_ms: Some(5_000),
    };
    kernel.store().apply(&id, &dispatched, now, None).unwrap();

    let service = KeyService::new(db.clone(), &keys, &agents);
    let store = store_at(&path);
    std::thread::spawn(move || service.run(&store));
    let issuer = DbKeyIssuer::new(db.clone());
    let request = TurnKeyRequest {
        task: format!("{id}.1"),
        cell: CELL.into(),
        task_key_jti: JTI.into(),
        agent: "refund-agent".into(),
        folder_hash: hash.clone(),
    };

    // The dispatched turn: keys that a membrane on another host verifies with the
    // published public keys, bound to the cell, with the router's own claims.
    let issued = issuer.issue(&request).unwrap();
    let verifier = silo_keys::Verifier::from_postgres(&db, Duration::from_secs(1)).unwrap();
    let now = silo_keys::now_unix();
    let task = verifier.verify_task(&issued.task, CELL, now).unwrap();
    assert_eq!(task.task, format!("{id}.1"));
    assert_eq!(task.customer, "cust-1");
    assert_eq!(task.jti, JTI);
    assert!(
        task.exp <= now + 5 + 60 + 1,
        "the router's 5 s limit, not the agent's 20 s"
    );
    assert!(verifier
        .verify_task(&issued.task, "c-ffffffffffff", now)
        .is_err());
    let base = verifier.verify_base(&issued.base, now, None).unwrap();
    assert_eq!(base.agent, "refund-agent");
    assert_eq!(base.folder_hash, hash);
    // The tokens left the database with the answer.
    let mut client = db.client().unwrap();
    let left: i64 = client
        .query_one("SELECT COUNT(*) FROM key_requests", &[])
        .unwrap()
        .get(0);
    assert_eq!(left, 0);

    // Anything but that turn is refused.
    let refused = |r: TurnKeyRequest| issuer.issue(&r).unwrap_err();
    let e = refused(TurnKeyRequest {
        cell: "c-ffffffffffff".into(),
        ..request.clone()
    });
    assert!(e.contains("another agent, cell or key id"), "{e}");
    let e = refused(TurnKeyRequest {
        task_key_jti: "ffffffffffffffffffffffffffffffff".into(),
        cell: "c-0123456789ac".into(),
        ..request.clone()
    });
    assert!(e.contains("another agent, cell or key id"), "{e}");
    let e = refused(TurnKeyRequest {
        task: format!("{id}.2"),
        cell: "c-0123456789ad".into(),
        ..request.clone()
    });
    assert!(e.contains("not the one dispatched now"), "{e}");
    let e = refused(TurnKeyRequest {
        task: "task-999.1".into(),
        cell: "c-0123456789ae".into(),
        ..request.clone()
    });
    assert!(e.contains("no task"), "{e}");
    let e = refused(TurnKeyRequest {
        agent: "manager-agent".into(),
        cell: "c-0123456789af".into(),
        ..request.clone()
    });
    assert!(e.contains("another agent"), "{e}");
    let e = refused(TurnKeyRequest {
        folder_hash: "sha256:00".into(),
        ..request.clone()
    });
    assert!(e.contains("differs from the router's"), "{e}");

    // Once the turn is over, its keys are not issued again.
    let result = Event::AgentResult {
        agent: "refund-agent".into(),
        result: crate::support::done("ok"),
        shadow: false,
    };
    kernel
        .store()
        .apply(&TaskId(id.0.clone()), &result, now, None)
        .unwrap();
    let e = refused(request);
    assert!(e.contains("not the one dispatched now"), "{e}");
}
