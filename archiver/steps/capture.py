"""The capture step: one post or one image of a plan, captured once across workers, its result stored.
A final stored result is kept; a fresh capture of the same post is reused. A capture that holds the
post's content (archived, partial) is never written again, nor given up for a worse one: a retry
captures under a new capture id, and the item moves to it only when it is at least as good
(``settle``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from archiver.capture.guard import normalize_url
from archiver.capture.manifest import CAPTURED_STATUSES, STATUS_WORDS, new_capture_id
from archiver.capture.media import archive_media, article_key
from archiver.capture.ownsite import site_scope
from archiver.capture.record import one_line, record_capture
from archiver.catalog.indexing import record_fetch, record_image_blob
from archiver.dates import iso, utcnow
from archiver.faults import is_infrastructure_error
from archiver.providers.base import CaptureContext, occurrences_in
from archiver.providers.markup import filing_id
from archiver.providers.registry import get_provider
from archiver.records.plan import EmbedItem, ImageItem, Plan
from archiver.records.result import (
    CAPTURING,
    FINAL_EMBED_STATUSES,
    EmbedResult,
    ImageResult,
    ItemResult,
    failed_result,
)
from archiver.steps.policy import refused_under
from archiver.steps.prepare import load_source, over_image_limit
from archiver.steps.results import is_final, load_result, save_result
from archiver.storage.base import ObjectNotFound
from archiver.storage.layout import blob_key, derived_prefix, manifest_key

if TYPE_CHECKING:
    from archiver.runtime import Runtime

log = logging.getLogger(__name__)


# --- capture ---------------------------------------------------------------------------------------
def capture_item(rt: Runtime, plan: Plan, item_id: str, *, force: bool = False, attempt: int = 0,
                 retry: bool = False) -> ItemResult:
    """Capture one item and store its result. A final stored result is returned as is, and so is a
    fresh partial one (captured within capture_fresh_for) unless this is a retry (`retry`, or `force`):
    archiving an article again stores nothing new and gives the same bytes; only a retry captures a
    partial post again.

    One capture of a post runs at a time, across workers: a task delivered twice, or two articles
    embedding the same post, wait for the first capture and then find it (stored, or fresh).
    `attempt` is stored with the result (0 the first capture, n the n-th scheduled retry).

    An infrastructure fault (archiver.faults: storage, catalog or broker trouble, the capture lock not
    acquired in time) is raised, never stored as the item's outcome: the caller retries. When the
    item's result was committed meanwhile by someone else (the local runner's deadline), this late
    capture's result is not stored and the committed one is returned.

    A retry of an item whose result holds content (partial; archived when `force`d) captures under a
    new capture id, leaving the earlier capture's objects as they are; which result the item keeps
    is ``settle``'s rule. A retry of an unavailable, failed or still "capturing" item completes its
    capture under the same capture id.
    """
    item = plan.item(item_id)
    # The article's own site as the plan decided it, for politeness: its hosts get their own limits
    # (archiver.capture.ownsite); a URL merely claimed with the article's bytes gives none.
    with (site_scope(plan.own_site),
          rt.coordinator.lock(capture_lock(plan, item), timeout=float(rt.settings.task_time_limit))):
        return _capture_item(rt, plan, item, force=force, attempt=attempt, retry=retry or force)


def capture_lock(plan: Plan, item: EmbedItem | ImageItem) -> str:
    """The name of the lock a capture of `item` holds: per post across articles, else per item."""
    if isinstance(item, EmbedItem) and item.post_id:
        return f"capture:{item.provider}:{item.post_id}"
    return f"capture:{plan.group}:{item.item_id}"


def _capture_item(rt: Runtime, plan: Plan, item: EmbedItem | ImageItem, *, force: bool, attempt: int,
                  retry: bool = False) -> ItemResult:
    existing = load_result(rt, plan, item.item_id)
    if existing is not None and is_final(existing) and not force:
        return existing
    if not retry and _fresh_partial(rt, existing):
        return existing  # a plain re-archive: the fresh partial capture stands, nothing is stored
    result: ItemResult
    try:
        if isinstance(item, EmbedItem):
            # The capture id is fixed before any object is written, so a capture that dies halfway
            # and runs again overwrites the same keys instead of leaving a second, partial capture;
            # a retry of one that ended unavailable or failed completes that same capture. A capture
            # holding content (partial, or archived when forced) is evidence: its keys are never
            # written again, the retry gets a new capture id, and the item keeps pointing at the
            # old one until a result at least as good is stored (no placeholder replaces it).
            if content_rank(existing):
                capture_id = new_capture_id(utcnow())
            elif (isinstance(existing, EmbedResult) and existing.capture_id and not is_final(existing)
                  and not _holds_content(rt, item, existing.capture_id)):
                capture_id = existing.capture_id
            else:
                capture_id = new_capture_id(utcnow())
                placeholder = failed_result(item, None).model_copy(
                    update={"status": CAPTURING, "capture_id": capture_id, "attempt": attempt})
                if not save_result(rt, plan, placeholder):
                    return _committed(rt, plan, item)
            result = _capture_embed(rt, plan, item, capture_id, retry=retry)
        else:
            result = over_image_limit(rt, plan, item) or _capture_image(rt, plan, item)
    except Exception as exc:
        if is_infrastructure_error(exc):
            log.warning("capture of %s %s interrupted by an infrastructure fault: %s: %s", item.kind, item.url,
                        type(exc).__name__, exc)
            raise
        log.exception("capture of %s %s failed", item.kind, item.url)
        result = failed_result(item, f"internal error: {type(exc).__name__}: {exc}")
    result = settle(existing, result.model_copy(update={"attempt": attempt}), iso(utcnow()))
    if not save_result(rt, plan, result):
        return _committed(rt, plan, item)
    return result


# --- keeping what holds content ----------------------------------------------------------------------
# How much of the item a result holds for the article to point at: an archived capture (or image)
# all of it, a partial capture the post with parts missing, anything else nothing.
_RANK = {"archived": 2, "partial": 1}
# Between the kept result's own error and what a later retry found (``settle``); the error is at most
# ERROR_LIMIT characters, the retry's note at most NOTE_LIMIT of them.
RETRY_MARK = " | retry at "
ERROR_LIMIT = 600
NOTE_LIMIT = 300


def content_rank(result: ItemResult | None) -> int:
    """2 for an archived capture or image, 1 for a partial capture (CAPTURED_STATUSES), each only when
    it names what it stored (a manifest key, a blob key); 0 for anything else, None included."""
    if isinstance(result, EmbedResult):
        return _RANK.get(result.status, 0) if result.status in CAPTURED_STATUSES and result.manifest_key else 0
    if isinstance(result, ImageResult):
        return 2 if result.status == "archived" and result.key else 0
    return 0


def settle(existing: ItemResult | None, new: ItemResult, at: str) -> ItemResult:
    """The result to store for an item whose stored result was `existing` when a capture (or a runner
    giving up on one) ended with `new`, at `at` (ISO 8601 UTC).

    `new` when `existing` holds no content (``content_rank`` 0) or `new` holds at least as much
    (archived ≥ partial: a partial retried into a partial or archived capture moves the item to it).
    Otherwise `existing` is kept, so the article keeps its stable copy of the post: with `new`'s
    attempt (the retry schedule goes on and ends) and an error saying what the retry found, e.g.
    ``1 part missing: … | retry at 2026-01-01T00:00:00Z: deleted (This Post was deleted…)``; a
    kept result's earlier retry note is replaced, not added to (at most ERROR_LIMIT characters, one
    line). The capture `new` stored, if any, stays stored and indexed: it is what the platform says now.
    Follows the issue 15 rule: a retry never destroys a committed capture that holds content."""
    kept = content_rank(existing)
    if existing is None or not kept or content_rank(new) >= kept:
        return new
    words = STATUS_WORDS.get(new.status, new.status) if isinstance(new, EmbedResult) else new.status
    note = one_line(f"{at}: {words}" + (f" ({new.error})" if new.error else ""), NOTE_LIMIT)
    base = (existing.error or "").split(RETRY_MARK, 1)[0]
    base = one_line(base, ERROR_LIMIT - len(RETRY_MARK) - len(note)) if base else ""
    error = f"{base}{RETRY_MARK}{note}" if base else f"retry at {note}"
    return existing.model_copy(update={"error": error, "attempt": new.attempt})


def _holds_content(rt: Runtime, item: EmbedItem, capture_id: str) -> bool:
    """Whether the capture `capture_id` of `item` was committed holding the post (its manifest stored,
    archived or partial) by a run that died before storing the item's result: evidence, so a retry
    takes a new capture id rather than writing its keys again."""
    try:
        key = manifest_key(item.provider, filing_id(item.occurrences[0]), capture_id)
        status = json.loads(rt.store.get(key)).get("status")
    except (ObjectNotFound, ValueError, AttributeError):
        return False
    return status in CAPTURED_STATUSES


def _committed(rt: Runtime, plan: Plan, item: EmbedItem | ImageItem) -> ItemResult:
    """The result committed for `item` while a late capture ran (the late one is dropped)."""
    log.warning("late capture of %s %s dropped: its result was committed meanwhile", item.kind, item.url)
    return load_result(rt, plan, item.item_id) or failed_result(item, "no result was stored")


def _fresh_since(rt: Runtime) -> str:
    """The oldest capture time still fresh (capture_fresh_for), as stored (ISO 8601 UTC)."""
    return iso(utcnow() - timedelta(seconds=rt.settings.capture_fresh_for))


def _fresh_partial(rt: Runtime, existing: ItemResult | None) -> bool:
    """Whether `existing` is a partial capture holding content (`content_rank` 1), captured within
    capture_fresh_for, whose manifest this storage holds: a plain re-archive keeps it as it is."""
    return (isinstance(existing, EmbedResult) and content_rank(existing) == 1 and bool(existing.captured_at)
            and (existing.captured_at or "") >= _fresh_since(rt) and rt.store.exists(existing.manifest_key or ""))


def _capture_embed(rt: Runtime, plan: Plan, item: EmbedItem, capture_id: str, *, retry: bool = False) -> EmbedResult:

    occurrences = item.occurrences
    base = {"item_id": item.item_id, "provider": item.provider, "occurrences": len(occurrences)}
    post_id = filing_id(occurrences[0])
    # A plain archive reuses a fresh capture of any final status or partial; a retry, whose point is
    # to capture a partial post again, reuses only a final one.
    statuses = FINAL_EMBED_STATUSES if retry else (*FINAL_EMBED_STATUSES, "partial")
    fresh = rt.catalog.latest_capture(item.provider, post_id, _fresh_since(rt), statuses)
    # A fresh capture is reused: archiving the same post again stores nothing new. Only one this
    # storage holds: a catalog that is not this storage's index (a storage setting changed, a bucket
    # emptied) must not make an article point at a manifest that is not there.
    if fresh is not None and fresh["manifest_key"] and rt.store.exists(fresh["manifest_key"]):
        return EmbedResult(**base, post_id=item.post_id, url=fresh["url"] or item.url, status=fresh["status"],
                           manifest_key=fresh["manifest_key"], capture_id=fresh["capture_id"],
                           captured_at=fresh["captured_at"], error=None)
    # The provider sees each occurrence's markup, not the article; storing and indexing (the same
    # indexing as `archiver reindex`, quoted and parent posts included) happen in record_capture.
    # Provenance: the manifest names the article the post was found in by the URL it is published at
    # (the sender's url, else the --base-url / base_url it said the article is published at).
    ctx = CaptureContext(settings=rt.settings, fetcher=rt.fetcher, article_id=plan.article_id,
                         article_url=plan.url or plan.base_url, capture_id=capture_id)
    captured = get_provider(item.provider).capture(occurrences_in(load_source(rt, plan).text, occurrences), ctx)
    res = record_capture(rt, captured, ctx)
    captured_at = res.manifest.captured_at if res.manifest is not None else iso(utcnow())
    # "unresolved-…" is only the filing name of a post the article shows without an id.
    resolved_id = res.post_id if res.post_id and not res.post_id.startswith("unresolved-") else None
    return EmbedResult(**base, post_id=item.post_id or resolved_id, url=res.url or item.url, status=res.status,
                       manifest_key=res.manifest_key, capture_id=res.capture_id, captured_at=captured_at,
                       error=res.error)

# A stable copy's key as its public URL names it: an original by digest, or one of its serving copies.
_OWN_COPY = re.compile(r"blobs/sha256/([0-9a-f]{2})/(\1[0-9a-f]{62})"
                       r"|derived/([0-9a-f]{64})/[a-z0-9_-]{1,40}\.[a-z0-9]{1,8}")


def own_copy(rt: Runtime, url: str) -> tuple[str, str] | None:
    """(key, sha256 of the original) when `url` is one of our own stable copies (under public_base_url, its
    path a stored ``blobs/sha256/..`` or ``derived/..`` key, no query), else None: an article submitted
    again after archive or restore points at them, and fetching them again would archive a copy of a copy."""
    prefix = f"{rt.store.public_base_url}/"
    if not url.startswith(prefix) or len(url) > 2048:
        return None
    parts = urlsplit(url)
    key = unquote(url[len(prefix):].split("#", 1)[0])
    if parts.query or not (m := _OWN_COPY.fullmatch(key)) or not rt.store.exists(key):
        return None
    return key, m.group(2) or m.group(3)


def _capture_image(rt: Runtime, plan: Plan, item: ImageItem) -> ImageResult:

    url = item.url
    same = normalize_url(url)  # spellings of one URL share one fetch
    base = {"item_id": item.item_id, "url": url, "occurrences": len(item.occurrences)}
    own = own_copy(rt, url)
    if own is not None:  # already archived: the result shows the same copy, nothing is fetched
        shown, sha = own
        known = rt.catalog.blob(sha) or {}
        original = blob_key(sha)   # the result's key is the original (the evidence), as when fetched
        key = original if shown == original or rt.store.exists(original) else shown
        for occ in item.occurrences:
            rt.catalog.record_blob_use(sha, plan.article_id, occ.start, url)
        return ImageResult(**base, status="archived", sha256=sha, key=key, mime=known.get("mime"),
                           stable_url=rt.store.public_url(shown), error=None)
    window = rt.settings.media_dedupe_window
    # One fetch of a URL across all workers: whoever holds the lock fetches, the others reuse.
    with rt.coordinator.lock(f"url:{hashlib.sha256(same.encode()).hexdigest()}", timeout=180):
        since = iso(utcnow() - timedelta(seconds=window))
        seen = rt.catalog.recent_url_fetch(same, since)
        blob = rt.catalog.blob(seen["sha256"]) if seen else None
        if seen is not None and blob is not None and rt.store.exists(blob["key"]):
            sha, key, mime, fetched_at = blob["sha256"], blob["key"], blob["mime"], seen["fetched_at"]
            shown = article_key({k: k for k in rt.store.list(derived_prefix(sha))}, key)
        else:
            rec = archive_media(url, kind="image", fetcher=rt.fetcher, store=rt.store, settings=rt.settings)
            if rec.status != "archived" or not rec.sha256 or not rec.key:
                # A refusal by our own policy keeps the settings that decided it: retry tries it again
                # once they change (archiver/steps/policy.py); a content rejection stays rejected.
                return ImageResult(**base, status=rec.status if rec.status in ("rejected", "failed") else "failed",
                                   sha256=rec.sha256, stable_url=None, error=rec.error or rec.status,
                                   refused_under=refused_under(rec, rt.settings))
            record_image_blob(rt, rec)
            fetched_at = iso(utcnow())
            rt.catalog.record_url_fetch(same, rec.sha256, fetched_at)
            record_fetch(rt, same, rec.sha256, fetched_at)  # every fetch kept: the URL's Mementos
            sha, key, mime = rec.sha256, rec.key, rec.mime
            shown = article_key(rec.derived, key)
    for occ in item.occurrences:
        rt.catalog.record_blob_use(sha, plan.article_id, occ.start, url)
    # The article shows the copy without metadata (no GPS position served); the result's key is the
    # original, the evidence.
    return ImageResult(**base, status="archived", sha256=sha, key=key, mime=mime,
                       stable_url=rt.store.public_url(shown), error=None, fetched_at=fetched_at)
