"""Prometheus metrics of one app: requests and latency by route template and status, the
database pool, the response cache. Each app has its own registry (several apps, one process)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, engine: Engine | None = None):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "backforge_requests",
            "HTTP requests answered, by method, route template and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "backforge_request_duration_seconds",
            "Time from the request's arrival to the end of its response.",
            ("method", "route"),
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "backforge_requests_in_flight", "Requests being handled now.", registry=self.registry
        )
        self.cache = Counter(
            "backforge_response_cache",
            "Server-side response cache lookups, by result.",
            ("result",),
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "backforge_rate_limited",
            "Requests refused with 429, by limit (default or auth).",
            ("limit",),
            registry=self.registry,
        )
        if engine is not None:
            self.registry.register(_PoolCollector(engine))
        # Label children looked up once per (method, route, status), not per request.
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
        children[0].inc()
        children[1].observe(seconds)


class _PoolCollector(Collector):
    """The database connection pool, read when scraped."""

    def __init__(self, engine: Engine):
        self.pool = engine.pool

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "backforge_db_pool_connections", "Database pool connections by state.", labels=["state"]
        )
        for state, reader in (("checked_out", "checkedout"), ("idle", "checkedin")):
            read = getattr(self.pool, reader, None)
            if read is not None:
                family.add_metric([state], float(read()))
        size = getattr(self.pool, "size", None)
        if size is not None:
            family.add_metric(["size"], float(size()))
        yield family
