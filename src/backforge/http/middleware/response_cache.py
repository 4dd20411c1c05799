"""A server-side cache of anonymous reads of public collections (memory, or Redis).

Only GETs without credentials, of a collection whose list/view rule is `public`, keyed by the
full path and query. Each collection has a generation that every committed write bumps (for the
collection and for those whose answers embed or filter through it); an entry computed at an older
generation is never served, so no write is ever hidden longer than it takes to commit. With
Redis the generations are shared by every process; in memory they are per process, and `ttl`
bounds how long another process's write can go unseen.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

import orjson

from ...spec.model import Spec
from ...spec.relations import resolve_link
from ...spec.server import Cache
from ...store.caller import Caller
from .context import caller_or_anonymous, route_path
from .metrics import Metrics
from .public_reads import PublicReads

logger = logging.getLogger("backforge.cache")
HIT_HEADER = (b"x-cache", b"hit")


def affected_collections(spec: Spec) -> dict[str, frozenset[str]]:
    """For each collection, the collections whose answers a write to it can change: itself,
    and every collection that reaches it through relations, however many hops away (paths,
    any() and count() read through them; cascades change their rows)."""
    referrers: dict[str, set[str]] = {name: set() for name in spec.collections}
    for name, collection in spec.collections.items():
        for field in collection.fields.values():
            if field.type == "relation" and field.to in referrers:
                referrers[field.to].add(name)
        for relation_name, relation in collection.relations.items():
            link = resolve_link(spec, name, relation, relation_name)
            for reached in (relation.to, link.table):
                if reached in referrers:
                    referrers[reached].add(name)
    affected = {}
    for name in spec.collections:
        seen = {name}
        todo = [name]
        while todo:
            for referrer in referrers[todo.pop()]:
                if referrer not in seen:
                    seen.add(referrer)
                    todo.append(referrer)
        affected[name] = frozenset(seen)
    return affected


class MemoryEntries:
    def __init__(self, settings: Cache):
        self.ttl = settings.ttl
        self.max_entries = settings.max_entries
        self.generations: dict[str, int] = {}
        self.entries: OrderedDict[str, tuple[int, float, int, list, bytes]] = OrderedDict()

    async def lookup(self, collection: str, key: str):
        generation = self.generations.get(collection, 0)
        entry = self.entries.get(key)
        if entry is not None and entry[0] == generation and entry[1] > time.monotonic():
            return entry[2], entry[3], entry[4], generation
        return None, None, None, generation

    async def store(self, collection, key, generation, status, headers, body) -> None:
        if self.generations.get(collection, 0) != generation:
            return
        self.entries[key] = (generation, time.monotonic() + self.ttl, status, headers, body)
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)

    def bump(self, collections: frozenset[str]) -> None:
        for name in collections:
            self.generations[name] = self.generations.get(name, 0) + 1


class RedisEntries:
    def __init__(self, settings: Cache, redis_url: str, prefix: str):
        import redis
        import redis.asyncio

        self.ttl_ms = int(settings.ttl * 1000)
        self.prefix = f"{prefix}:cache:"
        self.reader = redis.asyncio.Redis.from_url(redis_url)
        self.writer = redis.Redis.from_url(redis_url)  # bumps run in the store's (sync) thread

    def _generation_key(self, collection: str) -> str:
        return f"{self.prefix}gen:{collection}"

    async def lookup(self, collection: str, key: str):
        generation_raw, entry = await self.reader.mget(
            self._generation_key(collection), f"{self.prefix}entry:{collection}:{key}"
        )
        generation = int(generation_raw or 0)
        if entry is not None:
            stored_generation, status, headers, body = orjson.loads(entry)
            if stored_generation == generation:
                headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]
                return status, headers, body.encode("latin-1"), generation
        return None, None, None, generation

    async def store(self, collection, key, generation, status, headers, body) -> None:
        value = orjson.dumps(
            [
                generation,
                status,
                [(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers],
                body.decode("latin-1"),
            ]
        )
        await self.reader.set(f"{self.prefix}entry:{collection}:{key}", value, px=self.ttl_ms)

    def bump(self, collections: frozenset[str]) -> None:
        pipeline = self.writer.pipeline(transaction=False)
        for name in collections:
            pipeline.incr(self._generation_key(name))
        pipeline.execute()


class ResponseCacheMiddleware:
    def __init__(
        self,
        app,
        spec: Spec,
        settings: Cache,
        public: PublicReads,
        caller_of: Callable | None,
        redis_url: str | None = None,
        key_prefix: str = "backforge",
        metrics: Metrics | None = None,
    ):
        self.app = app
        self.public = public
        self.caller_of = caller_of
        self.max_entry_bytes = settings.max_entry_bytes
        self.metrics = metrics
        self.affected = affected_collections(spec)
        self.entries = (
            RedisEntries(settings, redis_url, key_prefix) if redis_url else MemoryEntries(settings)
        )

    def invalidate(self, collection: str) -> None:
        """Called by the store after each committed write."""
        try:
            self.entries.bump(self.affected.get(collection, frozenset({collection})))
        except Exception as exc:
            logger.warning("response cache invalidation failed: %s", type(exc).__name__)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        collection = self.public.collection(route_path(scope))
        if collection is None or self.public.carries_credentials(scope):
            await self.app(scope, receive, send)
            return
        caller: Caller = caller_or_anonymous(self.caller_of, scope)
        if not caller.is_anonymous:
            await self.app(scope, receive, send)
            return
        key = scope["path"] + "?" + scope["query_string"].decode("latin-1")
        try:
            status, headers, body, generation = await self.entries.lookup(collection, key)
        except Exception as exc:
            logger.warning("response cache unavailable: %s", type(exc).__name__)
            await self.app(scope, receive, send)
            return
        if status is not None:
            if self.metrics is not None:
                self.metrics.cache.labels("hit").inc()
            await send(
                {"type": "http.response.start", "status": status, "headers": [*headers, HIT_HEADER]}
            )
            await send({"type": "http.response.body", "body": body})
            return
        if self.metrics is not None:
            self.metrics.cache.labels("miss").inc()
        status = None
        start_headers: list = []
        chunks: list[bytes] | None = []

        async def send_and_keep(message) -> None:
            nonlocal status, start_headers, chunks
            if message["type"] == "http.response.start":
                # A copy now: the outer layers add per-request headers (ids, limits) later.
                status, start_headers = message["status"], list(message.get("headers", ()))
            elif chunks is not None and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    chunks = None  # streamed: not cached
            await send(message)

        await self.app(scope, receive, send_and_keep)
        if status != 200 or not chunks:
            return
        body = b"".join(chunks)
        if len(body) > self.max_entry_bytes:
            return
        try:
            await self.entries.store(collection, key, generation, 200, start_headers, body)
        except Exception as exc:
            logger.warning("response cache unavailable: %s", type(exc).__name__)
