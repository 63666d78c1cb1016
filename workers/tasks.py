"""Tasks: discover an article, capture each item, finalize once every item has ended.

Each task is idempotent and may be delivered again after a worker dies; a delivery counter in
Redis bounds how often, after which the item is stored as failed so the article still completes.
An infrastructure fault (archiver.faults: storage, catalog or broker trouble) inside a task is
retried with backoff and never stored as an item's outcome; a task that still cannot finish (or
whose retry cannot even be queued) is found again by the sweeper (workers/sweep.py).
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from celery import Task
from celery.exceptions import Reject, Retry
from celery.signals import worker_process_shutdown

from archiver.article.input import ArticleInput
from archiver.capture.ratelimit import RedisHostLimiter
from archiver.coordination import RedisCoordinator
from archiver.dates import iso, utcnow
from archiver.faults import is_infrastructure_error
from archiver.providers.base import RETRYABLE_STATUSES
from archiver.records.result import EmbedResult, ItemResult, failed_result
from archiver.runtime import Runtime
from archiver.steps import capture as capture_step
from archiver.steps import timestamp as timestamp_step
from archiver.steps.finalize import NotReady, finalize
from archiver.steps.prepare import load_plan, prepare
from archiver.steps.results import load_result, load_results, pending, save_result
from archiver.storage.layout import source_key
from workers.app import app, fetch_window, settings

log = logging.getLogger(__name__)
_runtime: Runtime | None = None


def runtime() -> Runtime:
    """One Runtime per worker process (created after fork)."""
    global _runtime
    if _runtime is None:
        coordinator = RedisCoordinator(settings.broker_url, lease=settings.lock_lease)
        limiter = RedisHostLimiter(settings.broker_url, settings)
        _runtime = Runtime.from_settings(settings, coordinator=coordinator, limiter=limiter)
    return _runtime


@worker_process_shutdown.connect
def close_runtime(**_: Any) -> None:
    """Close this worker process's Runtime (catalog, fetcher connections) when the process ends."""
    if _runtime is not None:
        _runtime.close()


def _over_delivered(task: Task) -> bool:
    """Whether this delivery of the task is one too many: a worker died holding it again and again.
    Counted per task id and retry, so a retry after a fault starts a fresh count."""
    coord = runtime().coordinator
    assert isinstance(coord, RedisCoordinator)
    attempts = coord.attempt(f"{task.request.id}:{task.request.retries}")
    return attempts > settings.max_redeliveries + 1


F = TypeVar("F", bound=Callable[..., Any])


