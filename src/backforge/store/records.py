"""RecordStore: list, get, create, update, delete, each one statement with the rule in its WHERE."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
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

from ..auth.passwords import hash_password
from ..database import begin_immediate
from ..schema.tables import build_metadata
from ..spec.model import Spec
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
from .serialize import RowSerializer
from .validation import BodyValidator

RECORD_ID = "record_id"
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
        for name, collection in spec.collections.items():
            options = collection.auth_options
            minimum = options.min_password_length if options else None
            self.validators[name] = BodyValidator(name, collection, password_min_length=minimum)
            self.admin_validators[name] = BodyValidator(
                name, collection, with_readonly=True, password_min_length=minimum
            )
            self.serializers[name] = RowSerializer(collection, self.access.hidden[name])
            self.guarded[name] = frozenset(n for n, f in collection.fields.items() if f.read)

    # -- reading ---------------------------------------------------------------------------

    def list(self, collection: str, caller: Caller, request: ListRequest) -> Page:
        declared = self.spec.collections[collection]
        table = self.tables[collection]
        self._allow(collection, "list", caller)
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
        shape = (collection, _caller_key(caller), request.filter)

        def where() -> list[ColumnElement]:
            conditions = [self.access.where(collection, "list", caller)]
            if request.filter:
                scope = self.access.scope(collection, caller)
                limit_chars = self.spec.settings.max_filter_length
                conditions.append(compile_filter(request.filter, scope, limit_chars))
            return conditions

        # The cursor's values are runtime parameters: every page shares one statement.
        position = decode_cursor(request.cursor, keys) if request.cursor else None

        def page() -> Select:
            conditions = where()
            if position is not None:
                conditions.append(after_cursor(table, keys, position))
            query = self._select(collection, caller).where(*conditions)
            return query.order_by(*order_by(table, keys)).limit(limit + 1)

        nulls = None if position is None else tuple(value is None for value in position)
        page_key = ("list", *shape, keys, limit, nulls)
        page_query = self.prepared.get(page_key, page)
        count_query = None
        if request.total:
            count_key = ("count", *shape)
            count_query = self.prepared.get(
                count_key, lambda: select(func.count()).select_from(table).where(*where())
            )
        statements = 1 + (count_query is not None) + bool(request.expand)
        with self._reader(statements) as reader:
            rows = reader.rows(page_query, cursor_parameters(position or ()))
            total = None
            if count_query is not None:
                total = self._total(reader, count_key, count_query)
            more = len(rows) > limit
            rows = rows[:limit]
            # Taken before the rows become records, in place (relation ids stay as they are).
            cursor = encode_cursor(keys, rows[-1]) if more and rows else None
            items = self.serializers[collection].selected(rows, only)
            if request.expand:
                self._expand(reader, collection, caller, rows, items, request.expand)
        return Page(items, cursor, total)

    def _total(self, reader: Reader, key: Hashable, query: Prepared) -> int:
        """The count, remembered until anyone commits to the database (where that is known)."""
        version = reader.data_version()
        if version is not None:
            known = self._totals.get(key)
            if known is not None and known[0] == version:
                return known[1]
        total = reader.scalar(query)
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
        self._allow(collection, "view", caller, per_record=True)
        only = self._selection(collection, fields)
        if not is_valid_id(record_id):
            raise NotFound(f"no record '{record_id}' in {collection}")
        lock = lock and self.engine.dialect.name == "postgresql"

        def one() -> Select:
            query = self._select(collection, caller).where(
                table.c.id == bindparam(RECORD_ID, record_id),
                self.access.where(collection, "view", caller),
            )
            return query.with_for_update(of=table) if lock else query

        query = self.prepared.get(("get", collection, _caller_key(caller), lock), one)
        with self._reader(1 + bool(expand)) as reader:
            rows = reader.rows(query, {RECORD_ID: record_id})
            if not rows:
                raise NotFound(f"no record '{record_id}' in {collection}")
            item = self.serializers[collection].selected(rows[:1], only)[0]
            if expand:
                self._expand(reader, collection, caller, rows, [item], expand)
        return item

    def _select(self, collection: str, caller: Caller) -> Select:
        """The visible columns, each as the caller may read it."""
        names = self.serializers[collection].names
        if caller.is_admin or not self.guarded[collection]:
            table = self.tables[collection]
            return select(*(table.c[n] for n in names))
        return select(*(self.access.column(collection, n, caller).label(n) for n in names))

    def _selection(self, collection: str, fields: tuple[str, ...] | None) -> frozenset[str] | None:
        if fields is None:
            return None
        known = self.serializers[collection].names
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
                    lambda target=target, to=field.to, ids=ids: self._select(to, caller).where(
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
    ) -> dict:
        """`trusted` skips the create rule (sign-up is governed by the auth options instead);
        validation, read-only fields, presets and field write rules still apply."""
        if not trusted:
            self._allow(collection, "create", caller)
        table = self.tables[collection]
        values, sent = self._validator(collection, caller).for_create(_plain(body))
        self._hash_password(values)
        self._apply_presets(collection, caller, values)
        now = _now()
        row = {**values, "id": new_id(), "created": now, "updated": now, "version": 1}
        with self._writing(table) as connection:
            # Related records are checked before hooks, which may rely on them existing.
            self._check_relations(connection, collection, caller, row)
            event = WriteEvent(collection, "create", caller, values=row, record_id=row["id"])
            self.hooks.run("before", event, self)
            self._check_create_rules(connection, collection, caller, row, sent, trusted)
            self._insert(connection, collection, row)
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
        self._allow(collection, "update", caller, per_record=True)
        table = self.tables[collection]
        values = self._validator(collection, caller).for_update(_plain(body))
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
        with self._writing(table) as connection:
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
                .values(**values, updated=_now(), version=table.c.version + 1)
            )
            if connection.execute(statement).rowcount == 0:
                self._explain_miss(connection, collection, caller, record_id, if_match, "update")
            self._after(connection, event)
            return self._read_back(connection, collection, caller, record_id)

    def delete(
        self, collection: str, caller: Caller, record_id: str, if_match: set[int] | None = None
    ) -> None:
        self._allow(collection, "delete", caller, per_record=True)
        table = self.tables[collection]
        if not is_valid_id(record_id):
            raise NotFound(f"no record '{record_id}' in {collection}")
        conditions = [table.c.id == record_id, *self._visible_and(collection, "delete", caller)]
        if if_match is not None:
            conditions.append(table.c.version.in_(if_match))
        with self._writing(table) as connection:
            event = WriteEvent(collection, "delete", caller, record_id=record_id)
            if self._observed("delete", collection):
                self._lock(connection, table, conditions, collection, caller, record_id, if_match)
                event.old = self._system_record(connection, collection, record_id)
                self.hooks.run("before", event, self)
            result = connection.execute(delete(table).where(*conditions))
            if result.rowcount == 0:
                self._explain_miss(connection, collection, caller, record_id, if_match, "delete")
            self._after(connection, event)

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
        row = connection.execute(self._select(collection, SYSTEM).where(table.c.id == record_id))
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
        query = self._select(collection, caller).where(table.c.id == record_id)
        return self.serializers[collection](connection.execute(query).mappings().one())

    def _allow(
        self, collection: str, operation: Operation, caller: Caller, per_record: bool = False
    ) -> None:
        """Refuse up front what no row could admit: out-of-scope keys, admin-only rules.
        Operations on one record leave the admin-only case to the statement, so that a
        record the caller cannot see answers 404 rather than 403."""
        if not caller.may(collection, operation):
            raise Forbidden(f"this API key may not {operation} {collection}")
        if not per_record and self.access.is_closed(collection, operation, caller):
            raise Forbidden(f"only admins may {operation} {collection}")

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
        """Each related id must exist and be visible to the caller."""
        problems = []
        for name, field in self.spec.collections[collection].fields.items():
            value = values.get(name)
            if field.type != "relation" or value is None or field.to is None:
                continue
            target = self.tables[field.to]
            query = select(target.c.id).where(
                target.c.id == value, self.access.where(field.to, "view", caller)
            )
            if connection.execute(query).first() is None:
                problems.append(FieldProblem(f"/{name}", f"no record '{value}' in {field.to}"))
        if problems:
            raise ValidationFailed(problems)

    # -- transactions ----------------------------------------------------------------------

    def _reader(self, statements: int = 1) -> AbstractContextManager[Reader]:
        """Prepared statements for one read: inside the write transaction when one is open,
        else on this thread's own SQLite connection, else on a pooled connection."""
        if self._direct is None or current_transaction.get() is not None:
            return self._connection_reader()
        return _TranslatedErrors(self._direct.reading(statements))

    @contextmanager
    def _connection_reader(self) -> Iterator[Reader]:
        with self._reading() as connection:
            yield ConnectionReader(connection)

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
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
    def _writing(self, table: Table) -> Iterator[Connection]:
        """One transaction per request; writes made by hooks inside it join it."""
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
        self._committed(transaction, table.name)

    def _writing_in_group(self, member: GroupMember, table: Table) -> Iterator[Connection]:
        transaction: Transaction | None = None

        def committed() -> None:
            assert transaction is not None
            self._committed(transaction, table.name)

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
        """Several operations, all or nothing (the batch endpoint, custom endpoints)."""
        with self._writing(next(iter(self.tables.values()))) as connection:
            yield connection

    def _committed(self, transaction: Transaction, collection: str) -> None:
        for name in transaction.collections | {collection}:
            for listener in self.write_listeners:
                listener(name)
        for event in transaction.committed:
            self.hooks.run("after_commit", event, self)
            for listener in self.commit_listeners:
                listener(event)


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


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
