//! The store: restart safety with leased jobs (at-least-once dispatch, exactly-once
//! completion), the append-only and ordered event log, and task state as a fold of it;
//! listing tasks by filter, following the log, and offline agents shared by every router
//! on one store.

use std::collections::BTreeSet;

use silo_router::{
    apply, create, Event, KernelConfig, KernelError, RoutingError, State, Store, StoreError,
    StoredEvent, TaskFilter, TaskSpec, TaskView,
};

use crate::support::{kernel_at, kinds, raw_execute, spec, store_at, store_with_holder, AnyStore};

const LEASE: u64 = 60;

fn config() -> KernelConfig {
    KernelConfig {
        lease_secs: LEASE,
        ..KernelConfig::default()
    }
}

#[test]
fn a_claimed_job_survives_a_restart_and_the_task_completes_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("router.db");
    let (task, lost) = {
        let k = kernel_at(&path, config());
        let task = k.submit(spec("refund"), 100).unwrap();
        let job = k.store().claim_next(100, LEASE).unwrap().unwrap();
        assert_eq!((job.task.clone(), job.attempt), (task.clone(), 1));
        assert!(
            k.store().claim_next(100, LEASE).unwrap().is_none(),
            "leased"
        );
        (task, job)
        // The router dies here without completing the job.
    };

    let k = kernel_at(&path, config());
    assert_eq!(k.task(&task).unwrap().state, State::Queued);
    assert!(k.step(159).unwrap().is_none(), "the old lease still holds");
    let reports = k.run_until_idle(160).unwrap();
    assert_eq!(reports[0].job.attempt, 2);
    assert_eq!(k.task(&task).unwrap().state, State::Completed);

    // The dead router's claim can no longer write or complete anything.
    let late = Event::Dispatched {
        agent: "refund-agent".into(),
        cell: "late".into(),
        task_key_jti: "late".into(),
        timeout_ms: None,
    };
    let err = k.store().apply(&task, &late, 170, Some(&lost)).unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
    assert!(!k.store().complete(&lost).unwrap());

    let completions = kinds(&k, &task)
        .iter()
        .filter(|k| *k == "completed")
        .count();
    assert_eq!(completions, 1);
    assert_eq!(k.dispatcher().calls().len(), 1);
    assert!(k.step(10_000).unwrap().is_none());
}

#[test]
fn a_dispatch_interrupted_by_a_crash_is_dispatched_again_with_a_fresh_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("router.db");
    let task = {
        let k = kernel_at(&path, config());
        let task = k.submit(spec("refund"), 0).unwrap();
        // The first router got as far as starting the cell, then died.
        let job = k.store().claim_next(0, LEASE).unwrap().unwrap();
        let started = Event::Dispatched {
            agent: "refund-agent".into(),
            cell: "task-1.cell-1".into(),
            task_key_jti: "task-1.key-1".into(),
            timeout_ms: None,
        };
        k.store().apply(&task, &started, 0, Some(&job)).unwrap();
        task
    };
    let k = kernel_at(&path, config());
    assert_eq!(k.task(&task).unwrap().state, State::Dispatched);
    k.run_until_idle(LEASE).unwrap();
    assert_eq!(k.task(&task).unwrap().state, State::Completed);
    assert_eq!(k.dispatcher().jtis(), ["task-1.key-2"]);
    assert_eq!(
        kinds(&k, &task),
        [
            "task_created",
            "dispatched",
            "key_revoked",
            "dispatched",
            "agent_result",
            "key_revoked",
            "completed"
        ]
    );
}

#[test]
fn the_event_log_is_append_only_and_ordered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("router.db");
    let k = kernel_at(&path, config());
    let a = k.submit(spec("refund"), 1).unwrap();
    let b = k.submit(spec("incoming"), 2).unwrap();
    k.run_until_idle(3).unwrap();

    let all: Vec<StoredEvent> = k.store().events(None).unwrap();
    assert!(
        all.windows(2).all(|w| w[0].seq < w[1].seq),
        "strictly increasing"
    );
    assert!(all.windows(2).all(|w| w[0].at <= w[1].at));
    let of_a: Vec<u64> = k
        .store()
        .events(Some(&a))
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    let of_b = k.store().events(Some(&b)).unwrap();
    assert_eq!(of_a.len() + of_b.len(), all.len());
    assert!(matches!(of_b[0].event, Event::TaskCreated { .. }));

    let update = raw_execute(&path, "UPDATE router_events SET body = '{}' WHERE seq = 1");
    assert!(update.unwrap_err().contains("append-only"));
    let delete = raw_execute(&path, "DELETE FROM router_events");
    assert!(delete.unwrap_err().contains("append-only"));
    assert_eq!(k.store().events(None).unwrap(), all);
}

#[test]
fn a_tasks_state_is_the_fold_of_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel_at(&dir.path().join("router.db"), config());
    k.dispatcher()
        .then("intent-agent", crate::support::soft("order-agent"))
        .then("refund-agent", crate::support::escalate("manager-agent"));
    for entry in ["incoming", "refund"] {
        let task = k.submit(spec(entry), 1).unwrap();
        k.run_until_idle(2).unwrap();
        let events = k.store().events(Some(&task)).unwrap();
        let (first, rest) = events.split_first().unwrap();
        let (mut view, _) = create(task.clone(), &first.event).unwrap();
        for e in rest {
            view = apply(&view, &e.event).unwrap().0;
        }
        assert_eq!(view, k.task(&task).unwrap(), "{entry}");
    }
}

