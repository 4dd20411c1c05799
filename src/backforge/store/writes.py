"""Writes: create, update, increment, delete and link, each in the request's transaction
(`transactions.py`) with the caller's rules in the statement's WHERE. Around the statement:
validation and presets, related records checked, the create rule and field write rules judged
on the proposed record, the before/after hooks and the store's events; and when an UPDATE or
DELETE touches no row, one more SELECT to say why (404, 412 or 403).

These are RecordStore's methods (`create`, `update`, `increment`, `delete`, `link`), written as
functions taking the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, func, insert, select
from sqlalchemy import delete as delete_rows
from sqlalchemy import update as update_rows
from sqlalchemy.exc import IntegrityError

from .. import clock
from ..auth.passwords import hash_password
from ..spec.model import NUMBER_TYPES
from ..spec.relations import resolve_link
from .caller import Caller
from .errors import Conflict, FieldProblem, InvalidQuery, NotFound, ValidationFailed
from .events import WriteEvent, current_transaction
from .file_values import (
    UploadClaim,
    Uploads,
    cascaded_files,
    check_uploads,
    held_files,
    remove_after_commit,
    settle,
)
from .hooks import SYSTEM
from .ids import is_valid_id, new_id
from .prepared import ConnectionReader
from .reads import select_for
from .serials import next_serial
from .slugs import MAX_LENGTH as MAX_SLUG
from .slugs import unique_slug
from .validation import BodyValidator
from .write_checks import (
    apply_presets,
    check_create_rules,
    check_hook_relations,
    check_relations,
    explain_miss,
    hold_row,
    relation_values,
    visible_and,
)

if TYPE_CHECKING:
    from .records import RecordStore

# Field types whose values read back exactly as validated. The database normalises the others:
# time zones, decimals (SQLite stores REAL), floats (-0.0), JSON on PostgreSQL (JSONB reorders
# keys and turns large floats into integers).
EXACT_ROUND_TRIP = {
    "sqlite": frozenset({"text", "email", "url", "select", "relation", "int", "bool", "json"}),
    "postgresql": frozenset({"text", "email", "url", "select", "relation", "int", "bool"}),
}


def create(
    store: RecordStore,
    collection: str,
    caller: Caller,
    body: bytes | Mapping[str, Any],
    *,
    trusted: bool = False,
    presets: Mapping[str, Any] | None = None,
    uploads: Uploads | None = None,
) -> dict:
    """`trusted` skips the create rule (sign-up is governed by the auth options instead);
    validation, read-only fields, presets and field write rules still apply. `presets`:
    values the server sets (a declared route's parent), which the body may not hold; they
    are checked like any value (a related record must exist and be visible). `uploads`:
    the stored names of the files uploaded for each file field (`files.FileService.stage`)."""
    with UploadClaim(store, collection, uploads) as claim:
        if not trusted:
            store.access.check(collection, "create", caller)
        table = store.tables[collection]
        validator = _validator(store, collection, caller)
        values, sent = validator.for_create(_plain(body), frozenset(presets or ()))
        declared_files = store.file_fields[collection]
        if declared_files:
            check_uploads(store, collection, validator, uploads)
            settle(declared_files, values, uploads, None)
            sent |= frozenset(uploads or ())
        values.update(presets or {})
        links = store.links.take(collection, values)
        _hash_password(values)
        apply_presets(store, collection, caller, values)
        now = clock.now()
        row = {**values, "id": new_id(), "created": now, "updated": now, "version": 1}
        # Nothing runs after the INSERT when nothing observes it and nothing reads it back.
        as_sent = _stored_as_sent(store, collection, caller)
        with store.writing(table, alone=as_sent) as connection:
            claim.hand_over()  # a rollback takes the uploads back
            # Related records are checked before hooks, which may rely on them existing.
            check_relations(store, connection, collection, caller, row)
            for name, field in store._slugs[collection]:
                if row.get(name) is None:
                    room = (field.max_length or MAX_SLUG) - 8  # for a suffix such as -2
                    source = row.get(field.slug_from or "")
                    row[name] = unique_slug(connection, table, name, source, min(room, MAX_SLUG))
            for name in store._serials[collection]:
                row[name] = next_serial(connection, store._counters, table, name)
            event = WriteEvent(collection, "create", caller, values=row, record_id=row["id"])
            checked = relation_values(store, collection, row)
            store.hooks.run("before", event, store)
            check_hook_relations(store, connection, collection, checked, row)
            validator.missing_required(row)  # a read-only field a hook was to fill
            check_create_rules(store, connection, collection, caller, row, sent, trusted)
            _insert(store, connection, collection, row)
            if links:
                store.links.write(connection, collection, caller, row["id"], links, replace=False)
            _after(store, connection, event)
            if as_sent:
                return store.serializers[collection](store._blank[collection] | row)
            return _read_back(store, connection, collection, caller, row["id"])


def update(
    store: RecordStore,
    collection: str,
    caller: Caller,
    record_id: str,
    body: bytes | Mapping[str, Any],
    if_match: set[int] | None = None,
    uploads: Uploads | None = None,
) -> dict:
    with UploadClaim(store, collection, uploads) as claim:
        store.access.check(collection, "update", caller, per_record=True)
        table = store.tables[collection]
        validator = _validator(store, collection, caller)
        values = validator.for_update(_plain(body))
        declared_files = store.file_fields[collection]
        if declared_files:
            check_uploads(store, collection, validator, uploads)
        links = store.links.take(collection, values)
        _hash_password(values)
        if not is_valid_id(record_id):
            raise NotFound(f"no record '{record_id}' in {collection}")
        conditions = [table.c.id == record_id, *visible_and(store, collection, "update", caller)]
        for name in dict.fromkeys([*values, *(uploads or ())]):  # an upload writes its field
            rule = store.access.write_rule(collection, name, caller)
            if rule is not None:
                conditions.append(rule)
        if if_match is not None:
            conditions.append(table.c.version.in_(if_match))
        with store.writing(table) as connection:
            claim.hand_over()  # a rollback takes the uploads back
            event = WriteEvent(collection, "update", caller, values=values, record_id=record_id)
            observed = _observed(store, "update", collection)
            if observed:
                # Hooks see the record before the change: lock it (if the caller may change
                # it at all), read it, let before-hooks adjust the values, then write.
                hold_row(
                    store, connection, table, conditions, collection, caller, record_id, if_match
                )
                event.old = _system_record(store, connection, collection, record_id)
            removed: list[str] = []
            if declared_files and (uploads or any(name in values for name in declared_files)):
                old = held_files(store, connection, collection, record_id)
                removed = settle(declared_files, values, uploads, old)
            check_relations(store, connection, collection, caller, values)
            if observed:
                checked = relation_values(store, collection, values)
                store.hooks.run("before", event, store)
                check_hook_relations(store, connection, collection, checked, values)
            if "password_hash" in values:
                # In the UPDATE's transaction: if the UPDATE is refused, its rollback undoes this.
                for listener in store.events.password_set:
                    listener(connection, collection, record_id)
            statement = (
                update_rows(table)
                .where(*conditions)
                .values(**values, updated=clock.now(), version=table.c.version + 1)
            )
            if connection.execute(statement).rowcount == 0:
                explain_miss(store, connection, collection, caller, record_id, if_match, "update")
            remove_after_commit(store, {collection: removed})
            if links:
                store.links.write(connection, collection, caller, record_id, links, replace=True)
            _after(store, connection, event)
            return _read_back(store, connection, collection, caller, record_id)


def increment(
    store: RecordStore, collection: str, caller: Caller, record_id: str, field: str, by: int | float
) -> dict:
    """field = field + by in one UPDATE, under the view and update rules and the field's
    write rule; a result beyond its min or max changes nothing and is a 422."""
    store.access.check(collection, "update", caller, per_record=True)
    declared = store.spec.collections[collection].fields.get(field)
    if declared is None or declared.type not in NUMBER_TYPES:
        raise InvalidQuery(f"{field} is not a number field of {collection}", "field")
    if isinstance(by, bool) or not isinstance(by, int | float | Decimal):
        raise InvalidQuery("by is a number", "by")
    if (declared.readonly and not caller.is_admin) or declared.hidden or declared.serial:
        raise ValidationFailed([FieldProblem(f"/{field}", "this field is read-only")])
    if not is_valid_id(record_id):
        raise NotFound(f"no record '{record_id}' in {collection}")
    table = store.tables[collection]
    column = table.c[field]
    step = Decimal(str(by)) if declared.type == "decimal" else by
    current = func.coalesce(column, 0)  # an empty number counts from 0
    conditions = [table.c.id == record_id, *visible_and(store, collection, "update", caller)]
    rule = store.access.write_rule(collection, field, caller)
    if rule is not None:
        conditions.append(rule)
    bounds = []
    if declared.min is not None:
        bounds.append(current + step >= declared.min)
    if declared.max is not None:
        bounds.append(current + step <= declared.max)
    with store.writing(table) as connection:
        event = WriteEvent(collection, "update", caller, values={}, record_id=record_id)
        if _observed(store, "update", collection):  # listeners judge the change (`when:`)
            event.old = _system_record(store, connection, collection, record_id)
        statement = (
            update_rows(table)
            .where(*conditions, *bounds)
            .values({field: current + step, "updated": clock.now(), "version": table.c.version + 1})
        )
        if connection.execute(statement).rowcount == 0:
            within = select(table.c.id).where(*conditions)
            if bounds and connection.execute(within).first() is not None:
                message = f"{field} would leave its bounds ({declared.min} to {declared.max})"
                raise ValidationFailed([FieldProblem(f"/{field}", message)])
            explain_miss(store, connection, collection, caller, record_id, None, "update")
        event.values = {field: None}
        _after(store, connection, event)
        return _read_back(store, connection, collection, caller, record_id)


def delete(
    store: RecordStore,
    collection: str,
    caller: Caller,
    record_id: str,
    if_match: set[int] | None = None,
) -> None:
    store.access.check(collection, "delete", caller, per_record=True)
    table = store.tables[collection]
    if not is_valid_id(record_id):
        raise NotFound(f"no record '{record_id}' in {collection}")
    conditions = [table.c.id == record_id, *visible_and(store, collection, "delete", caller)]
    if if_match is not None:
        conditions.append(table.c.version.in_(if_match))
    with store.writing(table) as connection:
        event = WriteEvent(collection, "delete", caller, record_id=record_id)
        if _observed(store, "delete", collection):
            hold_row(store, connection, table, conditions, collection, caller, record_id, if_match)
            event.old = _system_record(store, connection, collection, record_id)
            store.hooks.run("before", event, store)
        # Their files are read before the rows (and those the deletion cascades to) are gone.
        going: dict[str, list[str]] = {}
        if store.deletes_files[collection]:
            going = cascaded_files(store, connection, collection, record_id)
        try:
            result = connection.execute(delete_rows(table).where(*conditions))
        except IntegrityError:
            raise _still_referenced(store, collection) from None
        if result.rowcount == 0:
            explain_miss(store, connection, collection, caller, record_id, if_match, "delete")
        remove_after_commit(store, going)
        _after(store, connection, event)


def link(
    store: RecordStore,
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
    declared = store.spec.collections[collection].relations[relation]
    if declared.stored:
        store.access.check(collection, "update", caller, per_record=True)
        table = store.tables[collection]
        with store.writing(table) as connection:
            values = {relation: None}
            event = WriteEvent(collection, "update", caller, values=values, record_id=record_id)
            if _observed(store, "update", collection):  # listeners judge the change (`when:`)
                event.old = _system_record(store, connection, collection, record_id)
            statement = (
                update_rows(table)
                .where(table.c.id == record_id, *visible_and(store, collection, "update", caller))
                .values(updated=clock.now(), version=table.c.version + 1)
            )
            if connection.execute(statement).rowcount == 0:
                explain_miss(store, connection, collection, caller, record_id, None, "update")
            store.links.change(connection, collection, caller, record_id, relation, member_id, add)
            # An update of the record, as after-hooks, the outbox and the cache hear of it.
            _after(store, connection, event)
        return
    link = resolve_link(store.spec, collection, declared, relation)
    assert link.far is not None
    through = store.tables[link.table]
    with store.writing(through) as connection:
        existing = connection.execute(
            select(through.c.id).where(
                through.c[link.near] == record_id, through.c[link.far] == member_id
            )
        ).scalar()
        if add and existing is None:
            presets = {link.near: record_id, link.far: member_id}
            create(store, link.table, caller, {}, presets=presets)
        elif not add and existing is not None:
            delete(store, link.table, caller, existing)


def _still_referenced(store: RecordStore, collection: str) -> Conflict:
    """A delete a relation with `on_delete: restrict` refuses, naming the relations that may
    hold the record (SQLite does not say which one did)."""
    holders = [
        f"{name}.{field_name}"
        for name, declared in store.spec.collections.items()
        for field_name, field in declared.fields.items()
        if field.type == "relation" and field.to == collection and field.on_delete == "restrict"
    ]
    if not holders:
        return Conflict("the record is referenced by a record that prevents this")
    return Conflict(
        f"records still refer to this one through {', '.join(holders)} (on_delete: restrict); "
        "delete or change them first"
    )


def _validator(store: RecordStore, collection: str, caller: Caller) -> BodyValidator:
    return (store.admin_validators if caller.is_admin else store.validators)[collection]


def _hash_password(values: dict[str, Any]) -> None:
    password = values.pop("password", None)
    if password is not None:
        values["password_hash"] = hash_password(password)


def _insert(
    store: RecordStore, connection: Connection, collection: str, row: dict[str, Any]
) -> None:
    table = store.tables[collection]
    names = tuple(row)
    statement = store.prepared.get(
        ("insert", collection, names),
        lambda: insert(table).values({n: bindparam(n, row[n], table.c[n].type) for n in names}),
    )
    transaction = current_transaction.get()
    statement.execute(connection, row, alone=transaction is not None and transaction.alone)


def _stored_as_sent(store: RecordStore, collection: str, caller: Caller) -> bool:
    """Whether the record just inserted reads back exactly as it was written, so that
    reading it back can be skipped: no hook or listener could have changed the values,
    every field's type round-trips unchanged, no read rule hides a field from the caller."""
    return (
        collection in store._round_trips
        and not store.links.of(collection)
        and not _observed(store, "create", collection)
        and (caller.is_admin or not store.guarded[collection])
    )


def _observed(store: RecordStore, operation: str, collection: str) -> bool:
    return bool(store.events.written) or store.hooks.wants(operation, collection)


def _system_record(
    store: RecordStore, connection: Connection, collection: str, record_id: str
) -> dict | None:
    table = store.tables[collection]
    row = connection.execute(select_for(store, collection, SYSTEM).where(table.c.id == record_id))
    found = row.mappings().first()
    return None if found is None else store.serializers[collection](found)


def _after(store: RecordStore, connection: Connection, event: WriteEvent) -> None:
    """After the write, still inside the transaction: after-hooks, then listeners; the
    event is kept for after-commit work."""
    if store.events.records:
        current_transaction.get().records.append(  # type: ignore[union-attr]
            (event.collection, event.operation, str(event.record_id))
        )
    if not _observed(store, event.operation, event.collection):
        current_transaction.get().collections.add(event.collection)  # type: ignore[union-attr]
        return
    if event.operation != "delete":
        event.record = _system_record(store, connection, event.collection, str(event.record_id))
    store.hooks.run("after", event, store)
    for listener in store.events.written:
        listener(event)
    transaction = current_transaction.get()
    assert transaction is not None
    transaction.committed.append(event)
    transaction.collections.add(event.collection)


def _read_back(
    store: RecordStore, connection: Connection, collection: str, caller: Caller, record_id: str
):
    table = store.tables[collection]
    query = select_for(store, collection, caller).where(table.c.id == record_id)
    record = store.serializers[collection](connection.execute(query).mappings().one())
    if store.links.of(collection):
        store.links.load(ConnectionReader(connection), collection, caller, [record])
    return record


def _plain(body: bytes | Mapping[str, Any]) -> bytes | dict[str, Any]:
    return body if isinstance(body, bytes) else dict(body)
