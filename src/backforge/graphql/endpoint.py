"""`/graphql` over HTTP: `POST` a JSON body (`query`, `variables`, `operationName`) for
queries and mutations, `GET ?query=` for queries only (a GET never changes data, and so needs
no CSRF token). A browser asking for HTML gets the GraphQL console (GraphiQL, shipped in the
package; `?query=` fills its editor); `GET /graphql?schema` gives the schema in the GraphQL
language.

The schema is built on the first request (importing graphql-core then), so an API nobody asks
GraphQL of pays nothing for it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..http.body import read_json_body
from ..http.docs_pages import GRAPHIQL_CSP, page
from ..http.offload import Offload
from ..http.problems import ProblemError
from ..http.records import json_response
from ..spec.server import GraphQL as GraphQLSettings
from ..store.caller import Caller
from ..store.records import RecordStore
from .persisted import NOT_FOUND, PersistedQueries

if TYPE_CHECKING:
    from .service import GraphQLService

PATH = "/graphql"


class GraphQLEndpoint:
    def __init__(
        self,
        store: RecordStore,
        caller_of: Callable[[Request], Caller],
        settings: GraphQLSettings,
    ):
        self.store = store
        self.caller_of = caller_of
        self.settings = settings
        self.offload = Offload(store)
        self._service: GraphQLService | None = None
        self.persisted = PersistedQueries()
        self._building = threading.Lock()

    def routes(self) -> list[Route]:
        return [Route(PATH, self.handle, methods=["GET", "POST"])]

    @property
    def service(self) -> GraphQLService:
        if self._service is None:
            with self._building:
                if self._service is None:
                    from .service import GraphQLService

                    self._service = GraphQLService(self.store, self.settings)
        return self._service

    async def handle(self, request: Request) -> Response:
        if request.method == "GET":
            params = request.query_params
            if "text/html" in request.headers.get("accept", ""):
                return page("graphiql.html", GRAPHIQL_CSP)  # a browser: the console
            if "query" not in params and "extensions" not in params:
                if "schema" in params and self.settings.introspection:
                    from .schema import printed

                    return Response(printed(self.service.graph.schema), media_type="text/plain")
                raise ProblemError(
                    400,
                    "invalid-query",
                    'send a query: POST {"query": "..."} as JSON, or GET ?query=...',
                )
            query, extensions = params.get("query"), _object(params.get("extensions"), "extensions")
            variables = _object(params.get("variables"), "variables")
            operation = params.get("operationName") or None
        else:
            body = await read_json_body(request, self.store.spec.settings.max_body_bytes)
            query, variables, operation, extensions = _posted(body)
        query = self.persisted.query(query, extensions)
        if query is None:
            return json_response(NOT_FOUND)
        caller = self.caller_of(request)
        answer = await self.offload.store(
            self.service.execute,
            caller,
            query,
            variables,
            operation,
            mutations=request.method == "POST",
        )
        headers = {"Allow": "POST"} if answer.status == 405 else None
        return json_response(answer.body, answer.status, headers)


def _posted(
    body: bytes,
) -> tuple[str | None, dict[str, Any] | None, str | None, dict[str, Any] | None]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ProblemError(400, "invalid-json", "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProblemError(400, "invalid-query", 'send an object: {"query": "..."}')
    query = data.get("query")
    if query is not None and (not isinstance(query, str) or not query.strip()):
        raise ProblemError(400, "invalid-query", "query must be a GraphQL document (a string)")
    variables, extensions = data.get("variables"), data.get("extensions")
    for name, value in (("variables", variables), ("extensions", extensions)):
        if value is not None and not isinstance(value, dict):
            raise ProblemError(400, "invalid-query", f"{name} must be an object")
    operation = data.get("operationName")
    if operation is not None and not isinstance(operation, str):
        raise ProblemError(400, "invalid-query", "operationName must be a string")
    return query, variables, operation or None, extensions


def _object(text: str | None, name: str) -> dict[str, Any] | None:
    """A JSON object sent in a query parameter (variables, extensions)."""
    if not text:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ProblemError(400, "invalid-query", f"{name} must be a JSON object") from None
    if not isinstance(value, dict):
        raise ProblemError(400, "invalid-query", f"{name} must be a JSON object")
    return value
