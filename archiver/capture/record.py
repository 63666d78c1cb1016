"""The one place a capture of a post is stored. A provider returns what it captured (a
``CapturedPost``) and stores nothing; here its media and its author's avatar are archived as
originals (``archive_media``), its quoted and parent posts are stored in their own right (the same
way), and then its WARC, its static cards and, last, the manifest that commits it are written.
``record_capture`` (the capture step's entry) also indexes what was stored in the catalog.

Writing the same capture again overwrites the same keys.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archiver.capture.cards.write import write_cards
from archiver.capture.manifest import Manifest, Media, PostRef, dumps, source_entry, validate_manifest
from archiver.capture.media import MediaRecord, archive_media
from archiver.capture.warc import build_warc
from archiver.catalog.indexing import index_capture
from archiver.errors import ArchiverError
from archiver.faults import is_infrastructure_error
from archiver.storage.layout import card_keys, manifest_key, warc_key

if TYPE_CHECKING:
    from archiver.capture.exchange import Exchange
    from archiver.providers.base import CaptureContext, CapturedPost, MediaRef
    from archiver.runtime import Runtime
    from archiver.storage.base import ObjectStore


@dataclass
class CaptureResult:
    """What storing one capture ended with: its status (``EMBED_STATUSES``: the provider's, or
    "unavailable" when a medium failed in a way worth retrying, or "failed" when nothing could be
    stored), where the manifest was written and the stored manifest itself (None when nothing was
    stored), the results of its quoted and parent posts stored in their own right, and what archiving
    each original measured (``measured``, by sha256: size, dimensions, difference hash), so indexing
    does not read it again."""

    status: str
    provider: str
    post_id: str | None
    url: str | None
    capture_id: str | None = None
    manifest_key: str | None = None
    error: str | None = None
    manifest: Manifest | None = None
    related: list[CaptureResult] = field(default_factory=list)
    measured: dict[str, MediaRecord] = field(default_factory=dict)

    def stored(self) -> Iterator[CaptureResult]:
        """This capture and every related one that has a stored manifest."""
        if self.manifest_key and self.manifest is not None:
            yield self
        for res in self.related:
            yield from res.stored()


def record_capture(rt: Runtime, captured: CapturedPost, ctx: CaptureContext) -> CaptureResult:
    """Store ``captured`` (``store_capture``) and index it in the catalog the way ``archiver reindex``
    does: the capture, its post's search row, its images, and the quoted and parent posts stored with it."""
    res = store_capture(captured, ctx, rt.store)
    for done in res.stored():
        index_capture(rt, done.manifest_key or "", done.manifest.to_json() if done.manifest else {}, done.measured)
    return res


def store_capture(captured: CapturedPost, ctx: CaptureContext, store: ObjectStore) -> CaptureResult:
    """Archive the capture's media and avatar (through ``ctx.fetcher``), store its related posts, fill
    the manifest's ``media``, ``quoted`` and ``parent``, then write its WARC, cards and manifest.

    A medium that failed in a way worth retrying makes an archived capture "unavailable" (with that
    medium as its error). A capture that cannot be stored as it is (a manifest the schema refuses, a
    key it cannot make) is a "failed" result; an infrastructure fault (archiver.faults: the store or
    the catalog in trouble) is raised, so the caller retries instead of recording it as the post's."""
    m = captured.manifest
    if m is None:
        return CaptureResult("failed", captured.provider, None, None, error=captured.error)
    related = []
    for relation, post in captured.related.items():
        res = store_capture(post, ctx, store)
        related.append(res)
        setattr(m, relation, PostRef.model_construct(post_id=res.post_id or "", url=res.url, capture_id=res.capture_id,
                                                      manifest_key=res.manifest_key, status=res.status))
    exchanges = list(captured.exchanges)
    measured: dict[str, MediaRecord] = {}
    problem = _archive_media(m, captured.media, ctx, store, exchanges, measured)
    if problem and m.status == "archived":
        m.status, m.error = "unavailable", problem
    try:
        key, stored = _write(store, m, exchanges)
    except (ArchiverError, OSError, ValueError) as exc:
        if is_infrastructure_error(exc):
            raise
        return CaptureResult("failed", m.provider, m.post_id, m.url, m.capture_id,
                             error=f"could not store the capture: {exc}", related=related)
    return CaptureResult(stored.status, m.provider, m.post_id, m.url, m.capture_id, key, stored.error, stored,
                         related, measured)


