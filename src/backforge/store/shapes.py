"""Shapes: records as an API contract wants them — renamed fields, values computed in the same
SQL statement as the page (paths through relations, count(), any(), conditions, all with the
caller's rules), values known per request (`session.access_token`), and nested related
records loaded in one statement per relation and level."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, FromClause, Select, case, false, true

from ..rules import ExpressionError, Known
from ..rules.ast import Literal, Path, Value
from ..rules.compiler import compile_value
from ..rules.parser import parse_value
from ..rules.scope import ColumnRef
from ..spec.errors import Problem
from ..spec.model import SYSTEM_FIELDS, Spec
from ..spec.relations import resolve_link
from ..spec.routes import NestedShape
from .caller import Caller
from .prepared import BoundedMap
from .serialize import json_value

if TYPE_CHECKING:
    from .records import RecordStore

# Names whose values are known per request (not per record): read in Python.
REQUEST_NAMESPACES = frozenset({"session", "params"})
OWNER_LABEL = "_shape_owner"


@dataclass(frozen=True)
class FieldPart:
    output: str
    field: str


@dataclass(frozen=True)
class ComputedPart:
    """A value of the record computed in SQL (a column labelled `label`), or a constant where
    it folds for the caller."""

    output: str
    node: Value
    label: str


@dataclass(frozen=True)
class RequestPart:
    output: str
    namespace: str
    name: str


@dataclass(frozen=True)
class LiteralPart:
    output: str
    value: Any


@dataclass(frozen=True)
class NestedPart:
    output: str
    shape: str
    of: str
    many: bool


Part = FieldPart | ComputedPart | RequestPart | LiteralPart | NestedPart


@dataclass(frozen=True)
class ShapePlan:
    name: str
    collection: str
    parts: tuple[Part, ...]

    @property
    def inputs(self) -> dict[str, str]:
        """Output names that map onto a field: the names a request body may use."""
        return {p.output: p.field for p in self.parts if isinstance(p, FieldPart)}


@dataclass(frozen=True)
class Compiled:
    """A plan's computed columns for one caller, with their kinds; folded ones as constants."""

    columns: tuple[ColumnElement, ...]
    kinds: dict[str, str]
    constants: dict[str, Any]


