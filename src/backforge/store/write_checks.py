"""What a write must pass, judged inside its transaction: values set to the caller, related
records that must exist (and be visible), the create rule and field write rules on the proposed
record, the row held for hooks; and, when a write touched no row, why (404, 412 or 403)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select
from sqlalchemy.sql.elements import False_, True_

from ..spec.semantics import CALLER_DEFAULT
from .access import Operation
from .caller import Caller
from .errors import FieldProblem, Forbidden, NotFound, PreconditionFailed, ValidationFailed

if TYPE_CHECKING:
    from .records import RecordStore


def apply_presets(
    store: RecordStore, collection: str, caller: Caller, values: dict[str, Any]
) -> None:
    """Fields that default to the caller (`default: auth.id`) and were not sent."""
    for name, field in store.spec.collections[collection].fields.items():
        if field.default == CALLER_DEFAULT and name not in values:
            if caller.id is None or caller.collection != field.to:
                message = f"{name} is set to the caller's account, so log in first"
                raise ValidationFailed([FieldProblem(f"/{name}", message)])
            values[name] = caller.id


def check_relations(
    store: RecordStore,
    connection: Connection,
    collection: str,
    caller: Caller,
    values: Mapping[str, Any],
) -> None:
    """Each related id must exist and be visible to the caller (or, for a field declared
    `reference: any`, exist: the caller names a record they may not see, such as a new
    team member, and learns only whether the id exists; or be the caller's own account)."""
    problems = []
    for name, field in store.spec.collections[collection].fields.items():
        value = values.get(name)
        if field.type != "relation" or value is None or field.to is None:
            continue
        target = store.tables[field.to]
        query = select(target.c.id).where(target.c.id == value)
        # The caller's own account is no secret to them, whether or not they may view it.
        itself = value == caller.id and field.to == caller.collection
        if field.reference == "visible" and not itself:
            query = query.where(store.access.where(field.to, "view", caller))
        if connection.execute(query).first() is None:
            problems.append(FieldProblem(f"/{name}", f"no record '{value}' in {field.to}"))
    if problems:
        raise ValidationFailed(problems)


def relation_values(store: RecordStore, collection: str, values: Mapping[str, Any]) -> dict:
    """The relation fields among `values`: what `check_hook_relations` compares against."""
    fields = store.spec.collections[collection].fields
    return {n: v for n, v in values.items() if n in fields and fields[n].type == "relation"}


def check_hook_relations(
    store: RecordStore,
    connection: Connection,
    collection: str,
    checked: Mapping[str, Any],
    values: Mapping[str, Any],
) -> None:
    """Relations a before-hook set or changed (`checked`: as they were when the client's values
    were checked). A hook is server code: the record it names must exist, not be visible to the
    caller; and the refusal names the field, never the id, which the caller may not know."""
    problems = []
    for name, value in relation_values(store, collection, values).items():
        to = store.spec.collections[collection].fields[name].to
        if value is None or to is None or (name in checked and checked[name] == value):
            continue
        target = store.tables[to]
        if connection.execute(select(target.c.id).where(target.c.id == value)).first() is None:
            problems.append(FieldProblem(f"/{name}", f"a hook set {name} to no record of {to}"))
    if problems:
        raise ValidationFailed(problems)


def check_create_rules(
    store: RecordStore,
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
        conditions.append(store.access.where(collection, "create", caller, known, record=row))
    for name in sent:
        rule = store.access.write_rule(collection, name, caller, record=row)
        if rule is not None:
            conditions.append(rule)
    for condition in conditions:
        if isinstance(condition, True_):
            continue
        if isinstance(condition, False_) or not connection.execute(select(condition)).scalar():
            raise Forbidden(f"you may not create this record in {collection}")


def visible_and(store: RecordStore, collection: str, operation: Operation, caller: Caller) -> list:
    """A record is changed or deleted only by callers who may also see it."""
    return [
        store.access.where(collection, "view", caller),
        store.access.where(collection, operation, caller),
    ]


def hold_row(
    store: RecordStore, connection, table, conditions, collection, caller, record_id, if_match
):
    """Hold the row for this transaction, or explain why the caller may not change it."""
    query = select(table.c.id).where(*conditions)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    if connection.execute(query).first() is None:
        explain_miss(store, connection, collection, caller, record_id, if_match, "change")


def explain_miss(
    store: RecordStore,
    connection: Connection,
    collection: str,
    caller: Caller,
    record_id: str,
    if_match: set[int] | None,
    operation: str,
) -> None:
    """Why a write touched no row: not visible (404), stale (412) or not allowed (403)."""
    table = store.tables[collection]
    visible = select(table.c.version).where(
        table.c.id == record_id, store.access.where(collection, "view", caller)
    )
    version = connection.execute(visible).scalar()
    if version is None:
        raise NotFound(f"no record '{record_id}' in {collection}")
    if if_match is not None and version not in if_match:
        raise PreconditionFailed(
            f"the record has changed (it is at version {version}); fetch it and retry"
        )
    raise Forbidden(f"you may not {operation} this record")
