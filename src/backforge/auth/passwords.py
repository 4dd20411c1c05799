"""Password hashing with argon2id (argon2-cffi), and a dummy verify for unknown accounts."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

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
