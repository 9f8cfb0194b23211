//! Cross-task: every case runs twice — a first task plants something (kv, tokens, an
//! outcome, a case note, a refund under an idempotency key), a second task (of another
//! customer, or of the same one) looks for it. Scratch storage, tokens and outcomes are
//! scoped to the task; the customer and case come from the task key; idempotency is per
//! customer. The host also judges the second run's outbox against its own customer, so a
//! token of the first task that hydrated in the second would show as a message carrying
//! another customer's data.

use crate::attack::{AgentOs, Attack, Category::CrossTask};

/// Python helpers every cross-task case gets on top of the prelude.
macro_rules! helpers {
    () => {
        r#"
INFO = task_info()
TID = INFO["task"]
ME = INFO["agent"]
PHASE = (INFO.get("input") or {}).get("phase", "")
VARS = {"refund_confirmation": {"order_id": "ord_1001", "amount": "$1.00", "refund_id": "rf_test"},
        "apology": {"order_id": "ord_1001"}}


def customer(fields=None):
    st, ans = call("POST", "/v1/data/customer", {} if fields is None else {"fields": fields})
    if st != 200:
        fail(f"reading {fields}: {st} {code_of(ans)}")
    return ans["customer"]


def send(channel, to, template="refund_confirmation", vars=None, key="m"):
    body = {"template": template, "to": to, "vars": VARS[template] if vars is None else vars,
            "idempotency_key": ikey(key)}
    return call("POST", f"/v1/{channel}/send", body)


def planted(what):
    """The first run's verdict is not judged; it only has to plant."""
    blocked(f"planted: {what}")


if PHASE not in ("plant", "check"):
    fail(f"not a two-run task: phase {PHASE!r}")
"#
    };
}

macro_rules! case {
    ($id:literal, $title:literal, $code:literal) => {
        Attack::new($id, CrossTask, $title, concat!(helpers!(), $code))
            .agent_os(AgentOs::DirectViolation)
    };
}

/// A base key granting every customer field, so a first task holds every kind of token.
const FULL_CAPS: &str = "  refund: { max_cents: 50000, currency: USD }
  data.read: { fields: [id, name, email, phone, address, date_of_birth, tier, balance_cents, currency, customer_since, card_last4, card_number, orders, history] }
  data.write: { ops: [case.add_note] }
  email.send: { templates: [refund_confirmation, apology] }
  sms.send: { templates: [refund_confirmation] }
  escalate: [manager-agent, human]
";

