"""Which GET paths read a collection whose rule is `public`: the same answer for every
anonymous caller, so they may be shared (Cache-Control: public) and cached on the server."""

from __future__ import annotations

from ...spec.model import Spec

# Headers that carry credentials; a request with any of them is never served a shared answer.
CREDENTIAL_HEADERS = frozenset({b"authorization", b"cookie", b"x-api-key", b"api-key"})


class PublicReads:
    def __init__(self, spec: Spec):
        # The headers that name a caller: the usual ones and the declaration's token header.
        extra = spec.settings.token_header
        self.credential_headers = CREDENTIAL_HEADERS | (
            {extra.lower().encode()} if extra else set()
        )
        self.lists = {
            f"/api/{name}": name
            for name, collection in spec.collections.items()
            if _is_public(collection.rules.list)
        }
        self.views = {
            f"/api/{name}": name
            for name, collection in spec.collections.items()
            if _is_public(collection.rules.view)
        }

    def carries_credentials(self, scope) -> bool:
        names = self.credential_headers
        return any(key in names for key, _ in scope["headers"])

    def collection(self, path: str) -> str | None:
        """The collection a public read at `path` reads, or None."""
        name = self.lists.get(path)
        if name is not None:
            return name
        head, _, tail = path.rpartition("/")
        return self.views.get(head) if tail else None


def _is_public(rule: str | None) -> bool:
    return rule is not None and rule.strip() == "public"
