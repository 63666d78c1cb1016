"""The one place a capture of a post is stored. A provider returns what it captured (a
``CapturedPost``) and stores nothing; here its media, its link card's image and its author's avatar
are archived as originals (``archive_media``; a medium served at several sizes is tried largest
first), its related posts (quoted, parent, latest_edit) are stored in their own right (the same
way), and then its static cards, its WARC (the exchanges as received and the cards as resource
records) and, last, the manifest that commits it are written.
``record_capture`` (the capture step's entry) also indexes what was stored in the catalog, and keeps
what it stores hidden from public serving from the moment it is stored when it is a taken-down post's,
or carries a taken-down post's words as its quoted or replied-to post (``holds.TakedownGuard``): the
rule of a takedown holds for captures made after it, in the local runner and the workers alike.

What the sources show but could not be captured is listed in the manifest's ``missing`` (a medium or
card image that failed or was rejected, a related post whose capture is worth retrying); an
"archived" capture lacking anything is "partial" instead, which the capture step's retries capture
again under a new capture id, the partial one kept as it is (archiver/steps/capture.py).

Writing the same capture again overwrites the same keys: only a capture that holds no content yet
(failed, unavailable, one that died halfway) is ever written again under its capture id.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from archiver.capture.cards.write import write_cards
from archiver.capture.manifest import (
    RETRYABLE_STATUSES,
    STATUS_WORDS,
    Manifest,
    Media,
    MissingPart,
    PostRef,
    dumps,
    source_entry,
    validate_manifest,
)
from archiver.capture.media import MediaRecord, archive_media
from archiver.capture.warc import Resource, build_warc
from archiver.catalog.indexing import index_capture
from archiver.compliance.holds import Post, TakedownGuard
from archiver.errors import ArchiverError
from archiver.faults import is_infrastructure_error
from archiver.storage.layout import capture_page_key, card_keys, manifest_key, warc_key

if TYPE_CHECKING:
    from archiver.capture.exchange import Exchange
    from archiver.config.settings import Settings
    from archiver.providers.base import CaptureContext, CapturedPost, MediaRef
    from archiver.runtime import Runtime
    from archiver.storage.base import ObjectStore


@dataclass
class CaptureResult:
    """What storing one capture ended with: its status (``EMBED_STATUSES``: the provider's, or
    "partial" when the provider said "archived" but parts are missing, or "failed" when nothing could
    be stored), where the manifest was written and the stored manifest itself (None when nothing was
    stored), the results of its related posts stored in their own right, and what archiving each
    original measured (``measured``, by sha256: size, dimensions, difference hash), so indexing does
    not read it again."""

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

# A video variant labelled by its stated bitrate (the Twitter provider's "<bits per second>bps").
_BITRATE_LABEL = re.compile(r"(\d{1,12})bps")


def record_capture(rt: Runtime, captured: CapturedPost, ctx: CaptureContext) -> CaptureResult:
    """Store ``captured`` (``store_capture``) and index it in the catalog the way ``archiver reindex``
    does: the capture, its post's search row, its images, and the quoted and parent posts stored with it."""
    # Hidden before it is stored, not once it is indexed: a taken-down post's new media, or a new post
    # quoting one, must never be served, not even for the seconds a capture takes.
    guard = TakedownGuard(rt, carried_posts(captured))
    res = store_capture(captured, ctx, rt.store, through=guard.store_for)
    for done in res.stored():
        index_capture(rt, done.manifest_key or "", done.manifest.to_json() if done.manifest else {}, done.measured)
    guard.settle()
    return res


def carried_posts(captured: CapturedPost) -> list[tuple[Post, list[Post]]]:
    """Each capture ``captured`` stores (itself and its related posts, depth first), as its post
    (provider, post_id) and the posts whose words it carries: its related posts but a later edit of
    its own (the relations ``holds.quoting_posts`` follows). Captures without a manifest are left out."""
    out: list[tuple[Post, list[Post]]] = []
    m = captured.manifest
    if m is None:
        return out
    carried = [(p.manifest.provider, p.manifest.post_id) for relation, p in captured.related.items()
               if relation != "latest_edit" and p.manifest is not None]
    out.append(((m.provider, m.post_id), carried))
    for post in captured.related.values():
        out.extend(carried_posts(post))
    return out


