"""What the publisher's embed markup carries: the first source of every post, always present.

The article's own copy of an embed (text, author, handle, date, links, the "— Name (@handle) Date"
line and any "(Source: …)" line) is read here, for every provider. ``MarkupProvider`` snapshots
just that, for platforms the archiver cannot fetch yet; Twitter and the oEmbed capture use the
same helpers as their source 1. A provider sees each occurrence's markup and what follows it
(``base.Occurrence``), never the whole article.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Sequence
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

from archiver.capture.manifest import (
    ArticleOccurrence,
    ArticleRef,
    Attribution,
    Manifest,
    Source,
    new_capture_id,
    source_entry,
)
from archiver.providers.base import CaptureContext, CapturedPost, Occurrence
from archiver.storage.layout import filed_post_id

if TYPE_CHECKING:
    from archiver.discover.model import Embed

MARKUP_SOURCE = "publisher_markup"
_MOJIBAKE_DASH = "â€”"
_ATTRIBUTION = re.compile(r"(?:—|&mdash;|&#8212;|" + _MOJIBAKE_DASH + r")[ \t\u00a0]*[^\n—]{0,120}?"
                          r"\(@[A-Za-z0-9_]{1,15}\)[^\n]{0,80}")
# "(Source: …)", "(Courtesy: …)", "(Video: …)", Hindi "(स्रोत: …)", "(साभार: …)", with any dash/colon.
_SOURCE_LINE = re.compile(
    r"\(\s*(?:sources?|courtesy|via|credit|credits|photo|photos|video|videos|स्रोत|साभार|सोर्स)"
    r"\s*[:：\-–—]\s*[^()\n]{1,200}\)", re.IGNORECASE)
_URL = re.compile(r"(?:https?://|(?<![\w/.])(?=pic\.(?:twitter|x)\.com/)|(?<![\w/.])(?=t\.co/))"
                  r"[^\s<>\"'()\[\]]+")
_TRAILING = ".,;:!?…—"


class _Text(HTMLParser):
    """Visible text of a markup fragment; <br> and block ends become newlines; links collected."""

    _BLOCK = frozenset({"p", "div", "blockquote", "li", "figcaption", "h1", "h2", "h3", "h4"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self.lang: str | None = None
        self.dir: str | None = None
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
        elif tag == "p" and self.lang is None:
            self.lang, self.dir = a.get("lang"), a.get("dir")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def parse_fragment(fragment: str) -> tuple[str, list[str], str | None, str | None]:
    """(visible text, link hrefs, lang, dir) of an HTML or plain-text fragment."""
    p = _Text()
    try:
        p.feed(fragment)
        p.close()
    except (AssertionError, ValueError):  # html.parser on pathological input
        return html.unescape(fragment), [], None, None
    text = "".join(p.parts).replace(_MOJIBAKE_DASH, "—").replace("\u00a0", " ")
    return text, p.links, p.lang, p.dir


def _clean(text: str) -> str:
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return "\n".join(lines).strip()


def attribution(occurrences: Sequence[Occurrence]) -> Attribution:
    """What the article showed as the post's attribution: the "— Name (@handle) Date" line and any
    source lines in the embed or right after it."""
    shown: str | None = None
    sources: list[str] = []
    for o in occurrences:
        visible, _, _, _ = parse_fragment(o.markup + o.after)
        if shown is None and (m := _ATTRIBUTION.search(visible)):
            shown = " ".join(m.group(0).split())
        for m in _SOURCE_LINE.finditer(visible):
            line = " ".join(m.group(0).split())
            if line not in sources:
                sources.append(line)
    first = occurrences[0].embed if occurrences else None
    return Attribution(shown=shown, source_lines=sources, author=first.author if first else None,
                       handle=first.handle if first else None, date=first.date if first else None)


def _links(text: str, hrefs: Sequence[str], media_links: Sequence[str]) -> list[str]:
    out: list[str] = []
    for raw in [*hrefs, *(m.group(0) for m in _URL.finditer(text)), *media_links]:
        link = html.unescape(raw).rstrip(_TRAILING)
        if link and link not in out:
            out.append(link)
    return out


def markup_data(occurrences: Sequence[Occurrence]) -> dict[str, Any]:
    """What the richest occurrence carries, in manifest field names (text, author, handle, date,
    lang, dir, links, ...)."""
    o = occurrences[0]
    e = o.embed
    _, hrefs, lang, direction = parse_fragment(o.markup)
    text = _clean(e.text) if e.text else None
    return {
        "form": e.form,
        "post_id": e.post_id,
        "url": e.url,
        "text": text or None,
        "author": e.author,
        "handle": e.handle,
        "date": e.date,
        "lang": lang,
        "dir": direction,
        "links": _links(e.text or "", hrefs, e.media_links),
        "media_links": list(e.media_links),
    }


def markup_source(occurrences: Sequence[Occurrence], ctx: CaptureContext) -> Source:
    """Source 1 with its provenance: the article, and the hash of the embed's span as written."""
    entry = source_entry(MARKUP_SOURCE, [], outcome="ok", data=markup_data(occurrences),
                         fallback_url=ctx.article_url, fetched_at=ctx.now())
    entry.response_sha256 = hashlib.sha256(occurrences[0].markup.encode("utf-8", "surrogatepass")).hexdigest()
    return entry


