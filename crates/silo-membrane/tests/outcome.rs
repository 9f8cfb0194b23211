//! The task's facts, and the agent's result: complete, escalate or redirect (with an
//! optional report), first one stands.

use std::path::Path;

use serde_json::json;
use silo_audit::Decision;
use silo_membrane::{CompletionStatus, Outcome, Report};

use crate::support::{Fixture, CUSTOMER};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_shows_the_task_keys_public_facts() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let a = c.get("/v1/task").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["task"], "task-1");
    assert_eq!(a.body["customer"], CUSTOMER);
    assert_eq!(a.body["cell"], f.cell());
    assert_eq!(a.body["capabilities"]["refund"]["max_cents"], 50000);
    assert!(!a.body.to_string().contains("eyJ"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_is_stored_for_the_caller_and_the_first_outcome_stands() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let a = c
        .post(
            "/v1/complete",
            &json!({"status": "done", "summary": "refunded 25.00"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = c
        .post(
            "/v1/escalate",
            &json!({"target": "manager", "reason": "r", "recommendation": "x"}),
        )
        .await;
    assert_eq!((a.status, a.code()), (409, "outcome_recorded"));
    let stored = f.services.outcomes().get("task-1").unwrap().unwrap();
    assert_eq!(
        stored.outcome,
        Outcome::Complete {
            status: CompletionStatus::Done,
            summary: "refunded 25.00".into(),
            report: None,
        }
    );
    let a = c
        .post(
            "/v1/complete",
            &json!({"status": "approved_by_me", "summary": ""}),
        )
        .await;
    assert_eq!(a.code(), "invalid_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalate_only_to_a_listed_target() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let a = c
        .post(
            "/v1/escalate",
            &json!({"target": "ceo", "reason": "big", "recommendation": "pay"}),
        )
        .await;
    assert_eq!((a.status, a.code()), (403, "denied"));
    assert!(f.services.outcomes().get("task-1").unwrap().is_none());
    let a = c
        .post(
            "/v1/escalate",
            &json!({"target": "manager", "reason": "over my limit", "recommendation": "refund 600.00"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let stored = f.services.outcomes().get("task-1").unwrap().unwrap();
    assert!(matches!(stored.outcome, Outcome::Escalate { ref target, .. } if target == "manager"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_is_recorded_audited_without_its_text_and_the_first_outcome_stands() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let a = c
        .post(
            "/v1/redirect",
            &json!({"target": "order-agent", "kind": "soft", "summary": "Jane Doe asks about order 7"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body, json!({"recorded": true}));
    for (path, body) in [
        (
            "/v1/redirect",
            json!({"target": "support-workflow", "kind": "hard", "summary": "x"}),
        ),
        ("/v1/complete", json!({"status": "done", "summary": "x"})),
    ] {
        let a = c.post(path, &body).await;
        assert_eq!((a.status, a.code()), (409, "outcome_recorded"), "{path}");
    }
    let stored = f.services.outcomes().get("task-1").unwrap().unwrap();
    assert_eq!(
        stored.outcome,
        Outcome::Redirect {
            target: "order-agent".into(),
            hard: false,
            summary: "Jane Doe asks about order 7".into(),
            report: None,
        }
    );

    let entries = f.audit_entries();
    let first = &entries[0];
    assert_eq!(first.action.as_str(), "task.redirect");
    assert_eq!(first.decision, Decision::Allow);
    assert_eq!(first.rule.as_ref().unwrap().as_str(), "membrane.task_key");
    assert_eq!(first.detail.get("target"), Some(&json!("order-agent")));
    assert_eq!(first.detail.get("redirect"), Some(&json!("soft")));
    let text = String::from_utf8(first.canonical().unwrap()).unwrap();
    assert!(!text.contains("Jane Doe"), "{text}");
    assert_eq!(
        entries[1].detail.get("code"),
        Some(&json!("outcome_recorded"))
    );

    // A hard redirect on another task is stored as one.
    let mut other = f.client_for("task-2", CUSTOMER).await;
    let a = other
        .post(
            "/v1/redirect",
            &json!({"target": "support-workflow", "kind": "hard", "summary": "complex"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let stored = f.services.outcomes().get("task-2").unwrap().unwrap();
    assert!(matches!(
        stored.outcome,
        Outcome::Redirect { hard: true, .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_to_a_target_that_is_not_an_agent_name_is_refused() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let long = "a".repeat(65);
    for target in [
        "",
        "Order-Agent",
        "../order-agent",
        "order agent",
        "order-agent\n",
        "[NAME_1]",
        "ordér-agent",
        long.as_str(),
    ] {
        let a = c
            .post(
                "/v1/redirect",
                &json!({"target": target, "kind": "soft", "summary": "s"}),
            )
            .await;
        assert_eq!((a.status, a.code()), (400, "invalid_request"), "{target:?}");
        assert!(!a.body.to_string().contains("NAME_1"), "{}", a.body);
    }
    for body in [
        json!({"target": "order-agent", "kind": "sideways", "summary": "s"}),
        json!({"target": "order-agent", "summary": "s"}),
        json!({"target": "order-agent", "kind": "soft", "summary": "s", "hard": true}),
        json!({"target": "order-agent", "kind": "soft", "summary": "x".repeat(8193)}),
    ] {
        let a = c.post("/v1/redirect", &body).await;
        assert_eq!((a.status, a.code()), (400, "invalid_request"), "{body}");
    }
    assert!(f.services.outcomes().get("task-1").unwrap().is_none());
    // The longest plausible name is fine.
    let name = format!("{}_9-x", "a".repeat(60));
    let a = c
        .post(
            "/v1/redirect",
            &json!({"target": name, "kind": "hard", "summary": "s"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_is_stored_with_the_outcome_and_bounded() {
    let f = Fixture::new();
    let mut c = f.client().await;
    let many: Vec<String> = (0..33).map(|i| format!("item {i}")).collect();
    for report in [
        json!({"did": "x".repeat(2049)}),
        json!({"todo": many}),
        json!({"produced": ["y".repeat(513)]}),
        json!({"warnings": ["bell \u{7}"]}),
        json!({"did": "x", "secret": "not a report field"}),
        json!({"todo": "a string, not a list"}),
    ] {
        for (path, mut body) in [
            ("/v1/complete", json!({"status": "done", "summary": "s"})),
            (
                "/v1/redirect",
                json!({"target": "order-agent", "kind": "soft", "summary": "s"}),
            ),
        ] {
            body["report"] = report.clone();
            let a = c.post(path, &body).await;
            assert_eq!(
                (a.status, a.code()),
                (400, "invalid_request"),
                "{path} {report}"
            );
        }
    }
    assert!(f.services.outcomes().get("task-1").unwrap().is_none());

    let full: Vec<String> = (0..32).map(|i| format!("todo {i}")).collect();
    let a = c
        .post(
            "/v1/complete",
            &json!({"status": "done", "summary": "refunded", "report": {
                "did": "refunded order 7",
                "produced": ["refund:r-1"],
                "todo": full,
                "warnings": ["[NAME_1] was upset"],
            }}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let stored = f.services.outcomes().get("task-1").unwrap().unwrap();
    assert_eq!(
        stored.outcome,
        Outcome::Complete {
            status: CompletionStatus::Done,
            summary: "refunded".into(),
            report: Some(Report {
                did: "refunded order 7".into(),
                produced: vec!["refund:r-1".into()],
                todo: full,
                warnings: vec!["[NAME_1] was upset".into()],
            }),
        }
    );
    // The report's text stays out of the audit log, like the summary.
    for e in f.audit_entries() {
        let text = String::from_utf8(e.canonical().unwrap()).unwrap();
        assert!(!text.contains("refunded order 7"), "{text}");
    }
}

fn sdk_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/python")
}

/// Runs `script` with the Python SDK against the fixture's socket, as task `task`.
async fn run_sdk(f: &Fixture, task: &str, script: &str) -> Option<String> {
    let probe = std::process::Command::new("python3")
        .arg("--version")
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: no python3");
        return None;
    }
    let mut cmd = std::process::Command::new("python3");
    cmd.args(["-c", script])
        .env("PYTHONPATH", sdk_dir())
        .env("SILO_SOCKET", f.socket())
        .env("SILO_BASE_KEY", f.base_key())
        .env("SILO_TASK_KEY", f.task_key(task));
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{printed}");
    Some(printed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_redirects_and_reports() {
    let f = Fixture::new();
    let script = r#"
import silo
silo.redirect("order-agent", "an order question",
              report={"did": "classified", "produced": ("kv:intent",), "todo": ["answer"]})
try:
    silo.done("again")
    raise SystemExit("a second outcome was accepted")
except silo.MembraneError as e:
    assert e.code == "outcome_recorded", e
try:
    silo.redirect("Not A Name", "x")
    raise SystemExit("a bad target was accepted")
except silo.MembraneError as e:
    assert e.code == "invalid_request", e
print("sdk ok")
"#;
    let Some(printed) = run_sdk(&f, "task-1", script).await else {
        return;
    };
    assert!(printed.contains("sdk ok"), "{printed}");
    assert_eq!(
        f.services
            .outcomes()
            .get("task-1")
            .unwrap()
            .unwrap()
            .outcome,
        Outcome::Redirect {
            target: "order-agent".into(),
            hard: false,
            summary: "an order question".into(),
            report: Some(Report {
                did: "classified".into(),
                produced: vec!["kv:intent".into()],
                todo: vec!["answer".into()],
                warnings: Vec::new(),
            }),
        }
    );

    run_sdk(
        &f,
        "task-2",
        r#"import silo; silo.redirect("support-workflow", "complex", hard=True)"#,
    )
    .await;
    assert!(matches!(
        f.services.outcomes().get("task-2").unwrap().unwrap().outcome,
        Outcome::Redirect { hard: true, ref target, report: None, .. } if target == "support-workflow"
    ));

    run_sdk(
        &f,
        "task-3",
        r#"import silo; silo.done("refunded", report={"warnings": ["check the address"]})"#,
    )
    .await;
    assert_eq!(
        f.services
            .outcomes()
            .get("task-3")
            .unwrap()
            .unwrap()
            .outcome,
        Outcome::Complete {
            status: CompletionStatus::Done,
            summary: "refunded".into(),
            report: Some(Report {
                warnings: vec!["check the address".into()],
                ..Report::default()
            }),
        }
    );
}
