"""Item results: each item's stored outcome (archived, failed, ...) and which outcomes are final."""

from __future__ import annotations

import json
import logging
from typing import Any

from archiver.dates import iso, utcnow
from archiver.runtime import Runtime
from archiver.steps.prepare import Plan
from archiver.storage.base import ObjectNotFound, _dumps
from archiver.storage.layout import result_key

log = logging.getLogger(__name__)

FINAL_EMBED_STATUSES = ("archived", "deleted", "protected", "tombstoned", "unresolved")

FINAL_IMAGE_STATUSES = ("archived", "rejected")

# --- results -------------------------------------------------------------------------------------
def load_result(rt: Runtime, plan: Plan, item_id: str) -> dict[str, Any] | None:
    try:
        return json.loads(rt.store.get(result_key(plan.article_id, plan.source_sha256, item_id)))
    except ObjectNotFound:
        return None

def is_final(result: dict[str, Any] | None) -> bool:
    if not result:
        return False
    finals = FINAL_EMBED_STATUSES if result["kind"] == "embed" else FINAL_IMAGE_STATUSES
    return result["status"] in finals

def pending_items(rt: Runtime, plan: Plan) -> list[str]:
    """Items without a final stored result: never captured, failed, unavailable or cut off."""
    return [it["item_id"] for it in plan.items if not is_final(load_result(rt, plan, it["item_id"]))]

def save_result(rt: Runtime, plan: Plan, result: dict[str, Any]) -> None:
    rt.store.put(result_key(plan.article_id, plan.source_sha256, result["item_id"]), _dumps(result),
                 content_type="application/json")
    rt.catalog.record_item(
        article_id=plan.article_id, source_sha256=plan.source_sha256, item_id=result["item_id"],
        kind=result["kind"], provider=result.get("provider"), post_id=result.get("post_id"),
        url=result.get("url"), status=result["status"], error=result.get("error"),
        snapshot_key=result.get("snapshot"), sha256=result.get("sha256"),
        stable_url=result.get("stable_url"), occurrences=result.get("occurrences", 1),
        updated_at=iso(utcnow()),
    )

def failed_result(item: dict[str, Any], reason: str | None) -> dict[str, Any]:
    base = {"item_id": item["item_id"], "kind": item["kind"], "url": item.get("url"),
            "status": "failed", "error": reason, "occurrences": len(item["occurrences"])}
    if item["kind"] == "embed":
        base.update(provider=item["provider"], post_id=item.get("post_id"), snapshot=None)
    else:
        base.update(sha256=None, stable_url=None)
    return base
