"""`when:` on jobs and webhooks: a condition in the rule language that a write must meet for
the job to be queued or the webhook sent. Field names are the record after the write (on a
delete, as it was), `old.<field>` the record before it (null on a create), `auth.*` the caller
who wrote. Judged inside the write's transaction, so a job is recorded exactly when it holds:

    webhooks:
      assignee_changed: {on: tasks.update, when: "assignee != old.assignee", ...}
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, FromClause, Table, literal, select
from sqlalchemy.sql.elements import False_, True_

from ..rules import ExpressionError, Node, RecordScope, compile_expression, parse
from ..rules.ast import paths
from ..rules.scope import CallerSource
from ..spec.errors import Problem
from ..spec.model import SYSTEM_FIELDS, Collection, Spec
from ..store.events import WriteEvent


class Condition:
    """One entry's `when`, parsed once. Judged in SQL: on a create or update against the row
    as written, on a delete against the values the row had (typed as its columns), so that a
    literal compares the same way whatever the operation."""

    def __init__(
        self,
        spec: Spec,
        tables: Mapping[str, Table],
        hidden: Mapping[str, frozenset[str]],
        collection: str,
        text: str,
    ):
        self.spec = spec
        self.tables = tables
        self.hidden = hidden  # the record an event carries leaves them out
        self.collection = collection
        self.node: Node = parse(text)

    def admits(self, connection: Connection, event: WriteEvent) -> bool:
        declared = self.spec.collections[self.collection]
        caller = event.caller
        source = None
        if caller.id is not None and caller.collection in self.tables:
            source = CallerSource(caller.collection, caller.id)
        table = self.tables[self.collection]
        row: FromClause = table
        if event.operation == "delete":
            if event.old is None:
                return False
            # The row is gone: its last values, as a one-row table shaped like it.
            values = _typed(declared, event.old, ("decimal", "datetime", "date"))
            row = select(
                *(literal(values.get(c.name), type_=c.type).label(c.name) for c in table.columns)
            ).subquery()
        # `old.<field>` is a value known before the query: numbers as numbers, times as the
        # ISO text they are served as (compared with a column, or with a quoted time).
        known = {"old": _typed(declared, event.old, ("decimal",)), "auth": caller.auth_values()}
        scope = RecordScope(
            self.spec,
            self.tables,
            self.collection,
            known,
            hidden=self.hidden,
            caller_source=source,
            table=row,
        )
        condition = compile_expression(self.node, scope)
        if isinstance(condition, True_ | False_):
            return isinstance(condition, True_)
        query = select(condition).select_from(row)
        if event.operation != "delete":
            query = query.where(table.c.id == event.record_id)
        return bool(connection.execute(query).scalar())


def _typed(
    collection: Collection, record: Mapping[str, Any] | None, kinds_typed: tuple[str, ...]
) -> dict[str, Any] | None:
    """A record as served (decimals and times as text) with the values of `kinds_typed`
    turned back into what their columns hold."""
    if record is None:
        return None
    typed = dict(record)
    kinds = {"created": "datetime", "updated": "datetime"}
    kinds.update({n: f.type for n, f in collection.fields.items()})
    for name, value in record.items():
        kind = kinds.get(name)
        if not isinstance(value, str) or kind not in kinds_typed:
            continue
        if kind == "decimal":
            typed[name] = Decimal(value)
        elif kind == "datetime":
            typed[name] = dt.datetime.fromisoformat(value)
        elif kind == "date":
            typed[name] = dt.date.fromisoformat(value)
    return typed


def check_conditions(spec: Spec, tables: Mapping[str, Table]) -> list[Problem]:
    """Every `when` parses, names fields of its collection, and has a write to judge."""
    from ..store.access import caller_placeholders, hidden_fields

    problems = []
    entries = [("jobs", n, e) for n, e in spec.jobs.items()]
    entries += [("webhooks", n, e) for n, e in spec.webhooks.items()]
    for section, name, entry in entries:
        if entry.when is None:
            continue
        where = (section, name, "when")
        if entry.collection is None or entry.collection not in spec.collections:
            if entry.collection is None:
                problems.append(Problem(where, "a condition needs a write to judge: add `on:`"))
            continue
        declared = spec.collections[entry.collection]
        fields = {n for n, f in declared.fields.items() if not f.hidden} | set(SYSTEM_FIELDS)
        try:
            node = parse(entry.when)
            for path in paths(node):
                if path.parts[0] == "old" and (len(path.parts) != 2 or path.parts[1] not in fields):
                    raise ExpressionError(
                        f"'{path.dotted}': write old.<field> with a field of {entry.collection}",
                        path.position,
                    )
            known = {"old": {}, "auth": caller_placeholders(spec)}
            scope = RecordScope(spec, tables, entry.collection, known, hidden=hidden_fields(spec))
            compile_expression(node, scope)
        except ExpressionError as exc:
            at = f" (at character {exc.position + 1})" if exc.position is not None else ""
            problems.append(Problem(where, f"{exc.message}{at}"))
    return problems
