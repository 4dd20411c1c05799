"""Access rules compiled into WHERE clauses: who may list, view, create, update, delete."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy import ColumnElement, Table, false, true

from ..rules import ExpressionError, Node, RecordScope, compile_expression, parse
from ..spec.errors import Problem
from ..spec.model import Spec
from .caller import Caller

Operation = Literal["list", "view", "create", "update", "delete"]
OPERATIONS: tuple[Operation, ...] = ("list", "view", "create", "update", "delete")
PUBLIC = "public"
# A rule that is not declared: only admins pass.
ADMINS_ONLY = None


class Access:
    """Rules parsed once at start-up, compiled per caller into SQL (constants folded away)."""

    def __init__(self, spec: Spec, tables: Mapping[str, Table]):
        self.spec = spec
        self.tables = tables
        self._rules: dict[tuple[str, str], Node | str | None] = {}
        for name, collection in spec.collections.items():
            for operation in OPERATIONS:
                text = getattr(collection.rules, operation)
                self._rules[(name, operation)] = _parse_rule(text)

    def rule(self, collection: str, operation: Operation) -> Node | str | None:
        return self._rules[(collection, operation)]

    def is_closed(self, collection: str, operation: Operation, caller: Caller) -> bool:
        """True when no row can ever pass: admins-only and the caller is no admin."""
        return not caller.is_admin and self._rules[(collection, operation)] is ADMINS_ONLY

    def where(
        self,
        collection: str,
        operation: Operation,
        caller: Caller,
        known: Mapping[str, Any] | None = None,
        hops: bool = True,
        record: Mapping[str, Any] | None = None,
    ) -> ColumnElement:
        rule = self._rules[(collection, operation)]
        if caller.is_admin or rule == PUBLIC:
            return true()
        if rule is ADMINS_ONLY:
            return false()
        assert not isinstance(rule, str)
        scope = RecordScope(
            self.spec,
            self.tables,
            collection,
            known={"auth": caller.auth_values(), **(known or {})},
            hop_filter=self.hop_filter(caller) if hops else None,
            record=record,
        )
        return compile_expression(rule, scope)

    def hop_filter(self, caller: Caller):
        """Reaching through a relation only sees the records the caller may view."""

        def view_rule(target: str, _table: Table) -> ColumnElement | None:
            return self.where(target, "view", caller, hops=False)

        return view_rule


def _parse_rule(text: str | None) -> Node | str | None:
    if text is None:
        return ADMINS_ONLY
    if text.strip() == PUBLIC:
        return PUBLIC
    return parse(text)


def check_rules(spec: Spec, tables: Mapping[str, Table]) -> list[Problem]:
    """Every rule parses and names only fields that exist (for `check` and start-up)."""
    problems = []
    for name, collection in spec.collections.items():
        for operation in OPERATIONS:
            text = getattr(collection.rules, operation)
            if text is None or text.strip() == PUBLIC:
                continue
            path = ("collections", name, "rules", operation)
            try:
                node = parse(text)
                known = {"auth": {}, "body": {}}
                compile_expression(node, RecordScope(spec, tables, name, known=known))
            except ExpressionError as exc:
                where = f" (at character {exc.position + 1})" if exc.position is not None else ""
                problems.append(Problem(path, f"{exc.message}{where}"))
    return problems
