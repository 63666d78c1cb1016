"""Capture of a post from its embed markup plus a public oEmbed endpoint, for the platforms whose
oEmbed needs no token (YouTube, TikTok, Reddit, Bluesky, Mastodon).

Sources, each with its own provenance: the publisher's markup (always), the platform's oEmbed
answer (text, author, thumbnail) and the thumbnail itself, archived through ``archive_media``.
oEmbed 404 is deleted, 401/403 protected, 429/5xx/timeouts unavailable (retried); when the
endpoint has nothing to say the markup alone is kept, and a post with no text from anywhere is
``unresolved``, never a success with empty text.

A platform module (``youtube.py``, ...) fills a ``PlatformSpec`` (its endpoint setting and how to
read its answer) and declares ``capture=partial(OEmbedProvider, SPEC)`` in its ``ProviderSpec``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from archiver.capture.cards.content import safe_url
from archiver.capture.manifest import base_manifest, new_capture_id, source_entry, utc_iso
from archiver.capture.media import archive_media as _archive_media
from archiver.capture.record import write_snapshot
from archiver.errors import ArchiverError
from archiver.providers import markup
from archiver.providers.base import CaptureContext, CaptureResult
from archiver.providers.sources import Fetched, get_object

if TYPE_CHECKING:
    from archiver.capture.fetch import Exchange
    from archiver.discover.model import Embed

ArchiveMedia = Callable[..., Any]
_HOST = re.compile(r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+")
_IMG = re.compile(r"""(?is)<img\b[^>]*?\bsrc\s*=\s*["']([^"']+)["']""")
_POSTER = re.compile(r"""(?is)\b(?:poster|data-thumbnail|data-poster)\s*=\s*["']([^"']+)["']""")


@dataclass(frozen=True)
class PlatformSpec:
    """What differs between platforms: where oEmbed lives and how to read its answer."""

    name: str
    # The Settings field holding the endpoint; it may contain {host} (the post's server).
    endpoint_setting: str
    # (oEmbed body) → the post's text; default: the title.
    text: Callable[[dict[str, Any]], str | None] = lambda body: _str(body.get("title"))
    # (oEmbed body) → the author's handle.
    handle: Callable[[dict[str, Any]], str | None] = lambda body: None
    # (post id) → creation time encoded in the id, for platforms whose ids carry one.
    id_time: Callable[[str], datetime | None] = lambda post_id: None


def _str(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def html_text(fragment: Any) -> str | None:
    """The text of the first <p> of an oEmbed blockquote (Bluesky, Mastodon 4.3+)."""
    m = re.search(r"(?is)<p\b[^>]*>(.*?)</p>", fragment if isinstance(fragment, str) else "")
    if not m:
        return None
    text, _, _, _ = markup.parse_fragment(m.group(1))
    return _str("\n".join(" ".join(line.split()) for line in text.split("\n")))


def html_lang(fragment: Any) -> str | None:
    m = re.search(r"""(?is)<p\b[^>]*\blang\s*=\s*["']([A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*)["']""",
                  fragment if isinstance(fragment, str) else "")
    return m.group(1) if m else None


def markup_thumbnail(span: str) -> str | None:
    """A thumbnail the embed markup itself carries (an <img>, a poster), absolute http(s) only."""
    for pattern in (_POSTER, _IMG):
        for m in pattern.finditer(span):
            url = safe_url(m.group(1).replace("&amp;", "&"))
            if url:
                return url
    return None


