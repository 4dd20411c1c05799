"""Error hygiene: stack traces, SQL text, debug pages and internal paths in responses, and
error bodies of different shapes across the API. Passive: reads what the other checks received."""

from __future__ import annotations

import re

from ..client import Exchange
from ..context import AuditContext
from ..findings import Severity
from .injection import SQL_ERRORS

NAME = "error_hygiene"
CATEGORY = "API8:2023"
LEAKS = [
    (
        "stack-trace-leak",
        "Stack trace in a response",
        re.compile(
            r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+|"
            r"at [\w$.]+\([\w]+\.(java|kt|scala):\d+\)|at .+ \(/[^)]+\.[jt]s:\d+:\d+\)|"
            r"goroutine \d+ \[|\.go:\d+ \+0x|System\.\w+Exception"
        ),
        Severity.MEDIUM,
    ),
    (
        "debug-page-leak",
        "Framework debug page served",
        re.compile(
            r"Werkzeug Debugger|Django Version:|Whoops! There was an error|"
            r"Action Controller: Exception caught|Server Error in '/' Application|"
            r"<title>[^<]*(Traceback|Debugger|Exception)[^<]*</title>|class=\"traceback-container\"",
            re.IGNORECASE,
        ),
        Severity.MEDIUM,
    ),
    ("sql-error-leak", "Database error text in a response", SQL_ERRORS, Severity.MEDIUM),
    (
        "internal-path-leak",
        "Internal file paths in a response",
        re.compile(
            r"/home/[\w.-]+/|/usr/(local/)?lib/python\d|site-packages/|/var/www/|/opt/[\w.-]+/|"
            r"[A-Z]:\\\\(Users|inetpub|Program Files)"
        ),
        Severity.LOW,
    ),
]
FIX = (
    "Catch every exception at the edge and answer a generic problem+json body; log the details "
    "server-side with a correlation id instead."
)
PRIMARY_KEYS = ("type", "title", "detail", "message", "error", "errors", "msg", "code")


def error_shape(exchange: Exchange) -> str:
    data = exchange.json() if exchange.is_json else None
    if isinstance(data, dict):
        primary = next((k for k in PRIMARY_KEYS if k in data), None)
        return f"JSON object with {primary!r}" if primary else f"JSON object {sorted(data)[:4]}"
    if data is not None:
        return f"JSON {type(data).__name__}"
    return f"{exchange.content_type or 'no content type'} body"


def run(ctx: AuditContext) -> None:
    shapes: dict[str, Exchange] = {}
    for exchange in ctx.client.exchanges:
        if exchange.status == 0:
            continue
        where = exchange.operation or f"{exchange.method} {exchange.path}"
        if exchange.status >= 400 or exchange.check in {"injection", "input_validation"}:
            _leaks(ctx, where, exchange)
        if exchange.operation and 400 <= exchange.status < 500 and exchange.method != "HEAD":
            shapes.setdefault(error_shape(exchange), exchange)
    if len(shapes) > 1:
        listing = "; ".join(
            f"{shape} (e.g. {e.status} from {e.operation})" for shape, e in shapes.items()
        )
        ctx.report(
            id="inconsistent-error-shapes",
            title="Error responses have different shapes",
            severity=Severity.LOW,
            category=CATEGORY,
            operation="*",
            check=NAME,
            detail=f"Client errors come in {len(shapes)} shapes: {listing}.",
            fix="Answer every error with one shape, e.g. RFC 9457 problem+json, from one handler.",
            evidence=list(shapes.values())[:3],
        )


def _leaks(ctx: AuditContext, where: str, exchange: Exchange) -> None:
    text = exchange.text
    for rule, title, pattern, severity in LEAKS:
        match = pattern.search(text)
        if match:
            ctx.report(
                id=rule,
                title=title,
                severity=severity,
                category=CATEGORY,
                operation=where,
                check=NAME,
                detail=f"A {exchange.status} response of {where} contains {match.group(0)[:80]!r}.",
                fix=FIX,
                evidence=[exchange],
            )
