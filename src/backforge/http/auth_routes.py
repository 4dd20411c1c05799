"""The auth endpoints: /api/auth/<collection>/... for each auth collection, plus /api/auth/me
and /api/auth/keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..auth.components import AuthComponents
from ..rules.parser import is_storable_text
from ..store.caller import Caller
from ..store.errors import FieldProblem, ValidationFailed
from ..store.validation import validation_failed
from .body import read_json_body
from .offload import Offload
from .problems import ProblemError
from .records import json_response


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        # A NUL or a lone surrogate could never match a stored value, and PostgreSQL refuses them.
        if isinstance(value, str) and not is_storable_text(value):
            raise ValueError("must not contain NUL characters or unpaired surrogates")
        return value


class LoginBody(_Body):
    identity: str | None = Field(default=None, max_length=254)
    email: str | None = Field(default=None, max_length=254)
    username: str | None = Field(default=None, max_length=64)
    password: str = Field(max_length=256)
    totp: str | None = Field(default=None, max_length=10)


class TokenBody(_Body):
    token: str = Field(max_length=512)


class RefreshBody(_Body):
    refresh_token: str = Field(max_length=512)


class EmailBody(_Body):
    email: str = Field(max_length=254)


class ResetBody(_Body):
    token: str = Field(max_length=512)
    password: str = Field(max_length=256)


class PasswordChangeBody(_Body):
    old_password: str = Field(max_length=256)
    new_password: str = Field(max_length=256)


class CodeBody(_Body):
    code: str = Field(max_length=10)


class TotpOffBody(_Body):
    password: str = Field(max_length=256)
    code: str = Field(max_length=10)


class ApiKeyBody(_Body):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class AuthRoutes:
    def __init__(self, auth: AuthComponents, caller_of: Callable[[Request], Caller], max_body: int):
        self.auth = auth
        self.caller_of = caller_of
        self.max_body = max_body
        self._run = Offload(auth.service.store).run

    def routes(self) -> list[Route]:
        served = [name for name, options in self.auth.service.options.items() if options.routes]
        if not served:
            return []
        routes = [
            Route("/api/auth/me", self.me, methods=["GET"]),
            Route("/api/auth/keys", self.keys, methods=["GET", "POST"]),
            Route("/api/auth/keys/{id}", self.revoke_key, methods=["DELETE"]),
        ]
        for name in served:
            base = f"/api/auth/{name}"
            for path, endpoint in (
                ("signup", self.signup),
                ("login", self.login),
                ("refresh", self.refresh),
                ("logout", self.logout),
                ("session", self.session),
                ("request-verification", self.request_verification),
                ("verify", self.verify),
                ("request-password-reset", self.request_password_reset),
                ("reset-password", self.reset_password),
                ("password", self.change_password),
                ("invite", self.invite),
                ("totp/setup", self.totp_setup),
                ("totp/enable", self.totp_enable),
                ("totp/disable", self.totp_disable),
            ):
                methods = ["POST", "DELETE"] if path == "session" else ["POST"]
                routes.append(Route(f"{base}/{path}", _bound(endpoint, name), methods=methods))
        return routes

    async def _body(self, request: Request, model: type[BaseModel]) -> Any:
        raw = await read_json_body(request, self.max_body)
        try:
            return model.model_validate_json(raw)
        except ValidationError as exc:
            raise validation_failed(exc) from None

    # -- accounts --------------------------------------------------------------------------

    async def signup(self, request: Request, collection: str) -> Response:
        raw = await read_json_body(request, self.max_body)
        invite = request.query_params.get("invite")
        tokens = await self._run(self.auth.service.signup, collection, raw, invite)
        return json_response(tokens.as_json(), 201)

    async def login(self, request: Request, collection: str) -> Response:
        body = await self._body(request, LoginBody)
        tokens = await self._run(
            self.auth.service.login,
            collection,
            login_identity(body),
            body.password,
            body.totp,
            client_address(request),
        )
        return json_response(tokens.as_json())

    async def refresh(self, request: Request, collection: str) -> Response:
        body = await self._body(request, RefreshBody)
        tokens = await self._run(self.auth.service.refresh, body.refresh_token)
        return json_response(tokens.as_json())

    async def logout(self, request: Request, collection: str) -> Response:
        body = await self._body(request, RefreshBody)
        await self._run(self.auth.service.logout, body.refresh_token)
        return Response(status_code=204)

    async def session(self, request: Request, collection: str) -> Response:
        """POST: log in with a cookie session (the body is a login); DELETE: log out."""
        sessions = self.auth.sessions
        secure = request.url.scheme == "https"
        if request.method == "DELETE":
            token = request.cookies.get(sessions.cookie)
            if token:
                await self._run(sessions.close, token)
            response = Response(status_code=204)
            response.delete_cookie(sessions.cookie, path="/", secure=secure, httponly=True)
            response.delete_cookie(sessions.csrf_cookie, path="/", secure=secure)
            return response
        body = await self._body(request, LoginBody)
        tokens = await self._run(
            self.auth.service.login,
            collection,
            login_identity(body),
            body.password,
            body.totp,
            client_address(request),
        )
        await self._run(self.auth.service.logout, tokens.refresh_token)
        token, csrf, ttl = await self._run(sessions.open, collection, tokens.record["id"])
        response = json_response({"record": tokens.record, "csrf_token": csrf})
        response.set_cookie(
            sessions.cookie,
            token,
            max_age=ttl,
            path="/",
            secure=secure,
            httponly=True,
            samesite="lax",
        )
        # Readable by the page's script, which echoes it in X-CSRF-Token on unsafe requests.
        response.set_cookie(
            sessions.csrf_cookie,
            csrf,
            max_age=ttl,
            path="/",
            secure=secure,
            httponly=False,
            samesite="strict",
        )
        return response

    async def me(self, request: Request) -> Response:
        caller = self.caller_of(request)
        if caller.id is None or caller.collection not in self.auth.service.options:
            raise ProblemError(401, "unauthorized", "no account is logged in")
        record = await self._run(self.auth.service.store.get, caller.collection, caller, caller.id)
        return json_response(record)

    async def change_password(self, request: Request, collection: str) -> Response:
        body = await self._body(request, PasswordChangeBody)
        caller = self.caller_of(request)
        # A cookie session that changes its password stays logged in; every other login ends.
        cookie = self.auth.sessions.cookie
        session = request.cookies.get(cookie) if caller.method == "session" else None
        await self._run(
            self.auth.service.change_password, caller, body.old_password, body.new_password, session
        )
        return Response(status_code=204)

    # -- one-time tokens -------------------------------------------------------------------

    async def request_verification(self, request: Request, collection: str) -> Response:
        body = await self._body(request, EmailBody)
        await self._run(self.auth.flows.request_verification, collection, body.email)
        return _accepted()

    async def verify(self, request: Request, collection: str) -> Response:
        body = await self._body(request, TokenBody)
        await self._run(self.auth.flows.verify, collection, body.token)
        return Response(status_code=204)

    async def request_password_reset(self, request: Request, collection: str) -> Response:
        body = await self._body(request, EmailBody)
        await self._run(self.auth.flows.request_password_reset, collection, body.email)
        return _accepted()

    async def reset_password(self, request: Request, collection: str) -> Response:
        body = await self._body(request, ResetBody)
        await self._run(self.auth.flows.reset_password, collection, body.token, body.password)
        return Response(status_code=204)

    async def invite(self, request: Request, collection: str) -> Response:
        body = await self._body(request, EmailBody)
        caller = self.caller_of(request)
        if not caller.is_admin:
            raise ProblemError(403, "forbidden", "only admins invite")
        await self._run(self.auth.flows.invite, caller, collection, body.email)
        return _accepted()

    # -- second factor ---------------------------------------------------------------------

    async def totp_setup(self, request: Request, collection: str) -> Response:
        return json_response(await self._run(self.auth.totp.setup, self.caller_of(request)))

    async def totp_enable(self, request: Request, collection: str) -> Response:
        body = await self._body(request, CodeBody)
        await self._run(self.auth.totp.enable, self.caller_of(request), body.code)
        return Response(status_code=204)

    async def totp_disable(self, request: Request, collection: str) -> Response:
        body = await self._body(request, TotpOffBody)
        await self._run(self.auth.totp.disable, self.caller_of(request), body.password, body.code)
        return Response(status_code=204)

    # -- API keys --------------------------------------------------------------------------

    async def keys(self, request: Request) -> Response:
        caller = self.caller_of(request)
        if caller.id is None or caller.collection not in self.auth.service.options:
            raise ProblemError(401, "unauthorized", "log in with an account to manage API keys")
        if request.method == "GET":
            return json_response({"items": await self._run(self.auth.api_keys.list, caller)})
        body = await self._body(request, ApiKeyBody)
        created = await self._run(
            self.auth.api_keys.create, caller, body.name, body.scopes, body.expires_in_days
        )
        return json_response(created, 201)

    async def revoke_key(self, request: Request) -> Response:
        caller = self.caller_of(request)
        if caller.id is None:
            raise ProblemError(401, "unauthorized", "log in with an account to manage API keys")
        if not await self._run(self.auth.api_keys.revoke, caller, request.path_params["id"]):
            raise ProblemError(404, "not-found", "no such API key")
        return Response(status_code=204)


def _bound(endpoint, collection: str):
    async def bound(request: Request) -> Response:
        return await endpoint(request, collection)

    return bound


def login_identity(body: LoginBody) -> str:
    identity = body.identity or body.email or body.username
    if not identity:
        raise ValidationFailed([FieldProblem("/email", "send email (or username, or identity)")])
    return identity


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _accepted() -> Response:
    # The same answer whether or not an account exists: nothing is revealed.
    return json_response(
        {"detail": "if an account exists for this address, a message is on its way"}, 202
    )
