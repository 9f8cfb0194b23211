//! The membrane's stores on PostgreSQL, as several hosts share them: each test opens a
//! fresh database of the throw-away server and, where hosts matter, two connection pools
//! on it (two `Database`s are two hosts: no connection, lock or cache in common).

use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

use serde_json::json;
use silo_audit::AuditLog;
use silo_keys::{now_unix, Capabilities, KeyStore, BASE_AUDIENCE, TASK_AUDIENCE};
use silo_membrane::connectors::usage::UsageGate;
use silo_membrane::{
    CellBinding, CompletionStatus, KvStore, Ledger, Limits, LlmUsage, Membrane, Outcome,
    OutcomeStore, PgKv, PgLedger, PgLlmUsage, PgOutcomes, PgUsage, PutOutcome, RecordOutcome,
    RefundOutcome, RefundRequest, Reservation, Services, UsageStore, OUTPUT_PREFIX,
};
use silo_policy::{Action, PolicySet, RateScope, UsageCounters, DAY_SECS};
use silo_postgres::Database;

use crate::support::{base_claims, keep_open, off_runtime, refund, task_claims, Client, CUSTOMER};

/// One fresh database, opened by `hosts` separate pools.
fn hosts(n: usize) -> Vec<Database> {
    let url = silo_postgres::Throwaway::shared()
        .unwrap()
        .fresh_database()
        .unwrap();
    (0..n).map(|_| Database::connect(&url).unwrap()).collect()
}

fn req(customer: &str, key: &str, amount: i64, now: u64) -> RefundRequest {
    RefundRequest {
        task: "t".into(),
        agent: "a".into(),
        customer: customer.into(),
        idempotency_key: key.into(),
        amount_cents: amount,
        currency: "USD".into(),
        reason: "late".into(),
        now,
    }
}

#[test]
fn pg_ledger_replays_a_key_and_refuses_it_with_another_amount() {
    let db = hosts(1).remove(0);
    let l = PgLedger::new(db);
    let RefundOutcome::Issued(first) = l.refund(&req("cus_1", "k1", 100, 5)).unwrap() else {
        panic!("not issued")
    };
    assert!(first.refund_id.starts_with("rf_"));
    assert_eq!(
        l.refund(&req("cus_1", "k1", 100, 6)).unwrap(),
        RefundOutcome::Replayed(first.clone())
    );
    assert_eq!(
        l.refund(&req("cus_1", "k1", 999, 7)).unwrap(),
        RefundOutcome::Conflict(first.clone())
    );
    let mut eur = req("cus_1", "k1", 100, 8);
    eur.currency = "EUR".into();
    assert_eq!(
        l.refund(&eur).unwrap(),
        RefundOutcome::Conflict(first.clone())
    );
    // The key is per customer; a second key pays again.
    assert!(matches!(
        l.refund(&req("cus_2", "k1", 100, 9)).unwrap(),
        RefundOutcome::Issued(_)
    ));
    let RefundOutcome::Issued(second) = l.refund(&req("cus_1", "k2", 300, 10)).unwrap() else {
        panic!("not issued")
    };
    // Oldest first, every field as written.
    assert_eq!(l.refunds_for("cus_1").unwrap(), vec![first, second]);
    assert_eq!(l.refunds_for("cus_2").unwrap().len(), 1);
    assert!(l.refunds_for("cus_3").unwrap().is_empty());
}

#[test]
fn attack_one_idempotency_key_raced_from_two_hosts_pays_once() {
    let dbs = hosts(2);
    let ledgers: Vec<Arc<PgLedger>> = dbs
        .into_iter()
        .map(|db| Arc::new(PgLedger::new(db)))
        .collect();
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let ledger = ledgers[i % 2].clone();
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                ledger.refund(&req("cus_1", "same", 15000, 1)).unwrap()
            })
        })
        .collect();
    let outcomes: Vec<RefundOutcome> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let issued: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            RefundOutcome::Issued(r) => Some(r.refund_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(issued.len(), 1, "{outcomes:?}");
    for o in &outcomes {
        match o {
            RefundOutcome::Issued(r) | RefundOutcome::Replayed(r) => {
                assert_eq!(r.refund_id, issued[0])
            }
            RefundOutcome::Conflict(r) => panic!("conflict on an identical request: {r:?}"),
        }
    }
    assert_eq!(ledgers[1].refunds_for("cus_1").unwrap().len(), 1);
}

