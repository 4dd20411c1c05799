"""Inputs that break a documented constraint, one constraint at a time."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from .values import flatten, schema_type


def body_violations(schema: dict[str, Any], valid: dict[str, Any]) -> Iterator[tuple[str, dict]]:
    """(what is wrong, body) pairs, each differing from the valid body in one property."""
    schema = flatten(schema)
    props = schema.get("properties") or {}
    required = list(schema.get("required") or [])
    for name in required[:1]:
        body = copy.deepcopy(valid)
        body.pop(name, None)
        yield f"required property {name!r} missing", body
    for name, sub in props.items():
        if sub.get("readOnly"):
            continue
        for what, value in value_violations(sub):
            body = copy.deepcopy(valid)
            body[name] = value
            yield f"{name!r}: {what}", body
    if schema.get("additionalProperties") is False:
        yield "an undeclared property", {**valid, "bf_audit_unknown": "x"}


def value_violations(schema: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    kind = schema_type(schema)
    if schema.get("enum"):
        yield "value outside the enum", "bf-audit-not-in-enum"
        return
    if kind in {"integer", "number"}:
        yield f"a string where {kind} is expected", "bf-audit-not-a-number"
        if schema.get("minimum") is not None:
            yield "below the minimum", schema["minimum"] - 1
        if schema.get("maximum") is not None:
            yield "above the maximum", schema["maximum"] + 1
    elif kind == "string":
        yield "an object where a string is expected", {"bf": "audit"}
        if schema.get("maxLength") is not None:
            yield "longer than maxLength", "x" * (int(schema["maxLength"]) + 1)
        if schema.get("minLength"):
            yield "shorter than minLength", ""
        if schema.get("format") == "email":
            yield "not an email address", "bf-audit-not-an-email"
    elif kind == "boolean":
        yield "an object where a boolean is expected", {"bf": "audit"}


def query_violations(schema: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    kind = schema_type(schema)
    if schema.get("enum"):
        yield "value outside the enum", "bf-audit-not-in-enum"
    elif kind in {"integer", "number"}:
        yield f"a string where {kind} is expected", "bf-audit-not-a-number"
        if schema.get("minimum") is not None:
            yield "below the minimum", schema["minimum"] - 1
        if schema.get("maximum") is not None:
            yield "above the maximum", schema["maximum"] + 1
