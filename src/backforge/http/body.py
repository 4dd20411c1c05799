"""Reading a request body: JSON content type, a size limit, and If-Match preconditions."""

from __future__ import annotations

import re

from starlette.requests import Request

from .problems import ProblemError

JSON_TYPES = ("application/json",)


async def read_json_body(request: Request, max_bytes: int) -> bytes:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in JSON_TYPES and not content_type.endswith("+json"):
        raise ProblemError(415, "unsupported-media-type", "send the body as application/json")
    return await read_body_bytes(request, max_bytes)


def limited(request: Request, max_bytes: int) -> Request:
    """The request with its body refused (413) once more than `max_bytes` have arrived: for
    bodies parsed as they stream in (multipart), which the request limits do not read first."""
    _check_declared_length(request, max_bytes)
    receive = request.receive
    received = 0

    async def limited_receive():
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise ProblemError(413, "too-large", f"the body is larger than {max_bytes} bytes")
        return message

    return Request(request.scope, limited_receive)


def _check_declared_length(request: Request, max_bytes: int) -> None:
    declared = request.headers.get("content-length")
    # ASCII digits only (a latin-1 header may hold '³', which isdigit() admits and int() refuses);
    # a length too long to convert is larger than any limit.
    if (
        declared is not None
        and declared.isascii()
        and declared.isdigit()
        and (len(declared) > 18 or int(declared) > max_bytes)
    ):
        raise ProblemError(413, "too-large", f"the body is larger than {max_bytes} bytes")


async def read_body_bytes(request: Request, max_bytes: int) -> bytes:
    """The whole body, whatever its type; 413 past `max_bytes`."""
    _check_declared_length(request, max_bytes)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ProblemError(413, "too-large", f"the body is larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


_ENTITY_TAG = re.compile(r'^(W/)?"([0-9]{1,9})"$')


def if_match_versions(request: Request) -> set[int] | None:
    """The versions an If-Match header accepts; None when absent or '*' (any version)."""
    header = request.headers.get("if-match")
    if header is None or header.strip() == "*":
        return None
    versions = set()
    for tag in header.split(","):
        match = _ENTITY_TAG.match(tag.strip())
        if match is None:
            raise ProblemError(
                400, "invalid-header", 'If-Match must be * or ETags as sent by this API, e.g. "3"'
            )
        # If-Match compares strongly: a weak tag (W/"3") never matches.
        if match.group(1) is None:
            versions.add(int(match.group(2)))
    return versions


def etag(version: int) -> str:
    return f'"{version}"'
