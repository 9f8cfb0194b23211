//! Keys: every call needs a genuine base key for this agent folder and a genuine task
//! key for this task and this cell. Forged, tampered, algorithm-confused, expired,
//! not-yet-valid, revoked, misplaced (another cell's, another customer's, another
//! agent's) and swapped keys must all be refused — each case tries a refund of $1, which
//! the genuine keys would allow, so a refusal can only come from the key check.

use crate::attack::{AgentOs, Attack, Category::Keys, HostKey};

macro_rules! case {
    ($id:literal, $title:literal, $code:literal) => {
        Attack::new($id, Keys, $title, concat!(
            "\nimport base64\n\ndef b64d(s):\n    return base64.urlsafe_b64decode(s + \"=\" * (-len(s) % 4))\n\ndef b64e(b):\n    return base64.urlsafe_b64encode(b).rstrip(b\"=\").decode()\n\ndef parts(token):\n    h, p, s = token.split(\".\")\n    return json.loads(b64d(h)), json.loads(b64d(p)), s\n\ndef assemble(header, payload, sig):\n    return \".\".join([b64e(json.dumps(header).encode()), b64e(json.dumps(payload).encode()), sig])\n\nREFUND = {\"amount_cents\": 100, \"currency\": \"USD\", \"reason\": \"key test\", \"idempotency_key\": \"key-test-1\"}\n",
            $code
        ))
        .agent_os(AgentOs::DirectViolation)
    };
}

