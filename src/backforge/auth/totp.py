"""An optional second factor: time-based one-time codes (RFC 6238) per account."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyotp
from sqlalchemy import select, update

from ..store.caller import Caller
from .errors import AuthInvalid, InvalidCredentials
from .passwords import verify_password

if TYPE_CHECKING:
    from .service import AuthService

# A secret waiting for its first code; logins ignore it until it is confirmed.
PENDING = "pending:"


def code_accepted(secret: str, code: str | None) -> bool:
    """Whether a login with this account's secret may go on with `code`: a secret set up but
    never confirmed is not yet a factor; else the code must match (one step of clock drift)."""
    if secret.startswith(PENDING):
        return True
    return bool(code) and _matches(secret, code)


def _matches(secret: str, code: str | None) -> bool:
    return pyotp.TOTP(secret).verify(str(code), valid_window=1)


class Totp:
    def __init__(self, auth: AuthService, issuer_name: str):
        self.auth = auth
        self.issuer_name = issuer_name

    def setup(self, caller: Caller) -> dict[str, str]:
        collection = self.auth.own_collection(caller)
        if not self.auth.collection_options(collection).totp:
            raise AuthInvalid(f"{collection} does not offer TOTP")
        secret = pyotp.random_base32()
        table = self.auth.store.tables[collection]
        with self.auth.writing() as connection:
            current = connection.execute(
                select(table.c.totp_secret, table.c.email).where(table.c.id == caller.id)
            ).first()
            if current.totp_secret and not current.totp_secret.startswith(PENDING):
                raise AuthInvalid("TOTP is already on; turn it off first")
            connection.execute(
                update(table).where(table.c.id == caller.id).values(totp_secret=PENDING + secret)
            )
        uri = pyotp.TOTP(secret).provisioning_uri(name=current.email, issuer_name=self.issuer_name)
        return {"secret": secret, "otpauth_uri": uri}

    def enable(self, caller: Caller, code: str) -> None:
        collection = self.auth.own_collection(caller)
        table = self.auth.store.tables[collection]
        with self.auth.writing() as connection:
            stored = connection.execute(
                select(table.c.totp_secret).where(table.c.id == caller.id)
            ).scalar()
            if not stored or not stored.startswith(PENDING):
                raise AuthInvalid("start with POST .../totp/setup")
            secret = stored[len(PENDING) :]
            if not _matches(secret, code):
                raise AuthInvalid("the code does not match; check the device's clock")
            connection.execute(
                update(table).where(table.c.id == caller.id).values(totp_secret=secret)
            )

    def disable(self, caller: Caller, password: str, code: str) -> None:
        collection = self.auth.own_collection(caller)
        table = self.auth.store.tables[collection]
        with self.auth.writing() as connection:
            row = connection.execute(
                select(table.c.totp_secret, table.c.password_hash).where(table.c.id == caller.id)
            ).first()
            secret = row.totp_secret
            if not secret or secret.startswith(PENDING):
                raise AuthInvalid("TOTP is not on")
            if not verify_password(row.password_hash, password) or not _matches(secret, code):
                raise InvalidCredentials()
            connection.execute(
                update(table).where(table.c.id == caller.id).values(totp_secret=None)
            )
