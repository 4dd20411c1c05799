"""What names mean inside an expression: record fields, paths through relations, calls over
to-many relations, the caller's record, and known values (the request body, the caller's id)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Table, func, literal_column, select

from ..spec.auth_fields import ACCOUNT_EMAIL
from ..spec.errors import did_you_mean
from ..spec.model import Collection, Spec
from ..spec.relations import resolve_link
from .ast import Call, Path, paths
from .params import Param, Parameters
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
    # An account's email: stored lower-cased, so the values compared with it are too.
    folded: bool = False


@dataclass(frozen=True)
class Known:
    """A value known before the query runs (the caller, the request body): folded away."""

    value: Any


@dataclass(frozen=True)
class CallerSource:
    """Where the caller's own record lives, for `auth.<field>` beyond the token's claims."""

    collection: str
    id: str


Resolved = ColumnRef | Known | Param
# Given a target collection and its table (or alias), the condition its rows must meet for a
# path to reach them: the caller's view rule.
HopFilter = Callable[[str, FromClause], ColumnElement | None]
# A call's condition, compiled in the scope of the related records: SQL, or folded to a bool.
Condition = Callable[["RecordScope"], "bool | ColumnElement"]
# Relations a path may pass through (task.project.team.owner is three).
MAX_HOPS = 4
# Given (collection, field, column), the column as the caller may read it.
ColumnGuard = Callable[[str, str, ColumnElement], ColumnElement]


class RecordScope:
    """Resolves `field`, `relation.field` (through up to MAX_HOPS relations), `auth.<name>`
    (and one hop from the caller's record), `<known>.<name>` for the other known values, such
    as `body`, and the calls any()/count() over to-many relations."""

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
        table: FromClause | None = None,
    ):
        self.spec = spec
        self.tables = tables
        self.collection = collection
        # The collection's table, or an alias of it when this scope is reached through a path.
        self.table = table if table is not None else tables[collection]
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
        if len(path.parts) > MAX_HOPS + 1:
            raise ExpressionError(
                f"a path passes through at most {MAX_HOPS} relations", path.position
            )
        return self._walk(path.parts, path)

    def _walk(self, parts: tuple[str, ...], path: Path) -> Resolved:
        head = parts[0]
        self._refuse_many(head, path)
        ref = self._column(self.collection, self.table, head, path.position)
        if len(parts) == 1:
            return Known(self.record.get(head)) if self.record is not None else ref
        if ref.kind != "relation":
            raise ExpressionError(
                f"'{head}' is not a relation, so '{path.dotted}' has no meaning", path.position
            )
        child, link = self._hop(head)
        inner = child._walk(parts[1:], path)
        assert isinstance(inner, ColumnRef)  # a scope reached through a path has no record
        query = select(inner.expr).where(link, *child._visible()).correlate(self.table)
        return replace(inner, expr=query.scalar_subquery(), name=path.dotted)

    def call(self, node: Call, condition: Condition) -> bool | ColumnElement | ColumnRef | Known:
        """any(): SQL or a folded bool; count() and the aggregates sum/avg/min/max of a field
        (`avg(reviews.rating)`): a number (a ColumnRef, or Known for a record not yet
        written)."""
        head = node.path.parts[0]
        if head in self.known:
            raise ExpressionError(
                f"{node.function}() counts the records of a relation, not {head}.*",
                node.path.position,
            )
        parts = node.path.parts
        if node.function in AGGREGATES:
            if len(parts) < 2:
                raise ExpressionError(
                    f"write {node.function}(relation.field), e.g. avg(reviews.rating)",
                    node.path.position,
                )
            parts = parts[:-1]  # the field is read where the relation ends
        if len(parts) > MAX_HOPS + 1:
            raise ExpressionError(
                f"a path passes through at most {MAX_HOPS} relations", node.path.position
            )
        result = self._call(parts, node, condition)
        if node.function in ("count", "sum") and isinstance(result, ColumnRef):
            # No record at the end of the path counts (or adds up to) none.
            expr = func.coalesce(result.expr, 0)
            return ColumnRef(expr, result.kind, f"{node.function}({node.path.dotted})")
        return result

    def _call(self, parts: tuple[str, ...], node: Call, condition: Condition):
        counting = node.function != "any"
        if len(parts) > 1:
            ref = self._column(self.collection, self.table, parts[0], node.path.position)
            if ref.kind != "relation":
                raise ExpressionError(
                    f"'{parts[0]}' is not a relation, so '{node.path.dotted}' has no meaning",
                    node.path.position,
                )
            child, link = self._hop(parts[0])
            inner = child._call(parts[1:], node, condition)
            if inner is False or isinstance(inner, Known):
                return inner  # no record ever matches: nothing to look up through the path
            conditions = [link, *child._visible()]
            if counting:
                query = select(inner.expr).where(*conditions).correlate(self.table)
                return ColumnRef(query.scalar_subquery(), inner.kind, node.path.dotted)
            query = select(literal_column("1")).select_from(child.table)
            return query.where(*conditions, inner).correlate(self.table).exists()
        return self._over_relation(parts[0], node, condition)

    def _over_relation(self, name: str, node: Call, condition: Condition):
        """any()/count() over the to-many relation `name` of this scope's records."""
        declared = self.spec.collections[self.collection]
        relation = declared.relations.get(name)
        if relation is None:
            known = ", ".join(declared.relations) or "none"
            raise ExpressionError(
                f"'{name}' is not a to-many relation of {self.collection} (relations: {known})",
                node.path.position,
            )
        if self.record is not None:  # a record not yet written has no related records
            return _nothing_related(node.function)
        link = resolve_link(self.spec, self.collection, relation, name)
        rows = self.tables[link.table].alias()
        if self.column_guard is not None and {link.near, link.far} & self.hidden.get(
            link.table, frozenset()
        ):  # a client's filter may not follow a link it may not read
            raise ExpressionError(
                f"'{name}' is not a to-many relation of {self.collection} a filter may use",
                node.path.position,
            )
        near = self._guarded(link.table, link.near, rows)
        conditions: list[ColumnElement] = [near == self.table.c.id]
        if link.far is None:  # one-to-many: the rows are the related records
            child = self._child(relation.to, rows)
            source: FromClause = rows
            conditions += child._visible()
        else:
            target = self.tables[relation.to].alias()
            child = self._child(relation.to, target)
            source = rows.join(target, target.c.id == self._guarded(link.table, link.far, rows))
            if self.spec.collections[link.table].link_of is None:  # a declared collection
                conditions += self._visible_rows(link.table, rows)
            if node.function in AGGREGATES or _reads_beyond_id(node, self.known):
                # Reading the related records' fields: only those the caller may view.
                conditions += child._visible()
        if node.condition is not None:
            built = condition(child)
            if built is False:
                return _nothing_related(node.function)
            if built is not True:
                conditions.append(built)
        if node.function == "count":
            query = select(func.count()).select_from(source).where(*conditions)
            return ColumnRef(query.correlate(self.table).scalar_subquery(), "int", name)
        if node.function in AGGREGATES:
            field = node.path.parts[-1]
            column = child._column(relation.to, child.table, field, node.path.position)
            kind = _aggregate_kind(node, column)
            value = getattr(func, node.function)(column.expr)
            query = select(value).select_from(source).where(*conditions)
            return ColumnRef(query.correlate(self.table).scalar_subquery(), kind, name)
        query = select(literal_column("1")).select_from(source).where(*conditions)
        return query.correlate(self.table).exists()

    def _refuse_many(self, name: str, path: Path) -> None:
        if name in self.spec.collections[self.collection].relations:
            raise ExpressionError(
                f"'{name}' holds many records: write any({name}, <condition>) or count({name})",
                path.position,
            )

    def _hop(self, name: str) -> tuple[RecordScope, ColumnElement]:
        """The scope of the record the relation field `name` points to, on an alias of its
        table (a path may pass through the same collection twice), and the join condition."""
        target = self.spec.collections[self.collection].fields[name].to
        assert target is not None
        alias = self.tables[target].alias()
        if self.record is not None:
            value = self.record.get(name)
        else:  # as the caller may read it: a link its read rule hides leads nowhere
            value = self._guarded(self.collection, name, self.table)
        return self._child(target, alias), alias.c.id == value

    def _guarded(self, collection: str, name: str, table: FromClause) -> ColumnElement:
        """A column of `table` as the caller may read it (rules read every column as is)."""
        column = table.c[name]
        if self.column_guard is None:
            return column
        return self.column_guard(collection, name, column)

    def _child(self, collection: str, table: FromClause) -> RecordScope:
        return RecordScope(
            self.spec,
            self.tables,
            collection,
            known=self.known,
            hidden=self.hidden,
            hop_filter=self.hop_filter,
            caller_source=self.caller_source,
            column_guard=self.column_guard,
            table=table,
        )

    def _visible(self) -> list[ColumnElement]:
        """This scope's rows as far as a path may reach them (the caller's view rule)."""
        return self._visible_rows(self.collection, self.table)

    def _visible_rows(self, collection: str, table: FromClause) -> list[ColumnElement]:
        extra = self.hop_filter(collection, table) if self.hop_filter else None
        return [] if extra is None else [extra]

    def _known(self, path: Path) -> Resolved:
        head, parts = path.parts[0], path.parts
        if len(parts) < 2 or len(parts) > (3 if head == "auth" else 2):
            raise ExpressionError(f"write {head}.<name>, e.g. {head}.id", path.position)
        values = self.known[head]
        if isinstance(values, Parameters):
            if len(parts) != 2:
                raise ExpressionError(f"write {head}.<name>", path.position)
            return values.get(parts[1], path.position)
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
        # Never correlated: the caller's record is not the row being filtered, even when both
        # are in the same table.
        own = (
            select(table.c[name])
            .where(table.c.id == self.caller_source.id)
            .correlate(None)
            .scalar_subquery()
        )
        if len(path.parts) == 2:
            values = tuple(field.values) if field.values else None
            return ColumnRef(own, field.kind, path.dotted, values, name == ACCOUNT_EMAIL)
        if field.type != "relation" or field.to is None:
            raise ExpressionError(f"auth.{name} is not a relation", path.position)
        target = self.tables[field.to].alias()
        inner = self._column(field.to, target, path.parts[2], path.position)
        hop = select(inner.expr).where(target.c.id == own).correlate(None).scalar_subquery()
        return replace(inner, expr=hop, name=path.dotted)

    def _column(self, collection: str, table: FromClause, name: str, position: int) -> ColumnRef:
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
        folded = declared.auth_options is not None and name == ACCOUNT_EMAIL
        return ColumnRef(column, field.kind, name, values, folded)


# Functions over a field of the related records (count and any take none).
AGGREGATES = frozenset({"sum", "avg", "min", "max"})
_NUMBERS = frozenset({"int", "float", "decimal"})
_ORDERED = _NUMBERS | {"text", "email", "url", "select", "date", "datetime", "id", "relation"}


def _aggregate_kind(node: Call, column: ColumnRef) -> str:
    """The kind of sum/avg/min/max of a column, or an error naming what would fit."""
    if node.function in ("sum", "avg"):
        if column.kind not in _NUMBERS:
            raise ExpressionError(
                f"{node.function}() adds numbers; {column.name} is {column.kind}",
                node.path.position,
            )
        return "float" if node.function == "avg" and column.kind == "int" else column.kind
    if column.kind not in _ORDERED:
        raise ExpressionError(f"{column.name} ({column.kind}) has no order", node.path.position)
    return column.kind


def _nothing_related(function: str) -> bool | Known:
    """What a call over no related record is: false, zero, or nothing."""
    if function == "any":
        return False
    return Known(0 if function in ("count", "sum") else None)


def _reads_beyond_id(node: Call, known: Mapping[str, Any]) -> bool:
    """Whether a call's condition reads a field of the related records other than their id
    (which the link row holds anyway)."""
    if node.condition is None:
        return False
    return any(p.parts != ("id",) and p.parts[0] not in known for p in paths(node.condition))
