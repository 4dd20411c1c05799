"""The `server:` section of a declaration: middleware settings with safe defaults.

No secrets live here: the Redis URL and the metrics token come from the environment (or files);
see `backforge.config`, which also lets the environment override every setting below.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from pydantic import Field as PydanticField

# "10/minute", "100 per hour", "5/second;100/minute" — the `limits` library's notation.
_RATE = re.compile(
    r"^\s*\d+\s*(/|per)\s*\d*\s*(second|minute|hour|day|month|year)s?\s*"
    r"(;\s*\d+\s*(/|per)\s*\d*\s*(second|minute|hour|day|month|year)s?\s*)*$"
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_rate(value: str) -> str:
    if not _RATE.match(value):
        raise ValueError(f"'{value}' is not a rate such as '100/minute' or '5/second;100/hour'")
    return value


class RateLimits(_Section):
    """Per caller (user id when signed in, else client IP), counted across processes with Redis."""

    enabled: bool = True
    default: str = "1000/minute"
    # Login, password reset, sign-up: anything under auth_prefix, always counted per client IP.
    auth: str = "10/minute"
    auth_prefix: str = "/api/auth/"
    strategy: Literal["fixed-window", "moving-window", "sliding-window-counter"] = "fixed-window"
    exempt_admins: bool = True

    _rates = field_validator("default", "auth")(_check_rate)


class Cors(_Section):
    """Cross-origin access for browsers; no origin is allowed unless listed."""

    origins: list[str] = PydanticField(default_factory=list)
    allow_credentials: bool = False
    methods: list[str] = PydanticField(
        default_factory=lambda: ["GET", "POST", "PATCH", "DELETE", "OPTIONS"]
    )
    headers: list[str] = PydanticField(
        default_factory=lambda: [
            "Authorization",
            "Content-Type",
            "If-Match",
            "If-None-Match",
            "X-Request-ID",
        ]
    )
    expose_headers: list[str] = PydanticField(
        default_factory=lambda: [
            "ETag",
            "Location",
            "X-Request-ID",
            "Retry-After",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
        ]
    )
    max_age: int = PydanticField(default=600, ge=0, le=86400)

    @field_validator("origins")
    @classmethod
    def _exact_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if origin != "*" and not re.match(r"^https?://[^/?#\s]+$", origin):
                raise ValueError(
                    f"'{origin}' is not an origin: write scheme://host[:port], no path"
                )
        return origins

    @model_validator(mode="after")
    def _no_wildcard_with_credentials(self) -> Cors:
        if self.allow_credentials and "*" in self.origins:
            raise ValueError("origins '*' cannot be combined with allow_credentials: list them")
        return self


class SecurityHeaders(_Section):
    enabled: bool = True
    content_security_policy: str = "default-src 'none'; frame-ancestors 'none'"
    referrer_policy: str = "no-referrer"
    frame_options: str = "DENY"
    # Sent only on requests that arrived over HTTPS; 0 turns it off.
    hsts_max_age: int = PydanticField(default=31_536_000, ge=0)


class Limits(_Section):
    """Request limits; breaking one answers a problem (413, 400, 414, 408), never a 500."""

    max_body_bytes: int | None = PydanticField(default=None, ge=1024)  # None: settings'
    max_json_depth: int = PydanticField(default=32, ge=2, le=1000)
    max_query_length: int = PydanticField(default=4096, ge=64, le=65536)
    request_timeout: float = PydanticField(default=30.0, gt=0, le=3600)


class Cache(_Section):
    """ETag/304 on every GET; an optional server-side cache of anonymous public reads."""

    etag: bool = True
    # Cache-Control max-age for anonymous reads of public collections (0: revalidate each time).
    max_age: int = PydanticField(default=0, ge=0, le=86400)
    responses: bool = False
    ttl: float = PydanticField(default=5.0, gt=0, le=86400)
    max_entries: int = PydanticField(default=10_000, ge=1)
    max_entry_bytes: int = PydanticField(default=262_144, ge=1)


class Compression(_Section):
    enabled: bool = True
    minimum_size: int = PydanticField(default=1024, ge=0)
    level: int = PydanticField(default=6, ge=1, le=9)


class Log(_Section):
    format: Literal["json", "console"] = "json"
    level: Literal["debug", "info", "warning", "error"] = "info"
    access: bool = True


class Metrics(_Section):
    enabled: bool = True


class GraphQL(_Section):
    """GraphQL at /graphql: the collections, relations and rules of the REST API, with limits
    on what one query may ask for (clear errors when crossed)."""

    enabled: bool = True
    # The schema for anyone who asks (GraphiQL needs it); the OpenAPI document is public too.
    introspection: bool = True
    max_depth: int = PydanticField(default=10, ge=1, le=100)
    max_aliases: int = PydanticField(default=30, ge=0, le=1000)
    # Fields a query may resolve, each counted once per record its lists may hold.
    max_complexity: int = PydanticField(default=50_000, ge=1)
    max_tokens: int = PydanticField(default=5_000, ge=100, le=1_000_000)


class Files(_Section):
    """Where the files of file fields are kept, and how long a signed download link lasts.

    `local`: a directory (`path`; default `<name>-files` beside the declaration). `s3`: a bucket
    of any S3-compatible store (`endpoint_url` for one that is not AWS); its credentials come
    from the environment as boto3 reads them (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...).
    """

    storage: Literal["local", "s3"] = "local"
    path: str | None = None
    bucket: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    prefix: str = PydanticField(default="", pattern=r"^([A-Za-z0-9_.-]+/)*$")
    link_ttl: int = PydanticField(default=3600, ge=1)
    max_link_ttl: int = PydanticField(default=7 * 86400, ge=1)

    @model_validator(mode="after")
    def _bucket_for_s3(self) -> Files:
        if self.storage == "s3" and not self.bucket:
            raise ValueError("storage: s3 needs a bucket (server.files.bucket)")
        return self


class Dashboard(_Section):
    """The admin dashboard: a page for admins only (the admin token or an admin account)."""

    enabled: bool = True
    path: str = PydanticField(default="/_/", pattern=r"^/([A-Za-z0-9_-]+/)+$")

    @field_validator("path")
    @classmethod
    def _not_the_apis(cls, path: str) -> str:
        if path.split("/")[1] in ("api", "docs", "graphql", "metrics", "healthz", "readyz"):
            raise ValueError(f"{path} is the API's own: choose another path, e.g. /_/ or /admin/")
        return path


class Database(_Section):
    """How each server process talks to PostgreSQL (SQLite needs no settings)."""

    # Connections per process kept for requests' writes (asyncpg, on the event loop), and as
    # many for their reads; requests beyond them wait for one. 10 served 32 concurrent clients
    # within 4-8% of 20 on one core (bench/README.md); processes x 2 x pool_size must stay
    # under PostgreSQL's max_connections.
    pool_size: int = PydanticField(default=10, ge=1, le=1000)
    pool_timeout: float = PydanticField(default=30.0, gt=0, le=3600)


class ServerSettings(_Section):
    """Everything between the client and the routes."""

    rate_limits: RateLimits = PydanticField(default_factory=RateLimits)
    cors: Cors = PydanticField(default_factory=Cors)
    security_headers: SecurityHeaders = PydanticField(default_factory=SecurityHeaders)
    limits: Limits = PydanticField(default_factory=Limits)
    cache: Cache = PydanticField(default_factory=Cache)
    compression: Compression = PydanticField(default_factory=Compression)
    log: Log = PydanticField(default_factory=Log)
    metrics: Metrics = PydanticField(default_factory=Metrics)
    graphql: GraphQL = PydanticField(default_factory=GraphQL)
    files: Files = PydanticField(default_factory=Files)
    dashboard: Dashboard = PydanticField(default_factory=Dashboard)
    database: Database = PydanticField(default_factory=Database)
    shutdown_timeout: float = PydanticField(default=10.0, ge=0, le=3600)
    # Proxies (addresses or networks; "*" for any) whose X-Forwarded-For / X-Forwarded-Proto
    # are believed: the client's address and scheme then come from those headers. None by
    # default: anyone can send them, so believing them lets a client pick its own address
    # (and escape per-IP rate limits and login lockouts).
    forwarded_allow_ips: list[str] = PydanticField(default_factory=list)
    # Every Redis key of this app starts with it (several apps may share one Redis).
    redis_key_prefix: str = PydanticField(default="backforge", pattern=r"^[A-Za-z0-9_:.-]{1,64}$")

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"'{entry}' is not an IP address or network (e.g. 10.0.0.1, 10.0.0.0/8) or *"
                ) from None
        return entries
