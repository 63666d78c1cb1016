"""HTML discovery: embed constructs and image URLs with exact offsets into the article text (the
images are read by the base class, ``html_images.HtmlImages``).

A tree parser gives no cheap character offsets and is slow, so this is a linear scanner: one
regex finds the opening tags that matter, a possessive (non-backtracking) pattern finds where
each tag ends, and matching close tags come from one pass per tag name. Every search is bounded
or consumes what it scans, so hostile markup costs time linear in its length.

The scanner knows no platform: blockquote and div classes, AMP elements, iframe and script
attributes come from the provider modules (``constructs.current()``), whose readers get the
scanner and add what they find with ``HtmlScanner.add``. Iframes, WordPress blocks and figures need
no reader: the post URL they carry is enough.
"""

from __future__ import annotations

import bisect
import html
import json
import re

from archiver.discover import constructs
from archiver.discover.common import clean_text
from archiver.discover.html_images import HtmlImages
from archiver.discover.model import Embed, ImageRef
from archiver.discover.readers import post_from
from archiver.discover.tags import Block, Tag, links, parse_attrs
from archiver.discover.urls import PostMatch, handle_in_url, match_post_url

# The tags every article is scanned for; the providers' AMP elements are added (`_start`).
_TAGS = ("img", "amp-img", "source", "iframe", "meta", "base", "script", "style", "textarea", "title", "xmp",
         "blockquote", "figure", "amp-iframe")
_start_cache: tuple[int, re.Pattern[str]] | None = None
_TAG_BODY = re.compile(r"""(?:[^>"']++|"[^"]*+"|'[^']*+')*+>""")
_TAG_WINDOW = 32768
_RAW_CLOSE = {
    name: re.compile(rf"</{name}\s*>", re.I) for name in ("script", "style", "textarea", "title", "xmp")
}
_WP_OPEN = re.compile(r"<!--\s*wp:(embed|core-embed/[\w-]{1,40})\s+(\{.*\})\s*/?-->", re.S)
_TRAIL_SCRIPT = re.compile(r"\s{0,200}<script\b([^<>]{0,1000})>\s{0,100}</script\s*>", re.I)
_EMBED_SCRIPT = re.compile(
    r"""src\s*=\s*["']?[^"'\s>]{0,300}/(?:widgets|embeds?|platform)\.js""", re.I
)
_P_OPEN = re.compile(r"<p\b[^<>]{0,1000}>", re.I)
_URL_IN = re.compile(r"""https?://[^\s<>"']{1,2000}""")


