"""Single-use, expiring tokens mailed to a person: verify an address, reset a password, accept
an invitation. Stored hashed; requesting one never reveals whether an account exists."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, Row, Table, insert, select, update

from .. import clock
from ..spec.auth_fields import account_email
from ..store.caller import Caller
from ..store.ids import new_id
from .background import Background
from .errors import AuthInvalid
from .passwords import check_new_password, hash_password
from .service import AuthService
from .tokens import digest, new_secret

LIFETIMES = {
    "verify": dt.timedelta(days=2),
    "reset": dt.timedelta(hours=1),
    "invite": dt.timedelta(days=7),
}


def take_one_time_token(connection: Connection, table: Table, token: str, purpose: str) -> Row:
    """Spend a token (atomically: a second use finds it used) or raise AuthInvalid."""
    row = connection.execute(
        select(table).where(table.c.token_hash == digest(token), table.c.purpose == purpose)
    ).first()
    if row is None or row.used:
        raise AuthInvalid("this link is invalid or was already used")
    if clock.aware(row.expires) <= clock.now():
        raise AuthInvalid("this link has expired; ask for a new one")
    spent = connection.execute(
        update(table).where(table.c.id == row.id, table.c.used.is_(False)).values(used=True)
    )
    if spent.rowcount != 1:
        raise AuthInvalid("this link is invalid or was already used")
    return row


class OneTimeFlows:
    """Email verification, password reset and invitations on top of an AuthService."""

    def __init__(self, auth: AuthService, public_url: str):
        self.auth = auth
        self.public_url = public_url.rstrip("/")
        # Asking for a mail answers at once; the account is looked up and mailed after.
        self.background = Background()

    def request_verification(self, collection: str, email: str) -> None:
        """Queue the verification mail. The answer comes before the account is even looked
        up, so it is the same, in the same time, whether or not the account exists."""
        self.background.submit(self._send_verification, collection, account_email(email))

    def _send_verification(self, collection: str, email: str) -> None:
        account = self._account(collection, email)
        if account is None or account.verified:
            return
        token = self._issue(collection, account.id, account.email, "verify")
        link = f"{self.public_url}/api/auth/{collection}/verify?token={token}"
        self.auth.mailer.send(
            account.email,
            "Verify your email address",
            f"Confirm your address by opening this link:\n\n{link}\n\n"
            f"Or send the token to POST /api/auth/{collection}/verify: {token}\n",
        )

    def verify(self, collection: str, token: str) -> None:
        table = self.auth.store.tables[collection]
        with self.auth.writing() as connection:
            row = take_one_time_token(connection, self.auth.one_time, token, "verify")
            if row.collection != collection:
                raise AuthInvalid("this link is invalid or was already used")
            connection.execute(update(table).where(table.c.id == row.user_id).values(verified=True))

    def request_password_reset(self, collection: str, email: str) -> None:
        """Queue the reset mail: the request does the same work for a known and an unknown
        address (none); finding the account, issuing the token and mailing come after."""
        self.background.submit(self._send_reset, collection, account_email(email))

    def _send_reset(self, collection: str, email: str) -> None:
        account = self._account(collection, email)
        if account is None:
            return  # nothing is sent, and the answer has long gone, the same as for a known one
        token = self._issue(collection, account.id, account.email, "reset")
        self.auth.mailer.send(
            account.email,
            "Reset your password",
            f"To choose a new password, send this token with it to "
            f"POST /api/auth/{collection}/reset-password:\n\n{token}\n\n"
            "If you did not ask for this, ignore this message.\n",
        )

    def reset_password(self, collection: str, token: str, password: str) -> None:
        check_new_password(password, self.auth.collection_options(collection))
        table = self.auth.store.tables[collection]
        with self.auth.writing() as connection:
            row = take_one_time_token(connection, self.auth.one_time, token, "reset")
            if row.collection != collection:
                raise AuthInvalid("this link is invalid or was already used")
            # Reading the mail proves the address, and every old session ends.
            connection.execute(
                update(table)
                .where(table.c.id == row.user_id)
                .values(password_hash=hash_password(password), verified=True)
            )
            self.auth.revoke_all(connection, collection, row.user_id)

    def invite(self, caller: Caller, collection: str, email: str) -> None:
        if not caller.is_admin:
            raise AuthInvalid("only admins invite")
        token = self._issue(collection, "", email, "invite")
        self.auth.mailer.send(
            email,
            "You are invited",
            f"Sign up by sending this invitation with your password to "
            f"POST /api/auth/{collection}/signup as 'invite':\n\n{token}\n",
        )

    def _account(self, collection: str, email: str) -> Any:
        table = self.auth.store.tables[collection]
        query = select(table.c.id, table.c.email, table.c.verified).where(table.c.email == email)
        with self.auth.reading() as connection:
            return connection.execute(query).first()

    def _issue(self, collection: str, user_id: str, email: str, purpose: str) -> str:
        token = new_secret()
        now = clock.now()
        with self.auth.writing() as connection:
            connection.execute(
                insert(self.auth.one_time).values(
                    id=new_id(),
                    collection=collection,
                    user_id=user_id,
                    purpose=purpose,
                    token_hash=digest(token),
                    email=email,
                    created=now,
                    expires=now + LIFETIMES[purpose],
                    used=False,
                )
            )
        return token
