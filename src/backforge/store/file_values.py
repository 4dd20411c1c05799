"""File fields in writes: what a record's file fields hold after a write, given the files
uploaded with it, and which stored files the write lets go (deleted once it commits).

An upload arrives as a stored name made by `files.FileService.stage`; a body may only keep,
reorder or drop names the record already holds (or this request uploaded): a client can never
point a field at a file it did not upload there."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, select

from ..files.sniff import FileRefused
from ..spec.file_fields import max_files
from ..spec.model import Field
from .caller import Caller
from .errors import FieldProblem, Forbidden, ValidationFailed
from .events import current_transaction

if TYPE_CHECKING:
    from .records import RecordStore
    from .validation import BodyValidator

Uploads = Mapping[str, list[str]]
# Files handed to the store from Python: per field, an uploaded file (`.filename`, `.file`,
# `.size`: `ctx.files`' own), a (filename, bytes or binary file) pair, or a list of them.
GivenFiles = Mapping[str, Any]


def check_uploads(
    store: RecordStore, collection: str, validator: BodyValidator, uploads: Uploads | None
) -> None:
    """Every upload names a file field the caller may write (its write rule then applies as
    to any value written)."""
    declared = store.file_fields[collection]
    problems = []
    for name in uploads or {}:
        if name not in declared:
            problems.append(FieldProblem(f"/{name}", "not a file field: it takes no upload"))
        elif name not in validator.fields:
            problems.append(FieldProblem(f"/{name}", "this field is read-only"))
    if problems:
        raise ValidationFailed(problems)


def settle(
    declared: Mapping[str, Field],
    values: dict[str, Any],
    uploads: Uploads | None,
    old: Mapping[str, Any] | None,
) -> list[str]:
    """Set each written file field's value in `values`; the names the record no longer holds."""
    uploads = uploads or {}
    old = old or {}
    problems: list[FieldProblem] = []
    removed: list[str] = []
    for name, field in declared.items():
        if name not in values and name not in uploads:
            continue
        held = _names(old.get(name))
        new = uploads.get(name, [])
        sent = values.get(name) if name in values else None
        if field.multiple:
            kept = _names(sent) if name in values else held
            value: Any = [*dict.fromkeys([*kept, *new])]
            limit = max_files(field)
            if len(value) > limit:
                problems.append(FieldProblem(f"/{name}", f"at most {limit} files"))
            elif not value and field.required:
                problems.append(FieldProblem(f"/{name}", "this field is required"))
        else:
            if len(new) > 1:
                problems.append(FieldProblem(f"/{name}", "one file only"))
            kept = _names(sent)
            value = new[0] if new else sent
        strangers = [n for n in kept if n not in held and n not in new]
        if strangers:
            problems.append(
                FieldProblem(
                    f"/{name}",
                    f"'{strangers[0]}' is not a file of this record: "
                    "upload files in a multipart/form-data body",
                )
            )
        values[name] = value
        removed += [n for n in held if n not in _names(value)]
    if problems:
        raise ValidationFailed(problems)
    return removed


def held_files(
    store: RecordStore, connection: Connection, collection: str, record_id: str
) -> dict[str, Any]:
    """The file fields' values of one record (inside the write's transaction)."""
    table = store.tables[collection]
    columns = [table.c[name] for name in store.file_fields[collection]]
    # Locked (PostgreSQL; SQLite's writers take turns anyway): a concurrent update must not
    # change the names between this read and the UPDATE, or a file still held could be deleted.
    query = select(*columns).where(table.c.id == record_id).with_for_update()
    row = connection.execute(query).mappings().first()
    return dict(row) if row is not None else {}


def cascaded_files(
    store: RecordStore, connection: Connection, collection: str, record_id: str
) -> dict[str, list[str]]:
    """The files of a record about to be deleted and of the records its deletion cascades to
    (relations with `on_delete: cascade`, at any depth), by collection."""
    found: dict[str, list[str]] = {}
    pending: list[tuple[str, list[str]]] = [(collection, [record_id])]
    seen: set[tuple[str, str]] = set()
    while pending:
        name, ids = pending.pop()
        ids = [i for i in ids if (name, i) not in seen]
        if not ids:
            continue
        seen.update((name, i) for i in ids)
        table = store.tables[name]
        columns = [table.c[f] for f in store.file_fields[name]]
        if columns:
            rows = connection.execute(select(*columns).where(table.c.id.in_(ids)))
            for row in rows:
                found.setdefault(name, []).extend(n for value in row for n in _names(value))
        for child, field in store.cascades.get(name, ()):
            child_table = store.tables[child]
            rows = connection.execute(select(child_table.c.id).where(child_table.c[field].in_(ids)))
            pending.append((child, [row[0] for row in rows]))
    return found


