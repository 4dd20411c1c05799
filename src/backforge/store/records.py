"""RecordStore: list, get, create, update, delete, each one statement with the rule in its WHERE."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Integer,
    Select,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import False_, True_

from .. import clock
from ..auth.passwords import hash_password
from ..database import begin_immediate
from ..rules import ExpressionError, Node, compile_expression
from ..rules.params import NAMESPACE, ParameterError, Parameters, runtime_values
from ..schema.tables import build_metadata
from ..spec.model import Spec
from ..spec.relations import resolve_link
from ..spec.semantics import CALLER_DEFAULT
from .access import Access, Operation
from .caller import Caller
from .database_errors import translate
from .errors import (
    FieldProblem,
    Forbidden,
    InvalidQuery,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)
from .events import Listener, Transaction, WriteEvent, current_transaction, ending, published
from .group_commit import GroupCommit, GroupMember
from .hooks import SYSTEM, Hooks
from .ids import is_valid_id, new_id
from .links import Links
from .listing import (
    ListRequest,
    after_cursor,
    compile_filter,
    cursor_parameters,
    decode_cursor,
    encode_cursor,
    order_by,
    sort_keys,
)
from .prepared import (
    BoundedMap,
    ConnectionReader,
    DirectRead,
    DirectSqlite,
    Prepared,
    PreparedCache,
    Reader,
)
from .serialize import RowSerializer, json_value
from .shapes import ShapePlan, Shapes
from .slugs import MAX_LENGTH as MAX_SLUG
from .slugs import unique_slug
from .validation import BodyValidator

RECORD_ID = "record_id"
OFFSET = "page_offset"
# Field types whose values read back exactly as validated. The database normalises the others:
# time zones, decimals (SQLite stores REAL), floats (-0.0), JSON on PostgreSQL (JSONB reorders
# keys and turns large floats into integers).
EXACT_ROUND_TRIP = {
    "sqlite": frozenset({"text", "email", "url", "select", "relation", "int", "bool", "json"}),
    "postgresql": frozenset({"text", "email", "url", "select", "relation", "int", "bool"}),
}


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None
    total: int | None = None


class RecordStore:
    """Record operations for every collection of one declaration, on one database."""

    def __init__(self, spec: Spec, engine: Engine, hooks: Hooks | None = None):
        self.spec = spec
        self.engine = engine
        # Called with the collection's name after each committed write (cache invalidation).
        self.write_listeners: list[Callable[[str], None]] = []
        self.hooks = hooks or Hooks()
        # Called with each WriteEvent inside its transaction (an outbox), and after commit.
        self.event_listeners: list[Listener] = []
        self.commit_listeners: list[Listener] = []
        # Called with (connection, collection, record id) inside the transaction of an update
        # that set an account's password (only admins may): the auth service ends its logins.
        self.password_listeners: list[Callable[[Connection, str, str], None]] = []
        self.metadata = build_metadata(spec)
        self.tables: dict[str, Table] = {n: self.metadata.tables[n] for n in spec.collections}
        self.access = Access(spec, self.tables)
        self.prepared = PreparedCache(engine.dialect, driver_level=engine.dialect.name == "sqlite")
        # Reads on SQLite go straight to the driver, on a connection kept per thread.
        self._direct = DirectSqlite(engine) if engine.dialect.name == "sqlite" else None
        # Record writes from the event loop commit together per turn of the loop (SQLite).
        self.group = GroupCommit(engine) if engine.dialect.name == "sqlite" else None
        # Totals by count statement, with the database version they were counted at.
        self._totals = BoundedMap()
        # Sort keys by (collection, sort parameter, admin or not): what they depend on.
        self._sorts = BoundedMap(256)
        self.validators: dict[str, BodyValidator] = {}
        self.admin_validators: dict[str, BodyValidator] = {}
        self.serializers: dict[str, RowSerializer] = {}
        # Fields whose read rule makes a column depend on the caller (not sortable by others).
        self.guarded: dict[str, frozenset[str]] = {}
        # Collections whose values all come back from the database as they went in.
        exact = EXACT_ROUND_TRIP.get(engine.dialect.name, frozenset())
        self._round_trips = {
            name
            for name, collection in spec.collections.items()
            if all(f.type in exact for f in collection.fields.values())
        }
        # Every column as null: what an inserted row holds where no value was given.
        self._blank = {name: dict.fromkeys(table.c.keys()) for name, table in self.tables.items()}
        self.links = Links(self)
        self.shapes = Shapes(self)
        # Fields made from another when a create does not send them.
        self._slugs = {
            name: [(n, f) for n, f in collection.fields.items() if f.slug_from]
            for name, collection in spec.collections.items()
        }
        for name, collection in spec.collections.items():
            options = collection.auth_options
            minimum = options.min_password_length if options else None
            relations = self.links.value_types(name)
            self.validators[name] = BodyValidator(
                name, collection, password_min_length=minimum, relations=relations
            )
            self.admin_validators[name] = BodyValidator(
                name,
                collection,
                with_readonly=True,
                password_min_length=minimum,
                relations=relations,
            )
            self.serializers[name] = RowSerializer(collection, self.access.hidden[name])
            self.guarded[name] = frozenset(n for n, f in collection.fields.items() if f.read)

    # -- reading ---------------------------------------------------------------------------

    def list(
        self,
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
        declared = self.spec.collections[collection]
        table = self.tables[collection]
        self.access.check(collection, operation, caller, per_record=operation == "view")
        limit = request.limit or self.spec.settings.page_size
        sort_shape = (collection, request.sort, caller.is_admin)
        keys = self._sorts.get(sort_shape)
        if keys is None:
            sortable = frozenset(declared.fields) - self.access.hidden[collection]
            if not caller.is_admin:
                sortable -= self.guarded[collection]
            keys = tuple(sort_keys(request.sort, declared, sortable))
            self._sorts.put(sort_shape, keys)
        only = self._selection(collection, request.fields)
        shape_key = (
            collection,
            _caller_key(caller),
            request.filter,
            operation,
            narrowing.key if narrowing is not None else None,
        )

        def where() -> tuple[list[ColumnElement], Parameters | None]:
            conditions = [self.access.where(collection, operation, caller)]
            if request.filter:
                scope = self.access.scope(collection, caller)
                limit_chars = self.spec.settings.max_filter_length
                conditions.append(compile_filter(request.filter, scope, limit_chars))
            if narrowing is None:
                return conditions, None
            parameters = Parameters(narrowing.params)
            scope = self.access.scope(collection, caller, known={NAMESPACE: parameters})
            conditions += [_compiled(node, scope) for node in narrowing.conditions]
            return conditions, parameters

        # The cursor's values are runtime parameters: every page shares one statement.
        position = decode_cursor(request.cursor, keys) if request.cursor else None

        def page():
            conditions, parameters = where()
            if position is not None:
                conditions.append(after_cursor(table, keys, position))
            query = self.select_for(collection, caller)
            if shape is not None:
                query = query.add_columns(*self.shapes.columns(shape, caller))
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
        page_query = self.prepared.get(page_key, page)
        runtime = cursor_parameters(position or ())
        if narrowing is not None:
            runtime |= _runtime(page_query, narrowing)
        if paged_by_offset:
            runtime[OFFSET] = request.offset
        count_query = None
        if request.total:
            count_key = ("count", *shape_key)
            count_query = self.prepared.get(count_key, count)
        stored = len(self.links.of(collection))
        statements = 1 + (count_query is not None) + bool(request.expand) + stored
        with self.reader(statements) as reader:
            rows = reader.rows(page_query, runtime)
            total = None
            if count_query is not None:
                counted = _runtime(count_query, narrowing) if narrowing is not None else {}
                total = self._total(reader, count_key, count_query, counted)
            more = len(rows) > limit
            rows = rows[:limit]
            # Taken before the rows become records, in place (relation ids stay as they are).
            cursor = encode_cursor(keys, rows[-1]) if more and rows else None
            items = self.serializers[collection].selected(rows, only)
            if stored:
                self.links.load(reader, collection, caller, items, only)
            if request.expand:
                self._expand(reader, collection, caller, rows, items, request.expand)
        return Page(items, cursor, total)

    def find(
        self,
        collection: str,
        caller: Caller,
        narrowing: Narrowing,
        shape: ShapePlan | None = None,
    ) -> dict[str, Any] | None:
        """The record a key names (conditions with bound parameters), as the caller may view
        it, or None; one statement prepared per key and caller, like `get`."""
        self.access.check(collection, "view", caller, per_record=True)

        def one():
            parameters = Parameters(narrowing.params)
            scope = self.access.scope(collection, caller, known={NAMESPACE: parameters})
            conditions = [self.access.where(collection, "view", caller)]
            conditions += [_compiled(node, scope) for node in narrowing.conditions]
            query = self.select_for(collection, caller)
            if shape is not None:
                query = query.add_columns(*self.shapes.columns(shape, caller))
            return _with_slots(query.where(*conditions).limit(1), parameters)

        shaped = shape.name if shape is not None else None
        key = ("find", collection, _caller_key(caller), narrowing.key, shaped)
        query = self.prepared.get(key, one)
        runtime = _runtime(query, narrowing)
        stored = len(self.links.of(collection))
        with self.reader(1 + stored) as reader:
            rows = reader.rows(query, runtime)
            if not rows:
                return None
            item = self.serializers[collection].selected(rows)[0]
            if stored:
                self.links.load(reader, collection, caller, [item])
        return item

    def aggregate(
        self,
        collection: str,
        caller: Caller,
        function: str,
        field: str | None,
        narrowing: Narrowing | None = None,
    ) -> Any:
        """count, sum, avg, min or max over the records the caller may list, in one statement
        (a field the caller may not read counts as empty where the read rule says so)."""
        self.access.check(collection, "list", caller)
        kind = self._aggregate_kind(collection, function, field)

        def build():
            parameters = Parameters(narrowing.params) if narrowing is not None else None
            conditions = [self.access.where(collection, "list", caller)]
            if parameters is not None:
                scope = self.access.scope(collection, caller, known={NAMESPACE: parameters})
                conditions += [_compiled(node, scope) for node in narrowing.conditions]
            if field is None:
                value = func.count()
            else:
                column = self.access.column(collection, field, caller)
                value = getattr(func, function)(column)
            query = select(value).select_from(self.tables[collection]).where(*conditions)
            return _with_slots(query, parameters)

        key = ("aggregate", collection, _caller_key(caller), function, field)
        query = self.prepared.get((*key, narrowing.key if narrowing else None), build)
        runtime = _runtime(query, narrowing) if narrowing is not None else {}
        with self.reader() as reader:
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

    def _aggregate_kind(self, collection: str, function: str, field: str | None) -> str | None:
        if function not in ("count", "sum", "avg", "min", "max"):
            raise InvalidQuery(
                f"unknown aggregate '{function}' (count, sum, avg, min, max)", "function"
            )
        if field is None:
            if function != "count":
                raise InvalidQuery(f"{function} needs a field", "field")
            return None
        declared = self.spec.collections[collection]
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
        self,
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
            known = self._totals.get(key)
            if known is not None and known[0] == version:
                return known[1]
        total = reader.scalar(query, runtime)
        if version is not None:
            self._totals.put(key, (version, total))
        return total

    def get(
        self,
        collection: str,
        caller: Caller,
        record_id: str,
        fields: tuple[str, ...] | None = None,
        expand: tuple[str, ...] = (),
        lock: bool = False,
    ) -> dict[str, Any]:
        table = self.tables[collection]
        self.access.check(collection, "view", caller, per_record=True)
        only = self._selection(collection, fields)
        if not is_valid_id(record_id):
            raise NotFound(f"no record '{record_id}' in {collection}")
        lock = lock and self.engine.dialect.name == "postgresql"

        def one() -> Select:
            query = self.select_for(collection, caller).where(
                table.c.id == bindparam(RECORD_ID, record_id),
                self.access.where(collection, "view", caller),
            )
            return query.with_for_update(of=table) if lock else query

        query = self.prepared.get(("get", collection, _caller_key(caller), lock), one)
        stored = len(self.links.of(collection))
        with self.reader(1 + bool(expand) + stored) as reader:
            rows = reader.rows(query, {RECORD_ID: record_id})
            if not rows:
                raise NotFound(f"no record '{record_id}' in {collection}")
            item = self.serializers[collection].selected(rows[:1], only)[0]
            if stored:
                self.links.load(reader, collection, caller, [item], only)
            if expand:
                self._expand(reader, collection, caller, rows, [item], expand)
        return item

    def select_for(self, collection: str, caller: Caller) -> Select:
        """The visible columns, each as the caller may read it."""
        names = self.serializers[collection].names
        if caller.is_admin or not self.guarded[collection]:
            table = self.tables[collection]
            return select(*(table.c[n] for n in names))
        return select(*(self.access.column(collection, n, caller).label(n) for n in names))

    def _selection(self, collection: str, fields: tuple[str, ...] | None) -> frozenset[str] | None:
        if fields is None:
            return None
        known = (*self.serializers[collection].names, *self.links.of(collection))
        for name in fields:
            if name not in known:
                raise InvalidQuery(
                    f"unknown field '{name}' in fields (known: {', '.join(known)})", "fields"
                )
        # The id always comes along: without it a selected record could not be addressed.
        return frozenset(fields) | {"id"}

    def _expand(
        self,
        reader: Reader,
        collection: str,
        caller: Caller,
        rows: list,
        items: list[dict[str, Any]],
        names: tuple[str, ...],
    ) -> None:
        declared = self.spec.collections[collection]
        for name in names:
            field = declared.fields.get(name)
            if field is None or field.type != "relation" or field.to is None or field.hidden:
                relations = [n for n, f in declared.fields.items() if f.type == "relation"]
                raise InvalidQuery(
                    f"cannot expand '{name}' (relations: {', '.join(relations) or 'none'})",
                    "expand",
                )
            target = self.tables[field.to]
            ids = {row[name] for row in rows if row[name] is not None}
            found: dict[str, dict[str, Any]] = {}
            if ids and caller.may(field.to, "view"):
                query = self.prepared.get(
                    None,
                    lambda target=target, to=field.to, ids=ids: self.select_for(to, caller).where(
                        target.c.id.in_(sorted(ids)), self.access.where(to, "view", caller)
                    ),
                )
                for related in self.serializers[field.to].selected(reader.rows(query)):
                    found[related["id"]] = related
            for row, item in zip(rows, items, strict=True):
                item.setdefault("expand", {})[name] = found.get(row[name])

    # -- writing ---------------------------------------------------------------------------

    def create(
        self,
        collection: str,
        caller: Caller,
        body: bytes | Mapping[str, Any],
        *,
        trusted: bool = False,
        presets: Mapping[str, Any] | None = None,
    ) -> dict:
        """`trusted` skips the create rule (sign-up is governed by the auth options instead);
        validation, read-only fields, presets and field write rules still apply. `presets`:
        values the server sets (a declared route's parent), which the body may not hold; they
        are checked like any value (a related record must exist and be visible)."""
        if not trusted:
            self.access.check(collection, "create", caller)
        table = self.tables[collection]
        validator = self._validator(collection, caller)
        values, sent = validator.for_create(_plain(body), frozenset(presets or ()))
        values.update(presets or {})
        links = self.links.take(collection, values)
        self._hash_password(values)
        self._apply_presets(collection, caller, values)
        now = clock.now()
        row = {**values, "id": new_id(), "created": now, "updated": now, "version": 1}
        with self.writing(table) as connection:
            # Related records are checked before hooks, which may rely on them existing.
            self._check_relations(connection, collection, caller, row)
            for name, field in self._slugs[collection]:
                if row.get(name) is None:
                    room = (field.max_length or MAX_SLUG) - 8  # for a suffix such as -2
                    source = row.get(field.slug_from or "")
                    row[name] = unique_slug(connection, table, name, source, min(room, MAX_SLUG))
            event = WriteEvent(collection, "create", caller, values=row, record_id=row["id"])
            self.hooks.run("before", event, self)
            validator.missing_required(row)  # a read-only field a hook was to fill
            self._check_create_rules(connection, collection, caller, row, sent, trusted)
            self._insert(connection, collection, row)
            if links:
                self.links.write(connection, collection, caller, row["id"], links, replace=False)
            self._after(connection, event)
            if self._stored_as_sent(collection, caller):
                return self.serializers[collection](self._blank[collection] | row)
            return self._read_back(connection, collection, caller, row["id"])

    def _insert(self, connection: Connection, collection: str, row: dict[str, Any]) -> None:
        table = self.tables[collection]
        names = tuple(row)
        statement = self.prepared.get(
            ("insert", collection, names),
            lambda: insert(table).values({n: bindparam(n, row[n], table.c[n].type) for n in names}),
        )
        statement.execute(connection, row)

    def _stored_as_sent(self, collection: str, caller: Caller) -> bool:
        """Whether the record just inserted reads back exactly as it was written, so that
        reading it back can be skipped: no hook or listener could have changed the values,
        every field's type round-trips unchanged, no read rule hides a field from the caller."""
        return (
            collection in self._round_trips
            and not self.links.of(collection)
            and not self._observed("create", collection)
            and (caller.is_admin or not self.guarded[collection])
        )

    def update(
        self,
        collection: str,
        caller: Caller,
        record_id: str,
        body: bytes | Mapping[str, Any],
        if_match: set[int] | None = None,
    ) -> dict:
        self.access.check(collection, "update", caller, per_record=True)
        table = self.tables[collection]
        values = self._validator(collection, caller).for_update(_plain(body))
        links = self.links.take(collection, values)
        self._hash_password(values)
        if not is_valid_id(record_id):
            raise NotFound(f"no record '{record_id}' in {collection}")
        conditions = [table.c.id == record_id, *self._visible_and(collection, "update", caller)]
        for name in values:
            rule = self.access.write_rule(collection, name, caller)
            if rule is not None:
                conditions.append(rule)
        if if_match is not None:
            conditions.append(table.c.version.in_(if_match))
        with self.writing(table) as connection:
            event = WriteEvent(collection, "update", caller, values=values, record_id=record_id)
            if self._observed("update", collection):
                # Hooks see the record before the change: lock it (if the caller may change
                # it at all), read it, let before-hooks adjust the values, then write.
                self._lock(connection, table, conditions, collection, caller, record_id, if_match)
                event.old = self._system_record(connection, collection, record_id)
                self.hooks.run("before", event, self)
            self._check_relations(connection, collection, caller, values)
            if "password_hash" in values:
                # In the UPDATE's transaction: if the UPDATE is refused, its rollback undoes this.
                for listener in self.password_listeners:
                    listener(connection, collection, record_id)
            statement = (
                update(table)
                .where(*conditions)
                .values(**values, updated=clock.now(), version=table.c.version + 1)
            )
            if connection.execute(statement).rowcount == 0:
                self._explain_miss(connection, collection, caller, record_id, if_match, "update")
            if links:
                self.links.write(connection, collection, caller, record_id, links, replace=True)
            self._after(connection, event)
            return self._read_back(connection, collection, caller, record_id)

    def increment(
        self, collection: str, caller: Caller, record_id: str, field: str, by: int | float
    ) -> dict:
        """field = field + by in one UPDATE, under the view and update rules and the field's
        write rule; a result beyond its min or max changes nothing and is a 422."""
        self.access.check(collection, "update", caller, per_record=True)
        declared = self.spec.collections[collection].fields.get(field)
        if declared is None or declared.type not in ("int", "float", "decimal"):
            raise InvalidQuery(f"{field} is not a number field of {collection}", "field")
        if isinstance(by, bool) or not isinstance(by, int | float | Decimal):
            raise InvalidQuery("by is a number", "by")
        if (declared.readonly and not caller.is_admin) or declared.hidden:
            raise ValidationFailed([FieldProblem(f"/{field}", "this field is read-only")])
        if not is_valid_id(record_id):
            raise NotFound(f"no record '{record_id}' in {collection}")
        table = self.tables[collection]
        column = table.c[field]
        step = Decimal(str(by)) if declared.type == "decimal" else by
        conditions = [table.c.id == record_id, *self._visible_and(collection, "update", caller)]
        rule = self.access.write_rule(collection, field, caller)
        if rule is not None:
            conditions.append(rule)
        bounds = []
        if declared.min is not None:
            bounds.append(column + step >= declared.min)
        if declared.max is not None:
            bounds.append(column + step <= declared.max)
        with self.writing(table) as connection:
            event = WriteEvent(collection, "update", caller, values={}, record_id=record_id)
            statement = (
                update(table)
                .where(*conditions, *bounds)
                .values(
                    {field: column + step, "updated": clock.now(), "version": table.c.version + 1}
                )
            )
            if connection.execute(statement).rowcount == 0:
                within = select(table.c.id).where(*conditions)
                if bounds and connection.execute(within).first() is not None:
                    message = f"{field} would leave its bounds ({declared.min} to {declared.max})"
                    raise ValidationFailed([FieldProblem(f"/{field}", message)])
                self._explain_miss(connection, collection, caller, record_id, None, "update")
            event.values = {field: None}
            self._after(connection, event)
            return self._read_back(connection, collection, caller, record_id)

    def delete(
        self, collection: str, caller: Caller, record_id: str, if_match: set[int] | None = None
    ) -> None:
        self.access.check(collection, "delete", caller, per_record=True)
        table = self.tables[collection]
        if not is_valid_id(record_id):
            raise NotFound(f"no record '{record_id}' in {collection}")
        conditions = [table.c.id == record_id, *self._visible_and(collection, "delete", caller)]
        if if_match is not None:
            conditions.append(table.c.version.in_(if_match))
        with self.writing(table) as connection:
            event = WriteEvent(collection, "delete", caller, record_id=record_id)
            if self._observed("delete", collection):
                self._lock(connection, table, conditions, collection, caller, record_id, if_match)
                event.old = self._system_record(connection, collection, record_id)
                self.hooks.run("before", event, self)
            result = connection.execute(delete(table).where(*conditions))
            if result.rowcount == 0:
                self._explain_miss(connection, collection, caller, record_id, if_match, "delete")
            self._after(connection, event)

    def link(
        self,
        collection: str,
        caller: Caller,
        record_id: str,
        relation: str,
        member_id: str,
        add: bool,
    ) -> None:
        """Add or remove one member of a to-many relation; nothing happens when it is already
        so. A stored relation changes under the record's update rule; through a collection,
        its record is created or deleted under that collection's rules and hooks."""
        declared = self.spec.collections[collection].relations[relation]
        if declared.stored:
            table = self.tables[collection]
            with self.writing(table) as connection:
                statement = (
                    update(table)
                    .where(
                        table.c.id == record_id, *self._visible_and(collection, "update", caller)
                    )
                    .values(updated=clock.now(), version=table.c.version + 1)
                )
                if connection.execute(statement).rowcount == 0:
                    self._explain_miss(connection, collection, caller, record_id, None, "update")
                self.links.change(
                    connection, collection, caller, record_id, relation, member_id, add
                )
            return
        link = resolve_link(self.spec, collection, declared, relation)
        assert link.far is not None
        through = self.tables[link.table]
        with self.writing(through) as connection:
            existing = connection.execute(
                select(through.c.id).where(
                    through.c[link.near] == record_id, through.c[link.far] == member_id
                )
            ).scalar()
            if add and existing is None:
                presets = {link.near: record_id, link.far: member_id}
                self.create(link.table, caller, {}, presets=presets)
            elif not add and existing is not None:
                self.delete(link.table, caller, existing)

    # -- hooks and events ------------------------------------------------------------------

    def _observed(self, operation: str, collection: str) -> bool:
        return bool(self.event_listeners) or self.hooks.wants(operation, collection)

    def _lock(self, connection, table, conditions, collection, caller, record_id, if_match):
        """Hold the row for this transaction, or explain why the caller may not change it."""
        query = select(table.c.id).where(*conditions)
        if connection.dialect.name == "postgresql":
            query = query.with_for_update()
        if connection.execute(query).first() is None:
            self._explain_miss(connection, collection, caller, record_id, if_match, "change")

    def _system_record(
        self, connection: Connection, collection: str, record_id: str
    ) -> dict | None:
        table = self.tables[collection]
        row = connection.execute(self.select_for(collection, SYSTEM).where(table.c.id == record_id))
        found = row.mappings().first()
        return None if found is None else self.serializers[collection](found)

    def _after(self, connection: Connection, event: WriteEvent) -> None:
        """After the write, still inside the transaction: after-hooks, then listeners; the
        event is kept for after-commit work."""
        if not self._observed(event.operation, event.collection):
            current_transaction.get().collections.add(event.collection)  # type: ignore[union-attr]
            return
        if event.operation != "delete":
            event.record = self._system_record(connection, event.collection, str(event.record_id))
        self.hooks.run("after", event, self)
        for listener in self.event_listeners:
            listener(event)
        transaction = current_transaction.get()
        assert transaction is not None
        transaction.committed.append(event)
        transaction.collections.add(event.collection)

    def _visible_and(self, collection: str, operation: Operation, caller: Caller) -> list:
        """A record is changed or deleted only by callers who may also see it."""
        return [
            self.access.where(collection, "view", caller),
            self.access.where(collection, operation, caller),
        ]

    def _validator(self, collection: str, caller: Caller) -> BodyValidator:
        return (self.admin_validators if caller.is_admin else self.validators)[collection]

    @staticmethod
    def _hash_password(values: dict[str, Any]) -> None:
        password = values.pop("password", None)
        if password is not None:
            values["password_hash"] = hash_password(password)

    def _apply_presets(self, collection: str, caller: Caller, values: dict[str, Any]) -> None:
        """Fields that default to the caller (`default: auth.id`) and were not sent."""
        for name, field in self.spec.collections[collection].fields.items():
            if field.default == CALLER_DEFAULT and name not in values:
                if caller.id is None or caller.collection != field.to:
                    message = f"{name} is set to the caller's account, so log in first"
                    raise ValidationFailed([FieldProblem(f"/{name}", message)])
                values[name] = caller.id

    def _read_back(self, connection: Connection, collection: str, caller: Caller, record_id: str):
        table = self.tables[collection]
        query = self.select_for(collection, caller).where(table.c.id == record_id)
        record = self.serializers[collection](connection.execute(query).mappings().one())
        if self.links.of(collection):
            self.links.load(ConnectionReader(connection), collection, caller, [record])
        return record

    def _explain_miss(
        self,
        connection: Connection,
        collection: str,
        caller: Caller,
        record_id: str,
        if_match: set[int] | None,
        operation: str,
    ) -> None:
        """Why a write touched no row: not visible (404), stale (412) or not allowed (403)."""
        table = self.tables[collection]
        visible = select(table.c.version).where(
            table.c.id == record_id, self.access.where(collection, "view", caller)
        )
        version = connection.execute(visible).scalar()
        if version is None:
            raise NotFound(f"no record '{record_id}' in {collection}")
        if if_match is not None and version not in if_match:
            raise PreconditionFailed(
                f"the record has changed (it is at version {version}); fetch it and retry"
            )
        raise Forbidden(f"you may not {operation} this record")

    def _check_create_rules(
        self,
        connection: Connection,
        collection: str,
        caller: Caller,
        row: dict[str, Any],
        sent: frozenset[str],
        trusted: bool = False,
    ) -> None:
        """The create rule (unless trusted), and write rules of the fields sent, judged on the
        proposed record inside the write transaction."""
        conditions = []
        if not trusted:
            known = {"body": row}
            conditions.append(self.access.where(collection, "create", caller, known, record=row))
        for name in sent:
            rule = self.access.write_rule(collection, name, caller, record=row)
            if rule is not None:
                conditions.append(rule)
        for condition in conditions:
            if isinstance(condition, True_):
                continue
            if isinstance(condition, False_) or not connection.execute(select(condition)).scalar():
                raise Forbidden(f"you may not create this record in {collection}")

    def _check_relations(
        self, connection: Connection, collection: str, caller: Caller, values: Mapping[str, Any]
    ) -> None:
        """Each related id must exist and be visible to the caller (or, for a field declared
        `reference: any`, exist: the caller names a record they may not see, such as a new
        team member, and learns only whether the id exists)."""
        problems = []
        for name, field in self.spec.collections[collection].fields.items():
            value = values.get(name)
            if field.type != "relation" or value is None or field.to is None:
                continue
            target = self.tables[field.to]
            query = select(target.c.id).where(target.c.id == value)
            if field.reference == "visible":
                query = query.where(self.access.where(field.to, "view", caller))
            if connection.execute(query).first() is None:
                problems.append(FieldProblem(f"/{name}", f"no record '{value}' in {field.to}"))
        if problems:
            raise ValidationFailed(problems)

    # -- transactions ----------------------------------------------------------------------

    def reader(self, statements: int = 1) -> AbstractContextManager[Reader]:
        """Prepared statements for one read: inside the write transaction when one is open,
        else on this thread's own SQLite connection, else on a pooled connection."""
        if self._direct is None or current_transaction.get() is not None:
            return self._connection_reader()
        return _TranslatedErrors(self._direct.reading(statements))

    @contextmanager
    def _connection_reader(self) -> Iterator[Reader]:
        with self.reading() as connection:
            yield ConnectionReader(connection)

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection to read on: the open write transaction's (inside a hook, it sees the
        transaction's own writes), else one from the pool."""
        transaction = current_transaction.get()
        if transaction is not None:
            yield transaction.connection  # inside a hook: see the transaction's own writes
            return
        try:
            with self.engine.connect() as connection:
                yield connection
        except DBAPIError as exc:
            raise _translated(exc, None) from None

    @contextmanager
    def writing(self, table: Table | None) -> Iterator[Connection]:
        """One transaction per request; writes made by hooks inside it join it. `table` is the
        one the request writes (its constraints name the fields of an integrity error, and its
        name is reported changed after the commit), None for several."""
        transaction = current_transaction.get()
        if transaction is not None:
            yield transaction.connection
            return
        member = self.group.joinable() if self.group is not None else None
        if member is not None:
            yield from self._writing_in_group(member, table)
            return
        try:
            with ending(), self.engine.connect() as connection:
                begin_immediate(connection)
                with connection.begin(), published(connection) as transaction:
                    yield connection
        except DBAPIError as exc:
            raise _translated(exc, table) from None
        self._committed(transaction, table.name if table is not None else None)

    def _writing_in_group(self, member: GroupMember, table: Table | None) -> Iterator[Connection]:
        transaction: Transaction | None = None

        def committed() -> None:
            assert transaction is not None
            self._committed(transaction, table.name if table is not None else None)

        assert self.group is not None
        try:
            with (
                ending(),  # after the savepoint: a connection taken then commits the group first
                self.group.join(member, committed) as connection,
                published(connection) as transaction,
            ):
                yield connection
        except DBAPIError as exc:
            raise _translated(exc, table) from None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Several operations, all or nothing (the batch endpoint, custom endpoints); the
        collections they write are the ones reported changed."""
        with self.writing(None) as connection:
            yield connection

    def _committed(self, transaction: Transaction, collection: str | None) -> None:
        written = transaction.collections | ({collection} if collection is not None else set())
        for name in written:
            for listener in self.write_listeners:
                listener(name)
        for event in transaction.committed:
            self.hooks.run("after_commit", event, self)
            for listener in self.commit_listeners:
                listener(event)


@dataclass(frozen=True, slots=True)
class Narrowing:
    """Conditions a declared route adds to a read. `key` names them (the route and which of
    its parameters are given); `params` are this request's values, bound as SQL parameters."""

    key: Hashable
    conditions: tuple[Node, ...]
    params: Mapping[str, Any]


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


def _plain(body: bytes | Mapping[str, Any]) -> bytes | dict[str, Any]:
    return body if isinstance(body, bytes) else dict(body)


class _TranslatedErrors:
    """Wraps a read's context: a database error leaves it as the store's own error."""

    __slots__ = ("read",)

    def __init__(self, read: DirectRead):
        self.read = read

    def __enter__(self) -> Reader:
        try:
            return self.read.__enter__()
        except DBAPIError as exc:
            raise _translated(exc, None) from None

    def __exit__(self, kind: type | None, exc: BaseException | None, traceback: Any) -> None:
        try:
            self.read.__exit__(kind, exc, traceback)
        except DBAPIError as error:
            raise _translated(error, None) from None
        if isinstance(exc, DBAPIError):
            raise _translated(exc, None) from None


def _translated(exc: DBAPIError, table: Table | None) -> Exception:
    error = translate(exc, table)
    return error if error is not None else exc
