"""The response agent: makes sure the customer heard back about their message. It follows
instructions.md; outside effects only through `silo`."""

import silo

MODEL = "gpt-4o-mini"

#: The replies we may send (instructions.md): the agent chooses one, it never writes one.
UPDATES = {
    "nothing_owed": "We have checked your account: there is nothing to pay.",
    "follow_up": "A colleague is looking into your message and will reply within one working day.",
}

#: What a specialist's summary says when it has already written to the customer.
ALREADY_INFORMED = ("emailed the customer", "reminded the customer")


def ask_llm(prompt):
    answer = silo.llm.ask_or_none(prompt, model=MODEL, max_tokens=5, temperature=0)
    return None if answer is None else answer.strip().lower()


def choose_update(handoff):
    """(key of UPDATES, mode)."""
    answer = ask_llm(
        "A support specialist finished a case with this note. Answer with exactly one "
        "word: nothing_owed if it says the customer owes nothing, otherwise follow_up."
        "\n\nNote: " + handoff
    )
    if answer is not None:
        return (answer if answer in UPDATES else "follow_up"), "llm"
    return ("nothing_owed" if "no balance owed" in handoff else "follow_up"), "rules"


def main():
    task = silo.task()
    handoff = str((task.get("input") or {}).get("handoff", ""))
    if any(phrase in handoff for phrase in ALREADY_INFORMED):
        silo.data.add_case_note(f"Workflow closed; the specialist already wrote to the customer: {handoff}")
        silo.done(f"the customer already heard back: {handoff}")
        return
    update, mode = choose_update(handoff)
    silo.email.send(
        "case_update",
        silo.data.customer(["email"])["email"],
        {"case_id": task["case"], "update": UPDATES[update]},
        idempotency_key=f"{task['case']}:update:{update}",
    )
    silo.data.add_case_note(f"Replied to the customer ({update}). mode: {mode}")
    silo.done(f"replied to the customer: {update} (mode: {mode})")


if __name__ == "__main__":
    main()
