"""Plausible, valid values for a JSON schema: what a careful client would send."""

from __future__ import annotations

import itertools
import secrets
from typing import Any

_counter = itertools.count(1)


def unique_suffix() -> str:
    return f"{next(_counter)}{secrets.token_hex(3)}"


def schema_type(schema: dict[str, Any]) -> str | None:
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), None)
    if t is None:
        if "properties" in schema:
            return "object"
        if "items" in schema:
            return "array"
        for key in ("anyOf", "oneOf", "allOf"):
            if schema.get(key):
                return schema_type(_first_branch(schema))
    return t


def _first_branch(schema: dict[str, Any]) -> dict[str, Any]:
    if schema.get("allOf"):
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in schema["allOf"]:
            merged["properties"].update(part.get("properties", {}))
            merged["required"].extend(part.get("required", []))
            for k, v in part.items():
                if k not in {"properties", "required"}:
                    merged.setdefault(k, v)
        return merged
    for key in ("oneOf", "anyOf"):
        for branch in schema.get(key) or []:
            if branch.get("type") != "null":
                return branch
    return {}


def flatten(schema: dict[str, Any]) -> dict[str, Any]:
    """An object schema with allOf merged and the first of oneOf/anyOf taken."""
    if "properties" in schema or not any(schema.get(k) for k in ("allOf", "oneOf", "anyOf")):
        return schema
    return flatten(_first_branch(schema))


def properties(schema: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    if not schema:
        return {}
    return dict(flatten(schema).get("properties") or {})


def example_value(schema: dict[str, Any], name: str = "", *, depth: int = 0) -> Any:
    """A valid value; strings are unique per call so that unique constraints hold."""
    schema = schema or {}
    for key in ("example", "default"):
        if key in schema and schema[key] is not None and not looks_unique(name):
            return schema[key]
    if schema.get("examples") and isinstance(schema["examples"], list):
        return schema["examples"][0]
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return next((v for v in schema["enum"] if v is not None), schema["enum"][0])
    kind = schema_type(schema)
    if kind == "object" or (kind is None and "properties" in flatten(schema)):
        return example_object(flatten(schema), depth=depth + 1) if depth < 4 else {}
    if kind == "array":
        if depth >= 4:
            return []
        count = max(1, int(schema.get("minItems", 1)))
        item = schema.get("items") or {}
        return [example_value(item, name, depth=depth + 1) for _ in range(count)]
    if kind == "integer":
        return _number(schema, integer=True)
    if kind == "number":
        return _number(schema, integer=False)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return _string(schema, name)


def example_object(schema: dict[str, Any], *, depth: int = 0, all_fields: bool = False) -> dict:
    schema = flatten(schema)
    required = set(schema.get("required") or [])
    out: dict[str, Any] = {}
    for prop, sub in (schema.get("properties") or {}).items():
        if sub.get("readOnly"):
            continue
        if prop in required or all_fields:
            out[prop] = example_value(sub, prop, depth=depth)
    return out


def looks_unique(name: str) -> bool:
    return any(w in name.lower() for w in ("email", "username", "slug", "login"))


def _number(schema: dict[str, Any], *, integer: bool) -> int | float:
    low = schema.get("minimum")
    high = schema.get("maximum")
    if schema.get("exclusiveMinimum") is not None and not isinstance(
        schema.get("exclusiveMinimum"), bool
    ):
        low = schema["exclusiveMinimum"] + (1 if integer else 0.5)
    if schema.get("exclusiveMaximum") is not None and not isinstance(
        schema.get("exclusiveMaximum"), bool
    ):
        high = schema["exclusiveMaximum"] - (1 if integer else 0.5)
    value: float = 1
    if low is not None and value < low:
        value = low
    if high is not None and value > high:
        value = high
    return int(value) if integer else float(value)


def _string(schema: dict[str, Any], name: str) -> str:
    if schema.get("pattern"):
        from .regex_values import matching_string

        for _ in range(10):
            value = matching_string(str(schema["pattern"]), next(_counter))
            if value is None:
                break
            if int(schema.get("minLength", 0)) <= len(value) <= int(schema.get("maxLength", 10**6)):
                return value
    fmt = (schema.get("format") or "").lower()
    lname = name.lower()
    tag = unique_suffix()
    if fmt == "email" or "email" in lname:
        value = f"bf-audit-{tag}@example.com"
    elif fmt == "date-time":
        value = "2024-01-02T03:04:05Z"
    elif fmt == "date":
        value = "2024-01-02"
    elif fmt == "time":
        value = "03:04:05"
    elif fmt == "uuid":
        value = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
    elif fmt in {"uri", "url"} or lname in {"url", "website", "homepage"}:
        value = "https://example.com/"
    elif fmt == "password" or "password" in lname:
        value = f"Bf-audit-{secrets.token_urlsafe(12)}!9"
    elif fmt in {"ipv4"}:
        value = "192.0.2.1"
    else:
        value = f"audit{tag}"
    min_len = int(schema.get("minLength", 0) or 0)
    max_len = schema.get("maxLength")
    if len(value) < min_len:
        value = value + "x" * (min_len - len(value))
    if max_len is not None and len(value) > int(max_len):
        value = value[: int(max_len)] if not fmt else value
    return value
