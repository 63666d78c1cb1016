"""Prometheus metrics of this process and of the archive, for `GET /metrics`.

FETCH_SECONDS is filled by whoever fetches (`observe_fetch`); queue depth, captures and articles
by status are read at scrape time from Redis and the catalog, so every API replica reports the same.

prometheus_client is imported only when a registry is built (`registry_for`, the /metrics route):
fetches count into a small thread-safe histogram of this module, which the registry's collector
reports as the histogram ``archiver_fetch_seconds`` (same name, labels and buckets as before), so a
process that never serves /metrics (the CLI, a worker) never loads prometheus_client.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import Metric

FETCH_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 60)


class FetchHistogram:
    """Fetch durations (seconds) by (kind, outcome), counted into FETCH_BUCKETS and an implicit +Inf
    bucket, with their sum; safe to observe from any thread. `collect` yields it as a Prometheus
    histogram (prometheus_client imported then)."""

    name = "archiver_fetch_seconds"
    documentation = "Time of one fetch through the safe fetcher, redirects and retries included"

    def __init__(self, buckets: tuple[float, ...] = FETCH_BUCKETS) -> None:
        self.buckets = tuple(sorted(buckets))
        self._lock = threading.Lock()
        # (kind, outcome) -> [count per bucket (non-cumulative, the last one +Inf)], sum of seconds
        self._series: dict[tuple[str, str], tuple[list[int], list[float]]] = {}

    def observe(self, kind: str, outcome: str, seconds: float) -> None:
        """Count one fetch of `seconds` under its labels (a bucket's bound is inclusive, as Prometheus')."""
        index = bisect_left(self.buckets, seconds)
        with self._lock:
            series = self._series.get((kind, outcome))
            if series is None:
                series = self._series[(kind, outcome)] = ([0] * (len(self.buckets) + 1), [0.0])
            series[0][index] += 1
            series[1][0] += seconds

    def snapshot(self) -> dict[tuple[str, str], tuple[list[int], float]]:
        """A copy of every series: labels -> (cumulative counts per bucket, +Inf last; sum of seconds)."""
        with self._lock:
            items = [(labels, list(counts), total[0]) for labels, (counts, total) in self._series.items()]
        out: dict[tuple[str, str], tuple[list[int], float]] = {}
        for labels, counts, total in items:
            running, cumulative = 0, []
            for n in counts:
                running += n
                cumulative.append(running)
            out[labels] = (cumulative, total)
        return out

    def collect(self) -> Iterator[Metric]:
        """The histogram as prometheus_client's HistogramMetricFamily (the Collector protocol)."""
        from prometheus_client.core import HistogramMetricFamily
        from prometheus_client.utils import floatToGoString

        family = HistogramMetricFamily(self.name, self.documentation, labels=["kind", "outcome"])
        bounds = [floatToGoString(b) for b in self.buckets] + ["+Inf"]
        for (kind, outcome), (cumulative, total) in sorted(self.snapshot().items()):
            family.add_metric([kind, outcome], list(zip(bounds, cumulative, strict=True)), total)
        yield family


FETCH_SECONDS = FetchHistogram()


def observe_fetch(kind: str, seconds: float, outcome: str) -> None:
    """Record one fetch: kind as in Fetcher.get (json, html, image, video), outcome 'ok' or a FetchError kind."""
    FETCH_SECONDS.observe(kind, outcome, seconds)


class ArchiveCollector:
    """Gauges computed on each scrape from the catalog and the broker (a prometheus_client Collector)."""

    def __init__(self, rt: Any, queue_depth: Any) -> None:
        self.rt = rt
        self.queue_depth = queue_depth

    def collect(self) -> Iterator[Metric]:
        """Queue depth, then captures and articles by status, as gauge families."""
        from prometheus_client.core import GaugeMetricFamily

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
    from prometheus_client import CollectorRegistry  # only where metrics are served

    reg = CollectorRegistry()
    reg.register(FETCH_SECONDS)
    reg.register(ArchiveCollector(rt, queue_depth))
    return reg
