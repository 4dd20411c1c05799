"""Automatic persisted queries (Apollo's protocol, which Apollo Client, urql and graphql-ws
clients speak): a client sends a query's SHA-256 in `extensions.persistedQuery` instead of the
query; the first time this process answers `PERSISTED_QUERY_NOT_FOUND`, the client sends both,
and the query is kept (the most recent 256, per process). A known hash makes a short GET URL.
A kept query is validated and limited like any other each time it runs."""

from __future__ import annotations

import hashlib
from typing import Any

from ..http.problems import ProblemError
from ..store.prepared import BoundedMap

KEPT = 256
NOT_FOUND = {
    "errors": [
        {
            "message": "PersistedQueryNotFound",
            "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND", "status": 200},
        }
    ]
}


class PersistedQueries:
    def __init__(self) -> None:
        self._known = BoundedMap(KEPT)

    def query(self, query: str | None, extensions: dict[str, Any] | None) -> str | None:
        """The query to run: the one sent, or the one its hash names; None when only a hash
        came and this process does not know it."""
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            if query is None:
                raise ProblemError(
                    400, "invalid-query", "query must be a GraphQL document (a string)"
                )
            return query
        if (
            not isinstance(persisted, dict)
            or persisted.get("version") != 1
            or not isinstance(persisted.get("sha256Hash"), str)
        ):
            raise ProblemError(
                400,
                "invalid-query",
                'extensions.persistedQuery must be {"version": 1, "sha256Hash": "<hex>"}',
            )
        digest = persisted["sha256Hash"].lower()
        if query is None:
            return self._known.get(digest)
        if hashlib.sha256(query.encode()).hexdigest() != digest:
            raise ProblemError(400, "invalid-query", "sha256Hash is not the query's SHA-256")
        self._known.put(digest, query)
        return query
