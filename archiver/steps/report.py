"""The report of an archived article, in the shape `archiver archive --json` prints."""

from __future__ import annotations

from typing import Any

from archiver.article.versions import Version
from archiver.runtime import Runtime
from archiver.steps.prepare import Plan
from archiver.steps.results import load_result
from archiver.storage.layout import source_key


# --- reports -----------------------------------------------------------------------------------------
def report(rt: Runtime, plan: Plan, version: Version | None) -> dict[str, Any]:
    embeds, images = [], []
    for item in plan.items:
        res = load_result(rt, plan, item["item_id"]) or {"status": "pending", "error": None}
        if item["kind"] == "embed":
            embeds.append({"provider": item["provider"], "post_id": res.get("post_id", item.get("post_id")),
                           "url": res.get("url") or item.get("url"), "status": res["status"],
                           "snapshot": res.get("snapshot"), "error": res.get("error"),
                           "occurrences": len(item["occurrences"])})
        else:
            images.append({"url": item["url"], "status": res["status"], "sha256": res.get("sha256"),
                           "stable_url": res.get("stable_url"), "error": res.get("error"),
                           "occurrences": len(item["occurrences"])})
    return {
        "article_id": plan.article_id,
        "version": version.number if version else None,
        "rewritten": rt.store.locate(version.key) if version else None,
        "source": rt.store.locate(source_key(plan.article_id, plan.source_sha256)),
        "new_version": bool(version and version.new),
        "embeds": embeds,
        "images": images,
    }
