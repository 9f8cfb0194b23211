//! Shared fixtures: a key store, genuine and forged tokens, and the reference policy.

use silo_keys::{new_jti, BaseKey, Capabilities, FolderHash, KeyStore, Minter, TaskKey};

pub const NOW: u64 = 1_800_000_000;
pub const CELL: &str = "cell-a";

pub const POLICY: &str = r#"
version: 1
default: allow
rules:
  - name: no-refunds-on-chargebacks
    action: refund
    when:
      - { param: reason, regex: "(?i)chargeback" }
    effect: deny
    priority: 100
    reason: "refunds on charged-back orders go through the bank"
    examples:
      match: [{ amount: 100, currency: USD, reason: "Chargeback filed" }]
      no_match: [{ amount: 100, currency: USD, reason: "late delivery" }, { amount: 100 }]
  - name: big-refunds-need-approval
    action: refund
    when:
      - { param: amount, gt: 20000 }
    effect: require_approval
    priority: 10
    examples:
      match: [{ amount: 20001, currency: USD }]
      no_match: [{ amount: 20000, currency: USD }]
  - name: refunds-per-customer-per-day
    action: refund
    rate_limit: { per: customer, max: 3, window_secs: 86400 }
    effect: deny
    priority: 50
  - name: refund-daily-total
    action: refund
    daily_total: { per: customer, max_cents: 60000 }
    effect: require_approval
    priority: 40
  - name: no-email-to-competitors
    action: email.send
    when:
      - { param: to, regex: "@competitor\\.example$" }
    effect: deny
    priority: 100
  - name: apology-emails-always-fine
    action: email.send
    when:
      - { param: template, eq: apology }
    effect: allow
    priority: 5
"#;

pub struct Keys {
    pub _dir: tempfile::TempDir,
    pub store: KeyStore,
    pub minter: Minter,
    /// Hash of the agent folder the base keys are minted for.
    pub agent_hash: FolderHash,
    /// Hash of the same folder after the agent edited `main.py`.
    pub modified_hash: FolderHash,
}

pub fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::init(&dir.path().join("keys"), NOW - 100).unwrap();
    let minter = store.minter().unwrap();
    let agent = dir.path().join("agent");
    std::fs::create_dir(&agent).unwrap();
    std::fs::write(agent.join("main.py"), "print('refund')").unwrap();
    let agent_hash = silo_keys::folder_hash(&agent).unwrap();
    std::fs::write(agent.join("main.py"), "print('steal')").unwrap();
    let modified_hash = silo_keys::folder_hash(&agent).unwrap();
    Keys {
        _dir: dir,
        store,
        minter,
        agent_hash,
        modified_hash,
    }
}

impl Keys {
    pub fn base(&self) -> String {
        let mut b = base_claims();
        b.folder_hash = self.agent_hash.to_string();
        self.minter.mint_base(&b).unwrap()
    }

    pub fn task(&self) -> String {
        self.minter.mint_task(&task_claims()).unwrap()
    }
}

pub fn base_claims() -> BaseKey {
    BaseKey {
        aud: silo_keys::BASE_AUDIENCE.into(),
        jti: new_jti().unwrap(),
        iat: NOW - 10,
        exp: NOW + 3600,
        agent: "refund-agent".into(),
        version: "1.0.0".into(),
        folder_hash: format!("sha256:{}", "0".repeat(64)),
        caps: Capabilities::from_json(
            r#"{"refund":{"max_cents":50000,"currency":"USD"},
                "email.send":{"templates":["refund_confirmation","apology"]},
                "data.read":{"fields":["name","email","balance"]},
                "escalate":["manager","human"],
                "llm":{"max_tokens_per_task":20000}}"#,
        )
        .unwrap(),
    }
}

pub fn task_claims() -> TaskKey {
    TaskKey {
        aud: silo_keys::TASK_AUDIENCE.into(),
        jti: new_jti().unwrap(),
        iat: NOW - 10,
        nbf: NOW - 10,
        exp: NOW + 600,
        task: "task-1".into(),
        agent: "refund-agent".into(),
        customer: "cust_1".into(),
        case: "case-1".into(),
        workflow: None,
        cell: CELL.into(),
    }
}
