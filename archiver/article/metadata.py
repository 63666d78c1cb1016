"""An article's headline and published time, read from its markup when the plan is made.

Editors find articles by their headline, not by an id, so the plan (and from it the catalog's
articles table, rebuilt by `archiver reindex`) keeps what the article says of itself:

- headline: `og:title`, else `<title>`, else the first `<h1>` (HTML); the first `# heading`
  (Markdown); the first non-empty line (text). Entities decoded, whitespace collapsed, control and
  bidirectional-override characters (RLO and the like) removed, cut at MAX_HEADLINE characters. Site
  names after a separator ("Story | Site") are kept: guessing which part is the site's name goes
  wrong too often in other scripts.
- published_at: `article:published_time` (and the other usual `<meta>` names), JSON-LD
  `datePublished`, an element with `itemprop="datePublished"`, then the first `<time datetime>`;
  as ISO 8601 UTC ('YYYY-MM-DDTHH:MM:SSZ'; a time without an offset is taken as UTC, a date alone
  as its midnight UTC). A value that is not a time is ignored.

Only the first MAX_SCAN characters are read and every value is bounded, so hostile markup costs
little; nothing here raises on any input.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from archiver import foreign_json
from archiver.dates import as_datetime, iso

MAX_SCAN = 256 * 1024  # characters of the article read (the stdlib parser: about 2 µs a character at worst)
MAX_HEADLINE = 300  # characters of a headline kept
MAX_FIELD = 4096  # characters of one raw value (a title, an attribute) looked at
MAX_JSON_LD = 200_000  # characters of one JSON-LD script parsed
MAX_JSON_LD_SCRIPTS = 10

PUBLISHED_META = ("article:published_time", "og:published_time", "datepublished", "publishdate", "pubdate",
                  "publish-date", "date", "dc.date.issued", "dc.date", "dcterms.created", "sailthru.date",
                  "parsely-pub-date")
# Characters that reorder or hide text (bidi embeddings, overrides and isolates, zero-width marks)
# and every control character: none belongs in a one-line headline.
_BIDI = dict.fromkeys(map(ord, "\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"))
_SPACE = re.compile(r"\s+")
_HTML_HINT = re.compile(r"<(?:!doctype|html|head|body|title|h1|p|div|meta|article)\b", re.I)
_MD_HEADING = re.compile(r"^[ ]{0,3}#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class ArticleMetadata:
    """What an article says of itself: `headline` (one clean line, at most MAX_HEADLINE characters)
    and `published_at` (ISO 8601 UTC); either None when the article does not say."""

    headline: str | None = None
    published_at: str | None = None


def clean_headline(value: Any) -> str | None:
    """`value` as one displayable line: entities already decoded by the caller, controls and bidi
    overrides removed, whitespace collapsed, cut at MAX_HEADLINE characters (with "…"); None when empty."""
    if not isinstance(value, str):
        return None
    text = value[:MAX_FIELD].translate(_BIDI)
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text
                   if unicodedata.category(c) not in ("Cf", "Cs", "Co") or c in "\u200c\u200d")
    text = _SPACE.sub(" ", text).strip()
    if not text:
        return None
    if len(text) <= MAX_HEADLINE:
        return text
    # Cut at a word's end near the limit, else never between a letter and its combining marks.
    cut = MAX_HEADLINE - 1
    space = text.rfind(" ", MAX_HEADLINE - 40, cut + 1)
    if space > 0:
        cut = space
    else:
        while cut > 1 and (unicodedata.category(text[cut])[0] == "M" or text[cut - 1] in "\u200c\u200d"):
            cut -= 1
    return text[:cut].rstrip() + "…"


def published_time(value: Any) -> str | None:
    """A stated publication time as ISO 8601 UTC, or None when `value` is not one."""
    if not isinstance(value, str):
        return None
    text = value.strip()[:64]
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        text += "T00:00:00"
    dt = as_datetime(text)
    return iso(dt) if dt is not None and 1900 <= dt.year <= 2200 else None


class _Done(Exception):
    """Everything wanted was found: stop reading."""


class _Reader(HTMLParser):
    """Collects the candidates for the headline and the published time while the markup is fed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.og_title: str | None = None
        self.title: str | None = None
        self.h1: str | None = None
        self.meta_time: dict[str, str] = {}
        self.itemprop_time: str | None = None
        self.time_tag: str | None = None
        self.ld_times: list[str] = []
        self._in: str | None = None  # "title", "h1" or "ld" while inside one
        self._buf: list[str] = []
        self._buf_len = 0
        self._ld_scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "")[:MAX_FIELD] for k, v in attrs[:64]}
        if tag == "meta":
            name = (a.get("property") or a.get("name") or a.get("itemprop") or "").strip().lower()
            content = a.get("content", "")
            if name in ("og:title",) and self.og_title is None and content.strip():
                self.og_title = content
            elif name in PUBLISHED_META and name not in self.meta_time and content.strip():
                self.meta_time[name] = content
        elif a.get("itemprop", "").lower() == "datepublished" and self.itemprop_time is None:
            self.itemprop_time = a.get("datetime") or a.get("content") or None
        if tag == "time" and self.time_tag is None and a.get("datetime"):
            self.time_tag = a["datetime"]
        if self._in is None:
            if tag == "title" and self.title is None:
                self._start("title")
            elif tag == "h1" and self.h1 is None:
                self._start("h1")
            elif (tag == "script" and "ld+json" in a.get("type", "").lower()
                  and self._ld_scripts < MAX_JSON_LD_SCRIPTS):
                self._ld_scripts += 1
                self._start("ld")

    def _start(self, what: str) -> None:
        self._in, self._buf, self._buf_len = what, [], 0

    def handle_data(self, data: str) -> None:
        limit = MAX_JSON_LD if self._in == "ld" else MAX_FIELD
        if self._in is not None and self._buf_len < limit:
            self._buf.append(data[:limit - self._buf_len])
            self._buf_len += len(self._buf[-1])

    def handle_endtag(self, tag: str) -> None:
        if tag == "head" and (self.og_title or self.title) and self.meta_time:
            raise _Done  # the head settled both: og:title or <title> beats any <h1>, <meta> any later date
        if self._in is None or tag != {"title": "title", "h1": "h1", "ld": "script"}[self._in]:
            return
        text = "".join(self._buf)
        if self._in == "title":
            self.title = text
        elif self._in == "h1":
            self.h1 = text
        else:
            self.ld_times.extend(_ld_dates(text))
        self._in = None
        if self.og_title and self.meta_time.get("article:published_time"):
            raise _Done


