"""What a custom endpoint reads and answers: bodies of any kind (JSON, form, multipart with
files, text, bytes), validated by a model where one is given; answers as JSON, text, bytes,
HTML or any Starlette response (streams, redirects, files)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any, Literal, get_args

import orjson
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ..store.errors import FieldProblem, ValidationFailed
from ..store.validation import validation_failed
from .body import limited, read_body_bytes, read_json_body
from .problems import ProblemError, ResponseInvalid

BodyKind = Literal["json", "form", "multipart", "text", "bytes"]
BODY_KINDS: tuple[str, ...] = get_args(BodyKind)
FORM_TYPES = {
    "form": "application/x-www-form-urlencoded",
    "multipart": "multipart/form-data",
}
# Parts of a multipart body: at most this many files and fields.
MAX_PARTS = 100


@dataclass
class UploadedFile:
    """A file of a multipart body; past 1 MiB it is held on disk, not in memory."""

    field: str
    filename: str | None
    content_type: str | None
    size: int | None
    file: IO[bytes]

    def read(self, size: int = -1) -> bytes:
        return self.file.read(size)


@dataclass
class Body:
    """A request body as the handler gets it."""

    value: Any = None  # a model, a dict (json, form), str (text) or bytes
    files: dict[str, list[UploadedFile]] | None = None
    form: Any = None  # the parsed form: closed (its files too) once the request is answered

    async def close(self) -> None:
        if self.form is not None:
            await self.form.close()


async def read_body(
    request: Request, kind: BodyKind | None, model: type[BaseModel] | None, max_bytes: int
) -> Body:
    if kind is None:
        return Body()
    if kind == "json":
        raw = await read_json_body(request, max_bytes)
        if model is not None:
            try:
                return Body(model.model_validate_json(raw))
            except ValidationError as exc:
                raise validation_failed(exc) from None
        try:
            return Body(orjson.loads(raw))
        except orjson.JSONDecodeError:
            raise ValidationFailed([FieldProblem("", "the body is not valid JSON")]) from None
    if kind in ("text", "bytes"):
        raw = await read_body_bytes(request, max_bytes)
        if kind == "bytes":
            return Body(raw)
        try:
            return Body(raw.decode(_charset(request)))
        except (UnicodeDecodeError, LookupError):
            raise ValidationFailed([FieldProblem("", "the body is not text")]) from None
    return await _form(request, kind, model, max_bytes)


async def _form(request: Request, kind: str, model: type[BaseModel] | None, max_bytes: int) -> Body:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != FORM_TYPES[kind]:
        raise ProblemError(415, "unsupported-media-type", f"send the body as {FORM_TYPES[kind]}")
    try:
        form = await limited(request, max_bytes).form(max_files=MAX_PARTS, max_fields=MAX_PARTS)
    except (MultiPartException, HTTPException) as exc:  # Starlette wraps the first in the second
        reason = getattr(exc, "message", None) or getattr(exc, "detail", "")
        raise ProblemError(400, "invalid-body", f"the form cannot be read: {reason}") from None
    fields: dict[str, Any] = {}
    files: dict[str, list[UploadedFile]] = {}
    for name, item in form.multi_items():
        if isinstance(item, UploadFile):
            uploaded = UploadedFile(name, item.filename, item.content_type, item.size, item.file)
            files.setdefault(name, []).append(uploaded)
        elif name in fields:
            fields[name] = [*_listed(fields[name]), item]
        else:
            fields[name] = item
    value: Any = fields
    if model is not None:
        try:
            value = model.model_validate(fields)
        except ValidationError as exc:
            await form.close()
            raise validation_failed(exc) from None
    return Body(value, files if kind == "multipart" else None, form)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _charset(request: Request) -> str:
    for part in request.headers.get("content-type", "").split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip('"')
    return "utf-8"


def answer(result: Any, status: int, response_model: type[BaseModel] | None) -> Response:
    """The handler's result as a response: a Response as it is; a model, dict or list as JSON
    (validated by the response model); text as text/plain; bytes as application/octet-stream."""
    if isinstance(result, Response):
        return result
    if status == 204:
        return Response(status_code=204)
    if isinstance(result, str) and response_model is None:
        return PlainTextResponse(result, status)
    if isinstance(result, bytes | bytearray) and response_model is None:
        return Response(bytes(result), status, media_type="application/octet-stream")
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json")
    elif response_model is not None:
        try:
            result = response_model.model_validate(result).model_dump(mode="json")
        except ValidationError as exc:
            raise ResponseInvalid(exc) from None
    return Response(orjson.dumps(result), status, media_type="application/json")
