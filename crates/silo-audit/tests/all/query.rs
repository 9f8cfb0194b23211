//! The flight recorder: queries by task, agent, customer, action, decision, time and window.

use silo_audit::{ActionName, AgentName, CustomerToken, Decision, Query, TaskId, Timestamp};

use crate::support::{empty, fixture, time_of, N};

fn seqs(entries: Vec<silo_audit::Entry>) -> Vec<u64> {
    entries.into_iter().map(|e| e.seq).collect()
}

#[test]
fn filters_by_each_field() {
    let fx = fixture();
    let q = |q: Query| seqs(fx.log.query(&q).unwrap());
    assert_eq!(
        q(Query {
            task: Some(TaskId::new("t-1").unwrap()),
            ..Query::all()
        }),
        vec![1, 5, 9, 13, 17]
    );
    assert_eq!(
        q(Query {
            agent: Some(AgentName::new("mail-agent").unwrap()),
            ..Query::all()
        })
        .len(),
        10
    );
    assert_eq!(
        q(Query {
            customer: Some(CustomerToken::new("c-2").unwrap()),
            ..Query::all()
        }),
        vec![2, 7, 12, 17]
    );
    assert_eq!(
        q(Query {
            action: Some(ActionName::new("refund.issue").unwrap()),
            decision: Some(Decision::NeedsApproval),
            ..Query::all()
        }),
        vec![2, 6, 10, 14, 18]
    );
    assert!(q(Query {
        task: Some(TaskId::new("nope").unwrap()),
        ..Query::all()
    })
    .is_empty());
}

#[test]
fn filters_by_time_range_since_inclusive_until_exclusive() {
    let fx = fixture();
    let got = seqs(
        fx.log
            .query(&Query {
                since: Some(time_of(3)),
                until: Some(time_of(7)),
                ..Query::all()
            })
            .unwrap(),
    );
    assert_eq!(got, vec![3, 4, 5, 6]);
    let since: Timestamp = "2026-11-23T10:15:30Z".parse().unwrap();
    let got = seqs(
        fx.log
            .query(&Query {
                since: Some(since),
                ..Query::all()
            })
            .unwrap(),
    );
    assert_eq!(got, vec![16, 17, 18, 19]);
}

#[test]
fn limit_keeps_the_latest_matches_and_after_seq_pages_forward() {
    let fx = fixture();
    assert_eq!(seqs(fx.log.tail(3).unwrap()), vec![N - 3, N - 2, N - 1]);
    assert_eq!(seqs(fx.log.tail(100).unwrap()).len(), N as usize);
    let page = fx
        .log
        .query(&Query {
            after_seq: Some(4),
            limit: Some(3),
            ..Query::all()
        })
        .unwrap();
    assert_eq!(seqs(page), vec![5, 6, 7]);
    let denies = fx
        .log
        .query(&Query {
            decision: Some(Decision::Deny),
            limit: Some(2),
            ..Query::all()
        })
        .unwrap();
    assert_eq!(seqs(denies), vec![13, 17]);
}

#[test]
fn an_edited_index_column_cannot_smuggle_an_entry_into_results() {
    let fx = fixture();
    fx.attacker().set_text_column(0, "task", "t-1");
    let got = seqs(
        fx.log
            .query(&Query {
                task: Some(TaskId::new("t-1").unwrap()),
                ..Query::all()
            })
            .unwrap(),
    );
    assert_eq!(got, vec![1, 5, 9, 13, 17]);
}

#[test]
fn entries_come_back_with_every_field() {
    let fx = fixture();
    let e = fx.log.tail(1).unwrap().remove(0);
    assert_eq!(e.seq, N - 1);
    assert_eq!(e.time, time_of(N - 1));
    assert_eq!(e.keys.task.unwrap().jti.unwrap().as_str(), "jti-19");
    assert_eq!(e.detail.get("n"), Some(&serde_json::json!(19)));
    assert_eq!(e.rule.unwrap().as_str(), "refund.max_cents");
}

#[test]
fn a_task_family_is_the_task_and_its_dotted_children_only() {
    let fx = empty();
    let log = &fx.log;
    let tasks = [
        "task-1",      // 0: the router task itself
        "task-1.1",    // 1: its first agent turn
        "task-1.op-3", // 2: an operator action
        "task-10",     // 3: another task whose id starts the same
        "task-1-x",    // 4: likewise
        "task-2.1",    // 5: another task's turn
        "task-1.2",    // 6: its second turn
        "task-1/",     // 7: sorts right after the family's range
    ];
    let drafts = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| crate::support::draft(i as u64).task(TaskId::new(*t).unwrap()))
        .collect();
    log.append_batch(drafts).unwrap();
    let family = |t: &str| {
        seqs(
            log.query(&Query {
                task_family: Some(TaskId::new(t).unwrap()),
                ..Query::all()
            })
            .unwrap(),
        )
    };
    assert_eq!(family("task-1"), vec![0, 1, 2, 6]);
    assert_eq!(family("task-10"), vec![3]);
    assert_eq!(family("task-1.1"), vec![1]);
    assert!(family("task-3").is_empty());
    // The filter also holds when the store's index is bypassed.
    let q = Query {
        task_family: Some(TaskId::new("task-1").unwrap()),
        ..Query::all()
    };
    let all = log.query(&Query::all()).unwrap();
    let kept: Vec<u64> = all.iter().filter(|e| q.matches(e)).map(|e| e.seq).collect();
    assert_eq!(kept, vec![0, 1, 2, 6]);
}
