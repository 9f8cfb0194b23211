"""silo: the agent SDK. The only way an agent in a silo cell reaches the world.

Every call goes to the cell's membrane over HTTP/1.1 + JSON on a Unix socket (see
docs/PROTOCOL.md) and carries both of the agent's keys. Standard library only.

Configuration comes from the environment the cell sets up:

* ``SILO_SOCKET``   -- the membrane socket (default ``/run/silo/membrane.sock``);
* ``SILO_BASE_KEY`` -- the agent role's base key;
* ``SILO_TASK_KEY`` -- this invocation's task key.

Example::

    import silo

    task = silo.task()
    result = silo.refund(2500, "late delivery", idempotency_key=f"{task['case']}:refund")
    silo.done(f"refunded {result['amount_cents']} cents")

Errors from the membrane raise :class:`MembraneError` with its stable ``code``
(``denied``, ``key_expired``, ``rate_limited``, ...) and a message.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from typing import Any, Dict, List, Mapping, Optional

__all__ = [
    "MembraneError",
    "task",
    "data",
    "email",
    "sms",
    "llm",
    "kv",
    "refund",
    "done",
    "complete",
    "escalate",
    "redirect",
    "tools",
    "openai_tools",
    "call_tool",
    "PROTOCOL_VERSION",
]

#: The protocol version this SDK speaks (the ``/v1`` prefix of every route).
PROTOCOL_VERSION = "v1"

_DEFAULT_SOCKET = "/run/silo/membrane.sock"
_TIMEOUT_SECS = 60.0


class MembraneError(Exception):
    """The membrane refused or failed a call.

    Attributes:
        code: the stable error code, e.g. ``denied`` or ``idempotency_conflict``.
        message: a human-readable explanation (never contains keys or raw PII).
        status: the HTTP status (0 when the membrane could not be reached).
        rule: the policy rule behind a denial, when there is one.
    """

    def __init__(self, code: str, message: str, status: int = 0, rule: Optional[str] = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.rule = rule


class _UnixHTTPConnection(http.client.HTTPConnection):
    """``http.client.HTTPConnection`` over an ``AF_UNIX`` socket."""

    def __init__(self, path: str, timeout: float = _TIMEOUT_SECS):
        super().__init__("silo", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise MembraneError("missing_key", f"the environment variable {name} is not set")
    return value


def _call(method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Sends one request with both keys and returns the decoded JSON answer."""
    headers = {
        "x-silo-base-key": _env("SILO_BASE_KEY"),
        "x-silo-task-key": _env("SILO_TASK_KEY"),
        "content-type": "application/json",
    }
    payload = b"" if body is None else json.dumps(body).encode("utf-8")
    conn = _UnixHTTPConnection(os.environ.get("SILO_SOCKET") or _DEFAULT_SOCKET)
    try:
        conn.request(method, f"/{PROTOCOL_VERSION}/{path}", body=payload, headers=headers)
        response = conn.getresponse()
        status = response.status
        raw = response.read()
    except (OSError, http.client.HTTPException) as e:
        raise MembraneError("unreachable", f"cannot reach the membrane: {e}") from None
    finally:
        conn.close()
    try:
        answer = json.loads(raw.decode("utf-8")) if raw else {}
    except ValueError:
        raise MembraneError("internal", "the membrane sent a body that is not JSON", status) from None
    if status >= 400:
        error = answer.get("error", {}) if isinstance(answer, dict) else {}
        raise MembraneError(
            str(error.get("code", "internal")),
            str(error.get("message", f"HTTP {status}")),
            status,
            error.get("rule"),
        )
    return answer


def task() -> Dict[str, Any]:
    """The current task's public facts.

    Returns a dict with ``task``, ``agent``, ``customer`` (an opaque id, never a raw
    identity), ``case``, ``workflow``, ``cell``, ``expires_at`` (unix seconds),
    ``capabilities`` (what the base key grants, e.g. the refund limit) and ``input``
    (the task's input, with personal data replaced by tokens such as ``[NAME_1]``).
    """
    return _call("GET", "task")


