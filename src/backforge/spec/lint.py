"""Warnings about declarations that work but are risky or slow."""

from __future__ import annotations

from .errors import Problem
from .model import Spec

_WRITES = ("create", "update", "delete")


def lint(spec: Spec) -> list[Problem]:
    problems: list[Problem] = []
    for name, collection in spec.collections.items():
        path = ("collections", name, "rules")
        for operation in _WRITES:
            if (getattr(collection.rules, operation) or "").strip() == "public":
                problems.append(
                    Problem(
                        (*path, operation),
                        f"anyone, even anonymous, may {operation} {name}",
                        severity="warning",
                    )
                )
        if all(getattr(collection.rules, op) is None for op in ("list", "view", *_WRITES)):
            problems.append(
                Problem(path, f"no rules: only admins can reach {name}", severity="warning")
            )
    return problems
