"""The intent agent: decides what a customer message is about and redirects it (302) to
the specialist the workflow stage lists; when the specialist comes back, it passes the
result on. It follows instructions.md; outside effects only through `silo`."""

import silo

MODEL = "gpt-4o-mini"

#: Intent -> (specialist, words that mean it when no LLM is configured).
INTENTS = {
    "refund": ("refund-agent", ("refund", "damaged", "broken", "dented", "cracked", "late",
                                "never arrived", "faulty", "money back")),
    "collections": ("collections-agent", ("invoice", "balance", "owe", "payment", "bill",
                                          "charged", "charge", "reminder")),
}


def ask_llm(prompt):
    """The model's one-word answer, or None when no LLM upstream is configured."""
    answer = silo.llm.ask_or_none(prompt, model=MODEL, max_tokens=5, temperature=0)
    return None if answer is None else answer.strip().lower()


def classify(message):
    """(intent or None, mode)."""
    answer = ask_llm(
        "Classify this customer message for a shop's support desk. Answer with exactly "
        "one word: refund (damaged, broken or late orders, money back), collections "
        "(invoices, balances, payments, charges) or other.\n\nMessage: " + message
    )
    if answer is not None:
        return (answer if answer in INTENTS else None), "llm"
    text = message.lower()
    for intent, (_, words) in INTENTS.items():
        if any(w in text for w in words):
            return intent, "rules"
    return None, "rules"


def main():
    given = silo.task().get("input") or {}
    handoff = given.get("handoff")
    if handoff:
        # The specialist has finished: its summary is the result of this stage.
        silo.done(str(handoff))
        return
    message = str(given.get("message", ""))
    intent, mode = classify(message)
    if intent is None:
        silo.complete("needs_human", f"no specialist for this message (mode: {mode})")
        return
    specialist = INTENTS[intent][0]
    silo.redirect(specialist, f"{intent} request (mode: {mode})")


if __name__ == "__main__":
    main()
