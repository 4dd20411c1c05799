"""POST /api/batch: several creates, updates and deletes in one transaction, each under the
caller's rules; all or nothing, and a failure names the index of the operation that failed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..auth.errors import AuthError
from ..spec.model import Spec
from ..store.caller import Caller
from ..store.errors import FieldProblem, StoreError, ValidationFailed
from ..store.records import RecordStore
from ..store.validation import validation_failed
from .body import read_json_body
from .offload import Offload
from .problems import from_store_error
from .records import json_response

MAX_OPERATIONS = 100


class Operation(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    op: Literal["create", "update", "delete"]
    collection: str = Field(max_length=63)
    id: str | None = Field(default=None, max_length=64)
    body: dict[str, Any] | None = None
    if_match: int | None = Field(default=None, ge=1)


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    operations: list[Operation] = Field(min_length=1, max_length=MAX_OPERATIONS)


class _Failed(Exception):
    def __init__(self, index: int, error: StoreError):
        self.index = index
        self.error = error


def serves_batch(spec: Spec) -> bool:
    """The batch route is there while some collection serves a record write."""
    writes = ("create", "update", "delete")
    return any(c.serves(op) for c in spec.collections.values() for op in writes)


def batch_route(store: RecordStore, caller_of: Callable[[Request], Caller], max_body: int) -> Route:
    offload = Offload(store)

    def run(caller: Caller, batch: Batch) -> list[Any]:
        results: list[Any] = []
        with store.transaction():
            for index, operation in enumerate(batch.operations):
                try:
                    results.append(_apply(store, caller, operation))
                except StoreError as error:
                    raise _Failed(index, error) from None
        return results

    async def endpoint(request: Request) -> Response:
        raw = await read_json_body(request, max_body)
        try:
            batch = Batch.model_validate_json(raw)
        except ValidationError as exc:
            raise validation_failed(exc) from None
        caller = caller_of(request)
        try:
            results = await offload.store(run, caller, batch)
        except _Failed as failed:
            response = from_store_error(failed.error)
            return _with_index(response, failed.index)
        except AuthError:
            raise
        return json_response({"results": results})

    return Route("/api/batch", endpoint, methods=["POST"])


def _apply(store: RecordStore, caller: Caller, operation: Operation) -> Any:
    declared = store.spec.collections.get(operation.collection)
    if declared is None or not declared.serves(operation.op):
        # Only what the record routes serve: a collection whose routes are off is not here.
        raise ValidationFailed(
            [
                FieldProblem(
                    "/collection",
                    f"no record routes for {operation.op} in '{operation.collection}'",
                )
            ]
        )
    versions = {operation.if_match} if operation.if_match is not None else None
    if operation.op == "create":
        return store.create(operation.collection, caller, operation.body or {})
    if operation.id is None:
        raise ValidationFailed([FieldProblem("/id", f"{operation.op} needs the record's id")])
    if operation.op == "update":
        return store.update(
            operation.collection, caller, operation.id, operation.body or {}, versions
        )
    store.delete(operation.collection, caller, operation.id, versions)
    return None


def _with_index(response: Response, index: int) -> Response:
    import orjson

    body = orjson.loads(response.body)
    body["index"] = index
    body["detail"] = f"operation {index} failed, nothing was written: {body['detail']}"
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length",)}
    return Response(
        orjson.dumps(body), response.status_code, headers, media_type="application/problem+json"
    )
