"""The report of an archived article, in the shape `archiver archive --json` prints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archiver.article.versions import Written
from archiver.records.plan import EmbedItem, Plan
from archiver.records.result import EmbedResult, ImageResult
from archiver.steps.results import Results
from archiver.storage.layout import source_key

if TYPE_CHECKING:
    from archiver.runtime import Runtime


def report(rt: Runtime, plan: Plan, version: Written | None, results: Results) -> dict[str, Any]:
    """The report of `plan` with the items' `results` (an item without one is "pending").

    {"article_id", "version", "rewritten", "source", "new_version", "embeds": [{"provider", "post_id",
    "url", "status", "snapshot", "error", "occurrences"}], "images": [{"url", "status", "sha256",
    "stable_url", "error", "occurrences"}]}: "snapshot" is the capture's manifest key, under the name the
    report has always given it. "rewritten" and "source" are paths in file mode, keys otherwise."""
    embeds, images = [], []
    for item in plan.items:
        res = results.get(item.item_id)
        if isinstance(item, EmbedItem):
            embed = res if isinstance(res, EmbedResult) else None
            embeds.append({"provider": item.provider, "post_id": embed.post_id if embed else item.post_id,
                           "url": (embed and embed.url) or item.url, "status": res.status if res else "pending",
                           "snapshot": embed.manifest_key if embed else None,
                           "error": res.error if res else None, "occurrences": len(item.occurrences)})
        else:
            image = res if isinstance(res, ImageResult) else None
            images.append({"url": item.url, "status": res.status if res else "pending",
                           "sha256": image.sha256 if image else None,
                           "stable_url": image.stable_url if image else None,
                           "error": res.error if res else None, "occurrences": len(item.occurrences)})
    return {
        "article_id": plan.article_id,
        "version": version.number if version else None,
        "rewritten": rt.store.locate(version.key) if version else None,
        "source": rt.store.locate(source_key(plan.article_id, plan.source_sha256)),
        "new_version": bool(version and version.new),
        "embeds": embeds,
        "images": images,
    }
