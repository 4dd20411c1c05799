"""The middleware stack around the Starlette app, one module per concern.

From the outside in: request id + access log + metrics + security headers (`observe`),
/healthz /readyz /metrics (`operations`), CORS, gzip, request limits, rate limits, ETag/304 and
Cache-Control (`conditional`), the server-side cache of public reads (`response_cache`).
Every layer is plain ASGI and prepares its work once, at start-up.
"""

from __future__ import annotations

from ...config import ServerConfig
from ...store.records import RecordStore
from .compression import CompressionMiddleware
from .conditional import ConditionalGetMiddleware
from .context import remembered
from .contract_errors import ContractErrors
from .cors import CorsMiddleware
from .metrics import Metrics
from .observe import RequestObserver, route_resolver
from .operations import OperationsMiddleware
from .public_reads import PublicReads
from .rate_limit import RateLimitMiddleware
from .request_limits import RequestLimitsMiddleware
from .response_cache import ResponseCacheMiddleware
from .security_headers import SecurityHeaderSet
from .structured_logs import configure_logging

__all__ = ["build_middleware", "remembered"]


def build_middleware(app, store: RecordStore, config: ServerConfig):
    """Wrap `app` (the router of `http.app.build_app`) in the configured stack."""
    access_log = configure_logging(config.log)
    state = getattr(app, "state", None)
    caller_of = getattr(state, "caller_of", None) if state is not None else None
    if caller_of is not None:
        caller_of = remembered(caller_of)
    redis_url = config.redis
    public = PublicReads(store.spec)
    metrics = Metrics(store.engine) if config.metrics.enabled else None
    route_of = route_resolver(app)

    wrapped = app
    if config.cache.responses:
        cache = ResponseCacheMiddleware(
            wrapped,
            store.spec,
            config.cache,
            public,
            caller_of,
            redis_url,
            config.redis_key_prefix,
            metrics,
        )
        _listen_for_writes(store, cache.invalidate)
        wrapped = cache
    wrapped = ConditionalGetMiddleware(wrapped, config.cache, public)
    if config.rate_limits.enabled:
        wrapped = RateLimitMiddleware(
            wrapped,
            config.rate_limits,
            redis_url,
            config.redis_key_prefix,
            caller_of,
            metrics,
            account_paths(store.spec),
        )
    wrapped = RequestLimitsMiddleware(wrapped, config.limits, store.spec.settings.max_body_bytes)
    if store.spec.routes:
        wrapped = ContractErrors(wrapped, store.spec)
    if config.compression.enabled:
        wrapped = CompressionMiddleware(wrapped, config.compression)
    if config.cors.origins:
        wrapped = CorsMiddleware(wrapped, config.cors)
    secret = config.metrics_token.get_secret_value() if config.metrics_token else None
    wrapped = OperationsMiddleware(wrapped, store.engine, redis_url, metrics, secret, caller_of)
    security_headers = (
        SecurityHeaderSet(config.security_headers) if config.security_headers.enabled else None
    )
    log = access_log if config.log.access else None
    return RequestObserver(wrapped, metrics, log, route_of, security_headers)


def account_paths(spec) -> frozenset[str]:
    """Paths of declared routes that take a password or a refresh token."""
    return frozenset(
        key.split(" ", 1)[1]
        for key, route in spec.routes.items()
        if route.operation[0] in ("signup", "login", "refresh")
    )


def _listen_for_writes(store: RecordStore, listener) -> None:
    events = getattr(store, "events", None)
    if events is None:
        raise RuntimeError("this RecordStore cannot report writes; the response cache needs it")
    events.on_changed(listener)
