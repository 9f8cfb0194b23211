//! `workflow_yaml`: the router's workflow parser (`silo-router`) with hostile YAML, then a
//! run of the loaded workflow through [`Workflow::next`] with results picked from the input's
//! hash (done, 302 and 301 to listed and unlisted targets, 400, 500).
//!
//! Invariants: parsing, validating and stepping never panic; every dispatch lands on a
//! stage that exists; redirects never pass the largest `max_redirects` of any stage; the
//! 302 return stack is never deeper than the redirects taken; a 301 to a stage only moves
//! forward.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};
use silo_router::{AgentResult, Decision, Known, RunState, Workflow};

/// Steps of one run at most.
const STEPS: usize = 64;

/// Words the mutator inserts.
pub const DICTIONARY: &[&str] = &[
    "name: ",
    "stages:\n",
    "  - agent: ",
    "    name: ",
    "    302: { a: \"x\" }\n",
    "    301: { b: \"y\" }\n",
    "    \"302\":",
    "    max_redirects: ",
    "    timeout: 30s\n",
    "500ms",
    "1h",
    "on_error: { 400: human, 500: abort }\n",
    "fail",
    "abort",
    "max_redirects: 4294967295\n",
    "18446744073709551616",
    "&a ",
    "*a",
    "<<: *a",
    "? ",
    "!!str ",
    "~",
];

/// Runs one input (see the module docs).
pub fn run(data: &[u8]) {
    let Some(text) = crate::text(data) else {
        return;
    };
    let Ok(wf) = Workflow::from_yaml(text) else {
        return;
    };
    let mut known = Known::default();
    for stage in &wf.stages {
        known.agents.insert(stage.agent.clone());
        known.agents.extend(stage.soft.keys().cloned());
        known.agents.extend(stage.hard.keys().cloned());
    }
    known.humans.insert("human".into());
    let _ = wf.validate(&known);
    let bound = wf.stages.iter().map(|s| s.max_redirects).max().unwrap_or(0);
    let digest = Sha256::digest(data);
    let mut rng = fastrand::Rng::with_seed(u64::from_le_bytes(
        digest[..8].try_into().expect("eight bytes"),
    ));
    let mut run = wf.start();
    for _ in 0..STEPS {
        let _ = wf.timeout_ms(&run);
        let _ = wf.max_redirects(&run);
        let stage = wf
            .stages
            .get(run.stage)
            .unwrap_or_else(|| panic!("the run is at stage {} of {}", run.stage, wf.stages.len()));
        let pick = |rng: &mut fastrand::Rng, listed: &BTreeSet<&String>| {
            if listed.is_empty() || rng.u8(0..4) == 0 {
                "nobody-listed".to_string()
            } else {
                let i = rng.usize(0..listed.len());
                listed
                    .iter()
                    .nth(i)
                    .map(|s| s.to_string())
                    .unwrap_or_default()
            }
        };
        let summary = "s".to_string();
        let result = match rng.u8(0..6) {
            0 | 1 => AgentResult::Done {
                summary,
                assets: vec!["a".into()],
            },
            2 => AgentResult::SoftRedirect {
                target: pick(&mut rng, &stage.soft.keys().collect()),
                summary,
            },
            3 => AgentResult::HardRedirect {
                target: pick(&mut rng, &stage.hard.keys().collect()),
                summary,
            },
            4 => AgentResult::NeedsHuman { summary },
            _ => AgentResult::Failed { summary },
        };
        match wf.next(&run, &result) {
            Decision::Dispatch {
                agent, run: next, ..
            } => {
                check(&wf, &run, &result, &next, bound);
                assert_eq!(
                    agent, next.agent,
                    "dispatched to one agent, recorded another"
                );
                run = next;
            }
            _ => break,
        }
    }
}

fn check(wf: &Workflow, from: &RunState, result: &AgentResult, next: &RunState, bound: u32) {
    assert!(
        next.stage < wf.stages.len(),
        "dispatched to stage {} of {}",
        next.stage,
        wf.stages.len()
    );
    assert!(
        next.redirects <= bound,
        "{} redirects taken, but no stage allows more than {bound}",
        next.redirects
    );
    assert!(
        next.returns.len() <= next.redirects as usize,
        "{} 302 return points after {} redirects",
        next.returns.len(),
        next.redirects
    );
    if let AgentResult::HardRedirect { target, .. } = result {
        if wf.stage_index(target).is_some() {
            assert!(
                next.stage > from.stage,
                "a 301 moved from stage {} back to {}",
                from.stage,
                next.stage
            );
        }
    }
}