class OEmbedProvider:
    """Markup + oEmbed + thumbnail capture for one platform (see ``PlatformSpec``); ``archive_media``
    stands in for ``archiver.capture.media.archive_media`` (tests)."""

    def __init__(self, spec: PlatformSpec, archive_media: ArchiveMedia | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        self._archive_media = archive_media or _archive_media

    def endpoint(self, ctx: CaptureContext, post_url: str) -> str | None:
        """The oEmbed request URL for ``post_url``; None when no endpoint is configured."""
        template = str(getattr(ctx.settings, self.spec.endpoint_setting, "") or "")
        if not template:
            return None
        if "{host}" in template:
            host = (urlsplit(post_url).hostname or "").lower()
            if not _HOST.fullmatch(host):
                return None
            template = template.replace("{host}", quote(host, safe="."))
        sep = "&" if "?" in template else "?"
        return f"{template}{sep}{urlencode({'url': post_url, 'format': 'json'})}"

    def fetch_oembed(self, ctx: CaptureContext, post_url: str) -> Fetched | None:
        """Ask the platform's oEmbed about ``post_url``; ``data`` gets title, text, author, handle,
        thumbnail and lang when it answered. None when no endpoint is configured."""
        url = self.endpoint(ctx, post_url)
        if url is None:
            return None
        body, fetched = get_object(ctx, "oembed", url)
        if body is None:
            return fetched
        text = self.spec.text(body)
        fetched.data = {
            "title": _str(body.get("title")),
            "text": text,
            "author": _str(body.get("author_name")),
            "author_url": _str(body.get("author_url")),
            "handle": self.spec.handle(body),
            "thumbnail_url": _str(body.get("thumbnail_url")),
            "lang": html_lang(body.get("html")),
            "type": _str(body.get("type")),
            "provider_name": _str(body.get("provider_name")),
        }
        return fetched

    def capture(self, occurrences: Sequence[Embed], ctx: CaptureContext) -> CaptureResult:
        if not occurrences:
            return CaptureResult("failed", self.name, None, None, error="no occurrences to capture")
        first = next((e for e in occurrences if markup.safe_post_id(e.post_id)), occurrences[0])
        post_id = markup.filing_id(first)
        post_url = next((e.url for e in occurrences if safe_url(e.url)), None)
        capture_id = ctx.capture_id or new_capture_id(ctx.now())
        mk = markup.markup_data(occurrences, ctx)
        sources = [markup.markup_source(occurrences, ctx)]
        exchanges: list[Exchange] = []
        oembed = self.fetch_oembed(ctx, post_url) if post_url else None
        o: dict[str, Any] = {}
        if oembed is not None:
            exchanges += oembed.exchanges
            sources.append(oembed.entry(oembed.data))
            o = oembed.data or {}
        text, text_source = (o["text"], "oembed") if o.get("text") else (mk["text"], markup.MARKUP_SOURCE)
        m = base_manifest(provider=self.name, post_id=post_id, capture_id=capture_id,
                                   captured_at=ctx.now(), status="failed", url=post_url)
        created = self.spec.id_time(post_id) if markup.safe_post_id(first.post_id) else None
        m.update(text=text, text_expanded=text, text_source=text_source if text else None,
                 lang=o.get("lang") or mk["lang"],
                 created_at=utc_iso(created) if created else None,
                 attribution=markup.attribution(occurrences, ctx),
                 articles=markup.articles_entry(occurrences, ctx))
        m["author"].update(name=o.get("author") or first.author, handle=o.get("handle") or first.handle)
        status, error = self._decide(oembed, bool(text))
        thumb_url = safe_url(o.get("thumbnail_url")) or markup_thumbnail(markup.span_of(ctx, first))
        if thumb_url and status != "unavailable":
            problem = self._thumbnail(ctx, m, thumb_url, sources, exchanges)
            if problem and status == "archived":
                status, error = "unavailable", problem
        m["status"], m["error"], m["sources"] = status, error, sources
        try:
            key = write_snapshot(ctx.store, m, exchanges)
        except (ArchiverError, OSError, ValueError) as exc:
            return CaptureResult("failed", self.name, post_id, post_url, capture_id,
                                 error=f"could not store the snapshot: {exc}")
        return CaptureResult(status, self.name, post_id, post_url, capture_id, key, error, m)

    @staticmethod
    def _decide(oembed: Fetched | None, has_text: bool) -> tuple[str, str | None]:
        if oembed is not None:
            if oembed.outcome == "not_found":
                return "deleted", "oEmbed 404: the post is gone"
            if oembed.outcome == "forbidden":
                return "protected", "oEmbed refused the post (private or not embeddable)"
            if oembed.transient:
                return "unavailable", oembed.error or f"oembed: {oembed.outcome}"
        if has_text:
            return "archived", None
        why = "oEmbed carried no text" if oembed is not None and oembed.outcome == "ok" else \
            "no oEmbed answer" if oembed is not None else "no oEmbed endpoint for this post"
        return "unresolved", f"{why} and the embed markup carries no text of the post"

    def _thumbnail(self, ctx: CaptureContext, m: dict[str, Any], url: str, sources: list[dict[str, Any]],
                   exchanges: list[Exchange]) -> str | None:
        """Archive the thumbnail as a medium; returns an error when it failed in a retryable way."""
        entry = {"type": "thumbnail", "status": "failed", "error": None, "sha256": None, "key": None,
                 "mime": None, "bytes": None, "width": None, "height": None, "duration": None,
                 "original_url": url, "final_url": None, "listed_url": url, "bitrate": None,
                 "poster_url": None, "alt_text": None}
        try:
            rec = self._archive_media(url, kind="image", fetcher=ctx.fetcher, store=ctx.store,
                                      settings=ctx.settings)
        except (ArchiverError, OSError, ValueError) as exc:
            sources.append(source_entry("thumbnail", [], outcome="failed", error=str(exc),
                                                 fallback_url=url))
            entry["error"] = str(exc)
            m["media"].append(entry)
            return f"thumbnail {url}: {exc}"
        exchanges.extend(rec.exchanges)
        sources.append(source_entry("thumbnail", rec.exchanges, outcome=rec.status, error=rec.error,
                                             fallback_url=url, data={"sha256": rec.sha256, "key": rec.key}))
        entry.update(status=rec.status, error=rec.error, sha256=rec.sha256, key=rec.key, mime=rec.mime,
                     bytes=rec.bytes, width=rec.width, height=rec.height, final_url=rec.final_url)
        m["media"].append(entry)
        return f"thumbnail {url}: {rec.error or 'failed'}" if rec.status == "failed" else None
