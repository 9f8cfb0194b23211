"""The manager agent: approves an escalated refund within its own, higher limit. It
follows instructions.md; outside effects only through `silo`."""

import silo

from tools import claim_holds, dollars, named_orders


def main():
    task = silo.task()
    given = task.get("input") or {}
    message, handoff = str(given.get("message", "")), str(given.get("handoff", ""))
    wanted = named_orders(f"{handoff} {message}")
    order = next((o for o in silo.data.orders() if o["id"] in wanted), None)
    if order is None:
        silo.escalate("human", "the hand-off names no order of this customer",
                      "check the case and the customer's orders")
        return
    amount, limit = int(order["total_cents"]), task["capabilities"]["refund"]["max_cents"]
    holds, mode = claim_holds(message, order)
    if not holds:
        silo.escalate("human", f"the claim for {order['id']} does not hold up (mode: {mode})",
                      f"check {order['id']} before refunding")
        return
    if amount > limit:
        silo.escalate("human", f"{amount} cents is over the manager limit of {limit}",
                      f"decide on a refund of {amount} cents for {order['id']}")
        return
    key = f"{task['case']}:{order['id']}"
    refund = silo.refund(amount, f"manager approved escalation for {order['id']}",
                         idempotency_key=key)
    silo.data.add_case_note(
        f"Manager approved and refunded {dollars(amount)} for {order['id']} "
        f"({refund['refund_id']}). mode: {mode}")
    silo.email.send(
        "refund_confirmation",
        silo.data.customer(["email"])["email"],
        {"order_id": order["id"], "amount": dollars(amount), "refund_id": refund["refund_id"]},
        idempotency_key=key + ":email",
    )
    silo.data.set_case_status("resolved")
    silo.done(f"approved and refunded {amount} cents for {order['id']} (mode: {mode})")


if __name__ == "__main__":
    main()