def stage_given(
    store: RecordStore,
    collection: str,
    operation: Literal["create", "update"],
    caller: Caller,
    files: GivenFiles | None,
) -> dict[str, list[str]] | None:
    """Files given in Python (`ctx.store.create(..., files=...)`) checked and stored as an
    upload over HTTP is; the stored names by field, for the write to take over."""
    if not files:
        return None
    store.access.check(collection, operation, caller)
    if store.access.admits_nobody(collection, operation, caller):
        raise Forbidden(f"you may not {operation} records in {collection}")
    service = store.files
    declared = store.file_fields[collection]
    unknown = [name for name in files if name not in declared]
    if unknown or service is None:
        message = "not a file field: it takes no upload"
        raise ValidationFailed([FieldProblem(f"/{name}", message) for name in unknown or files])
    staged: dict[str, list[str]] = {}
    problems = []
    try:
        for name, given in files.items():
            for filename, source in _each_file(given):
                size = _size(source)
                try:
                    stored = service.stage(collection, name, filename, source, size)
                except FileRefused as refused:
                    problems.append(FieldProblem(f"/{name}", str(refused)))
                    continue
                staged.setdefault(name, []).append(stored)
        if problems:
            raise ValidationFailed(problems)
    except BaseException:
        service.remove(collection, [n for names in staged.values() for n in names])
        raise
    return staged


def _each_file(given: Any) -> Iterator[tuple[str | None, IO[bytes]]]:
    items = given if isinstance(given, list) else [given]
    for item in items:
        if isinstance(item, tuple) and len(item) == 2:
            filename, content = item
            yield filename, io.BytesIO(content) if isinstance(content, bytes) else content
        elif hasattr(item, "file"):  # an uploaded file of a multipart body
            yield getattr(item, "filename", None), item.file
        else:
            raise TypeError(
                "a file is an uploaded file (ctx.files) or a (filename, bytes or binary file) pair"
            )


def _size(source: IO[bytes]) -> int:
    source.seek(0, io.SEEK_END)
    size = source.tell()
    source.seek(0)
    return size


class UploadClaim:
    """The files uploaded for one write, deleted again when the write does not happen: at once
    when it fails before its transaction takes them (`hand_over`), else when that transaction
    rolls back for certain — the request's own, or the custom endpoint's or batch's it joined.
    Once committed they are the record's, whatever fails afterwards (an after-commit hook);
    when the COMMIT itself fails, whether it took effect may be unknown, so they stay, and
    `backforge files prune` deletes them if no record holds them."""

    def __init__(self, store: RecordStore, collection: str, uploads: Uploads | None):
        self.store = store
        self.collection = collection
        self.names = [name for names in (uploads or {}).values() for name in names]
        self.taken = False

    def hand_over(self) -> None:
        """Inside the write's transaction: a rollback of it takes the files back."""
        if self.names and not self.taken:
            transaction = current_transaction.get()
            assert transaction is not None
            transaction.on_rollback.append(self._remove)
            self.taken = True

    def __enter__(self) -> UploadClaim:
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, traceback: Any) -> None:
        if error is not None and self.names and not self.taken:
            self._remove()

    def _remove(self) -> None:
        if self.store.files is not None:
            self.store.files.remove(self.collection, self.names)


def remove_after_commit(store: RecordStore, removed: Mapping[str, list[str]]) -> None:
    """Delete these files once the open transaction commits (never after a rollback)."""
    service = store.files
    if service is None or not any(removed.values()):
        return
    transaction = current_transaction.get()
    assert transaction is not None
    for collection, names in removed.items():
        if names:
            transaction.on_commit.append(
                lambda c=collection, n=list(names): service.remove(c, n)  # type: ignore[misc]
            )


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return [value] if isinstance(value, str) else []
