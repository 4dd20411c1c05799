"""Mass assignment: privileged properties the client may not set, accepted and stored."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..client import Exchange, Identity, WriteNotAllowed
from ..context import AuditContext, CreatedObject
from ..findings import Severity
from ..openapi import Operation
from ..values import properties, schema_type

NAME = "mass_assignment"
CATEGORY = "API3:2023"
PRIVILEGED: dict[str, Any] = {
    "role": "admin",
    "roles": ["admin"],
    "admin": True,
    "is_admin": True,
    "isAdmin": True,
    "is_staff": True,
    "is_superuser": True,
    "superuser": True,
    "verified": True,
    "is_verified": True,
    "email_verified": True,
    "emailVerified": True,
    "balance": 1000000,
    "credit": 1000000,
    "permissions": ["*"],
    "owner": "__user_b__",
    "owner_id": "__user_b__",
    "user_id": "__user_b__",
    "customer": "__user_b__",
    "customer_id": "__user_b__",
}
PRIVILEGED_WORDS = ("admin", "staff", "super", "owner", "root", "manager")
# Server-computed amounts: a client that sets them pays what it likes. Probed when an answer
# has them and the request schema does not, with a value no server would compute.
COMPUTED_NUMBERS = frozenset(
    {"price", "total", "amount", "subtotal", "discount", "cost", "fee", "points", "score"}
)
# The caller's own resource, with no id in its path: PATCH /api/users/me, PUT /profile.
SELF_PATH = re.compile(r"/(me|self|profile|account|user)/?$", re.IGNORECASE)
# Read-only properties that are bookkeeping, not privilege.
_BOOKKEEPING = frozenset({"id", "created", "updated", "created_at", "updated_at", "version"})
FIX = (
    "Bind request bodies to an explicit list of writable fields (reject or drop the rest); "
    "mark server-controlled fields readOnly and never copy them from input."
)


def run(ctx: AuditContext) -> None:
    for op in ctx.operations("POST"):
        if op.body_schema is None or op is ctx.login_op or op.path_params:
            continue
        if op in ctx.collection_creates() or op is ctx.signup_op:
            _try_create(ctx, op)
    admins = ctx.admin_users()
    for obj in list(ctx.created):
        if obj.owner in admins:
            continue  # an administrator may set what clients may not
        for op in ctx.item_ops(obj.create):
            if op.method in {"PATCH", "PUT"}:
                _try_update(ctx, op, obj)
    for op in ctx.operations("PATCH", "PUT"):
        if SELF_PATH.search(op.path) and op.body_schema is not None and not ctx.is_auth_flow(op):
            _try_self_update(ctx, op)


def _injected(ctx: AuditContext, op: Operation) -> dict[str, Any]:
    writable = ctx.writable_properties(op)
    returned = {}
    for status, schema in op.responses.items():
        if status.startswith("2"):
            returned.update(properties(schema))
    out: dict[str, Any] = {}
    for name, schema in returned.items():
        if name in writable or name in PRIVILEGED or name in _BOOKKEEPING:
            continue
        kind = schema.get("type")
        if name.lower() in COMPUTED_NUMBERS and kind in ("number", "integer"):
            out[name] = 0.01 if kind == "number" else 31337
    for name, value in PRIVILEGED.items():
        if name in writable:
            continue  # the document lets the client set it: its business
        if name in returned and returned[name].get("enum"):
            choices = [v for v in returned[name]["enum"] if isinstance(v, str)]
            value = next(
                (v for v in choices if any(w in v.lower() for w in PRIVILEGED_WORDS)), value
            )
        if value == "__user_b__":
            other = ctx.user_b
            if other is None or other.user_id is None:
                continue
            value = other.user_id
            if schema_type(returned.get(name, {})) == "integer" and value.isdigit():
                value = int(value)  # an id the answers show as a number is sent as one
        out[name] = value
    return out


def _accepted(data: Any, injected: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(data, dict):
        return {}
    if isinstance(data.get("data"), dict):
        data = data["data"]
    if isinstance(data.get("user"), dict):
        data = data["user"]
    return {k: v for k, v in injected.items() if k in data and _same(data[k], v)}


def _same(stored: Any, sent: Any) -> bool:
    if isinstance(stored, dict):
        stored = stored.get("id", stored)
    return stored == sent or str(stored) == str(sent)


Send = Callable[[dict[str, Any]], Exchange]
Kept = Callable[[Exchange, dict[str, Any]], dict[str, Any]]
# A strict API refuses the whole body for one unknown property: then each is tried alone, the
# server-computed amounts first, up to this many.
MAX_ALONE = 12


def _probe(send: Send, kept: Kept, injected: dict[str, Any]) -> tuple[dict[str, Any], Exchange]:
    """What of `injected` a write kept, and the exchange that shows it. When the API refuses
    the body (400/422), once more without the properties its answer names, then each of the
    rest alone: one hidden property it takes is a finding whatever it says of the others."""
    exchange = send(injected)
    accepted = kept(exchange, injected)
    if accepted or exchange.status not in (400, 422):
        return accepted, exchange
    named = {name for name in injected if _names(exchange.text, name)}
    rest = {k: v for k, v in injected.items() if k not in named}
    tries = [rest] if named and rest else []
    if len(rest) > 1:
        ordered = sorted(rest, key=lambda name: name.lower() not in COMPUTED_NUMBERS)
        tries += [{name: rest[name]} for name in ordered[:MAX_ALONE]]
    for extra in tries:
        exchange = send(extra)
        accepted = kept(exchange, extra)
        if accepted:
            return accepted, exchange
        if extra is rest and exchange.status not in (400, 422):
            break  # taken without complaint and not kept: the rest are ignored, not refused
    return {}, exchange


def _names(text: str, name: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text) is not None


def _try_create(ctx: AuditContext, op: Operation) -> None:
    injected = _injected(ctx, op)
    body = ctx.example_body(op)
    if not injected or body is None:
        return
    identity = ctx.user_a if op.security else None

    def send(extra: dict[str, Any]) -> Exchange:
        return ctx.call(op, identity=identity, body={**body, **extra}, check=NAME)

    def kept(exchange: Exchange, extra: dict[str, Any]) -> dict[str, Any]:
        return _accepted(exchange.json(), extra) if 200 <= exchange.status < 300 else {}

    accepted, exchange = _probe(send, kept, injected)
    if accepted:
        _report(ctx, op, accepted, exchange)


def _try_update(ctx: AuditContext, op: Operation, obj: CreatedObject) -> None:
    injected = _injected(ctx, op)
    if not injected:
        return
    values = obj.where(op)
    base = dict(obj.sent) if op.method == "PUT" else {}
    reader = next((o for o in ctx.item_ops(obj.create) if o.method == "GET"), None)

    def send(extra: dict[str, Any]) -> Exchange:
        return ctx.call(
            op,
            identity=obj.owner,
            path_values=values,
            body={**base, **extra},
            check=NAME,
            own_object=True,
        )

    def kept(exchange: Exchange, extra: dict[str, Any]) -> dict[str, Any]:
        return _stored(ctx, exchange, extra, reader, obj.owner, values)

    try:
        accepted, exchange = _probe(send, kept, injected)
    except WriteNotAllowed:
        return
    if accepted:
        _report(ctx, op, accepted, exchange)


def _try_self_update(ctx: AuditContext, op: Operation) -> None:
    """The caller's own resource with no id in its path (`PATCH /me`, `PUT /profile`): user A
    changes it with privileged properties added. Only for a user the audit signed up itself
    (or with --allow-writes); read back with the GET of the same path, and what it took is
    put back afterwards."""
    user = ctx.user_a
    if user is None or not (user.self_registered or ctx.options.allow_writes):
        return
    injected = _injected(ctx, op)
    if not injected:
        return
    reader = ctx.doc.find("GET", op.path)
    current = ctx.call(reader, identity=user, check=NAME) if reader is not None else None
    base: dict[str, Any] = {}
    if op.method == "PUT" and current is not None and isinstance(current.json(), dict):
        base = current.json()

    def send(extra: dict[str, Any]) -> Exchange:
        return ctx.call(op, identity=user, body={**base, **extra}, check=NAME, own_object=True)

    def kept(exchange: Exchange, extra: dict[str, Any]) -> dict[str, Any]:
        return _stored(ctx, exchange, extra, reader, user, {})

    try:
        accepted, exchange = _probe(send, kept, injected)
    except WriteNotAllowed:
        return
    if accepted:
        _report(ctx, op, accepted, exchange)
        _put_back(ctx, op, user, current, accepted)


def _stored(
    ctx: AuditContext,
    exchange: Exchange,
    injected: dict[str, Any],
    reader: Operation | None,
    identity: Identity,
    path_values: dict[str, Any],
) -> dict[str, Any]:
    """What of `injected` a successful write kept: in its answer, else read back."""
    if not 200 <= exchange.status < 300:
        return {}
    accepted = _accepted(exchange.json(), injected)
    if not accepted and reader is not None:
        again = ctx.call(reader, identity=identity, path_values=path_values, check=NAME)
        accepted = _accepted(again.json(), injected) if again.status < 300 else {}
    return accepted


def _put_back(
    ctx: AuditContext,
    op: Operation,
    user: Identity,
    before: Exchange | None,
    accepted: dict[str, Any],
) -> None:
    """Restore the values an accepted self-update changed, as far as the API lets a client."""
    original = before.json() if before is not None else None
    if not isinstance(original, dict):
        return
    restore = {name: original[name] for name in accepted if name in original}
    if restore:
        body = {**original, **restore} if op.method == "PUT" else restore
        ctx.call(op, identity=user, body=body, check=NAME, own_object=True)


def _report(ctx: AuditContext, op: Operation, accepted: dict[str, Any], exchange: Exchange) -> None:
    names = ", ".join(f"{k}={v!r}" for k, v in accepted.items())
    ctx.report(
        id="mass-assignment",
        title="Privileged properties accepted from the client",
        severity=Severity.HIGH,
        category=CATEGORY,
        operation=op.key,
        check=NAME,
        detail=f"{op.key} stored {names}, which the document does not let clients set.",
        fix=FIX,
        evidence=[exchange],
    )
