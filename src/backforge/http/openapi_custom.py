"""Custom endpoints and the batch endpoint in the OpenAPI document."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from .batch import Batch
from .custom import Endpoints

_REF = "#/components/schemas/{model}"


def model_schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    """A $ref to the model, its definitions merged into the components."""
    schema = model.model_json_schema(ref_template=_REF)
    for name, definition in schema.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    schemas.setdefault(model.__name__, schema)
    return {"$ref": _REF.format(model=model.__name__)}


def custom_paths(
    endpoints: Endpoints | None,
    schemas: dict[str, Any],
    errors: dict,
    batch_records: list[str] | None = None,
) -> dict:
    """`batch_records`: when /api/batch is served (some collection serves record writes), the
    record schemas ($ref) a create or update in it may answer with; None when it is not."""
    paths: dict[str, Any] = {}
    if batch_records is None:
        return paths | _endpoint_paths(endpoints, schemas, errors)
    paths["/api/batch"] = {
        "post": {
            "operationId": "batch",
            "summary": "Several creates, updates and deletes in one transaction (all or nothing)",
            "tags": ["batch"],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": model_schema(Batch, schemas)}},
            },
            "responses": {
                "200": {
                    "description": "The result of each operation, in order",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "results": {
                                        "type": "array",
                                        # A record per create or update, null per delete.
                                        "items": {
                                            "anyOf": [
                                                *({"$ref": ref} for ref in batch_records),
                                                {"type": "null"},
                                            ]
                                        },
                                    }
                                },
                                "required": ["results"],
                            }
                        }
                    },
                },
                **errors,
            },
        }
    }
    return paths | _endpoint_paths(endpoints, schemas, errors)


def _endpoint_paths(endpoints: Endpoints | None, schemas: dict[str, Any], errors: dict) -> dict:
    paths: dict[str, Any] = {}
    for endpoint in endpoints.routes if endpoints else ():
        operation: dict[str, Any] = {
            "operationId": endpoint.handler.__name__,
            "summary": endpoint.summary or endpoint.handler.__name__,
            "tags": ["custom"],
            "responses": {**errors},
        }
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)(?::\w+)?}", endpoint.path)
        ]
        if parameters:
            operation["parameters"] = parameters
        body = _request_body(endpoint, schemas)
        if body is not None:
            operation["requestBody"] = body
        success: dict[str, Any] = {"description": "Success"}
        if endpoint.response is not None and endpoint.status != 204:
            success["content"] = {
                "application/json": {"schema": model_schema(endpoint.response, schemas)}
            }
        operation["responses"][str(endpoint.status)] = success
        path = re.sub(r"{(\w+):\w+}", r"{\1}", endpoint.path)
        paths.setdefault(path, {})[endpoint.method.lower()] = operation
    return paths


# A body kind's media type, and its schema when no model describes it.
_MEDIA = {
    "json": ("application/json", {}),
    "form": ("application/x-www-form-urlencoded", {"type": "object"}),
    "multipart": ("multipart/form-data", {"type": "object"}),
    "text": ("text/plain", {"type": "string"}),
    "bytes": ("application/octet-stream", {"type": "string", "format": "binary"}),
}


def _request_body(endpoint: Any, schemas: dict[str, Any]) -> dict[str, Any] | None:
    if endpoint.body is None:
        return None
    media, schema = _MEDIA[endpoint.body]
    if endpoint.request is not None:
        schema = model_schema(endpoint.request, schemas)
    return {"required": True, "content": {media: {"schema": schema}}}
