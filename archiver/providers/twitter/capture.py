"""Twitter/X capture from three sources, each recorded with its own provenance.

1. The publisher's embed markup in the article (always there).
2. oEmbed: text, author, status URL.
3. Syndication: created_at, user, full text with t.co links expanded, media at original size, quoted
   tweet and reply parent (each snapshotted in its own right), edit control.

Flattened embeds without an id are resolved through their pic.twitter.com / t.co codes; when nothing
resolves an unresolved snapshot keeps what the article showed. Every exchange goes into the
capture's WARC. The sources themselves are read in ``api.py``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from archiver.capture.manifest import base_manifest, new_capture_id, source_entry, utc_iso
from archiver.capture.media import archive_media as _archive_media
from archiver.capture.record import write_snapshot
from archiver.errors import ArchiverError
from archiver.providers import markup
from archiver.providers.base import CaptureContext, CaptureResult
from archiver.providers.twitter.api import (
    decide,
    edit_info,
    expand_text,
    fetch_oembed,
    fetch_syndication,
    media_plan,
    related_id,
    resolve_shortlinks,
    str_or_none,
    synd_summary,
)
from archiver.providers.twitter.ids import DIGITS, HANDLE, NAME, canonical_url, parse_time, snowflake_time

if TYPE_CHECKING:
    from archiver.capture.fetch import Exchange
    from archiver.discover.model import Embed

ArchiveMedia = Callable[..., Any]


class TwitterProvider:
    """The capture of one tweet with its quoted and parent posts (``capture``: one post's occurrences,
    richest markup first; never raises for remote trouble). ``archive_media`` stands in for
    ``archiver.capture.media.archive_media`` (tests)."""

    name = NAME

    def __init__(self, archive_media: ArchiveMedia | None = None) -> None:
        self._archive_media = archive_media or _archive_media

    def capture(self, occurrences: Sequence[Embed], ctx: CaptureContext) -> CaptureResult:
        if not occurrences:
            return CaptureResult("failed", NAME, None, None, error="no occurrences to capture")
        first = next((e for e in occurrences if e.post_id and DIGITS.fullmatch(e.post_id)), None)
        exchanges: list[Exchange] = []
        sources = [markup.markup_source(occurrences, ctx)]
        handle = next((e.handle for e in occurrences if e.handle and HANDLE.fullmatch(e.handle)), None)
        if first is not None:
            post_id: str = first.post_id or ""
        else:
            found, attempts = resolve_shortlinks(ctx, occurrences[0])
            for a in attempts:
                exchanges.extend(a.exchanges)
                sources.append(a.entry(a.data))
            if found is None:
                transient = any(a.transient for a in attempts)
                return self._unresolved(occurrences, ctx, sources, exchanges, transient)
            handle, post_id = found[0] or handle, found[1]
        capture_id = ctx.capture_id or new_capture_id(ctx.now())
        return self._capture_post(ctx, post_id, handle, capture_id, occurrences, sources, exchanges, depth=0)

    # The whole capture of one post; quoted and parent posts come back here with depth 1.
    def _capture_post(self, ctx: CaptureContext, post_id: str, handle: str | None, capture_id: str,
                      occurrences: Sequence[Embed], sources: list[dict[str, Any]],
                      exchanges: list[Exchange], depth: int,
                      referenced_by: dict[str, str] | None = None) -> CaptureResult:
        oembed = fetch_oembed(ctx, post_id, handle)
        synd = fetch_syndication(ctx, post_id)
        exchanges += oembed.exchanges + synd.exchanges
        sources += [oembed.entry(oembed.data), synd.entry(synd_summary(synd))]
        tweet = synd.data if synd.outcome == "ok" else {}
        user = tweet.get("user") if isinstance(tweet.get("user"), dict) else {}
        o = oembed.data or {}
        mk = sources[0]["data"] if sources and sources[0]["name"] == markup.MARKUP_SOURCE else {}
        handle = str_or_none(user.get("screen_name")) or o.get("handle") or handle
        url = canonical_url(post_id, handle)
        m = base_manifest(provider=NAME, post_id=post_id, capture_id=capture_id,
                                   captured_at=ctx.now(), status="failed", url=url)
        text, expanded = expand_text(tweet)
        text_source = "syndication" if text else None
        if not text and o.get("text"):
            text, expanded, text_source = o["text"], o["text"], "oembed"
        has_content = bool(text and text.strip())
        if not text and mk.get("text"):
            text, expanded, text_source = mk["text"], mk["text"], markup.MARKUP_SOURCE
        m.update(text=text, text_expanded=expanded, text_source=text_source,
                 lang=str_or_none(tweet.get("lang")) or o.get("lang") or mk.get("lang"),
                 possibly_sensitive=tweet.get("possibly_sensitive")
                 if isinstance(tweet.get("possibly_sensitive"), bool) else None,
                 edit=edit_info(tweet, post_id))
        m["author"].update(name=str_or_none(user.get("name")) or o.get("author") or mk.get("author"),
                           handle=handle, id=str_or_none(user.get("id_str")),
                           verified=user.get("verified") if isinstance(user.get("verified"), bool) else None,
                           verified_type=str_or_none(user.get("verified_type")))
        self._times(m, post_id, tweet)
        if synd.outcome == "tombstone" and isinstance(synd.data, dict):
            tomb = synd.data.get("tombstone")
            tomb_text = tomb.get("text") if isinstance(tomb, dict) else None
            m["tombstone"] = str_or_none(tomb_text.get("text")) if isinstance(tomb_text, dict) else None
        if occurrences:
            m["attribution"] = markup.attribution(occurrences, ctx)
            m["articles"] = markup.articles_entry(occurrences, ctx)
        if referenced_by:
            m["referenced_by"] = [referenced_by]
        status, error = decide(oembed, synd, has_content)
        if synd.outcome == "ok":
            media_error = self._media(ctx, m, tweet, user, sources, exchanges)
            if media_error and status == "archived":
                status, error = "unavailable", media_error
            if depth == 0:
                m["quoted"] = self._related(ctx, tweet, "quoted_tweet", None, capture_id, "quoted")
                m["parent"] = self._related(ctx, tweet, "parent", "in_reply_to_status_id_str", capture_id,
                                            "parent")
            else:
                m["quoted"] = _ref(related_id(tweet, "quoted_tweet", None))
                m["parent"] = _ref(related_id(tweet, "parent", "in_reply_to_status_id_str"))
        m["status"], m["error"] = status, error
        m["sources"] = sources
        return _write(ctx, m, exchanges)

    @staticmethod
    def _times(m: dict[str, Any], post_id: str, tweet: dict[str, Any]) -> None:
        snow = snowflake_time(post_id)
        stated = parse_time(tweet.get("created_at"))
        m["created_at_snowflake"] = utc_iso(snow) if snow else None
        m["created_at"] = utc_iso(stated or snow) if (stated or snow) else None
        # created_at is stated to the second; the snowflake to the millisecond.
        m["created_at_consistent"] = (abs((stated - snow).total_seconds()) < 1.5
                                      if stated and snow else None)

    def _media(self, ctx: CaptureContext, m: dict[str, Any], tweet: dict[str, Any], user: dict[str, Any],
               sources: list[dict[str, Any]], exchanges: list[Exchange]) -> str | None:
        """Archive avatar and media; returns an error when a medium failed in a way worth retrying."""
        avatar = str_or_none(user.get("profile_image_url_https"))
        if avatar:
            original = re.sub(r"_(?:normal|bigger|mini|x96|200x200|400x400)(\.\w+)$", r"\1", avatar)
            rec = self._fetch_medium(ctx, "avatar", original, "image", sources, exchanges)
            m["author"]["avatar_url"] = original
            if rec is not None and rec.status == "archived":
                m["author"]["avatar_sha256"] = rec.sha256
        problem = None
        for item in media_plan(tweet):
            kind = "image" if item["type"] == "photo" else "video"
            rec = self._fetch_medium(ctx, "media", item["url"], kind, sources, exchanges)
            if (rec is None or rec.status == "failed") and item["listed_url"] != item["url"]:
                rec = self._fetch_medium(ctx, "media", item["listed_url"], kind, sources, exchanges)
            entry = {
                "type": item["type"], "status": "failed", "error": None, "sha256": None, "key": None,
                "mime": None, "bytes": None, "width": None, "height": None, "duration": item["duration"],
                "original_url": item["url"], "final_url": None, "listed_url": item["listed_url"],
                "bitrate": item["bitrate"], "poster_url": item["poster_url"], "alt_text": item["alt_text"],
            }
            if rec is None:
                entry["error"] = "could not archive the medium"
            else:
                entry.update(status=rec.status, error=rec.error, sha256=rec.sha256, key=rec.key,
                             mime=rec.mime, bytes=rec.bytes, width=rec.width, height=rec.height,
                             original_url=rec.original_url, final_url=rec.final_url,
                             duration=rec.duration if rec.duration is not None else item["duration"])
            if item["poster_url"]:
                # The still shown before playback: the static card needs it. Its loss is recorded
                # in its source entry but does not hold the capture back.
                poster = self._fetch_medium(ctx, "poster", item["poster_url"], "image", sources, exchanges)
                archived = poster is not None and poster.status == "archived"
                entry["poster_sha256"] = poster.sha256 if archived else None
                entry["poster_key"] = poster.key if archived else None
            if entry["status"] == "failed" and problem is None:
                problem = f"{item['type']} {item['url']}: {entry['error'] or 'failed'}"
            m["media"].append(entry)
        return problem

    def _fetch_medium(self, ctx: CaptureContext, name: str, url: str, kind: str,
                      sources: list[dict[str, Any]], exchanges: list[Exchange]) -> Any:
        try:
            rec = self._archive_media(url, kind=kind, fetcher=ctx.fetcher, store=ctx.store,
                                   settings=ctx.settings)
        except (ArchiverError, OSError, ValueError) as exc:
            sources.append(source_entry(name, [], outcome="failed", error=str(exc),
                                                 fallback_url=url))
            return None
        recs = list(getattr(rec, "exchanges", None) or [])
        exchanges.extend(recs)
        sources.append(source_entry(name, recs, outcome=rec.status, error=rec.error,
                                             fallback_url=url, data={"sha256": rec.sha256, "key": rec.key}))
        return rec

    def _related(self, ctx: CaptureContext, tweet: dict[str, Any], obj_key: str, id_key: str | None,
                 capture_id: str, relation: str) -> dict[str, Any] | None:
        rid = related_id(tweet, obj_key, id_key)
        if rid is None:
            return None
        obj = tweet.get(obj_key) if isinstance(tweet.get(obj_key), dict) else {}
        user = obj.get("user") if isinstance(obj.get("user"), dict) else {}
        handle = str_or_none(user.get("screen_name")) or str_or_none(tweet.get("in_reply_to_screen_name"))
        handle = handle if handle and HANDLE.fullmatch(handle) else None
        # Derived from the main capture's id, so a capture run twice writes the same related keys.
        related_capture = capture_id[:-8] + hashlib.sha256(f"{capture_id}/{relation}".encode()).hexdigest()[:8]
        res = self._capture_post(ctx, rid, handle, related_capture, [], [], [], depth=1,
                                 referenced_by={"capture_id": capture_id, "relation": relation})
        return {"post_id": rid, "url": res.url, "capture_id": res.capture_id,
                "manifest_key": res.manifest_key, "status": res.status}

    @staticmethod
    def _unresolved(occurrences: Sequence[Embed], ctx: CaptureContext, sources: list[dict[str, Any]],
                    exchanges: list[Exchange], transient: bool) -> CaptureResult:
        e = occurrences[0]
        post_id = markup.unresolved_post_id(e)
        capture_id = ctx.capture_id or new_capture_id(ctx.now())
        status = "unavailable" if transient else "unresolved"
        m = base_manifest(provider=NAME, post_id=post_id, capture_id=capture_id,
                                   captured_at=ctx.now(), status=status, url=None)
        mk = sources[0]["data"]
        m.update(text=mk["text"], text_expanded=mk["text"], text_source=markup.MARKUP_SOURCE, lang=mk["lang"],
                 attribution=markup.attribution(occurrences, ctx),
                 articles=markup.articles_entry(occurrences, ctx),
                 sources=sources,
                 error="the shortlink service did not answer; try again" if transient
                 else "no status URL found for this flattened post; kept what the article showed")
        m["author"].update(name=e.author, handle=e.handle)
        return _write(ctx, m, exchanges)


def _ref(post_id: str | None) -> dict[str, Any] | None:
    if post_id is None:
        return None
    return {"post_id": post_id, "url": canonical_url(post_id, None), "capture_id": None, "manifest_key": None,
            "status": None}


def _write(ctx: CaptureContext, m: dict[str, Any], exchanges: list[Exchange]) -> CaptureResult:
    try:
        key = write_snapshot(ctx.store, m, exchanges)
    except (ArchiverError, OSError, ValueError) as exc:
        return CaptureResult("failed", NAME, m["post_id"], m["url"], m["capture_id"],
                             error=f"could not store the snapshot: {exc}")
    return CaptureResult(m["status"], NAME, m["post_id"], m["url"], m["capture_id"], key, m["error"], m)

