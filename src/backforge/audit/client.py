"""The only way an audit talks to the target: bounded, host-restricted, write-guarded, recorded."""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from .findings import Evidence

BODY_TRIM = 2000
SECRET_HEADERS = {"authorization", "cookie", "x-api-key", "api-key", "proxy-authorization"}


class AuditError(Exception):
    """Base of the audit's own errors."""


class HostNotAllowed(AuditError):
    """The target is neither loopback nor named with --allow-host."""


class BudgetExhausted(AuditError):
    """The request or time budget of the audit is spent."""


class WriteNotAllowed(AuditError):
    """A destructive request was refused because --allow-writes was not given."""


@dataclass
class Identity:
    """Who a request is sent as: headers, cookies and query parameters that authenticate it."""

    name: str
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    token: str | None = None  # a bearer token, when the identity has one (JWT checks use it)
    username: str | None = None
    password: str | None = None
    self_registered: bool = False
    user_id: str | None = None
    email: str | None = None  # the account's address, for a password reset that asks for it

    @property
    def is_jwt(self) -> bool:
        return bool(self.token) and self.token.count(".") == 2 and self.token.startswith("eyJ")

    def with_token(self, token: str | None) -> Identity:
        """The same identity, with its bearer token replaced (or removed when None)."""
        word = next(
            (v.split(" ", 1)[0] for k, v in self.headers.items() if k.lower() == "authorization"),
            "Bearer",
        )
        headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
        if token is not None:
            headers["Authorization"] = f"{word} {token}"
        return Identity(name=f"{self.name}*", headers=headers, token=token)


ANONYMOUS = Identity(name="anonymous")


@dataclass
class Exchange:
    """A request sent and the response received."""

    method: str
    url: str
    path: str
    operation: str | None
    identity: str
    request_headers: dict[str, str]
    request_body: bytes | None
    status: int
    headers: httpx.Headers
    body: bytes
    elapsed: float
    check: str
    drift: bool = True  # False for probes whose statuses the document cannot be expected to list

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def is_json(self) -> bool:
        return self.content_type.endswith("json")

    def evidence(self, note: str | None = None) -> Evidence:
        return Evidence(
            method=self.method,
            url=self.url,
            request_headers={k: _mask(k, v) for k, v in self.request_headers.items()},
            request_body=_trim(self.request_body),
            status=self.status,
            response_headers=dict(self.headers.items()),
            response_body=_trim(self.body),
            note=note,
        )


def _mask(name: str, value: str) -> str:
    if name.lower() in SECRET_HEADERS and len(value) > 24:
        return value[:18] + "…" + value[-4:]
    return value


def _trim(body: bytes | None) -> str | None:
    if body is None:
        return None
    text = body.decode("utf-8", "replace")
    return text if len(text) <= BODY_TRIM else text[:BODY_TRIM] + f"… ({len(text)} chars)"


def is_loopback_host(host: str) -> bool:
    if host in {"localhost", "localhost.localdomain"} or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def check_host_allowed(url: str, allow_hosts: list[str]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise HostNotAllowed(f"{url!r} is not an http(s) URL")
    host = parts.hostname.lower()
    allowed = {h.lower() for h in allow_hosts}
    if host in allowed or (parts.port and f"{host}:{parts.port}" in allowed):
        return
    if not is_loopback_host(host):
        raise HostNotAllowed(
            f"{host} is not a loopback address; audit it only if you own it, "
            f"with --allow-host {host}"
        )


class AuditClient:
    """Sends requests to the target within the budget, refusing what the audit may not do."""

    def __init__(
        self,
        base_url: str,
        *,
        max_requests: int,
        max_time: float,
        allow_hosts: list[str] | None = None,
        allow_writes: bool = False,
        timeout: float = 10.0,
        on_request: Callable[[Exchange], None] | None = None,
    ) -> None:
        self.allow_hosts = list(allow_hosts or [])
        check_host_allowed(base_url, self.allow_hosts)
        self.base_url = base_url.rstrip("/")
        self.max_requests = max_requests
        self.deadline = time.monotonic() + max_time
        self.allow_writes = allow_writes
        self.sent = 0
        self.exchanges: list[Exchange] = []
        self.on_request = on_request
        self._http = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            headers={"User-Agent": "backforge-audit"},
            # The credentials sent to a loopback target never go through an HTTP_PROXY.
            trust_env=not is_loopback_host(urlsplit(base_url).hostname or ""),
        )

    def close(self) -> None:
        self._http.close()

    @property
    def remaining(self) -> int:
        return self.max_requests - self.sent

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    def has_budget(self, requests: int = 1) -> bool:
        return self.remaining >= requests and self.time_left() > 0

    def url_for(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return urljoin(self.base_url + "/", path.lstrip("/"))

    def _exchange(self, request: httpx.Request) -> tuple[int, httpx.Headers, bytes]:
        """Status, headers and body; status 0 when no answer came (timeout, refused, reset)."""
        for attempt in range(2):
            try:
                response = self._http.send(request)
                return response.status_code, response.headers, response.read()
            except httpx.TimeoutException:
                return 0, httpx.Headers(), b""
            except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                # a server that crashed on the previous request may drop the kept-alive
                # connection under this one: ask once more on a new connection
                if attempt:
                    return 0, httpx.Headers(), str(exc).encode()
            except httpx.TransportError as exc:
                return 0, httpx.Headers(), str(exc).encode()
        return 0, httpx.Headers(), b""

    def send(
        self,
        method: str,
        path: str,
        *,
        identity: Identity | None = None,
        operation: str | None = None,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        content: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        check: str = "",
        drift: bool = True,
        own_object: bool = False,
        timeout: float | None = None,
    ) -> Exchange:
        """Send one request; raise BudgetExhausted, WriteNotAllowed or HostNotAllowed instead."""
        method = method.upper()
        if not self.has_budget():
            raise BudgetExhausted(f"budget spent after {self.sent} requests")
        if method == "DELETE" and not self.allow_writes:
            raise WriteNotAllowed(f"{method} {path} needs --allow-writes")
        if method in {"PUT", "PATCH"} and not own_object and not self.allow_writes:
            raise WriteNotAllowed(f"{method} {path} on an object the audit did not create")
        url = self.url_for(path)
        check_host_allowed(url, self.allow_hosts)
        identity = identity or ANONYMOUS
        all_headers = {**identity.headers, **(headers or {})}
        all_params = {**identity.query, **(params or {})}
        if json_body is not None and content is None:
            content = json.dumps(json_body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        if isinstance(content, str):
            content = content.encode()
        request = self._http.build_request(
            method,
            url,
            params=all_params or None,
            content=content,
            headers=all_headers,
            cookies=identity.cookies or None,
            **({"timeout": timeout} if timeout else {}),
        )
        self.sent += 1
        started = time.perf_counter()
        status, resp_headers, body = self._exchange(request)
        elapsed = time.perf_counter() - started
        # Cookies belong to identities, never to the client: a session one login set must
        # not ride along on the next identity's (or the anonymous) requests.
        self._http.cookies.clear()
        exchange = Exchange(
            method=method,
            url=str(request.url),
            path=request.url.path,
            operation=operation,
            identity=identity.name,
            request_headers={
                k: v for k, v in request.headers.items() if k.lower() not in {"user-agent"}
            },
            request_body=content,
            status=status,
            headers=resp_headers,
            body=body,
            elapsed=elapsed,
            check=check,
            drift=drift,
        )
        self.exchanges.append(exchange)
        if self.on_request:
            self.on_request(exchange)
        return exchange
