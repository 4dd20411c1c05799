"""ReDoS: a regular expression that takes exponential time to reject a crafted string.

Fields that are validated by pattern (a declared `pattern`, a format such as email or uri, or a
name that is usually checked by a regular expression) get strings made of one repeated character
and a last character that fails the match (`aaaa…a!`, `a@aaaa…a!`), one request at a time, longer
and longer. A backtracking engine on a pattern with nested quantifiers (`^([a-z0-9]+)*$`) takes
twice as long or more for each added character; the ladder stops at the first answer slower than
SLOW seconds, so one probe never holds the server for long, and a slow answer is reported only when
it is slow again and the shortest string is fast again right after (not a busy host).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..client import Exchange, WriteNotAllowed
from ..context import AuditContext
from ..findings import Severity
from ..openapi import Operation
from ..values import properties, schema_type
from .mass_assignment import SELF_PATH

NAME = "redos"
CATEGORY = "API4:2023"
SLOW = 0.5  # seconds: an answer this slow to a few dozen characters is not validation work
TIMEOUT = 8.0
# Up to 24 characters every pattern answers in microseconds unless it backtracks exponentially;
# only when the time grows does the ladder go on, two characters at a time.
FIRST_LENGTHS = (10, 16, 20, 24)
MORE_LENGTHS = tuple(range(26, 44, 2))
VALIDATED_NAMES = re.compile(
    r"e-?mail|url|uri|website|homepage|link|domain|host|phone|mobile|zip|postcode|postal|"
    r"username|handle|slug|sku|code|iban|isbn|tag",
    re.IGNORECASE,
)
DIGIT_NAMES = re.compile(r"phone|mobile|zip|postcode|postal|pin|number|iban|isbn", re.IGNORECASE)
UNREACHABLE = {401, 403, 404, 405, 429}


@dataclass(frozen=True)
class Payload:
    prefix: str
    pump: str
    suffix: str = "!"

    def of(self, length: int) -> str:
        return self.prefix + self.pump * length + self.suffix

    def describe(self, length: int) -> str:
        return f"{self.prefix!r} + {self.pump!r} * {length} + {self.suffix!r}"


@dataclass
class Target:
    op: Operation
    field: str
    send: Callable[[str], Exchange]


def run(ctx: AuditContext) -> None:
    for target, schema in _targets(ctx):
        for payload in _payloads(target.field, schema):
            try:
                if _probe(ctx, target, payload):
                    break
            except WriteNotAllowed:
                break


def _validated(name: str, schema: dict[str, Any]) -> bool:
    """A string field whose value a regular expression probably checks."""
    if schema_type(schema) not in {"string", None} or schema.get("enum") or "const" in schema:
        return False
    if "password" in name.lower() or (schema.get("format") or "").lower() == "password":
        return False  # slow on purpose (key derivation), and never by the input's shape
    return bool(schema.get("pattern") or schema.get("format") or VALIDATED_NAMES.search(name))


def _payloads(name: str, schema: dict[str, Any]) -> list[Payload]:
    fmt = (schema.get("format") or "").lower()
    pattern = str(schema.get("pattern") or "")
    payloads = [Payload("", "a")]
    if fmt == "email" or re.search(r"e-?mail", name, re.IGNORECASE):
        payloads.append(Payload("a@", "a"))
    if fmt in {"uri", "url", "hostname"} or re.search(r"url|uri|website|homepage|link", name, re.I):
        payloads.append(Payload("http://a.co/", "a"))
    digits = ("\\d" in pattern or "0-9" in pattern) and "a-z" not in pattern
    if digits or DIGIT_NAMES.search(name):
        payloads.append(Payload("", "1", "x"))
    return payloads


def _targets(ctx: AuditContext) -> Iterator[tuple[Target, dict[str, Any]]]:
    """Every pattern-validated query parameter and body property the audit can reach."""
    for op in ctx.operations("GET"):
        identity = ctx.identity_for(op)
        path_values = ctx.path_values_for(op, identity, NAME)
        for param in op.query_params:
            if _validated(param.name, param.schema):
                send = _query_sender(ctx, op, identity, path_values, param.name)
                yield Target(op, param.name, send), param.schema
    for op in ctx.operations("POST", "PUT", "PATCH"):
        if (
            op.body_schema is None
            or op in {ctx.reset_op}
            or schema_type(op.body_schema)
            not in {
                "object",
                None,
            }
        ):
            continue
        sender = _body_sender(ctx, op)
        if sender is None:
            continue
        for name, sub in properties(op.body_schema).items():
            if not sub.get("readOnly") and _validated(name, sub):
                yield Target(op, name, lambda value, s=sender, n=name: s(n, value)), sub


def _query_sender(
    ctx: AuditContext, op: Operation, identity: Any, path_values: dict[str, Any], name: str
) -> Callable[[str], Exchange]:
    def send(value: str) -> Exchange:
        return ctx.call(
            op,
            identity=identity,
            path_values=path_values,
            query={name: value},
            check=NAME,
            drift=False,
            timeout=TIMEOUT,
        )

    return send


def _body_sender(ctx: AuditContext, op: Operation) -> Callable[[str, str], Exchange] | None:
    """How to send `op` with one property replaced: a create or a sign-up as anyone may (with a
    fresh body each time, so that unique names never collide); an update only of an object the
    audit created, or of the caller's own account (`/me`)."""
    identity = ctx.identity_for(op)
    path_values: dict[str, Any] = {}
    fixed: dict[str, Any] | None = None
    if op.method == "POST" and not op.path_params:
        pass
    elif op.method in {"PUT", "PATCH"} and op.path_params:
        obj = next((o for o in ctx.created if op in ctx.item_ops(o.create)), None)
        if obj is None:
            return None
        identity, path_values = obj.owner, obj.where(op)
        fixed = dict(obj.sent) if op.method == "PUT" else {}
    elif op.method in {"PUT", "PATCH"} and SELF_PATH.search(op.path):
        user = ctx.user_a
        if user is None or not (user.self_registered or ctx.options.allow_writes):
            return None
        identity, fixed = user, {}
    else:
        return None

    def send(name: str, value: str) -> Exchange:
        base = fixed
        if base is None:
            base = ctx.example_body(op, all_fields=True, sender=identity)
        return ctx.call(
            op,
            identity=identity,
            path_values=path_values,
            body={**(base or {}), name: value},
            check=NAME,
            drift=False,
            own_object=op.method in {"PUT", "PATCH"},
            timeout=TIMEOUT,
        )

    return send


