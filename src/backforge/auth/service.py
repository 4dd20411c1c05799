"""AuthService: sign-up, login, token refresh with rotation, logout, and password changes."""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Table, insert, or_, select, update

from .. import clock
from ..rules.parser import is_storable_text
from ..spec.auth_fields import account_email
from ..spec.model import AuthOptions
from ..store.caller import Caller
from ..store.errors import FieldProblem, NotFound, ValidationFailed
from ..store.events import current_transaction
from ..store.ids import new_id
from ..store.records import RecordStore
from .errors import AuthForbidden, AuthInvalid, InvalidCredentials, MfaRequired
from .mail import Mailer
from .passwords import check_new_password, hash_password, needs_rehash, verify_password
from .tables import AUTH_TABLE_PREFIX
from .throttle import IP_FACTOR, LoginThrottle
from .tokens import TokenIssuer, digest, new_secret
from .totp import code_accepted

REFRESH_PREFIX = "bfr_"


@dataclass(frozen=True)
class Tokens:
    access_token: str
    expires_in: int
    refresh_token: str
    record: dict[str, Any] | None  # None when the collection's view rule hides it from them
    account_id: str

    def as_json(self) -> dict[str, Any]:
        return {
            "token_type": "Bearer",
            "access_token": self.access_token,
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "record": self.record,
        }


