"""Unrestricted resource consumption: unbounded page sizes, huge numbers, no rate limits."""

from __future__ import annotations

import secrets
from typing import Any

from ..auth import login_body
from ..client import Exchange, WriteNotAllowed
from ..context import AuditContext
from ..findings import Severity
from ..openapi import Operation
from ..values import properties, schema_type

NAME = "resource_consumption"
CATEGORY = "API4:2023"
LIMIT_NAMES = (
    "limit",
    "per_page",
    "perpage",
    "page_size",
    "pagesize",
    "size",
    "count",
    "top",
    "first",
    "take",
    "max",
)
HUGE_PAGE = 1_000_000


def run(ctx: AuditContext) -> None:
    for op in ctx.operations("GET"):
        _check_page_size(ctx, op)
    for op in ctx.collection_creates():
        _check_huge_numbers(ctx, op)
    _check_login_rate_limit(ctx)
    if ctx.options.allow_writes:
        creates = ctx.collection_creates()
        if creates:
            _check_write_rate_limit(ctx, creates[0])


def _limit_param(op: Operation) -> Any:
    for p in op.query_params:
        if p.name.lower().replace("-", "_") in LIMIT_NAMES and schema_type(p.schema) in {
            "integer",
            "number",
            None,
        }:
            return p
    return None


def _echoed_limit(data: Any, depth: int = 0) -> int | None:
    if not isinstance(data, dict) or depth > 2:
        return None
    for key, value in data.items():
        if key.lower().replace("-", "_") in LIMIT_NAMES and isinstance(value, int):
            return value
        found = _echoed_limit(value, depth + 1)
        if found is not None:
            return found
    return None


def _check_page_size(ctx: AuditContext, op: Operation) -> None:
    param = _limit_param(op)
    if param is None or op.path_params or param.schema.get("maximum") is not None:
        return  # a documented maximum is checked by input_validation
    exchange = ctx.call(
        op, identity=ctx.identity_for(op), query={param.name: HUGE_PAGE}, check=NAME
    )
    if not 200 <= exchange.status < 300:
        return
    echoed = _echoed_limit(exchange.json())
    if echoed is not None and echoed < HUGE_PAGE:
        return  # clamped by the server
    ctx.report(
        id="unbounded-page-size",
        title="Page size has no upper bound",
        severity=Severity.MEDIUM,
        category=CATEGORY,
        operation=op.key,
        check=NAME,
        detail=f"{op.key} accepted {param.name}={HUGE_PAGE:,}; the document sets no maximum, so "
        "one request can make the server load a whole table.",
        fix=f"Cap {param.name} (e.g. at 100 or 500), document the maximum, and reject larger "
        "values.",
        evidence=[exchange],
    )


def _check_huge_numbers(ctx: AuditContext, op: Operation) -> None:
    body = ctx.example_body(op)
    if body is None:
        return
    for name, sub in properties(op.body_schema).items():
        kind = schema_type(sub)
        if (
            kind not in {"integer", "number"}
            or sub.get("maximum") is not None
            or sub.get("readOnly")
        ):
            continue
        huge: int | float = 10**30 if kind == "integer" else 1e300
        exchange = ctx.call(
            op, identity=ctx.identity_for(op), body={**body, name: huge}, check=NAME
        )
        if 200 <= exchange.status < 300:
            ctx.report(
                id="huge-number-accepted",
                title="Huge numbers accepted",
                severity=Severity.LOW,
                category=CATEGORY,
                operation=op.key,
                check=NAME,
                detail=f"{op.key} accepted {name}={huge:g}; with no maximum, totals overflow and "
                "quantities can exhaust stock or money.",
                fix=f"Give {name} a realistic maximum in the schema and enforce it.",
                evidence=[exchange],
            )


def _burst(ctx: AuditContext, make: Any) -> tuple[bool, list[Exchange]]:
    seen: list[Exchange] = []
    size = min(ctx.options.burst_size, max(0, ctx.client.remaining - 5))
    for _ in range(size):
        exchange = make()
        seen.append(exchange)
        if exchange.status in {429, 503}:
            return True, seen
    return False, seen


def _check_login_rate_limit(ctx: AuditContext) -> None:
    op = ctx.login_op
    if op is None:
        return
    nobody = f"bf-audit-burst-{secrets.token_hex(4)}@example.com"
    limited, seen = _burst(
        ctx,
        lambda: ctx.call(
            op, body=login_body(op, nobody, "Wrong-password-1"), check=NAME, drift=False
        ),
    )
    if not limited and len(seen) >= ctx.options.burst_size:
        ctx.report(
            id="no-rate-limit-login",
            title="No rate limit on login",
            severity=Severity.MEDIUM,
            category=CATEGORY,
            operation=op.key,
            check=NAME,
            detail=f"{len(seen)} failed logins in a row were all answered without 429; passwords "
            "can be guessed at full speed.",
            fix="Limit login attempts per account and per client address (answer 429 with "
            "Retry-After).",
            evidence=[seen[0], seen[-1]],
        )


def _check_write_rate_limit(ctx: AuditContext, op: Operation) -> None:
    def make() -> Exchange:
        return ctx.call(
            op, identity=ctx.identity_for(op), body=ctx.example_body(op), check=NAME, drift=False
        )

    try:
        limited, seen = _burst(ctx, make)
    except WriteNotAllowed:
        return
    created = [e for e in seen if 200 <= e.status < 300]
    if not limited and len(created) >= ctx.options.burst_size:
        ctx.report(
            id="no-rate-limit-writes",
            title="No rate limit on writes",
            severity=Severity.LOW,
            category=CATEGORY,
            operation=op.key,
            check=NAME,
            detail=f"{len(created)} creates in a row all succeeded without 429.",
            fix="Limit writes per user and per client address.",
            evidence=[seen[-1]],
        )
