//! `GET /metrics` in the Prometheus text format (0.0.4); every family is listed in
//! docs/OBSERVABILITY.md.
//!
//! Two kinds of figures. Counts of shared state are read from the stores with `GROUP BY`
//! queries — the router store at each scrape (`silo_tasks`, `silo_human_queue_depth`,
//! `silo_router_events_total`), the append-only audit log one window at a time
//! ([`AuditTally`]: `silo_membrane_decisions_total`, `silo_llm_tokens_total`) — so every
//! router on a shared database reports the same, and a restart loses nothing; they are
//! written here directly, since a registry kept in the process would be wrong the moment
//! another process changed the store. Latencies are
//! in-process histograms (the `prometheus` crate's default registry, filled by silo-invoke
//! and silo-membrane in the process that runs the cells): each host reports its own cells.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use silo_router::{AnyStore, State, Store};

/// The audit action of an LLM call, and the detail fields holding its tokens.
const LLM_ACTION: &str = "llm.chat";
const LLM_TOKEN_KINDS: [(&str, &str); 2] = [
    ("prompt", "prompt_tokens"),
    ("completion", "completion_tokens"),
];

/// A label value escaped for the text format.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Running totals over the audit log's entries below `upto`. Entries are never changed,
/// so each scrape counts only the entries appended since the last one: a scrape costs the
/// new entries, not the whole log (the first scrape after a start reads it all once).
#[derive(Debug, Default)]
pub(crate) struct AuditTally {
    upto: u64,
    /// `(action, result, rule)` → entries.
    decisions: BTreeMap<(String, String, String), u64>,
    /// Tokens by kind, in [`LLM_TOKEN_KINDS`] order.
    tokens: [u64; 2],
}

impl AuditTally {
    /// Counts the entries appended since the last call into the totals.
    fn catch_up(&mut self, audit: &dyn silo_audit::AuditStore) -> Result<(), String> {
        let end = audit
            .end_seq()
            .map_err(|e| format!("reading the audit log: {e}"))?;
        if end <= self.upto {
            return Ok(());
        }
        let window = self.upto..end;
        let counts = audit
            .decision_counts(window.clone())
            .map_err(|e| format!("counting decisions: {e}"))?;
        let mut tokens = [0; 2];
        for (n, (_, field)) in tokens.iter_mut().zip(LLM_TOKEN_KINDS) {
            *n = audit
                .detail_sum(LLM_ACTION, field, window.clone())
                .map_err(|e| format!("summing LLM tokens: {e}"))?;
        }
        // All read: only now change the totals, so a failed scrape counts nothing twice.
        for c in counts {
            let key = (c.action, c.decision, c.rule.unwrap_or_default());
            let total = self.decisions.entry(key).or_default();
            *total = total.saturating_add(c.count);
        }
        for (total, n) in self.tokens.iter_mut().zip(tokens) {
            *total = total.saturating_add(n);
        }
        self.upto = end;
        Ok(())
    }
}

/// The whole scrape: the store's and the audit log's counts, then this process's
/// histograms.
pub(crate) fn render(
    store: &AnyStore,
    audit: Option<(&silo_audit::AuditLog, &Mutex<AuditTally>)>,
) -> Result<Response<Full<Bytes>>, String> {
    let counts = store.counts().map_err(|e| e.to_string())?;
    let mut out = String::new();
    router(&mut out, &counts);
    if let Some((audit, tally)) = audit {
        let mut tally = tally.lock().unwrap_or_else(|e| e.into_inner());
        tally.catch_up(audit.store())?;
        decisions(&mut out, &tally);
        llm_tokens(&mut out, &tally);
    }
    let encoder = prometheus::TextEncoder::new();
    let own = encoder
        .encode_to_string(&prometheus::gather())
        .map_err(|e| format!("encoding the process's histograms: {e}"))?;
    out.push_str(&own);
    let mut r = Response::new(Full::new(Bytes::from(out)));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    Ok(r)
}

