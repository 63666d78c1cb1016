"""Capture of a post from its embed markup plus a public oEmbed endpoint, for the platforms whose
oEmbed needs no token (YouTube, TikTok, Reddit, Bluesky, Mastodon).

Sources, each with its own provenance: the publisher's markup (always), the platform's oEmbed
answer (text, author, thumbnail) and the thumbnail itself, which the capture step archives.
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
from archiver.capture.manifest import new_capture_id, utc_iso
from archiver.lazyre import lazy
from archiver.providers import markup
from archiver.providers.base import CaptureContext, CapturedPost, MediaRef, Occurrence
from archiver.providers.sources import Fetched, get_object
from archiver.storage.layout import safe_post_id

if TYPE_CHECKING:
    from archiver.capture.exchange import Exchange

_HOST = lazy(r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+")
_IMG = lazy(r"""(?is)<img\b[^>]*?\bsrc\s*=\s*["']([^"']+)["']""")
_POSTER = lazy(r"""(?is)\b(?:poster|data-thumbnail|data-poster)\s*=\s*["']([^"']+)["']""")


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
    """The language tag (e.g. 'pt-BR') of the first <p> with a `lang` in an oEmbed blockquote; None if none."""
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
    """Markup + oEmbed + thumbnail capture for one platform (see ``PlatformSpec``)."""

    def __init__(self, spec: PlatformSpec) -> None:
        self.spec = spec
        self.name = spec.name

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

    def capture(self, occurrences: Sequence[Occurrence], ctx: CaptureContext) -> CapturedPost:
        """The post from its markup and the platform's oEmbed; the thumbnail (oEmbed's, else one the
        markup carries) is left for the capture step to archive (``Provider.capture``)."""
        if not occurrences:
            return CapturedPost(self.name, None, error="no occurrences to capture")
        first = next((o for o in occurrences if safe_post_id(o.embed.post_id)), occurrences[0])
        post_id = markup.filing_id(first.embed)
        post_url = next((o.embed.url for o in occurrences if safe_url(o.embed.url)), None)
        mk = markup.markup_data(occurrences)
        sources = [markup.markup_source(occurrences, ctx)]
        exchanges: list[Exchange] = []
        oembed = self.fetch_oembed(ctx, post_url) if post_url else None
        o: dict[str, Any] = {}
        if oembed is not None:
            exchanges += oembed.exchanges
            sources.append(oembed.entry(oembed.data))
            o = oembed.data or {}
        text, text_source = (o["text"], "oembed") if o.get("text") else (mk["text"], markup.MARKUP_SOURCE)
        m = markup.new_manifest(self.name, occurrences, ctx, post_id=post_id, url=post_url,
                                capture_id=ctx.capture_id or new_capture_id(ctx.now()))
        created = self.spec.id_time(post_id) if safe_post_id(first.embed.post_id) else None
        m.text, m.text_expanded, m.text_source = text, text, text_source if text else None
        m.lang = o.get("lang") or mk["lang"]
        m.created_at = utc_iso(created) if created else None
        m.author.name = o.get("author") or first.embed.author
        m.author.handle = o.get("handle") or first.embed.handle
        m.status, m.error = self._decide(oembed, bool(text))
        m.sources = sources
        media = []
        thumb_url = safe_url(o.get("thumbnail_url")) or markup_thumbnail(first.markup)
        if thumb_url and m.status != "unavailable":
            media.append(MediaRef("thumbnail", thumb_url, listed_url=thumb_url, source="thumbnail"))
        return CapturedPost(self.name, m, exchanges=exchanges, media=media)

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
