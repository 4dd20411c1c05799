"""Admin-only endpoints: rule explanations."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..store.caller import Caller
from ..store.errors import InvalidQuery
from ..store.explain import caller_from_database, explain
from ..store.records import RecordStore
from .problems import ProblemError
from .records import json_response

_OPERATIONS = ("list", "view", "create", "update", "delete")


def admin_routes(store: RecordStore, caller_of: Callable[[Request], Caller]) -> list[Route]:
    async def explain_endpoint(request: Request) -> Response:
        """GET /api/admin/explain?collection=&operation=&record=&caller=&caller_collection="""
        if not caller_of(request).is_admin:
            raise ProblemError(403, "forbidden", "only admins may ask for explanations")
        params = request.query_params
        operation = params.get("operation", "view")
        if operation not in _OPERATIONS:
            raise InvalidQuery(f"operation is one of {', '.join(_OPERATIONS)}", "operation")
        who = caller_from_database(store, params.get("caller_collection"), params.get("caller"))
        verdict = explain(store, params.get("collection", ""), operation, who, params.get("record"))
        return json_response(verdict)

    return [Route("/api/admin/explain", explain_endpoint, methods=["GET"])]