/// The router store's gauges and counters.
fn router(out: &mut String, counts: &silo_router::StoreCounts) {
    out.push_str(
        "# HELP silo_tasks Tasks by state (the router store, shared by every process on it).\n",
    );
    out.push_str("# TYPE silo_tasks gauge\n");
    for state in State::ALL {
        let n = counts
            .tasks_by_state
            .get(state.as_str())
            .copied()
            .unwrap_or(0);
        let _ = writeln!(out, "silo_tasks{{state=\"{}\"}} {n}", state.as_str());
    }
    out.push_str("# HELP silo_human_queue_depth Tasks waiting in a human pool's inbox.\n");
    out.push_str("# TYPE silo_human_queue_depth gauge\n");
    for (pool, n) in &counts.waiting_by_pool {
        let _ = writeln!(
            out,
            "silo_human_queue_depth{{pool=\"{}\"}} {n}",
            label(pool)
        );
    }
    out.push_str("# HELP silo_router_events_total Router events appended, by kind (escalations: escalated_to_agent, escalated_to_human).\n");
    out.push_str("# TYPE silo_router_events_total counter\n");
    for (kind, n) in &counts.events_by_kind {
        let _ = writeln!(
            out,
            "silo_router_events_total{{kind=\"{}\"}} {n}",
            label(kind)
        );
    }
}

/// `silo_membrane_decisions_total{action,result,rule}`: the audit log's decisions.
fn decisions(out: &mut String, tally: &AuditTally) {
    out.push_str("# HELP silo_membrane_decisions_total Decisions in the audit log (every membrane call and operator action), by action, result and deciding rule.\n");
    out.push_str("# TYPE silo_membrane_decisions_total counter\n");
    for ((action, result, rule), n) in &tally.decisions {
        let _ = writeln!(
            out,
            "silo_membrane_decisions_total{{action=\"{}\",result=\"{}\",rule=\"{}\"}} {n}",
            label(action),
            label(result),
            label(rule),
        );
    }
}

/// `silo_llm_tokens_total{kind}`: the tokens the membranes' LLM calls recorded.
fn llm_tokens(out: &mut String, tally: &AuditTally) {
    out.push_str("# HELP silo_llm_tokens_total LLM tokens of answered calls through the membranes (the audit log's llm.chat entries), by kind.\n");
    out.push_str("# TYPE silo_llm_tokens_total counter\n");
    for ((kind, _), n) in LLM_TOKEN_KINDS.iter().zip(tally.tokens) {
        let _ = writeln!(out, "silo_llm_tokens_total{{kind=\"{kind}\"}} {n}");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use silo_audit::{ActionName, Actor, AuditStore, Decision, Detail, EntryDraft, RuleId};

    fn llm_call(decision: Decision, prompt: u64) -> EntryDraft {
        EntryDraft::new(
            Actor::new("membrane").unwrap(),
            ActionName::new(LLM_ACTION).unwrap(),
            decision,
        )
        .rule(RuleId::new("default.allow").unwrap())
        .detail(
            Detail::new(serde_json::json!({"prompt_tokens": prompt, "completion_tokens": 1}))
                .unwrap(),
        )
    }

    #[test]
    fn totals_kept_window_by_window_equal_a_count_of_the_whole_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = silo_audit::SqliteStore::open(&dir.path().join("audit.db")).unwrap();
        let mut running = AuditTally::default();
        running.catch_up(&store).unwrap();
        store.append(llm_call(Decision::Allow, 10)).unwrap();
        running.catch_up(&store).unwrap();
        running.catch_up(&store).unwrap();
        store
            .append_batch(vec![
                llm_call(Decision::Allow, 5),
                llm_call(Decision::Deny, 0),
            ])
            .unwrap();
        running.catch_up(&store).unwrap();
        let mut fresh = AuditTally::default();
        fresh.catch_up(&store).unwrap();
        assert_eq!(running.tokens, [15, 3]);
        assert_eq!(running.tokens, fresh.tokens);
        assert_eq!(running.decisions, fresh.decisions);
        let key = |d: &str| {
            (
                LLM_ACTION.to_owned(),
                d.to_owned(),
                "default.allow".to_owned(),
            )
        };
        assert_eq!(running.decisions.get(&key("allow")), Some(&2));
        assert_eq!(running.decisions.get(&key("deny")), Some(&1));
        assert_eq!(running.upto, store.end_seq().unwrap());
    }
}
