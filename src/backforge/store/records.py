"""RecordStore: the record operations of one declaration on one database, each one statement
with the caller's rule in its WHERE.

The store holds what is built once per declaration (tables, rules, validators, serializers,
prepared statements, caches) and takes its operations from a few modules, one job each:

- `reads.py`: list, find, get, aggregate; totals, expand, field selection
- `writes.py`: create, update, increment, delete, link; hooks and events around them
  (`write_checks.py`: presets, related records, create and write rules, why a write missed)
- `transactions.py`: the transaction a request runs in, the connections reads take, and
  database errors translated into the store's own

Those modules are plain functions taking the store first; the class binds them as its
methods below. A reader finds an operation in one hop, with no mixins to trace, and a request
pays no delegating call on the hot paths.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, Table

from ..schema.tables import SERIALS_TABLE, build_metadata
from ..spec.model import Spec
from ..spec.server import Database
from . import reads, transactions, writes
from .access import Access
from .events import StoreEvents
from .group_commit import GroupCommit
from .hooks import Hooks
from .links import Links
from .prepared import BoundedMap, DirectSqlite, PreparedCache, write_on_sqlite
from .reads import Narrowing, Page
from .serialize import RowSerializer
from .shapes import Shapes
from .validation import BodyValidator
from .writes import EXACT_ROUND_TRIP

if TYPE_CHECKING:
    from ..files.service import FileService
    from .postgres_loop import DirectPostgres, LoopEngines

__all__ = ["Narrowing", "Page", "RecordStore"]


class RecordStore:
    """Record operations for every collection of one declaration, on one database."""

    def __init__(
        self,
        spec: Spec,
        engine: Engine,
        hooks: Hooks | None = None,
        database: Database | None = None,
    ):
        """`database`: the PostgreSQL pool settings (the declaration's by default)."""
        self.spec = spec
        self.engine = engine
        self.hooks = hooks or Hooks()
        # Who hears of the writes: the jobs outbox, the response cache, the auth service.
        self.events = StoreEvents()
        self.metadata = build_metadata(spec)
        self.tables: dict[str, Table] = {n: self.metadata.tables[n] for n in spec.collections}
        self.access = Access(spec, self.tables)
        sqlite = engine.dialect.name == "sqlite"
        # On PostgreSQL, calls from the event loop run there, through asyncpg (postgres_loop).
        self.loop: LoopEngines | None = None
        self._direct_postgres: DirectPostgres | None = None
        if engine.dialect.name == "postgresql":  # asyncpg and greenlet come with [postgres]
            from .postgres_loop import DirectPostgres, LoopEngines, write_on_asyncpg

            self.loop = LoopEngines.for_engine(engine, database or spec.server.database)
            self._direct_postgres = DirectPostgres(self.loop) if self.loop else None
        if sqlite:
            self.prepared = PreparedCache(engine.dialect, write_on_sqlite)
        elif self.loop is not None:
            self.prepared = PreparedCache(self.loop.dialect, write_on_asyncpg)
        else:
            self.prepared = PreparedCache(None)
        # Reads on SQLite go straight to the driver, on a connection kept per thread.
        self._direct = DirectSqlite(engine) if sqlite else None
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
        # Fields the store numbers on create, and their counters.
        self._serials = {
            name: [n for n, f in collection.fields.items() if f.serial]
            for name, collection in spec.collections.items()
        }
        self._counters: Table | None = self.metadata.tables.get(SERIALS_TABLE)
        # File fields, the storage their files live in (set by the app; None: no uploads),
        # and which deletes take files with them (their own, or by cascade).
        self.file_fields = {
            name: {n: f for n, f in collection.fields.items() if f.type == "file"}
            for name, collection in spec.collections.items()
        }
        self.files: FileService | None = None
        self.cascades = _cascades(spec)
        self.deletes_files = {
            name: _reaches_files(name, self.cascades, self.file_fields) for name in spec.collections
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

    def connect(self) -> Connection:
        """A connection for where this runs: a greenlet on the event loop (PostgreSQL through
        asyncpg, see postgres_loop) or anywhere else (the engine's own driver)."""
        found = self.loop.current() if self.loop is not None else None
        return (found.engine if found is not None else self.engine).connect()

    # -- reading (reads.py) -------------------------------------------------------------------
    list = reads.list_page
    find = reads.find
    get = reads.get
    aggregate = reads.aggregate
    select_for = reads.select_for

    # -- writing (writes.py) ------------------------------------------------------------------
    create = writes.create
    update = writes.update
    increment = writes.increment
    delete = writes.delete
    link = writes.link

    # -- transactions (transactions.py) -------------------------------------------------------
    reader = transactions.reader
    reading = transactions.reading
    writing = transactions.writing
    transaction = transactions.transaction


def _cascades(spec: Spec) -> dict[str, list[tuple[str, str]]]:
    """(collection, relation field) deleted with a record of each collection."""
    cascades: dict[str, list[tuple[str, str]]] = {}
    for name, collection in spec.collections.items():
        for field_name, field in collection.fields.items():
            if field.type == "relation" and field.on_delete == "cascade" and field.to:
                cascades.setdefault(field.to, []).append((name, field_name))
    return cascades


def _reaches_files(
    collection: str, cascades: dict[str, list[tuple[str, str]]], file_fields: dict[str, dict]
) -> bool:
    pending, seen = [collection], set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        if file_fields.get(name):
            return True
        pending += [child for child, _field in cascades.get(name, ())]
    return False
