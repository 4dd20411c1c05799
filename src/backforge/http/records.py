"""The generated REST routes of one collection: list, get, create, update, delete."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..store.caller import Caller
from ..store.listing import ListRequest
from ..store.prepared import BoundedMap
from ..store.records import RecordStore
from .body import etag, if_match_versions, read_json_body
from .offload import Offload
from .problems import ProblemError
from .record_body import read_record_body

JSON = "application/json"
LIST_REQUESTS_KEPT = 256
SINGLE_PARAMETERS = frozenset({"fields", "expand"})
# The record routes' methods and the operations they serve.
COLLECTION_METHODS = (("GET", "list"), ("POST", "create"))
RECORD_METHODS = (("GET", "view"), ("PATCH", "update"), ("DELETE", "delete"))


class JsonResponse(Response):
    """A JSON answer whose headers are built directly: Starlette's general header handling
    (charset rules, checks for given lengths and types) cost more than reading the record."""

    media_type = JSON

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        raw = [(b"content-length", b"%d" % len(self.body)), (b"content-type", b"application/json")]
        if headers:
            raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.raw_headers = raw


def json_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return JsonResponse(content, status, headers)


class RecordRoutes:
    """Binds a RecordStore to HTTP; one instance serves every collection."""

    def __init__(self, store: RecordStore, caller_of: Callable[[Request], Caller]):
        self.store = store
        self.caller_of = caller_of
        self.settings = store.spec.settings
        self.max_body = self.settings.max_body_bytes
        offload = Offload(store)
        self._read = offload.store
        self._write = offload.write
        # List requests by raw query string: most clients ask the same few pages.
        self._list_requests = BoundedMap(LIST_REQUESTS_KEPT)

    def routes(self) -> list[Route]:
        """The routes of the operations each collection serves (see Collection.serves)."""
        routes = []
        for name, collection in self.store.spec.collections.items():
            base = f"/api/{name}"
            served = [m for m, op in COLLECTION_METHODS if collection.serves(op)]
            if served:
                routes.append(Route(base, self._collection(name), methods=served))
            served = [m for m, op in RECORD_METHODS if collection.serves(op)]
            if served:
                routes.append(Route(base + "/{id}", self._record(name), methods=served))
        return routes

    def _collection(self, name: str):
        async def endpoint(request: Request) -> Response:
            if request.method == "POST":
                return await self.create(request, name)
            return await self.list(request, name)

        return endpoint

    def _record(self, name: str):
        async def endpoint(request: Request) -> Response:
            record_id = request.path_params["id"]
            if request.method == "GET":
                return await self.get(request, name, record_id)
            if request.method == "PATCH":
                return await self.update(request, name, record_id)
            return await self.delete(request, name, record_id)

        return endpoint

    async def list(self, request: Request, name: str) -> Response:
        query = request.scope["query_string"]
        list_request = self._list_requests.get(query)
        if list_request is None:  # parsed once per query string
            list_request = ListRequest.from_params(single_valued(request), self.settings)
            if list_request.cursor is None:  # every next page differs: not worth keeping
                self._list_requests.put(query, list_request)
        page = await self._read(self.store.list, name, self.caller_of(request), list_request)
        body: dict[str, Any] = {"items": page.items, "next_cursor": page.next_cursor}
        if page.total is not None:
            body["total"] = page.total
        return json_response(body)

    async def get(self, request: Request, name: str, record_id: str) -> Response:
        fields, expand = None, ()
        if request.scope["query_string"]:
            params = single_valued(request, SINGLE_PARAMETERS)
            asked = ListRequest.from_params(params, self.settings)
            fields, expand = asked.fields, asked.expand
        caller = self.caller_of(request)
        record = await self._read(self.store.get, name, caller, record_id, fields, expand)
        headers = {"ETag": etag(record["version"])} if "version" in record else None
        return json_response(record, headers=headers)

    async def create(self, request: Request, name: str) -> Response:
        single_valued(request, frozenset())
        caller = self.caller_of(request)
        if self.store.file_fields[name]:
            writer = (caller, "create")
            received = await read_record_body(request, self.store, name, self.max_body, writer)
            record = await self._write(
                self.store.create, name, caller, received.body, uploads=received.uploads
            )
        else:
            body = await read_json_body(request, self.max_body)
            record = await self._write(self.store.create, name, caller, body)
        headers = {"ETag": etag(record["version"]), "Location": f"/api/{name}/{record['id']}"}
        return json_response(record, 201, headers)

    async def update(self, request: Request, name: str, record_id: str) -> Response:
        single_valued(request, frozenset())
        versions = if_match_versions(request)
        caller = self.caller_of(request)
        writer = (caller, "update")
        received = await read_record_body(request, self.store, name, self.max_body, writer)
        record = await self._write(
            self.store.update,
            name,
            caller,
            record_id,
            received.body,
            versions,
            uploads=received.uploads,
        )
        return json_response(record, headers={"ETag": etag(record["version"])})

    async def delete(self, request: Request, name: str, record_id: str) -> Response:
        single_valued(request, frozenset())
        versions = if_match_versions(request)
        await self._write(self.store.delete, name, self.caller_of(request), record_id, versions)
        return Response(status_code=204)


def single_valued(request: Request, allowed: frozenset[str] | None = None) -> dict[str, str]:
    """Query parameters as a dict; a repeated or (when `allowed` is given) unknown one is a 400."""
    params: dict[str, str] = {}
    if not request.scope["query_string"]:
        return params  # most writes: nothing to parse
    for key, value in request.query_params.multi_items():
        if allowed is not None and key not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise ProblemError(
                400,
                "invalid-query",
                f"unknown query parameter '{key}' (known: {known})",
                parameter=key,
            )
        if key in params:
            raise ProblemError(
                400, "invalid-query", f"query parameter '{key}' is given twice", parameter=key
            )
        params[key] = value
    return params
