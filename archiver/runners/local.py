"""The local runner: the whole pipeline in this process (`archiver archive`, `archiver retry`, and the
publish hook when no broker answers).

It drives the same steps as the Celery workers (prepare, capture_item per item, finalize), the
captures on a thread pool under one overall deadline (`archive_deadline`); what is not done by then
is stored as failed, for `archiver retry` to finish.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from archiver.article.input import ArticleInput
from archiver.runtime import Runtime
from archiver.steps.capture import capture_item
from archiver.steps.finalize import finalize
from archiver.steps.prepare import Plan, load_plan, prepare
from archiver.steps.report import report
from archiver.steps.results import failed_result, pending_items, save_result


def run_captures(rt: Runtime, plan: Plan, item_ids: list[str], deadline: float) -> None:
    """Capture items on a thread pool; what is not done by the deadline (time.monotonic()) is stored as failed."""
    if not item_ids:
        return
    pool = ThreadPoolExecutor(max_workers=max(1, rt.settings.capture_threads), thread_name_prefix="capture")
    futures = {pool.submit(capture_item, rt, plan, iid, force=True): iid for iid in item_ids}
    _, pending = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
    for fut in pending:
        fut.cancel()
        item = plan.item(futures[fut])
        save_result(rt, plan, failed_result(
            item, f"timed out after {rt.settings.archive_deadline:.0f}s; `archiver retry {plan.article_id}` "
                  "finishes it"))
    pool.shutdown(wait=False, cancel_futures=True)


def archive(rt: Runtime, article: ArticleInput | bytes, *, article_id: str | None = None, url: str | None = None,
            base_url: str | None = None, fmt: str = "auto", charset: str | None = None,
            source_stored: bool = False) -> dict[str, Any]:
    """Archive one article in this process; the report `archiver archive --json` prints.

    `article` is what a face built; bytes are a shorthand for ArticleInput(bytes, url=..., base_url=...,
    charset=..., format=fmt). `article_id` defaults to a hash of the bytes. `source_stored`: the
    source is already in storage (Intake stored it), so prepare does not write it again. Raises
    InputError for an unusable article."""
    article = ArticleInput.of(article, url=url, base_url=base_url, charset=charset, format=fmt)
    deadline = time.monotonic() + rt.settings.archive_deadline
    rt.fetcher.deadline_at = deadline
    plan = prepare(rt, article, article_id=article_id, source_stored=source_stored)
    run_captures(rt, plan, pending_items(rt, plan), deadline)
    return report(rt, plan, finalize(rt, plan))


def retry(rt: Runtime, article_id: str) -> dict[str, Any]:
    """Capture again what failed or was unavailable, then write a new version if anything changed."""
    deadline = time.monotonic() + rt.settings.archive_deadline
    rt.fetcher.deadline_at = deadline
    plan = load_plan(rt, article_id)
    run_captures(rt, plan, pending_items(rt, plan), deadline)
    return report(rt, plan, finalize(rt, plan, reason="retry"))
