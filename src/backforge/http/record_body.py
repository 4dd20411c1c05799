"""The body of a record write: JSON, or — for a collection with file fields — a
multipart/form-data body whose file parts are checked and stored before the write
(`files.FileService.stage`) and whose other parts are the record's values.

Uploads stream to disk as they arrive (python-multipart spools parts past 1 MiB) and the body is
refused past the collection's allowance. A stored upload belongs to the request until the store
is called with it (`RecordBody.discard` takes it back if that never happens), then to the write
(`store.file_values.UploadClaim`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio.to_thread
import orjson
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from ..files.sniff import FileRefused
from ..spec.file_fields import max_files, max_size
from ..spec.model import Collection, Field
from ..store.caller import Caller
from ..store.errors import FieldProblem, Forbidden, ValidationFailed
from ..store.records import RecordStore
from .body import limited, read_json_body
from .endpoint_io import MAX_PARTS
from .problems import ProblemError

MULTIPART = "multipart/form-data"
# Room for each file part's headers, besides its content.
PART_OVERHEAD = 16 * 1024
# Fields whose text parts are read as JSON (numbers, booleans, objects).
_JSON_PARTS = frozenset({"int", "float", "bool", "json"})


@dataclass
class Staged:
    """Files stored for a write that has not reached the store yet."""

    store: RecordStore
    collection: str
    names: list[str] = field(default_factory=list)

    async def discard(self) -> None:
        if self.names and self.store.files is not None:
            with anyio.CancelScope(shield=True):  # also when the request is being cancelled
                await anyio.to_thread.run_sync(self.store.files.remove, self.collection, self.names)


@dataclass
class RecordBody:
    """A write's body: JSON as it came, or a multipart body's values and the stored names of
    its files by field (`uploads`). Once the store is called with them, the store owns the
    files (`store.file_values.UploadClaim`); until then `discard` takes them back."""

    body: bytes | dict[str, Any]
    uploads: dict[str, list[str]] | None = None
    staged: Staged | None = None

    async def discard(self) -> None:
        if self.staged is not None:
            await self.staged.discard()


@asynccontextmanager
async def discarded_on_failure(received: RecordBody | None) -> AsyncIterator[None]:
    """Around what comes between reading a body and calling the store: a failure there takes
    the uploads back."""
    try:
        yield
    except BaseException:
        if received is not None:
            await received.discard()
        raise


async def read_record_body(
    request: Request,
    store: RecordStore,
    collection: str,
    max_bytes: int,
    writer: tuple[Caller, Literal["create", "update"]],
    renamed: Mapping[str, str] | None = None,
) -> RecordBody:
    """`writer`: who writes, and how; a caller the rules refuse whatever the record gets no
    upload stored. `renamed`: where a declared route's request shape names the fields, the
    field each name stands for (a file part under any other name is refused; text parts keep
    their names: the route renames them as it does a JSON body's)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == MULTIPART and store.file_fields[collection] and store.files is not None:
        caller, operation = writer
        store.access.check(collection, operation, caller)
        if store.access.admits_nobody(collection, operation, caller):
            raise Forbidden(f"you may not {operation} records in {collection}")
        return await _multipart(request, store, collection, max_bytes, renamed)
    if media == MULTIPART:
        message = "send the body as application/json (this collection has no file fields)"
        raise ProblemError(415, "unsupported-media-type", message)
    is_json = media == "application/json" or media.endswith("+json")
    if not is_json and store.file_fields[collection]:
        message = f"send the body as application/json, or as {MULTIPART} with files"
        raise ProblemError(415, "unsupported-media-type", message)
    return RecordBody(await read_json_body(request, max_bytes))


async def _multipart(
    request: Request,
    store: RecordStore,
    collection: str,
    max_bytes: int,
    renamed: Mapping[str, str] | None,
) -> RecordBody:
    files = store.file_fields[collection]
    allowance = max_bytes + sum(
        (max_size(f) + PART_OVERHEAD) * max_files(f) for f in files.values() if not f.hidden
    )
    declared = store.spec.collections[collection]
    lists = set(store.links.stored[collection])
    # Text parts are held in memory: at most one per field (and a few more), each within the
    # JSON body's limit, all of them together too.
    max_fields = len(declared.fields) + len(lists) + 8
    try:
        form = await limited(request, allowance).form(
            max_files=MAX_PARTS, max_fields=max_fields, max_part_size=max_bytes
        )
    except (MultiPartException, HTTPException) as exc:  # Starlette wraps the first in the second
        reason = getattr(exc, "message", None) or getattr(exc, "detail", "")
        raise ProblemError(400, "invalid-body", f"the form cannot be read: {reason}") from None
    staged = Staged(store, collection)
    received = RecordBody({}, {}, staged)
    try:
        parts: list[tuple[str, UploadFile]] = []
        text_bytes = 0
        for name, item in form.multi_items():
            if isinstance(item, UploadFile):
                if item.filename or item.size:  # an empty file input may come as an empty part
                    parts.append((name, item))
                continue
            text_bytes += len(item.encode("utf-8", "surrogatepass"))
            if text_bytes > max_bytes:
                raise ProblemError(413, "too-large", f"the text parts exceed {max_bytes} bytes")
            field_name = name if renamed is None else renamed.get(name, name)
            _add_value(received.body, declared, lists, name, field_name, item)  # type: ignore[arg-type]
        problems = []
        for name, part in parts:
            field_name = name if renamed is None else renamed.get(name)
            if field_name not in files:
                problems.append(FieldProblem(f"/{name}", "not a file field: it takes no upload"))
                continue
            try:
                stored = await anyio.to_thread.run_sync(
                    store.files.stage,  # type: ignore[union-attr]
                    collection,
                    field_name,
                    part.filename,
                    part.file,
                    part.size or 0,
                )
            except FileRefused as refused:
                problems.append(FieldProblem(f"/{name}", str(refused)))
                continue
            staged.names.append(stored)
            received.uploads.setdefault(field_name, []).append(stored)  # type: ignore[union-attr]
        if problems:
            raise ValidationFailed(problems)
    except BaseException:
        await received.discard()
        raise
    finally:
        await form.close()
    return received


def _add_value(
    values: dict[str, Any],
    declared: Collection,
    lists: set[str],
    name: str,
    field_name: str,
    text: str,
) -> None:
    """A text part as the value the JSON body would hold (`field_name`: the field the part's
    name stands for)."""
    field = declared.fields.get(field_name)
    if field is not None and field.type == "file" and text == "":
        return  # a file input left empty: Starlette reads it as an empty text part
    listed = field_name in lists or (field is not None and field.type == "file" and field.multiple)
    value = _value(field, text, listed)
    if listed:
        current = values.setdefault(name, [])
        if text == "" or value is None:  # an empty list
            return
        if isinstance(value, list):
            current.extend(value)
        else:
            current.append(value)
    elif name in values:
        raise ValidationFailed([FieldProblem(f"/{name}", "given twice")])
    else:
        values[name] = value


def _value(field: Field | None, text: str, listed: bool) -> Any:
    if field is not None and field.type == "file" and text == "null":
        return None  # drops the file
    if listed and text.startswith("["):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
    if field is None or field.is_text or field.type == "select":
        return text
    if text == "":
        return None
    if field.type in _JSON_PARTS:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return text  # the validator names the field and what it expects
    return text
