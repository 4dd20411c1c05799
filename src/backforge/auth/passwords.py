"""Password hashing with argon2id (argon2-cffi), a dummy verify for unknown accounts, and the
length a new password must have."""

from __future__ import annotations

from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ..store.errors import FieldProblem, ValidationFailed

if TYPE_CHECKING:
    from ..spec.model import AuthOptions

# argon2-cffi's defaults are the RFC 9106 low-memory profile (argon2id, 64 MiB, t=3, p=4).
_HASHER = PasswordHasher()
# Verifying against this when no account matches keeps the timing of "no such user" and
# "wrong password" alike, so responses do not reveal which accounts exist.
_DUMMY_HASH = _HASHER.hash("backforge-dummy-password-for-equal-timing")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _HASHER.check_needs_rehash(password_hash)


def check_new_password(password: str, options: AuthOptions) -> None:
    """A password chosen through the account flows (change, set, reset) is a string of the
    collection's minimum length up to 256 characters."""
    if not isinstance(password, str) or not options.min_password_length <= len(password) <= 256:
        message = f"must have {options.min_password_length} to 256 characters"
        raise ValidationFailed([FieldProblem("/password", message)])