def retry_faults(fn: F) -> F:
    """Run a bound task body; an infrastructure fault is retried with capped, jittered backoff (2 s
    doubling to fault_retry_max_delay) up to fault_retries times, and then left to the sweeper. When the
    retry itself cannot be queued, the message is handed back to the broker rather than dropped."""

    @functools.wraps(fn)
    def run(self: Task, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except Retry:
            raise
        except Exception as exc:
            if not is_infrastructure_error(exc) or self.request.retries >= settings.fault_retries:
                raise
            delay = min(settings.fault_retry_max_delay, 2.0 * 2 ** self.request.retries) * random.uniform(0.8, 1.2)
            log.warning("%s[%s]: %s: %s; retrying in %.0f s", self.name, self.request.id, type(exc).__name__,
                        exc, delay)
            try:
                raise self.retry(exc=exc, countdown=delay, max_retries=settings.fault_retries) from None
            except Reject as refused:
                # Celery could not queue the retry (the broker is the fault) and would drop the message:
                # hand it back instead; if even that fails, the broker redelivers it after the
                # visibility timeout, and the sweeper is behind both.
                log.warning("%s[%s]: the retry could not be queued (%s); the message goes back to the queue",
                            self.name, self.request.id, refused.reason)
                raise Reject(refused.reason, requeue=True) from None

    return run  # type: ignore[return-value]


def _start_capture_clock(rt: Runtime) -> None:
    """Fetches of this task end before its soft time limit, so it stores what it has in time."""
    rt.fetcher.deadline_at = time.monotonic() + fetch_window(settings)


@app.task(bind=True, name="archiver.process_article")
@retry_faults
def process_article(self: Task, article_id: str, source_sha256: str, url: str | None = None,
                    base_url: str | None = None, fmt: str = "auto", charset: str | None = None,
                    published_at: str | None = None) -> dict[str, Any]:
    """Discover the stored source's items and queue one capture per pending item (or the finalize).

    The arguments after the sha256 are the fields of the ArticleInput Intake took in
    (archiver/runners/intake.py sends them as keyword arguments)."""
    rt = runtime()
    article = ArticleInput(rt.store.get(source_key(article_id, source_sha256)), url=url, base_url=base_url,
                           charset=charset, format=fmt, published_at=published_at)
    plan = prepare(rt, article, article_id=article_id, source_stored=True)
    todo = pending(plan, load_results(rt, plan))
    for iid in (it.item_id for it in plan.items if it.item_id not in todo):
        rt.coordinator.mark_done(plan.group, iid)
    for iid in todo:
        capture_item.delay(article_id, source_sha256, iid)
    if not todo:
        finalize_article.delay(article_id, source_sha256)
    return {"article_id": article_id, "items": len(plan.items), "queued": len(todo)}


@app.task(bind=True, name="archiver.capture_item")
@retry_faults
def capture_item(self: Task, article_id: str, source_sha256: str, item_id: str,
                 force: bool = False, attempt: int = 0) -> str:
    """Capture one item of the plan (archiver.steps.capture), then queue the finalize when it was the
    last; a retryable outcome (RETRYABLE_STATUSES: partial, unavailable, failed) is captured again
    after the next capture_retry_delays entry (an unavailable or failed one under the same capture
    id; a partial one under a new id, the partial capture kept unless the new one is as good: see
    archiver.steps.capture.settle): by a countdown here when that is short (a message held for later
    must stay under the broker's visibility timeout), else by the sweeper, which reads the item's
    retry_at. The attempts end with the delays, whatever the outcome."""
    rt = runtime()
    _start_capture_clock(rt)
    plan = load_plan(rt, article_id, source_sha256)
    if _over_delivered(self):
        result = failed_result(plan.item(item_id), "worker lost too often while capturing")
        # A partial (or archived) result already stored stays the item's, the loss noted in its error.
        result = capture_step.settle(load_result(rt, plan, item_id), result.model_copy(update={"attempt": attempt}),
                                     iso(utcnow()))
        save_result(rt, plan, result)
    else:
        result = capture_step.capture_item(rt, plan, item_id, force=force, attempt=attempt)
    _note_for_timestamps(rt, result)
    if rt.coordinator.mark_done(plan.group, item_id) >= len(plan.items):
        finalize_article.delay(article_id, source_sha256, "archive" if attempt == 0 else "retry")
    delays = settings.capture_retry_delay_list
    if result.status in RETRYABLE_STATUSES and attempt < len(delays) and delays[attempt] <= _countdown_limit():
        # The article is finalized with what there is now; a later capture that succeeds
        # finalizes it again into a new version (the workers' backoff).
        capture_item.apply_async((article_id, source_sha256, item_id), {"force": True, "attempt": attempt + 1},
                                 countdown=delays[attempt] * random.uniform(0.8, 1.0))
    return result.status


def _note_for_timestamps(rt: Runtime, result: ItemResult) -> None:
    """Put the item's capture in the pending set of trusted time (archiver/steps/timestamp.py) and
    schedule one timestamp_pending batch per tsa_batch_window; nothing when no TSA is configured. A
    failure here is only logged: the beat's scan finds the capture again."""
    if not settings.tsa_url_list or not isinstance(result, EmbedResult) or not result.manifest_key:
        return
    coord = rt.coordinator
    assert isinstance(coord, RedisCoordinator)
    try:
        timestamp_step.note_captures(coord.redis, [result.manifest_key],
                                     lambda countdown: timestamp_pending.apply_async(countdown=countdown),
                                     settings.tsa_batch_window, _countdown_limit())
    except Exception as exc:
        log.warning("capture %s not noted for timestamping (%s: %s); the beat's scan finds it",
                    result.manifest_key, type(exc).__name__, exc)


@app.task(bind=True, name="archiver.timestamp_pending")
@retry_faults
def timestamp_pending(self: Task, scan: bool = False) -> dict[str, Any]:
    """Timestamp every due capture of the pending set as one batch (RFC 3161; with `scan`, also what
    the catalog shows without a complete record): archiver.steps.timestamp.run_pending, its TSA
    requests ending before the task's soft time limit. Returns the run (TimestampRun.to_json())."""
    rt = runtime()
    coord = rt.coordinator
    assert isinstance(coord, RedisCoordinator)
    run = timestamp_step.run_pending(rt, coord.redis, scan=scan, deadline=time.monotonic() + fetch_window(settings))
    return run.to_json()


def _countdown_limit() -> float:
    """The longest delay a task message may be held for: half the visibility timeout (a held message
    is unacknowledged, and one older than the timeout would be delivered a second time)."""
    return settings.visibility_timeout / 2


@app.task(bind=True, name="archiver.finalize_article", max_retries=5, default_retry_delay=2)
@retry_faults
def finalize_article(self: Task, article_id: str, source_sha256: str, reason: str = "archive") -> int:
    """Write the article's next version once every item has a result (NotReady: retried shortly)."""
    rt = runtime()
    plan = load_plan(rt, article_id, source_sha256)
    try:
        return finalize(rt, plan, reason=reason).number
    except NotReady as exc:
        raise self.retry(exc=exc) from exc
