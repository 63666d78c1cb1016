"""The report of an archived article: the shape `archiver archive --json` prints (`report`), and the
article's status answer that GET /v1/articles/{id} and `archiver show --json` both give
(`article_answer`, one function so the two faces cannot drift)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from archiver.article.versions import Written, version_listing
from archiver.records.plan import EmbedItem, Plan
from archiver.records.result import CAPTURING, EmbedResult, ImageResult
from archiver.steps.prepare import load_plan
from archiver.steps.results import Results, load_results
from archiver.storage.base import ObjectNotFound
from archiver.storage.layout import intake_prefix, plan_key, source_key

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


def intake_records(rt: Runtime, article_id: str) -> list[dict[str, Any]]:
    """The publish hook's records of `article_id` (each `{"job_id", "source_sha256", "received_at", "url",
    "published_at", ...}`), oldest first; unreadable ones are skipped. A storage fault is raised."""
    out = []
    for key in rt.store.list(intake_prefix(article_id)):
        try:
            doc = json.loads(rt.store.get(key))
        except (ObjectNotFound, ValueError):
            continue
        if isinstance(doc, dict):
            out.append(doc)
    return sorted(out, key=lambda r: str(r.get("received_at") or ""))


def article_answer(rt: Runtime, article_id: str) -> dict[str, Any] | None:
    """The status of an article as GET /v1/articles/{id} and `archiver show --json` give it, or None when
    nothing was received or archived under `article_id` (a checked id).

    {"article_id", "status", "url", "source_sha256", "job_id", "published_at", "created_at",
    "updated_at", "current_version" (the latest readable version's number, or None), "versions":
    [Version.to_json(), or {"version", "unreadable": true, "key"} for a version whose record is damaged:
    listed, not raised, so one bad record does not hide the rest], "items":
    [{"item_id", "kind", "provider", "post_id", "url", "status", "error", "snapshot", "sha256",
    "stable_url", "occurrences"}], "body" (the current version decoded, or None)}. An article received
    but not planned yet has its status ("queued", ...), its job and empty lists. A storage or catalog
    fault is raised."""
    row = rt.catalog.article(article_id)
    received = intake_records(rt, article_id)
    if row is None or not rt.store.exists(plan_key(article_id, row["source_sha256"])):
        # Received (the publish hook's record, or the catalog's "queued" row) but not planned yet.
        if not received:
            return None
        last = received[-1]
        return {"article_id": article_id, "status": row["status"] if row else "queued", "job_id": last.get("job_id"),
                "url": last.get("url"), "published_at": last.get("published_at"),
                "source_sha256": last.get("source_sha256"), "created_at": row["created_at"] if row else None,
                "updated_at": row["updated_at"] if row else None, "current_version": None,
                "versions": [], "items": [], "body": None}
    sha = row["source_sha256"]
    plan = load_plan(rt, article_id, sha)
    results = load_results(rt, plan)
    items = []
    for item in plan.items:
        res = results.get(item.item_id)
        embed = res if isinstance(res, EmbedResult) else None
        image = res if isinstance(res, ImageResult) else None
        post_id = item.post_id if isinstance(item, EmbedItem) else None
        items.append({
            "item_id": item.item_id, "kind": item.kind,
            "provider": item.provider if isinstance(item, EmbedItem) else None,
            "post_id": embed.post_id if embed else post_id, "url": (res.url if res else None) or item.url,
            "status": res.status if res else "pending", "error": res.error if res else None,
            "snapshot": embed.manifest_key if embed else None, "sha256": image.sha256 if image else None,
            "stable_url": image.stable_url if image else None, "occurrences": len(item.occurrences),
        })
    listing = version_listing(rt, article_id)
    history = listing.readable
    body = None
    if history:
        current = history[-1]
        body = rt.store.get(current.key).decode(current.encoding or plan.encoding, "replace")
    published = next((r.get("published_at") for r in reversed(received) if r.get("source_sha256") == sha), None)
    return {
        "article_id": article_id, "status": row["status"], "url": row["url"], "source_sha256": sha,
        "job_id": f"{article_id}:{sha[:16]}", "published_at": published,
        "created_at": row["created_at"], "updated_at": row["updated_at"],
        "current_version": history[-1].version if history else None,
        "versions": listing.entries(), "items": items, "body": body,
    }
