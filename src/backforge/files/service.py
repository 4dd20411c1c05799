"""The files of file fields: checked and stored on upload, removed when no record holds them,
read back (or as thumbnails) for download. One instance per app (`RecordStore.files.service`)."""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import IO

from ..spec.file_fields import Thumb, accepts, max_size
from ..spec.model import Field
from .links import FileLinks
from .names import stored_name
from .sniff import HEAD_BYTES, FileRefused, sniff
from .storage import LocalStorage, Storage, StoredFile
from .thumbs import make_thumb

logger = logging.getLogger("backforge.files")


class FileService:
    def __init__(self, fields: dict[str, dict[str, Field]], storage: Storage, links: FileLinks):
        """`fields`: the file fields of each collection (`RecordStore.file_fields`)."""
        self.storage = storage
        self.links = links
        self.fields = fields
        # The service's bookkeeping: thumbnails being made, deletions handed to the remover.
        self._lock = threading.Lock()
        self._making: dict[str, threading.Lock] = {}
        self._remover: ThreadPoolExecutor | None = None
        self._removals: set[Future] = set()

    @staticmethod
    def key(collection: str, name: str) -> str:
        return f"{collection}/{name}"

    @staticmethod
    def thumb_key(collection: str, size: str, name: str) -> str:
        return f"{collection}/thumbs/{size}/{name}"

    def stage(
        self, collection: str, field_name: str, filename: str | None, source: IO[bytes], size: int
    ) -> str:
        """Check one uploaded file against its field and store it under a new name (no record
        holds it yet: the write that names it does, or `remove` takes it back)."""
        field = self.fields[collection][field_name]
        limit = max_size(field)
        if size > limit:
            raise FileRefused(f"the file is {size} bytes; at most {limit} are accepted")
        if size == 0:
            raise FileRefused("the file is empty")
        source.seek(0)
        head = source.read(HEAD_BYTES)
        source.seek(0)
        sniffed = sniff(head, filename)
        if not accepts(field, sniffed.media_type):
            allowed = ", ".join(field.accept or ())
            raise FileRefused(f"{sniffed.media_type} files are not accepted here ({allowed})")
        name = stored_name(filename, sniffed.extension)
        self.storage.put(self.key(collection, name), source, sniffed.media_type)
        return name

    def remove(self, collection: str, names: Iterable[str]) -> None:
        """Delete files and their thumbnails; a failure is logged, never raised (the write that
        let them go stands; `backforge files prune` finds what is left). A local directory
        deletes at once; a remote store in a thread of its own, so that no request (nor, on
        SQLite, the event loop running the group commit) waits for it."""
        sizes = {size for field in self.fields[collection].values() for size in field.thumbs or ()}
        keys = []
        for name in names:
            keys.append(self.key(collection, name))
            keys += [self.thumb_key(collection, size, name) for size in sizes]
        if not keys:
            return
        if isinstance(self.storage, LocalStorage):
            self._delete(keys)
            return
        with self._lock:
            if self._remover is None:
                self._remover = ThreadPoolExecutor(1, thread_name_prefix="backforge-files")
            self._removals = {f for f in self._removals if not f.done()}
            self._removals.add(self._remover.submit(self._delete, keys))

    def wait_for_removals(self, timeout: float = 30) -> None:
        """Return once the deletions handed to the remover thread are done."""
        with self._lock:
            pending = list(self._removals)
        wait(pending, timeout)

    def _delete(self, keys: list[str]) -> None:
        try:
            self.storage.delete(keys)
        except Exception:
            logger.exception("files could not be deleted: %s", keys)

    def cached_thumb(self, collection: str, name: str, size: str) -> StoredFile | None:
        """The thumbnail already made, if it was."""
        return self.storage.get(self.thumb_key(collection, size, name))

    def make_thumb(self, collection: str, name: str, size: str) -> StoredFile | None:
        """Make the thumbnail of an image (one maker per thumbnail at a time: the others wait
        and read what it made); None when the original is gone. Raises NotAnImage for a file
        that has no thumbnail. Callers limit how many are made at once."""
        key = self.thumb_key(collection, size, name)
        with self._lock:
            making = self._making.setdefault(key, threading.Lock())
        with making:
            try:
                found = self.storage.get(key)
                if found is not None:
                    return found
                original = self.storage.get(self.key(collection, name))
                if original is None:
                    return None
                thumb = Thumb.parse(size)
                assert thumb is not None  # sizes are checked against the declaration
                with _readable(original) as source:
                    image, media_type = make_thumb(source, thumb)
                self.storage.put(key, image, media_type)
            finally:
                with self._lock:
                    self._making.pop(key, None)
        return self.storage.get(key)


@contextmanager
def _readable(stored: StoredFile) -> Iterator[IO[bytes]]:
    """A stored file as a file object to read from (a local file, or a spooled copy)."""
    try:
        if stored.path is not None:
            with open(stored.path, "rb") as handle:
                yield handle
            return
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as copy:
            for chunk in stored.chunks or ():
                copy.write(chunk)
            copy.seek(0)
            yield copy
    finally:
        if stored.close is not None:
            stored.close()


__all__ = ["FileRefused", "FileService"]
