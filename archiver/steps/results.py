"""Item results in storage: reading each item's stored outcome (once per step), storing a new one
and indexing it, and which items still need a capture.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from archiver.dates import iso, parse_iso, utcnow
from archiver.records.plan import Plan
from archiver.records.result import CAPTURING, EmbedResult, ItemResult, load_item_result
from archiver.steps.policy import policy_changed
from archiver.storage.base import ObjectNotFound
from archiver.storage.layout import result_key

if TYPE_CHECKING:
    from archiver.config.settings import Settings
    from archiver.runtime import Runtime

# Item results by item id: what a step read (or made) once and passes on.
Results = Mapping[str, ItemResult]


def load_result(rt: Runtime, plan: Plan, item_id: str) -> ItemResult | None:
    """The stored result of one item of `plan`, None when it has none yet; RecordError when malformed."""
    key = result_key(plan.article_id, plan.source_sha256, item_id)
    try:
        return load_item_result(rt.store.get(key), key)
    except ObjectNotFound:
        return None


def load_results(rt: Runtime, plan: Plan) -> dict[str, ItemResult]:
    """Every stored result of `plan`'s items, each read once, by item id (items without one are absent)."""
    out = {}
    for item in plan.items:
        res = load_result(rt, plan, item.item_id)
        if res is not None:
            out[item.item_id] = res
    return out


def is_final(result: ItemResult | None) -> bool:
    """Whether the item has an outcome a retry leaves alone (False for none at all)."""
    return result is not None and result.final


def pending(plan: Plan, results: Results, settings: Settings | None = None) -> list[str]:
    """Items of `plan` a retry captures again: without a final result in `results` (never captured,
    failed, unavailable, partial (archived with parts missing) or cut off), and, given the current
    `settings`, images our policy rejected under settings that have changed since
    (archiver/steps/policy.py: a content rejection stays rejected)."""
    return fair_order(plan, [it.item_id for it in plan.items if not is_final(res := results.get(it.item_id))
                             or (settings is not None and policy_changed(res, settings))])


def fair_order(plan: Plan, item_ids: list[str]) -> list[str]:
    """`item_ids` in the order their captures start: one item of each host in turn (hosts in the order
    they first appear, each host's items in page order), so the items of one slow host (40 images that
    drip a byte a second) cannot take every capture slot while another host's items wait for a deadline
    they never meet. Items of one host keep their order; an item with no parsable host counts as one
    host of its own kind ("")."""
    urls = {it.item_id: it.url for it in plan.items}
    by_host: dict[str, list[str]] = {}
    for iid in item_ids:
        url = urls.get(iid) or ""
        try:
            host = (urlsplit(url).hostname or "").lower()
        except ValueError:
            host = ""
        by_host.setdefault(host, []).append(iid)
    return [iid for turn in itertools.zip_longest(*by_host.values()) for iid in turn if iid is not None]


def pending_items(rt: Runtime, plan: Plan) -> list[str]:
    """Items a retry captures again under the runtime's settings (``pending``; each result read once)."""
    return pending(plan, load_results(rt, plan), rt.settings)


class ResultGate:
    """Which item results this process has committed: once a runner commits an item's result (the local
    runner stores "timed out" at its deadline and writes the version with it), a capture still running
    for that item must not overwrite it when it ends late. One per Runtime; safe between threads.

    Writes of one item's result take that item's lock, so a commit and a late save never interleave."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: weakref.WeakValueDictionary[tuple[str, str], threading.Lock] = weakref.WeakValueDictionary()
        self._committed: set[tuple[str, str]] = set()

    def lock(self, group: str, item_id: str) -> threading.Lock:
        """The lock that orders writes of one item's result in this process."""
        with self._guard:
            lk = self._locks.get((group, item_id))
            if lk is None:
                lk = self._locks[(group, item_id)] = threading.Lock()
            return lk

    def is_committed(self, group: str, item_id: str) -> bool:
        """Whether the item's result was committed (only late writes ask, under the item's lock)."""
        return (group, item_id) in self._committed

    def commit(self, group: str, item_id: str) -> None:
        """Mark the item's result committed: later `save_result` calls for it store nothing."""
        self._committed.add((group, item_id))


def save_result(rt: Runtime, plan: Plan, result: ItemResult) -> bool:
    """Store `result` (overwriting the item's earlier one) and index it in the catalog's items.

    Returns False, storing nothing, when this process already committed the item's result
    (`commit_result`): a late capture never overwrites a committed outcome."""
    gate = rt.results
    with gate.lock(plan.group, result.item_id):
        if gate.is_committed(plan.group, result.item_id):
            return False
        _write(rt, plan, result)
    return True


def commit_result(rt: Runtime, plan: Plan, result: ItemResult) -> None:
    """Store `result` as the item's outcome that this run goes on with (a version is written with it);
    a capture of the item that ends later in this process does not replace it."""
    gate = rt.results
    with gate.lock(plan.group, result.item_id):
        gate.commit(plan.group, result.item_id)
        _write(rt, plan, result)


def _write(rt: Runtime, plan: Plan, result: ItemResult) -> None:
    rt.store.put(result_key(plan.article_id, plan.source_sha256, result.item_id), result.dumps(),
                 content_type="application/json")
    record_item(rt, plan.article_id, plan.source_sha256, result, iso(utcnow()))


def retry_at(rt: Runtime, result: ItemResult, updated_at: str) -> str | None:
    """When the next scheduled capture of a non-final item is due (ISO 8601 UTC): `updated_at` plus
    the capture_retry_delays entry of its attempt; None for a final result, one still capturing, or
    one whose attempts are used up."""
    delays = rt.settings.capture_retry_delay_list
    if result.final or result.status == CAPTURING or result.attempt >= len(delays):
        return None
    return iso(parse_iso(updated_at) + timedelta(seconds=delays[result.attempt]))


def record_item(rt: Runtime, article_id: str, source_sha256: str, result: ItemResult, updated_at: str) -> None:
    """The catalog's row of one item result (a fresh result and `archiver reindex` both come here). An
    embed's row names its post by the id the post is filed under (EmbedResult.filed_id), so the
    catalog's joins of items with posts, captures and compliance rows hold for every platform."""
    embed = isinstance(result, EmbedResult)
    rt.catalog.record_item(
        article_id=article_id, source_sha256=source_sha256, item_id=result.item_id, kind=result.kind,
        provider=result.provider if embed else None, post_id=result.filed_id if embed else None,
        url=result.url, status=result.status, error=result.error,
        manifest_key=result.manifest_key if embed else None, sha256=None if embed else result.sha256,
        stable_url=None if embed else result.stable_url, occurrences=result.occurrences, updated_at=updated_at,
        retry_at=retry_at(rt, result, updated_at))