fn ids(tasks: &[TaskView]) -> Vec<&str> {
    tasks.iter().map(|t| t.id.as_str()).collect()
}

fn for_customer(entry: &str, customer: &str) -> TaskSpec {
    TaskSpec {
        customer: customer.into(),
        ..spec(entry)
    }
}

#[test]
fn tasks_are_listed_newest_first_by_state_agent_and_customer() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel_at(&dir.path().join("router.db"), config());
    k.set_online("refund-agent", false, 1).unwrap();
    let t1 = k.submit(for_customer("refund", "cust-1"), 1).unwrap();
    let t2 = k.submit(for_customer("refund", "cust-2"), 1).unwrap();
    k.run_until_idle(1).unwrap();
    k.set_online("refund-agent", true, 2).unwrap();
    let t3 = k.submit(for_customer("refund", "cust-2"), 2).unwrap();
    k.run_until_idle(2).unwrap();
    let t4 = k.submit(for_customer("incoming", "cust-1"), 3).unwrap();
    let all = [t4.as_str(), t3.as_str(), t2.as_str(), t1.as_str()];
    let list = |f: TaskFilter| k.store().list(&f).unwrap();

    assert_eq!(ids(&list(TaskFilter::default())), all);
    let waiting = TaskFilter {
        state: Some(State::WaitingForHuman),
        ..TaskFilter::default()
    };
    assert_eq!(ids(&list(waiting.clone())), [t2.as_str(), t1.as_str()]);
    let of_cust_2 = TaskFilter {
        customer: Some("cust-2".into()),
        ..TaskFilter::default()
    };
    assert_eq!(ids(&list(of_cust_2)), [t3.as_str(), t2.as_str()]);
    let both = TaskFilter {
        customer: Some("cust-2".into()),
        ..waiting
    };
    assert_eq!(ids(&list(both)), [t2.as_str()]);
    let with_pool = TaskFilter {
        agent: Some("support-humans".into()),
        ..TaskFilter::default()
    };
    assert_eq!(ids(&list(with_pool)), [t2.as_str(), t1.as_str()]);
    let with_intent = TaskFilter {
        agent: Some("intent-agent".into()),
        ..TaskFilter::default()
    };
    assert_eq!(ids(&list(with_intent)), [t4.as_str()]);
    let nobody = TaskFilter {
        customer: Some("cust-3".into()),
        ..TaskFilter::default()
    };
    assert!(list(nobody).is_empty());

    // Pages: the newest two, then the two before the last one shown; or the newer ones.
    let first = TaskFilter {
        limit: 2,
        ..TaskFilter::default()
    };
    assert_eq!(ids(&list(first)), &all[..2]);
    let next = TaskFilter {
        limit: 2,
        before_seq: Some(3),
        ..TaskFilter::default()
    };
    assert_eq!(ids(&list(next)), &all[2..]);
    let newer = TaskFilter {
        after_seq: Some(2),
        ..TaskFilter::default()
    };
    assert_eq!(ids(&list(newer)), &all[..2]);
    let huge = TaskFilter {
        limit: usize::MAX,
        ..TaskFilter::default()
    };
    assert_eq!(
        ids(&list(huge)),
        all,
        "a limit past the maximum is cut to it"
    );
}

#[test]
fn events_after_follows_the_log_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel_at(&dir.path().join("router.db"), config());
    k.submit(spec("refund"), 1).unwrap();
    let b = k.submit(spec("incoming"), 2).unwrap();
    k.run_until_idle(3).unwrap();
    let all = k.store().events(None).unwrap();
    assert!(all.len() > 4, "{all:?}");

    let first = k.store().events_after(0, None, 3).unwrap();
    assert_eq!(first, all[..3]);
    let rest = k.store().events_after(first[2].seq, None, 1000).unwrap();
    assert_eq!(rest, all[3..]);
    let last = all.last().unwrap().seq;
    assert!(k.store().events_after(last, None, 10).unwrap().is_empty());

    let of_b = k.store().events_after(0, Some(&b), 1000).unwrap();
    assert_eq!(of_b, k.store().events(Some(&b)).unwrap());
    let second = k.store().events_after(of_b[0].seq, Some(&b), 1).unwrap();
    assert_eq!(second, of_b[1..2]);
}

