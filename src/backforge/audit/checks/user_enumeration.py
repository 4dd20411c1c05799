"""User enumeration: login and password-reset answers that tell known accounts from unknown."""

from __future__ import annotations

import re
import secrets
import statistics

from ..auth import field_names, find_token, learn_account_id, login_body
from ..client import Exchange, Identity
from ..context import AuditContext
from ..findings import Severity
from ..openapi import Operation
from ..values import example_object

NAME = "user_enumeration"
CATEGORY = "API2:2023"
# A password hash takes tens of milliseconds or more by design; a login that skips it for
# unknown accounts answers that much sooner, every time.
TIME_GAP = 0.03  # seconds
TIME_PAIRS = 5


def _shape(exchange: Exchange, username: str) -> tuple[int, str]:
    """The response with what legitimately varies (ids, times, the username itself) blanked."""
    text = exchange.text.replace(username, "<user>")
    return exchange.status, re.sub(r"[0-9a-f]{8,}|\d+", "#", text)


def run(ctx: AuditContext) -> None:
    known = next((u for u in ctx.users if u.username and u.password), None)
    if known is None or known.username is None:
        ctx.note("no user with a known username: user enumeration not checked")
        return
    unknown = f"bf-audit-nobody-{secrets.token_hex(4)}@example.com"
    if known.username and "@" not in known.username:
        unknown = f"bfauditnobody{secrets.token_hex(4)}"
    wrong = f"Wrong-{secrets.token_urlsafe(10)}-1"
    if ctx.login_op is not None:
        op = ctx.login_op
        a = ctx.call(op, body=login_body(op, known.username, wrong), check=NAME)
        b = ctx.call(op, body=login_body(op, unknown, wrong), check=NAME)
        # A wrong password that logs in is another problem; no comparison possible then.
        # Failures are compared whatever their status: an API may refuse with a 200.
        failed = not _logged_in(a) and not _logged_in(b)
        if failed and _differs(a, b, known.username, unknown):
            _report(ctx, op.key, "login", a, b)
        elif failed and b.elapsed + TIME_GAP < a.elapsed:
            _check_timing(ctx, op, known.username, unknown, wrong)
    if ctx.reset_op is not None:
        _check_reset(ctx, ctx.reset_op, known)


def _check_reset(ctx: AuditContext, op: Operation, known: Identity) -> None:
    """A reset that asks for an email is asked with the known account's email (learnt from
    `GET /me` when the audit did not sign the account up) and with an unknown one."""
    user_field, _ = field_names(op)
    body = example_object(op.body_schema or {})
    field = user_field or "email"
    if "email" in field.lower():
        learn_account_id(ctx, known)
        if known.email is None:
            ctx.note(f"{op.key} asks for an email and no user's is known: not compared")
            return
        value, unknown = known.email, f"bf-audit-nobody-{secrets.token_hex(4)}@example.com"
    else:
        value, unknown = known.username or "", f"bfauditnobody{secrets.token_hex(4)}"
    a = ctx.call(op, body={**body, field: value}, check=NAME)
    b = ctx.call(op, body={**body, field: unknown}, check=NAME)
    if _differs(a, b, value, unknown):
        _report(ctx, op.key, "password reset", a, b)


def _check_timing(ctx: AuditContext, op: Operation, known: str, unknown: str, wrong: str) -> None:
    """The same answers, but a known account's takes longer (its password hash is checked, an
    unknown one's is not): confirmed when every one of TIME_PAIRS alternating pairs shows it."""
    pairs = []
    for _ in range(TIME_PAIRS):
        a = ctx.call(op, body=login_body(op, known, wrong), check=NAME)
        b = ctx.call(op, body=login_body(op, unknown, wrong), check=NAME)
        if 429 in (a.status, b.status):
            return  # a rate limiter answered: no comparison
        pairs.append((a, b))
    if all(b.elapsed + TIME_GAP < a.elapsed for a, b in pairs):
        slow = statistics.median(a.elapsed for a, _ in pairs)
        fast = statistics.median(b.elapsed for _, b in pairs)
        a, b = pairs[0]
        ctx.report(
            id="user-enumeration",
            title="User enumeration through login timing",
            severity=Severity.MEDIUM,
            category=CATEGORY,
            operation=op.key,
            check=NAME,
            detail=f"A failed login takes {slow * 1000:.0f} ms for an existing account and "
            f"{fast * 1000:.0f} ms for an unknown one (median of {TIME_PAIRS} pairs, every pair "
            "the same way): the answers match, the time tells which accounts exist.",
            fix="Check a password hash for unknown accounts too (against a dummy hash), so "
            "that a failed login takes the same time either way.",
            evidence=[a, b],
        )


def _logged_in(exchange: Exchange) -> bool:
    """A login that succeeded: a 2xx answer carrying a token or setting a cookie."""
    if not 200 <= exchange.status < 300:
        return False
    return find_token(exchange.json()) is not None or "set-cookie" in exchange.headers


def _differs(a: Exchange, b: Exchange, known: str, unknown: str) -> bool:
    if 429 in (a.status, b.status):
        return False  # a rate limiter answered, not the account lookup
    return _shape(a, known) != _shape(b, unknown)


def _report(ctx: AuditContext, operation: str, flow: str, a: Exchange, b: Exchange) -> None:
    ctx.report(
        id="user-enumeration",
        title=f"User enumeration through {flow}",
        severity=Severity.MEDIUM,
        category=CATEGORY,
        operation=operation,
        check=NAME,
        detail=f"The {flow} answer for an existing account ({a.status}) differs from the answer "
        f"for an unknown one ({b.status}); an attacker can list valid accounts.",
        fix="Answer the same status and body whether or not the account exists.",
        evidence=[a, b],
    )
