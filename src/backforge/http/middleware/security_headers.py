"""Security headers on every response; HSTS only over HTTPS; no server banner."""

from __future__ import annotations

from ...spec.server import SecurityHeaders


class SecurityHeadersMiddleware:
    def __init__(self, app, settings: SecurityHeaders):
        self.app = app
        headers = [(b"x-content-type-options", b"nosniff")]
        if settings.referrer_policy:
            headers.append((b"referrer-policy", settings.referrer_policy.encode()))
        if settings.frame_options:
            headers.append((b"x-frame-options", settings.frame_options.encode()))
        if settings.content_security_policy:
            headers.append((b"content-security-policy", settings.content_security_policy.encode()))
        headers.append((b"cross-origin-resource-policy", b"same-site"))
        self.headers = headers
        self.names = frozenset(name for name, _ in headers)
        self.https_headers = headers + (
            [(b"strict-transport-security", f"max-age={settings.hsts_max_age}".encode())]
            if settings.hsts_max_age
            else []
        )

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.https_headers if scope.get("scheme") == "https" else self.headers
        names = self.names

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                present = [h for h in message.get("headers", ()) if h[0] != b"server"]
                # A route's own policy (the docs page's CSP) wins over the default.
                own = {name for name, _ in present if name in names}
                present.extend(h for h in extra if h[0] not in own)
                message["headers"] = present
            await send(message)

        await self.app(scope, receive, send_with_headers)
