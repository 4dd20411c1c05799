"""Where files live: a local directory or an S3-compatible bucket, behind one small interface.

Keys are made by backforge (`<collection>/<stored name>`, thumbnails under
`<collection>/thumbs/<size>/<stored name>`), never taken from a client. Files are written from a
file object in chunks and read back as a path or a stream of chunks: none is held whole in memory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from ..extras import require
from ..spec.server import Files as FilesSettings

CHUNK = 1024 * 1024


@dataclass
class StoredFile:
    """A file to send: a local path, or chunks to stream (and what closes them)."""

    size: int
    path: Path | None = None
    chunks: Iterator[bytes] | None = None
    close: Any = None


class Storage(Protocol):
    def put(self, key: str, source: IO[bytes], media_type: str) -> None: ...

    def get(self, key: str) -> StoredFile | None: ...

    def delete(self, keys: Iterable[str]) -> None: ...

    def entries(self, prefix: str) -> Iterator[tuple[str, float]]:
        """Every key starting with `prefix`, with when it was written (UNIX time)."""
        ...


class LocalStorage:
    """Files in a directory: written to a temporary file beside their place, then renamed, so a
    reader never sees half a file."""

    def __init__(self, root: Path):
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"not a file key: {key!r}")
        return path

    def put(self, key: str, source: IO[bytes], media_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as target:
                shutil.copyfileobj(source, target, CHUNK)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> StoredFile | None:
        path = self._path(key)
        try:
            return StoredFile(size=path.stat().st_size, path=path)
        except FileNotFoundError:
            return None

    def delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._path(key).unlink(missing_ok=True)

    def entries(self, prefix: str) -> Iterator[tuple[str, float]]:
        base = self._path(prefix.rstrip("/")) if prefix else self.root
        if not base.is_dir():
            return
        for folder, _subfolders, names in os.walk(base):
            for name in names:
                path = Path(folder) / name
                try:
                    modified = path.stat().st_mtime
                except FileNotFoundError:  # deleted meanwhile
                    continue
                yield path.relative_to(self.root).as_posix(), modified


class S3Storage:
    """Files in a bucket of any S3-compatible store (boto3; uploads in parts, downloads
    streamed)."""

    def __init__(self, settings: FilesSettings):
        require("s3", "storage: s3")
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        assert settings.bucket is not None
        # Parts of 5 MiB (S3's smallest), two at a time and two read ahead: an upload holds
        # about 20 MiB in memory (boto3's defaults, ten of 8 MiB each, would hold 80 MiB).
        self.transfer = TransferConfig(multipart_chunksize=5 * CHUNK, max_concurrency=2)
        self.transfer.max_in_memory_upload_chunks = 2  # s3transfer's, not in boto3's arguments
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        self.client = boto3.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        )

    def put(self, key: str, source: IO[bytes], media_type: str) -> None:
        self.client.upload_fileobj(
            source,
            self.bucket,
            self.prefix + key,
            ExtraArgs={"ContentType": media_type},
            Config=self.transfer,
        )

    def get(self, key: str) -> StoredFile | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except self.client.exceptions.NoSuchKey:
            return None
        body = answer["Body"]
        return StoredFile(
            size=answer["ContentLength"], chunks=body.iter_chunks(CHUNK), close=body.close
        )

    def delete(self, keys: Iterable[str]) -> None:
        names = [{"Key": self.prefix + key} for key in keys]
        for start in range(0, len(names), 1000):  # at most 1000 keys a request
            batch = names[start : start + 1000]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def entries(self, prefix: str) -> Iterator[tuple[str, float]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        for page in pages:
            for item in page.get("Contents", ()):
                yield item["Key"][len(self.prefix) :], item["LastModified"].timestamp()


def open_storage(settings: FilesSettings, default_root: Path) -> Storage:
    if settings.storage == "s3":
        return S3Storage(settings)
    return LocalStorage(Path(settings.path) if settings.path else default_root)