class Shapes:
    """Every shape of a declaration, planned once, compiled per caller."""

    def __init__(self, store: RecordStore):
        self.store = store
        self.spec: Spec = store.spec
        self.plans: dict[str, ShapePlan] = {}
        self.problems: list[Problem] = []
        for name, shape in self.spec.shapes.items():
            try:
                self.plans[name] = self._plan(name, shape.collection, shape.items())
            except ExpressionError as exc:
                self.problems.append(Problem(("shapes", name, "fields"), exc.message))
        self._compiled = BoundedMap(1024)

    def _plan(self, name: str, collection: str, items) -> ShapePlan:
        declared = self.spec.collections[collection]
        fields = {*SYSTEM_FIELDS, *declared.fields}
        stored = {n for n, r in declared.relations.items() if r.stored}
        parts: list[Part] = []
        for index, (output, value) in enumerate(items):
            if isinstance(value, NestedShape):
                many = value.of in declared.relations
                parts.append(NestedPart(output, value.shape, value.of, many))
                continue
            try:
                node = parse_value(value)
            except ExpressionError as exc:
                raise ExpressionError(f"{output}: {exc.message}") from None
            if isinstance(node, Path) and len(node.parts) == 1 and node.parts[0] in fields | stored:
                field = declared.fields.get(node.parts[0])
                if field is not None and field.hidden:
                    raise ExpressionError(f"{output}: '{node.parts[0]}' is hidden")
                parts.append(FieldPart(output, node.parts[0]))
            elif isinstance(node, Path) and node.parts[0] in REQUEST_NAMESPACES:
                if len(node.parts) != 2:
                    raise ExpressionError(f"{output}: write {node.parts[0]}.<name>")
                parts.append(RequestPart(output, node.parts[0], node.parts[1]))
            elif isinstance(node, Literal):
                parts.append(LiteralPart(output, node.value))
            else:
                parts.append(ComputedPart(output, node, f"_shape_{index}"))
        return ShapePlan(name, collection, tuple(parts))

    def check(self, caller: Caller) -> list[Problem]:
        """Compile every computed value once (for start-up and `backforge check`)."""
        problems = list(self.problems)
        for name, plan in self.plans.items():
            try:
                self.compiled(plan, caller)
            except ExpressionError as exc:
                problems.append(Problem(("shapes", name, "fields"), exc.message))
        return problems

    # -- the SQL side --------------------------------------------------------------------------

    def compiled(
        self, plan: ShapePlan, caller: Caller, table: FromClause | None = None
    ) -> Compiled:
        """The computed columns for `caller` (remembered per caller unless on an alias)."""
        key = (plan.name, caller.id, caller.collection, caller.is_admin)
        if table is None:
            known = self._compiled.get(key)
            if known is not None:
                return known
        scope = self.store.access.scope(plan.collection, caller, table=table)
        columns, kinds, constants = [], {}, {}
        for part in plan.parts:
            if not isinstance(part, ComputedPart):
                continue
            try:
                value = compile_value(part.node, scope)
            except ExpressionError as exc:
                raise ExpressionError(f"{part.output}: {exc.message}") from None
            if isinstance(value, Known):
                constants[part.label] = value.value
            elif isinstance(value, bool):
                constants[part.label] = value
            elif isinstance(value, ColumnRef):
                columns.append(value.expr.label(part.label))
                kinds[part.label] = value.kind
            else:  # a condition, as true or false (never null)
                columns.append(case((value, true()), else_=false()).label(part.label))
                kinds[part.label] = "bool"
        result = Compiled(tuple(columns), kinds, constants)
        if table is None:
            self._compiled.put(key, result)
        return result

    def columns(self, plan: ShapePlan, caller: Caller) -> tuple[ColumnElement, ...]:
        return self.compiled(plan, caller).columns

    # -- the records ---------------------------------------------------------------------------

    def assemble(
        self,
        plan: ShapePlan,
        caller: Caller,
        records: list[dict[str, Any]],
        known: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """The shaped records of records read with the plan's columns (see RecordStore.list)."""
        compiled = self.compiled(plan, caller)
        nested = {
            part.output: self._nested(part, plan, caller, records)
            for part in plan.parts
            if isinstance(part, NestedPart)
        }
        known = known or {}
        shaped = []
        for index, record in enumerate(records):
            out: dict[str, Any] = {}
            for part in plan.parts:
                if isinstance(part, FieldPart):
                    out[part.output] = record.get(part.field)
                elif isinstance(part, ComputedPart):
                    out[part.output] = _computed(compiled, part.label, record)
                elif isinstance(part, RequestPart):
                    out[part.output] = (known.get(part.namespace) or {}).get(part.name)
                elif isinstance(part, LiteralPart):
                    out[part.output] = part.value
                else:
                    out[part.output] = nested[part.output][index]
            shaped.append(out)
        return shaped

    def _nested(
        self, part: NestedPart, plan: ShapePlan, caller: Caller, records: list[dict[str, Any]]
    ) -> list[Any]:
        """The nested value of each record: one statement for the whole page."""
        target_plan = self.plans[part.shape]
        if not part.many:
            ids = sorted({r[part.of] for r in records if r.get(part.of) is not None})
            found: dict[str, dict[str, Any]] = {}
            if ids:
                table = self.store.tables[target_plan.collection]
                rows = self._read(
                    target_plan, caller, lambda query: query.where(table.c.id.in_(ids))
                )
                found = {row["id"]: shaped for row, shaped in rows}
            return [found.get(r.get(part.of)) for r in records]
        owners = sorted({r["id"] for r in records})
        grouped: dict[str, list[dict[str, Any]]] = {owner: [] for owner in owners}
        if owners:
            for row, shaped in self._read_many(
                plan.collection, part.of, target_plan, caller, owners
            ):
                grouped[row[OWNER_LABEL]].append(shaped)
        return [grouped[r["id"]] for r in records]

    def _read_many(self, collection: str, name: str, plan: ShapePlan, caller: Caller, owners):
        relation = self.spec.collections[collection].relations[name]
        link = resolve_link(self.spec, collection, relation, name)
        target = self.store.tables[plan.collection]
        access = self.store.access
        if link.far is None:  # one-to-many: the related records point at their owner

            def narrowed(query: Select) -> Select:
                owner = target.c[link.near].label(OWNER_LABEL)
                return query.add_columns(owner).where(target.c[link.near].in_(owners))

            return self._read(plan, caller, narrowed)
        rows = self.store.tables[link.table]

        def joined(query: Select) -> Select:
            query = query.add_columns(rows.c[link.near].label(OWNER_LABEL))
            query = query.join_from(target, rows, rows.c[link.far] == target.c.id)
            query = query.where(rows.c[link.near].in_(owners))
            if self.spec.collections[link.table].link_of is None:
                query = query.where(access.where(link.table, "view", caller, table=rows))
            return query.order_by(rows.c.created, rows.c.id)

        return self._read(plan, caller, joined)

    def _read(
        self, plan: ShapePlan, caller: Caller, narrow: Callable[[Select], Select]
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(row, shaped record) of the plan's collection that the caller may view (none
        when an API key's scopes do not reach it)."""
        store = self.store
        collection = plan.collection
        if not caller.may(collection, "view"):
            return []
        table = store.tables[collection]
        query = store.select_for(collection, caller).add_columns(*self.columns(plan, caller))
        query = narrow(query.where(store.access.where(collection, "view", caller)))
        query = query.order_by(table.c.created, table.c.id)
        prepared = store.prepared.get(None, lambda: query)
        with store.reader(1 + len(store.links.of(collection))) as reader:
            rows = reader.rows(prepared)
            records = store.serializers[collection].selected([dict(r) for r in rows])
            if store.links.of(collection):
                store.links.load(reader, collection, caller, records)
        shaped = self.assemble(plan, caller, records)
        return list(zip(rows, shaped, strict=True))


def _computed(compiled: Compiled, label: str, record: Mapping[str, Any]) -> Any:
    if label in compiled.constants:
        return compiled.constants[label]
    value = record.get(label)
    if value is None:
        return None
    kind = compiled.kinds[label]
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return int(value)
    return json_value(kind, value)
