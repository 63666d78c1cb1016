"""The sweeper: finds articles whose work stopped and queues exactly what is missing, again.

Tasks are lost in ways no retry inside a task can cover: a worker killed before it acknowledged, the
broker restarted without the message, a task that gave up retrying while storage was down, a finalize
whose message never arrived. Storage is the source of truth, so the sweeper reads it: for an article
the catalog shows as stuck (see ``Catalog.sweep_candidates``) it compares the stored plan and item
results with what should be there and queues

- ``process_article`` when no plan was stored (from the intake record of the source);
- ``capture_item`` for an item without a result, for one still "capturing" whose capture lock nobody
  holds (its worker died), and for a failed, unavailable or partial item whose scheduled retry is due
  (``capture_retry_delays``; the result's ``attempt`` says which is next);
- ``finalize_article`` when every item has a result and nothing was queued, but the article was never
  finalized or an item changed after its last finalize.

Every task it queues is idempotent, so a message that was only slow, not lost, does no harm; the
article is then marked swept and left alone for ``sweep_stale_after`` seconds. Work that may still be
waiting in the queue is never taken for lost: only progress older than the last time the queue was
seen empty counts (``queue_drained_at``), so a long backlog gets no copies. The Celery beat task
(workers/sweep.py) runs one round at a time under a lock; ``archiver sweep`` runs one by hand.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from archiver.dates import iso, parse_iso, utcnow
from archiver.faults import is_infrastructure_error
from archiver.records.base import RecordError
from archiver.records.plan import Plan
from archiver.records.result import CAPTURING
from archiver.runners.queue import CAPTURE_ITEM, FINALIZE_ARTICLE, PROCESS_ARTICLE
from archiver.steps.capture import capture_lock
from archiver.steps.results import load_results
from archiver.storage.base import ObjectNotFound
from archiver.storage.layout import intake_key, plan_key, source_key

if TYPE_CHECKING:
    from archiver.runtime import Runtime

log = logging.getLogger(__name__)

# Publishes one task message: (task name, positional args, keyword args).
Send = Callable[[str, Sequence[Any], dict[str, Any]], Any]
# How far back an article's last finalize is looked at for a lost one (the catalog query's window).
RECENT = timedelta(days=2)


@dataclass(frozen=True)
class TaskCall:
    """One task message to send: the registered task name and its arguments."""

    task: str
    args: list[Any]
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class SweepReport:
    """What one sweep round did: articles looked at, tasks queued (by task name), articles it could not
    read (a malformed stored record: logged, marked swept, not retried in a loop)."""

    articles: int = 0
    queued: dict[str, int] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)


def missing_work(rt: Runtime, row: dict[str, Any], now: datetime) -> list[TaskCall]:
    """The tasks that would bring one article (a `sweep_candidates` row) to its end state.

    Raises an infrastructure fault when storage or the catalog cannot be read; RecordError for a
    malformed stored plan or result."""
    aid, sha = row["article_id"], row["source_sha256"]
    try:
        plan = Plan.loads(rt.store.get(plan_key(aid, sha)), plan_key(aid, sha))
    except ObjectNotFound:
        if not rt.store.exists(source_key(aid, sha)):
            # Nothing to process: the source this row names is not in this storage (another bucket, a
            # storage emptied). Queuing it would fail the same way every round, forever.
            raise SourceMissing(f"its source {sha[:12]} is not in {rt.store.describe()}") from None
        return [TaskCall(PROCESS_ARTICLE, [aid, sha], intake_fields(rt, aid, sha, row))]
    results = load_results(rt, plan)
    rows = {r["item_id"]: r for r in rt.catalog.items(aid, sha)}
    calls = []
    for item in plan.items:
        res = results.get(item.item_id)
        if res is None:
            calls.append(TaskCall(CAPTURE_ITEM, [aid, sha, item.item_id]))
        elif res.status == CAPTURING:
            if not rt.coordinator.held(capture_lock(plan, item)):
                calls.append(TaskCall(CAPTURE_ITEM, [aid, sha, item.item_id], {"attempt": res.attempt}))
        elif not res.final:
            due = rows.get(item.item_id, {}).get("retry_at")
            if due is not None and parse_iso(due) <= now:
                calls.append(TaskCall(CAPTURE_ITEM, [aid, sha, item.item_id],
                                      {"force": True, "attempt": res.attempt + 1}))
    if calls or any(r.status == CAPTURING for r in results.values()):
        return calls
    if len(results) == len(plan.items) and _finalize_missing(row, rows):
        reason = "retry" if any(r.attempt for r in results.values()) else "archive"
        return [TaskCall(FINALIZE_ARTICLE, [aid, sha, reason])]
    return []


class SourceMissing(ValueError):
    """An article the catalog shows as received whose stored source is gone: it cannot be processed,
    so the sweeper reports it as unreadable (once per round, logged) instead of queuing it again."""


def _finalize_missing(row: dict[str, Any], items: dict[str, dict[str, Any]]) -> bool:
    """Whether the article's results are not all in a version: never finalized, or an item changed after."""
    if row["status"] in ("queued", "capturing"):
        return True
    return any(r["updated_at"] > row["updated_at"] for r in items.values())


