"""Access rules compiled into SQL: who may list, view, create, update, delete — and, per field,
who may read or write it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy import ColumnElement, FromClause, Table, case, false, null, true
from sqlalchemy.sql.elements import False_, True_

from ..rules import ExpressionError, Node, RecordScope, compile_expression, parse
from ..rules.ast import paths
from ..rules.scope import CallerSource
from ..spec.errors import Problem
from ..spec.model import Spec
from .caller import Caller
from .errors import Forbidden

Operation = Literal["list", "view", "create", "update", "delete"]
OPERATIONS: tuple[Operation, ...] = ("list", "view", "create", "update", "delete")
PUBLIC = "public"
# A rule that is not declared: only admins pass.
ADMINS_ONLY = None
# What `auth.*` knows without a query (Caller.auth_values): a rule naming only these folds to
# true or false for a caller, whatever the record.
CALLER_CONSTANTS = frozenset({("auth", "id"), ("auth", "collection"), ("auth", "admin")})
FOLDED_KEPT = 10_000


class Access:
    """Rules parsed once at start-up, compiled per caller into SQL (constants folded away)."""

    def __init__(self, spec: Spec, tables: Mapping[str, Table]):
        self.spec = spec
        self.tables = tables
        self._rules: dict[tuple[str, str], Node | str | None] = {}
        self._field_rules: dict[tuple[str, str, str], Node] = {}
        self.hidden = hidden_fields(spec)
        for name, collection in spec.collections.items():
            for operation in OPERATIONS:
                self._rules[(name, operation)] = _parse_rule(getattr(collection.rules, operation))
            for field_name, field in collection.fields.items():
                for kind in ("read", "write"):
                    text = getattr(field, kind)
                    if text is not None and text.strip() != PUBLIC:
                        self._field_rules[(name, field_name, kind)] = parse(text)
        self._caller_only = frozenset(
            key
            for key, rule in self._rules.items()
            if rule is not ADMINS_ONLY
            and not isinstance(rule, str)
            and all(path.parts in CALLER_CONSTANTS for path in paths(rule))
        )
        # Rules of `_caller_only`, folded per caller: compiling one cost a tenth of a create.
        self._folded: dict[tuple, ColumnElement] = {}

    def rule(self, collection: str, operation: Operation) -> Node | str | None:
        return self._rules[(collection, operation)]

    def is_closed(self, collection: str, operation: Operation, caller: Caller) -> bool:
        """True when no row can ever pass: admins-only and the caller is no admin."""
        return not caller.is_admin and self._rules[(collection, operation)] is ADMINS_ONLY

    def admits_nobody(self, collection: str, operation: Operation, caller: Caller) -> bool:
        """True when the rule can admit no record for this caller, whatever the record: it is
        admins-only, or depends on the caller alone and is false for this one (`auth.id !=
        null` for an anonymous caller). What an upload is refused by before it is stored."""
        if caller.is_admin:
            return False
        if self._rules[(collection, operation)] is ADMINS_ONLY:
            return True
        if (collection, operation) not in self._caller_only:
            return False
        return isinstance(self.where(collection, operation, caller), False_)

    def check(
        self, collection: str, operation: Operation, caller: Caller, per_record: bool = False
    ) -> None:
        """Refuse up front what no row could admit: out-of-scope keys, admin-only rules.
        Operations on one record leave the admin-only case to the statement, so that a
        record the caller cannot see answers 404 rather than 403."""
        if not caller.may(collection, operation):
            raise Forbidden(f"this API key may not {operation} {collection}")
        if not per_record and self.is_closed(collection, operation, caller):
            raise Forbidden(f"only admins may {operation} {collection}")

    def scope(
        self,
        collection: str,
        caller: Caller,
        known: Mapping[str, Any] | None = None,
        hops: bool = True,
        record: Mapping[str, Any] | None = None,
        guard_fields: bool = True,
        table: FromClause | None = None,
    ) -> RecordScope:
        """Names as the caller may use them: hidden fields unknown, read rules applied.
        `table`: an alias of the collection's table to resolve names on."""
        source = None
        if caller.id is not None and caller.collection in self.tables:
            source = CallerSource(caller.collection, caller.id)
        return RecordScope(
            self.spec,
            self.tables,
            collection,
            known={"auth": caller.auth_values(), **(known or {})},
            hidden=self.hidden,
            hop_filter=self.hop_filter(caller) if hops else None,
            record=record,
            caller_source=source,
            column_guard=self._guard(caller) if guard_fields and not caller.is_admin else None,
            table=table,
        )

    def where(
        self,
        collection: str,
        operation: Operation,
        caller: Caller,
        known: Mapping[str, Any] | None = None,
        hops: bool = True,
        record: Mapping[str, Any] | None = None,
        table: FromClause | None = None,
    ) -> ColumnElement:
        rule = self._rules[(collection, operation)]
        if caller.is_admin or rule == PUBLIC:
            return true()
        if rule is ADMINS_ONLY:
            return false()
        assert not isinstance(rule, str)
        folded_key = None
        if (collection, operation) in self._caller_only:
            folded_key = (collection, operation, caller.id, caller.collection)
            folded = self._folded.get(folded_key)
            if folded is not None:
                return folded
        # A rule sees every field of the row as it is, so read rules do not apply inside it.
        scope = self.scope(collection, caller, known, hops, record, guard_fields=False, table=table)
        condition = compile_expression(rule, scope)
        if folded_key is not None and isinstance(condition, True_ | False_):
            if len(self._folded) >= FOLDED_KEPT:
                self._folded.clear()
            self._folded[folded_key] = condition
        return condition

    def write_rule(
        self,
        collection: str,
        field: str,
        caller: Caller,
        record: Mapping[str, Any] | None = None,
    ) -> ColumnElement | None:
        """The condition for setting `field`, or None when anyone who may write the record may."""
        rule = self._field_rules.get((collection, field, "write"))
        if rule is None or caller.is_admin:
            return None
        known = {"body": record} if record is not None else None
        scope = self.scope(collection, caller, known, record=record, guard_fields=False)
        return compile_expression(rule, scope)

    def column(
        self, collection: str, name: str, caller: Caller, table: FromClause | None = None
    ) -> ColumnElement:
        """A column as the caller may read it: its value, or null where the read rule says no.
        `table`: an alias of the collection's table (a path reaching the record)."""
        column = (table if table is not None else self.tables[collection]).c[name]
        rule = self._field_rules.get((collection, name, "read"))
        if rule is None or caller.is_admin:
            return column
        scope = self.scope(collection, caller, guard_fields=False, table=table)
        admitted = compile_expression(rule, scope)
        return case((admitted, column), else_=null())

    def hop_filter(self, caller: Caller):
        """Reaching through a relation only sees the records the caller may view."""

        def view_rule(target: str, table: FromClause) -> ColumnElement | None:
            return self.where(target, "view", caller, hops=False, table=table)

        return view_rule

    def _guard(self, caller: Caller):
        def guard(collection: str, name: str, column: ColumnElement) -> ColumnElement:
            if (collection, name, "read") not in self._field_rules:
                return column
            return self.column(collection, name, caller, column.table)

        return guard


