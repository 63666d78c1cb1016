"""The local runner: the whole pipeline in this process (`archiver archive`, `archiver retry`, and the
publish hook when no broker answers).

It drives the same steps as the Celery workers (prepare, capture_item per item, finalize), the
captures on the Runtime's thread pool (`Runtime.capture_pool`, shared by the articles archived at once)
under one overall deadline (`archive_deadline`); what is not done by then is stored as failed, for
`archiver retry` to finish. The deadline is the article's own: it is held in
a context variable the fetcher reads (archiver.capture.fetch.ARTICLE_DEADLINE), copied into each
capture thread, so several articles archived at once on one Runtime (`archiver archive` of many
sources) never cut each other's fetches short.

Several processes may archive one article at once (`archiver archive` twice, a publish hook beside
it): the Runtime's locks are shared with them first (archiver.coordination.share_locks), so one capture
of a post runs at a time across them and a capture that ended meanwhile is taken as it is, not made
again; the version is written once, and the others find it unchanged, as after one run.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Collection
from concurrent.futures import wait
from typing import TYPE_CHECKING, Any

from archiver.article.input import ArticleInput
from archiver.capture.fetch import ARTICLE_DEADLINE
from archiver.coordination import share_locks
from archiver.dates import iso, utcnow
from archiver.records.plan import Plan
from archiver.records.result import ItemResult, failed_result
from archiver.steps.capture import capture_item, settle
from archiver.steps.finalize import finalize
from archiver.steps.prepare import current_plan, prepare
from archiver.steps.report import report
from archiver.steps.results import commit_result, is_final, load_result, load_results, pending
from archiver.steps.timestamp import timestamp_after_run

if TYPE_CHECKING:
    from archiver.runtime import Runtime


def run_captures(rt: Runtime, plan: Plan, item_ids: list[str], deadline: float,
                 redo: Collection[str] | None = None, *, retry: bool = False) -> dict[str, ItemResult]:
    """Capture items on the Runtime's capture pool (shared by the articles archived at once, each with
    its own deadline); what is not done by the deadline (time.monotonic()) is stored as
    failed, and committed: a capture that ends later does not overwrite it (`archiver retry` redoes
    it). An item whose stored result holds content (a partial capture being retried) keeps that
    result instead, its error saying the retry timed out (archiver.steps.capture.settle). Returns the
    items' stored results by item id.

    Items in `redo` (all of them when None) are captured again even when their stored result is final
    (one our policy refused under settings since changed); any other item whose result became final
    while this run waited for its capture lock (another process captured it) keeps that result.
    With `retry` (`archiver retry`) a fresh partial capture is captured again; otherwise it stands
    (archiver.steps.capture.capture_item)."""
    if not item_ids:
        return {}
    pool = rt.capture_pool()  # shared by the articles archived at once on this Runtime
    # Each capture runs in a copy of this thread's context: it sees this article's deadline.
    futures = {pool.submit(contextvars.copy_context().run, capture_item, rt, plan, iid,
                           force=redo is None or iid in redo, retry=retry): iid
               for iid in item_ids}
    done, late = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
    results = {}
    for fut in done:
        # A capture that raised (its lock, say) stored nothing new: what storage holds stands.
        res = fut.result() if fut.exception() is None else load_result(rt, plan, futures[fut])
        if res is not None:
            results[futures[fut]] = res
    for fut in late:
        fut.cancel()
        result = failed_result(plan.item(futures[fut]), f"timed out after {rt.settings.archive_deadline:.0f}s; "
                                                        f"`archiver retry {plan.article_id}` finishes it")
        # An item that already points at a capture holding content keeps it (the timeout noted).
        result = settle(load_result(rt, plan, futures[fut]), result, iso(utcnow()))
        commit_result(rt, plan, result)
        results[futures[fut]] = result
    return results


def _run(rt: Runtime, plan: Plan, deadline: float, reason: str) -> dict[str, Any]:
    """Capture what has no final result, then finalize and report, each result read from storage once."""
    token = ARTICLE_DEADLINE.set(deadline)
    try:
        return _run_within(rt, plan, deadline, reason)
    finally:
        ARTICLE_DEADLINE.reset(token)


def _run_within(rt: Runtime, plan: Plan, deadline: float, reason: str) -> dict[str, Any]:
    results = load_results(rt, plan)
    todo = pending(plan, results, rt.settings)
    # Only what is final already is forced; the rest is captured unless it is final by its turn.
    results.update(run_captures(rt, plan, todo, deadline, redo={i for i in todo if is_final(results.get(i))},
                                retry=reason == "retry"))
    rep = report(rt, plan, finalize(rt, plan, reason=reason, results=results), results)
    # Trusted time (RFC 3161) once the article is rewritten: it never raises nor holds the rewrite back.
    timestamp_after_run(rt, results)
    return rep


def archive(rt: Runtime, article: ArticleInput | bytes, *, article_id: str | None = None, url: str | None = None,
            base_url: str | None = None, fmt: str = "auto", charset: str | None = None,
            source_stored: bool = False) -> dict[str, Any]:
    """Archive one article in this process; the report `archiver archive --json` prints.

    `article` is what a face built; bytes are a shorthand for ArticleInput(bytes, url=..., base_url=...,
    charset=..., format=fmt). `article_id` defaults to a hash of the bytes. `source_stored`: the
    source is already in storage (Intake stored it), so prepare does not write it again. Raises
    InputError for an unusable article."""
    article = ArticleInput.of(article, url=url, base_url=base_url, charset=charset, format=fmt)
    share_locks(rt)
    deadline = time.monotonic() + rt.settings.archive_deadline
    plan = prepare(rt, article, article_id=article_id, source_stored=source_stored)
    return _run(rt, plan, deadline, "archive")


def retry(rt: Runtime, article_id: str) -> dict[str, Any]:
    """Capture again what did not end well (failed, unavailable, partial: RETRYABLE_STATUSES), then
    write a new version if anything changed; returns the report. A failed or unavailable embed's
    earlier capture is completed under the same capture id; a partial one is captured under a new
    one, and the item moves to it only when it is archived or partial again (otherwise the partial
    capture stays the item's, its error saying what the retry found: archiver.steps.capture.settle).
    It works on the source of the version the article shows (archiver.steps.prepare.current_source)."""
    share_locks(rt)
    deadline = time.monotonic() + rt.settings.archive_deadline
    # The source of the version the article shows now (after a revert, the reverted-to version's), not
    # merely the latest source: a retry never brings back content an editor reverted away.
    return _run(rt, current_plan(rt, article_id), deadline, "retry")
