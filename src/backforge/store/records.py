"""RecordStore: list, get, create, update, delete, each one statement with the rule in its WHERE."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import False_, True_

from ..database import begin_immediate
from ..rules import RecordScope
from ..schema.tables import build_metadata
from ..spec.model import Spec
from .access import Access
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
from .ids import is_valid_id, new_id
from .listing import (
    ListRequest,
    after_cursor,
    compile_filter,
    decode_cursor,
    encode_cursor,
    order_by,
    sort_keys,
)
from .serialize import RowSerializer
from .validation import BodyValidator


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None
    total: int | None = None


class RecordStore:
    """Record operations for every collection of one declaration, on one database."""

    def __init__(self, spec: Spec, engine: Engine):
        self.spec = spec
        self.engine = engine
        self.metadata = build_metadata(spec)
        self.tables: dict[str, Table] = dict(self.metadata.tables)
        self.access = Access(spec, self.tables)
        self.validators = {n: BodyValidator(n, c) for n, c in spec.collections.items()}
        self.serializers = {n: RowSerializer(c) for n, c in spec.collections.items()}

    # -- reading ---------------------------------------------------------------------------

    def list(self, collection: str, caller: Caller, request: ListRequest) -> Page:
        declared = self.spec.collections[collection]
        table = self.tables[collection]
        if self.access.is_closed(collection, "list", caller):
            raise Forbidden(f"only admins may list {collection}")
        limit = request.limit or self.spec.settings.page_size
        visible = frozenset(declared.fields)
        keys = sort_keys(request.sort, declared, visible)
        only = self._selection(collection, request.fields)
        where = [self.access.where(collection, "list", caller)]
        if request.filter:
            scope = RecordScope(
                self.spec, self.tables, collection, hop_filter=self.access.hop_filter(caller)
            )
            where.append(
                compile_filter(request.filter, scope, self.spec.settings.max_filter_length)
            )
        page_where = list(where)
        if request.cursor:
            page_where.append(after_cursor(table, keys, decode_cursor(request.cursor, keys)))
        query = select(table).where(*page_where).order_by(*order_by(table, keys)).limit(limit + 1)
        with self._reading() as connection:
            rows = connection.execute(query).mappings().all()
            total = None
            if request.total:
                count = select(func.count()).select_from(table).where(*where)
                total = connection.execute(count).scalar_one()
            more = len(rows) > limit
            rows = rows[:limit]
            serialize = self.serializers[collection]
            items = [serialize(row, only) for row in rows]
            if request.expand:
                self._expand(connection, collection, caller, rows, items, request.expand)
        cursor = encode_cursor(keys, rows[-1]) if more and rows else None
        return Page(items, cursor, total)

    def get(
        self,
        collection: str,
        caller: Caller,
        record_id: str,
        fields: tuple[str, ...] | None = None,
        expand: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        table = self.tables[collection]
        only = self._selection(collection, fields)
        if not is_valid_id(record_id):
            raise NotFound(f"no record '{record_id}' in {collection}")
        query = select(table).where(
            table.c.id == record_id, self.access.where(collection, "view", caller)
        )
        with self._reading() as connection:
            row = connection.execute(query).mappings().first()
            if row is None:
                raise NotFound(f"no record '{record_id}' in {collection}")
            item = self.serializers[collection](row, only)
            if expand:
                self._expand(connection, collection, caller, [row], [item], expand)
        return item

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
        connection: Connection,
        collection: str,
        caller: Caller,
        rows: list,
        items: list[dict[str, Any]],
        names: tuple[str, ...],
    ) -> None:
        declared = self.spec.collections[collection]
        for name in names:
            field = declared.fields.get(name)
            if field is None or field.type != "relation" or field.to is None:
                relations = [n for n, f in declared.fields.items() if f.type == "relation"]
                raise InvalidQuery(
                    f"cannot expand '{name}' (relations: {', '.join(relations) or 'none'})",
                    "expand",
                )
            target = self.tables[field.to]
            ids = {row[name] for row in rows if row[name] is not None}
            found: dict[str, dict[str, Any]] = {}
            if ids:
                query = select(target).where(
                    target.c.id.in_(ids), self.access.where(field.to, "view", caller)
                )
                serialize = self.serializers[field.to]
                for related in connection.execute(query).mappings():
                    found[related["id"]] = serialize(related)
            for row, item in zip(rows, items, strict=True):
                item.setdefault("expand", {})[name] = found.get(row[name])

    # -- writing ---------------------------------------------------------------------------

    def create(self, collection: str, caller: Caller, body: bytes | Mapping[str, Any]) -> dict:
        if self.access.is_closed(collection, "create", caller):
            raise Forbidden(f"only admins may create {collection}")
        table = self.tables[collection]
        values = self.validators[collection].for_create(
            body if isinstance(body, bytes) else dict(body)
        )
        now = _now()
        row = {**values, "id": new_id(), "created": now, "updated": now, "version": 1}
        with self._writing(table) as connection:
            self._check_create_rule(connection, collection, caller, row)
            self._check_relations(connection, collection, caller, values)
            created = (
                connection.execute(insert(table).values(row).returning(table)).mappings().one()
            )
        return self.serializers[collection](created)

    def update(
        self,
        collection: str,
        caller: Caller,
        record_id: str,
        body: bytes | Mapping[str, Any],
        if_match: set[int] | None = None,
    ) -> dict:
        table = self.tables[collection]
        values = self.validators[collection].for_update(
            body if isinstance(body, bytes) else dict(body)
        )
        if not is_valid_id(record_id):
            raise NotFound(f"no record '{record_id}' in {collection}")
        conditions = [table.c.id == record_id, self.access.where(collection, "update", caller)]
        if if_match is not None:
            conditions.append(table.c.version.in_(if_match))
        statement = (
            update(table)
            .where(*conditions)
            .values(**values, updated=_now(), version=table.c.version + 1)
            .returning(table)
        )
        with self._writing(table) as connection:
            self._check_relations(connection, collection, caller, values)
            row = connection.execute(statement).mappings().first()
            if row is None:
                self._explain_miss(connection, collection, caller, record_id, if_match, "update")
        return self.serializers[collection](row)

    def delete(
        self, collection: str, caller: Caller, record_id: str, if_match: set[int] | None = None
    ) -> None:
        table = self.tables[collection]
        if not is_valid_id(record_id):
            raise NotFound(f"no record '{record_id}' in {collection}")
        conditions = [table.c.id == record_id, self.access.where(collection, "delete", caller)]
        if if_match is not None:
            conditions.append(table.c.version.in_(if_match))
        with self._writing(table) as connection:
            result = connection.execute(delete(table).where(*conditions))
            if result.rowcount == 0:
                self._explain_miss(connection, collection, caller, record_id, if_match, "delete")

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

    def _check_create_rule(
        self, connection: Connection, collection: str, caller: Caller, row: dict[str, Any]
    ) -> None:
        """The create rule judged on the proposed record, inside the write transaction."""
        rule = self.access.where(collection, "create", caller, known={"body": row}, record=row)
        if isinstance(rule, True_):
            return
        if isinstance(rule, False_) or not connection.execute(select(rule)).scalar():
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

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as connection:
                yield connection
        except DBAPIError as exc:
            raise _translated(exc, None) from None

    @contextmanager
    def _writing(self, table: Table) -> Iterator[Connection]:
        try:
            with self.engine.connect() as connection:
                begin_immediate(connection)
                with connection.begin():
                    yield connection
        except DBAPIError as exc:
            raise _translated(exc, table) from None


def _translated(exc: DBAPIError, table: Table | None) -> Exception:
    error = translate(exc, table)
    return error if error is not None else exc


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