#[test]
fn an_agent_marked_offline_by_one_router_is_offline_for_every_router_on_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("router.db");
    let marking = kernel_at(&path, config());
    let serving = kernel_at(&path, config());
    assert!(serving.is_online("refund-agent").unwrap());
    marking.set_online("refund-agent", false, 5).unwrap();
    marking.set_online("refund-agent", false, 6).unwrap();
    assert!(!serving.is_online("refund-agent").unwrap());
    let task = serving.submit(spec("refund"), 7).unwrap();
    serving.run_until_idle(7).unwrap();
    assert_eq!(serving.task(&task).unwrap().state, State::WaitingForHuman);
    assert!(serving.dispatcher().calls().is_empty());
    drop((marking, serving));

    // The mark outlives the routers; `online` lifts it.
    let restarted = kernel_at(&path, config());
    assert_eq!(
        restarted.store().offline_agents().unwrap(),
        BTreeSet::from(["refund-agent".to_owned()])
    );
    restarted.set_online("refund-agent", true, 8).unwrap();
    assert!(restarted.is_online("refund-agent").unwrap());
    assert!(restarted.store().offline_agents().unwrap().is_empty());

    // Only agents of the routing table can be marked; a human pool is never dispatched.
    for name in ["nobody", "support-humans"] {
        let err = restarted.set_online(name, false, 9).unwrap_err();
        assert!(
            matches!(err, KernelError::Routing(RoutingError::UnknownAgent(_))),
            "{name}: {err}"
        );
    }
    assert!(restarted.store().offline_agents().unwrap().is_empty());
}

#[test]
fn jobs_of_a_holder_that_is_gone_are_released_and_others_are_kept() {
    use silo_router::{holder, Event, Store};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("router.db");
    let me = holder::this_process();
    assert!(!me.is_empty(), "/proc names this process");
    assert!(!holder::is_abandoned(&me));
    // A holder on this boot whose pid runs no such process is gone; one from another boot
    // (or machine) is never judged here.
    let boot = me.split(':').next().unwrap();
    assert!(holder::is_abandoned(&format!("{boot}:4194303:1")));
    assert!(!holder::is_abandoned("another-boot:1:1"));
    assert!(!holder::is_abandoned("garbage"));

    let create = |store: &AnyStore| {
        store
            .create(1, &mut |_| Event::TaskCreated {
                spec: crate::support::spec("refund"),
                run: silo_router::RunState::agent("refund-agent"),
                shadow: false,
            })
            .unwrap()
    };
    let dead = store_with_holder(&path, &format!("{boot}:4194303:1"));
    let alive = store_with_holder(&path, &me);
    create(&dead);
    create(&dead);
    assert!(dead.claim_next(10, 300).unwrap().is_some());
    assert!(alive.claim_next(10, 300).unwrap().is_some());
    // Both leased for 300 s: nothing due.
    assert!(alive.claim_next(20, 300).unwrap().is_none());
    assert_eq!(alive.release_abandoned(&holder::is_abandoned).unwrap(), 1);
    let again = alive.claim_next(20, 300).unwrap().unwrap();
    assert_eq!(again.attempt, 2);
    assert!(alive.claim_next(20, 300).unwrap().is_none());
}

#[test]
fn tasks_are_numbered_without_gaps_when_a_creation_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_at(&dir.path().join("router.db"));
    let good = |seq: u64| {
        let _ = seq;
        Event::TaskCreated {
            spec: spec("refund"),
            run: silo_router::RunState::agent("refund-agent"),
            shadow: false,
        }
    };
    assert_eq!(
        store.create(1, &mut |s| good(s)).unwrap().id.as_str(),
        "task-1"
    );
    let mut offered = Vec::new();
    let refused = store.create(2, &mut |s| {
        offered.push(s);
        Event::Signal {
            signal: silo_router::Signal::Stop,
        }
    });
    assert!(
        matches!(refused, Err(StoreError::Transition(_))),
        "{refused:?}"
    );
    assert_eq!(offered, [2]);
    assert_eq!(
        store.create(3, &mut |s| good(s)).unwrap().id.as_str(),
        "task-2"
    );
    assert_eq!(
        store.events(None).unwrap().len(),
        2,
        "the refused one left nothing"
    );
    assert!(store
        .get(&silo_router::TaskId::from_seq(3))
        .unwrap()
        .is_none());
}

#[test]
fn the_counts_follow_the_tasks_and_the_event_log() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel_at(&dir.path().join("router.db"), config());
    assert_eq!(
        k.store().counts().unwrap(),
        silo_router::StoreCounts::default()
    );
    k.submit(spec("refund"), 1).unwrap();
    k.submit(spec("refund"), 2).unwrap();
    let counts = k.store().counts().unwrap();
    assert_eq!(counts.tasks_by_state.get("queued"), Some(&2), "{counts:?}");
    assert_eq!(
        counts.events_by_kind.get("task_created"),
        Some(&2),
        "{counts:?}"
    );
    k.run_until_idle(3).unwrap();
    let counts = k.store().counts().unwrap();
    let total: u64 = counts.tasks_by_state.values().sum();
    assert_eq!(total, 2, "{counts:?}");
    assert_eq!(counts.tasks_by_state.get("queued"), None, "{counts:?}");
    let all = k.store().events(None).unwrap();
    let counted: u64 = counts.events_by_kind.values().sum();
    assert_eq!(counted, all.len() as u64);
    let waiting = counts
        .tasks_by_state
        .get("waiting_for_human")
        .copied()
        .unwrap_or(0);
    assert_eq!(counts.waiting_by_pool.values().sum::<u64>(), waiting);
}