class _Data:
    """The task's customer's records. Personal data comes back as tokens."""

    def customer(self, fields: Optional[List[str]] = None) -> Dict[str, Any]:
        """The customer record: the listed fields, or every field the base key grants.

        Identifying fields are tokens (``name`` -> ``[NAME_1]``, ``email`` ->
        ``[EMAIL_1]``); operational ones (``balance_cents``, ``tier``) are clear.
        """
        body: Dict[str, Any] = {} if fields is None else {"fields": list(fields)}
        return _call("POST", "data/customer", body)["customer"]

    def orders(self) -> List[Dict[str, Any]]:
        """The customer's orders, newest first (notes are tokenised free text)."""
        return _call("POST", "data/orders", {})["orders"]

    def history(self) -> List[Dict[str, Any]]:
        """The customer's contact history, newest first (summaries are tokenised)."""
        return _call("POST", "data/history", {})["history"]

    def set_case_status(self, status: str) -> Dict[str, Any]:
        """Sets the task's case to ``open``, ``pending`` or ``resolved``."""
        return _call("POST", "data/write", {"op": "case.set_status", "status": status})

    def add_case_note(self, text: str) -> Dict[str, Any]:
        """Appends a note to the task's case."""
        return _call("POST", "data/write", {"op": "case.add_note", "text": text})


#: The customer's records: ``silo.data.customer()``, ``.orders()``, ``.history()``.
data = _Data()


class _Messages:
    def __init__(self, route: str):
        self._route = route

    def send(
        self,
        template: str,
        to: str,
        vars: Optional[Mapping[str, Any]] = None,
        idempotency_key: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Sends template ``template`` from the agent folder to ``to``, a token of the
        customer's own address (``[EMAIL_1]``) or number (``[PHONE_1]``).

        ``vars`` fill the template's ``{{vars.*}}`` placeholders verbatim (exactly the
        ones it uses). The membrane renders and sends; you get ``message_id``, ``status``
        and ``replayed``, never the rendered text. The same ``idempotency_key`` never
        sends twice (default: the template name).
        """
        body = {
            "template": template,
            "to": to,
            "vars": {str(k): str(v) for k, v in (vars or {}).items()},
            "idempotency_key": idempotency_key or template,
        }
        return _call("POST", self._route, body)


#: Email from templates: ``silo.email.send("refund_confirmation", "[EMAIL_1]", {...})``.
email = _Messages("email/send")
#: SMS from templates: ``silo.sms.send("refund_confirmation", "[PHONE_1]", {...})``.
sms = _Messages("sms/send")


class _Llm:
    """Chat completions through the membrane (OpenAI-compatible), within the task's
    token budget. Prompts and answers are scanned for personal data on the way."""

    def chat(
        self,
        messages: List[Dict[str, Any]],
        model: str = "default",
        max_tokens: Optional[int] = None,
        **params: Any,
    ) -> Dict[str, Any]:
        """Sends an OpenAI-style chat request; returns the OpenAI-style answer."""
        body: Dict[str, Any] = {"model": model, "messages": messages, **params}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        return _call("POST", "chat/completions", body)

    def ask(self, prompt: str, **params: Any) -> str:
        """One user message in, the first choice's text out."""
        answer = self.chat([{"role": "user", "content": prompt}], **params)
        return str(answer["choices"][0]["message"]["content"])

    def ask_or_none(self, prompt: str, **params: Any) -> Optional[str]:
        """:meth:`ask`, or ``None`` when no LLM upstream is configured or the base key
        grants no LLM (``upstream_unavailable``, ``denied``): the agent then follows its
        written rules. Any other refusal (budget, bad request) is raised."""
        try:
            return self.ask(prompt, **params)
        except MembraneError as e:
            if e.code in ("upstream_unavailable", "denied"):
                return None
            raise


#: ``silo.llm.chat([...])`` and ``silo.llm.ask("...")``.
llm = _Llm()