def new_manifest(name: str, occurrences: Sequence[Occurrence], ctx: CaptureContext, *, post_id: str,
                 capture_id: str, url: str | None, status: str = "failed") -> Manifest:
    """A manifest of post ``post_id`` captured now as ``capture_id``, with what the article showed
    around its occurrences (attribution, and where the article embeds it); none for a post captured
    in its own right (a quoted or parent post)."""
    m = Manifest.new(provider=name, post_id=post_id, capture_id=capture_id, captured_at=ctx.now(), status=status,
                     url=url)
    if occurrences:
        m.attribution = attribution(occurrences)
        m.articles = [ArticleRef(article_id=ctx.article_id, url=ctx.article_url, occurrences=[
            ArticleOccurrence(start=o.embed.start, end=o.embed.end, form=o.embed.form) for o in occurrences])]
    return m


def unresolved_post_id(embed: Embed) -> str:
    """The id a post without a usable one in the markup is filed under: "unresolved-" and a hash of what
    the article showed (Embed.key), or, for an id that cannot be a key segment, of that id."""
    key = embed.key
    if key.startswith(f"{embed.provider}:unresolved:"):
        return "unresolved-" + key.rsplit(":", 1)[-1]
    return "unresolved-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def filing_id(embed: Embed) -> str:
    """The id a post is stored and indexed under: its own id, with "/" (Telegram's "channel/123")
    written ":" so it stays one key segment and one URL segment; for a post whose markup carries
    no usable id, a hash of what the article showed."""
    return filed_post_id(embed.post_id) or unresolved_post_id(embed)


class MarkupProvider:
    """Snapshots only what the publisher's markup carries (no fetch). Archived when the markup
    has the post's text, unresolved otherwise; either way nothing the reader saw is lost."""

    def __init__(self, name: str) -> None:
        self.name = name

    def capture(self, occurrences: Sequence[Occurrence], ctx: CaptureContext) -> CapturedPost:
        """The post as its richest occurrence shows it (``Provider.capture``)."""
        if not occurrences:
            return CapturedPost(self.name, None, error="no occurrences to capture")
        first = occurrences[0].embed
        data = markup_data(occurrences)
        status = "archived" if data["text"] else "unresolved"
        m = new_manifest(self.name, occurrences, ctx, post_id=filing_id(first), url=first.url, status=status,
                         capture_id=ctx.capture_id or new_capture_id(ctx.now()))
        m.author.name, m.author.handle = first.author, first.handle
        m.text, m.text_expanded, m.lang = data["text"], data["text"], data["lang"]
        m.sources = [markup_source(occurrences, ctx)]
        if status == "unresolved":
            m.error = "the embed markup carries no text of the post"
        return CapturedPost(self.name, m)
