"""Who is calling: a bearer token (JWT), an API key, a session cookie, the admin token, or
nobody. A credential that is present but invalid is a 401, never a silent downgrade."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from ..auth.credentials import API_KEY_PREFIX, ApiKeys, Sessions
from ..auth.tokens import InvalidToken, TokenIssuer
from ..store.caller import ADMIN, ANONYMOUS, Caller
from .problems import ProblemError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _unauthorized(detail: str, scheme: str) -> ProblemError:
    return ProblemError(401, "unauthorized", detail, headers={"WWW-Authenticate": scheme})


class Callers:
    def __init__(
        self,
        admin_token: str | None,
        scheme: str = "Bearer",
        issuer: TokenIssuer | None = None,
        api_keys: ApiKeys | None = None,
        sessions: Sessions | None = None,
        token_header: str | None = None,
        token_cookie: str | None = None,
    ):
        """`token_header`, `token_cookie`: where else an access token may come from (a header
        that carries it bare, a cookie), after Authorization."""
        self.scheme = scheme
        self.token_header = token_header.lower() if token_header else None
        self.token_cookie = token_cookie
        self._admin = admin_token.encode() if admin_token else None
        self.issuer = issuer
        self.api_keys = api_keys
        self.sessions = sessions

    def __call__(self, request: Request) -> Caller:
        """Called once per request (http.app wraps it with middleware.context.remembered)."""
        headers = request.headers
        header = headers.get("authorization")
        if header is not None:
            word, _, credential = header.partition(" ")
            if word.lower() != self.scheme.lower() or not credential.strip():
                raise _unauthorized(f"send 'Authorization: {self.scheme} <token>'", self.scheme)
            return self._bearer(credential.strip())
        key = headers.get("x-api-key")
        if key is not None:
            return self._api_key(key.strip())
        if self.token_header is not None:
            bare = headers.get(self.token_header)
            if bare is not None and bare.strip():
                return self._bearer(bare.strip())
        if self.token_cookie is not None:
            cookie = request.cookies.get(self.token_cookie)
            if cookie:
                # A browser sends cookies on requests other sites start: an unsafe method must
                # also carry the token in X-CSRF-Token (which only the page's script can set).
                if request.method not in SAFE_METHODS:
                    sent = request.headers.get(Sessions.CSRF_HEADER, "")
                    if not hmac.compare_digest(sent.encode(), cookie.encode()):
                        raise ProblemError(
                            403, "csrf", f"send the token cookie's value in {Sessions.CSRF_HEADER}"
                        )
                return self._bearer(cookie)
        session = request.cookies.get(self.sessions.cookie) if self.sessions is not None else None
        if session is not None and self.sessions is not None:
            return self._session(request, session)
        return ANONYMOUS

    def for_credential(self, credential: str) -> Caller:
        """The caller a bare credential names: the admin token, an API key or an access token
        (what a WebSocket client sends in its first message)."""
        return self._bearer(credential.strip())

    def _bearer(self, credential: str) -> Caller:
        if self._admin is not None and hmac.compare_digest(credential.encode(), self._admin):
            return ADMIN
        if credential.startswith(API_KEY_PREFIX):
            return self._api_key(credential)
        if self.issuer is None:
            raise _unauthorized("invalid token", self.scheme)
        try:
            claims = self.issuer.verify(credential)
        except InvalidToken as exc:
            raise _unauthorized(str(exc), self.scheme) from None
        return Caller(
            id=claims["sub"],
            collection=claims.get("col"),
            is_admin=bool(claims.get("adm")),
            method="token",
            expires=float(claims["exp"]),
        )

    def _api_key(self, key: str) -> Caller:
        caller = self.api_keys.caller_for(key) if self.api_keys is not None else None
        if caller is None:
            raise _unauthorized("invalid, expired or revoked API key", self.scheme)
        return caller

    def _session(self, request: Request, token: str) -> Caller:
        assert self.sessions is not None
        found = self.sessions.caller_for(token)
        if found is None:
            return ANONYMOUS  # an expired cookie: the browser is simply logged out
        caller, csrf = found
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(Sessions.CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), csrf.encode()):
                raise ProblemError(
                    403, "csrf", f"send the session's CSRF token in {Sessions.CSRF_HEADER}"
                )
        return caller
