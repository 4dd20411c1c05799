"""What a custom endpoint's handler receives: the request's values, the store bound to the
caller, the auth service, and helpers for HTML (autoescaping templates) and redirects."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from ..store.bound import BoundStore
from ..store.caller import Caller
from ..store.hooks import SYSTEM
from ..store.records import RecordStore
from .endpoint_io import Body, UploadedFile


class Templates:
    """Jinja2 templates from a folder (`templates/` beside the declaration), autoescaping
    HTML and XML: a value is text in the page, never markup."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._environment: Any = None

    def render(self, name: str, context: dict[str, Any]) -> str:
        if self._environment is None:
            from jinja2 import Environment, FileSystemLoader, select_autoescape

            self._environment = Environment(
                loader=FileSystemLoader(self.folder),
                autoescape=select_autoescape(default=True, default_for_string=True),
            )
        return self._environment.get_template(name).render(context)


class EndpointContext:
    """What a custom endpoint's handler receives:

    - `caller`, `path_params`, `query`, `client_address`, `request` (Starlette's);
    - `body`: the model (when the endpoint names one), else the JSON value, the form's fields
      (dict), text or bytes; `files`: the files of a multipart body, by field name;
    - `store` (the caller's rules) and `system` (none): see backforge.store.bound;
    - `auth`: sign up, log in (throttled per client address), refresh, verify tokens;
    - `render(template, **values)`: an HTML answer; `redirect(url)`.
    """

    def __init__(
        self,
        request: Request,
        caller: Caller,
        body: Body,
        store: RecordStore,
        auth: Any,
        templates: Templates | None = None,
        atomic: Callable[..., Any] | None = None,
    ):
        self.request = request
        self.caller = caller
        self.body = body.value
        self.files: dict[str, list[UploadedFile]] = body.files or {}
        self.path_params = request.path_params
        self.query = request.query_params
        # The client's IP (what the server was told: see server.forwarded_allow_ips).
        self.client_address = request.client.host if request.client else None
        self.store = BoundStore(store, caller)
        self.system = BoundStore(store, SYSTEM)
        # The auth service (hash/verify passwords, log in, refresh, verify tokens), when the
        # declaration has an auth collection; its logins count failures per this client.
        self.auth = None if auth is None else RequestAuth(auth, self.client_address)
        self._templates = templates
        # Given by http/custom.py, which knows where a transaction runs (see `atomic`).
        self._atomic = atomic

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        if self._templates is None:
            raise RuntimeError("templates need a declaration file (templates/ beside it)")
        return HTMLResponse(self._templates.render(template, values), status)

    @staticmethod
    def redirect(url: str, status: int = 303) -> RedirectResponse:
        return RedirectResponse(url, status)

    async def atomic(self, work: Callable[[EndpointContext], Any]) -> Any:
        """For async handlers: run `work(ctx)` (a plain function) in one write transaction,
        off the event loop where the database is a network one; all of it or nothing."""
        assert self._atomic is not None
        return await self._atomic(work, self)


class RequestAuth:
    """The auth service for one request: `login` throttles per the request's client address,
    as the /api/auth routes do; everything else is the service's own."""

    def __init__(self, service: Any, address: str | None):
        self._service = service
        self._address = address

    def login(
        self,
        collection: str,
        identity: str,
        password: str,
        totp: str | None = None,
        address: str | None = None,
    ) -> Any:
        return self._service.login(collection, identity, password, totp, address or self._address)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._service, name)
