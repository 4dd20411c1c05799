"""Input validation: schema-violating input accepted, and server errors on malformed input."""

from __future__ import annotations

from typing import Any

from ..client import BudgetExhausted, Exchange, WriteNotAllowed
from ..context import AuditContext
from ..findings import Severity
from ..openapi import Operation
from ..values import schema_type
from ..violations import body_violations, query_violations
from . import fuzz

NAME = "input_validation"
CATEGORY = "API8:2023"
FIX_ACCEPTED = (
    "Validate every request against its schema before acting on it, and answer 400/422 with "
    "the path of each invalid field."
)
FIX_5XX = (
    "Catch invalid input at the edge (parsing, types, ranges) and answer 4xx; a 5xx means "
    "the input reached code that assumed it was valid."
)


def run(ctx: AuditContext) -> None:
    for op in ctx.operations():
        _check_query(ctx, op)
        _check_body(ctx, op)
        _check_malformed(ctx, op)
    if ctx.options.fuzz_examples <= 0:
        return
    try:
        import schemathesis  # noqa: F401 - optional: generated requests need it
    except ImportError:
        ctx.note("schemathesis is not installed: no generated requests")
        return
    try:
        fuzz.run_schemathesis(
            ctx, on_exchange=lambda op, ex: server_error(ctx, op, ex, "generated")
        )
    except BudgetExhausted:
        raise
    except Exception as exc:  # the fuzzer is an extra: its failure must not end the audit
        ctx.note(f"schemathesis generation failed: {type(exc).__name__}: {exc}")


def server_error(ctx: AuditContext, op: Operation, exchange: Exchange, what: str) -> bool:
    if exchange.status < 500:
        return False
    ctx.report(
        id="server-error-on-input",
        title="Server error on malformed input",
        severity=Severity.MEDIUM,
        category=CATEGORY,
        operation=op.key,
        check=NAME,
        detail=f"{op.key} answered {exchange.status} to {what} input.",
        fix=FIX_5XX,
        evidence=[exchange],
    )
    return True


def _accepted(ctx: AuditContext, op: Operation, exchange: Exchange, what: str) -> None:
    if server_error(ctx, op, exchange, f"invalid ({what})"):
        return
    if 200 <= exchange.status < 300:
        ctx.report(
            id="invalid-input-accepted",
            title="Input that violates the documented schema accepted",
            severity=Severity.MEDIUM,
            category=CATEGORY,
            operation=op.key,
            check=NAME,
            detail=f"{op.key} accepted a request with {what} ({exchange.status}).",
            fix=FIX_ACCEPTED,
            evidence=[exchange],
        )


def _path_values(ctx: AuditContext, op: Operation) -> tuple[dict[str, Any], bool]:
    values = ctx.path_values_for(op, ctx.user_a, NAME)
    return values, bool(values)


def _check_query(ctx: AuditContext, op: Operation) -> None:
    if op.method != "GET":
        return
    values, _ = _path_values(ctx, op)
    for param in op.query_params:
        for what, value in query_violations(param.schema):
            exchange = ctx.call(
                op,
                identity=ctx.identity_for(op),
                path_values=values,
                query={param.name: value},
                check=NAME,
            )
            _accepted(ctx, op, exchange, f"query parameter {param.name!r}: {what}")


def _check_body(ctx: AuditContext, op: Operation) -> None:
    if op.body_schema is None or schema_type(op.body_schema) not in {"object", None}:
        return
    if op.method not in {"POST", "PUT", "PATCH"}:
        return
    values, own = _path_values(ctx, op)
    if op.method != "POST" and not own:
        return
    valid = ctx.example_body(op) or {}
    if op.method == "PATCH":
        valid = {}
    for what, body in body_violations(op.body_schema, valid):
        if op.method == "PATCH" and what.startswith("required"):
            continue
        try:
            exchange = ctx.call(
                op,
                identity=ctx.identity_for(op),
                path_values=values,
                body=body,
                check=NAME,
                own_object=own,
            )
        except WriteNotAllowed:
            return
        _accepted(ctx, op, exchange, what)


def _check_malformed(ctx: AuditContext, op: Operation) -> None:
    """Bodies that are not JSON, and path parameters of the wrong type."""
    identity = ctx.identity_for(op)
    if op.body_schema is not None and op.method == "POST" and "json" in (op.body_media_type or ""):
        exchange = ctx.call(
            op,
            identity=identity,
            content=b'{"bf-audit": ',
            headers={"Content-Type": "application/json"},
            check=NAME,
        )
        server_error(ctx, op, exchange, "a truncated JSON body as")
    if op.method == "GET":
        for param in op.path_params:
            if schema_type(param.schema) in {"integer", "number"}:
                exchange = ctx.call(
                    op, identity=identity, path_values={param.name: "bf-audit"}, check=NAME
                )
                server_error(ctx, op, exchange, f"a non-numeric {param.name!r} path parameter as")
