"""Prometheus metrics of one app: requests and latency by route template and status, the
database pool, the response cache. Each app has its own registry (several apps, one process)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from sqlalchemy import Engine

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, engine: Engine | None = None):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = RequestCounts()
        self.registry.register(self.requests)
        self.in_flight = 0  # requests being handled now, read when scraped
        Gauge(
            "backforge_requests_in_flight", "Requests being handled now.", registry=self.registry
        ).set_function(lambda: self.in_flight)
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

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.observe(method, route, status, seconds)


class RequestCounts(Collector):
    """Requests and their latency, counted in plain dicts and turned into metric families when
    scraped. Only the event loop's thread counts, so no lock is needed; prometheus_client's
    Counter and Histogram took one per value, five per request."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, int], int] = {}
        # per (method, route): a count per bucket (the last one for +Inf), then the sum
        self.latency: dict[tuple[str, str], list[float]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        histogram = self.latency.get((method, route))
        if histogram is None:
            histogram = self.latency[(method, route)] = [0] * (len(_BUCKETS) + 2)
        histogram[bisect_left(_BUCKETS, seconds)] += 1  # le is inclusive
        histogram[-1] += seconds

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        requests = CounterMetricFamily(
            "backforge_requests",
            "HTTP requests answered, by method, route template and status.",
            labels=("method", "route", "status"),
        )
        for (method, route, status), count in list(self.counts.items()):
            requests.add_metric((method, route, str(status)), count)
        yield requests
        latency = HistogramMetricFamily(
            "backforge_request_duration_seconds",
            "Time from the request's arrival to the end of its response.",
            labels=("method", "route"),
        )
        for labels, histogram in list(self.latency.items()):
            counts = histogram[:-1]
            cumulative, buckets = 0, []
            for bound, count in zip((*_BUCKETS, float("inf")), counts, strict=True):
                cumulative += count
                buckets.append((floatToGoString(bound), cumulative))
            latency.add_metric(labels, buckets, histogram[-1])
        yield latency


class _PoolCollector(Collector):
    """The database connection pool, read when scraped."""

    def __init__(self, engine: Engine):
        self.pool = engine.pool

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "backforge_db_pool_connections", "Database pool connections by state.", labels=["state"]
        )
        # Pools differ: QueuePool has all three readers, SQLite's in-memory pools some or none
        # (SingletonThreadPool.size is a number, not a reader).
        for state, reader in (
            ("checked_out", "checkedout"),
            ("idle", "checkedin"),
            ("size", "size"),
        ):
            read = getattr(self.pool, reader, None)
            if callable(read):
                family.add_metric([state], float(read()))
        yield family
