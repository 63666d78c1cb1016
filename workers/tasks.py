"""Tasks: discover an article, capture each item, finalize once every item has ended.

Each task is idempotent and may be delivered again after a worker dies; a delivery counter in
Redis bounds how often, after which the item is stored as failed so the article still completes.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from celery import Task
from celery.signals import worker_process_shutdown

from archiver.article.input import ArticleInput
from archiver.capture.ratelimit import RedisHostLimiter
from archiver.coordination import RedisCoordinator
from archiver.providers.base import RETRYABLE_STATUSES
from archiver.records.result import failed_result
from archiver.runtime import Runtime
from archiver.steps import capture as capture_step
from archiver.steps.finalize import NotReady, finalize
from archiver.steps.prepare import load_plan, prepare
from archiver.steps.results import load_results, pending, save_result
from archiver.storage.layout import source_key
from workers.app import app, settings

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
    coord = runtime().coordinator
    assert isinstance(coord, RedisCoordinator)
    attempts = coord.attempt(task.request.id)
    return attempts > settings.max_redeliveries + 1


@app.task(bind=True, name="archiver.process_article")
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
def capture_item(self: Task, article_id: str, source_sha256: str, item_id: str,
                 force: bool = False, attempt: int = 0) -> str:
    rt = runtime()
    plan = load_plan(rt, article_id, source_sha256)
    if _over_delivered(self):
        result = failed_result(plan.item(item_id), "worker lost too often while capturing")
        save_result(rt, plan, result)
    else:
        result = capture_step.capture_item(rt, plan, item_id, force=force)
    if rt.coordinator.mark_done(plan.group, item_id) >= len(plan.items):
        finalize_article.delay(article_id, source_sha256, "archive" if attempt == 0 else "retry")
    delays = settings.capture_retry_delay_list
    if result.status in RETRYABLE_STATUSES and attempt < len(delays):
        # The article is finalized with what there is now; a later capture that succeeds
        # finalizes it again into a new version (the workers' backoff).
        capture_item.apply_async((article_id, source_sha256, item_id), {"force": True, "attempt": attempt + 1},
                                 countdown=delays[attempt] * random.uniform(0.8, 1.2))
    return result.status


@app.task(bind=True, name="archiver.finalize_article", max_retries=5, default_retry_delay=2)
def finalize_article(self: Task, article_id: str, source_sha256: str, reason: str = "archive") -> int:
    rt = runtime()
    plan = load_plan(rt, article_id, source_sha256)
    try:
        return finalize(rt, plan, reason=reason).number
    except NotReady as exc:
        raise self.retry(exc=exc) from exc
