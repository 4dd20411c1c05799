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

from sqlalchemy import Connection, Table, select
from sqlalchemy.sql.elements import False_, True_

from ..rules import ExpressionError, Node, RecordScope, compile_expression, parse
from ..rules.ast import paths
from ..rules.scope import CallerSource
from ..spec.errors import Problem
from ..spec.model import Collection, Spec
from ..store.events import WriteEvent

_SYSTEM_FIELDS = frozenset({"id", "created", "updated", "version"})


class Condition:
    """One entry's `when`, parsed once."""

    def __init__(self, spec: Spec, tables: Mapping[str, Table], collection: str, text: str):
        self.spec = spec
        self.tables = tables
        self.collection = collection
        self.node: Node = parse(text)

    def admits(self, connection: Connection, event: WriteEvent) -> bool:
        old = _typed(self.spec.collections[self.collection], event.old)
        caller = event.caller
        source = None
        if caller.id is not None and caller.collection in self.tables:
            source = CallerSource(caller.collection, caller.id)
        known = {"old": old, "auth": caller.auth_values()}
        table = self.tables[self.collection]
        if event.operation == "delete":
            # The row is gone: its fields are the values it had.
            scope = RecordScope(
                self.spec,
                self.tables,
                self.collection,
                known,
                record=old or {},
                caller_source=source,
            )
            condition = compile_expression(self.node, scope)
            query = select(condition)
        else:
            scope = RecordScope(
                self.spec, self.tables, self.collection, known, caller_source=source
            )
            condition = compile_expression(self.node, scope)
            query = select(condition).select_from(table).where(table.c.id == event.record_id)
        if isinstance(condition, True_ | False_):
            return isinstance(condition, True_)
        return bool(connection.execute(query).scalar())


def _typed(collection: Collection, record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A record as served (decimals as text) back into the values rules compare."""
    if record is None:
        return None
    typed = dict(record)
    for name, value in record.items():
        field = collection.fields.get(name)
        if value is None or field is None:
            continue
        if field.type == "decimal":
            typed[name] = Decimal(str(value))
        elif field.type == "datetime" and isinstance(value, str):
            typed[name] = dt.datetime.fromisoformat(value)
    return typed


def check_conditions(spec: Spec, tables: Mapping[str, Table]) -> list[Problem]:
    """Every `when` parses, names fields of its collection, and has a write to judge."""
    from ..store.access import caller_placeholders

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
        fields = set(spec.collections[entry.collection].fields) | _SYSTEM_FIELDS
        try:
            node = parse(entry.when)
            for path in paths(node):
                if path.parts[0] == "old" and (len(path.parts) != 2 or path.parts[1] not in fields):
                    raise ExpressionError(
                        f"'{path.dotted}': write old.<field> with a field of {entry.collection}",
                        path.position,
                    )
            known = {"old": {}, "auth": caller_placeholders(spec)}
            compile_expression(node, RecordScope(spec, tables, entry.collection, known))
        except ExpressionError as exc:
            at = f" (at character {exc.position + 1})" if exc.position is not None else ""
            problems.append(Problem(where, f"{exc.message}{at}"))
    return problems
