"""Broken object level authorization: user B reading, changing or deleting user A's objects."""

from __future__ import annotations

import re
from typing import Any

from ..auth import learn_account_id
from ..client import Exchange, Identity, WriteNotAllowed
from ..context import AuditContext, CreatedObject
from ..findings import Severity

NAME = "bola"
CATEGORY = "API1:2023"
OWNER_KEYS = (
    "owner",
    "owner_id",
    "ownerId",
    "user",
    "user_id",
    "userId",
    "customer",
    "customer_id",
    "customerId",
    "author",
    "author_id",
    "authorId",
    "created_by",
    "createdBy",
    "account",
    "account_id",
    "accountId",
    "tenant",
    "tenant_id",
    "tenantId",
)
# Path parameters that name an account: by its name (`/users/{username}/password`) or its id.
USER_NAME_PARAM = re.compile(r"^(username|user_?name|user|login|email|account)$", re.IGNORECASE)
USER_ID_PARAM = re.compile(r"^(user_?id|uid|account_?id)$", re.IGNORECASE)
ACCOUNT_SETTING = re.compile(r"/(password|email|role|roles|settings|profile|reset)/?$", re.I)
FIX = (
    "Check on every object access that the caller owns the object (or is allowed to see it), "
    "ideally inside the query itself (WHERE owner = :caller), and answer 404 otherwise."
)


def is_owned(obj: dict[str, Any], owner: Identity | None = None) -> bool:
    """Whether an object belongs to someone: a field named like an owner, or a value naming the
    owner's account — its username, email or id as text (`"patient": "ann"`); short values
    and numbers are not taken for one (a `doctor_id` of 1 is no account)."""
    if any(obj.get(key) not in (None, "", []) for key in OWNER_KEYS):
        return True
    return owner is not None and names(obj, owner)


def names(obj: dict[str, Any], identity: Identity) -> bool:
    """Whether a value of the object is the identity's username, email or id (as text of 3
    characters or more: a `doctor_id` of 1 is no account)."""
    marks = {m for m in (identity.username, identity.user_id) if m and len(m) >= 3}
    return any(isinstance(value, str) and value in marks for value in obj.values())


def run(ctx: AuditContext) -> None:
    a, b = ctx.user_a, ctx.user_b
    if a is None or b is None:
        ctx.note(
            "object-level authorization needs two users (--user twice, or a sign-up operation)"
        )
        return
    for identity in (a, b):
        learn_account_id(ctx, identity)
    for create in ctx.collection_creates():
        obj = ctx.object_of(create, a, NAME)
        if obj is None or not is_owned(obj.body, a):
            continue
        if names(obj.body, b):  # B is a party to it (added to A's conversation): B may see it
            continue
        _check_list(ctx, create.path, obj)
        for op in ctx.item_ops(create):
            if op.method == "GET":
                _check_read(ctx, op, obj)
            elif op.method in {"PUT", "PATCH"}:
                _check_write(ctx, op, obj)
            elif op.method == "DELETE" and ctx.options.allow_writes:
                _check_delete(ctx, op, obj)
    # Account paths are probed even when they look like auth flows (/users/{u}/password). A
    # POST is an action on the account only for its settings: following or messaging another
    # user by name is what such a path is for.
    for op in ctx.operations("PUT", "PATCH", "POST"):
        if op.method != "POST" or ACCOUNT_SETTING.search(op.path):
            _check_account_path(ctx, op)


def _account_values(ctx: AuditContext, op: Any) -> dict[str, Any] | None:
    """Path values naming user A's account, when every parameter of the path names one."""
    a = ctx.user_a
    if a is None or not op.path_params:
        return None
    values: dict[str, Any] = {}
    for param in op.path_params:
        if USER_NAME_PARAM.match(param.name) and a.username:
            values[param.name] = a.username
        elif USER_ID_PARAM.match(param.name) and a.user_id:
            values[param.name] = a.user_id
        else:
            return None
    return values


