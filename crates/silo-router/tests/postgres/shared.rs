//! What only the shared database has to prove: routers on several machines claiming at
//! once never get the same job, number tasks without gaps, and followers of the event log
//! see every event once; queued work wakes a waiting router; and a holder whose connection
//! is gone has its claims released by any other router, while a live one keeps them.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use silo_postgres::{Database, Throwaway};
use silo_router::{Event, PgStore, RunState, Signal, Store, StoreError, TaskId};

use crate::support::spec;

fn database() -> Database {
    let url = Throwaway::shared().unwrap().fresh_database().unwrap();
    Database::connect_with(&url, 8).unwrap()
}

fn created() -> Event {
    Event::TaskCreated {
        spec: spec("refund"),
        run: RunState::agent("refund-agent"),
        shadow: false,
    }
}

fn create(store: &PgStore) -> TaskId {
    store.create(1, &mut |_| created()).unwrap().id
}

/// Calls `f` until it answers `want` or `within` passes; the last answer.
fn eventually<T: PartialEq + std::fmt::Debug>(within: Duration, want: T, f: impl Fn() -> T) -> T {
    let deadline = Instant::now() + within;
    loop {
        let got = f();
        if got == want || Instant::now() > deadline {
            return got;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn routers_claiming_at_once_never_get_the_same_job() {
    let db = database();
    let a = Arc::new(
        PgStore::open(&db)
            .unwrap()
            .with_holder("host-a:1:1")
            .unwrap(),
    );
    let b = Arc::new(
        PgStore::open(&db)
            .unwrap()
            .with_holder("host-b:1:1")
            .unwrap(),
    );
    for _ in 0..200 {
        create(&a);
    }
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            thread::spawn(move || {
                let mut got = Vec::new();
                while let Some(job) = store.claim_next(10, 300).unwrap() {
                    got.push(job);
                }
                got
            })
        })
        .collect();
    let jobs: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let ids: BTreeSet<u64> = jobs.iter().map(|j| j.id).collect();
    assert_eq!(jobs.len(), 200, "every job claimed");
    assert_eq!(ids.len(), 200, "no job claimed twice");
    assert!(jobs.iter().all(|j| j.attempt == 1));
    let tasks: BTreeSet<&TaskId> = jobs.iter().map(|j| &j.task).collect();
    assert_eq!(tasks.len(), 200);
    let attempts: i64 = db
        .client()
        .unwrap()
        .query_one("SELECT SUM(attempt)::bigint FROM router_jobs", &[])
        .unwrap()
        .get(0);
    assert_eq!(attempts, 200);
    assert!(a.claim_next(10, 300).unwrap().is_none());
}

#[test]
fn tasks_created_at_once_are_numbered_without_gaps() {
    let db = database();
    let stores: Vec<_> = (0..2)
        .map(|_| Arc::new(PgStore::open(&db).unwrap()))
        .collect();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let store = stores[i % 2].clone();
            thread::spawn(move || {
                let mut made = 0;
                for n in 0..25 {
                    // Every third creation is refused by the transition map.
                    let result = store.create(1, &mut |_| {
                        if (i + n) % 3 == 0 {
                            Event::Signal {
                                signal: Signal::Stop,
                            }
                        } else {
                            created()
                        }
                    });
                    match result {
                        Ok(_) => made += 1,
                        Err(StoreError::Transition(_)) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                made
            })
        })
        .collect();
    let made: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(made > 100 && made < 200, "{made}");
    let filter = silo_router::TaskFilter {
        limit: silo_router::TaskFilter::MAX_LIMIT,
        ..silo_router::TaskFilter::default()
    };
    let ids: Vec<String> = stores[0]
        .list(&filter)
        .unwrap()
        .into_iter()
        .map(|t| t.id.0)
        .collect();
    let want: Vec<String> = (1..=made).rev().map(|n| TaskId::from_seq(n).0).collect();
    assert_eq!(ids, want);
}

#[test]
fn a_follower_sees_every_event_once_under_concurrent_writers() {
    let db = database();
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..6)
        .map(|_| {
            let store = PgStore::open(&db).unwrap();
            thread::spawn(move || {
                for _ in 0..15 {
                    let task = create(&store);
                    let pause = [
                        Event::Signal {
                            signal: Signal::Stop,
                        },
                        Event::Signal {
                            signal: Signal::Cont,
                        },
                    ];
                    store.apply_all(&task, &pause, 2, None).unwrap();
                }
            })
        })
        .collect();
    let follower = {
        let store = PgStore::open(&db).unwrap();
        let done = done.clone();
        thread::spawn(move || {
            let mut seen = Vec::new();
            let mut last = 0;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let batch = store.events_after(last, None, 7).unwrap();
                if batch.is_empty() && finished {
                    return seen;
                }
                for event in batch {
                    assert!(event.seq > last);
                    last = event.seq;
                    seen.push(event.seq);
                }
            }
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let seen = follower.join().unwrap();
    let all: Vec<u64> = PgStore::open(&db)
        .unwrap()
        .events(None)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(all.len(), 6 * 15 * 3);
    let missed: Vec<&u64> = all.iter().filter(|s| !seen.contains(s)).collect();
    assert!(missed.is_empty(), "the follower skipped {missed:?}");
    assert_eq!(seen, all, "the follower saw every event once, in order");
}

#[test]
fn waiting_for_work_wakes_when_another_router_queues_some() {
    let db = database();
    let waiter = PgStore::open(&db).unwrap();
    let other = Arc::new(
        PgStore::open(&db)
            .unwrap()
            .with_holder("host-b:1:1")
            .unwrap(),
    );

    let start = Instant::now();
    assert!(!waiter.wait_for_work(Duration::from_millis(300)).unwrap());
    assert!(start.elapsed() >= Duration::from_millis(300));

    let queuing = {
        let other = other.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(200));
            create(&other);
        })
    };
    let start = Instant::now();
    assert!(waiter.wait_for_work(Duration::from_secs(20)).unwrap());
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    queuing.join().unwrap();
    // That notification was used up.
    assert!(!waiter.wait_for_work(Duration::from_millis(200)).unwrap());

    // Work queued before a router first waits wakes it at once.
    let late = PgStore::open(&db).unwrap();
    assert!(late.wait_for_work(Duration::from_secs(20)).unwrap());

    // A claim released is work too; a claim is not.
    let job = other.claim_next(10, 300).unwrap().unwrap();
    assert!(!waiter.wait_for_work(Duration::from_millis(200)).unwrap());
    assert_eq!(other.release_abandoned(&|h| h == "host-b:1:1").unwrap(), 1);
    assert!(waiter.wait_for_work(Duration::from_secs(5)).unwrap());
    assert_eq!(
        other.claim_next(10, 300).unwrap().unwrap().attempt,
        job.attempt + 1
    );
}