def _seconds(exchange: Exchange) -> float:
    return TIMEOUT if exchange.status == 0 else exchange.elapsed


def _probe(ctx: AuditContext, target: Target, payload: Payload) -> bool:
    """Climb the ladder of lengths; True when a slow answer was confirmed and reported."""
    shortest = FIRST_LENGTHS[0]
    first = target.send(payload.of(shortest))
    if first.status in UNREACHABLE:
        return False
    times = {shortest: _seconds(first)}
    slow: tuple[int, Exchange] | None = None
    for length in FIRST_LENGTHS[1:]:
        exchange = target.send(payload.of(length))
        times[length] = _seconds(exchange)
        if times[length] >= SLOW:
            slow = (length, exchange)
            break
    growing = times.get(FIRST_LENGTHS[-1], 0) > 3 * times[shortest] + 0.05
    if slow is None and growing:
        for length in MORE_LENGTHS:
            exchange = target.send(payload.of(length))
            if _seconds(exchange) >= SLOW:
                slow = (length, exchange)
                break
    if slow is None:
        return False
    length, exchange = slow
    again = target.send(payload.of(length))
    quick = target.send(payload.of(shortest))
    baseline = _seconds(quick)
    if _seconds(again) < SLOW or baseline > min(SLOW / 2, _seconds(again) / 5):
        return False  # not reproducible, or the host is slow for everything
    _report(ctx, target, payload, length, again, quick)
    return True


def _report(
    ctx: AuditContext,
    target: Target,
    payload: Payload,
    length: int,
    slow: Exchange,
    quick: Exchange,
) -> None:
    took = "did not answer within" if slow.status == 0 else "took"
    ctx.report(
        id="redos",
        title="A regular expression takes exponential time on crafted input (ReDoS)",
        severity=Severity.HIGH,
        category=CATEGORY,
        operation=target.op.key,
        check=NAME,
        detail=(
            f"{target.op.key} {took} {_seconds(slow):.1f} s for {target.field!r} = "
            f"{payload.describe(length)}, and {_seconds(quick):.3f} s with "
            f"{FIRST_LENGTHS[0]} repetitions: the time grows exponentially with the length, so "
            "one request of a few dozen characters can hold a worker for minutes."
        ),
        fix=(
            "Validate with a pattern free of nested or overlapping quantifiers (`(a+)+`, "
            "`([a-z0-9]+)*`), check the length before matching, or use a linear-time engine "
            "(re2)."
        ),
        evidence=[
            quick.evidence("the shortest string: fast"),
            slow.evidence(f"{length} repetitions: slow"),
        ],
    )
