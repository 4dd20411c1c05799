"""What names mean inside an expression: record fields, one relation hop, the caller's record,
and known values (the request body, the caller's id)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Table, select

from ..spec.errors import did_you_mean
from ..spec.model import Collection, Spec
from .ast import Path
from .parser import ExpressionError

# Kinds of the automatic columns, in the same vocabulary as field types.
SYSTEM_KINDS = {"id": "id", "created": "datetime", "updated": "datetime"}


@dataclass(frozen=True)
class ColumnRef:
    """A database value: a column, or a scalar subquery reaching through a relation."""

    expr: ColumnElement
    kind: str
    name: str
    values: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Known:
    """A value known before the query runs (the caller, the request body): folded away."""

    value: Any


@dataclass(frozen=True)
class CallerSource:
    """Where the caller's own record lives, for `auth.<field>` beyond the token's claims."""

    collection: str
    id: str


Resolved = ColumnRef | Known
# Given a target collection's table, the extra condition a relation hop must respect.
HopFilter = Callable[[str, Table], ColumnElement | None]
# Given (collection, field, column), the column as the caller may read it.
ColumnGuard = Callable[[str, str, ColumnElement], ColumnElement]


class RecordScope:
    """Resolves `field`, `relation.field`, `auth.<name>` (and one hop from the caller's
    record) and `<known>.<name>` for the other known values, such as `body`."""

    def __init__(
        self,
        spec: Spec,
        tables: Mapping[str, Table],
        collection: str,
        known: Mapping[str, Mapping[str, Any] | None] | None = None,
        hidden: Mapping[str, frozenset[str]] | None = None,
        hop_filter: HopFilter | None = None,
        record: Mapping[str, Any] | None = None,
        caller_source: CallerSource | None = None,
        column_guard: ColumnGuard | None = None,
    ):
        self.spec = spec
        self.tables = tables
        self.collection = collection
        self.known = known or {}
        self.hidden = hidden or {}
        self.hop_filter = hop_filter
        # A record not yet written (a create): its fields are known values, not columns.
        self.record = record
        self.caller_source = caller_source
        self.column_guard = column_guard

    def resolve(self, path: Path) -> Resolved:
        head = path.parts[0]
        if head in self.known:
            return self._known(path)
        if len(path.parts) > 2:
            raise ExpressionError(
                "a path reaches at most one relation away (relation.field)", path.position
            )
        table = self.tables[self.collection]
        ref = self._column(self.collection, table, head, path.position)
        if len(path.parts) == 1:
            return Known(self.record.get(head)) if self.record is not None else ref
        if ref.kind != "relation":
            raise ExpressionError(
                f"'{head}' is not a relation, so '{path.dotted}' has no meaning", path.position
            )
        target = self.spec.collections[self.collection].fields[head].to
        assert target is not None
        target_table = self.tables[target]
        inner = self._column(target, target_table, path.parts[1], path.position)
        if self.record is not None:
            query = select(inner.expr).where(target_table.c.id == self.record.get(head))
        else:
            query = select(inner.expr).where(target_table.c.id == table.c[head]).correlate(table)
        extra = self.hop_filter(target, target_table) if self.hop_filter else None
        if extra is not None:
            query = query.where(extra)
        return ColumnRef(query.scalar_subquery(), inner.kind, path.dotted, inner.values)

    def _known(self, path: Path) -> Resolved:
        head, parts = path.parts[0], path.parts
        if len(parts) < 2 or len(parts) > (3 if head == "auth" else 2):
            raise ExpressionError(f"write {head}.<name>, e.g. {head}.id", path.position)
        values = self.known[head]
        if values is None:
            return Known(None)
        if len(parts) == 2 and parts[1] in values:
            return Known(values[parts[1]])
        if head != "auth":
            return Known(None)  # a body field the client did not send
        if self.caller_source is None:
            raise ExpressionError(f"unknown name '{path.dotted}'", path.position)
        return self._caller_field(path)

    def _caller_field(self, path: Path) -> Resolved:
        """`auth.<field>` (or `auth.<relation>.<field>`) read from the caller's record in SQL."""
        assert self.caller_source is not None
        collection = self.caller_source.collection
        table = self.tables[collection]
        declared = self.spec.collections[collection]
        name = path.parts[1]
        if name not in declared.fields:
            return Known(None)  # this caller's collection has no such field
        field = declared.fields[name]
        own = select(table.c[name]).where(table.c.id == self.caller_source.id).scalar_subquery()
        if len(path.parts) == 2:
            values = tuple(field.values) if field.values else None
            return ColumnRef(own, field.type, path.dotted, values)
        if field.type != "relation" or field.to is None:
            raise ExpressionError(f"auth.{name} is not a relation", path.position)
        target = self.tables[field.to]
        inner = self._column(field.to, target, path.parts[2], path.position)
        hop = select(inner.expr).where(target.c.id == own).scalar_subquery()
        return ColumnRef(hop, inner.kind, path.dotted, inner.values)

    def _column(self, collection: str, table: Table, name: str, position: int) -> ColumnRef:
        declared: Collection = self.spec.collections[collection]
        hidden = self.hidden.get(collection, frozenset())
        if name in SYSTEM_KINDS:
            return ColumnRef(table.c[name], SYSTEM_KINDS[name], name)
        field = declared.fields.get(name)
        if field is None or name in hidden:
            visible = [n for n in (*SYSTEM_KINDS, *declared.fields) if n not in hidden]
            raise ExpressionError(
                f"unknown field '{name}' in {collection}{did_you_mean(name, visible)}", position
            )
        values = tuple(field.values) if field.values else None
        column = table.c[name]
        if self.column_guard is not None:
            column = self.column_guard(collection, name, column)
        return ColumnRef(column, field.type, name, values)
