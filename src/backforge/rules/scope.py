"""What names mean inside an expression: record fields, one relation hop, and known values."""

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


Resolved = ColumnRef | Known
# Given a target collection's table, the extra condition a relation hop must respect.
HopFilter = Callable[[str, Table], ColumnElement | None]


class RecordScope:
    """Resolves `field`, `relation.field`, and `<name>.key` for the named known values."""

    def __init__(
        self,
        spec: Spec,
        tables: Mapping[str, Table],
        collection: str,
        known: Mapping[str, Mapping[str, Any] | None] | None = None,
        hidden: Mapping[str, frozenset[str]] | None = None,
        hop_filter: HopFilter | None = None,
        record: Mapping[str, Any] | None = None,
    ):
        self.spec = spec
        self.tables = tables
        self.collection = collection
        self.known = known or {}
        self.hidden = hidden or {}
        self.hop_filter = hop_filter
        # A record not yet written (a create): its fields are known values, not columns.
        self.record = record

    def resolve(self, path: Path) -> Resolved:
        head = path.parts[0]
        if head in self.known:
            if len(path.parts) != 2:
                raise ExpressionError(f"write {head}.<name>, e.g. {head}.id", path.position)
            values = self.known[head]
            return Known(None if values is None else values.get(path.parts[1]))
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
        return ColumnRef(table.c[name], field.type, name, values)
