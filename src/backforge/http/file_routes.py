"""Downloads of the files of file fields, and signed links to them.

`GET /api/<collection>/<id>/files/<name>` answers when the caller may view the record and read
the field holding that name (the view rule, field read rules, hidden fields: as a GET of the
record), or when the query carries a valid, unexpired signature from
`POST /api/<collection>/<id>/files/<name>/link`. `?thumb=WxH` answers a declared thumbnail of
an image. Files are sent with a sandboxing CSP; a type a browser shows without running anything
(images except SVG, PDF, audio, video, plain text) as itself, inline, any other as an
`application/octet-stream` attachment — so no upload can serve as a page, a script or a style
of the API's origin."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from starlette.concurrency import iterate_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Route

from ..files.names import is_stored_name
from ..files.service import FileService
from ..files.sniff import media_type_of
from ..files.storage import StoredFile
from ..files.thumbs import KEPT_FORMATS, NotAnImage
from ..spec.model import Field
from ..spec.server import Files as FilesSettings
from ..store.caller import Caller
from ..store.errors import NotFound
from ..store.hooks import SYSTEM
from ..store.records import RecordStore
from .offload import Offload
from .problems import ProblemError
from .records import json_response, single_valued

SANDBOX = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
# Thumbnails made at once: each may hold a large decoded image.
THUMB_MAKERS = 2
_INLINE_PREFIXES = ("image/", "audio/", "video/")
_INLINE_TYPES = frozenset({"application/pdf", "text/plain"})
_DOWNLOAD_PARAMETERS = frozenset({"expires", "signature", "thumb", "download"})


class FileRoutes:
    def __init__(
        self,
        store: RecordStore,
        service: FileService,
        caller_of: Callable[[Request], Caller],
        settings: FilesSettings,
    ):
        self.store = store
        self.service = service
        self.caller_of = caller_of
        self.settings = settings
        self._read = Offload(store).store
        self._makers: anyio.CapacityLimiter | None = None  # made on the event loop

    def routes(self) -> list[Route]:
        routes = []
        for name, fields in self.store.file_fields.items():
            if fields and self.store.spec.collections[name].serves("view"):
                base = f"/api/{name}/{{id}}/files/{{file}}"
                routes.append(Route(base, self._download(name), methods=["GET", "HEAD"]))
                routes.append(Route(base + "/link", self._link(name), methods=["POST"]))
        return routes

    def _download(self, collection: str):
        async def endpoint(request: Request) -> Response:
            return await self.download(request, collection)

        return endpoint

    def _link(self, collection: str):
        async def endpoint(request: Request) -> Response:
            return await self.link(request, collection)

        return endpoint

    async def download(self, request: Request, collection: str) -> Response:
        record_id, name = request.path_params["id"], request.path_params["file"]
        params = single_valued(request, _DOWNLOAD_PARAMETERS)
        signed = "signature" in params or "expires" in params
        if signed:
            expires = _integer(params.get("expires"), "expires")
            valid = self.service.links.verify(
                collection, record_id, name, expires, params.get("signature", ""), time.time()
            )
            if not valid:
                raise ProblemError(403, "forbidden", "the link is not valid or has expired")
        field = await self._holding(
            collection, SYSTEM if signed else self.caller_of(request), record_id, name
        )
        media_type = media_type_of(name)
        size = params.get("thumb")
        if size is not None:
            if size not in (field.thumbs or ()):
                sizes = ", ".join(field.thumbs or ()) or "none"
                message = f"no thumbnail size '{size}' for this field (sizes: {sizes})"
                raise ProblemError(400, "invalid-query", message, parameter="thumb")
            try:
                stored = await self._thumb(collection, name, size)
            except NotAnImage as refused:
                raise ProblemError(400, "invalid-query", str(refused), parameter="thumb") from None
            media_type = _thumb_type(media_type)
        else:
            key = self.service.key(collection, name)
            stored = await anyio.to_thread.run_sync(self.service.storage.get, key)
        if stored is None:
            raise ProblemError(404, "not-found", f"the file '{name}' is missing from storage")
        inline = params.get("download") not in ("1", "true") and _shown_inline(media_type)
        if not _shown_inline(media_type):
            # Never a type a page could load as a script or a style (nosniff holds it to that).
            media_type = "application/octet-stream"
        headers = {
            "Content-Security-Policy": SANDBOX,
            "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{name}"',
            "Cache-Control": "private, max-age=0, must-revalidate",
        }
        return _response(stored, media_type, headers)

    async def _thumb(self, collection: str, name: str, size: str) -> StoredFile | None:
        """A thumbnail, made if it was not; at most THUMB_MAKERS are made at once, the others
        waiting on the event loop (not in a worker thread the database calls need)."""
        service = self.service
        stored = await anyio.to_thread.run_sync(service.cached_thumb, collection, name, size)
        if stored is not None:
            return stored
        if self._makers is None:
            self._makers = anyio.CapacityLimiter(THUMB_MAKERS)
        return await anyio.to_thread.run_sync(
            service.make_thumb, collection, name, size, limiter=self._makers
        )

    async def link(self, request: Request, collection: str) -> Response:
        record_id, name = request.path_params["id"], request.path_params["file"]
        params = single_valued(request, frozenset({"expires_in"}))
        ttl = self.settings.link_ttl
        if "expires_in" in params:
            ttl = _integer(params["expires_in"], "expires_in")
            if not 1 <= ttl <= self.settings.max_link_ttl:
                message = f"expires_in is 1 to {self.settings.max_link_ttl} seconds"
                raise ProblemError(400, "invalid-query", message, parameter="expires_in")
        await self._holding(collection, self.caller_of(request), record_id, name)
        expires = int(time.time()) + ttl
        signature = self.service.links.sign(collection, record_id, name, expires)
        url = f"/api/{collection}/{record_id}/files/{name}?expires={expires}&signature={signature}"
        return json_response({"url": url, "expires": expires})

    async def _holding(self, collection: str, caller: Caller, record_id: str, name: str) -> Field:
        """The field of the record holding the file, as the caller reads the record; 404 when
        the caller may not see the record or the field, or no field holds that name."""
        missing = NotFound(f"no file '{name}' in {collection}/{record_id}")
        if not is_stored_name(name):
            raise missing
        # A hidden field's files are never served (as its value is never shown).
        fields = {n: f for n, f in self.store.file_fields[collection].items() if not f.hidden}
        if not fields:
            raise missing
        record: dict[str, Any] = await self._read(
            self.store.get, collection, caller, record_id, tuple(fields)
        )
        for field_name, field in fields.items():
            value = record.get(field_name)
            if value == name or (isinstance(value, list) and name in value):
                return field
        raise missing


def _integer(text: str | None, parameter: str) -> int:
    if text is None or not text.isascii() or not text.isdigit() or len(text) > 12:
        raise ProblemError(
            400, "invalid-query", f"{parameter} is a whole number", parameter=parameter
        )
    return int(text)


def _shown_inline(media_type: str) -> bool:
    if media_type == "image/svg+xml":
        return False  # a script inside would run in the API's origin if opened directly
    return media_type.startswith(_INLINE_PREFIXES) or media_type in _INLINE_TYPES


def _thumb_type(original: str) -> str:
    """A thumbnail keeps its image's format when Pillow writes it, else it is a PNG."""
    return original if original in KEPT_FORMATS.values() else "image/png"


def _response(stored: StoredFile, media_type: str, headers: dict[str, str]) -> Response:
    if stored.path is not None:
        return FileResponse(stored.path, media_type=media_type, headers=headers)
    headers["Content-Length"] = str(stored.size)

    async def chunks():
        try:
            async for chunk in iterate_in_threadpool(stored.chunks or iter(())):
                yield chunk
        finally:
            if stored.close is not None:
                stored.close()

    return StreamingResponse(chunks(), media_type=media_type, headers=headers)
