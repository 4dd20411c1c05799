"""Warnings about declarations that work but are risky or slow."""

from __future__ import annotations

import re

from .errors import Problem
from .model import Collection, Spec
from .relations import cycle_edges

_WRITES = ("create", "update", "delete")
WEAK_PASSWORD_LENGTH = 8
_READS = ("list", "view")
# Field names a rule compares (not auth.* or body.*), found without the rule parser so that the
# spec layer stays free of the rest of backforge.
_NAME = re.compile(
    r"(?<![\w.\"'])([a-z][a-z0-9_]*)(?:\.[a-z][a-z0-9_]*)?\s*(?:!=|>=|<=|!~|=|>|<|~|not\s+in\b|in\b)"
)


def lint(spec: Spec) -> list[Problem]:
    problems: list[Problem] = []
    for name, collection in spec.collections.items():
        if collection.link_of is not None:
            continue  # kept by backforge: no routes, written through the record holding it
        path = ("collections", name, "rules")
        for operation in _WRITES:
            if (getattr(collection.rules, operation) or "").strip() == "public":
                problems.append(
                    _warn((*path, operation), f"anyone, even anonymous, may {operation} {name}")
                )
        if all(getattr(collection.rules, op) is None for op in (*_READS, *_WRITES)):
            problems.append(_warn(path, f"no rules: only admins can reach {name}"))
        for operation in _READS:
            rule = getattr(collection.rules, operation)
            for column in _unindexed_columns(collection, rule):
                problems.append(
                    _warn(
                        (*path, operation),
                        f"the {operation} rule filters on '{column}', which has no index: "
                        f"add index: true to the field (or a composite index starting with it)",
                    )
                )
        for field_name, field in collection.fields.items():
            target = spec.collections.get(field.to or "")
            if field.type == "relation" and target is not None and target.rules.view is None:
                problems.append(
                    _warn(
                        ("collections", name, "fields", field_name),
                        f"expanding '{field_name}' shows non-admins nothing: "
                        f"{field.to} has no view rule",
                    )
                )
        options = collection.auth_options
        if options is not None and options.min_password_length < WEAK_PASSWORD_LENGTH:
            problems.append(
                _warn(
                    ("collections", name, "auth", "min_password_length"),
                    f"passwords of {options.min_password_length} characters are easy to guess: "
                    f"use {WEAK_PASSWORD_LENGTH} or more unless a contract fixes it",
                )
            )
        if options is not None and not _auth_rate_limited(spec):
            problems.append(
                _warn(
                    ("collections", name, "auth"),
                    f"{name} accepts logins but rate limits are off (server.rate_limits)",
                )
            )
    return problems + _uncreatable(spec)


def _uncreatable(spec: Spec) -> list[Problem]:
    """Required relations that no first record can satisfy: to the collection itself, or
    around a cycle whose every relation is required (`users.team`, `teams.owner`)."""
    required = {
        name: {str(f.to) for f in c.fields.values() if f.type == "relation" and f.required}
        for name, c in spec.collections.items()
    }
    cyclic = cycle_edges(required)
    problems = []
    for name, collection in spec.collections.items():
        for field_name, field in collection.fields.items():
            if field.type != "relation" or not field.required:
                continue
            if field.to == name:
                text = f"the first record of {name} cannot be created: {field_name} is required "
                text += f"and points to {name} itself; make it optional"
            elif (name, field.to) in cyclic:
                text = f"no record of {name} can be created first: {field_name} is required and "
                text += f"{field.to} requires, through its relations, a record of {name}; make "
                text += "one of them optional and fill it once both exist"
            else:
                continue
            problems.append(_warn(("collections", name, "fields", field_name), text))
    return problems


def _warn(path: tuple, message: str) -> Problem:
    return Problem(path, message, severity="warning")


def _unindexed_columns(collection: Collection, rule: str | None) -> list[str]:
    if not rule or rule.strip() == "public":
        return []
    indexed = {"id", "created"}
    indexed |= {
        n for n, f in collection.fields.items() if f.index or f.unique or f.type == "relation"
    }
    indexed |= {index[0] for index in collection.indexes if index}
    found = []
    for match in _NAME.finditer(rule):
        column = match.group(1)
        if column in ("auth", "body") or column not in collection.fields:
            continue
        if column not in indexed and column not in found:
            found.append(column)
    return found


def _auth_rate_limited(spec: Spec) -> bool:
    server = getattr(spec, "server", None)
    limits = getattr(server, "rate_limits", None)
    return limits is None or bool(getattr(limits, "enabled", True))