def hidden_fields(spec: Spec) -> dict[str, frozenset[str]]:
    """The fields of each collection no answer shows and no rule or condition may name."""
    return {
        name: frozenset(n for n, f in c.fields.items() if f.hidden)
        for name, c in spec.collections.items()
    }


def _parse_rule(text: str | None) -> Node | str | None:
    if text is None:
        return ADMINS_ONLY
    if text.strip() == PUBLIC:
        return PUBLIC
    return parse(text)


def check_rules(spec: Spec, tables: Mapping[str, Table]) -> list[Problem]:
    """Every rule parses and names only fields that exist (for `check` and start-up)."""
    problems = []
    caller_fields = caller_placeholders(spec)
    for name, collection in spec.collections.items():
        texts = [(("rules", op), getattr(collection.rules, op)) for op in OPERATIONS]
        for field_name, field in collection.fields.items():
            texts += [
                (("fields", field_name, kind), getattr(field, kind)) for kind in ("read", "write")
            ]
        for where, text in texts:
            if text is None or text.strip() == PUBLIC:
                continue
            path = ("collections", name, *where)
            try:
                node = parse(text)
                known = {"auth": caller_fields, "body": {}}
                compile_expression(node, RecordScope(spec, tables, name, known=known))
            except ExpressionError as exc:
                at = f" (at character {exc.position + 1})" if exc.position is not None else ""
                problems.append(Problem(path, f"{exc.message}{at}"))
    return problems


def caller_placeholders(spec: Spec) -> dict[str, Any]:
    """Every name `auth.<name>` may use (as placeholders; checking only parses and resolves)."""
    names: dict[str, Any] = {"id": None, "collection": None, "admin": None}
    for collection in spec.collections.values():
        if collection.auth_options is not None:
            names.update({n: None for n in collection.fields})
    return names
