"""Rebuild the catalog from object storage, which stays the truth: `archiver reindex`.

Manifests under posts/ give captures, the posts' search rows and their media; plans, item
results and version metadata under articles/ give articles, items, image uses and versions;
blob rows (with the difference hash) are recomputed from the stored originals. Every write is an
upsert, so a reindex can run at any time, twice, or be interrupted and run again.

Captures are indexed through `archiver.catalog.indexing.index_capture`, the same path a fresh
capture takes, so the live index and a rebuilt one hold the same rows. Then what compliance and
health keep in storage comes back too: holds and takedowns (so a taken-down post stays hidden and
out of restores), the audit trail, and each original's liveness history with the articles using it.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from archiver.article.metadata import MAX_SCAN, ArticleMetadata, article_metadata
from archiver.catalog.indexing import image_blob, index_capture, record_fetch
from archiver.compliance import audit, holds
from archiver.dates import iso, utcnow
from archiver.health import originals
from archiver.records.base import RecordError
from archiver.records.plan import Plan
from archiver.records.result import ImageResult, ItemResult, load_item_result
from archiver.records.version import Version
from archiver.steps.results import is_final, record_item
from archiver.storage.base import ObjectNotFound
from archiver.storage.layout import (
    ARTICLE_OBJECT_RE,
    ARTICLES_PREFIX,
    INTAKE_KEY_RE,
    INTAKE_PREFIX,
    MANIFEST_KEY_RE,
    POSTS_PREFIX,
    source_key,
)

if TYPE_CHECKING:
    from archiver.runtime import Runtime

log = logging.getLogger(__name__)

READ_THREADS = 8


@dataclass
class ReindexReport:
    """What a reindex did: rows recorded of each kind, and stored objects skipped as unreadable. ``blobs``
    counts distinct originals (one content-addressed original used by many captures and articles is one
    blob); every other count is of stored objects or rows, each once."""

    captures: int = 0
    articles: int = 0
    items: int = 0
    versions: int = 0
    blobs: int = 0
    compliance_states: int = 0
    audit_events: int = 0
    health_records: int = 0
    skipped: int = 0

    def to_json(self) -> dict[str, int]:
        return asdict(self)


def _read(rt: Runtime, keys: Iterable[str]) -> Iterator[tuple[str, bytes | None]]:
    """(key, stored bytes or None if gone), reading several objects at once."""
    def read(key: str) -> tuple[str, bytes | None]:
        try:
            return key, rt.store.get(key)
        except ObjectNotFound as exc:
            log.warning("reindex: skipping %s: %s", key, exc)
            return key, None

    with ThreadPoolExecutor(READ_THREADS, thread_name_prefix="reindex") as pool:
        yield from pool.map(read, keys)


def reindex(rt: Runtime, *, fresh: bool = False,
            progress: Callable[[ReindexReport], None] | None = None) -> ReindexReport:
    """Rebuild every catalog row that storage can give; `fresh` empties those tables first."""
    rep = ReindexReport()
    seen: set[str] = set()  # the distinct originals the catalog holds (by SHA-256): rep.blobs
    if fresh:
        rt.catalog.clear_index()
    # Oldest capture first (capture ids start with their time): each post's row is made from its
    # first capture, as when it was archived, and later ones update it.
    manifests = sorted((k for k in rt.store.list(POSTS_PREFIX) if MANIFEST_KEY_RE.fullmatch(k)),
                       key=lambda k: (k.rsplit("/", 1)[1], k))
    for key, data in _read(rt, manifests):
        try:
            manifest = json.loads(data) if data is not None else None
            if not isinstance(manifest, dict):
                raise ValueError("not a JSON object")
            seen |= index_capture(rt, key, manifest)
            rep.captures += 1
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("reindex: skipping manifest %s: %s", key, exc)
            rep.skipped += 1
        if progress and rep.captures % 1000 == 0:
            rep.blobs = len(seen)
            progress(rep)
    by_article: dict[str, list[tuple[re.Match[str], str]]] = defaultdict(list)
    for key in rt.store.list(ARTICLES_PREFIX):
        m = ARTICLE_OBJECT_RE.fullmatch(key)
        if m:
            by_article[m["aid"]].append((m, key))
    indexed = set()
    for article_id, objects in sorted(by_article.items()):
        try:
            _index_article(rt, article_id, objects, rep, seen)
            rep.articles += 1
            indexed.add(article_id)
        except _NoPlan as exc:  # its objects are counted as skipped already
            log.warning("reindex: skipping article %s: %s", article_id, exc)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("reindex: skipping article %s: %s", article_id, exc)
            rep.skipped += 1
    _index_unprocessed(rt, indexed, rep)
    _index_compliance_and_health(rt, rep)
    rep.blobs = len(seen)
    return rep


def _index_compliance_and_health(rt: Runtime, rep: ReindexReport) -> None:
    """Holds and takedowns, the audit trail and the originals' health, each from its stored records
    (a damaged one is logged and counted as skipped); the articles' originals enrolled again for
    health checks, their stored histories then laid over the fresh rows."""
    skipped: list[str] = []
    rep.compliance_states = holds.reindex(rt, skipped)
    rep.audit_events = audit.reindex(rt, skipped)
    originals.enroll_all(rt)
    rep.health_records = originals.reindex(rt, skipped)
    for reason in skipped:
        log.warning("reindex: skipping %s", reason)
    rep.skipped += len(skipped)


def _index_unprocessed(rt: Runtime, indexed: set[str], rep: ReindexReport) -> None:
    """Articles received (an intake record) but with no plan stored yet: "queued", as Intake left them,
    so the sweeper starts them again (archiver/runners/sweep.py)."""
    latest: dict[str, tuple[str, str, dict]] = {}
    for key in rt.store.list(INTAKE_PREFIX):
        m = INTAKE_KEY_RE.fullmatch(key)
        if m is None or m["aid"] in indexed:
            continue
        try:
            record = json.loads(rt.store.get(key))
            received = str(record["received_at"])
        except (ObjectNotFound, ValueError, KeyError, TypeError) as exc:
            log.warning("reindex: skipping %s: %s", key, exc)
            rep.skipped += 1
            continue
        if m["aid"] not in latest or received > latest[m["aid"]][0]:
            latest[m["aid"]] = (received, m["sha"], record)
    for article_id, (received, sha, record) in sorted(latest.items()):
        rt.catalog.record_article(article_id=article_id, url=record.get("url"), source_sha256=sha,
                                  encoding=record.get("charset") or "", status="queued",
                                  created_at=received, updated_at=received)
        rep.articles += 1


class _NoPlan(ValueError):
    """An article with no readable plan: none of its objects can be indexed, and each was counted as
    skipped (an unreadable plan once, not again as the article)."""


def _index_article(rt: Runtime, article_id: str, objects: list[tuple[re.Match[str], str]],
                   rep: ReindexReport, seen: set[str]) -> None:
    """Index one article's plans, item results and versions; a malformed object is skipped (counted)."""
    data = dict(_read(rt, [key for _, key in objects]))
    plans: dict[str, Plan] = {}
    results: dict[str, list[ItemResult]] = defaultdict(list)
    versions: list[Version] = []
    unreadable = 0
    for m, key in objects:
        raw = data.get(key)
        try:
            if raw is None:
                raise RecordError(f"{key} is gone")
            if m["plan"]:
                plans[m["plan"]] = Plan.loads(raw, key)
            elif m["rsrc"]:
                results[m["rsrc"]].append(load_item_result(raw, key))
            else:
                versions.append(Version.loads(raw, key))
        except RecordError as exc:
            log.warning("reindex: skipping %s", exc)
            unreadable += 1
    versions.sort(key=lambda v: v.version)
    if not plans:
        # Without a plan nothing of the article is indexed: each of its objects is skipped, once.
        rep.skipped += len(objects)
        raise _NoPlan("no readable plan stored")
    rep.skipped += unreadable
    # The article's current source: the latest version's, else the newest plan.
    newest = max(plans.values(), key=lambda p: p.created_at)
    plan = plans.get(versions[-1].source_sha256, newest) if versions else newest
    now = iso(utcnow())
    for sha, res_list in results.items():
        item_plan = plans.get(sha)
        for res in res_list:
            _index_result(rt, article_id, sha, item_plan, res, now, rep, seen)
    by_item = {r.item_id: r for r in results.get(plan.source_sha256, [])}
    done = all(is_final(by_item.get(it.item_id)) for it in plan.items)
    status = ("complete" if done else "partial") if versions else "capturing"
    meta = _metadata(rt, plan)
    rt.catalog.record_article(
        article_id=article_id, url=plan.url, source_sha256=plan.source_sha256, encoding=plan.encoding,
        status=status, created_at=min(p.created_at for p in plans.values()),
        updated_at=versions[-1].created_at if versions else plan.created_at,
        headline=meta.headline, published_at=meta.published_at)
    for v in versions:
        rt.catalog.record_version(article_id=article_id, version=v.version, key=v.key, sha256=v.sha256,
                                  source_sha256=v.source_sha256, reason=v.reason, created_at=v.created_at)
        rep.versions += 1


