"""Reads: list, find, get and aggregate, each one statement with the caller's rule in its WHERE,
prepared once per shape of request (`prepared.py`); totals remembered until the next commit;
relations expanded and stored relations loaded in one statement each for the whole page.

These are RecordStore's methods (`list`, `find`, `get`, `aggregate`, `select_for`), written as
functions taking the store.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Integer, Select, bindparam, func, select

from ..rules import ExpressionError, Node, compile_expression
from ..rules.params import NAMESPACE, ParameterError, Parameters, runtime_values
from .access import Operation
from .caller import Caller
from .errors import InvalidQuery, NotFound
from .ids import is_valid_id
from .listing import (
    ListRequest,
    SortKey,
    after_cursor,
    compile_filter,
    cursor_parameters,
    decode_cursor,
    encode_cursor,
    order_by,
    sort_keys,
)
from .prepared import Prepared, Reader
from .serialize import json_value
from .shapes import ShapePlan

if TYPE_CHECKING:
    from .records import RecordStore

RECORD_ID = "record_id"
OFFSET = "page_offset"


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None
    total: int | None = None


@dataclass(frozen=True, slots=True)
class Narrowing:
    """Conditions a declared route adds to a read. `key` names them (the route and which of
    its parameters are given); `params` are this request's values, bound as SQL parameters."""

    key: Hashable
    conditions: tuple[Node, ...]
    params: Mapping[str, Any]


def list_page(
    store: RecordStore,
    collection: str,
    caller: Caller,
    request: ListRequest,
    *,
    narrowing: Narrowing | None = None,
    shape: ShapePlan | None = None,
    operation: Operation = "list",
) -> Page:
    """A page of records. A declared route adds `narrowing` (conditions with bound
    parameters) and a `shape` (its computed values come with the records, see
    Shapes.assemble); finding one record by a key reads under the `view` rule."""
    table = store.tables[collection]
    store.access.check(collection, operation, caller, per_record=operation == "view")
    limit = request.limit or store.spec.settings.page_size
    keys = sort_keys_for(store, collection, request.sort, caller)
    only = _selection(store, collection, request.fields)
    shape_key = (
        collection,
        _caller_key(caller),
        request.filter,
        operation,
        narrowing.key if narrowing is not None else None,
    )

    def where() -> tuple[list[ColumnElement], Parameters | None]:
        conditions = [store.access.where(collection, operation, caller)]
        if request.filter:
            scope = store.access.scope(collection, caller)
            limit_chars = store.spec.settings.max_filter_length
            conditions.append(compile_filter(request.filter, scope, limit_chars))
        if narrowing is None:
            return conditions, None
        parameters = Parameters(narrowing.params)
        scope = store.access.scope(collection, caller, known={NAMESPACE: parameters})
        conditions += [_compiled(node, scope) for node in narrowing.conditions]
        return conditions, parameters

    # The cursor's values are runtime parameters: every page shares one statement.
    position = decode_cursor(request.cursor, keys) if request.cursor else None

    def page():
        conditions, parameters = where()
        if position is not None:
            conditions.append(after_cursor(table, keys, position))
        query = select_for(store, collection, caller)
        if shape is not None:
            query = query.add_columns(*store.shapes.columns(shape, caller))
        query = query.where(*conditions).order_by(*order_by(table, keys)).limit(limit + 1)
        if request.offset is not None:
            query = query.offset(bindparam(OFFSET, request.offset, type_=Integer()))
        return _with_slots(query, parameters)

    def count():
        conditions, parameters = where()
        query = select(func.count()).select_from(table).where(*conditions)
        return _with_slots(query, parameters)

    nulls = None if position is None else tuple(value is None for value in position)
    paged_by_offset = request.offset is not None
    shaped = shape.name if shape is not None else None
    page_key = ("list", *shape_key, keys, limit, nulls, paged_by_offset, shaped)
    page_query = store.prepared.get(page_key, page)
    runtime = cursor_parameters(position or ())
    if narrowing is not None:
        runtime |= _runtime(page_query, narrowing)
    if paged_by_offset:
        runtime[OFFSET] = request.offset
    count_query = None
    if request.total:
        count_key = ("count", *shape_key)
        count_query = store.prepared.get(count_key, count)
    stored = len(store.links.of(collection))
    statements = 1 + (count_query is not None) + bool(request.expand) + stored
    with store.reader(statements) as reader:
        rows = reader.rows(page_query, runtime)
        total = None
        if count_query is not None:
            counted = _runtime(count_query, narrowing) if narrowing is not None else {}
            total = _total(store, reader, count_key, count_query, counted)
        more = len(rows) > limit
        rows = rows[:limit]
        # Taken before the rows become records, in place (relation ids stay as they are).
        cursor = encode_cursor(keys, rows[-1]) if more and rows else None
        items = store.serializers[collection].selected(rows, only)
        if stored:
            store.links.load(reader, collection, caller, items, only)
        if request.expand:
            _expand(store, reader, collection, caller, rows, items, request.expand)
    return Page(items, cursor, total)