fn keys(task: &str) -> (silo_keys::BaseKey, silo_keys::TaskKey) {
    let base = silo_keys::BaseKey {
        aud: BASE_AUDIENCE.into(),
        jti: "j".into(),
        iat: 0,
        exp: 1,
        agent: "a".into(),
        version: "1".into(),
        folder_hash: "sha256:0".into(),
        caps: Capabilities::default(),
    };
    let t = silo_keys::TaskKey {
        aud: TASK_AUDIENCE.into(),
        jti: "k".into(),
        iat: 0,
        nbf: 0,
        exp: 1,
        task: task.into(),
        agent: "a".into(),
        customer: "c".into(),
        case: "x".into(),
        workflow: None,
        cell: "c-1".into(),
    };
    (base, t)
}

#[test]
fn pg_usage_counts_windows_and_daily_totals_across_hosts_and_tasks() {
    let mut dbs = hosts(2);
    let day = 20_000 * DAY_SECS;
    let one = PgUsage::new(dbs.remove(0));
    let other = PgUsage::new(dbs.remove(0));
    let (b, t1) = keys("t1");
    let (_, t2) = keys("t2");
    one.record(&b, &t1, Action::Refund, Some(300), day + 10);
    other.record(&b, &t2, Action::Refund, Some(200), day + 20);
    // Yesterday's refund counts in a window reaching back over midnight, not in today's total.
    other.record(&b, &t2, Action::Refund, Some(700), day - 5);
    for u in [&one, &other] {
        assert_eq!(
            u.daily_total(RateScope::Agent, "a", Action::Refund, day + 30),
            500
        );
        assert_eq!(
            u.daily_total(RateScope::Task, "t2", Action::Refund, day + 30),
            200
        );
        assert_eq!(
            u.daily_total(RateScope::Customer, "c", Action::Refund, day - 1),
            700
        );
        assert_eq!(
            u.daily_total(RateScope::Agent, "a", Action::Refund, day + DAY_SECS),
            0
        );
        assert_eq!(
            u.count(RateScope::Customer, "c", Action::Refund, 15, day + 30),
            1
        );
        assert_eq!(
            u.count(RateScope::Customer, "c", Action::Refund, 60, day + 30),
            3
        );
        assert_eq!(
            u.count(RateScope::Customer, "c", Action::Refund, 30, day + 30),
            2
        );
        assert_eq!(
            u.count(RateScope::Customer, "c", Action::EmailSend, 60, day + 30),
            0
        );
        assert_eq!(
            u.count(RateScope::Agent, "b", Action::Refund, 60, day + 30),
            0
        );
    }
    // Actions without an amount count, and add nothing to a total.
    one.record(&b, &t1, Action::KvPut, None, day + 40);
    assert_eq!(
        one.count(RateScope::Task, "t1", Action::KvPut, 60, day + 41),
        1
    );
    assert_eq!(
        one.daily_total(RateScope::Task, "t1", Action::KvPut, day + 41),
        0
    );
    // Two days on, recording prunes what no window can ask about any more.
    one.record(&b, &t1, Action::KvPut, None, day + 3 * DAY_SECS);
    assert_eq!(
        one.count(
            RateScope::Agent,
            "a",
            Action::Refund,
            10 * DAY_SECS,
            day + 3 * DAY_SECS
        ),
        0
    );
}

#[test]
fn pg_usage_of_an_effect_is_counted_once_across_hosts_and_replays() {
    use silo_membrane::connectors::usage::Effect;

    let mut dbs = hosts(2);
    let day = 20_000 * DAY_SECS;
    let one = PgUsage::new(dbs.remove(0));
    let other = PgUsage::new(dbs.remove(0));
    let (b, t1) = keys("t1");
    let (_, t2) = keys("t2");
    let paid = Effect {
        id: "rf_1",
        at: day + 10,
    };
    one.record_effect(&b, &t1, Action::Refund, Some(300), paid, day + 10);
    // Replays on another host, later, from another task: nothing more.
    other.record_effect(&b, &t1, Action::Refund, Some(300), paid, day + 40);
    other.record_effect(&b, &t2, Action::Refund, Some(300), paid, day + 50);
    // A refund whose first record was lost is counted by its replay, at its own time.
    let lost = Effect {
        id: "rf_2",
        at: day + 20,
    };
    other.record_effect(&b, &t2, Action::Refund, Some(200), lost, day + 60);
    // Plain usage (no effect) counts every time.
    one.record(&b, &t1, Action::Refund, Some(5), day + 70);
    one.record(&b, &t1, Action::Refund, Some(5), day + 70);
    for u in [&one, &other] {
        assert_eq!(
            u.daily_total(RateScope::Agent, "a", Action::Refund, day + 80),
            510
        );
        assert_eq!(
            u.daily_total(RateScope::Task, "t1", Action::Refund, day + 80),
            310
        );
        assert_eq!(
            u.daily_total(RateScope::Task, "t2", Action::Refund, day + 80),
            200
        );
        assert_eq!(
            u.count(RateScope::Customer, "c", Action::Refund, 75, day + 80),
            4
        );
        assert_eq!(
            u.count(RateScope::Customer, "c", Action::Refund, 65, day + 80),
            3
        );
    }
}