def store_capture(captured: CapturedPost, ctx: CaptureContext, store: ObjectStore, *,
                  through: Callable[[str, str, ObjectStore], ObjectStore] | None = None) -> CaptureResult:
    """Archive the capture's media, card image and avatar (through ``ctx.fetcher``), store its related
    posts, fill the manifest's ``media``, ``card.image``, ``missing`` and the related posts' fields
    (``quoted``, ``parent``, ``latest_edit``: the relation's name), then write its WARC, cards and
    manifest.

    ``missing`` gets, after any parts the provider listed itself, one MissingPart per medium or card
    image that was not archived (``_archive_media``) and one per related post whose
    stored status is retryable (``RETRYABLE_STATUSES``; part: the relation, ref: its post id). An
    "archived" capture with anything missing is stored "partial", its error a one-line summary
    (``missing_summary``). A capture that cannot be stored as it is (a manifest the schema refuses, a
    key it cannot make) is a "failed" result; an infrastructure fault (archiver.faults: the store or
    the catalog in trouble) is raised, so the caller retries instead of recording it as the post's.

    ``through(provider, post_id, store)``, when given, is the store each capture (this one and each
    related one) writes its own objects and media through (``record_capture``'s hides a taken-down
    post's originals as they are written); the author's avatar, shared with the author's other posts
    and never covered by a takedown of this one, is written to ``store`` itself."""
    m = captured.manifest
    if m is None:
        return CaptureResult("failed", captured.provider, None, None, error=captured.error)
    related = []
    lacking: list[MissingPart] = []
    for relation, post in captured.related.items():
        res = store_capture(post, ctx, store, through=through)
        related.append(res)
        # A related post nothing could be stored of keeps the id the provider named it by.
        named = getattr(m, relation, None)
        post_id = res.post_id or (named.post_id if isinstance(named, PostRef) else None) or ""
        setattr(m, relation, PostRef.model_construct(post_id=post_id, url=res.url, capture_id=res.capture_id,
                                                      manifest_key=res.manifest_key, status=res.status))
        if res.status in RETRYABLE_STATUSES:
            words = STATUS_WORDS.get(res.status, res.status)
            lacking.append(missing_part(relation, post_id or None, f"{words}: {res.error}" if res.error else words))
    # The author's avatar goes to the store itself: the author's other posts share it, so a takedown of
    # this post does not cover it (holds._hidden_keys) and ``through`` must not hide it, not even briefly.
    own = through(m.provider, m.post_id, store) if through is not None else store
    exchanges = list(captured.exchanges)
    measured: dict[str, MediaRecord] = {}
    lacking[:0] = _archive_media(m, captured.media, ctx, own, exchanges, measured, shared=store)
    _note_missing(m, lacking)
    try:
        key, stored = _write(own, m, exchanges, ctx.settings)
    except (ArchiverError, OSError, ValueError) as exc:
        if is_infrastructure_error(exc):
            raise
        return CaptureResult("failed", m.provider, m.post_id, m.url, m.capture_id,
                             error=f"could not store the capture: {exc}", related=related)
    return CaptureResult(stored.status, m.provider, m.post_id, m.url, m.capture_id, key, stored.error, stored,
                         related, measured)


def _write(store: ObjectStore, manifest: Manifest, exchanges: Sequence[Exchange],
           settings: Settings) -> tuple[str, Manifest]:
    """Validate, then write the static cards and the capture page (``write_cards``: rendered
    by an image worker of the pool for ``settings``), the WARC (when
    there were exchanges: every exchange as received, and the two cards and the page as stored, read
    back, as resource records: ``build_warc``) and last the manifest (which commits the capture);
    returns the manifest key and the stored manifest, which has its ``warc`` and ``cards`` keys.

    The manifest binds what was stored beside it: ``cards.html_sha256``, ``cards.png_sha256`` and
    ``cards.page_sha256`` are the SHA-256 of the two cards' and the page's stored bytes, ``warc_sha256``
    that of the stored WARC file's. The cards and the page are rendered from the manifest without
    these digests (they show none of them, nor the manifest's own digest), so nothing is a cycle.
    ManifestError (nothing written) when it breaks the schema; ValueError when its provider, post id or
    capture id cannot be part of a key."""
    data = manifest.to_json()
    provider, post_id, capture_id = data["provider"], data["post_id"], data["capture_id"]
    key = manifest_key(provider, post_id, capture_id)
    if exchanges:
        data["warc"] = warc_key(provider, post_id, capture_id)
    data["cards"] = card_keys(data)
    validate_manifest(data)
    cards = write_cards(store, data, settings)
    # The cards and the page as stored, so the digests and the WARC's resource records are the very
    # bytes a reader fetches.
    page_key = capture_page_key(key)
    stored_files = {"html": store.get(cards["html"]), "png": store.get(cards["png"]), "page": store.get(page_key)}
    if exchanges:
        resources = [Resource(cards["html"], stored_files["html"], "text/html; charset=utf-8"),
                     Resource(cards["png"], stored_files["png"], "image/png"),
                     Resource(page_key, stored_files["page"], "text/html; charset=utf-8")]
        warc = build_warc(exchanges, capture_id=capture_id, resources=resources)
        store.put(data["warc"], warc, content_type="application/warc")
        data["warc_sha256"] = hashlib.sha256(warc).hexdigest()
    data["cards"] = {**cards, **{f"{name}_sha256": hashlib.sha256(body).hexdigest()
                                 for name, body in stored_files.items()}}
    stored = validate_manifest(data)
    store.put(key, dumps(data), content_type="application/json")
    return key, stored