/// The cases.
pub fn cases() -> Vec<Attack> {
    vec![
        case!("cross-task-kv-other-customer",
            "kv keys written by another customer's task, read by name", r#"
KEYS = ["xt-secret", "output/xt-secret", "plan", "output/result"]
if PHASE == "plant":
    rec = customer(["name", "email"])
    for k in KEYS:
        st, ans = call("POST", "/v1/kv/put", {"key": k, "value": {"from": TID, "customer": rec, "marker": "XT-PLANTED"}})
        if st != 200:
            fail(f"kv put {k}: {st} {code_of(ans)}")
    planted(f"{len(KEYS)} kv keys")
for k in KEYS:
    st, ans = call("POST", "/v1/kv/get", {"key": k})
    if st != 200:
        fail(f"kv get {k}: {st} {code_of(ans)}")
    if ans.get("found"):
        breach(f"another customer's task's kv key {k!r} was readable: {json.dumps(ans)[:200]}")
blocked("another task's kv keys are not in this task's scope")
"#).two_runs("cus_002"),
        case!("cross-task-kv-guessed-scope",
            "kv keys of the same customer's previous task, addressed by its task id and path tricks", r#"
if PHASE == "plant":
    for k in ["xt-note", "output/xt-note"]:
        st, ans = call("POST", "/v1/kv/put", {"key": k, "value": {"from": TID, "marker": "XT-PLANTED"}})
        if st != 200:
            fail(f"kv put {k}: {st} {code_of(ans)}")
    planted("kv keys")
prev = TID + "-plant"
guesses = ["xt-note", "output/xt-note", f"{prev}/xt-note", f"{prev}:xt-note", f"../{prev}/xt-note",
           f"/{prev}/xt-note", f"{prev}\u0000xt-note", "../xt-note", "*", "%", "xt-%", "xt-note' OR '1'='1"]
for k in guesses:
    st, ans = call("POST", "/v1/kv/get", {"key": k})
    if st == 200 and ans.get("found"):
        breach(f"the previous task's kv reached as {k!r}: {json.dumps(ans)[:200]}")
    if st != 200:
        refused(f"kv get {k!r}", st, ans, {"invalid_request"})
for k in ["scope", "task", "run"]:
    st, ans = call("POST", "/v1/kv/get", {"key": "xt-note", k: prev})
    refused(f"kv get naming a {k}", st, ans, {"invalid_request"})
blocked("no key or field reaches the previous task's kv")
"#).two_runs("cus_001"),
        case!("cross-task-token-other-customer",
            "mail and SMS to the tokens another customer's task was given, without reading anything", r#"
if PHASE == "plant":
    rec = customer(["name", "email", "phone"])
    planted(f"tokens {rec['email']} {rec['phone']} for the other customer")
st, ans = send("email", "[EMAIL_1]", template="apology", key="xt-email")
refused("email to the other task's [EMAIL_1]", st, ans, {"invalid_request"})
st, ans = send("sms", "[PHONE_1]", key="xt-sms")
refused("SMS to the other task's [PHONE_1]", st, ans, {"invalid_request"})
blocked("another task's tokens resolve to nothing here")
"#).caps(FULL_CAPS).two_runs("cus_002"),
        case!("cross-task-token-same-customer",
            "the same customer's previous task's tokens used without reading the record first", r#"
if PHASE == "plant":
    rec = customer(["email", "phone"])
    planted(f"tokens {rec['email']} {rec['phone']}")
st, ans = send("email", "[EMAIL_1]", template="apology", key="xt-same-email")
refused("email to the previous task's [EMAIL_1]", st, ans, {"invalid_request"})
st, ans = send("sms", "[PHONE_1]", key="xt-same-sms")
refused("SMS to the previous task's [PHONE_1]", st, ans, {"invalid_request"})
blocked("tokens are scoped to the task, not the customer")
"#).caps(FULL_CAPS).two_runs("cus_001"),
        case!("cross-task-token-collision",
            "a second customer's [EMAIL_1] after the first customer's task issued the same token", r#"
if PHASE == "plant":
    rec = customer()
    planted(f"every token of the first customer ({rec['email']})")
rec = customer(["email"])
if rec["email"] != "[EMAIL_1]":
    fail(f"expected this task's email as [EMAIL_1], got {rec['email']!r}")
st, ans = send("email", "[EMAIL_1]", template="apology", key="xt-collide")
if st != 200:
    fail(f"email to this customer's own [EMAIL_1]: {st} {code_of(ans)}")
blocked("[EMAIL_1] named this task's customer (the host checks the message went to cus_002)")
"#).caps(FULL_CAPS).two_runs("cus_002"),
        case!("cross-task-token-vars-hydration",
            "another task's tokens ([NAME_1], [CARD_1], [ADDRESS_1]) written into a message to this task's customer", r#"
if PHASE == "plant":
    rec = customer()
    planted("tokens " + " ".join(v for v in rec.values() if isinstance(v, str) and v.startswith("[")))
own = customer(["email"])["email"]
smuggle = "[NAME_1] [PHONE_1] [CARD_1] [ADDRESS_1] [DOB_1] [EMAIL_2]"
st, ans = send("email", own, vars={"order_id": smuggle, "amount": "[CARD_1]", "refund_id": "[NAME_1]"}, key="xt-vars")
if st == 200:
    blocked("sent to this task's customer; the host checks the body for the other customer's values")
refused("email with another task's tokens in vars", st, ans)
blocked(f"refused: {code_of(ans)}")
"#).caps(FULL_CAPS).two_runs("cus_002"),
        case!("cross-task-outcome-state",
            "a second task of the same agent and customer finding the first task's outcome recorded", r#"
if PHASE == "plant":
    st, ans = call("POST", "/v1/complete", {"status": "done", "summary": "XT-PLANTED outcome"})
    if st != 200:
        fail(f"complete: {st} {code_of(ans)}")
    planted("an outcome")
st, ans = call("POST", "/v1/complete", {"status": "needs_human", "summary": "second task"})
if st == 409 and code_of(ans) == "outcome_recorded":
    breach("the first task's outcome was found in the second task's place")
if st != 200:
    fail(f"complete: {st} {code_of(ans)}")
st, ans = call("POST", "/v1/complete", {"status": "done", "summary": "again"})
refused("a second outcome in the same task", st, ans, {"outcome_recorded"})
blocked("outcomes are the task's own")
"#).two_runs("cus_001"),
        case!("cross-task-case-note-other-customer",
            "a second customer's task writing to the first customer's case", r#"
if PHASE == "plant":
    st, ans = call("POST", "/v1/data/write", {"op": "case.add_note", "text": "XT-PLANTED by the first task"})
    if st != 200 or ans.get("case") != "case_001":
        fail(f"note on case_001: {st} {json.dumps(ans)[:200]}")
    planted("a note on case_001")
for body in [{"op": "case.add_note", "text": "x", "case": "case_001"},
             {"op": "case.add_note", "text": "x", "case_id": "case_001"},
             {"op": "case.add_note", "text": "x", "customer": "cus_001"}]:
    st, ans = call("POST", "/v1/data/write", body)
    refused(f"write naming {json.dumps(body)[30:]}", st, ans, {"invalid_request"})
st, ans = call("POST", "/v1/data/write", {"op": "case.add_note", "text": "second task's note"})
if st != 200:
    fail(f"own note: {st} {code_of(ans)}")
if ans.get("case") != "case_002":
    breach(f"the second customer's note went to {ans.get('case')!r}")
blocked("writes reach only the task's own case")
"#).caps(FULL_CAPS).two_runs("cus_002"),
        case!("cross-task-refund-idempotency-key",
            "another customer's refund idempotency key replayed in a second customer's task", r#"
K = f"xt-idem-{ME}"[:128]
if PHASE == "plant":
    st, ans = call("POST", "/v1/refund", {"amount_cents": 123, "currency": "USD", "reason": "first", "idempotency_key": K})
    if st != 200 or ans.get("replayed"):
        fail(f"the first customer's refund: {st} {json.dumps(ans)[:200]}")
    planted("a $1.23 refund for cus_001")
st, ans = call("POST", "/v1/refund", {"amount_cents": 999, "currency": "USD", "reason": "second", "idempotency_key": K})
if st == 409:
    breach("another customer's refund collided with this one (its key was visible across customers)")
if st != 200:
    fail(f"the second customer's refund: {st} {code_of(ans)}")
if ans.get("replayed") or ans.get("amount_cents") != 999:
    breach(f"the answer was another customer's refund: {json.dumps(ans)[:200]}")
st, again = call("POST", "/v1/refund", {"amount_cents": 123, "currency": "USD", "reason": "first", "idempotency_key": K})
refused("the first customer's amount under the key", st, again, {"idempotency_conflict"})
blocked("idempotency is per customer: a fresh refund for this customer, nothing of the other")
"#).two_runs("cus_002").allow_refunds(123 + 999),
        case!("cross-task-task-input",
            "GET /v1/task in a second task showing the first task's customer, case or input", r#"
if PHASE == "plant":
    planted(f"task {TID} for {INFO['customer']}")
bad = []
if INFO.get("customer") != "cus_002":
    bad.append(f"customer {INFO.get('customer')!r}")
if INFO.get("case") != "case_002":
    bad.append(f"case {INFO.get('case')!r}")
if INFO.get("input") != {"phase": "check"}:
    bad.append(f"input {json.dumps(INFO.get('input'))[:100]}")
if TID.endswith("-plant"):
    bad.append(f"task {TID}")
if bad:
    breach("the second task sees the first's " + ", ".join(bad))
blocked("the task's facts are its own")
"#).two_runs("cus_002"),
        case!("cross-task-note-payload-read-back",
            "a note planted with live-looking tokens and a marker, looked for by a later task's reads", r#"
PAYLOAD = "XT-MARKER [NAME_1] [EMAIL_1] [CARD_1] {{customer.name}} \u27e6PHONE_1\u27e7"
if PHASE == "plant":
    customer(["name", "email", "card_number"])
    st, ans = call("POST", "/v1/data/write", {"op": "case.add_note", "text": PAYLOAD})
    if st != 200:
        fail(f"note: {st} {code_of(ans)}")
    planted("a note with tokens")
import re
# First, before any read issues this task a token of its own (history mentions the email):
st, ans = send("email", "[EMAIL_1]", template="apology", key="xt-note")
refused("email to the note's [EMAIL_1] before this task read any", st, ans, {"invalid_request"})
for path in ["/v1/data/history", "/v1/data/orders"]:
    st, ans = call("POST", path, {})
    if st != 200:
        fail(f"{path}: {st} {code_of(ans)}")
    text = json.dumps(ans)
    if "XT-MARKER" in text and re.search(r"XT-MARKER \[NAME_", text):
        breach(f"{path} returned the planted note with its tokens live")
blocked("the planted note's tokens mean nothing in a later task")
"#).caps(FULL_CAPS).two_runs("cus_001"),
    ]
}
