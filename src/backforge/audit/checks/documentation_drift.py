"""Documentation drift: statuses and response bodies that the OpenAPI document does not describe.
Passive: reads what the other checks received."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..client import Exchange
from ..context import AuditContext
from ..findings import Severity

NAME = "documentation_drift"
CATEGORY = "API9:2023"


def to_json_schema(schema: Any, openapi_30: bool) -> Any:
    """OpenAPI 3.0 schema dialect -> JSON Schema (nullable; the rest validates as is)."""
    if isinstance(schema, list):
        return [to_json_schema(s, openapi_30) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {
        k: to_json_schema(v, openapi_30)
        for k, v in schema.items()
        if k not in {"example", "discriminator", "xml", "externalDocs"}
    }
    if openapi_30 and out.pop("nullable", False):
        if "type" in out:
            out["type"] = (
                [out["type"], "null"] if isinstance(out["type"], str) else [*out["type"], "null"]
            )
        elif "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


def _validator(schema: dict[str, Any], openapi_30: bool) -> Any:
    import jsonschema_rs

    converted = to_json_schema(schema, openapi_30)
    if openapi_30:
        return jsonschema_rs.Draft4Validator(converted)
    return jsonschema_rs.Draft202012Validator(converted)


def run(ctx: AuditContext) -> None:
    openapi_30 = (
        str(ctx.doc.raw.get("openapi", "3.0")).startswith("3.0") or "swagger" in ctx.doc.raw
    )
    statuses: dict[str, dict[int, Exchange]] = defaultdict(dict)
    mismatches: dict[str, tuple[Exchange, str]] = {}
    validators: dict[tuple[str, int], Any] | None = {}
    try:
        import jsonschema_rs  # noqa: F401 - optional: it comes with schemathesis
    except ImportError:
        ctx.note("jsonschema_rs is not installed: response bodies not checked against schemas")
        validators = None
    for exchange in ctx.client.exchanges:
        if not exchange.operation or not exchange.drift or exchange.status == 0:
            continue
        op = ctx.doc.find(*exchange.operation.split(" ", 1))
        if op is None:
            continue
        if not op.documents_status(exchange.status):
            statuses[op.key].setdefault(exchange.status, exchange)
            continue
        media_type = exchange.headers.get("content-type", "").split(";")[0].strip().lower()
        schema = op.response_schema(exchange.status, media_type or None)
        if validators is None or not schema or not exchange.is_json or op.key in mismatches:
            continue
        key = (op.key, exchange.status, media_type)
        try:
            if key not in validators:
                validators[key] = _validator(schema, openapi_30)
            error = next(iter(validators[key].iter_errors(exchange.json())), None)
        except Exception:  # noqa: S112 - a schema the validator cannot compile is not the API's fault here
            continue
        if error is not None:
            mismatches[op.key] = (exchange, str(error.message)[:200])
    for op_key, seen in statuses.items():
        codes = ", ".join(str(s) for s in sorted(seen))
        ctx.report(
            id="undocumented-status",
            title="Status codes not in the OpenAPI document",
            severity=Severity.LOW,
            category=CATEGORY,
            operation=op_key,
            check=NAME,
            detail=f"{op_key} answered {codes}, which its responses do not list.",
            fix="Document every status the operation can answer (or fix the handler).",
            evidence=list(seen.values())[:2],
        )
    for op_key, (exchange, message) in mismatches.items():
        ctx.report(
            id="response-schema-mismatch",
            title="Response body does not match the documented schema",
            severity=Severity.LOW,
            category=CATEGORY,
            operation=op_key,
            check=NAME,
            detail=f"A {exchange.status} response of {op_key} breaks its schema: {message}",
            fix="Make the handler return what the document says, or correct the document.",
            evidence=[exchange],
        )
