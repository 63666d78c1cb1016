"""Rebuild the catalog from object storage, which stays the truth: `archiver reindex`.

Manifests under posts/ give captures, the posts' search rows and their media; plans, item
results and version metadata under articles/ give articles, items, image uses and versions;
blob rows (with the perceptual hash) are recomputed from the stored originals. Every write is an
upsert, so a reindex can run at any time, twice, or be interrupted and run again.

Captures are indexed through `archiver.catalog.indexing.index_capture`, the same path a fresh
capture takes, so the live index and a rebuilt one hold the same rows.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from archiver.catalog.indexing import _image_blob, index_capture
from archiver.dates import iso, utcnow
from archiver.runtime import Runtime
from archiver.steps.prepare import Plan
from archiver.steps.results import is_final
from archiver.storage.base import ObjectNotFound

log = logging.getLogger(__name__)

_MANIFEST = re.compile(r"posts/[a-z][a-z0-9_-]{0,31}/[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}/\d{8}T\d{6}Z-[0-9a-f]{8}\.json")

_ARTICLE_OBJECT = re.compile(
    r"articles/(?P<aid>[^/]+)/(?:plans/(?P<plan>[0-9a-f]{64})\.json"
    r"|results/(?P<rsrc>[0-9a-f]{64})/(?P<item>[0-9a-f]+)\.json|v(?P<version>\d+)\.json)")

READ_THREADS = 8

@dataclass
class ReindexReport:
    captures: int = 0
    articles: int = 0
    items: int = 0
    versions: int = 0
    blobs: int = 0
    skipped: int = 0

    def to_json(self) -> dict[str, int]:
        return asdict(self)

def _read_json(rt: Runtime, keys: Iterable[str]) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """(key, parsed object or None if unreadable), reading several objects at once."""
    def read(key: str) -> tuple[str, dict[str, Any] | None]:
        try:
            doc = json.loads(rt.store.get(key))
        except (ObjectNotFound, ValueError) as exc:
            log.warning("reindex: skipping %s: %s", key, exc)
            return key, None
        return key, doc if isinstance(doc, dict) else None

    with ThreadPoolExecutor(READ_THREADS, thread_name_prefix="reindex") as pool:
        yield from pool.map(read, keys)

def reindex(rt: Runtime, *, fresh: bool = False,
            progress: Callable[[ReindexReport], None] | None = None) -> ReindexReport:
    """Rebuild every catalog row that storage can give; `fresh` empties those tables first."""
    rep = ReindexReport()
    if fresh:
        rt.catalog.clear_index()
    # Oldest capture first (capture ids start with their time): each post's row is made from its
    # first capture, as when it was archived, and later ones update it.
    manifests = sorted((k for k in rt.store.list("posts/") if _MANIFEST.fullmatch(k)),
                       key=lambda k: (k.rsplit("/", 1)[1], k))
    for key, manifest in _read_json(rt, manifests):
        try:
            if manifest is None:
                raise ValueError("not a JSON object")
            rep.blobs += index_capture(rt, key, manifest)
            rep.captures += 1
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("reindex: skipping manifest %s: %s", key, exc)
            rep.skipped += 1
        if progress and rep.captures % 1000 == 0:
            progress(rep)
    by_article: dict[str, list[tuple[re.Match[str], str]]] = defaultdict(list)
    for key in rt.store.list("articles/"):
        m = _ARTICLE_OBJECT.fullmatch(key)
        if m:
            by_article[m["aid"]].append((m, key))
    for article_id, objects in sorted(by_article.items()):
        try:
            _index_article(rt, article_id, objects, rep)
            rep.articles += 1
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("reindex: skipping article %s: %s", article_id, exc)
            rep.skipped += 1
    return rep

def _index_article(rt: Runtime, article_id: str, objects: list[tuple[re.Match[str], str]],
                   rep: ReindexReport) -> None:
    docs = dict(_read_json(rt, [key for _, key in objects]))
    plans: dict[str, Plan] = {}
    results: dict[str, list[dict[str, Any]]] = defaultdict(list)
    versions: list[dict[str, Any]] = []
    for m, key in objects:
        doc = docs.get(key)
        if doc is None:
            rep.skipped += 1
        elif m["plan"]:
            plans[m["plan"]] = Plan.from_json(doc)
        elif m["rsrc"]:
            results[m["rsrc"]].append(doc)
        else:
            versions.append(doc)
    versions.sort(key=lambda v: v["version"])
    if not plans:
        raise ValueError("no plan stored")
    # The article's current source: the latest version's, else the newest plan.
    newest = max(plans.values(), key=lambda p: p.created_at)
    plan = plans.get(versions[-1]["source_sha256"], newest) if versions else newest
    now = iso(utcnow())
    for sha, res_list in results.items():
        item_plan = plans.get(sha)
        for res in res_list:
            _index_result(rt, article_id, sha, item_plan, res, now, rep)
    by_item = {r["item_id"]: r for r in results.get(plan.source_sha256, [])}
    done = all(is_final(by_item.get(it["item_id"])) for it in plan.items)
    status = ("complete" if done else "partial") if versions else "capturing"
    rt.catalog.record_article(
        article_id=article_id, url=plan.url, source_sha256=plan.source_sha256, encoding=plan.encoding,
        status=status, created_at=min(p.created_at for p in plans.values()),
        updated_at=versions[-1]["created_at"] if versions else plan.created_at)
    for v in versions:
        rt.catalog.record_version(article_id=article_id, version=v["version"], key=v["key"], sha256=v["sha256"],
                                  source_sha256=v["source_sha256"], reason=v["reason"],
                                  created_at=v["created_at"])
        rep.versions += 1

def _index_result(rt: Runtime, article_id: str, source_sha: str, plan: Plan | None, res: dict[str, Any],
                  now: str, rep: ReindexReport) -> None:
    rt.catalog.record_item(
        article_id=article_id, source_sha256=source_sha, item_id=res["item_id"], kind=res["kind"],
        provider=res.get("provider"), post_id=res.get("post_id"), url=res.get("url"), status=res["status"],
        error=res.get("error"), snapshot_key=res.get("snapshot"), sha256=res.get("sha256"),
        stable_url=res.get("stable_url"), occurrences=res.get("occurrences", 1), updated_at=now)
    rep.items += 1
    if res["kind"] != "image" or res["status"] != "archived" or not res.get("sha256"):
        return
    rep.blobs += _image_blob(rt, res["sha256"], res.get("key"), res.get("mime"))
    if plan is None:
        return
    try:
        occurrences = plan.item(res["item_id"])["occurrences"]
    except KeyError:
        return
    for occ in occurrences:
        rt.catalog.record_blob_use(res["sha256"], article_id, occ["start"], res.get("url") or "")
