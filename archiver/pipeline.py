"""The archiving steps, shared by both runners: prepare → capture each item → finalize.

`prepare` stores the source and a plan of distinct items; `capture_item` snapshots one post or one
image and stores its result; `finalize` splices the stable URLs into a new article version once
every item has ended. Each step is idempotent: it may run twice or die halfway, and the stored end
state is the same. The embedded runner (`archive`, `retry`) runs them in one process with a thread
pool; `workers/` runs the same functions as Celery tasks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from archiver import __version__
from archiver.article import DecodedArticle, article_id_for, decode_article
from archiver.catalog import Catalog, open_catalog
from archiver.config import Settings
from archiver.coordination import Coordinator, LocalCoordinator
from archiver.discover import Embed, ImageRef, discover
from archiver.errors import ArchiverError, InputError
from archiver.providers.markup import filing_id
from archiver.snapshot import new_capture_id
from archiver.store import ObjectNotFound, ObjectStore, open_store

log = logging.getLogger(__name__)

FINAL_EMBED_STATUSES = ("archived", "deleted", "protected", "tombstoned", "unresolved")
FINAL_IMAGE_STATUSES = ("archived", "rejected")
_ARTICLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- object keys (an interface: keep stable) ------------------------------------------------
def source_key(article_id: str, source_sha: str) -> str:
    return f"articles/{article_id}/sources/{source_sha}"


def plan_key(article_id: str, source_sha: str) -> str:
    return f"articles/{article_id}/plans/{source_sha}.json"


def result_key(article_id: str, source_sha: str, item_id: str) -> str:
    return f"articles/{article_id}/results/{source_sha}/{item_id}.json"


def version_key(article_id: str, n: int) -> str:
    return f"articles/{article_id}/v{n}"


def version_meta_key(article_id: str, n: int) -> str:
    return f"articles/{article_id}/v{n}.json"


def patch_key(article_id: str, n: int) -> str:
    return f"articles/{article_id}/v{n}.patch.json"


def item_id_for(kind: str, key: str) -> str:
    return hashlib.sha256(f"{kind}\n{key}".encode()).hexdigest()[:16]


# --- runtime -----------------------------------------------------------------------------------
@dataclass
class Runtime:
    """What every step needs; built once per process (or per CLI command)."""

    settings: Settings
    store: ObjectStore
    catalog: Catalog
    coordinator: Coordinator = field(default_factory=LocalCoordinator)
    limiter: Any = None
    _fetcher: Any = None

    @classmethod
    def from_settings(cls, settings: Settings, *, coordinator: Coordinator | None = None,
                      limiter: Any = None) -> Runtime:
        return cls(settings, open_store(settings), open_catalog(settings.catalog_url),
                   coordinator or LocalCoordinator(), limiter)

    @property
    def fetcher(self) -> Any:
        if self._fetcher is None:
            from archiver.fetch import Fetcher

            self._fetcher = Fetcher(self.settings, self.limiter)
        return self._fetcher

    def close(self) -> None:
        if self._fetcher is not None:
            self._fetcher.close()
        self.catalog.close()


# --- plans ---------------------------------------------------------------------------------------
@dataclass
class Plan:
    """The distinct items of one article source, with every occurrence's span."""

    article_id: str
    source_sha256: str
    encoding: str
    url: str | None
    base_url: str | None
    created_at: str
    items: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id, "source_sha256": self.source_sha256,
            "source_key": source_key(self.article_id, self.source_sha256), "encoding": self.encoding,
            "url": self.url, "base_url": self.base_url, "created_at": self.created_at,
            "archiver_version": __version__, "items": self.items,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Plan:
        return cls(d["article_id"], d["source_sha256"], d["encoding"], d.get("url"), d.get("base_url"),
                   d["created_at"], d["items"])

    def item(self, item_id: str) -> dict[str, Any]:
        for it in self.items:
            if it["item_id"] == item_id:
                return it
        raise KeyError(item_id)

    @property
    def group(self) -> str:
        return f"{self.article_id}:{self.source_sha256}"