def sort_keys_for(
    store: RecordStore, collection: str, sort: str | None, caller: Caller
) -> tuple[SortKey, ...]:
    """The keys of a sort parameter, over the fields the caller may sort by (not hidden ones,
    nor, but for admins, ones a read rule guards); remembered per parameter."""
    sort_shape = (collection, sort, caller.is_admin)
    keys = store._sorts.get(sort_shape)
    if keys is None:
        declared = store.spec.collections[collection]
        sortable = frozenset(declared.fields) - store.access.hidden[collection]
        if not caller.is_admin:
            sortable -= store.guarded[collection]
        keys = tuple(sort_keys(sort, declared, sortable))
        store._sorts.put(sort_shape, keys)
    return keys


def find(
    store: RecordStore,
    collection: str,
    caller: Caller,
    narrowing: Narrowing,
    shape: ShapePlan | None = None,
) -> dict[str, Any] | None:
    """The record a key names (conditions with bound parameters), as the caller may view
    it, or None; one statement prepared per key and caller, like `get`."""
    store.access.check(collection, "view", caller, per_record=True)

    def one():
        parameters = Parameters(narrowing.params)
        scope = store.access.scope(collection, caller, known={NAMESPACE: parameters})
        conditions = [store.access.where(collection, "view", caller)]
        conditions += [_compiled(node, scope) for node in narrowing.conditions]
        query = select_for(store, collection, caller)
        if shape is not None:
            query = query.add_columns(*store.shapes.columns(shape, caller))
        return _with_slots(query.where(*conditions).limit(1), parameters)

    shaped = shape.name if shape is not None else None
    key = ("find", collection, _caller_key(caller), narrowing.key, shaped)
    query = store.prepared.get(key, one)
    runtime = _runtime(query, narrowing)
    stored = len(store.links.of(collection))
    with store.reader(1 + stored) as reader:
        rows = reader.rows(query, runtime)
        if not rows:
            return None
        item = store.serializers[collection].selected(rows)[0]
        if stored:
            store.links.load(reader, collection, caller, [item])
    return item


def get(
    store: RecordStore,
    collection: str,
    caller: Caller,
    record_id: str,
    fields: tuple[str, ...] | None = None,
    expand: tuple[str, ...] = (),
    lock: bool = False,
) -> dict[str, Any]:
    table = store.tables[collection]
    store.access.check(collection, "view", caller, per_record=True)
    only = _selection(store, collection, fields)
    if not is_valid_id(record_id):
        raise NotFound(f"no record '{record_id}' in {collection}")
    lock = lock and store.engine.dialect.name == "postgresql"

    def one() -> Select:
        query = select_for(store, collection, caller).where(
            table.c.id == bindparam(RECORD_ID, record_id),
            store.access.where(collection, "view", caller),
        )
        return query.with_for_update(of=table) if lock else query

    query = store.prepared.get(("get", collection, _caller_key(caller), lock), one)
    stored = len(store.links.of(collection))
    with store.reader(1 + bool(expand) + stored) as reader:
        rows = reader.rows(query, {RECORD_ID: record_id})
        if not rows:
            raise NotFound(f"no record '{record_id}' in {collection}")
        item = store.serializers[collection].selected(rows[:1], only)[0]
        if stored:
            store.links.load(reader, collection, caller, [item], only)
        if expand:
            _expand(store, reader, collection, caller, rows, [item], expand)
    return item


def aggregate(
    store: RecordStore,
    collection: str,
    caller: Caller,
    function: str,
    field: str | None,
    narrowing: Narrowing | None = None,
) -> Any:
    """count, sum, avg, min or max over the records the caller may list, in one statement
    (a field the caller may not read counts as empty where the read rule says so)."""
    store.access.check(collection, "list", caller)
    kind = _aggregate_kind(store, collection, function, field)

    def build():
        parameters = Parameters(narrowing.params) if narrowing is not None else None
        conditions = [store.access.where(collection, "list", caller)]
        if parameters is not None:
            scope = store.access.scope(collection, caller, known={NAMESPACE: parameters})
            conditions += [_compiled(node, scope) for node in narrowing.conditions]
        if field is None:
            value = func.count()
        else:
            column = store.access.column(collection, field, caller)
            value = getattr(func, function)(column)
        query = select(value).select_from(store.tables[collection]).where(*conditions)
        return _with_slots(query, parameters)

    key = ("aggregate", collection, _caller_key(caller), function, field)
    query = store.prepared.get((*key, narrowing.key if narrowing else None), build)
    runtime = _runtime(query, narrowing) if narrowing is not None else {}
    with store.reader() as reader:
        value = reader.scalar(query, runtime)
    if value is None or function == "count":
        return value
    if kind == "decimal":
        return Decimal(str(value))
    if function == "avg" or kind == "float":
        return float(value)
    if kind == "int":
        return int(value)
    return json_value(kind or "", value)  # min/max of text, dates: as in records


