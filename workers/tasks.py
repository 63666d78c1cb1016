"""Tasks: discover an article, capture each item, finalize once every item has ended.

Each task is idempotent and may be delivered again after a worker dies; a delivery counter in
Redis bounds how often, after which the item is stored as failed so the article still completes.
An infrastructure fault (archiver.faults: storage, catalog or broker trouble) inside a task is
retried with backoff and never stored as an item's outcome; a task that still cannot finish (or
whose retry cannot even be queued) is found again by the sweeper (workers/sweep.py).
"""

from __future__ import annotations

import contextvars
import functools
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from celery import Task
from celery.exceptions import Reject, Retry, SoftTimeLimitExceeded
from celery.signals import worker_init, worker_process_shutdown

from archiver.article.input import ArticleInput
from archiver.capture.ratelimit import RedisHostLimiter
from archiver.config.settings import Settings
from archiver.coordination import RedisCoordinator, mark_item_done
from archiver.dates import iso, utcnow
from archiver.faults import is_infrastructure_error
from archiver.providers.base import RETRYABLE_STATUSES
from archiver.records.plan import Plan
from archiver.records.result import EmbedResult, ItemResult, failed_result
from archiver.runtime import Runtime
from archiver.steps import capture as capture_step
from archiver.steps import timestamp as timestamp_step
from archiver.steps.finalize import NotReady, finalize
from archiver.steps.prepare import current_source, load_plan, prepare
from archiver.steps.results import load_result, load_results, pending, save_result
from archiver.storage.layout import source_key
from workers.app import app, fetch_window, settings
from workers.warm import warm

log = logging.getLogger(__name__)
_runtime: Runtime | None = None
# The worker's pool processes (--concurrency), known in its main process before the fork (worker_init).
_pool_processes = 1


def runtime() -> Runtime:
    """One Runtime per worker process (created after fork)."""
    global _runtime
    if _runtime is None:
        coordinator = RedisCoordinator(settings.broker_url, lease=settings.lock_lease)
        limiter = RedisHostLimiter(settings.broker_url, settings)
        _runtime = Runtime.from_settings(process_settings(settings, _pool_processes), coordinator=coordinator,
                                         limiter=limiter)
    return _runtime