#[test]
fn a_waiter_whose_connection_broke_listens_again() {
    let db = database();
    let waiter = PgStore::open(&db).unwrap();
    assert!(!waiter.wait_for_work(Duration::from_millis(50)).unwrap());
    let killed: i64 = db
        .client()
        .unwrap()
        .query_one(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'silo-router-listen'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(killed, 1);
    // The break may be noticed by this wait (a wake-up: one may have been missed) or the
    // next; either way no error, no busy loop, and the following queueing wakes it.
    let start = Instant::now();
    let first = waiter.wait_for_work(Duration::from_secs(2)).unwrap();
    if first {
        assert!(start.elapsed() < Duration::from_secs(2));
    }
    let _ = waiter.wait_for_work(Duration::from_millis(100)).unwrap();
    let other = Arc::new(PgStore::open(&db).unwrap());
    let queuing = {
        let other = other.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(200));
            create(&other);
        })
    };
    assert!(waiter.wait_for_work(Duration::from_secs(20)).unwrap());
    queuing.join().unwrap();
}

#[test]
fn claims_of_a_holder_whose_connection_closed_are_released_by_any_router() {
    let db = database();
    let observer = PgStore::open(&db).unwrap();
    let dead = PgStore::open(&db)
        .unwrap()
        .with_holder("machine-a:1:1")
        .unwrap();
    let alive = PgStore::open(&db)
        .unwrap()
        .with_holder("machine-b:7:7")
        .unwrap();
    // A second store of the same process names the same holder (it must not wait for the
    // first one's lock).
    let twin = PgStore::open(&db)
        .unwrap()
        .with_holder("machine-b:7:7")
        .unwrap();
    for _ in 0..3 {
        create(&observer);
    }
    let of_dead = dead.claim_next(10, 300).unwrap().unwrap();
    alive.claim_next(10, 300).unwrap().unwrap();
    twin.claim_next(10, 300).unwrap().unwrap();
    assert_eq!(observer.release_abandoned(&|_| false).unwrap(), 0);

    drop(dead);
    let released = eventually(Duration::from_secs(10), 1, || {
        observer.release_abandoned(&|_| false).unwrap()
    });
    assert_eq!(released, 1, "the closed holder's claim is released");
    let again = observer.claim_next(20, 300).unwrap().unwrap();
    assert_eq!((again.id, again.attempt), (of_dead.id, 2));
    assert!(
        observer.claim_next(20, 300).unwrap().is_none(),
        "live claims kept"
    );

    // One of machine-b's two sessions ends: the holder still lives.
    drop(twin);
    thread::sleep(Duration::from_millis(500));
    assert_eq!(observer.release_abandoned(&|_| false).unwrap(), 0);
    drop(alive);
    let released = eventually(Duration::from_secs(10), 2, || {
        observer.release_abandoned(&|_| false).unwrap()
    });
    assert_eq!(released, 2);
}

#[test]
fn a_holder_whose_lock_connection_broke_takes_its_lock_again() {
    let db = database();
    let observer = PgStore::open(&db).unwrap();
    let holder = PgStore::open(&db)
        .unwrap()
        .with_holder("machine-c:1:1")
        .unwrap();
    create(&observer);
    create(&observer);
    let first = holder.claim_next(10, 300).unwrap().unwrap();
    let killed: i64 = db
        .client()
        .unwrap()
        .query_one(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_locks
             WHERE locktype = 'advisory' AND objsubid = 2
               AND classid = $1::integer::oid
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[&silo_postgres::locks::HOLDER_CLASS],
        )
        .unwrap()
        .get(0);
    assert_eq!(killed, 1);
    let released = eventually(Duration::from_secs(10), 1, || {
        observer.release_abandoned(&|_| false).unwrap()
    });
    assert_eq!(released, 1, "the lock went with its connection");
    // The holder notices at its next claim and holds its lock again; its old claim is
    // fenced off, its new one kept.
    let retaken = holder.claim_next(20, 300).unwrap().unwrap();
    assert_eq!((retaken.id, retaken.attempt), (first.id, 2));
    assert!(!holder.complete(&first).unwrap());
    assert_eq!(observer.release_abandoned(&|_| false).unwrap(), 0);
    assert!(holder.complete(&retaken).unwrap());
}

#[test]
fn the_event_log_cannot_be_truncated() {
    let db = database();
    let store = PgStore::open(&db).unwrap();
    create(&store);
    let err = db
        .client()
        .unwrap()
        .batch_execute("TRUNCATE router_events")
        .unwrap_err();
    assert!(
        err.as_db_error().unwrap().message().contains("append-only"),
        "{err}"
    );
    assert_eq!(store.events(None).unwrap().len(), 1);
}
