"""Files no record holds: what a crash between an upload and its write, or a failed delete,
leaves behind (`backforge files prune`)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from sqlalchemy import select

from ..store.records import RecordStore
from .service import FileService


def orphans(store: RecordStore, service: FileService, older_than: float) -> Iterator[str]:
    """The keys of stored files (and thumbnails) whose name no record holds, written more than
    `older_than` seconds ago (younger ones may belong to a write in progress)."""
    before = time.time() - older_than
    for collection, fields in store.file_fields.items():
        if not fields:
            continue
        table = store.tables[collection]
        held: set[str] = set()
        with store.engine.connect() as connection:
            for row in connection.execute(select(*(table.c[name] for name in fields))):
                for value in row:
                    held.update(value if isinstance(value, list) else [value] if value else [])
        for key, written in service.storage.entries(f"{collection}/"):
            if key.rsplit("/", 1)[-1] not in held and written < before:
                yield key
