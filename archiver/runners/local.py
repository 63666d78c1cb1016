"""TODO docstring."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from archiver.runtime import Runtime
from archiver.steps.capture import capture_item
from archiver.steps.finalize import finalize
from archiver.steps.prepare import Plan, load_plan, prepare
from archiver.steps.report import report
from archiver.steps.results import failed_result, pending_items, save_result


# --- the embedded runner ---------------------------------------------------------------------------
def run_captures(rt: Runtime, plan: Plan, item_ids: list[str], deadline: float) -> None:
    """Capture items on a thread pool; what is not done by the deadline is stored as failed."""
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

def archive(rt: Runtime, data: bytes, *, url: str | None = None, base_url: str | None = None,
            article_id: str | None = None, fmt: str = "auto", charset: str | None = None) -> dict[str, Any]:
    """Archive one article in this process: the `archiver archive` command."""
    deadline = time.monotonic() + rt.settings.archive_deadline
    rt.fetcher.deadline_at = deadline
    plan = prepare(rt, data, url=url, base_url=base_url, article_id=article_id, fmt=fmt, charset=charset)
    todo = pending_items(rt, plan)
    run_captures(rt, plan, todo, deadline)
    return report(rt, plan, finalize(rt, plan))

def retry(rt: Runtime, article_id: str) -> dict[str, Any]:
    """Capture again what failed or was unavailable, then write a new version if anything changed."""
    deadline = time.monotonic() + rt.settings.archive_deadline
    rt.fetcher.deadline_at = deadline
    plan = load_plan(rt, article_id)
    todo = pending_items(rt, plan)
    run_captures(rt, plan, todo, deadline)
    return report(rt, plan, finalize(rt, plan, reason="retry"))
