"""Security misconfiguration: CORS, security headers, version banners, debug endpoints."""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

from ..client import ANONYMOUS, Exchange
from ..context import AuditContext
from ..findings import Severity
from ..openapi import Operation

NAME = "misconfiguration"
CATEGORY = "API8:2023"
EVIL_ORIGIN = "https://evil.example"
DEBUG_PATHS = {
    "/.env": Severity.HIGH,
    "/.git/config": Severity.HIGH,
    "/actuator/env": Severity.HIGH,
    "/actuator": Severity.MEDIUM,
    "/debug": Severity.MEDIUM,
    "/_debug": Severity.MEDIUM,
    "/debug/vars": Severity.MEDIUM,
    "/debug/pprof/": Severity.MEDIUM,
    "/admin": Severity.MEDIUM,
    "/console": Severity.MEDIUM,
    "/server-status": Severity.LOW,
    "/phpinfo.php": Severity.MEDIUM,
    "/_profiler": Severity.MEDIUM,
    "/metrics": Severity.LOW,
}
VERSION_IN_BANNER = re.compile(r"\d+\.\d+")
BANNER_HEADERS = (
    "server",
    "x-powered-by",
    "x-aspnet-version",
    "x-aspnetmvc-version",
    "x-runtime-version",
)


def run(ctx: AuditContext) -> None:
    sample = _sample_response(ctx)
    if sample is not None:
        _check_headers(ctx, sample)
        _check_banners(ctx, sample)
    _check_cors(ctx)
    _check_debug_endpoints(ctx)


def _sample_response(ctx: AuditContext) -> Exchange | None:
    """A successful response of a simple GET, as the authenticated user when there is one."""
    for op in ctx.operations("GET"):
        if op.path_params:
            continue
        exchange = ctx.call(op, identity=ctx.identity_for(op), check=NAME)
        if 200 <= exchange.status < 300:
            return exchange
    return None


def _check_headers(ctx: AuditContext, exchange: Exchange) -> None:
    headers = exchange.headers
    missing = []
    if headers.get("x-content-type-options", "").lower() != "nosniff":
        missing.append("X-Content-Type-Options: nosniff")
    csp = headers.get("content-security-policy", "").lower()
    if "x-frame-options" not in headers and "frame-ancestors" not in csp:
        missing.append("X-Frame-Options: DENY (or CSP frame-ancestors 'none')")
    if exchange.url.startswith("https://") and "strict-transport-security" not in headers:
        missing.append("Strict-Transport-Security")
    authenticated = any(k.lower() in {"authorization", "cookie"} for k in exchange.request_headers)
    cache = headers.get("cache-control", "").lower()
    if authenticated and "no-store" not in cache and "private" not in cache:
        missing.append("Cache-Control: no-store (on authenticated responses)")
    if missing:
        ctx.report(
            id="security-headers-missing",
            title="Security headers missing",
            severity=Severity.LOW,
            category=CATEGORY,
            operation="*",
            check=NAME,
            detail="Responses lack: " + "; ".join(missing) + f" (seen on {exchange.operation}).",
            fix="Add the headers in a middleware for every response.",
            evidence=[exchange],
        )


def _check_banners(ctx: AuditContext, exchange: Exchange) -> None:
    for name in BANNER_HEADERS:
        value = exchange.headers.get(name)
        if value and (name != "server" or VERSION_IN_BANNER.search(value)):
            ctx.report(
                id="version-banner",
                title="Server software and version disclosed",
                severity=Severity.LOW,
                category=CATEGORY,
                operation="*",
                check=NAME,
                detail=f"The {name} header says {value!r}, telling an attacker which exploits "
                "to try.",
                fix=f"Remove the {name} header or its version number.",
                evidence=[exchange],
            )
            return


