"""Long-lived credentials: API keys (shown once, stored hashed, scoped) and browser sessions
(an HttpOnly cookie plus a CSRF token for unsafe methods)."""

from __future__ import annotations

import datetime as dt
import hmac
import re
from typing import Any

from sqlalchemy import Table, insert, select, update

from .. import clock
from ..store.caller import Caller
from ..store.ids import new_id
from .errors import AuthForbidden, AuthInvalid
from .service import AuthService
from .tokens import digest, new_secret

API_KEY_PREFIX = "bfk_"
_API_KEY = re.compile(r"^bfk_([a-z0-9]{12})_([A-Za-z0-9_-]{20,})$")
_SCOPE = re.compile(r"^(\*|[a-z][a-z0-9_]*:(\*|list|view|create|update|delete))$")


class ApiKeys:
    def __init__(self, auth: AuthService):
        self.auth = auth
        self.table: Table = auth.store.metadata.tables["_bf_auth_api_keys"]

    def create(
        self, caller: Caller, name: str, scopes: list[str], expires_in_days: int | None
    ) -> dict[str, Any]:
        """A new key for the caller's own account; the secret is in this answer only."""
        if caller.id is None or caller.collection not in self.auth.options:
            raise AuthForbidden("log in with an account to create API keys")
        if caller.method == "api_key":
            raise AuthForbidden("an API key cannot create API keys")
        bad = [s for s in scopes if not _SCOPE.match(s)]
        if bad or not scopes:
            operations = "list|view|create|update|delete"
            raise AuthInvalid(f"scopes are '*', '<collection>:*' or '<collection>:<{operations}>'")
        prefix = new_id()[:12]
        secret = new_secret(size=30)
        now = clock.now()
        expires = now + dt.timedelta(days=expires_in_days) if expires_in_days else None
        key_id = new_id()
        with self.auth.writing() as connection:
            connection.execute(
                insert(self.table).values(
                    id=key_id,
                    collection=caller.collection,
                    user_id=caller.id,
                    name=name[:100],
                    prefix=prefix,
                    secret_hash=digest(secret),
                    scopes=sorted(set(scopes)),
                    created=now,
                    expires=expires,
                    revoked=False,
                )
            )
        return {
            **self._describe(key_id, name, prefix, scopes, now, expires),
            "key": f"{API_KEY_PREFIX}{prefix}_{secret}",
        }

    def list(self, caller: Caller) -> list[dict[str, Any]]:
        table = self.table
        query = (
            select(table)
            .where(
                table.c.collection == caller.collection,
                table.c.user_id == caller.id,
                table.c.revoked.is_(False),
            )
            .order_by(table.c.created)
        )
        with self.auth.reading() as connection:
            return [
                self._describe(r.id, r.name, r.prefix, r.scopes, r.created, r.expires)
                for r in connection.execute(query)
            ]

    def revoke(self, caller: Caller, key_id: str) -> bool:
        table = self.table
        with self.auth.writing() as connection:
            done = connection.execute(
                update(table)
                .where(
                    table.c.id == key_id,
                    table.c.user_id == caller.id,
                    table.c.collection == caller.collection,
                )
                .values(revoked=True)
            )
        return done.rowcount == 1

    def caller_for(self, key: str) -> Caller | None:
        """The caller an API key stands for, or None when it is not a valid, live key."""
        match = _API_KEY.match(key)
        if match is None:
            return None
        prefix, secret = match.groups()
        table = self.table
        with self.auth.reading() as connection:
            row = connection.execute(select(table).where(table.c.prefix == prefix)).first()
            if row is None or row.revoked:
                return None
            if not hmac.compare_digest(row.secret_hash, digest(secret)):
                return None
            if row.expires is not None and clock.aware(row.expires) <= clock.now():
                return None
            users = self.auth.store.tables.get(row.collection)
            if users is None:
                return None
            admin = connection.execute(
                select(users.c.admin).where(users.c.id == row.user_id)
            ).scalar()
        if admin is None:
            return None  # the account is gone
        return Caller(
            id=row.user_id,
            collection=row.collection,
            is_admin=bool(admin),
            scopes=frozenset(row.scopes),
            method="api_key",
        )

    @staticmethod
    def _describe(key_id, name, prefix, scopes, created, expires) -> dict[str, Any]:
        return {
            "id": key_id,
            "name": name,
            "prefix": f"{API_KEY_PREFIX}{prefix}",
            "scopes": list(scopes),
            "created": clock.aware(created).isoformat().replace("+00:00", "Z"),
            "expires": clock.aware(expires).isoformat().replace("+00:00", "Z") if expires else None,
        }


class Sessions:
    """Cookie sessions: the cookie holds a random token (stored hashed); unsafe methods must
    echo the session's CSRF token in a header."""

    CSRF_HEADER = "x-csrf-token"

    def __init__(self, auth: AuthService, cookie: str = "bf_session", csrf_cookie: str = "bf_csrf"):
        self.auth = auth
        self.table: Table = auth.store.metadata.tables["_bf_auth_sessions"]
        # The cookies' names (settings.session_cookie, settings.csrf_cookie).
        self.cookie = cookie
        self.csrf_cookie = csrf_cookie

    def open(self, collection: str, user_id: str) -> tuple[str, str, int]:
        ttl = self.auth.collection_options(collection).session_ttl
        token, csrf = new_secret(), new_secret(size=24)
        now = clock.now()
        with self.auth.writing() as connection:
            connection.execute(
                insert(self.table).values(
                    id=new_id(),
                    collection=collection,
                    user_id=user_id,
                    token_hash=digest(token),
                    csrf_token=csrf,
                    created=now,
                    expires=now + dt.timedelta(seconds=ttl),
                    revoked=False,
                )
            )
        return token, csrf, ttl

    def caller_for(self, token: str) -> tuple[Caller, str] | None:
        """The caller and the session's CSRF token, or None for an unknown or dead session."""
        table = self.table
        with self.auth.reading() as connection:
            row = connection.execute(
                select(table).where(table.c.token_hash == digest(token))
            ).first()
            if row is None or row.revoked or clock.aware(row.expires) <= clock.now():
                return None
            users = self.auth.store.tables.get(row.collection)
            admin = (
                None
                if users is None
                else connection.execute(
                    select(users.c.admin).where(users.c.id == row.user_id)
                ).scalar()
            )
        if admin is None:
            return None
        caller = Caller(
            id=row.user_id, collection=row.collection, is_admin=bool(admin), method="session"
        )
        return caller, row.csrf_token

    def close(self, token: str) -> None:
        with self.auth.writing() as connection:
            connection.execute(
                update(self.table)
                .where(self.table.c.token_hash == digest(token))
                .values(revoked=True)
            )
