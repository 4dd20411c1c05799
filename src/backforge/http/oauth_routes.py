"""The OpenID Connect login endpoints of each auth collection that declares providers:

- GET  /api/auth/<collection>/oauth/<provider>[?redirect=<app page>]: to the provider (302)
- GET  /api/auth/<collection>/oauth/<provider>/callback: back from it; tokens, or a 303 to the
  app page with a single-use exchange code in the fragment
- POST /api/auth/<collection>/oauth/exchange {code, totp?}: an exchange code for tokens
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio.to_thread
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..store.validation import validation_failed
from .body import read_json_body
from .records import json_response

if TYPE_CHECKING:
    from ..auth.oauth import OAuthLogin

STATE_COOKIE = "bf_oauth_state"
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


class ExchangeBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    code: str = Field(max_length=512)
    totp: str | None = Field(default=None, max_length=10)


class OAuthRoutes:
    def __init__(self, oauth: OAuthLogin, max_body: int):
        self.oauth = oauth
        self.max_body = max_body

    def routes(self) -> list[Route]:
        routes = []
        for collection in sorted({collection for collection, _ in self.oauth.clients}):
            routes.append(
                Route(
                    f"/api/auth/{collection}/oauth/exchange",
                    _bound(self.exchange, collection),
                    methods=["POST"],
                )
            )
        for collection, name in self.oauth.clients:
            base = f"/api/auth/{collection}/oauth/{name}"
            routes.append(Route(base, _bound(self.start, collection, name), methods=["GET"]))
            routes.append(
                Route(f"{base}/callback", _bound(self.callback, collection, name), methods=["GET"])
            )
        return routes

    async def start(self, request: Request, collection: str, name: str) -> Response:
        redirect = request.query_params.get("redirect")
        # Off the event loop: the first call fetches the provider's discovery document.
        url, state = await anyio.to_thread.run_sync(
            lambda: self.oauth.start(collection, name, redirect)
        )
        response = RedirectResponse(url, status_code=302, headers=_NO_STORE)
        # Binds the login to this browser: a callback that carries another browser's state
        # (login CSRF) is refused. Lax, so that the provider's redirect back brings it.
        response.set_cookie(
            STATE_COOKIE,
            state,
            max_age=int(self.oauth.state_lifetime.total_seconds()),
            path=f"/api/auth/{collection}/oauth/",
            secure=self.oauth.secure_cookies,
            httponly=True,
            samesite="lax",
        )
        return response

    async def callback(self, request: Request, collection: str, name: str) -> Response:
        params = dict(request.query_params)
        bound = request.cookies.get(STATE_COOKIE)
        completed = await anyio.to_thread.run_sync(
            lambda: self.oauth.finish(collection, name, params, bound)
        )
        if completed.redirect is not None:
            response: Response = RedirectResponse(
                completed.redirect, status_code=303, headers=_NO_STORE
            )
        else:
            assert completed.tokens is not None
            response = json_response(completed.tokens.as_json())
            response.headers.update(_NO_STORE)
        response.delete_cookie(
            STATE_COOKIE,
            path=f"/api/auth/{collection}/oauth/",
            secure=self.oauth.secure_cookies,
            httponly=True,
            samesite="lax",
        )
        return response

    async def exchange(self, request: Request, collection: str) -> Response:
        raw = await read_json_body(request, self.max_body)
        try:
            body = ExchangeBody.model_validate_json(raw)
        except ValidationError as exc:
            raise validation_failed(exc) from None
        tokens = await anyio.to_thread.run_sync(
            lambda: self.oauth.exchange(collection, body.code, body.totp)
        )
        response = json_response(tokens.as_json())
        response.headers.update(_NO_STORE)
        return response


def _bound(endpoint: Any, *names: str) -> Any:
    async def bound(request: Request) -> Response:
        return await endpoint(request, *names)

    return bound
