"""Who is calling. Until user accounts exist, an admin token from the environment is the key."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from ..store.caller import ADMIN, ANONYMOUS, Caller


class AdminTokenCallers:
    """Recognises `Authorization: Bearer <BACKFORGE_ADMIN_TOKEN>`; everyone else is anonymous."""

    def __init__(self, admin_token: str | None, scheme: str = "Bearer"):
        self._expected = f"{scheme} {admin_token}".encode() if admin_token else None

    def __call__(self, request: Request) -> Caller:
        header = request.headers.get("authorization")
        expected = self._expected
        if expected is None or header is None:
            return ANONYMOUS
        if hmac.compare_digest(header.encode(), expected):
            return ADMIN
        return ANONYMOUS
