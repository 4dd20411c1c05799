"""Sensitive data exposure: hashes, secrets, keys and internal fields in responses. Passive."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..context import AuditContext
from ..findings import Severity

NAME = "sensitive_data"
CATEGORY = "API3:2023"
SECRET_KEYS = {
    "password",
    "passwd",
    "pwd",
    "password_hash",
    "passwordhash",
    "hashed_password",
    "hashedpassword",
    "passwordsalt",
    "password_salt",
    "salt",
    "secret",
    "client_secret",
    "clientsecret",
    "api_key",
    "apikey",
    "private_key",
    "privatekey",
    "otp_secret",
    "totp_secret",
    "mfa_secret",
    "reset_token",
    "resettoken",
    "verification_token",
    "verificationtoken",
    "ssn",
    "credit_card",
    "creditcard",
    "card_number",
    "cardnumber",
    "cvv",
    "cvc",
    "session_id",
    "sessionid",
}
TOKEN_KEYS = {"token", "access_token", "accesstoken", "refresh_token", "refreshtoken", "id_token"}
SECRET_VALUES = re.compile(
    r"^\$2[aby]?\$\d\d\$|^\$argon2(id|i|d)\$|^pbkdf2_sha\d+\$|^\$[56]\$|^scrypt:|"
    r"AKIA[0-9A-Z]{16}|-----BEGIN ([A-Z]+ )?PRIVATE KEY-----|^sk_live_[0-9a-zA-Z]{10,}"
)
INTERNAL = re.compile(r"^_?internal|^is_internal|^debug_|^_debug")


def walk(data: Any, path: str = "$") -> Iterator[tuple[str, str, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            sub = f"{path}.{key}"
            yield sub, str(key), value
            yield from walk(value, sub)
    elif isinstance(data, list):
        for i, value in enumerate(data[:50]):
            yield from walk(value, f"{path}[{i}]")


def _sent(exchange, value: Any) -> bool:
    """Whether the request carried this value as its credential."""
    if not isinstance(value, str) or len(value) < 8:
        return False
    return any(
        key.lower() in ("authorization", "x-api-key") and header.endswith(value)
        for key, header in exchange.request_headers.items()
    )


def run(ctx: AuditContext) -> None:
    for exchange in ctx.client.exchanges:
        if not exchange.operation or not 200 <= exchange.status < 300 or not exchange.is_json:
            continue
        op = ctx.doc.find(*exchange.operation.split(" ", 1))
        auth_flow = op is not None and ctx.is_auth_flow(op)
        found: list[str] = []
        worst = Severity.MEDIUM
        for path, key, value in walk(exchange.json()):
            norm = key.lower().replace("-", "_")
            if value in (None, "", [], {}) or isinstance(value, dict | list | bool):
                continue
            if norm.replace("_", "") in {k.replace("_", "") for k in TOKEN_KEYS}:
                # The caller's own credential echoed back (GET /user in RealWorld) reveals
                # nothing they did not send.
                if not auth_flow and not _sent(exchange, value):
                    found.append(path)
                continue
            secret_value = isinstance(value, str) and SECRET_VALUES.search(value)
            if norm in SECRET_KEYS or norm.replace("_", "") in SECRET_KEYS or secret_value:
                found.append(path)
                worst = Severity.HIGH
            elif INTERNAL.search(norm):
                found.append(path)
        if found:
            fields = ", ".join(sorted(set(found))[:6])
            ctx.report(
                id="sensitive-data-exposure",
                title="Sensitive data in responses",
                severity=worst,
                category=CATEGORY,
                operation=exchange.operation,
                check=NAME,
                detail=f"{exchange.operation} returns {fields}.",
                fix="Serialize responses from an explicit list of public fields; never return "
                "password hashes, secrets, keys or internal flags.",
                evidence=[exchange],
            )
