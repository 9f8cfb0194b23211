"""The refund agent: one task in, one outcome out. It follows instructions.md; outside
effects only through `silo`."""

import silo

from tools import dollars, is_damaged_or_late, pick_order

MANAGER = "manager-agent"


def main():
    task = silo.task()
    given = task.get("input") or {}
    message = str(given.get("message", ""))
    limit = task["capabilities"]["refund"]["max_cents"]
    order = pick_order(message, silo.data.orders())
    damaged, mode = is_damaged_or_late(message)
    if order is None or not damaged:
        silo.escalate("human", f"not a damaged or late order (mode: {mode})",
                      "read the message and reply to the customer")
        return
    amount, key = int(order["total_cents"]), f"{task['case']}:{order['id']}"
    email = silo.data.customer(["email"])["email"]
    if amount > limit:
        allowed = task["capabilities"].get("escalate") or []
        silo.email.send("apology", email, {"order_id": order["id"]},
                        idempotency_key=key + ":apology")
        silo.data.add_case_note(
            f"{dollars(amount)} for {order['id']} is over my limit of {dollars(limit)}; "
            f"apologised to the customer and passed to the manager. mode: {mode}")
        silo.escalate(
            MANAGER if MANAGER in allowed else "human",
            f"refund of {amount} cents is over my limit of {limit} (mode: {mode})",
            f"approve a refund of {amount} cents for {order['id']}",
        )
        return
    refund = silo.refund(amount, f"damaged or late order {order['id']}", idempotency_key=key)
    silo.data.add_case_note(
        f"Refunded {dollars(amount)} for {order['id']} ({refund['refund_id']}). mode: {mode}")
    silo.email.send(
        "refund_confirmation",
        email,
        {"order_id": order["id"], "amount": dollars(amount), "refund_id": refund["refund_id"]},
        idempotency_key=key + ":email",
    )
    silo.data.set_case_status("resolved")
    silo.done(f"refunded {amount} cents for {order['id']} and emailed the customer (mode: {mode})")


if __name__ == "__main__":
    main()
