//! Router events in the audit log: every event once, in order, with the router's sequence
//! number; no free text; a second recorder on the same files copies nothing twice.

use std::sync::Arc;

use silo_audit::{AuditLog, Query};
use silo_router::{AuditRecorder, Store, ROUTER_ACTION};

use crate::support::{escalate, kernel, spec};

#[test]
fn every_router_event_reaches_the_audit_log_once_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(AuditLog::open(&dir.path().join("audit")).unwrap());
    let lock = dir.path().join("audit.lock");
    let k = kernel(&dir).with_recorder(AuditRecorder::new(log.clone(), &lock));
    k.dispatcher()
        .then("refund-agent", escalate("manager-agent"));
    let task = k.submit(spec("refund"), 1).unwrap();
    // Submitting alone is on record.
    assert_eq!(log.len().unwrap(), 1);
    k.run_until_idle(2).unwrap();

    let router_events = k.store().events(None).unwrap();
    let entries = log.query(&Query::all()).unwrap();
    assert_eq!(entries.len(), router_events.len());
    for (entry, event) in entries.iter().zip(&router_events) {
        assert_eq!(entry.action.as_str(), ROUTER_ACTION);
        assert_eq!(entry.detail.get("router_seq").unwrap(), event.seq);
        assert_eq!(entry.task.as_ref().unwrap().as_str(), task.as_str());
        assert_eq!(entry.customer.as_ref().unwrap().as_str(), "cust-1");
        // Agents' free text (reasons, recommendations, summaries) is not copied.
        let text = serde_json::to_string(&entry.detail).unwrap();
        assert!(
            !text.contains("over my limit") && !text.contains("refund 80 USD"),
            "{text}"
        );
    }
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e.detail.get("event").unwrap().as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"escalated_to_agent"), "{kinds:?}");
    let escalated = entries
        .iter()
        .find(|e| e.detail.get("event").unwrap() == "escalated_to_agent")
        .unwrap();
    assert_eq!(escalated.detail.get("target").unwrap(), "manager-agent");
    assert_eq!(escalated.agent.as_ref().unwrap().as_str(), "manager-agent");
    assert!(log.verify().is_ok());

    // Another recorder (another process) on the same files has nothing left to copy.
    let other = AuditRecorder::new(
        Arc::new(AuditLog::open(&dir.path().join("audit")).unwrap()),
        &lock,
    );
    assert_eq!(other.sync(k.store()).unwrap(), 0);
    assert_eq!(log.len().unwrap(), router_events.len() as u64);
}

#[test]
fn events_made_without_a_recorder_are_caught_up_later() {
    let dir = tempfile::tempdir().unwrap();
    let k = kernel(&dir);
    k.submit(spec("refund"), 1).unwrap();
    k.run_until_idle(2).unwrap();
    let n = k.store().events(None).unwrap().len();
    let log = Arc::new(AuditLog::open(&dir.path().join("audit")).unwrap());
    let rec = AuditRecorder::new(log.clone(), &dir.path().join("audit.lock"));
    assert_eq!(rec.sync(k.store()).unwrap(), n);
    assert_eq!(rec.sync(k.store()).unwrap(), 0);
    assert_eq!(log.len().unwrap(), n as u64);
}

#[test]
fn a_refused_transition_is_written_to_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(AuditLog::open(&dir.path().join("audit")).unwrap());
    let k = kernel(&dir).with_recorder(AuditRecorder::new(log.clone(), &dir.path().join("l")));
    let task = k.submit(spec("refund"), 1).unwrap();
    k.run_until_idle(2).unwrap();
    let before = log.len().unwrap();
    // The task is completed: a kill is refused, and the refusal is on record.
    assert!(k.signal(&task, silo_router::Signal::Kill, 3).is_err());
    assert!(k.take(&task, "alice", 3).is_err());
    let refused = log
        .query(&Query {
            action: Some(silo_audit::ActionName::new(silo_router::REFUSED_ACTION).unwrap()),
            ..Query::all()
        })
        .unwrap();
    assert_eq!(refused.len(), 2);
    assert_eq!(log.len().unwrap(), before + 2);
    assert_eq!(refused[0].decision, silo_audit::Decision::Deny);
    assert_eq!(refused[0].detail.get("state").unwrap(), "completed");
    assert_eq!(refused[0].detail.get("event").unwrap(), "signal_kill");
    assert_eq!(refused[1].detail.get("event").unwrap(), "human_assigned");
    assert!(log.verify().is_ok());
}
