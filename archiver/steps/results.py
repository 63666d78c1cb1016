"""Item results in storage: reading each item's stored outcome (once per step), storing a new one
and indexing it, and which items still need a capture.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from archiver.dates import iso, utcnow
from archiver.records.plan import Plan
from archiver.records.result import EmbedResult, ItemResult, load_item_result
from archiver.storage.base import ObjectNotFound
from archiver.storage.layout import result_key

if TYPE_CHECKING:
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


def pending(plan: Plan, results: Results) -> list[str]:
    """Items of `plan` without a final result in `results`: never captured, failed, unavailable or cut off."""
    return [it.item_id for it in plan.items if not is_final(results.get(it.item_id))]


def pending_items(rt: Runtime, plan: Plan) -> list[str]:
    """Items without a final stored result (each result read once)."""
    return pending(plan, load_results(rt, plan))


def save_result(rt: Runtime, plan: Plan, result: ItemResult) -> None:
    """Store `result` (overwriting the item's earlier one) and index it in the catalog's items."""
    rt.store.put(result_key(plan.article_id, plan.source_sha256, result.item_id), result.dumps(),
                 content_type="application/json")
    record_item(rt, plan.article_id, plan.source_sha256, result, iso(utcnow()))


def record_item(rt: Runtime, article_id: str, source_sha256: str, result: ItemResult, updated_at: str) -> None:
    """The catalog's row of one item result (a fresh result and `archiver reindex` both come here)."""
    embed = isinstance(result, EmbedResult)
    rt.catalog.record_item(
        article_id=article_id, source_sha256=source_sha256, item_id=result.item_id, kind=result.kind,
        provider=result.provider if embed else None, post_id=result.post_id if embed else None,
        url=result.url, status=result.status, error=result.error,
        manifest_key=result.manifest_key if embed else None, sha256=None if embed else result.sha256,
        stable_url=None if embed else result.stable_url, occurrences=result.occurrences, updated_at=updated_at)
