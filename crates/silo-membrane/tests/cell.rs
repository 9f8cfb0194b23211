//! End to end through a real cell: a Python agent using the `silo` SDK over the bind-mounted
//! socket. Needs root and a built `silo` binary; skipped with a reason otherwise.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use silo_cell::{new_cell_id, AgentName, CellSpec, Termination};
use silo_membrane::{CompletionStatus, Limits, Outcome};

use crate::support::{base_claims, task_claims, Fixture, AGENT, CUSTOMER};

const AGENT_MAIN: &str = r#"
import silo

t = silo.task()
assert t["customer"] == "cus_001", t
first = silo.refund(1234, "late delivery", idempotency_key=t["case"] + ":refund")
again = silo.refund(1234, "late delivery", idempotency_key=t["case"] + ":refund")
assert again["refund_id"] == first["refund_id"] and again["replayed"], again
try:
    silo.refund(999999, "too much", idempotency_key="big")
    raise SystemExit("over-limit refund was not refused")
except silo.MembraneError as e:
    assert e.code == "denied" and e.rule == "capability.refund.max_cents", e
silo.kv.put("note", {"n": 1})
assert silo.kv.get("note") == {"n": 1}
silo.done("refunded " + str(first["amount_cents"]))
print("agent ok")
"#;

fn silo_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("silo");
    bin.is_file().then_some(bin)
}

fn sdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/python")
}

fn readable_by_all(path: &Path) {
    let mode = if path.is_dir() { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_agent_in_a_real_cell_refunds_through_the_membrane() {
    if std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1)
        != 0
    {
        eprintln!("skipped: running a cell needs root");
        return;
    }
    let Some(silo) = silo_binary() else {
        eprintln!("skipped: no `silo` binary next to the test (run `cargo build -p silo-cli`)");
        return;
    };
    let sdk = sdk_dir().canonicalize().unwrap();

    let mut f = Fixture::bare();
    let cell = new_cell_id();
    let socket = f.add_cell(&cell, Limits::default());

    let agent_dir = f.agent_dir();
    std::fs::write(agent_dir.join("main.py"), AGENT_MAIN).unwrap();
    readable_by_all(&agent_dir);
    readable_by_all(&agent_dir.join("main.py"));
    let run_dir = f.dir.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();

    let base = f.minter.mint_base(&base_claims()).unwrap();
    let task = f
        .minter
        .mint_task(&task_claims("task-cell", &cell))
        .unwrap();
    let mut spec = CellSpec::new(
        AgentName::new(AGENT).unwrap(),
        vec!["python3".into(), "/agent/main.py".into()],
    );
    spec.id = cell.clone();
    spec.agent_dir = Some(agent_dir);
    spec.socket = Some(socket);
    spec.sdk_dir = Some(sdk.clone());
    spec.run_dir = run_dir;
    spec.env = vec![
        ("SILO_BASE_KEY".into(), base),
        ("SILO_TASK_KEY".into(), task),
    ];
    let out_path = f.dir.path().join("agent.out");
    let out = std::fs::File::create(&out_path).unwrap();
    let err = out.try_clone().unwrap();
    let outcome = tokio::task::spawn_blocking(move || {
        silo_cell::spawn_supervisor(&silo, &spec, Stdio::from(out), Stdio::from(err))
            .and_then(|h| h.wait())
    })
    .await
    .unwrap();
    let printed = std::fs::read_to_string(&out_path).unwrap_or_default();
    let outcome = outcome.unwrap_or_else(|e| panic!("cell failed: {e}\n{printed}"));
    assert_eq!(
        outcome.termination,
        Termination::Exited { code: 0 },
        "{printed}"
    );
    assert!(printed.contains("agent ok"), "{printed}");

    let ledger = f.services.ledger().refunds_for(CUSTOMER).unwrap();
    assert_eq!(ledger.len(), 1, "paid exactly once");
    assert_eq!(ledger[0].amount_cents, 1234);
    let stored = f.services.outcomes().get("task-cell").unwrap().unwrap();
    assert_eq!(
        stored.outcome,
        Outcome::Complete {
            status: CompletionStatus::Done,
            summary: "refunded 1234".into(),
            report: None,
        }
    );
    // task, refund, replay, denied refund, kv.put, kv.get, complete.
    let entries = f.audit_entries();
    assert_eq!(entries.len(), 7);
    assert!(f.services.audit().verify().is_ok());
}