def _ld_dates(text: str) -> list[str]:
    """The datePublished values of a JSON-LD script (objects, lists and @graph, a few levels deep)."""
    try:
        doc = foreign_json.loads(text)
    except ValueError:
        return []
    found: list[str] = []

    def walk(node: Any, depth: int) -> None:
        if depth > 4 or len(found) >= 5:
            return
        if isinstance(node, list):
            for x in node[:50]:
                walk(x, depth + 1)
        elif isinstance(node, dict):
            value = node.get("datePublished")
            if isinstance(value, str):
                found.append(value)
            for key in ("@graph", "mainEntity", "mainEntityOfPage"):
                walk(node.get(key), depth + 1)

    walk(doc, 0)
    return found


def html_metadata(text: str) -> ArticleMetadata:
    """The headline and published time of an HTML article (see the module's rules for the order)."""
    reader = _Reader()
    try:
        reader.feed(text[:MAX_SCAN])
        reader.close()
    except _Done:
        pass
    except (AssertionError, ValueError, RecursionError):  # the stdlib parser's own complaints
        pass
    if reader._in in ("title", "h1"):  # never closed (or cut by MAX_SCAN): what was read of it
        setattr(reader, reader._in, "".join(reader._buf))
    headline = next((h for h in map(clean_headline, (reader.og_title, reader.title, reader.h1)) if h), None)
    stated = [reader.meta_time.get(n) for n in PUBLISHED_META] + reader.ld_times
    stated += [reader.itemprop_time, reader.time_tag]
    published = next((p for p in map(published_time, stated) if p), None)
    return ArticleMetadata(headline, published)


def article_metadata(text: str, fmt: str = "html") -> ArticleMetadata:
    """What the decoded article `text` says of itself; `fmt` as the article was submitted ("html",
    "markdown", "text", or "auto": HTML when the start looks like markup, Markdown when it has an ATX
    heading, else text). Never raises."""
    head = text[:MAX_SCAN] if isinstance(text, str) else ""
    if fmt == "auto":
        fmt = ("html" if _HTML_HINT.search(head[:65536]) else
               "markdown" if _MD_HEADING.search(head[:65536]) else "text")
    if fmt == "html":
        return html_metadata(head)
    if fmt == "markdown":
        m = _MD_HEADING.search(head)
        if m and clean_headline(m.group(1)):
            return ArticleMetadata(clean_headline(m.group(1)), html_metadata(head).published_at)
        found = html_metadata(head)  # Markdown may carry HTML (a <h1>, a <time>)
        if found.headline:
            return found
    line = next((ln for ln in head[:MAX_FIELD * 4].splitlines() if ln.strip()), "")
    return ArticleMetadata(clean_headline(line.lstrip("# ")))