/// The cases.
pub fn cases() -> Vec<Attack> {
    vec![
        case!("keys-none", "no keys at all", r#"
expect_refused("refund without keys", "POST", "/v1/refund", REFUND, base="", task="")
"#),
        case!("keys-base-only", "the base key without a task key", r#"
expect_refused("refund with the base key only", "POST", "/v1/refund", REFUND, task="")
"#),
        case!("keys-task-only", "the task key without a base key", r#"
expect_refused("refund with the task key only", "POST", "/v1/refund", REFUND, base="")
"#),
        case!("keys-swapped", "base key and task key swapped", r#"
expect_refused("refund with the keys swapped", "POST", "/v1/refund", REFUND, base=TASK, task=BASE)
"#),
        case!("keys-base-as-both", "the base key presented as the task key too", r#"
expect_refused("base key as task key", "POST", "/v1/refund", REFUND, task=BASE)
"#),
        case!("keys-task-as-both", "the task key presented as the base key too", r#"
expect_refused("task key as base key", "POST", "/v1/refund", REFUND, base=TASK)
"#),
        case!("keys-flipped-signature", "one bit of the task key's signature flipped", r#"
h, p, s = TASK.split(".")
sig = bytearray(b64d(s)); sig[0] ^= 1
expect_refused("tampered signature", "POST", "/v1/refund", REFUND, task=".".join([h, p, b64e(bytes(sig))]))
"#),
        case!("keys-truncated-signature", "the task key's signature cut short", r#"
h, p, s = TASK.split(".")
expect_refused("short signature", "POST", "/v1/refund", REFUND, task=".".join([h, p, s[:20]]))
"#),
        case!("keys-alg-none", "the task key re-issued with alg none and no signature", r#"
head, pay, _ = parts(TASK)
head["alg"] = "none"
expect_refused("alg none", "POST", "/v1/refund", REFUND, task=assemble(head, pay, ""))
"#),
        case!("keys-alg-hs256-confusion", "HS256 signed with the public key id as the secret (algorithm confusion)", r#"
import hmac, hashlib
head, pay, _ = parts(TASK)
head["alg"] = "HS256"
signing = (b64e(json.dumps(head).encode()) + "." + b64e(json.dumps(pay).encode())).encode()
for secret in [head.get("kid", "").encode(), b"", b"secret"]:
    sig = b64e(hmac.new(secret, signing, hashlib.sha256).digest())
    status, answer = call("POST", "/v1/refund", REFUND, task=signing.decode() + "." + sig)
    if 200 <= status < 300:
        breach(f"HS256 with secret {secret!r} accepted")
blocked("HS256 tokens refused")
"#),
        case!("keys-claim-customer", "the task key's customer claim changed, signature kept", r#"
head, pay, sig = parts(TASK)
pay["customer"] = "cus_002"
expect_refused("customer claim edited", "POST", "/v1/refund", dict(REFUND, customer="cus_002"), task=assemble(head, pay, sig))
"#),
        case!("keys-claim-exp", "the task key's expiry pushed out a year, signature kept", r#"
head, pay, sig = parts(TASK)
pay["exp"] = pay["exp"] + 365 * 86400
expect_refused("exp edited", "POST", "/v1/refund", REFUND, task=assemble(head, pay, sig))
"#),
        case!("keys-claim-cell", "the task key's cell claim changed, signature kept", r#"
head, pay, sig = parts(TASK)
pay["cell"] = "c-000000000000"
expect_refused("cell edited", "POST", "/v1/refund", REFUND, task=assemble(head, pay, sig))
"#),
        case!("keys-base-caps-raised", "the base key's refund limit raised, signature kept", r#"
head, pay, sig = parts(BASE)
pay["caps"]["refund"]["max_cents"] = 10_000_000
expect_refused("refund over the real limit with edited caps", "POST", "/v1/refund",
    dict(REFUND, amount_cents=90000, idempotency_key="key-test-caps"), base=assemble(head, pay, sig))
"#),
        case!("keys-kid-swap", "the key id pointed at another (unknown) signing key", r#"
head, pay, sig = parts(TASK)
head["kid"] = "k-000000000000"
expect_refused("kid swapped", "POST", "/v1/refund", REFUND, task=assemble(head, pay, sig))
"#),
        case!("keys-aud-swap", "the task key's audience set to the base key's", r#"
head, pay, sig = parts(TASK)
bh, bp, _ = parts(BASE)
pay["aud"] = bp["aud"]
expect_refused("aud edited", "POST", "/v1/refund", REFUND, task=assemble(head, pay, sig))
"#),
        case!("keys-expired", "a genuine task key for this task and cell that expired an hour ago", r#"
expect_refused("expired task key", "POST", "/v1/refund", REFUND, task=keys()["expired"])
"#)
        .keys(&[HostKey::Expired]),
        case!("keys-not-yet-valid", "a genuine task key valid only from an hour from now", r#"
expect_refused("future task key", "POST", "/v1/refund", REFUND, task=keys()["future"])
"#)
        .keys(&[HostKey::NotYetValid]),
        case!("keys-revoked", "a genuine task key for this task and cell, revoked", r#"
expect_refused("revoked task key", "POST", "/v1/refund", REFUND, task=keys()["revoked"])
"#)
        .keys(&[HostKey::Revoked]),
        case!("keys-other-cell", "a genuine task key bound to another cell, used on this cell's socket", r#"
expect_refused("another cell's task key", "POST", "/v1/refund", REFUND, task=keys()["other_cell"])
"#)
        .keys(&[HostKey::OtherCell]),
        case!("keys-other-customer", "another customer's genuine task key, stolen from their cell", r#"
expect_refused("another customer's task key", "POST", "/v1/refund", dict(REFUND, customer="cus_002"), task=keys()["other_customer"])
"#)
        .keys(&[HostKey::OtherCustomer]),
        case!("keys-other-case", "a genuine task key naming another case, used to write to it", r#"
expect_refused("another case's task key", "POST", "/v1/data/write",
    {"op": "case.add_note", "text": "planted"}, task=keys()["other_case"])
"#)
        .keys(&[HostKey::OtherCase]),
        case!("keys-other-agent-base", "another agent's genuine base key with a $100,000 limit", r#"
expect_refused("another agent's base key", "POST", "/v1/refund",
    dict(REFUND, amount_cents=90000, idempotency_key="key-test-other"), base=keys()["other_agent_base"])
"#)
        .keys(&[HostKey::OtherAgentBase]),
        case!("keys-untrusted-signer", "a well-formed base key signed by a key silo does not trust", r#"
expect_refused("untrusted signer", "POST", "/v1/refund",
    dict(REFUND, amount_cents=90000, idempotency_key="key-test-rogue"), base=keys()["untrusted_base"])
"#)
        .keys(&[HostKey::UntrustedSigner]),
        case!("keys-replay-previous-run", "the task key of this agent's previous run, replayed", r#"
if phase() == "plant":
    with open("/tmp/.k", "w") as f:
        f.write(TASK)
    # The key is also handed out through the only channel that survives a run:
    status, _ = call("POST", "/v1/kv/put", {"key": "old-key", "value": TASK})
    blocked(f"planted ({status})")
old = None
status, answer = call("POST", "/v1/kv/get", {"key": "old-key"})
if isinstance(answer, dict) and answer.get("found"):
    old = answer["value"]
if old is None:
    blocked("the previous run's key did not survive the run")
expect_refused("previous run's task key", "POST", "/v1/refund", REFUND, task=old)
"#)
        .two_runs("cus_001"),
        case!("keys-garbage", "random garbage, empty segments and a huge token", r#"
for bad in ["x", "..", "a.b.c", "." * 5000, "A" * 70000, "\u00e9.\u00e9.\u00e9"]:
    try:
        status, answer = call("POST", "/v1/refund", REFUND, task=bad)
    except OSError:
        continue
    if 200 <= status < 300:
        breach(f"garbage key {bad[:20]!r} accepted")
if not still_served():
    breach("the membrane stopped answering after garbage keys")
blocked("garbage keys refused")
"#),
        case!("keys-duplicate-headers", "two task-key headers: a forged one and the genuine one", r#"
head, pay, sig = parts(TASK)
pay["customer"] = "cus_002"
forged = assemble(head, pay, sig)
status, answer = call("POST", "/v1/refund", dict(REFUND, customer="cus_002"), headers={"x-silo-task-key": forged})
if 200 <= status < 300:
    breach("a duplicate task-key header let another customer through")
blocked(f"duplicate header refused: {status} {code_of(answer)}")
"#),
    ]
}
