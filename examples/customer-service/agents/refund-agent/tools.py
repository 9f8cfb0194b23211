"""The refund agent's own helpers: reading the message, choosing the order, and asking the
LLM when there is one. Computation only; every outside effect goes through `silo`."""

import re

import silo

#: The model asked through the membrane's LLM gateway, when the host has an upstream.
MODEL = "gpt-4o-mini"

#: Words that mean "damaged or late" when no LLM is configured (instructions.md, step 3).
DAMAGE_WORDS = ("damaged", "dented", "broken", "cracked", "snapped", "faulty", "late",
                "never arrived", "not arrived", "hasn't arrived", "missing")


def ask_llm(prompt, max_tokens=5):
    """The model's short answer, or None when no LLM upstream is configured: then the
    agent follows its written rules (mode: rules)."""
    answer = silo.llm.ask_or_none(prompt, model=MODEL, max_tokens=max_tokens, temperature=0)
    return None if answer is None else answer.strip()


def is_damaged_or_late(message):
    """(verdict, mode): does the message report a damaged or late order?"""
    answer = ask_llm(
        "You work on a shop's refund desk. Answer with one word, yes or no. Does this "
        "customer message report an order that arrived damaged, broken or defective, or "
        "that is late?\n\nMessage: " + message
    )
    if answer is None:
        return any(w in message.lower() for w in DAMAGE_WORDS), "rules"
    return answer.lower().startswith("yes"), "llm"


def pick_order(message, orders):
    """The order the message names, else the newest delivered or shipped one."""
    named = re.findall(r"ord_\w+", message)
    for order in orders:
        if order["id"] in named:
            return order
    delivered = [o for o in orders if o["status"] in ("delivered", "shipped")]
    return delivered[0] if delivered else None


def dollars(cents):
    return f"${cents / 100:,.2f}"
