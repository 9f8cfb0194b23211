//! Appends from several threads, and from two handles on one file, keep one valid chain.

use std::sync::Arc;
use std::thread;

use silo_audit::AuditLog;

use crate::support::draft;

#[test]
fn appends_from_many_threads_form_one_valid_chain() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(AuditLog::open(dir.path()).unwrap());
    let handles: Vec<_> = (0..6u64)
        .map(|t| {
            let log = Arc::clone(&log);
            thread::spawn(move || {
                for i in 0..20u64 {
                    if i % 2 == 0 {
                        log.append(draft(t * 100 + i)).unwrap();
                    } else {
                        log.append_batch(vec![draft(t * 100 + i); 3]).unwrap();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(log.verify().unwrap().size, 6 * (10 + 10 * 3));
}

#[test]
fn two_handles_on_one_file_act_like_two_processes() {
    let dir = tempfile::tempdir().unwrap();
    let a = Arc::new(AuditLog::open(dir.path()).unwrap());
    let b = Arc::new(AuditLog::open(dir.path()).unwrap());
    let ta = {
        let a = Arc::clone(&a);
        thread::spawn(move || {
            for i in 0..40 {
                a.append(draft(i)).unwrap();
            }
        })
    };
    let tb = {
        let b = Arc::clone(&b);
        thread::spawn(move || {
            for i in 0..20 {
                b.append_batch(vec![draft(i), draft(i + 1)]).unwrap();
            }
        })
    };
    ta.join().unwrap();
    tb.join().unwrap();
    assert_eq!(a.verify().unwrap().size, 80);
    assert_eq!(b.verify().unwrap().size, 80);
}