#[test]
fn pg_usage_that_cannot_be_read_reads_as_limit_reached() {
    let db = hosts(1).remove(0);
    let u = PgUsage::new(db.clone());
    db.client()
        .unwrap()
        .batch_execute("DROP TABLE membrane_usage_events")
        .unwrap();
    assert_eq!(
        u.count(RateScope::Agent, "a", Action::Refund, 60, 100),
        u64::MAX
    );
    assert_eq!(
        u.daily_total(RateScope::Agent, "a", Action::Refund, 100),
        i64::MAX
    );
}

/// Waits up to `wait` for the other host's `enter` to report.
fn entered_within(rx: &mpsc::Receiver<()>, wait: Duration) -> bool {
    rx.recv_timeout(wait).is_ok()
}

#[test]
fn the_usage_gate_keeps_a_second_host_out_until_the_first_is_done() {
    let mut dbs = hosts(2);
    let one = UsageGate::postgres(&dbs.remove(0));
    let other = Arc::new(UsageGate::postgres(&dbs.remove(0)));
    let held = one.enter().unwrap();
    let (tx, rx) = mpsc::channel();
    let waiter = {
        let other = other.clone();
        std::thread::spawn(move || {
            let _guard = other.enter().unwrap();
            tx.send(()).unwrap();
        })
    };
    assert!(
        !entered_within(&rx, Duration::from_millis(500)),
        "both hosts inside the gate"
    );
    drop(held);
    assert!(
        entered_within(&rx, Duration::from_secs(10)),
        "the gate was not released"
    );
    waiter.join().unwrap();
    // The first host's gate keeps its connection and can enter again.
    drop(one.enter().unwrap());
}

#[test]
fn a_host_whose_session_dies_releases_the_usage_gate() {
    let mut dbs = hosts(3);
    let admin = dbs.pop().unwrap();
    let one = UsageGate::postgres(&dbs.remove(0));
    let other = UsageGate::postgres(&dbs.remove(0));
    let held = one.enter().unwrap();
    // The host "dies": its session ends without unlocking (as when the process is killed).
    let key = silo_postgres::locks::USAGE_GATE;
    let killed = admin
        .client()
        .unwrap()
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_locks
             WHERE locktype = 'advisory' AND granted
               AND classid = ($1::BIGINT >> 32)::oid AND objid = ($1::BIGINT & 4294967295)::oid
               AND objsubid = 1",
            &[&key],
        )
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(killed, 1);
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            let guard = other.enter().unwrap();
            tx.send(()).unwrap();
            drop(guard);
        });
        assert!(
            entered_within(&rx, Duration::from_secs(10)),
            "a dead host kept the gate"
        );
    });
    // The first host's guard finds its session gone; its next entry reconnects.
    drop(held);
    drop(one.enter().unwrap());
}

const DAILY_POLICY: &str = "version: 1
default: allow
rules:
  - name: agent-daily-refunds
    action: refund
    daily_total: { per: agent, max_cents: 60000 }
    effect: deny
    priority: 50
    reason: the agent's refunds today would exceed 600.00
";

/// One host: its own folder, pool, audit log, vault and membrane, on the shared database.
struct Host {
    _dir: tempfile::TempDir,
    services: Arc<Services>,
    membrane: Membrane,
}

