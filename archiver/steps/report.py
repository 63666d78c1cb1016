"""The report of an archived article, in the shape `archiver archive --json` prints."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from archiver.article.versions import Written
from archiver.records.plan import EmbedItem, Plan
from archiver.records.result import CAPTURING, EmbedResult, ImageResult
from archiver.steps.results import Results
from archiver.storage.base import ObjectNotFound
from archiver.storage.layout import source_key

if TYPE_CHECKING:
    from archiver.runtime import Runtime


def report(rt: Runtime, plan: Plan, version: Written | None, results: Results) -> dict[str, Any]:
    """The report of `plan` with the items' `results` (an item without one is "pending").

    {"article_id", "version", "rewritten", "source", "new_version", "embeds": [{"provider", "post_id",
    "url", "status", "snapshot", "error", "occurrences", "missing"}], "images": [{"url", "status",
    "sha256", "stable_url", "error", "occurrences"}]}: "snapshot" is the capture's manifest key, under
    the name the report has always given it. "missing" lists what the capture lacks, as its manifest
    says (``missing_parts``; empty for an archived capture and for none). "rewritten" and "source" are
    paths in file mode, keys otherwise. A storage fault reading a manifest is raised."""
    embeds, images = [], []
    for item in plan.items:
        res = results.get(item.item_id)
        if isinstance(item, EmbedItem):
            embed = res if isinstance(res, EmbedResult) else None
            embeds.append({"provider": item.provider, "post_id": embed.post_id if embed else item.post_id,
                           "url": (embed and embed.url) or item.url, "status": res.status if res else "pending",
                           "snapshot": embed.manifest_key if embed else None,
                           "error": res.error if res else None, "occurrences": len(item.occurrences),
                           "missing": missing_parts(rt, embed)})
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


def missing_parts(rt: Runtime, embed: EmbedResult | None) -> list[dict[str, str | None]]:
    """The parts the capture of `embed` lacks, from its stored manifest's ``missing``:
    [{"part", "ref", "reason"}] (archiver.capture.manifest.MissingPart). Empty when the capture is
    "archived" (nothing is missing then, so its manifest is not read), when nothing was stored, and
    when the manifest is gone or unreadable; a storage fault is raised."""
    if embed is None or not embed.manifest_key or embed.status in ("archived", CAPTURING):
        return []
    try:
        doc = json.loads(rt.store.get(embed.manifest_key))
    except (ObjectNotFound, ValueError):
        return []
    listed = doc.get("missing") if isinstance(doc, dict) else None
    out: list[dict[str, str | None]] = []
    for part in listed if isinstance(listed, list) else []:
        if isinstance(part, dict) and isinstance(part.get("part"), str):
            out.append({"part": part["part"], "ref": part["ref"] if isinstance(part.get("ref"), str) else None,
                        "reason": part["reason"] if isinstance(part.get("reason"), str) else None})
    return out