def _check_account_path(ctx: AuditContext, op: Any) -> None:
    """User B writes to a path that names user A's account (`PUT /users/{username}/password`):
    the API must take the account from the caller, not from the path. Only on an account the
    audit signed up itself (or with --allow-writes)."""
    a, b = ctx.user_a, ctx.user_b
    values = _account_values(ctx, op)
    if values is None or a is None or b is None:
        return
    if not (a.self_registered or ctx.options.allow_writes):
        return
    body = ctx.example_body(op)
    try:
        exchange = ctx.call(
            op, identity=b, path_values=values, body=body, check=NAME, own_object=True
        )
    except WriteNotAllowed:
        return
    if not 200 <= exchange.status < 300:
        return
    if isinstance(body, dict) and isinstance(body.get("password"), str):
        a.password = body["password"]  # what A's password now is, for the checks after this
    ctx.report(
        id="bola-account-change",
        title="Another user changes a user's account through its name in the path",
        severity=Severity.CRITICAL,
        category=CATEGORY,
        operation=op.key,
        check=NAME,
        detail=f"{b.name} called {op.key} with {a.name}'s account in the path "
        f"({', '.join(f'{k}={v}' for k, v in values.items())}) and got {exchange.status}.",
        fix="Take the account from the caller's credentials, or check that the account in the "
        "path is the caller's own, before changing it.",
        evidence=[exchange],
    )


def _contains_id(data: Any, object_id: str) -> bool:
    if isinstance(data, dict):
        if any(str(data.get(k)) == object_id for k in ("id", "uuid", "_id")):
            return True
        return any(_contains_id(v, object_id) for v in data.values() if isinstance(v, dict | list))
    if isinstance(data, list):
        return any(_contains_id(v, object_id) for v in data)
    return False


def _anonymous_ok(ctx: AuditContext, op_key: str, exchange: Exchange) -> bool:
    """Whether the object is public by design: then another user reading it is no finding."""
    op = ctx.doc.find(*op_key.split(" ", 1))
    if op is None:
        return False
    anonymous = ctx.client.send(op.method, exchange.url, operation=op.key, check=NAME)
    return 200 <= anonymous.status < 300


def _check_list(ctx: AuditContext, path: str, obj: CreatedObject) -> None:
    op = ctx.doc.find("GET", path)
    if op is None or op.path_params:
        return
    exchange = ctx.call(op, identity=ctx.user_b, check=NAME)
    if 200 <= exchange.status < 300 and _contains_id(exchange.json(), obj.id):
        if _anonymous_ok(ctx, op.key, exchange):
            return
        _report(ctx, op.key, "lists", exchange, obj, Severity.HIGH)


def _check_read(ctx: AuditContext, op: Any, obj: CreatedObject) -> None:
    values = obj.where(op)
    exchange = ctx.call(op, identity=ctx.user_b, path_values=values, check=NAME)
    if 200 <= exchange.status < 300 and _contains_id(exchange.json(), obj.id):
        if _anonymous_ok(ctx, op.key, exchange):
            return
        _report(ctx, op.key, "reads", exchange, obj, Severity.HIGH)


def _check_write(ctx: AuditContext, op: Any, obj: CreatedObject) -> None:
    values = obj.where(op)
    body = {k: v for k, v in obj.sent.items() if k in ctx.writable_properties(op)} or obj.sent
    try:
        exchange = ctx.call(
            op, identity=ctx.user_b, path_values=values, body=body, check=NAME, own_object=True
        )
    except WriteNotAllowed:
        return
    if 200 <= exchange.status < 300:
        _report(ctx, op.key, "changes", exchange, obj, Severity.HIGH)


def _check_delete(ctx: AuditContext, op: Any, obj: CreatedObject) -> None:
    values = obj.where(op)
    exchange = ctx.call(op, identity=ctx.user_b, path_values=values, check=NAME, own_object=True)
    if 200 <= exchange.status < 300:
        _report(ctx, op.key, "deletes", exchange, obj, Severity.CRITICAL)
        ctx.created.remove(obj)


def _report(
    ctx: AuditContext,
    operation: str,
    verb: str,
    exchange: Exchange,
    obj: CreatedObject,
    severity: Severity,
) -> None:
    ctx.report(
        id=f"bola-{'read' if verb in {'reads', 'lists'} else verb.rstrip('s')}",
        title=f"Another user {verb} a user's object",
        severity=severity,
        category=CATEGORY,
        operation=operation,
        check=NAME,
        detail=f"{ctx.user_b.name if ctx.user_b else 'user B'} {verb} object {obj.id} that "
        f"{obj.owner.name} created through {obj.create.key}.",
        fix=FIX,
        evidence=[exchange],
    )
