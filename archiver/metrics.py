"""Prometheus metrics of this process and of the archive, for `GET /metrics`.

FETCH_SECONDS is filled by whoever fetches (`observe_fetch`); queue depth, captures and articles
by status are read at scrape time from Redis and the catalog, so every API replica reports the same.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

FETCH_SECONDS = Histogram(
    "archiver_fetch_seconds", "Time of one fetch through the safe fetcher, redirects and retries included",
    ["kind", "outcome"], registry=None,
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 60),
)


def observe_fetch(kind: str, seconds: float, outcome: str) -> None:
    """Record one fetch: kind as in Fetcher.get (json, html, image, video), outcome 'ok' or a FetchError kind."""
    FETCH_SECONDS.labels(kind=kind, outcome=outcome).observe(seconds)


class ArchiveCollector(Collector):
    """Gauges computed on each scrape from the catalog and the broker."""

    def __init__(self, rt: Any, queue_depth: Any) -> None:
        self.rt = rt
        self.queue_depth = queue_depth

    def collect(self) -> Any:
        depth = GaugeMetricFamily("archiver_queue_depth", "Messages waiting in the Celery queue", labels=["queue"])
        n = self.queue_depth()
        if n is not None:
            depth.add_metric(["archiver"], n)
        yield depth
        for table, help_text in (("captures", "Post captures in the catalog by status"),
                                 ("articles", "Articles in the catalog by status")):
            fam = GaugeMetricFamily(f"archiver_{table}", help_text, labels=["status"])
            rows = self.rt.catalog.query(
                f"SELECT status, COUNT(*) AS n FROM {table} GROUP BY status ORDER BY status")  # noqa: S608
            for row in rows:
                fam.add_metric([row["status"]], row["n"])
            yield fam


def registry_for(rt: Any, queue_depth: Any) -> CollectorRegistry:
    """A fresh registry with FETCH_SECONDS and the archive gauges read from `rt.catalog`.

    `queue_depth` is a callable returning the number of queued messages, or None when unknown.
    """
    reg = CollectorRegistry()
    reg.register(FETCH_SECONDS)
    reg.register(ArchiveCollector(rt, queue_depth))
    return reg