def intake_fields(rt: Runtime, article_id: str, sha: str, row: dict[str, Any]) -> dict[str, Any]:
    """process_article's keyword arguments for one stored source, from its intake record (the catalog
    row's URL when there is none)."""
    try:
        record = json.loads(rt.store.get(intake_key(article_id, sha)))
    except (ObjectNotFound, ValueError):
        return {"url": row.get("url")}
    fields = {"url": record.get("url"), "base_url": record.get("base_url"), "fmt": record.get("format") or "auto",
              "charset": record.get("charset"), "published_at": record.get("published_at")}
    if record.get("url_trusted") is True:  # the URL was vouched for at intake (archiver.capture.ownsite)
        fields["url_trusted"] = True
    return fields


# Where the last time the workers' queue was seen empty is kept (ISO 8601 UTC), in the broker's Redis.
DRAINED_KEY = "archiver:queue-drained-at"


def queue_drained_at(client: Any, queue: str, now: datetime) -> datetime | None:
    """When the queue `queue` was last seen empty, for `sweep(queued_before=...)`: `now` when it is empty
    now (and that is recorded), else the recorded time, None when it was never seen empty.

    `client` is a redis.Redis of the broker. Messages in a Redis list are taken in order, so anything
    sent before that time has left the queue: a worker took it (it is running, done, or lost with its
    worker), and none of it still waits behind a backlog."""
    if int(client.llen(queue)) == 0:
        client.set(DRAINED_KEY, iso(now))
        return now
    seen = client.get(DRAINED_KEY)
    return parse_iso(seen.decode() if isinstance(seen, bytes) else str(seen)) if seen else None


def sweep(rt: Runtime, send: Send, *, now: datetime | None = None, limit: int | None = None,
          queued_before: datetime | None = None) -> SweepReport:
    """One round: queue what the stuck articles miss, through `send`; mark each swept.

    At most `limit` articles (default: the sweep_batch setting), oldest first. `queued_before`: when
    the workers' queue was last seen empty (`queue_drained_at`); an article whose last progress is
    later may only be waiting in a backlog, so it is not taken for stuck (no copies of waiting work).
    An infrastructure fault ends the round (raised: the next round goes on); a malformed record skips
    its article."""
    now = now or utcnow()
    settings = rt.settings
    report = SweepReport()
    stale = now - timedelta(seconds=settings.sweep_stale_after)
    stale_before = iso(min(stale, queued_before) if queued_before is not None else stale)
    rows = rt.catalog.sweep_candidates(now=iso(now), stale_before=stale_before, recent_since=iso(now - RECENT),
                                       limit=limit or settings.sweep_batch)
    for row in rows:
        report.articles += 1
        try:
            calls = missing_work(rt, row, now)
        except Exception as exc:
            if is_infrastructure_error(exc) or not isinstance(exc, RecordError | ValueError):
                raise
            log.error("sweep: article %s cannot be read: %s", row["article_id"], exc)
            report.unreadable.append(row["article_id"])
            calls = []
        for call in calls:
            send(call.task, call.args, call.kwargs)
            report.queued[call.task] = report.queued.get(call.task, 0) + 1
        if calls:
            log.info("sweep: article %s: queued %s", row["article_id"], ", ".join(c.task for c in calls))
        rt.catalog.mark_swept(row["article_id"], iso(now))
    return report