class _Kv:
    """Scratch storage scoped to the current task — to its whole run when the router runs
    it, so a workflow stage's interim assets are there for the next stage. When the run
    ends, keys under ``output/`` are kept and the rest is collected. No other task can
    see it."""

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key`` by this task, or ``default``."""
        answer = _call("POST", "kv/get", {"key": key})
        return answer.get("value") if answer.get("found") else default

    def put(self, key: str, value: Any) -> None:
        """Stores a JSON-serialisable ``value`` under ``key`` for this task."""
        _call("POST", "kv/put", {"key": key, "value": value})


#: Run-scoped key-value storage: ``silo.kv.get(key)``, ``silo.kv.put(key, value)``.
kv = _Kv()


def refund(
    amount_cents: int,
    reason: str,
    idempotency_key: str,
    currency: str = "USD",
) -> Dict[str, Any]:
    """Refunds the task's customer.

    Args:
        amount_cents: positive integer amount in minor units (cents); floats are refused.
        reason: why, for the operator (kept in the ledger, not in the audit log).
        idempotency_key: the same key never pays twice; retry with the same key safely.
        currency: ISO 4217 code; must be the one the base key grants.

    Returns:
        ``refund_id``, ``status``, ``amount_cents``, ``currency``, ``idempotency_key``
        and ``replayed`` (true when this key had already paid and nothing new was paid).

    Raises:
        MembraneError: ``denied`` over the limit or for another customer,
        ``idempotency_conflict`` when the key was used for another amount, and so on.
    """
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise MembraneError("invalid_request", "amount_cents must be an int of minor units")
    return _call(
        "POST",
        "refund",
        {
            "amount_cents": amount_cents,
            "currency": currency,
            "reason": reason,
            "idempotency_key": idempotency_key,
        },
    )


def _report(report: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    """A report for the wire: ``did`` (text) and the lists ``produced``, ``todo`` and
    ``warnings`` (texts); parts left out are empty. Other keys are refused by the membrane."""
    if report is None:
        return None
    return {str(k): v if isinstance(v, str) else list(v) for k, v in report.items()}


def complete(status: str, summary: str, report: Optional[Mapping[str, Any]] = None) -> None:
    """Records the task's result: ``status`` is ``done``, ``needs_human`` or ``failed``.

    ``report`` tells the next stage more than the summary: ``{"did": "...", "produced":
    [...], "todo": [...], "warnings": [...]}`` (every part optional). The first result a
    task records stands; a second one raises ``outcome_recorded``.
    """
    body: Dict[str, Any] = {"status": status, "summary": summary}
    if report is not None:
        body["report"] = _report(report)
    _call("POST", "complete", body)


def done(summary: str, report: Optional[Mapping[str, Any]] = None) -> None:
    """Records that the task is done, with a (tokenised) summary for the router."""
    complete("done", summary, report=report)


def escalate(target: str, reason: str, recommendation: str) -> None:
    """Hands the task to ``target`` (one the base key lists), saying why and what to do."""
    _call(
        "POST",
        "escalate",
        {"target": target, "reason": reason, "recommendation": recommendation},
    )


def redirect(
    target: str,
    summary: str,
    hard: bool = False,
    report: Optional[Mapping[str, Any]] = None,
) -> None:
    """Ends the turn by sending the task on to ``target``, an agent or stage name.

    A soft redirect (302, the default) runs ``target`` and then comes back to this stage; a
    hard one (``hard=True``, 301) hands the task over and this run ends there. The router
    refuses a target the workflow stage does not list (the task then goes to a human).
    ``summary`` and ``report`` travel to the target as for :func:`complete`; the first
    result a task records stands.
    """
    body: Dict[str, Any] = {
        "target": target,
        "kind": "hard" if hard else "soft",
        "summary": summary,
    }
    if report is not None:
        body["report"] = _report(report)
    _call("POST", "redirect", body)


def tools() -> List[Dict[str, Any]]:
    """The tools this agent's base key allows (``GET /v1/tools``).

    Each is a dict with ``name``, ``description`` (with the key's limits), ``input_schema``
    (JSON Schema of the arguments), ``method`` and ``path`` (the route that runs it; the
    arguments are its JSON body). The membrane still decides every call.
    """
    return list(_call("GET", "tools").get("tools", []))


def openai_tools() -> List[Dict[str, Any]]:
    """:func:`tools` as OpenAI function-calling definitions (``tools=`` of a chat request)."""
    return [
        {
            "type": "function",
            "function": {
                "name": t["name"],
                "description": t["description"],
                "parameters": t["input_schema"],
            },
        }
        for t in tools()
    ]


def call_tool(name: str, arguments: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Runs one tool of :func:`tools` by name (e.g. a model's tool call) through the membrane.

    Returns the membrane's answer; a refusal raises :class:`MembraneError` with the code,
    message and rule, which an agent can hand back to its model as the tool's result.
    """
    listed = {t["name"]: t for t in tools()}
    if name not in listed:
        raise MembraneError("not_found", f"no tool `{name}` for this agent")
    tool = listed[name]
    path = str(tool["path"]).split("/", 2)[-1]
    if tool["method"] == "GET":
        if arguments:
            raise MembraneError("invalid_request", f"tool `{name}` takes no arguments")
        return _call("GET", path)
    return _call("POST", path, dict(arguments or {}))
