"""Broken authentication: no credentials needed, forged JWTs accepted, weak JWT secrets."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from .. import jwt
from ..client import Identity, WriteNotAllowed
from ..context import AuditContext
from ..findings import Severity
from ..openapi import Operation

NAME = "authentication"
CATEGORY = "API2:2023"
MAX_JWT_OPS = 6


def run(ctx: AuditContext) -> None:
    _check_anonymous_access(ctx)
    user = ctx.user_a
    if user is None or not user.is_jwt:
        if ctx.users:
            ctx.note("the users' credentials are not JWTs: JWT checks skipped")
        return
    secret = _check_weak_secret(ctx, user)
    _check_forged_tokens(ctx, user, secret)


def _check_anonymous_access(ctx: AuditContext) -> None:
    for op in ctx.operations():
        if not op.requires_auth or ctx.is_auth_flow(op) or op.method == "DELETE":
            continue
        values = ctx.path_values_for(op, ctx.user_a, NAME)
        body = ctx.example_body(op)
        try:
            exchange = ctx.call(
                op, path_values=values, body=body, check=NAME, own_object=bool(values)
            )
        except WriteNotAllowed:
            continue
        if 200 <= exchange.status < 300:
            ctx.report(
                id="auth-not-enforced",
                title="Operation works without credentials",
                severity=Severity.HIGH,
                category=CATEGORY,
                operation=op.key,
                check=NAME,
                detail=f"The document requires authentication for {op.key}, yet a request without "
                f"credentials succeeded with {exchange.status}.",
                fix="Authenticate every operation that the document marks as secured, in one "
                "middleware or dependency that cannot be forgotten per route.",
                evidence=[exchange],
            )


def _check_weak_secret(ctx: AuditContext, user: Identity) -> str | None:
    assert user.token is not None
    title = str((ctx.doc.raw.get("info") or {}).get("title") or "")
    host = urlsplit(ctx.client.base_url).hostname or ""
    secret = jwt.crack(user.token, names=jwt.names_of_api(title, host))
    if secret is not None:
        where = ctx.login_op.key if ctx.login_op else "*"
        ctx.report(
            id="jwt-weak-secret",
            title="JWT signed with a guessable HMAC secret",
            severity=Severity.CRITICAL,
            category=CATEGORY,
            operation=where,
            check=NAME,
            detail=f"The token's HMAC secret is {secret!r}, found offline (common secrets and the "
            "API's name with the usual decorations, then every number of up to 6 digits): "
            "anyone can mint tokens for any user.",
            fix="Use a random secret of at least 32 bytes from a secret store, and rotate it.",
        )
    return secret


def _probe_operations(ctx: AuditContext, user: Identity) -> list[Operation]:
    ops = []
    for op in ctx.operations("GET"):
        if op.path_params or not op.requires_auth or len(ops) >= MAX_JWT_OPS:
            continue
        ok = ctx.call(op, identity=user, check=NAME)
        if not 200 <= ok.status < 300:
            continue
        anonymous = ctx.call(op, check=NAME)
        if 200 <= anonymous.status < 300:
            continue  # already reported: forged tokens prove nothing more here
        ops.append(op)
    return ops


def _check_forged_tokens(ctx: AuditContext, user: Identity, secret: str | None) -> None:
    assert user.token is not None
    header, claims = jwt.decode(user.token)
    now = int(time.time())
    forged = {
        "jwt-alg-none-accepted": (
            "JWT with alg 'none' accepted",
            Severity.CRITICAL,
            jwt.unsigned(claims),
            "an unsigned token (alg: none)",
        ),
        "jwt-signature-not-verified": (
            "JWT with a tampered signature accepted",
            Severity.CRITICAL,
            jwt.tamper_signature(user.token),
            "the user's token with one bit of its signature flipped",
        ),
        "jwt-resigned-accepted": (
            "JWT re-signed with another key accepted",
            Severity.CRITICAL,
            jwt.sign({**header, "alg": "HS256"}, claims, b"bf-audit-not-the-servers-key"),
            "the user's claims re-signed with a key the server never issued",
        ),
    }
    if secret is not None:  # an expired token needs the real key to be meaningful
        expired = {**claims, "exp": now - 3600, "iat": now - 7200}
        if "nbf" in expired:
            expired["nbf"] = now - 7200
        forged["jwt-expired-accepted"] = (
            "Expired JWT accepted",
            Severity.HIGH,
            jwt.sign(header, expired, secret.encode()),
            "a correctly signed token that expired an hour ago",
        )
    else:
        ctx.note("the JWT secret was not guessed: the expired-token check needs the key, skipped")
    for op in _probe_operations(ctx, user):
        for rule, (title, severity, token, what) in forged.items():
            exchange = ctx.call(op, identity=user.with_token(token), check=NAME)
            if 200 <= exchange.status < 300:
                ctx.report(
                    id=rule,
                    title=title,
                    severity=severity,
                    category=CATEGORY,
                    operation=op.key,
                    check=NAME,
                    detail=f"{op.key} accepted {what}.",
                    fix="Verify tokens with a maintained library, pinning the accepted algorithms "
                    "(never 'none'), checking the signature with the server's key and the exp "
                    "claim.",
                    evidence=[exchange],
                )
