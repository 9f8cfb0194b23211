"""The refund agent: one task in, one outcome out. Outside effects only via `silo`."""

import re

import silo

DAMAGE_WORDS = ("damaged", "dented", "broken", "late", "never arrived", "cracked")
MANAGER = "manager-agent"


def pick_order(message, orders):
    named = re.findall(r"ord_\w+", message)
    for order in orders:
        if order["id"] in named:
            return order
    delivered = [o for o in orders if o["status"] in ("delivered", "shipped")]
    return delivered[0] if delivered else None


def main():
    task = silo.task()
    message = str((task.get("input") or {}).get("message", ""))
    limit = task["capabilities"]["refund"]["max_cents"]
    orders = silo.data.orders()
    order = pick_order(message, orders)
    if order is None or not any(w in message.lower() for w in DAMAGE_WORDS):
        silo.escalate("human", "not a damaged or late order", "read the message and reply")
        return
    amount = int(order["total_cents"])
    if amount > limit:
        allowed = task["capabilities"].get("escalate") or []
        silo.escalate(
            MANAGER if MANAGER in allowed else "human",
            f"refund of {amount} cents is over my limit of {limit}",
            f"approve a refund of {amount} cents for {order['id']}",
        )
        return
    refund = silo.refund(amount, f"damaged or late order {order['id']}",
                         idempotency_key=f"{task['case']}:{order['id']}")
    silo.data.add_case_note(f"Refunded {amount} cents for {order['id']} ({refund['refund_id']}).")
    customer = silo.data.customer(["email"])
    silo.email.send(
        "refund_issued",
        customer["email"],
        {
            "order_id": order["id"],
            "amount": f"${amount / 100:.2f}",
            "refund_id": refund["refund_id"],
        },
        idempotency_key=f"{task['case']}:{order['id']}:email",
    )
    silo.data.set_case_status("resolved")
    silo.done(f"refunded {amount} cents for {order['id']} and emailed the customer")


if __name__ == "__main__":
    main()
