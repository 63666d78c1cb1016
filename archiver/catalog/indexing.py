"""Indexing one stored capture in the catalog: its capture row, its post's search row and its image
blobs. A fresh capture and `archiver reindex` both come here, so the live index equals a rebuilt one.

A post is found by its text and by the words it shows besides it (`card_words`: its link card's title
and description, its poll's choice labels), kept in the capture's `card_text` and indexed after the
text (never in a phrase with it).

Every image a capture archived (its media, video posters, the author's avatar, a link card's image)
is also a fetch of its URL (`record_fetch`, the table url_history), so each of those URLs has a
Memento TimeMap; an article's images are recorded there by the capture step and by `archiver reindex`.

A fresh capture hands over what it measured of the images it archived (size, dimensions, difference
hash), so they are recorded as they are; only `archiver reindex`, which has nothing but the stored
originals, reads and decodes them again.

An original is content-addressed: one blob, however many captures, articles and places use it. A
report of blobs counts each once (the set of their SHA-256, `index_capture`'s answer), never each use.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from archiver.capture.guard import normalize_url
from archiver.capture.media import MediaRecord, MediaRejected, inspect_image
from archiver.storage.base import ObjectNotFound
from archiver.storage.layout import blob_key

if TYPE_CHECKING:
    from archiver.runtime import Runtime


MAX_FETCH_URL = 8192  # characters of a URL recorded in url_history (the Memento routes take no longer)
MAX_MANIFEST_FETCHES = 200  # (URL, digest) pairs read from one manifest
def record_fetch(rt: Runtime, url: Any, sha256: Any, fetched_at: Any, provider: str | None = None,
                 post_id: str | None = None) -> bool:
    """Record that ``url`` gave the original ``sha256`` at ``fetched_at`` (ISO 8601 UTC) in url_history,
    filed under ``normalize_url(url)``; the same fetch recorded again changes nothing (a reindex repeats
    it). Returns False, recording nothing, for a value that is not an http(s) URL of at most
    MAX_FETCH_URL characters, a digest that is not SHA-256 hex, or a time that is not a string."""
    if not isinstance(url, str) or not isinstance(fetched_at, str) or not 0 < len(fetched_at) <= 64:
        return False
    try:
        blob_key(sha256 if isinstance(sha256, str) else "")
    except ValueError:
        return False
    same = normalize_url(url.strip())
    if len(same) > MAX_FETCH_URL or not same.lower().startswith(("http://", "https://")):
        return False
    rt.catalog.execute(
        "INSERT INTO url_history (url_sha256, fetched_at, sha256, url, provider, post_id) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (url_sha256, fetched_at, sha256) DO NOTHING",
        [url_digest(same), fetched_at, sha256, same, provider, post_id])
    return True


def url_digest(url: str) -> str:
    """The url_history key of a URL already filed by ``normalize_url``: its UTF-8 SHA-256, hex."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


