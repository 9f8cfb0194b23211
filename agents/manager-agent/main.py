"""The manager agent: approves an escalated refund within its own, higher limit."""

import re

import silo


def main():
    task = silo.task()
    given = task.get("input") or {}
    text = f"{given.get('handoff', '')} {given.get('message', '')}"
    wanted = set(re.findall(r"ord_\w+", text))
    order = next((o for o in silo.data.orders() if o["id"] in wanted), None)
    if order is None:
        silo.escalate("human", "the hand-off names no order of this customer", "check the case")
        return
    amount, limit = int(order["total_cents"]), task["capabilities"]["refund"]["max_cents"]
    if amount > limit:
        silo.escalate("human", f"{amount} cents is over the manager limit", f"decide on {order['id']}")
        return
    key = f"{task['case']}:{order['id']}"
    refund = silo.refund(amount, f"approved escalation for {order['id']}", idempotency_key=key)
    silo.data.add_case_note(f"Manager approved {amount} cents for {order['id']} ({refund['refund_id']}).")
    silo.email.send(
        "refund_issued",
        silo.data.customer(["email"])["email"],
        {"order_id": order["id"], "amount": f"${amount / 100:.2f}", "refund_id": refund["refund_id"]},
        idempotency_key=key + ":email",
    )
    silo.data.set_case_status("resolved")
    silo.done(f"approved and refunded {amount} cents for {order['id']}")


if __name__ == "__main__":
    main()
