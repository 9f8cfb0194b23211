"""The collections agent's own helpers. Computation only; outside effects go through
`silo`."""

import silo

#: The model asked through the membrane's LLM gateway, when the host has an upstream.
MODEL = "gpt-4o-mini"

#: Words that mean the customer disputes what they owe, or that a person must talk to
#: them first (instructions.md, step 2; escalation.md).
DISPUTE_WORDS = ("dispute", "never ordered", "didn't order", "did not order", "not mine",
                 "fraud", "unauthori", "without my consent", "wrong amount", "charged twice",
                 "hardship", "lost my job", "bereave", "speak to someone", "stop contacting")


def ask_llm(prompt, max_tokens=5):
    """The model's short answer, or None when no LLM upstream is configured (mode: rules)."""
    answer = silo.llm.ask_or_none(prompt, model=MODEL, max_tokens=max_tokens, temperature=0)
    return None if answer is None else answer.strip()


def is_dispute(message, history):
    """(verdict, mode): does the customer dispute the balance (in the message or on file)?"""
    text = " ".join([message] + [h.get("summary", "") for h in history])
    answer = ask_llm(
        "You work in a shop's collections team. Answer with one word, yes or no. Does "
        "the customer dispute the amount they owe (say a charge is wrong, unauthorised "
        "or not theirs)?\n\nMessage and history: " + text
    )
    if answer is None:
        return any(w in text.lower() for w in DISPUTE_WORDS), "rules"
    return answer.lower().startswith("yes"), "llm"


def dollars(cents):
    return f"${cents / 100:,.2f}"