def _group_items(embeds: Iterable[Embed], images: Iterable[ImageRef]) -> list[dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    for e in embeds:
        iid = item_id_for("embed", e.key)
        g = groups.setdefault(iid, {"item_id": iid, "kind": "embed", "provider": e.provider,
                                    "post_id": e.post_id, "url": e.url, "occurrences": []})
        g["occurrences"].append(e.to_json())
        g["url"] = g["url"] or e.url
    for im in images:
        iid = item_id_for("image", im.url)
        g = groups.setdefault(iid, {"item_id": iid, "kind": "image", "url": im.url, "occurrences": []})
        g["occurrences"].append(im.to_json())
    # Richest markup first so a provider reads the best copy; stable order for equal plans.
    for g in groups.values():
        if g["kind"] == "embed":
            g["occurrences"].sort(key=lambda o: (-(o["end"] - o["start"]), o["start"]))
    return sorted(groups.values(), key=lambda g: (g["kind"], min(o["start"] for o in g["occurrences"])))


def check_article_id(article_id: str) -> str:
    if not _ARTICLE_ID.match(article_id) or ".." in article_id:
        raise InputError(
            f"article id {article_id!r} must be 1-128 characters of letters, digits, '.', '_' or '-'"
        )
    return article_id


def prepare(rt: Runtime, data: bytes, *, url: str | None = None, base_url: str | None = None,
            article_id: str | None = None, fmt: str = "auto", charset: str | None = None) -> Plan:
    """Store the source, discover its items and store the plan (first plan for a source wins)."""
    decoded = decode_article(data, charset, max_bytes=rt.settings.max_article_bytes)
    article_id = check_article_id(article_id or article_id_for(data))
    sha = sha256_hex(data)
    rt.store.put(source_key(article_id, sha), data, content_type="application/octet-stream",
                 if_none_match=True)
    try:
        plan = Plan.from_json(json.loads(rt.store.get(plan_key(article_id, sha))))
    except ObjectNotFound:
        found = discover(decoded.text, base_url=base_url or url, fmt=fmt)
        plan = Plan(article_id, sha, decoded.encoding, url, base_url or url, iso(utcnow()),
                    _group_items(found.embeds, found.images))
        if not rt.store.put(plan_key(article_id, sha), _dumps(plan.to_json()),
                            content_type="application/json", if_none_match=True):
            plan = Plan.from_json(json.loads(rt.store.get(plan_key(article_id, sha))))
    now = iso(utcnow())
    rt.catalog.record_article(article_id=article_id, url=url, source_sha256=sha, encoding=plan.encoding,
                              status="capturing", created_at=now, updated_at=now)
    return plan


def load_plan(rt: Runtime, article_id: str, source_sha: str | None = None) -> Plan:
    if source_sha is None:
        row = rt.catalog.article(article_id)
        if row is None:
            raise InputError(f"no article {article_id!r} in the catalog ({rt.catalog.describe()})")
        source_sha = row["source_sha256"]
    try:
        return Plan.from_json(json.loads(rt.store.get(plan_key(article_id, source_sha))))
    except ObjectNotFound:
        raise InputError(f"article {article_id!r} has no stored plan for source {source_sha[:12]}") from None


def _load_source(rt: Runtime, plan: Plan) -> DecodedArticle:
    data = rt.store.get(source_key(plan.article_id, plan.source_sha256))
    return DecodedArticle(data.decode(plan.encoding), plan.encoding)


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


# --- capture ---------------------------------------------------------------------------------------
def capture_item(rt: Runtime, plan: Plan, item_id: str, *, force: bool = False) -> dict[str, Any]:
    """Capture one item and store its result. A final stored result is returned as is.

    One capture of a post runs at a time, across workers: a task delivered twice, or two articles
    embedding the same post, wait for the first capture and then find it (stored, or fresh).
    """
    item = plan.item(item_id)
    if item["kind"] == "embed" and item.get("post_id"):
        lock = f"capture:{item['provider']}:{item['post_id']}"
    else:
        lock = f"capture:{plan.group}:{item_id}"
    with rt.coordinator.lock(lock, timeout=float(rt.settings.task_time_limit)):
        return _capture_item(rt, plan, item, force=force)


def _capture_item(rt: Runtime, plan: Plan, item: dict[str, Any], *, force: bool) -> dict[str, Any]:
    item_id = item["item_id"]
    existing = load_result(rt, plan, item_id)
    if existing is not None and is_final(existing) and not force:
        return existing
    try:
        if item["kind"] == "embed":
            # The capture id is fixed before any object is written, so a capture that dies halfway
            # and runs again overwrites the same keys instead of leaving a second, partial capture;
            # a retry of one that ended unavailable or failed completes that same capture.
            if existing is not None and existing.get("capture_id") and not is_final(existing):
                capture_id = existing["capture_id"]
            else:
                capture_id = new_capture_id(utcnow())
                save_result(rt, plan, {**failed_result(item, None), "status": "capturing",
                                       "capture_id": capture_id})
            result = _capture_embed(rt, plan, item, capture_id)
        else:
            result = _capture_image(rt, plan, item)
    except Exception as exc:
        log.exception("capture of %s %s failed", item["kind"], item.get("url"))
        result = failed_result(item, f"internal error: {type(exc).__name__}: {exc}")
    save_result(rt, plan, result)
    return result


def _capture_embed(rt: Runtime, plan: Plan, item: dict[str, Any], capture_id: str) -> dict[str, Any]:
    from archiver.providers import get_provider
    from archiver.providers.base import CaptureContext

    occurrences = [Embed(**o) for o in item["occurrences"]]
    base = {"item_id": item["item_id"], "kind": "embed", "provider": item["provider"],
            "occurrences": len(occurrences)}
    post_id = filing_id(occurrences[0])
    since = iso(utcnow() - timedelta(seconds=rt.settings.capture_fresh_for))
    fresh = rt.catalog.latest_capture(item["provider"], post_id, since, FINAL_EMBED_STATUSES)
    if fresh is not None:
        # A fresh capture is reused: archiving the same post again stores nothing new.
        return {**base, "post_id": item.get("post_id"), "url": fresh["url"] or item.get("url"),
                "status": fresh["status"], "snapshot": fresh["manifest_key"],
                "capture_id": fresh["capture_id"], "captured_at": fresh["captured_at"], "error": None}
    ctx = CaptureContext(settings=rt.settings, fetcher=rt.fetcher, store=rt.store, article_id=plan.article_id,
                         article_url=plan.url, article_text=_load_source(rt, plan).text,
                         capture_id=capture_id)
    res = get_provider(item["provider"]).capture(occurrences, ctx)
    manifest = res.manifest or {}
    captured_at = manifest.get("captured_at") or iso(utcnow())
    if res.capture_id and res.manifest_key and res.manifest:
        # The same indexing as `archiver reindex`: the capture, its post's search row, its images,
        # and the quoted and parent posts it captured in their own right.
        from archiver.reindex import index_capture

        index_capture(rt, res.manifest_key, res.manifest)
        for relation in ("quoted", "parent"):
            ref = res.manifest.get(relation)
            if isinstance(ref, dict) and ref.get("manifest_key"):
                index_capture(rt, ref["manifest_key"], json.loads(rt.store.get(ref["manifest_key"])))
    elif res.capture_id and res.manifest_key:
        author = manifest.get("author") or {}
        rt.catalog.record_capture(
            capture_id=res.capture_id, provider=res.provider, post_id=res.post_id or post_id,
            url=res.url, status=res.status, manifest_key=res.manifest_key, captured_at=captured_at,
            handle=author.get("handle"), author=author.get("name"), text=manifest.get("text"),
            posted_at=manifest.get("created_at"),
        )
    # "unresolved-…" is only the filing name of a post the article shows without an id.
    resolved_id = res.post_id if res.post_id and not res.post_id.startswith("unresolved-") else None
    return {**base, "post_id": item.get("post_id") or resolved_id, "url": res.url or item.get("url"),
            "status": res.status, "snapshot": res.manifest_key, "capture_id": res.capture_id,
            "captured_at": captured_at, "error": res.error}


def _capture_image(rt: Runtime, plan: Plan, item: dict[str, Any]) -> dict[str, Any]:
    from archiver.fetch import normalize_url
    from archiver.media import archive_media

    url = item["url"]
    same = normalize_url(url)  # spellings of one URL share one fetch
    base = {"item_id": item["item_id"], "kind": "image", "url": url, "occurrences": len(item["occurrences"])}
    window = rt.settings.media_dedupe_window
    # One fetch of a URL across all workers: whoever holds the lock fetches, the others reuse.
    with rt.coordinator.lock(f"url:{hashlib.sha256(same.encode()).hexdigest()}", timeout=180):
        since = iso(utcnow() - timedelta(seconds=window))
        seen = rt.catalog.recent_url_fetch(same, since)
        blob = rt.catalog.blob(seen["sha256"]) if seen else None
        if blob is not None and rt.store.exists(blob["key"]):
            result = {**base, "status": "archived", "sha256": blob["sha256"], "key": blob["key"],
                      "mime": blob["mime"], "stable_url": rt.store.public_url(blob["key"]), "error": None}
        else:
            rec = archive_media(url, kind="image", fetcher=rt.fetcher, store=rt.store, settings=rt.settings)
            if rec.status != "archived" or not rec.sha256 or not rec.key:
                return {**base, "status": rec.status if rec.status in ("rejected", "failed") else "failed",
                        "sha256": rec.sha256, "stable_url": None, "error": rec.error or rec.status}
            rt.catalog.record_blob(sha256=rec.sha256, key=rec.key, mime=rec.mime, bytes=rec.bytes,
                                   width=rec.width, height=rec.height, phash=rec.phash)
            rt.catalog.record_url_fetch(same, rec.sha256, iso(utcnow()))
            result = {**base, "status": "archived", "sha256": rec.sha256, "key": rec.key, "mime": rec.mime,
                      "stable_url": rt.store.public_url(rec.key), "error": None}
    for occ in item["occurrences"]:
        rt.catalog.record_blob_use(result["sha256"], plan.article_id, occ["start"], url)
    return result


# --- finalize ---------------------------------------------------------------------------------------
@dataclass
class Version:
    article_id: str
    number: int
    key: str
    sha256: str
    created_at: str
    reason: str
    source_sha256: str
    new: bool

    def to_json(self) -> dict[str, Any]:
        return {"version": self.number, "key": self.key, "sha256": self.sha256, "created_at": self.created_at,
                "reason": self.reason, "source_sha256": self.source_sha256}


class VersionConflict(ArchiverError):
    """Another version was written between reading the current one and writing its successor."""


class NotReady(Exception):
    """Some items of the article have no stored result yet."""


def versions(rt: Runtime, article_id: str) -> list[dict[str, Any]]:
    """Committed versions from storage (the truth), oldest first."""
    out = []
    for key in rt.store.list(f"articles/{article_id}/v"):
        m = re.fullmatch(rf"articles/{re.escape(article_id)}/v(\d+)\.json", key)
        if m:
            out.append(json.loads(rt.store.get(key)))
    return sorted(out, key=lambda v: v["version"])


def _minimal(start: int, old: str, new: str) -> tuple[int, int, str]:
    """Narrow a replacement to the part that differs, so nested spans do not collide."""
    p = 0
    while p < min(len(old), len(new)) and old[p] == new[p]:
        p += 1
    s = 0
    while s < min(len(old), len(new)) - p and old[-1 - s] == new[-1 - s]:
        s += 1
    return start + p, start + len(old) - s, new[p:len(new) - s]


def build_replacements(rt: Runtime, text: str, plan: Plan, results: dict[str, dict[str, Any]],
                       where: Callable[[int, int], tuple[int, int] | None] | None = None,
                       leave: Collection[str] = ()) -> list:
    """What the archived items change in `text`: images point at their stable copies, embeds get
    Robust Links. `text` is the source, or with `where` (an occurrence's source span to its span in
    `text`, None where an edit cut across it) a later version; items in `leave` stay as they are."""
    from archiver.rewrite import Replacement, add_robust_links

    reps: list[Replacement] = []
    for item in plan.items:
        res = results.get(item["item_id"])
        if not res or res["status"] != "archived" or item["item_id"] in leave:
            continue
        spans = [where(o["start"], o["end"]) if where else (o["start"], o["end"]) for o in item["occurrences"]]
        if item["kind"] == "image" and res.get("stable_url"):
            for span in spans:
                if span is not None and text[span[0]:span[1]] != res["stable_url"]:
                    reps.append(Replacement(span[0], span[1], res["stable_url"]))
        elif item["kind"] == "embed" and res.get("snapshot"):
            original = res.get("url") or item.get("url")
            if not original:
                continue
            version_url = rt.store.public_url(res["snapshot"])
            for span in spans:
                if span is None:
                    continue
                old = text[span[0]:span[1]]
                new = add_robust_links(old, original, version_url, res.get("captured_at") or "")
                if new != old:
                    reps.append(Replacement(*_minimal(span[0], old, new)))
    reps.sort(key=lambda r: (r.start, r.end))
    kept: list[Replacement] = []
    for r in reps:
        if kept and r.start < kept[-1].end:
            log.warning("dropping overlapping replacement at %d-%d", r.start, r.end)
            continue
        kept.append(r)
    return kept


def finalize(rt: Runtime, plan: Plan, *, reason: str = "archive") -> Version:
    """Write the rewritten article as a new version unless the current one has the same bytes.

    The rewrite is made from the source, unless an editor's restore or revert lies under the
    current version: then it is made on the current version, so their work stays (see `_edited`).
    """
    from archiver.rewrite import Replacement, splice

    results = {}
    for item in plan.items:
        res = load_result(rt, plan, item["item_id"])
        if res is None:
            raise NotReady(f"item {item['item_id']} of {plan.article_id} has no result yet")
        results[item["item_id"]] = res
    for attempt in range(3):
        # A restore or revert that lands meanwhile makes the write fail, and the next turn sees it.
        expected, edited = _edited(rt, plan)
        if edited is None:
            text = _load_source(rt, plan).text
            encoding = plan.encoding
            reps = build_replacements(rt, text, plan, results)
            base = {"kind": "source", "sha256": plan.source_sha256,
                    "key": source_key(plan.article_id, plan.source_sha256)}
        else:
            current, text, encoding, where, restored = edited
            reps = build_replacements(rt, text, plan, results, where, restored)
            base = {"kind": "version", "version": current["version"], "sha256": current["sha256"],
                    "key": current["key"]}
        # Each new text as it reads back from the stored bytes, so the patch's spans stay true there.
        new_text, patch = splice(text, [Replacement(r.start, r.end, encodable(r.new, encoding)) for r in reps])
        try:
            version = write_version(rt, plan.article_id, new_text.encode(encoding, errors="xmlcharrefreplace"),
                                    reason=reason, source_sha256=plan.source_sha256, encoding=encoding,
                                    patch_doc={"base": base, **patch.to_json()}, expected_current=expected)
            break
        except VersionConflict:
            if attempt == 2:
                raise
    aid = plan.article_id
    statuses = [r["status"] for r in results.values()]
    done = all(is_final(r) for r in results.values())
    now = iso(utcnow())
    rt.catalog.record_article(article_id=aid, url=plan.url, source_sha256=plan.source_sha256,
                              encoding=plan.encoding, status="complete" if done else "partial",
                              created_at=now, updated_at=now)
    log.info("article %s: version %d (%s), statuses %s", aid, version.number,
             "new" if version.new else "unchanged", statuses)
    return version


def encodable(text: str, encoding: str) -> str:
    """`text` as it reads back after encoding (characters the encoding lacks become references)."""
    return text.encode(encoding, errors="xmlcharrefreplace").decode(encoding)


Edited = tuple[dict[str, Any], str, str, Callable[[int, int], tuple[int, int] | None], set[str]]


def _edited(rt: Runtime, plan: Plan) -> tuple[int | None, Edited | None]:
    """The current version's number, and the version itself when it derives from this plan's
    source through an editor's restore or revert: its text and encoding, where each source span
    sits in it, and the items the editor restored (left as they are). None when the article is
    written from the source.
    """
    from archiver.restore import RestoreError, chain_docs, map_span

    history = versions(rt, plan.article_id)
    if not history:
        return None, None
    current = history[-1]
    if current.get("source_sha256") != plan.source_sha256:
        return current["version"], None  # a new text of the article: written from its source
    try:
        docs = chain_docs(rt, history, current["version"], plan.source_sha256)
    except RestoreError as exc:
        log.warning("article %s: version %s cannot be traced to its source (%s); rewriting from the source",
                    plan.article_id, current["version"], exc)
        return current["version"], None
    if len(docs) == 1:
        return current["version"], None  # written from the source itself
    chain = [patch for patch, _ in docs]
    restored = {str(i) for _, doc in docs for i in doc.get("restored") or []}
    encoding = current.get("encoding") or plan.encoding
    text = rt.store.get(current["key"]).decode(encoding)
    return current["version"], (current, text, encoding, lambda start, end: map_span(chain, start, end), restored)


def write_version(rt: Runtime, article_id: str, body: bytes, *, reason: str, source_sha256: str, encoding: str,
                  patch_doc: dict[str, Any], unless_current: bool = True,
                  expected_current: int | None = None) -> Version:
    """Commit `body` as the article's next version (finalize, restore and revert all come here).

    With `unless_current`, bytes equal to the current version's write nothing and return it.
    Body and patch are written first; the metadata file commits the version, so a crash before it
    leaves an uncommitted body that the next writer overwrites. Serialized per article; with
    `expected_current` (an edit made on top of that version) a newer version raises VersionConflict.
    """
    digest = sha256_hex(body)
    aid = article_id
    with rt.coordinator.lock(f"article:{aid}", timeout=120):
        history = versions(rt, aid)
        current = history[-1]["version"] if history else 0
        if expected_current is not None and current != expected_current:
            raise VersionConflict(f"article {aid!r} moved to version {current} while an edit of version "
                                  f"{expected_current} was prepared; run it again")
        if unless_current and history and history[-1]["sha256"] == digest:
            v = history[-1]
            version = Version(aid, v["version"], v["key"], digest, v["created_at"], v["reason"],
                              v["source_sha256"], new=False)
        else:
            n = (history[-1]["version"] + 1) if history else 1
            created = iso(utcnow())
            rt.store.put(version_key(aid, n), body, content_type="text/html; charset=" + encoding)
            rt.store.put(patch_key(aid, n), _dumps(patch_doc), content_type="application/json")
            meta = {"article_id": aid, "version": n, "key": version_key(aid, n), "sha256": digest,
                    "created_at": created, "reason": reason, "source_sha256": source_sha256,
                    "encoding": encoding, "patch_key": patch_key(aid, n), "archiver_version": __version__}
            rt.store.put(version_meta_key(aid, n), _dumps(meta), content_type="application/json")
            version = Version(aid, n, version_key(aid, n), digest, created, reason, source_sha256, new=True)
        rt.catalog.record_version(article_id=aid, version=version.number, key=version.key, sha256=digest,
                                  source_sha256=source_sha256, reason=version.reason, created_at=version.created_at)
    return version


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


# --- the embedded runner ---------------------------------------------------------------------------
def run_captures(rt: Runtime, plan: Plan, item_ids: list[str], deadline: float) -> None:
    """Capture items on a thread pool; what is not done by the deadline is stored as failed."""
    if not item_ids:
        return
    pool = ThreadPoolExecutor(max_workers=max(1, rt.settings.capture_threads), thread_name_prefix="capture")
    futures = {pool.submit(capture_item, rt, plan, iid, force=True): iid for iid in item_ids}
    _, pending = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
    for fut in pending:
        fut.cancel()
        item = plan.item(futures[fut])
        save_result(rt, plan, failed_result(
            item, f"timed out after {rt.settings.archive_deadline:.0f}s; `archiver retry {plan.article_id}` "
                  "finishes it"))
    pool.shutdown(wait=False, cancel_futures=True)


def archive(rt: Runtime, data: bytes, *, url: str | None = None, base_url: str | None = None,
            article_id: str | None = None, fmt: str = "auto", charset: str | None = None) -> dict[str, Any]:
    """Archive one article in this process: the `archiver archive` command."""
    deadline = time.monotonic() + rt.settings.archive_deadline
    rt.fetcher.deadline_at = deadline
    plan = prepare(rt, data, url=url, base_url=base_url, article_id=article_id, fmt=fmt, charset=charset)
    todo = pending_items(rt, plan)
    run_captures(rt, plan, todo, deadline)
    return report(rt, plan, finalize(rt, plan))


def retry(rt: Runtime, article_id: str) -> dict[str, Any]:
    """Capture again what failed or was unavailable, then write a new version if anything changed."""
    deadline = time.monotonic() + rt.settings.archive_deadline
    rt.fetcher.deadline_at = deadline
    plan = load_plan(rt, article_id)
    todo = pending_items(rt, plan)
    run_captures(rt, plan, todo, deadline)
    return report(rt, plan, finalize(rt, plan, reason="retry"))


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")
