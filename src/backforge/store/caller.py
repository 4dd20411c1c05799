"""Who is asking: the value every rule is evaluated against."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Caller:
    """An account of an auth collection, the admin, or nobody (anonymous).

    `scopes` limits an API key to some collection x operation pairs ("posts:list", "posts:*",
    "*"); None means the caller's full rights.
    """

    id: str | None = None
    collection: str | None = None
    is_admin: bool = False
    scopes: frozenset[str] | None = None
    method: str = "anonymous"  # anonymous, token, session, api_key, admin_token
    expires: float | None = None  # when the credential ends (UNIX time), if it says so

    @property
    def is_anonymous(self) -> bool:
        return self.id is None and not self.is_admin

    def auth_values(self) -> dict[str, Any] | None:
        """What `auth.*` knows without a query; None for an anonymous caller."""
        if self.is_anonymous:
            return None
        return {"id": self.id, "collection": self.collection, "admin": self.is_admin}

    def may(self, collection: str, operation: str) -> bool:
        """Whether an API key's scopes cover this operation (always, without scopes)."""
        if self.scopes is None:
            return True
        return bool({"*", f"{collection}:*", f"{collection}:{operation}"} & self.scopes)


ANONYMOUS = Caller()
ADMIN = Caller(id="admin", is_admin=True, method="admin_token")
