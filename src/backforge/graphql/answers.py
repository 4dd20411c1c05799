"""What a GraphQL request is answered: a status and a body whose errors carry, for a store
error, the code and status of the REST problem it would be there; anything unexpected is an
internal error whose details go to the log only."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError

from ..http.problems import store_problem
from ..store.errors import StoreError

logger = logging.getLogger("backforge.graphql")


@dataclass
class Answer:
    status: int
    body: dict[str, Any]


def refused(errors: list[GraphQLError]) -> Answer:
    return Answer(400, {"errors": [formatted(e) for e in errors]})


def formatted(error: GraphQLError) -> dict[str, Any]:
    """An error as the response carries it: a store error with its REST problem's code and
    status; anything unexpected as an internal error, its details only in the log."""
    body: dict[str, Any] = {"message": error.message}
    if error.locations:
        body["locations"] = [{"line": x.line, "column": x.column} for x in error.locations]
    if error.path:
        body["path"] = error.path
    original = error.original_error
    extensions: dict[str, Any] = {"code": "invalid-query", "status": 400}
    if isinstance(original, StoreError):
        status, code, extra = store_problem(original)
        body["message"] = original.detail
        extensions = {"code": code, "status": status}
        extensions |= {k: v for k, v in extra.items() if v is not None}
    elif error.path is not None:  # failed while resolving: not the client's doing
        if original is not None and not isinstance(original, GraphQLError):
            logger.error("graphql field %s failed", error.path, exc_info=original)
            body["message"] = "internal error"
        extensions = {"code": "internal", "status": 500}
    elif error.extensions:
        extensions = dict(error.extensions)
    body["extensions"] = extensions
    return body