def select_for(store: RecordStore, collection: str, caller: Caller) -> Select:
    """The visible columns, each as the caller may read it."""
    names = store.serializers[collection].names
    if caller.is_admin or not store.guarded[collection]:
        table = store.tables[collection]
        return select(*(table.c[n] for n in names))
    return select(*(store.access.column(collection, n, caller).label(n) for n in names))


def _aggregate_kind(
    store: RecordStore, collection: str, function: str, field: str | None
) -> str | None:
    if function not in ("count", "sum", "avg", "min", "max"):
        raise InvalidQuery(
            f"unknown aggregate '{function}' (count, sum, avg, min, max)", "function"
        )
    if field is None:
        if function != "count":
            raise InvalidQuery(f"{function} needs a field", "field")
        return None
    declared = store.spec.collections[collection]
    found = declared.fields.get(field)
    if field in ("created", "updated"):
        kind = "datetime"
    elif found is None or found.hidden:
        raise InvalidQuery(f"unknown field '{field}' in {collection}", "field")
    else:
        kind = found.type
    if function in ("sum", "avg") and kind not in ("int", "float", "decimal"):
        raise InvalidQuery(f"{function} needs a number field; {field} is {kind}", "field")
    if function in ("min", "max") and kind in ("json", "bool"):
        raise InvalidQuery(f"{field} ({kind}) has no order", "field")
    return kind


def _total(
    store: RecordStore,
    reader: Reader,
    key: Hashable,
    query: Prepared,
    runtime: dict[str, Any] | None = None,
) -> int:
    """The count, remembered until anyone commits to the database (where that is known)."""
    version = reader.data_version()
    if runtime:
        key = (key, tuple(sorted(runtime.items())))
    if version is not None:
        known = store._totals.get(key)
        if known is not None and known[0] == version:
            return known[1]
    total = reader.scalar(query, runtime)
    if version is not None:
        store._totals.put(key, (version, total))
    return total


def _selection(
    store: RecordStore, collection: str, fields: tuple[str, ...] | None
) -> frozenset[str] | None:
    if fields is None:
        return None
    known = (*store.serializers[collection].names, *store.links.of(collection))
    for name in fields:
        if name not in known:
            raise InvalidQuery(
                f"unknown field '{name}' in fields (known: {', '.join(known)})", "fields"
            )
    # The id always comes along: without it a selected record could not be addressed.
    return frozenset(fields) | {"id"}


def _expand(
    store: RecordStore,
    reader: Reader,
    collection: str,
    caller: Caller,
    rows: list,
    items: list[dict[str, Any]],
    names: tuple[str, ...],
) -> None:
    declared = store.spec.collections[collection]
    for name in names:
        field = declared.fields.get(name)
        if field is None or field.type != "relation" or field.to is None or field.hidden:
            relations = [n for n, f in declared.fields.items() if f.type == "relation"]
            detail = f"cannot expand '{name}' (relation fields: {', '.join(relations) or 'none'})"
            if name in declared.relations:  # to-many: read as a filter or through a shape
                detail = (
                    f"cannot expand '{name}': expand reads relation fields (one record each); "
                    f"list the records of '{name}' with a filter on their own collection, or "
                    "declare a shape that nests them"
                )
            raise InvalidQuery(detail, "expand")
        target = store.tables[field.to]
        ids = {row[name] for row in rows if row[name] is not None}
        found: dict[str, dict[str, Any]] = {}
        if ids and caller.may(field.to, "view"):
            query = store.prepared.get(
                None,
                lambda target=target, to=field.to, ids=ids: select_for(store, to, caller).where(
                    target.c.id.in_(sorted(ids)), store.access.where(to, "view", caller)
                ),
            )
            for related in store.serializers[field.to].selected(reader.rows(query)):
                found[related["id"]] = related
        for row, item in zip(rows, items, strict=True):
            item.setdefault("expand", {})[name] = found.get(row[name])


def _compiled(node: Node, scope: Any) -> ColumnElement:
    try:
        return compile_expression(node, scope)
    except ParameterError as exc:
        raise InvalidQuery(exc.message, exc.param) from None
    except ExpressionError as exc:
        raise InvalidQuery(f"invalid filter: {exc.message}", "filter", exc.position) from None


def _with_slots(query: Select, parameters: Parameters | None):
    return query if parameters is None else (query, tuple(parameters.slots))


def _runtime(prepared: Prepared, narrowing: Narrowing) -> dict[str, Any]:
    try:
        return runtime_values(prepared.slots, narrowing.params)
    except ParameterError as exc:
        raise InvalidQuery(exc.message, exc.param) from None


def _caller_key(caller: Caller) -> tuple:
    """What of the caller a compiled statement depends on (rules fold these in)."""
    return (caller.id, caller.collection, caller.is_admin)