fn host(db: &Database, store: &KeyStore, cell: &str) -> Host {
    let dir = tempfile::tempdir().unwrap();
    let verifier = store.verifier().unwrap();
    let services = Arc::new(off_runtime(|| {
        Services::postgres(
            db,
            dir.path(),
            verifier,
            PolicySet::from_yaml_str("policy.yaml", DAILY_POLICY).unwrap(),
            Arc::new(AuditLog::open(dir.path()).unwrap()),
            silo_pii::Vault::open(&dir.path().join("vault")).unwrap(),
        )
        .unwrap()
    }));
    let membrane = Membrane::bind(
        &dir.path().join(format!("{cell}.sock")),
        CellBinding::new(cell).unwrap(),
        services.clone(),
        Limits::default(),
    )
    .unwrap();
    Host {
        _dir: dir,
        services,
        membrane,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn attack_concurrent_refunds_on_two_hosts_cannot_pass_a_daily_total() {
    // Two pools on one database: two hosts (kept open: see `support::fresh_postgres`).
    let dbs = off_runtime(|| hosts(2));
    dbs.iter().for_each(keep_open);
    let keys_dir = tempfile::tempdir().unwrap();
    let store = KeyStore::init(keys_dir.path(), now_unix() - 100).unwrap();
    let minter = store.minter().unwrap();
    let hosts = [
        host(&dbs[0], &store, "c-00000000000a"),
        host(&dbs[1], &store, "c-00000000000b"),
    ];
    // Eight $150 refunds of eight tasks, four through each host, sent at once: the $600
    // daily total has room for four.
    let mut clients = Vec::new();
    for i in 0..8 {
        let h = &hosts[i % 2];
        let task = minter
            .mint_task(&task_claims(&format!("task-{i}"), h.membrane.cell_id()))
            .unwrap();
        let base = minter.mint_base(&base_claims()).unwrap();
        clients.push(Client::connect(h.membrane.socket_path(), Some(base), Some(task)).await);
    }
    let start = Arc::new(tokio::sync::Barrier::new(8));
    let calls: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                c.post("/v1/refund", &refund(json!(15000), &format!("race-{i}")))
                    .await
            })
        })
        .collect();
    let mut paid = 0;
    let mut refused = 0;
    for call in calls {
        let a = call.await.unwrap();
        match a.status {
            200 => {
                assert_eq!(a.body["replayed"], false);
                paid += a.body["amount_cents"].as_i64().unwrap();
            }
            _ => {
                assert_eq!((a.status, a.code()), (403, "denied"), "{}", a.body);
                assert_eq!(a.body["error"]["rule"], "agent-daily-refunds");
                refused += 1;
            }
        }
    }
    assert_eq!((paid, refused), (60000, 4));
    // The stores are synchronous: read them off the runtime, as the membrane does.
    let (ledger, seen_by_other) = tokio::task::block_in_place(|| {
        (
            hosts[0].services.ledger().refunds_for(CUSTOMER).unwrap(),
            hosts[1].services.ledger().refunds_for(CUSTOMER).unwrap(),
        )
    });
    assert_eq!(ledger.iter().map(|r| r.amount_cents).sum::<i64>(), 60000);
    // Each host sees the other's refunds.
    assert_eq!(seen_by_other, ledger);
}

#[test]
fn pg_kv_round_trips_and_collects_a_finished_run() {
    let db = hosts(1).remove(0);
    let kv = PgKv::new(db);
    assert_eq!(
        kv.put("t1", "k", &json!({"a": 1})).unwrap(),
        PutOutcome::Stored
    );
    assert_eq!(kv.get("t1", "k").unwrap(), Some(json!({"a": 1})));
    assert_eq!(kv.get("t2", "k").unwrap(), None);
    kv.put("t1", "k", &json!(2)).unwrap();
    assert_eq!(kv.get("t1", "k").unwrap(), Some(json!(2)));
    for (key, v) in [
        ("output/reply", 1),
        ("draft", 2),
        ("output%x", 3),
        ("outputs", 4),
        ("B", 5),
    ] {
        kv.put("run", key, &json!(v)).unwrap();
    }
    kv.put("other", "draft", &json!(5)).unwrap();
    // Byte order, as in SQLite: upper case before lower case, whatever the collation.
    let keys: Vec<String> = kv
        .entries("run", "")
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["B", "draft", "output%x", "output/reply", "outputs"]);
    // `%` and `_` in a prefix are literal.
    assert_eq!(kv.entries("run", "output%").unwrap().len(), 1);
    assert!(kv.entries("run", "output_").unwrap().is_empty());
    assert_eq!(kv.collect("run", OUTPUT_PREFIX).unwrap(), 4);
    assert_eq!(
        kv.entries("run", "").unwrap(),
        vec![("output/reply".to_owned(), json!(1))]
    );
    assert_eq!(kv.get("other", "draft").unwrap(), Some(json!(5)));
}