def process_settings(s: Settings, processes: int) -> Settings:
    """The settings one of a worker's `processes` pool processes runs with: `media_workers` image
    workers are the machine's, shared among them (each gets its ceiling share, at least one), since
    each process captures an article's items on threads and starts image workers of its own."""
    return s.replace(media_workers=max(1, -(-s.media_workers // max(1, processes))))


@worker_init.connect
def warm_before_fork(sender: Any = None, **_: Any) -> None:
    """In the worker's main process, before the pool forks: note how many pool processes it runs, and
    build what each would build on its first capture (workers/warm.py), once for all of them."""
    global _pool_processes
    concurrency = getattr(sender, "concurrency", None)
    _pool_processes = concurrency if isinstance(concurrency, int) and concurrency > 0 else 1
    log.info("worker warm-up: %.0f ms", warm(settings) * 1000)


@worker_process_shutdown.connect
def close_runtime(**_: Any) -> None:
    """Close this worker process's Runtime (catalog, fetcher connections) when the process ends."""
    if _runtime is not None:
        _runtime.close()


def _deliveries(task: Task) -> int:
    """How many times this message of the task was delivered (1 the first time; more when a worker died
    holding it). Counted per task id and retry, so a retry after a fault starts a fresh count."""
    coord = runtime().coordinator
    assert isinstance(coord, RedisCoordinator)
    return coord.attempt(f"{task.request.id}:{task.request.retries}")


def _over_delivered(task: Task) -> bool:
    """Whether this delivery of the task is one too many: a worker died holding it again and again."""
    return _deliveries(task) > settings.max_redeliveries + 1


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
                    published_at: str | None = None, url_trusted: bool = False) -> dict[str, Any]:
    """Discover the stored source's items and capture them: in this task, on up to `capture_threads`
    threads, when there are at most `capture_threads` pending items and this is the message's first
    delivery (then the last item's end writes the version here too); otherwise one capture_item task
    per pending item, each with its own delivery count (a task whose worker died, perhaps killed by one
    of its items, is delivered again and hands its items out one per task, so a poison item is
    bounded on its own). No pending item: the version is written here.

    The arguments after the sha256 are the fields of the ArticleInput Intake took in
    (archiver/runners/intake.py sends them as keyword arguments)."""
    rt = runtime()
    article = ArticleInput(rt.store.get(source_key(article_id, source_sha256)), url=url, base_url=base_url,
                           charset=charset, format=fmt, published_at=published_at, url_trusted=url_trusted)
    plan = prepare(rt, article, article_id=article_id, source_stored=True)
    todo = pending(plan, load_results(rt, plan))
    for iid in (it.item_id for it in plan.items if it.item_id not in todo):
        mark_item_done(rt.coordinator, plan, iid)
    if not todo:
        _finalize_here(rt, plan, "archive")
        return {"article_id": article_id, "items": len(plan.items), "queued": 0, "captured": 0}
    if len(todo) > settings.capture_threads or _deliveries(self) > 1:
        for iid in todo:
            capture_item.delay(article_id, source_sha256, iid)
        return {"article_id": article_id, "items": len(plan.items), "queued": len(todo), "captured": 0}
    _start_capture_clock(rt)
    captured, error = _capture_here(rt, plan, todo)
    for iid, result in captured:
        _after_capture(rt, plan, iid, result, attempt=0)
    if error is not None:
        raise error
    return {"article_id": article_id, "items": len(plan.items), "queued": 0, "captured": len(todo)}


_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


def _capture_pool() -> ThreadPoolExecutor:
    """This process's capture threads (`capture_threads`), made on first use after the fork."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(settings.capture_threads, thread_name_prefix="capture"))
        return _pool[1]


def _capture_here(rt: Runtime, plan: Plan, item_ids: list[str]
                  ) -> tuple[list[tuple[str, ItemResult]], Exception | None]:
    """Capture `item_ids` of `plan` at once on this process's capture threads (the capture step stores
    each result); returns (item id, result) of each capture that ended, and the first other exception
    met (for the caller to raise once it has followed up the others). An item whose capture met an
    infrastructure fault is in neither: it is queued as a capture_item task of its own after the first
    fault backoff (2 s), which retries it with backoff as any task."""
    pool = _capture_pool()
    futures = [(iid, pool.submit(contextvars.copy_context().run, capture_step.capture_item, rt, plan, iid))
               for iid in item_ids]
    done: list[tuple[str, ItemResult]] = []
    error: Exception | None = None
    for iid, future in futures:
        try:
            done.append((iid, _wait(future)))
        except Exception as exc:
            if not is_infrastructure_error(exc):
                error = error or exc
                continue
            log.warning("capture of item %s of %s met %s: %s; queued as its own task", iid, plan.article_id,
                        type(exc).__name__, exc)
            capture_item.apply_async((plan.article_id, plan.source_sha256, iid),
                                     countdown=2.0 * random.uniform(0.8, 1.2))
    return done, error


def _wait(future: Future[ItemResult]) -> ItemResult:
    """The capture's result. The soft time limit (raised in this thread only) does not cut the wait: the
    capture's fetches end before it (fetch_window), so the capture ends and its result is followed up."""
    while True:
        try:
            return future.result()
        except SoftTimeLimitExceeded:
            log.warning("soft time limit reached while a capture ends; waiting for it")


@app.task(bind=True, name="archiver.capture_item")
@retry_faults
def capture_item(self: Task, article_id: str, source_sha256: str, item_id: str,
                 force: bool = False, attempt: int = 0) -> str:
    """Capture one item of the plan (archiver.steps.capture), then write the version when it was the
    last (``_after_capture``)."""
    rt = runtime()
    _start_capture_clock(rt)
    plan = load_plan(rt, article_id, source_sha256)
    if attempt > 0 and _left_behind(rt, plan):
        return "superseded"
    if _over_delivered(self):
        result = failed_result(plan.item(item_id), "worker lost too often while capturing")
        # A partial (or archived) result already stored stays the item's, the loss noted in its error.
        result = capture_step.settle(load_result(rt, plan, item_id), result.model_copy(update={"attempt": attempt}),
                                     iso(utcnow()))
        save_result(rt, plan, result)
    else:
        result = capture_step.capture_item(rt, plan, item_id, force=force, attempt=attempt)
    _after_capture(rt, plan, item_id, result, attempt)
    return result.status


def _after_capture(rt: Runtime, plan: Plan, item_id: str, result: ItemResult, attempt: int) -> None:
    """What follows an item's capture (attempt `attempt`) on the workers: its capture noted for trusted
    time; the item marked done, and when it was the article's last, the version written
    (``_finalize_here``); a retryable outcome (RETRYABLE_STATUSES: partial, unavailable, failed)
    captured again after the next capture_retry_delays entry (an unavailable or failed one under the
    same capture id; a partial one under a new id, the partial capture kept unless the new one is as
    good: see archiver.steps.capture.settle): by a countdown here when that is short (a message held
    for later must stay under the broker's visibility timeout), else by the sweeper, which reads the
    item's retry_at. The attempts end with the delays, whatever the outcome."""
    _note_for_timestamps(rt, result)
    # The plan's own done-set (archiver.coordination.mark_item_done): items a replaced plan of this source
    # marked done never count, so the total is reached only when each of this plan's items has ended.
    if mark_item_done(rt.coordinator, plan, item_id) >= len(plan.items):
        _finalize_here(rt, plan, "archive" if attempt == 0 else "retry")
    delays = settings.capture_retry_delay_list
    if result.status in RETRYABLE_STATUSES and attempt < len(delays) and delays[attempt] <= _countdown_limit():
        # The article is finalized with what there is now; a later capture that succeeds
        # finalizes it again into a new version (the workers' backoff).
        capture_item.apply_async((plan.article_id, plan.source_sha256, item_id),
                                 {"force": True, "attempt": attempt + 1},
                                 countdown=delays[attempt] * random.uniform(0.8, 1.0))


def _left_behind(rt: Runtime, plan: Plan) -> bool:
    """Whether the article is no longer on `plan`'s source (archiver.steps.prepare.current_source):
    an editor reverted to a version of another source, or a newer source was archived since. A
    scheduled retry of such a plan captures nothing and writes no version, so it never brings back
    content the article no longer shows."""
    if current_source(rt, plan.article_id) == plan.source_sha256:
        return False
    log.info("article %s: source %s is no longer the article's; its scheduled retry is dropped",
             plan.article_id, plan.source_sha256[:12])
    return True


def _finalize_here(rt: Runtime, plan: Plan, reason: str) -> None:
    """Write the article's version in this task, the one that saw the article's last item end, instead of
    in a finalize_article task of its own (one task message, delivery and acknowledgement fewer per
    article). When that fails here (a fault, NotReady, the soft time limit), finalize_article is queued
    as before, with its own retries; finalize is idempotent, so a redelivered task doing it again is
    harmless. A retry's finalize of a source the article left (`_left_behind`) writes nothing."""
    if reason == "retry" and _left_behind(rt, plan):
        return
    try:
        finalize(rt, plan, reason=reason)
    except Exception as exc:
        log.warning("article %s: finalize in this task failed (%s: %s); queueing finalize_article",
                    plan.article_id, type(exc).__name__, exc)
        finalize_article.delay(plan.article_id, plan.source_sha256, reason)


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
    if reason == "retry" and _left_behind(rt, plan):
        return 0
    try:
        return finalize(rt, plan, reason=reason).number
    except NotReady as exc:
        raise self.retry(exc=exc) from exc
