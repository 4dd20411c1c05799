"""The body of a record write: JSON, or — for a collection with file fields — a
multipart/form-data body whose file parts are checked and stored before the write
(`files.FileService.stage`) and whose other parts are the record's values.

Uploads stream to disk as they arrive (python-multipart spools parts past 1 MiB), the body is
refused past the collection's allowance, and every stored upload is deleted again when the write
does not happen (`RecordBody.discard`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import orjson
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from ..files.sniff import FileRefused
from ..spec.file_fields import max_files, max_size
from ..spec.model import Collection, Field
from ..store.errors import FieldProblem, ValidationFailed
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
class RecordBody:
    body: bytes | dict[str, Any]
    uploads: dict[str, list[str]] | None = None
    store: RecordStore | None = None
    collection: str = ""
    staged: list[str] = field(default_factory=list)

    async def discard(self) -> None:
        """Delete the files stored for a write that did not happen."""
        if self.staged and self.store is not None and self.store.files is not None:
            await anyio.to_thread.run_sync(self.store.files.remove, self.collection, self.staged)


async def read_record_body(
    request: Request,
    store: RecordStore,
    collection: str,
    max_bytes: int,
    renamed: Mapping[str, str] | None = None,
) -> RecordBody:
    """`renamed`: the field each part name stands for, where a declared route's shape renames
    fields (text parts keep their names: the route renames them with a JSON body's)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == MULTIPART and store.file_fields[collection] and store.files is not None:
        return await _multipart(request, store, collection, max_bytes, renamed or {})
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
    renamed: Mapping[str, str],
) -> RecordBody:
    files = store.file_fields[collection]
    allowance = max_bytes + sum(
        (max_size(f) + PART_OVERHEAD) * max_files(f) for f in files.values() if not f.hidden
    )
    try:
        form = await limited(request, allowance).form(max_files=MAX_PARTS, max_fields=MAX_PARTS)
    except (MultiPartException, HTTPException) as exc:  # Starlette wraps the first in the second
        reason = getattr(exc, "message", None) or getattr(exc, "detail", "")
        raise ProblemError(400, "invalid-body", f"the form cannot be read: {reason}") from None
    received = RecordBody({}, {}, store, collection)
    try:
        declared = store.spec.collections[collection]
        lists = set(store.links.stored[collection])
        parts: list[tuple[str, UploadFile]] = []
        for name, item in form.multi_items():
            if isinstance(item, UploadFile):
                if item.filename or item.size:  # a form's empty file input sends an empty part
                    parts.append((renamed.get(name, name), item))
            else:
                field_name = renamed.get(name, name)
                _add_value(received.body, declared, lists, name, field_name, item)  # type: ignore[arg-type]
        problems = []
        for name, part in parts:
            if name not in files:
                problems.append(FieldProblem(f"/{name}", "not a file field: it takes no upload"))
                continue
            try:
                stored = await anyio.to_thread.run_sync(
                    store.files.stage,  # type: ignore[union-attr]
                    collection,
                    name,
                    part.filename,
                    part.file,
                    part.size or 0,
                )
            except FileRefused as refused:
                problems.append(FieldProblem(f"/{name}", str(refused)))
                continue
            received.staged.append(stored)
            received.uploads.setdefault(name, []).append(stored)  # type: ignore[union-attr]
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
        return  # a file input left empty, as browsers send it: no change
    listed = field_name in lists or (field is not None and field.type == "file" and field.multiple)
    value = _value(field, text, listed)
    if listed:
        if text == "":
            values.setdefault(name, [])
            return
        current = values.setdefault(name, [])
        if isinstance(value, list):
            current.extend(value)
        else:
            current.append(value)
    elif name in values:
        raise ValidationFailed([FieldProblem(f"/{name}", "given twice")])
    else:
        values[name] = value


def _value(field: Field | None, text: str, listed: bool) -> Any:
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
