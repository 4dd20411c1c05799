"""Who is asking: the value every rule is evaluated against."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Caller:
    id: str | None = None
    collection: str | None = None
    role: str | None = None
    is_admin: bool = False
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def is_anonymous(self) -> bool:
        return self.id is None and not self.is_admin

    def auth_values(self) -> dict[str, Any] | None:
        """The `auth.*` names a rule can read; None for an anonymous caller."""
        if self.is_anonymous:
            return None
        return {**self.record, "id": self.id, "role": self.role, "collection": self.collection}


ANONYMOUS = Caller()
ADMIN = Caller(id="admin", role="admin", is_admin=True)