def _write(store: ObjectStore, manifest: Manifest, exchanges: Sequence[Exchange]) -> tuple[str, Manifest]:
    """Validate, then write the WARC (when there were exchanges), the static cards and last the
    manifest (which commits the capture); returns the manifest key and the stored manifest, which has
    its ``warc`` and ``cards`` keys. ManifestError (nothing written) when it breaks the schema;
    ValueError when its provider, post id or capture id cannot be part of a key."""
    data = manifest.to_json()
    provider, post_id, capture_id = data["provider"], data["post_id"], data["capture_id"]
    key = manifest_key(provider, post_id, capture_id)
    if exchanges:
        data["warc"] = warc_key(provider, post_id, capture_id)
    data["cards"] = card_keys(data)
    stored = validate_manifest(data)
    if exchanges:
        store.put(data["warc"], build_warc(exchanges, capture_id=capture_id), content_type="application/warc")
    write_cards(store, data)
    store.put(key, dumps(data), content_type="application/json")
    return key, stored


# --- media ------------------------------------------------------------------------------------------
def _archive_media(m: Manifest, refs: Sequence[MediaRef], ctx: CaptureContext, store: ObjectStore,
                   exchanges: list[Exchange], measured: dict[str, MediaRecord]) -> str | None:
    """Archive the author's avatar and every medium into ``m`` (media entries, one source entry per
    fetch; the exchanges to ``exchanges``, what was archived to ``measured`` by sha256); returns the
    first medium that failed in a way worth retrying, as an error, or None."""

    def fetch(name: str, url: str, kind: str) -> MediaRecord | str:
        """The medium's record, or the reason none came (archive_media raised)."""
        try:
            rec = archive_media(url, kind=kind, fetcher=ctx.fetcher, store=store, settings=ctx.settings)
        except (ArchiverError, OSError, ValueError) as exc:
            if is_infrastructure_error(exc):
                raise
            m.sources.append(source_entry(name, [], outcome="failed", error=str(exc), fallback_url=url))
            return f"could not archive the medium: {exc}"
        exchanges.extend(rec.exchanges)
        if rec.status == "archived" and rec.sha256:
            measured[rec.sha256] = rec
        m.sources.append(source_entry(name, rec.exchanges, outcome=rec.status, error=rec.error, fallback_url=url,
                                      data={"sha256": rec.sha256, "key": rec.key}))
        return rec

    if m.author.avatar_url:
        avatar = fetch("avatar", m.author.avatar_url, "image")
        if isinstance(avatar, MediaRecord) and avatar.status == "archived":
            m.author.avatar_sha256 = avatar.sha256
    problem = None
    for ref in refs:
        rec = fetch(ref.source, ref.url, ref.kind)
        failed = not isinstance(rec, MediaRecord) or rec.status == "failed"
        if failed and ref.listed_url and ref.listed_url != ref.url:
            rec = fetch(ref.source, ref.listed_url, ref.kind)
        entry: dict[str, Any] = {
            "type": ref.type, "status": "failed", "error": None, "sha256": None, "key": None, "mime": None,
            "bytes": None, "width": None, "height": None, "duration": ref.duration, "original_url": ref.url,
            "final_url": None, "listed_url": ref.listed_url, "bitrate": ref.bitrate, "poster_url": ref.poster_url,
            "alt_text": ref.alt_text,
        }
        if isinstance(rec, MediaRecord):
            entry.update(status=rec.status, error=rec.error, sha256=rec.sha256, key=rec.key, mime=rec.mime,
                         bytes=rec.bytes, width=rec.width, height=rec.height, original_url=rec.original_url,
                         final_url=rec.final_url, duration=rec.duration if rec.duration is not None else ref.duration)
        else:
            entry["error"] = rec
        if ref.poster_url:
            # The still shown before playback: the static card needs it. Its loss is recorded in its
            # source entry but does not hold the capture back.
            poster = fetch("poster", ref.poster_url, "image")
            still = poster if isinstance(poster, MediaRecord) and poster.status == "archived" else None
            entry["poster_sha256"] = still.sha256 if still else None
            entry["poster_key"] = still.key if still else None
        if entry["status"] == "failed" and problem is None:
            problem = f"{ref.type} {ref.url}: {entry['error'] or 'failed'}"
        m.media.append(Media.model_construct(**entry))
    return problem