def manifest_fetches(manifest: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """The (URL, sha256) pairs of what a capture archived (manifest v1/v2): each archived medium under
    its original, listed and final URLs, its poster under ``poster_url``, the author's avatar under
    ``avatar_url``, a link card's image like a medium. Values of the wrong type are skipped; at most
    MAX_MANIFEST_FETCHES pairs."""
    def pairs() -> Iterator[tuple[Any, Any]]:
        media = manifest.get("media")
        card = manifest.get("card")
        items = list(media[:MAX_MANIFEST_FETCHES]) if isinstance(media, list) else []
        if isinstance(card, dict):
            items.append(card.get("image"))
        for m in items:
            if not isinstance(m, dict):
                continue
            if m.get("status", "archived") == "archived":
                for field in ("original_url", "listed_url", "final_url"):
                    yield m.get(field), m.get("sha256")
            yield m.get("poster_url"), m.get("poster_sha256")
        author = manifest.get("author")
        if isinstance(author, dict):
            yield author.get("avatar_url"), author.get("avatar_sha256")

    seen: set[tuple[str, str]] = set()
    for url, sha in pairs():
        if isinstance(url, str) and isinstance(sha, str) and url and sha and (url, sha) not in seen:
            seen.add((url, sha))
            yield url, sha
            if len(seen) >= MAX_MANIFEST_FETCHES:
                return


def record_image_blob(rt: Runtime, rec: MediaRecord) -> None:
    """Record an archived image original from what archiving it measured (no read, no decoding)."""
    rt.catalog.record_blob(sha256=rec.sha256, key=rec.key or blob_key(rec.sha256 or ""), mime=rec.mime,
                           bytes=rec.bytes, width=rec.width, height=rec.height, dhash=rec.dhash)


def image_blob(rt: Runtime, sha256: str, key: str | None, mime: str | None,
               measured: MediaRecord | None = None) -> bool:
    """Record an image original (size, dimensions, difference hash) unless the catalog has it; True
    when the catalog holds it afterwards (recorded now, or already), so `archiver reindex` counts the
    same blobs every time it runs over the same storage, as it counts captures, items and versions
    (not only those new to the catalog: a second reindex said "0 blobs"). True is a use of the blob, not
    a distinct one: the same original is met once per capture and article using it, so a count of blobs
    is of the distinct SHA-256 values held. `measured` is what the capture learnt archiving it; without
    it the stored original is read and decoded (False when it is not in storage)."""
    if rt.catalog.blob(sha256) is not None:
        return True
    if measured is not None and measured.sha256 == sha256:
        record_image_blob(rt, measured)
        return True
    key = key or blob_key(sha256)
    try:
        data = rt.store.get(key)
    except ObjectNotFound:
        return False
    try:
        info = inspect_image(data, rt.settings)
        width, height, dhash, mime = info.width, info.height, info.dhash, info.mime
    except MediaRejected:
        width = height = dhash = None
    rt.catalog.record_blob(sha256=sha256, key=key, mime=mime, bytes=len(data), width=width, height=height,
                           dhash=dhash)
    return True


MAX_CARD_WORDS_CHARS = 4000  # of one field (a title, a description, a label)
MAX_POLL_LABELS = 20


def card_words(manifest: dict[str, Any]) -> str | None:
    """The words a post shows besides its text, for search: its link card's title and description
    and each poll choice's label, one per line (manifest v2 ``card`` and ``poll``; a v1 manifest or
    one without them gives None). Values that are not strings are left out; each is cut at
    MAX_CARD_WORDS_CHARS characters, and at most MAX_POLL_LABELS labels are read."""
    card = manifest.get("card")
    poll = manifest.get("poll")
    values: list[Any] = []
    if isinstance(card, dict):
        values += [card.get("title"), card.get("description")]
    if isinstance(poll, dict) and isinstance(poll.get("choices"), list):
        values += [c.get("label") for c in poll["choices"][:MAX_POLL_LABELS] if isinstance(c, dict)]
    words = [v.strip()[:MAX_CARD_WORDS_CHARS] for v in values if isinstance(v, str) and v.strip()]
    return "\n".join(words) or None


def _flag_text(value: Any) -> str | None:
    """A manifest's boolean as the catalog stores it: "true", "false", or None when unset."""
    return {True: "true", False: "false"}.get(value) if isinstance(value, bool) else None


def index_capture(rt: Runtime, manifest_key: str, manifest: dict[str, Any],
                  measured: Mapping[str, MediaRecord] | None = None) -> set[str]:
    """Index one stored capture: its row, its post's search row (text, author, handle and
    `card_words`), its image blobs (media and a link card's image). Returns the SHA-256 of the capture's
    image blobs the catalog holds (`image_blob`: recorded now or already), so a caller counting blobs
    across captures counts each original once.

    `measured`: the capture's archived media by sha256, so a fresh capture's images are not decoded
    again (`archiver reindex` passes none)."""
    measured = measured or {}
    held: set[str] = set()
    seen: set[str] = set()
    media = manifest.get("media") or []
    card = manifest.get("card") if isinstance(manifest.get("card"), dict) else {}
    # A link card's image is an archived original like the media (v2): indexed for image search too.
    for m in [*media, card.get("image")]:
        if isinstance(m, dict) and m.get("status") == "archived" and m.get("sha256") \
                and (m.get("mime") or "").startswith("image/") and m["sha256"] not in seen:
            seen.add(m["sha256"])
            if image_blob(rt, m["sha256"], m.get("key"), m.get("mime"), measured.get(m["sha256"])):
                held.add(m["sha256"])
    for url, sha in manifest_fetches(manifest):
        record_fetch(rt, url, sha, manifest.get("captured_at"), *(
            v if isinstance(v, str) else None for v in (manifest.get("provider"), manifest.get("post_id"))))
    author = manifest.get("author") or {}
    rt.catalog.record_capture(
        capture_id=manifest["capture_id"], provider=manifest["provider"], post_id=manifest["post_id"],
        url=manifest.get("url"), status=manifest["status"], manifest_key=manifest_key,
        captured_at=manifest["captured_at"], handle=author.get("handle"), author=author.get("name"),
        text=manifest.get("text"), posted_at=manifest.get("created_at"), lang=manifest.get("lang"), media=media,
        card_text=card_words(manifest), text_complete=_flag_text(manifest.get("text_complete")))
    return held
