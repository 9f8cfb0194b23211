"""The manager agent's own helpers. Computation only; outside effects go through `silo`."""

import re

import silo

#: The model asked through the membrane's LLM gateway, when the host has an upstream.
MODEL = "gpt-4o-mini"


def ask_llm(prompt, max_tokens=5):
    """The model's short answer, or None when no LLM upstream is configured (mode: rules)."""
    answer = silo.llm.ask_or_none(prompt, model=MODEL, max_tokens=max_tokens, temperature=0)
    return None if answer is None else answer.strip()


def claim_holds(message, order):
    """(verdict, mode): does the customer's message support a refund of this order?"""
    answer = ask_llm(
        "You are a customer care manager. Answer with one word, yes or no. Does this "
        f"message say that order {order['id']} ({', '.join(order['items'])}) arrived "
        "damaged, broken or late?\n\nMessage: " + message
    )
    if answer is None:
        # Rules: the refund agent already checked the wording; the order must be one
        # that reached the customer.
        return order["status"] in ("delivered", "shipped"), "rules"
    return answer.lower().startswith("yes"), "llm"


def named_orders(text):
    return set(re.findall(r"ord_\w+", text))


def dollars(cents):
    return f"${cents / 100:,.2f}"
