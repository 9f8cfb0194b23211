"""The collections agent: one reminder for an overdue balance, or a dispute handed to a
person. It follows instructions.md; outside effects only through `silo`."""

import silo

from tools import dollars, is_dispute


def main():
    task = silo.task()
    given = task.get("input") or {}
    message = str(given.get("message", ""))
    customer = silo.data.customer(["balance_cents", "currency", "phone", "email"])
    owed = int(customer.get("balance_cents") or 0)
    if owed <= 0:
        silo.data.add_case_note("Nothing is owed on this account; no reminder sent.")
        silo.done("no balance owed; nothing to collect")
        return
    disputed, mode = is_dispute(message, silo.data.history())
    if disputed:
        silo.data.add_case_note(
            f"Customer disputes the balance of {dollars(owed)}; collection paused, "
            f"passed to a person. mode: {mode}")
        silo.data.set_case_status("pending")
        silo.escalate("human", f"the customer disputes the balance of {owed} cents (mode: {mode})",
                      "review the disputed charge with the customer before any reminder")
        return
    overdue = [o for o in silo.data.orders() if o["status"] == "delivered"]
    reference = overdue[0]["id"] if overdue else task["case"]
    values = {"amount": dollars(owed), "reference": reference}
    key = f"{task['case']}:reminder"
    # By text when we have a number, else by email (instructions.md, step 4).
    if customer.get("phone"):
        silo.sms.send("payment_reminder", customer["phone"], values, idempotency_key=key)
        channel = "text"
    else:
        silo.email.send("payment_reminder", customer["email"], values, idempotency_key=key)
        channel = "email"
    silo.data.add_case_note(
        f"Sent a payment reminder for {dollars(owed)} ({reference}) by {channel}. mode: {mode}")
    silo.data.set_case_status("pending")
    silo.done(f"reminded the customer of {owed} cents owed by {channel} (mode: {mode})")


if __name__ == "__main__":
    main()
