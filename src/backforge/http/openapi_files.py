"""File fields in the OpenAPI document: multipart bodies for writes with uploads, and the
download and signed-link routes of each collection with file fields."""

from __future__ import annotations

from typing import Any

from ..files.names import STORED_NAME
from ..spec.file_fields import max_files, max_size
from ..spec.model import Collection
from ..store.ids import ID_PATTERN

BINARY = {"type": "string", "format": "binary"}


def _file_fields(collection: Collection) -> dict[str, Any]:
    return {n: f for n, f in collection.fields.items() if f.type == "file" and not f.hidden}


def multipart_content(collection: Collection, *, partial: bool) -> dict[str, Any]:
    """The multipart/form-data body of a create or update: the files as parts named after
    their fields, other fields as text parts (numbers, booleans and JSON as JSON text)."""
    files = _file_fields(collection)
    if not files:
        return {}
    properties: dict[str, Any] = {}
    for name, field in collection.fields.items():
        if field.hidden or field.readonly or field.serial:
            continue
        if name in files:
            size = f"at most {max_size(field)} bytes"
            accept = f", of type {', '.join(field.accept)}" if field.accept else ""
            description = f"{size}{accept}"
            if field.multiple:
                properties[name] = {
                    "type": "array",
                    "items": BINARY,
                    "maxItems": max_files(field),
                    "description": f"Files added to the record, each {description}",
                }
            else:
                properties[name] = {**BINARY, "description": f"The file, {description}"}
        else:
            properties[name] = {"type": "string"}
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    required = [
        n
        for n, f in collection.fields.items()
        if f.required and not partial and n in properties and n not in files and f.default is None
    ]
    if required:
        schema["required"] = required
    return {"multipart/form-data": {"schema": schema}}


def file_paths(name: str, collection: Collection) -> dict[str, Any]:
    from .openapi import problem_responses  # which imports this module

    files = _file_fields(collection)
    if not files:
        return {}
    parameters = [
        {
            "name": "id",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": ID_PATTERN.pattern},
        },
        {
            "name": "file",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": STORED_NAME.pattern},
            "description": "A name the record's file fields hold",
        },
    ]
    sizes = sorted({size for field in files.values() for size in field.thumbs or ()})
    download_parameters = [
        {
            "name": "expires",
            "in": "query",
            "required": False,
            "schema": {"type": "integer"},
            "description": "With signature: a signed link's expiry (seconds since 1970)",
        },
        {
            "name": "signature",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "A signed link's signature: no credential needed until it expires",
        },
        {
            "name": "download",
            "in": "query",
            "required": False,
            "schema": {"type": "boolean"},
            "description": "Ask the browser to save the file rather than show it",
        },
    ]
    if sizes:
        download_parameters.append(
            {
                "name": "thumb",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": sizes},
                "description": "A thumbnail of an image, in one of the declared sizes",
            }
        )
    base = f"/api/{name}/{{id}}/files/{{file}}"
    return {
        base: {
            "get": {
                "operationId": f"download_{name}_file",
                "summary": f"Download a file of a record of {name}",
                "parameters": [*parameters, *download_parameters],
                "responses": {
                    "200": {
                        "description": "The file",
                        "content": {"application/octet-stream": {"schema": BINARY}},
                    },
                    **problem_responses(400, 401, 403, 404, 429, 503),
                },
            }
        },
        f"{base}/link": {
            "post": {
                "operationId": f"link_{name}_file",
                "summary": f"A signed, expiring download link to a file of a record of {name}",
                "parameters": [
                    *parameters,
                    {
                        "name": "expires_in",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1},
                        "description": "Seconds the link works (default and maximum: settings)",
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The link",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "url": {"type": "string"},
                                        "expires": {"type": "integer"},
                                    },
                                    "required": ["url", "expires"],
                                }
                            }
                        },
                    },
                    **problem_responses(400, 401, 404, 429, 503),
                },
            }
        },
    }