#[test]
fn attack_puts_on_two_hosts_cannot_pass_the_key_bound_of_a_task() {
    let dbs = hosts(2);
    let bound = i64::try_from(silo_membrane::connectors::kv::MAX_KEYS_PER_TASK).unwrap();
    // The task four keys short of its bound.
    dbs[0]
        .client()
        .unwrap()
        .execute(
            "INSERT INTO membrane_kv (task, key, value)
             SELECT 't', 'fill-' || g, g::text FROM generate_series(1, $1::BIGINT) AS g",
            &[&(bound - 4)],
        )
        .unwrap();
    let stores: Vec<Arc<PgKv>> = dbs.into_iter().map(|db| Arc::new(PgKv::new(db))).collect();
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let kv = stores[i % 2].clone();
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                kv.put("t", &format!("race-{i}"), &json!(i)).unwrap()
            })
        })
        .collect();
    let stored = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(|o| *o == PutOutcome::Stored)
        .count();
    assert_eq!(stored, 4);
    assert_eq!(
        i64::try_from(stores[1].entries("t", "").unwrap().len()).unwrap(),
        bound
    );
    // A full task may still overwrite a key it holds, and no more.
    assert_eq!(
        stores[1].put("t", "race-new", &json!("x")).unwrap(),
        PutOutcome::TaskFull
    );
    assert_eq!(
        stores[1].put("t", "fill-1", &json!("x")).unwrap(),
        PutOutcome::Stored
    );
}

#[test]
fn pg_outcomes_keep_the_first_result_from_any_host_and_task_inputs() {
    let mut dbs = hosts(2);
    let one = PgOutcomes::new(dbs.remove(0));
    let other = PgOutcomes::new(dbs.remove(0));
    let done = Outcome::Complete {
        status: CompletionStatus::Done,
        summary: "refunded".into(),
        report: None,
    };
    assert_eq!(
        one.record("t", "a", &done, 5).unwrap(),
        RecordOutcome::Recorded
    );
    let esc = Outcome::Escalate {
        target: "manager".into(),
        reason: "r".into(),
        recommendation: "x".into(),
    };
    let RecordOutcome::AlreadyRecorded(kept) = other.record("t", "b", &esc, 6).unwrap() else {
        panic!("second outcome was stored")
    };
    assert_eq!(
        (kept.agent.as_str(), &kept.outcome, kept.recorded_at),
        ("a", &done, 5)
    );
    assert_eq!(other.get("t").unwrap().unwrap().outcome, done);
    assert!(other.get("other").unwrap().is_none());

    assert_eq!(one.input("t").unwrap(), None);
    one.put_input("t", &json!({"message": "[NAME_1] asks"}))
        .unwrap();
    assert_eq!(
        other.input("t").unwrap(),
        Some(json!({"message": "[NAME_1] asks"}))
    );
    other.put_input("t", &json!(2)).unwrap();
    assert_eq!(one.input("t").unwrap(), Some(json!(2)));
}

#[test]
fn pg_llm_usage_reserves_settles_and_holds_one_budget_across_hosts() {
    let mut dbs = hosts(2);
    let u = PgLlmUsage::new(dbs.remove(0));
    let v = Arc::new(PgLlmUsage::new(dbs.remove(0)));
    assert_eq!(u.used("t1").unwrap(), 0);
    assert_eq!(u.reserve("t1", 60, 100, 1).unwrap(), Reservation::Reserved);
    assert_eq!(
        v.reserve("t1", 50, 100, 1).unwrap(),
        Reservation::Exhausted { used: 60 }
    );
    assert_eq!(v.used("t2").unwrap(), 0);
    assert_eq!(v.settle("t1", 60, 25, 2).unwrap(), 25);
    assert_eq!(u.reserve("t1", 75, 100, 3).unwrap(), Reservation::Reserved);
    assert_eq!(u.settle("t1", 75, 0, 4).unwrap(), 25);
    assert_eq!(v.used("t1").unwrap(), 25);
    // Spending past the reservation is charged in full.
    assert_eq!(u.reserve("t1", 10, 100, 5).unwrap(), Reservation::Reserved);
    assert_eq!(u.settle("t1", 10, 40, 6).unwrap(), 65);

    // Eight calls of one task at once, on two hosts: the budget holds three.
    let start = Arc::new(Barrier::new(8));
    let u = Arc::new(u);
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let usage: Arc<PgLlmUsage> = if i % 2 == 0 { u.clone() } else { v.clone() };
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                usage.reserve("t3", 30, 100, 7).unwrap()
            })
        })
        .collect();
    let reserved = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(|r| *r == Reservation::Reserved)
        .count();
    assert_eq!(reserved, 3);
    assert_eq!(u.used("t3").unwrap(), 90);
}

