"""Rate limits with the `limits` library: per user (or client IP), stricter on auth paths.

In memory for one process; in Redis when `REDIS_URL` is set, so that a limit holds across every
process that shares it. Refusals are 429 problems with Retry-After and RateLimit-* headers.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from limits import RateLimitItem, parse_many
from limits import strategies as sync_strategies
from limits.storage import MemoryStorage
from starlette.requests import Request

from ...spec.server import RateLimits
from ...store.caller import Caller
from .context import RESPONSE_HEADERS_KEY, caller_or_anonymous, client_ip, route_path
from .metrics import Metrics
from .problems import send_problem

logger = logging.getLogger("backforge.ratelimit")
KEYS_KEPT = 10_000  # storage keys remembered; beyond it they are forgotten and rebuilt

_SYNC = {
    "fixed-window": sync_strategies.FixedWindowRateLimiter,
    "moving-window": sync_strategies.MovingWindowRateLimiter,
    "sliding-window-counter": sync_strategies.SlidingWindowCounterRateLimiter,
}
_ASYNC = {
    "fixed-window": "FixedWindowRateLimiter",
    "moving-window": "MovingWindowRateLimiter",
    "sliding-window-counter": "SlidingWindowCounterRateLimiter",
}


class FixedWindowCounts(MemoryStorage):
    """limits' memory storage, lean on the fixed-window path: the event loop is one thread, so
    no lock is taken and no timer thread is started per sweep; expired keys are dropped when
    met and swept every `SWEEP_EVERY` increments."""

    SWEEP_EVERY = 10_000

    def __init__(self) -> None:
        super().__init__()
        self._until_sweep = self.SWEEP_EVERY

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        counts = self.storage
        if self.expirations.get(key, 0) <= now:
            counts[key] = amount
            self.expirations[key] = now + expiry
        else:
            counts[key] += amount
        self._until_sweep -= 1
        if self._until_sweep <= 0:
            self._until_sweep = self.SWEEP_EVERY
            for stale in [k for k, until in self.expirations.items() if until <= now]:
                counts.pop(stale, None)
                self.expirations.pop(stale, None)
        return counts[key]


class Verdict:
    __slots__ = ("allowed", "limit", "remaining", "reset")

    def __init__(self, allowed: bool, limit: int, remaining: int, reset: float | None):
        self.allowed = allowed
        self.limit = limit
        self.remaining = remaining
        self.reset = reset


class Counter:
    """Counts hits of one key against its rates, in memory or in Redis."""

    def __init__(self, settings: RateLimits, redis_url: str | None, key_prefix: str):
        self.fixed = settings.strategy == "fixed-window"
        # Storage keys by (rate, caller key): limits builds each from six strings per hit.
        self._full_keys: dict[tuple[RateLimitItem, str], str] = {}
        if redis_url:
            from limits.aio import strategies
            from limits.aio.storage import RedisStorage

            self.storage = RedisStorage(
                "async+" + redis_url,
                implementation="redispy",
                key_prefix=key_prefix,
                wrap_exceptions=True,
            )
            self.limiter = getattr(strategies, _ASYNC[settings.strategy])(self.storage)
            self.is_async = True
        else:
            self.storage = FixedWindowCounts() if self.fixed else MemoryStorage()
            self.limiter = _SYNC[settings.strategy](self.storage)
            self.is_async = False

    async def hit(self, items: list[RateLimitItem], key: str) -> Verdict:
        """In Redis: the first refusal, else the verdict with the fewest requests remaining."""
        closest = None
        for item in items:
            found = await self._hit_async(item, key)
            if not found.allowed:
                return found
            closest = _closer(found, closest)
        assert closest is not None
        return closest

    def hit_in_memory(self, items: list[RateLimitItem], key: str) -> Verdict:
        """`hit` on the in-memory storage, without a coroutine: this runs on every request."""
        closest = None
        for item in items:
            if self.fixed:
                count = self.storage.incr(self._full_key(item, key), item.get_expiry())
                found = self._fixed_verdict(item, count)
            else:
                allowed = self.limiter.hit(item, key)
                stats = self.limiter.get_window_stats(item, key)
                found = Verdict(allowed, item.amount, stats.remaining, stats.reset_time)
            if not found.allowed:
                if self.fixed:
                    found.reset = self.storage.get_expiry(self._full_key(item, key))
                return found
            closest = _closer(found, closest)
        assert closest is not None
        return closest

    async def _hit_async(self, item: RateLimitItem, key: str) -> Verdict:
        if self.fixed:
            # The fixed window in one call: the count tells allowed and remaining at once.
            full_key = self._full_key(item, key)
            found = self._fixed_verdict(item, await self.storage.incr(full_key, item.get_expiry()))
            if not found.allowed:
                found.reset = await self.storage.get_expiry(full_key)
            return found
        allowed = await self.limiter.hit(item, key)
        stats = await self.limiter.get_window_stats(item, key)
        return Verdict(allowed, item.amount, stats.remaining, stats.reset_time)

    def _full_key(self, item: RateLimitItem, key: str) -> str:
        full_key = self._full_keys.get((item, key))
        if full_key is None:
            if len(self._full_keys) >= KEYS_KEPT:
                self._full_keys.clear()
            full_key = self._full_keys[(item, key)] = item.key_for(key)
        return full_key

    @staticmethod
    def _fixed_verdict(item: RateLimitItem, count: int) -> Verdict:
        return Verdict(count <= item.amount, item.amount, max(0, item.amount - count), None)


def _closer(found: Verdict, closest: Verdict | None) -> Verdict:
    return found if closest is None or found.remaining < closest.remaining else closest


class RateLimitMiddleware:
    def __init__(
        self,
        app,
        settings: RateLimits,
        redis_url: str | None,
        key_prefix: str,
        caller_of: Callable[[Request], Caller] | None,
        metrics: Metrics | None = None,
        auth_paths: frozenset[str] = frozenset(),
    ):
        """`auth_paths`: more paths under the stricter limit (declared login and sign-up)."""
        self.app = app
        self.auth_paths = auth_paths
        self.counter = Counter(settings, redis_url, key_prefix)
        self.default = parse_many(settings.default)
        self.auth = parse_many(settings.auth)
        self.auth_prefix = settings.auth_prefix
        self.exempt_admins = settings.exempt_admins
        self.caller_of = caller_of
        self.metrics = metrics
        self._warned_at = 0.0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        if path.startswith(self.auth_prefix) or path in self.auth_paths:
            name, items, key = "auth", self.auth, "auth:" + client_ip(scope)
        else:
            caller = caller_or_anonymous(self.caller_of, scope)
            if caller.is_admin and self.exempt_admins:
                await self.app(scope, receive, send)
                return
            name, items = "default", self.default
            key = ("user:" + caller.id) if caller.id is not None else ("ip:" + client_ip(scope))
        counter = self.counter
        try:
            if counter.is_async:
                verdict = await counter.hit(items, key)
            else:
                verdict = counter.hit_in_memory(items, key)
        except Exception as exc:  # the store is down: serve rather than refuse everyone
            self._warn(exc)
            await self.app(scope, receive, send)
            return
        if not verdict.allowed:
            if self.metrics is not None:
                self.metrics.rate_limited.labels(name).inc()
            wait = max(1, math.ceil((verdict.reset or time.time() + 1) - time.time()))
            await send_problem(
                send,
                429,
                "rate-limited",
                f"too many requests; try again in {wait} seconds",
                title="Too many requests",
                headers={
                    "Retry-After": str(wait),
                    "RateLimit-Limit": str(verdict.limit),
                    "RateLimit-Remaining": "0",
                    "RateLimit-Reset": str(wait),
                },
            )
            return
        # Added to the response by the outermost layer (`observe.RequestObserver`).
        scope.setdefault(RESPONSE_HEADERS_KEY, []).extend(
            (
                (b"ratelimit-limit", str(verdict.limit).encode()),
                (b"ratelimit-remaining", str(verdict.remaining).encode()),
            )
        )
        await self.app(scope, receive, send)

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at > 10:
            self._warned_at = now
            logger.warning("rate limit storage unavailable, not limiting: %s", type(exc).__name__)
