"""Failures of authentication, in words a client may read (no hint of which accounts exist)."""

from __future__ import annotations


class AuthError(Exception):
    status = 401
    slug = "unauthorized"

    def __init__(self, detail: str, **extra):
        self.detail = detail
        self.extra = extra
        super().__init__(detail)


class InvalidCredentials(AuthError):
    def __init__(self):
        super().__init__("invalid credentials")


class MfaRequired(AuthError):
    slug = "mfa-required"

    def __init__(self):
        super().__init__("this account needs a TOTP code: send it as 'totp'")


class LockedOut(AuthError):
    status = 429
    slug = "too-many-attempts"

    def __init__(self, retry_after: int):
        super().__init__("too many failed attempts; try again later", retry_after=retry_after)


class AuthForbidden(AuthError):
    status = 403
    slug = "forbidden"


class AuthInvalid(AuthError):
    """A request that cannot be served as sent (bad or expired one-time token, weak password)."""

    status = 400
    slug = "invalid-request"
