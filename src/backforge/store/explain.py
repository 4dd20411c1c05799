"""Why a rule admits or refuses a caller on a record: the rule, what it became for this caller,
and the verdict of each of its top-level parts, evaluated in the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, literal, select
from sqlalchemy.sql.elements import False_, True_

from ..rules import compile_expression
from ..rules.ast import And, Node, Or, unparse
from .access import ADMINS_ONLY, PUBLIC, Operation
from .caller import Caller
from .errors import InvalidQuery
from .records import RecordStore


def explain(
    store: RecordStore, collection: str, operation: Operation, caller: Caller, record_id: str | None
) -> dict[str, Any]:
    if collection not in store.tables:
        raise InvalidQuery(f"unknown collection '{collection}'", "collection")
    rule = store.access.rule(collection, operation)
    result: dict[str, Any] = {
        "collection": collection,
        "operation": operation,
        "caller": {"id": caller.id, "collection": caller.collection, "admin": caller.is_admin},
        "record": record_id,
        "rule": rule if isinstance(rule, str) or rule is None else unparse(rule),
    }
    if caller.is_admin:
        return {**result, "admitted": True, "reason": "admins pass every rule"}
    if rule is ADMINS_ONLY:
        return {**result, "admitted": False, "reason": f"no {operation} rule: only admins pass"}
    if rule == PUBLIC:
        return {**result, "admitted": True, "reason": "the rule is public"}
    assert not isinstance(rule, str)
    if operation == "create":
        return {
            **result,
            "admitted": None,
            "reason": "a create rule is judged on the proposed record when it is sent",
        }
    parts = rule.items if isinstance(rule, And | Or) else (rule,)
    joiner = "all of" if isinstance(rule, And) else "any of"
    verdicts = [
        {
            "expression": unparse(part),
            "result": _evaluate(store, collection, caller, part, record_id),
        }
        for part in parts
    ]
    admitted = _evaluate(store, collection, caller, rule, record_id)
    reason = (
        f"{'admitted' if admitted else 'refused'}: the rule needs {joiner} its parts"
        if len(parts) > 1
        else ("admitted" if admitted else "refused")
    )
    if record_id is not None and admitted is None:
        reason = "no such record"
    return {**result, "admitted": admitted, "reason": reason, "parts": verdicts}


def _evaluate(
    store: RecordStore, collection: str, caller: Caller, node: Node, record_id: str | None
) -> bool | None:
    """True/False for this caller (and record); None when the record does not exist."""
    condition = compile_expression(node, store.access.scope(collection, caller, guard_fields=False))
    if isinstance(condition, True_ | False_) and record_id is None:
        return isinstance(condition, True_)
    if record_id is None:
        return None  # depends on the record, and none was named
    table = store.tables[collection]
    query = select(case((condition, literal(True)), else_=literal(False))).where(
        table.c.id == record_id
    )
    with store.engine.connect() as connection:
        value = connection.execute(query).scalar()
    return None if value is None else bool(value)


def caller_from_database(store: RecordStore, collection: str | None, user_id: str | None) -> Caller:
    """The caller an account id stands for (anonymous when no id is given)."""
    if user_id is None:
        return Caller()
    if collection not in store.tables or store.spec.collections[collection].auth_options is None:
        raise InvalidQuery(f"'{collection}' is not an auth collection", "caller_collection")
    table = store.tables[collection]
    with store.engine.connect() as connection:
        admin = connection.execute(select(table.c.admin).where(table.c.id == user_id)).scalar()
    if admin is None:
        raise InvalidQuery(f"no account '{user_id}' in {collection}", "caller")
    return Caller(id=user_id, collection=collection, is_admin=bool(admin), method="token")