class HtmlScanner(HtmlImages):
    """One pass over an HTML (or HTML-bearing Markdown) document."""

    def __init__(self, text: str, base_url: str | None) -> None:
        self.text = text
        self.n = len(text)
        self.base_url = base_url
        self.base_href: str | None = None
        self.embeds: list[Embed] = []
        self.images: list[ImageRef] = []
        # Regions where text is not content (scripts, styles, comments): no bare-URL embeds there.
        self.raw_regions: list[tuple[int, int]] = []
        self._stop = False
        self._quote_off_until = -1
        self._pairs: dict[str, dict[int, tuple[int, int]]] = {}
        self._closers: dict[str, list[tuple[int, int]]] = {}
        self._figures: tuple[list[int], list[tuple[int, int]]] | None = None
        self._figure_credit: dict[int, str | None] = {}
        self.constructs = constructs.current()

    # --- tokenizing ---------------------------------------------------------------------
    def _tag(self, name: str, start: int, body: int) -> Tag | None:
        end = -1
        if body >= self._quote_off_until:
            m = _TAG_BODY.match(self.text, body, min(self.n, body + _TAG_WINDOW))
            if m:
                end = m.end()
            else:
                self._quote_off_until = body + _TAG_WINDOW
        if end < 0:
            gt = self.text.find(">", body)
            if gt < 0:
                self._stop = True
                return None
            end = gt + 1
        return Tag(name, start, end, parse_attrs(self.text, body, end - 1))

    def _pair_map(self, name: str) -> dict[int, tuple[int, int]]:
        """Open-tag start -> (close start, close end) for `name`, nesting matched with a stack."""
        found = self._pairs.get(name)
        if found is None:
            found = {}
            stack: list[int] = []
            for m in re.finditer(rf"<(/?){name}(?=[\s/>])[^<>]{{0,4000}}>?", self.text, re.I):
                if not m.group(1):
                    stack.append(m.start())
                elif stack:
                    found[stack.pop()] = (m.start(), m.end())
            self._pairs[name] = found
        return found

    def element_end(self, tag: Tag) -> tuple[int, int]:
        """(inner end, element end) of the element opened by `tag`; bounded guess if never closed."""
        pair = self._pair_map(tag.name).get(tag.start)
        if pair:
            return pair
        stop = min(self.n, tag.end + 20000)
        nxt = re.compile(rf"<{tag.name}(?=[\s/>])", re.I).search(self.text, tag.end, stop)
        stop = nxt.start() if nxt else stop
        last = self.text.rfind("</a>", tag.end, stop)
        end = last + 4 if last >= 0 else tag.end
        return end, end

    def run(self) -> None:
        text, pos = self.text, 0
        start = _start(self.constructs)
        while not self._stop:
            m = start.search(text, pos)
            if not m:
                break
            if m.group(2):
                pos = self._comment(m.start())
                continue
            tag = self._tag(m.group(1).lower(), m.start(), m.end())
            if tag is None:
                pos = m.end()
                continue
            pos = self._dispatch(tag)
        candidate = self.constructs.div_candidate
        if candidate is None:
            return
        raw = sorted(self.raw_regions)
        raw_starts = [r[0] for r in raw]
        for m in candidate.finditer(text):
            i = bisect.bisect_right(raw_starts, m.start()) - 1
            if i >= 0 and raw[i][1] > m.start():
                continue
            tag = self._tag("div", m.start(), m.start() + 4)
            if tag is not None:
                self._div(tag)

    def _dispatch(self, tag: Tag) -> int:
        name = tag.name
        if name in _RAW_CLOSE:
            close = _RAW_CLOSE[name].search(self.text, tag.end)
            inner_end, end = (close.start(), close.end()) if close else (self.n, self.n)
            self.raw_regions.append((tag.start, end))
            if name == "script":
                self._script(tag, inner_end, end)
            return end
        if name in ("img", "amp-img"):
            self._img(tag)
        elif name == "source":
            for attr in ("srcset", "data-srcset"):
                self._srcset(tag, attr, "source-" + attr, None)
        elif name == "meta":
            self._meta(tag)
        elif name == "base":
            if self.base_href is None and tag.get("href"):
                self.base_href = tag.get("href")
        elif name == "blockquote":
            self._blockquote(tag)
        elif name == "iframe":
            self._iframe(tag)
        elif name == "figure":
            self._figure(tag)
        elif name == "amp-iframe":
            found = post_from([tag.get("src")])
            if found:
                self.add_element(tag, found, "amp")
        elif name in self.constructs.amp:
            self.constructs.amp[name](self, tag)
        return tag.end

    # --- embeds -----------------------------------------------------------------------
    def add(self, found: PostMatch | None, provider: str, start: int, end: int, form: str,
            **fields: object) -> Embed:
        """Record an embed of ``provider`` over text[start:end] (the embed script right after it
        included); ``found`` gives its id and URL, ``fields`` any of Embed's (handle, author, text,
        date, media_links: empty values are left out)."""
        post_id, url = (found[1], found[2]) if found else (None, None)
        m = _TRAIL_SCRIPT.match(self.text, end)
        if m and _EMBED_SCRIPT.search(m.group(1)):
            end = m.end()
        embed = Embed(provider=provider, post_id=post_id, url=url, start=start, end=end, form=form)
        for key, value in fields.items():
            if value:
                setattr(embed, key, value)
        self.embeds.append(embed)
        return embed

    def _comment(self, start: int) -> int:
        close = self.text.find("-->", start + 4)
        if close < 0:
            self.raw_regions.append((start, self.n))
            self._stop = True
            return self.n
        end = close + 3
        self.raw_regions.append((start, end))
        if "wp:" in self.text[start + 4:start + 16]:
            self._wp_block(start, end)
        return end

    def _wp_block(self, start: int, end: int) -> None:
        m = _WP_OPEN.fullmatch(self.text, start, end)
        if not m:
            return
        try:
            data = json.loads(m.group(2))
        except ValueError:
            return
        url = data.get("url") if isinstance(data, dict) else None
        found = match_post_url(url) if isinstance(url, str) else None
        if not found:
            return
        block = m.group(1)
        closers = self._closers.get(block)
        if closers is None:
            pat = re.compile(rf"<!--\s*/wp:{re.escape(block)}\s*-->")
            closers = [(c.start(), c.end()) for c in pat.finditer(self.text)]
            self._closers[block] = closers
        i = bisect.bisect_left(closers, (end, 0))
        close_end = closers[i][1] if i < len(closers) else end
        self.add(found, found[0], start, close_end, "wp-block", handle=handle_in_url(found))

    def _blockquote(self, tag: Tag) -> None:
        classes = tag.classes()
        reader = next((r for c, (_, r) in self.constructs.blockquotes.items() if c in classes), None)
        if reader is None:
            return
        inner_end, end = self.element_end(tag)
        reader(self, Block(tag, tag.end, inner_end, end, links(self.text, tag.end, inner_end)))

    def first_paragraph(self, s: int, e: int) -> tuple[str | None, int]:
        """The text of the first <p> in text[s:e] and where it ends (s when there is none)."""
        p = _P_OPEN.search(self.text, s, e)
        if not p:
            return None, s
        pe = self.text.find("</p", p.end(), e)
        pe = pe if pe >= 0 else e
        return clean_text(self.text[p.end():pe]), pe

    def add_element(self, tag: Tag, found: PostMatch, form: str) -> None:
        """Record the whole element opened by ``tag`` as an embed of the post ``found``."""
        _, end = self.element_end(tag)
        self.add(found, found[0], tag.start, end, form)

    def _iframe(self, tag: Tag) -> None:
        found = post_from([tag.get("src"), tag.get("data-src"), tag.get("data-lazy-src")])
        for attr, read in self.constructs.iframe_ids:
            if found:
                break
            value = tag.get(attr)
            found = read(value) if value else None
        if not found:
            return
        close = re.compile(r"</iframe\s*>", re.I).search(self.text, tag.end, min(self.n, tag.end + 5000))
        self.add(found, found[0], tag.start, close.end() if close else tag.end, "iframe", handle=handle_in_url(found))

    def _div(self, tag: Tag) -> None:
        classes = tag.classes()
        reader = next((r for c, r in self.constructs.divs.items() if c in classes), None)
        if reader is not None:
            reader(self, tag)

    def _figure(self, tag: Tag) -> None:
        classes = tag.classes()
        if "wp-block-embed" not in classes and not any(c.startswith("wp-block-embed-") for c in classes):
            return
        inner_end, end = self.element_end(tag)
        m = _URL_IN.search(self.text, tag.end, inner_end)
        found = match_post_url(html.unescape(m.group(0))) if m else None
        if found:
            self.add(found, found[0], tag.start, end, "figure", handle=handle_in_url(found))

    def _script(self, tag: Tag, inner_end: int, end: int) -> None:
        for attr, read in self.constructs.scripts:
            value = tag.get(attr)
            if value:
                read(self, tag, value, end)
                return
        if "ld+json" in (tag.get("type") or "").lower():
            self._json_ld(tag.end, inner_end)

def _start(tables: constructs.Constructs) -> re.Pattern[str]:
    """The opening tags the scanner stops at: `_TAGS` and the providers' AMP elements."""
    global _start_cache
    cached = _start_cache
    if cached is None or cached[0] != tables.generation:
        names = [*_TAGS, *(t for t in tables.amp if t not in _TAGS)]
        # The lookahead on the first letter lets the engine skip the many other tags cheaply.
        first = "".join(sorted({c for n in names for c in (n[0].lower(), n[0].upper())}))
        alternatives = "|".join(re.escape(n) for n in names)
        pattern = re.compile(rf"<(?=[{first}!])(?:({alternatives})(?=[\s/>])|(!--))", re.I)
        cached = _start_cache = (tables.generation, pattern)
    return cached[1]