#[test]
fn a_database_error_names_the_connector_and_what_it_was_doing() {
    let db = hosts(1).remove(0);
    db.client()
        .unwrap()
        .batch_execute("DROP TABLE membrane_refunds")
        .unwrap();
    let err = PgLedger::new(db)
        .refund(&req("cus_1", "k", 1, 1))
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            silo_membrane::ConnectorError::Postgres {
                connector: "ledger",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        text.starts_with("ledger: database: writing the refund:"),
        "{text}"
    );
}

fn message(body: &str) -> silo_membrane::connectors::outbox::OutboundMessage {
    use silo_membrane::connectors::outbox::{Channel, OutboundMessage};
    OutboundMessage {
        message_id: OutboundMessage::id_for(CUSTOMER, Channel::Email, "case-1:apology"),
        channel: Channel::Email,
        to: "jane.smith@example.com".into(),
        subject: Some("About your order".into()),
        body: body.into(),
        template: "apology".into(),
        task: "task-1.1".into(),
        agent: "refund-agent".into(),
        created_at: now_unix(),
    }
}

#[test]
fn attack_a_message_sent_on_one_host_is_not_sent_again_by_a_rerun_on_another() {
    use silo_membrane::connectors::outbox::{Channel, DirOutbox, Outbox, SendOutcome};
    let dbs = hosts(2);
    let tmp = tempfile::tempdir().unwrap();
    let dirs = [tmp.path().join("a"), tmp.path().join("b")];
    let outboxes: Vec<silo_membrane::PgOnceOutbox> = dbs
        .iter()
        .zip(&dirs)
        .map(|(db, dir)| {
            silo_membrane::PgOnceOutbox::new(db.clone(), Box::new(DirOutbox::new(dir)))
        })
        .collect();
    let sent = message("We are sorry, Jane Smith.");
    assert_eq!(outboxes[0].send(&sent).unwrap(), SendOutcome::Queued);
    // The turn runs again on the other host (its first host died after sending).
    assert_eq!(outboxes[1].send(&sent).unwrap(), SendOutcome::Replayed);
    assert_eq!(
        DirOutbox::new(&dirs[0])
            .messages(Channel::Email)
            .unwrap()
            .len(),
        1
    );
    assert!(DirOutbox::new(&dirs[1])
        .messages(Channel::Email)
        .unwrap()
        .is_empty());
    // The same id with another text is refused, and nothing is sent.
    assert_eq!(
        outboxes[1].send(&message("Something else")).unwrap(),
        SendOutcome::Conflict
    );
    assert!(DirOutbox::new(&dirs[1])
        .messages(Channel::Email)
        .unwrap()
        .is_empty());
    // Only an id and a digest reach the database: no address, no name, no text.
    let mut client = dbs[0].client().unwrap();
    for row in client
        .query("SELECT message_id, digest FROM membrane_outbox_sent", &[])
        .unwrap()
    {
        for i in 0..2 {
            let v: String = row.get(i);
            for raw in ["jane", "Jane", "example.com", "sorry", "apology"] {
                assert!(!v.contains(raw), "`{raw}` in {v}");
            }
        }
    }
    dbs.iter().for_each(keep_open);
}

#[test]
fn attack_two_hosts_racing_one_message_id_send_it_once() {
    use silo_membrane::connectors::outbox::{Channel, DirOutbox, Outbox, SendOutcome};
    let dbs = hosts(2);
    let tmp = tempfile::tempdir().unwrap();
    let barrier = Arc::new(Barrier::new(8));
    let outcomes: Vec<SendOutcome> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let db = dbs[i % 2].clone();
                let dir = tmp.path().join(format!("host-{}", i % 2));
                let barrier = barrier.clone();
                s.spawn(move || {
                    let outbox =
                        silo_membrane::PgOnceOutbox::new(db, Box::new(DirOutbox::new(&dir)));
                    barrier.wait();
                    outbox.send(&message("We are sorry.")).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let queued = outcomes
        .iter()
        .filter(|o| **o == SendOutcome::Queued)
        .count();
    assert_eq!(queued, 1, "{outcomes:?}");
    let files: usize = (0..2)
        .map(|i| {
            DirOutbox::new(&tmp.path().join(format!("host-{i}")))
                .messages(Channel::Email)
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(files, 1);
    dbs.iter().for_each(keep_open);
}
