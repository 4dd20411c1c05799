"""Broken function level authorization: low-privilege users succeeding on admin operations,
and changing or deleting what an admin made (a customer editing or removing a catalogue
item)."""

from __future__ import annotations

from ..client import Exchange, Identity, WriteNotAllowed
from ..context import AuditContext, CreatedObject
from ..findings import Severity
from ..openapi import Operation
from ..values import example_value, properties
from .bola import names

NAME = "function_authz"
CATEGORY = "API5:2023"
SAFE = {"GET", "HEAD"}


def restricted_operations(ctx: AuditContext) -> dict[str, list[str]]:
    """Operation key -> roles allowed, from the role map, else admin-looking operations."""
    mapped = (ctx.options.roles or {}).get("operations") or {}
    if mapped:
        out = {}
        for key, roles in mapped.items():
            method, _, path = key.strip().partition(" ")
            out[f"{method.upper()} {path.strip()}"] = [str(r) for r in roles]
        return out
    return {op.key: ["admin"] for op in ctx.doc.operations if ctx.is_admin_op(op)}


def run(ctx: AuditContext) -> None:
    _check_writing_admin_objects(ctx)
    restricted = restricted_operations(ctx)
    if not restricted:
        return
    callers: list[Identity] = ctx.low_privilege_users()
    if not callers:
        ctx.note(
            "function-level checks need a user known to be ordinary (a sign-up operation, or "
            "--roles naming a --user's plain role)"
        )
        return
    for key, roles in restricted.items():
        method, _, path = key.partition(" ")
        op = ctx.doc.find(method, path)
        if op is None:
            ctx.note(f"role map names {key}, which the document does not have")
            continue
        if op.method not in SAFE and not ctx.options.allow_writes:
            ctx.note(f"{key} not tried by function-level checks: it writes (use --allow-writes)")
            continue
        for user in callers:
            if ctx.roles_of.get(user.name, "user") in roles:
                continue
            _try(ctx, op, user, roles)


def _try(ctx: AuditContext, op: Operation, user: Identity, roles: list[str]) -> None:
    try:
        exchange = ctx.call(
            op,
            identity=user,
            path_values=ctx.path_values_for(op, user, NAME),
            body=ctx.example_body(op),
            check=NAME,
            own_object=False,
        )
    except WriteNotAllowed:
        return
    if 200 <= exchange.status < 300:
        _report(
            ctx,
            op,
            "Low-privilege user succeeds on a privileged operation",
            f"{user.name} (role {ctx.roles_of.get(user.name, 'user')}) called {op.key}, "
            f"meant for {', '.join(roles)}, and got {exchange.status}.",
            exchange,
        )


def _check_writing_admin_objects(ctx: AuditContext) -> None:
    """An object an admin created (that does not name the user) changed or deleted by an
    ordinary user: a change the admin reads back, a deletion the admin no longer finds. Only
    with --allow-writes: nothing is changed or deleted without it, not even what the audit
    made."""
    admins, callers = ctx.admin_users(), ctx.low_privilege_users()
    if not admins or not callers:
        return
    if not ctx.options.allow_writes:
        ctx.note("ordinary users changing what an admin made: not tried (use --allow-writes)")
        return
    admin, user = admins[0], callers[0]
    for create in ctx.collection_creates():
        item_ops = [op for op in ctx.item_ops(create) if op.path_params]
        writes = [op for op in item_ops if op.method in {"PUT", "PATCH", "DELETE"}]
        read = next((op for op in item_ops if op.method == "GET"), None)
        if not writes:
            continue
        obj = ctx.create_object(create, admin, NAME)
        if obj is None or names(obj.body, user):
            continue
        for op in sorted(writes, key=lambda op: op.method == "DELETE"):  # deletion last
            try:
                if op.method == "DELETE":
                    _try_deleting(ctx, op, read, obj, admin, user)
                else:
                    _try_changing(ctx, op, read, obj, admin, user)
            except WriteNotAllowed:
                continue


def _read_back(
    ctx: AuditContext, read: Operation | None, obj: CreatedObject, admin: Identity
) -> Exchange | None:
    if read is None:
        return None
    where = obj.where(read)
    return ctx.call(read, identity=admin, path_values=where, check=NAME)


def _try_changing(
    ctx: AuditContext,
    op: Operation,
    read: Operation | None,
    obj: CreatedObject,
    admin: Identity,
    user: Identity,
) -> None:
    writable = ctx.writable_properties(op)
    field = next(
        (k for k, v in obj.sent.items() if k in writable and isinstance(v, str)),
        None,
    )
    if field is None:
        return
    schema = properties(op.body_schema).get(field, {})
    value = example_value(schema, field)
    if value == obj.sent[field]:
        return
    body = {**obj.sent, field: value} if op.method == "PUT" else {field: value}
    where = obj.where(op)
    exchange = ctx.call(
        op, identity=user, path_values=where, body=body, check=NAME, own_object=True
    )
    if not 200 <= exchange.status < 300:
        return
    again = _read_back(ctx, read, obj, admin)
    shown = again.json() if again is not None and again.status == 200 else exchange.json()
    if not isinstance(shown, dict) or shown.get(field) != value:
        return  # not kept: the answer was not a change
    _report(
        ctx,
        op,
        "An ordinary user changes what an admin created",
        f"{user.name} (role {ctx.roles_of.get(user.name, 'user')}) changed {field!r} through "
        f"{op.key} on an object {admin.name} created through {obj.create.key}.",
        exchange,
    )


def _try_deleting(
    ctx: AuditContext,
    op: Operation,
    read: Operation | None,
    obj: CreatedObject,
    admin: Identity,
    user: Identity,
) -> None:
    where = obj.where(op)
    exchange = ctx.call(op, identity=user, path_values=where, check=NAME, own_object=True)
    if not 200 <= exchange.status < 300:
        return
    again = _read_back(ctx, read, obj, admin)
    if again is not None and again.status != 404:
        return  # still there: the answer was not a deletion
    _report(
        ctx,
        op,
        "An ordinary user deletes what an admin created",
        f"{user.name} (role {ctx.roles_of.get(user.name, 'user')}) deleted through "
        f"{op.key} an object {admin.name} created through {obj.create.key}.",
        exchange,
    )


def _report(ctx: AuditContext, op: Operation, title: str, detail: str, exchange: Exchange) -> None:
    ctx.report(
        id="bfla-privileged-operation",
        title=title,
        severity=Severity.HIGH,
        category=CATEGORY,
        operation=op.key,
        check=NAME,
        detail=detail,
        fix="Check the caller's role on every privileged operation, denying by default.",
        evidence=[exchange],
    )