def _lookalike_origins(base_url: str) -> list[str]:
    """Origins a loose allow-list lets through: `null` (sandboxed frames, files), the API's
    own host as a prefix or a suffix of another one, and its host over plain HTTP."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "", f":{parts.port}" if parts.port else ""
    scheme = parts.scheme
    origins = [
        "null",
        f"{scheme}://{host}.evil.example{port}",
        f"{scheme}://evil{host}{port}",
    ]
    if scheme == "https":
        origins.append(f"http://{host}{port}")
    return origins


def _cors_answer(ctx: AuditContext, op: Operation, origin: str) -> tuple[Exchange, str, bool]:
    """The answer to a request from `origin`: the origin it allows, and whether with
    credentials."""
    exchange = ctx.call(op, identity=ctx.identity_for(op), headers={"Origin": origin}, check=NAME)
    allowed = exchange.headers.get("access-control-allow-origin", "")
    credentials = exchange.headers.get("access-control-allow-credentials", "").lower() == "true"
    return exchange, allowed, credentials


def _check_cors(ctx: AuditContext) -> None:
    op = next((o for o in ctx.operations("GET") if not o.path_params), None)
    if op is None:
        return
    exchange, allow_origin, credentials = _cors_answer(ctx, op, EVIL_ORIGIN)
    if allow_origin != EVIL_ORIGIN:
        _check_lookalike_origins(ctx, op)
    if allow_origin in {EVIL_ORIGIN, "null"} and credentials:
        ctx.report(
            id="cors-any-origin-with-credentials",
            title="CORS trusts any origin with credentials",
            severity=Severity.HIGH,
            category=CATEGORY,
            operation="*",
            check=NAME,
            detail=f"A request from {EVIL_ORIGIN} is answered with Access-Control-Allow-Origin: "
            f"{allow_origin} and Allow-Credentials: true; any web site can read users' data.",
            fix="Allow only a fixed list of trusted origins; never echo the Origin header.",
            evidence=[exchange],
        )
    elif allow_origin == EVIL_ORIGIN:
        ctx.report(
            id="cors-reflects-origin",
            title="CORS reflects any origin",
            severity=Severity.LOW,
            category=CATEGORY,
            operation="*",
            check=NAME,
            detail=f"Access-Control-Allow-Origin echoes the request's Origin ({EVIL_ORIGIN}).",
            fix="Allow only a fixed list of trusted origins.",
            evidence=[exchange],
        )


def _check_lookalike_origins(ctx: AuditContext, op: Operation) -> None:
    """An allow-list matched loosely (by prefix, suffix or a missing `null` guard) lets a site
    that merely resembles the API read its answers with the user's credentials."""
    for origin in _lookalike_origins(ctx.client.base_url):
        exchange, allowed, credentials = _cors_answer(ctx, op, origin)
        if allowed != origin or not credentials:
            continue
        ctx.report(
            id="cors-lookalike-origin-with-credentials",
            title="CORS trusts a look-alike origin with credentials",
            severity=Severity.HIGH,
            category=CATEGORY,
            operation="*",
            check=NAME,
            detail=f"A request from {origin} is answered with Access-Control-Allow-Origin: "
            f"{allowed} and Allow-Credentials: true: the allow-list is matched loosely, so a "
            "site an attacker registers can read users' data.",
            fix="Compare the Origin with each trusted origin exactly (scheme, host and port); "
            "never allow `null` with credentials.",
            evidence=[exchange],
        )
        return


def _check_debug_endpoints(ctx: AuditContext) -> None:
    """Debug and admin endpoints reachable anonymously or by an ordinary user; one that only an
    administrator reaches (Prometheus metrics for admins) is what it should be."""
    documented = ctx.doc.documented_paths
    not_found = ctx.client.send("GET", f"/bf-audit-{secrets.token_hex(4)}", check=NAME, drift=False)
    admins = ctx.admin_users()
    ordinary = ctx.low_privilege_users() or [u for u in ctx.users if u not in admins]
    for path, severity in DEBUG_PATHS.items():
        if path in documented or path.rstrip("/") in documented:
            continue
        for identity in (ANONYMOUS, *ordinary[:1]):
            exchange = ctx.client.send("GET", path, identity=identity, check=NAME, drift=False)
            if 200 <= exchange.status < 300:
                break
        if not 200 <= exchange.status < 300:
            continue
        if not_found.status == exchange.status and not_found.body == exchange.body:
            continue  # a catch-all route, not an endpoint
        ctx.report(
            id="undocumented-debug-endpoint",
            title=f"Undocumented debug or admin endpoint reachable: {path}",
            severity=severity,
            category="API9:2023",
            operation=f"GET {path}",
            check=NAME,
            detail=f"GET {path} answers {exchange.status} but is not in the OpenAPI document.",
            fix="Remove debug and admin endpoints from production, or protect and document them.",
            evidence=[exchange],
        )