class AuthService:
    """Accounts of every auth collection of a declaration."""

    def __init__(self, store: RecordStore, issuer: TokenIssuer, mailer: Mailer):
        self.store = store
        self.issuer = issuer
        self.mailer = mailer
        self.engine = store.engine
        tables = store.metadata.tables
        self.refresh_tokens: Table = tables[AUTH_TABLE_PREFIX + "refresh_tokens"]
        self.sessions: Table = tables[AUTH_TABLE_PREFIX + "sessions"]
        self.one_time: Table = tables[AUTH_TABLE_PREFIX + "one_time_tokens"]
        self.failures: Table = tables[AUTH_TABLE_PREFIX + "failures"]
        self.options: dict[str, AuthOptions] = {
            name: options
            for name, collection in store.spec.collections.items()
            if (options := collection.auth_options) is not None
        }
        # A password an admin sets on the record routes (or ctx.system) ends the other logins.
        store.events.on_password_set(self.revoke_all)

    def collection_options(self, collection: str) -> AuthOptions:
        options = self.options.get(collection)
        if options is None:
            raise LookupError(collection)
        return options

    # -- the seams of the other account flows (credentials, one-time, TOTP, OAuth) ---------

    def writing(self) -> AbstractContextManager[Connection]:
        """A write transaction — the caller's own when one is open (a custom endpoint)."""
        return self.store.writing(self.refresh_tokens)

    def reading(self) -> AbstractContextManager[Connection]:
        """A connection to read on — the open transaction's when there is one."""
        return self.store.reading()

    def own_collection(self, caller: Caller) -> str:
        """The auth collection of the caller's own account (AuthForbidden without one)."""
        if caller.id is None or caller.collection not in self.options:
            raise AuthForbidden("log in with an account first")
        return caller.collection

    # -- sign-up and login -----------------------------------------------------------------

    def signup(self, collection: str, body: bytes, invite: str | None = None) -> Tokens:
        options = self.collection_options(collection)
        if options.signup == "closed":
            raise AuthForbidden(f"sign-up to {collection} is closed; an admin creates accounts")
        data = _json_object(body)
        if not data.get("password"):
            raise ValidationFailed([FieldProblem("/password", "this field is required")])
        invited_email = None
        if options.signup == "invite":
            invited_email = self._take_invite(collection, invite)
            data["email"] = invited_email
        record = self.store.create(collection, Caller(), data, trusted=True)
        if invited_email is not None:
            self._set_flags(collection, record["id"], verified=True)
        return self.issue_tokens(collection, record["id"])

    def login(
        self,
        collection: str,
        identity: str,
        password: str,
        totp: str | None = None,
        address: str | None = None,
    ) -> Tokens:
        """`address` is the client's IP, which fails `IP_FACTOR` times more often than one
        account before it is locked too; without one only the account is counted (a shared
        stand-in would let anyone lock every caller out)."""
        options = self.collection_options(collection)
        table = self.store.tables[collection]
        now = clock.now()
        identity = account_email(identity)  # addresses are stored so; usernames are lower case
        # An identity no database stores (a NUL, a lone surrogate) names no account: it takes
        # the path of an unknown one, without being sent to the database (PostgreSQL refuses it).
        storable = is_storable_text(identity)
        # Hashed: a fixed length whatever the identity, and no address stored in plain text.
        account_key = f"account:{collection}:{digest(identity if storable else repr(identity))}"
        keys = {account_key: 1}
        if address:
            keys[f"ip:{address}"] = IP_FACTOR
        throttle = LoginThrottle(self.failures, options.max_failed_logins, options.lockout_seconds)
        with self.writing() as connection:
            throttle.check(connection, keys, now)
        # Found through the unique index, in the same time whether or not the account exists.
        matches = [table.c.email == identity]
        if "username" in options.login and "username" in table.c:
            matches.append(table.c.username == identity)
        query = select(table.c.id, table.c.password_hash, table.c.totp_secret, table.c.verified)
        row = None
        if storable:
            with self.reading() as connection:
                row = connection.execute(query.where(or_(*matches))).first()
        # Unknown account and wrong password take the same path, the same time, the same answer.
        ok = verify_password(row.password_hash if row else None, password)
        if ok and row.totp_secret and not code_accepted(row.totp_secret, totp):
            if not totp:
                raise MfaRequired()
            ok = False
        if not ok:
            self._count_failure(throttle, keys, now)
            raise InvalidCredentials()
        if options.require_verified and not row.verified:
            raise AuthForbidden("verify your email address before logging in")
        with self.writing() as connection:
            throttle.succeed(connection, account_key)
            if needs_rehash(row.password_hash):
                rehashed = hash_password(password)
                statement = update(table).where(table.c.id == row.id)
                connection.execute(statement.values(password_hash=rehashed))
        return self.issue_tokens(collection, row.id)

    def _count_failure(
        self, throttle: LoginThrottle, keys: dict[str, int], now: dt.datetime
    ) -> None:
        """Count a failed login in a transaction of its own, so that it stays counted when the
        transaction it happened in rolls back (a custom endpoint's, which the InvalidCredentials
        raised next usually rolls back).

        Inside an open transaction it is written once that one has ended, not at once on a
        second connection: on SQLite the open transaction holds the write lock, which a second
        connection on the same thread would wait for until it times out; on PostgreSQL it could
        wait for a failure row that the open transaction holds (a login that succeeded in it).
        After the end it waits for nobody."""

        def count() -> None:
            with self.writing() as connection:
                throttle.fail(connection, keys, now)

        transaction = current_transaction.get()
        if transaction is None:
            count()
        else:
            transaction.after_end.append(count)

    def issue_tokens(self, collection: str, user_id: str, family: str | None = None) -> Tokens:
        """A login of the account: an access token, a new refresh token (of `family` when one
        is rotated) and the record as its owner may view it."""
        options = self.collection_options(collection)
        table = self.store.tables[collection]
        with self.writing() as connection:
            admin = connection.execute(select(table.c.admin).where(table.c.id == user_id)).scalar()
            refresh = self._new_refresh(connection, collection, user_id, options, family)
        access, ttl = self.issuer.issue(collection, user_id, bool(admin), options.access_ttl)
        caller = Caller(id=user_id, collection=collection, is_admin=bool(admin), method="token")
        try:
            record = self.store.get(collection, caller, user_id)
        except NotFound:
            # The account exists and the tokens are valid; its view rule keeps the record
            # from its owner (no `view` rule declared means admins only).
            record = None
        return Tokens(access, ttl, refresh, record, user_id)

    # -- refresh tokens --------------------------------------------------------------------

    def _new_refresh(
        self,
        connection: Connection,
        collection: str,
        user_id: str,
        options: AuthOptions,
        family: str | None,
    ) -> str:
        token = new_secret(REFRESH_PREFIX)
        now = clock.now()
        connection.execute(
            insert(self.refresh_tokens).values(
                id=new_id(),
                family=family or new_secret(size=16),
                collection=collection,
                user_id=user_id,
                token_hash=digest(token),
                created=now,
                expires=now + dt.timedelta(seconds=options.refresh_ttl),
                used=False,
                revoked=False,
            )
        )
        return token

    def refresh(self, token: str) -> Tokens:
        """Rotate: the token is spent and a new one of the same family issued. A spent token
        used again means it leaked: the whole family is revoked."""
        table = self.refresh_tokens
        failure = None
        with self.writing() as connection:
            row = connection.execute(
                select(table).where(table.c.token_hash == digest(token))
            ).first()
            if row is None:
                raise AuthInvalid("unknown refresh token")
            if row.used or row.revoked:
                family = table.c.family == row.family
                connection.execute(update(table).where(family).values(revoked=True))
                failure = (
                    "refresh token reuse detected: every session of this login is revoked"
                    if row.used and not row.revoked
                    else "refresh token revoked"
                )
            elif clock.aware(row.expires) <= clock.now():
                failure = "refresh token expired; log in again"
            else:
                connection.execute(update(table).where(table.c.id == row.id).values(used=True))
        # Raised after the block, so that the revocation of a reused family is committed.
        if failure is not None:
            raise AuthInvalid(failure)
        if row.collection not in self.options:
            raise AuthInvalid("unknown refresh token")
        return self.issue_tokens(row.collection, row.user_id, family=row.family)

    def logout(self, token: str) -> None:
        """Revoke the family of a refresh token (every token rotated from the same login)."""
        table = self.refresh_tokens
        with self.writing() as connection:
            family = connection.execute(
                select(table.c.family).where(table.c.token_hash == digest(token))
            ).scalar()
            if family is not None:
                revoke = update(table).where(table.c.family == family).values(revoked=True)
                connection.execute(revoke)

    def revoke_all(
        self,
        connection: Connection,
        collection: str,
        user_id: str,
        keep_session: str | None = None,
    ) -> None:
        """End every login of an account: its refresh tokens and its cookie sessions (but the
        session `keep_session`, the token of the one asking, when given)."""
        for table in (self.refresh_tokens, self.sessions):
            statement = update(table).where(
                table.c.collection == collection, table.c.user_id == user_id
            )
            if table is self.sessions and keep_session is not None:
                statement = statement.where(table.c.token_hash != digest(keep_session))
            connection.execute(statement.values(revoked=True))

    # -- passwords -------------------------------------------------------------------------

    def change_password(
        self, caller: Caller, old: str, new: str, session: str | None = None
    ) -> None:
        """Every other login ends; `session` is the token of the cookie session asking, if any."""
        collection = self.own_collection(caller)
        options = self.collection_options(collection)
        table = self.store.tables[collection]
        check_new_password(new, options)
        with self.writing() as connection:
            current = connection.execute(
                select(table.c.password_hash).where(table.c.id == caller.id)
            ).scalar()
            if not verify_password(current, old):
                raise InvalidCredentials()
            statement = update(table).where(table.c.id == caller.id)
            connection.execute(statement.values(password_hash=hash_password(new)))
            self.revoke_all(connection, collection, str(caller.id), keep_session=session)

    def set_password(self, caller: Caller, new: str, session: str | None = None) -> None:
        """A new password for the caller's own account, without the old one — where a
        contract demands it (a declared update_me with allow_password); every other login
        ends, as after a change."""
        collection = self.own_collection(caller)
        check_new_password(new, self.collection_options(collection))
        table = self.store.tables[collection]
        with self.writing() as connection:
            statement = update(table).where(table.c.id == caller.id)
            connection.execute(statement.values(password_hash=hash_password(new)))
            self.revoke_all(connection, collection, str(caller.id), keep_session=session)

    def _set_flags(self, collection: str, user_id: str, **flags: Any) -> None:
        table = self.store.tables[collection]
        with self.writing() as connection:
            connection.execute(update(table).where(table.c.id == user_id).values(**flags))

    def _take_invite(self, collection: str, token: str | None) -> str:
        from .one_time import take_one_time_token

        if not token:
            raise AuthForbidden(f"sign-up to {collection} needs an invitation")
        with self.writing() as connection:
            row = take_one_time_token(connection, self.one_time, token, "invite")
        if row.collection != collection:
            raise AuthInvalid("this invitation is for another collection")
        return row.email


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValidationFailed([FieldProblem("", "the body is not valid JSON")]) from None
    if not isinstance(data, dict):
        raise ValidationFailed([FieldProblem("", "the body must be a JSON object")])
    return data