# --- missing parts ----------------------------------------------------------------------------------
# A missing part's ``ref`` and ``reason`` as stored, and the capture's one-line ``error`` summarising
# them, are cut to these many characters (a URL or an error text from the web is hostile input).
REF_LIMIT = 2048
REASON_LIMIT = 500
SUMMARY_LIMIT = 500
# How a missing medium's reason starts when our policy refused it (not the platform's answer).
REFUSED = "refused: "
# How the summary names a part (the MissingPart ``part`` values the capture step writes; a part a
# provider names otherwise is shown as it named it).
_PART_WORDS = {"photo": "photo", "video": "video", "animated_gif": "animated GIF", "thumbnail": "thumbnail",
               "card_image": "link card image", "quoted": "quoted post", "parent": "replied-to post",
               "latest_edit": "latest version"}


_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def one_line(text: str, limit: int) -> str:
    """``text`` (untrusted: an error from the web, a URL) on one line: runs of whitespace, newlines
    included, are one space; other control characters, a terminal's escapes among them, are dropped;
    at most ``limit`` characters (an ellipsis marks a cut). Also used by the capture step for the
    errors of the item results it keeps (archiver.steps.capture.settle)."""
    flat = " ".join(_CONTROLS.sub("", str(text)).split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def missing_part(part: str, ref: str | None, reason: str | None) -> MissingPart:
    """A ``MissingPart`` with its ``ref`` and ``reason`` made one line and bounded (REF_LIMIT,
    REASON_LIMIT); an empty reason reads "not captured"."""
    return MissingPart.model_construct(part=part, ref=one_line(ref, REF_LIMIT) if ref else None,
                                       reason=one_line(reason or "not captured", REASON_LIMIT))


def missing_summary(parts: Sequence[MissingPart]) -> str:
    """The one-line ``error`` of a capture lacking ``parts``: how many, then each part in plain words
    with what it is and why it is missing, e.g. ``1 part missing: photo https://…/a.jpg (HTTP 404
    from …)``; at most SUMMARY_LIMIT characters."""
    shown = "; ".join(f"{_PART_WORDS.get(p.part, p.part)}{' ' + p.ref if p.ref else ''} ({p.reason})"
                      for p in parts)
    return one_line(f"{len(parts)} part{'' if len(parts) == 1 else 's'} missing: {shown}", SUMMARY_LIMIT)


def _note_missing(m: Manifest, found: Sequence[MissingPart]) -> None:
    """Add the parts the capture step found missing (``found``) to those the provider listed in
    ``m.missing``, once each (by part and ref); an archived capture lacking any becomes "partial" with
    ``missing_summary`` as its error (a provider's own status and error stand otherwise). ``missing``
    is written only when something is missing."""
    parts: list[MissingPart] = []
    seen: set[tuple[str, str | None]] = set()
    listed = [p if isinstance(p, MissingPart) else missing_part(str(p.get("part")), p.get("ref"), p.get("reason"))
              for p in m.missing or [] if isinstance(p, MissingPart | Mapping)]
    for p in [*listed, *found]:
        if (p.part, p.ref) not in seen:
            seen.add((p.part, p.ref))
            parts.append(p)
    if not parts:
        if "missing" in m.model_fields_set:   # a provider's empty list: not written
            m.missing = None
            m.model_fields_set.discard("missing")
        return
    m.missing = parts
    if m.status == "archived":
        m.status, m.error = "partial", missing_summary(parts)


# --- media ------------------------------------------------------------------------------------------
# Media fields this step fills from what it fetched; a MediaRef's ``flags`` may set any other one.
_RECORDED = frozenset({"type", "status", "error", "sha256", "key", "mime", "bytes", "width", "height", "duration",
                       "original_url", "final_url", "listed_url", "bitrate", "poster_url", "alt_text",
                       "poster_sha256", "poster_key", "variant", "degraded", "poster_variant"})
_FLAG_TYPES: dict[str, TypeAdapter[Any]] = {name: TypeAdapter(f.annotation) for name, f in Media.model_fields.items()
                                            if name not in _RECORDED}


def media_flags(flags: Mapping[str, Any]) -> dict[str, Any]:
    """The flags of a MediaRef that are Media fields this step does not fill itself (availability,
    sensitive_warning, possibly_sensitive, source_status_id, source_user_id, ...), each validated as
    the schema says (strict: no coercion); a flag of another name or of the wrong shape is dropped."""
    out: dict[str, Any] = {}
    for name, value in flags.items() if isinstance(flags, Mapping) else ():
        adapter = _FLAG_TYPES.get(name) if isinstance(name, str) else None
        if adapter is None:
            continue
        try:
            out[name] = adapter.validate_python(value, strict=True)
        except ValidationError:
            continue
    return out


def _archive_media(m: Manifest, refs: Sequence[MediaRef], ctx: CaptureContext, store: ObjectStore,
                   exchanges: list[Exchange], measured: dict[str, MediaRecord], *,
                   shared: ObjectStore | None = None) -> list[MissingPart]:
    """Archive the author's avatar and every medium into ``m`` and return what could not be archived.
    Media, posters and the card image are written to ``store``; the avatar, which the author's other
    posts share, to ``shared`` (``store`` when not given).

    Each medium becomes a Media entry of ``m.media``, or the link card's image (``m.card.image``) for
    a MediaRef of slot "card"; every fetch gets a source entry (its variant's label in ``data``), its
    exchanges go to ``exchanges`` and what was archived to ``measured`` by sha256. A MediaRef with
    ``variants`` has each (label, URL) tried in order until one archives: ``variant`` is its label and
    ``degraded`` says it is not the first; without variants its ``url`` is tried, then ``listed_url``.
    A try whose content is rejected (not an image or video we keep, damaged bytes, an HTML error page
    answered with 200) goes on to the next like a failed one: another size may hold the medium. A
    refusal by our policy (``MediaRecord.refused``: the address guard, the byte cap, the pixel
    ceiling, ...) ends the tries: a smaller size of the same medium would only hide the refusal.
    Posters go the same way (``poster_variants``, ``poster_variant``); a poster that failed is
    recorded in its source entries but is not a missing part. ``flags`` are copied (``media_flags``).

    Returns a MissingPart (part: the medium's type, or "card_image"; ref: its first URL; reason: its
    error) for each medium that was not archived, failed or rejected: the capture lacks it either way.
    A policy refusal's reason starts with ``REFUSED`` ("refused: "), so a later retry, once the policy
    allows it, is known to be able to complete it. A card-slot medium with no link card in ``m`` to
    hold it (or a second one) is not fetched: a source entry says so. Infrastructure faults are
    raised."""

    def fetch(name: str, url: str, kind: str, label: str | None = None,
              into: ObjectStore = store) -> MediaRecord | str:
        """The medium's record (stored in ``into``), or the reason none came (archive_media raised)."""
        try:
            rec = archive_media(url, kind=kind, fetcher=ctx.fetcher, store=into, settings=ctx.settings)
        except (ArchiverError, OSError, ValueError) as exc:
            if is_infrastructure_error(exc):
                raise
            m.sources.append(source_entry(name, [], outcome="failed", error=str(exc), fallback_url=url,
                                          data={"variant": label} if label else None))
            return f"could not archive the medium: {exc}"
        exchanges.extend(rec.exchanges)
        if rec.status == "archived" and rec.sha256:
            measured[rec.sha256] = rec
        data: dict[str, Any] = {"sha256": rec.sha256, "key": rec.key}
        if label:
            data["variant"] = label
        m.sources.append(source_entry(name, rec.exchanges, outcome=rec.status, error=rec.error, fallback_url=url,
                                      data=data))
        return rec

    def ladder(name: str, tries: Sequence[tuple[str | None, str]], kind: str
               ) -> tuple[MediaRecord | str, int]:
        """Fetch each (label, URL) of ``tries`` until one archives (that record and its index) or our
        policy refuses one (``MediaRecord.refused``: that record and -1); a try that failed or whose
        content was rejected (not an image, damaged, an HTML page answered with 200) goes on to the
        next. When none archived: the last record, or the reason, with an error naming each try when
        there were several, and -1."""
        last: MediaRecord | str = "nothing to fetch"
        errors = []
        refused = False
        for i, (label, url) in enumerate(tries):
            last = fetch(name, url, kind, label)
            if isinstance(last, MediaRecord) and last.status == "archived":
                return last, i
            errors.append(f"{label or url}: {last if isinstance(last, str) else last.error or last.status}")
            refused = isinstance(last, MediaRecord) and last.status == "rejected" and last.refused
            if refused:
                break
        if len(errors) > 1:
            tried = "; ".join(errors)
            joined = tried if refused else "every " + ("size" if tries[0][0] else "URL") + " failed: " + tried
            if isinstance(last, MediaRecord):
                last.error = one_line(joined, REASON_LIMIT)
            else:
                last = one_line(joined, REASON_LIMIT)
        return last, -1

    if m.author.avatar_url:
        avatar = fetch("avatar", m.author.avatar_url, "image", into=shared if shared is not None else store)
        if isinstance(avatar, MediaRecord) and avatar.status == "archived":
            m.author.avatar_sha256 = avatar.sha256
    missing: list[MissingPart] = []
    card_filled = False
    for ref in refs:
        to_card = ref.slot == "card"
        if to_card and (m.card is None or card_filled):
            why = "the link card already has its image" if card_filled else "the post has no link card to hold it"
            m.sources.append(source_entry(ref.source, [], outcome="skipped", fallback_url=ref.url,
                                          error=f"card image not fetched: {why}"))
            continue
        variants = [(str(label), url) for label, url in ref.variants if url]
        tries: list[tuple[str | None, str]] = list(variants) or [(None, ref.url)]
        if not variants and ref.listed_url and ref.listed_url != ref.url:
            tries.append((None, ref.listed_url))
        rec, index = ladder(ref.source, tries, ref.kind)
        entry: dict[str, Any] = {
            "type": ref.type, "status": "failed", "error": None, "sha256": None, "key": None, "mime": None,
            "bytes": None, "width": None, "height": None, "duration": ref.duration, "original_url": tries[0][1],
            "final_url": None, "listed_url": ref.listed_url, "bitrate": ref.bitrate, "poster_url": ref.poster_url,
            "alt_text": ref.alt_text,
        }
        if isinstance(rec, MediaRecord):
            entry.update(status=rec.status, error=rec.error, sha256=rec.sha256, key=rec.key, mime=rec.mime,
                         bytes=rec.bytes, width=rec.width, height=rec.height, final_url=rec.final_url,
                         duration=rec.duration if rec.duration is not None else ref.duration)
            if index >= 0 or not variants:
                entry["original_url"] = rec.original_url
        else:
            entry["error"] = rec
        if variants:
            entry["variant"] = variants[index][0] if index >= 0 and entry["status"] == "archived" else None
            entry["degraded"] = index > 0 if entry["status"] == "archived" else None
            if entry["degraded"]:
                # The stated bitrate was the first variant's: the stored one's is its label's ("832000bps"),
                # else unknown.
                stated = _BITRATE_LABEL.fullmatch(variants[index][0])
                entry["bitrate"] = int(stated.group(1)) if stated else None
        poster_tries: list[tuple[str | None, str]] = [(str(label), url) for label, url in ref.poster_variants if url]
        if not poster_tries and ref.poster_url:
            poster_tries = [(None, ref.poster_url)]
        if poster_tries:
            # The still shown before playback: the static card needs it. Its loss is recorded in its
            # source entries but does not hold the capture back.
            poster, p_index = ladder("poster", poster_tries, "image")
            still = poster if isinstance(poster, MediaRecord) and poster.status == "archived" else None
            entry["poster_url"] = ref.poster_url or poster_tries[0][1]
            entry["poster_sha256"] = still.sha256 if still else None
            entry["poster_key"] = still.key if still else None
            if ref.poster_variants:
                entry["poster_variant"] = poster_tries[p_index][0] if still else None
        entry.update(media_flags(ref.flags))
        media = Media.model_construct(**entry)
        if to_card and m.card is not None:
            m.card.image = media
            card_filled = True
        else:
            m.media.append(media)
        if entry["status"] != "archived":
            why = entry["error"] or entry["status"]
            if isinstance(rec, MediaRecord) and rec.refused:
                why = f"{REFUSED}{why}"
            missing.append(missing_part("card_image" if to_card else ref.type, tries[0][1], why))
    return missing
