"""Security headers on every response; HSTS only over HTTPS.

They are added by the outermost layer (`observe`), in the one wrapper of `send` it already has;
that layer also drops any `server` header (uvicorn's banner is off as well).
"""

from __future__ import annotations

from ...spec.server import SecurityHeaders

Header = tuple[bytes, bytes]


class SecurityHeaderSet:
    def __init__(self, settings: SecurityHeaders):
        headers = [(b"x-content-type-options", b"nosniff")]
        if settings.referrer_policy:
            headers.append((b"referrer-policy", settings.referrer_policy.encode()))
        if settings.frame_options:
            headers.append((b"x-frame-options", settings.frame_options.encode()))
        if settings.content_security_policy:
            headers.append((b"content-security-policy", settings.content_security_policy.encode()))
        headers.append((b"cross-origin-resource-policy", b"same-site"))
        self.plain = headers
        self.https = headers + (
            [(b"strict-transport-security", f"max-age={settings.hsts_max_age}".encode())]
            if settings.hsts_max_age
            else []
        )
        self.names = frozenset(name for name, _ in self.https)

    def add_to(self, headers: list[Header], scope) -> None:
        """Add the headers for this request's scheme; a route's own policy (the docs page's CSP)
        wins over the default."""
        extra = self.https if scope.get("scheme") == "https" else self.plain
        own = {name for name, _ in headers if name in self.names}
        if own:
            extra = [header for header in extra if header[0] not in own]
        headers.extend(extra)
