//! Appends from several threads, and from two handles on one log, keep one valid chain.

use std::sync::Arc;
use std::thread;

use crate::support::{draft, empty};

#[test]
fn appends_from_many_threads_form_one_valid_chain() {
    let fx = empty();
    let log = Arc::new(fx.reopen());
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
fn two_handles_on_one_log_act_like_two_processes() {
    let fx = empty();
    let a = Arc::new(fx.reopen());
    let b = Arc::new(fx.reopen());
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