def _metadata(rt: Runtime, plan: Plan) -> ArticleMetadata:
    """The plan's metadata; for a plan made before it was kept, read again from the stored source
    (the first article_metadata.MAX_SCAN characters); empty when the source is gone or undecodable."""
    if plan.metadata is not None:
        return plan.metadata
    try:
        head = rt.store.get(source_key(plan.article_id, plan.source_sha256))[:4 * MAX_SCAN]
        return article_metadata(head.decode(plan.encoding, errors="replace"), "auto")
    except (ObjectNotFound, LookupError):
        return ArticleMetadata()


def _index_result(rt: Runtime, article_id: str, source_sha: str, plan: Plan | None, res: ItemResult,
                  now: str, rep: ReindexReport, seen: set[str]) -> None:
    record_item(rt, article_id, source_sha, res, now)
    rep.items += 1
    if not isinstance(res, ImageResult) or res.status != "archived" or not res.sha256:
        return
    if image_blob(rt, res.sha256, res.key, res.mime):
        seen.add(res.sha256)  # counted once however many uses
    # The fetch it records (url_history, the image's Mementos): its time, else (a result stored before
    # results kept it) the plan's creation, the article's arrival, which a reindex reads the same each time.
    record_fetch(rt, res.url, res.sha256, res.fetched_at or (plan.created_at if plan is not None else None))
    if plan is None:
        return
    try:
        occurrences = plan.item(res.item_id).occurrences
    except KeyError:
        return
    for occ in occurrences:
        rt.catalog.record_blob_use(res.sha256, article_id, occ.start, res.url or "")
