"""HTML discovery: embed constructs and image URLs with exact offsets into the article text (the
images are read by the base class, ``html_images.HtmlImages``).

A tree parser gives no cheap character offsets and is slow, so this is a linear scanner: one
regex finds the opening tags that matter, the HTML tokenizer's own rules (``tokens.py``) say where
each tag, comment and raw-text element ends, and matching close tags come from one pass per tag
name. A tag found inside another tag's attribute, a comment or raw text is not a tag, and no span
begins or ends inside a token (``tokens.Boundaries``), so a rewrite never leaves half a tag behind,
however malformed the markup (``</blockquote to <a href=x>`` is one end tag, as browsers read it).
Every search is bounded or consumes what it scans, so hostile markup costs time linear in its length.

The scanner knows no platform: blockquote and div classes, AMP elements, iframe and script
attributes come from the provider modules (``constructs.current()``), whose readers get the
scanner and add what they find with ``HtmlScanner.add``. Iframes, WordPress blocks and figures need
no reader: the post URL they carry is enough.
"""

from __future__ import annotations

import bisect
import html
import re
from collections.abc import Callable

from archiver import foreign_json
from archiver.discover import constructs, elements
from archiver.discover.common import clean_text, merge_ranges
from archiver.discover.html_images import IMAGE_ELEMENTS, HtmlImages
from archiver.discover.model import Embed, ImageRef
from archiver.discover.readers import shown_post, unclassed_blockquote
from archiver.discover.tags import Block, Tag, links, parse_attrs
from archiver.discover.tokens import RAW_TEXT, WS, Boundaries, comment_end, raw_text_end, tag_body, tag_end
from archiver.discover.urls import PostMatch, handle_in_url, match_post_url
from archiver.lazyre import lazy

# The tags every article is scanned for; the providers' AMP elements are added (`_start`).
_TAGS = (*IMAGE_ELEMENTS, "source", "meta", "base", *RAW_TEXT, "plaintext", "blockquote", "figure", "amp-iframe")
_start_cache: tuple[int, re.Pattern[str]] | None = None
_WP_OPEN = lazy(r"<!--\s*wp:(embed|core-embed/[\w-]{1,40})\s+(\{.*\})\s*/?-->", re.S)
_TRAIL_SCRIPT_OPEN = re.compile(r"[\t\n\f\r ]{0,200}<script(?=[\t\n\f\r />])", re.I)
_TRAIL_SCRIPT_CLOSE = lazy(r"[\t\n\f\r ]{0,100}</script(?=[\t\n\f\r />])", re.I)
_A_CLOSE = lazy(r"</a(?=[\t\n\f\r />])", re.I)
_EMBED_SCRIPT = lazy(
    r"""src\s*=\s*["']?[^"'\s>]{0,300}/(?:widgets|embeds?|platform)\.js""", re.I
)
_A_OPEN_ANY = lazy(r"<a(?=[\t\n\f\r />])", re.I)
# The tags of elements whose content is not article text where a card could stand: code samples
# (shown as code), <template> (inert, never shown, unless it is a declarative shadow root), SVG and
# MathML (foreign content: <desc>, <title>, <text> are a drawing's), form controls' option lists,
# and the fallback content of media and canvas elements (searched in the lower-case text: fast;
# case-blind as a fallback).
_CODE_MARK_SRC = (
    r"<(/?)(pre|code|samp|kbd|listing|template|svg|math|select|datalist|audio|video|canvas)(?=[\t\n\f\r />])"
)
_SHADOW_ROOT = lazy(r"[\t\n\f\r /]shadowroot(?:mode)?[\t\n\f\r /=>]", re.I)
_CODE_MARK, _CODE_MARK_ANY_CASE = re.compile(_CODE_MARK_SRC), re.compile(_CODE_MARK_SRC, re.I)
_LINK_SPAN = 20_000  # the longest link text looked through for an embed (a link is a line or two)
_P_OPEN = re.compile(rf"<p(?=[\t\n\f\r />]){tag_body(1000)}>", re.I)
# Any start or end tag's opening, its name in group 2 (`_content_end`).
_TAG_MARK = re.compile(r"<(/?)([A-Za-z][^\t\n\f\r />]*+)")
_OWN_PARSING = frozenset({"template", "select"})
# Elements that have no end tag (a "/>" on any other is ignored, as browsers ignore it).
_VOID_ELEMENTS = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param",
    "source", "track", "wbr",
})
_URL_IN = lazy(r"""https?://[^\s<>"']{1,2000}""")
# Embed services that render a card of any URL, by the class their markup carries (`_card_services`).
CARD_SERVICE_CLASSES = frozenset({"embedly-card", "iframely-embed"})
_CARD_SERVICE = lazy(r"<(blockquote|div|a|figure|span)(?=[\t\n\f\r />])[^<>]{0,2000}?(?:embedly-card|iframely-embed)",
                     re.I)
_MAX_CARD_LINKS = 20
# Elements of one construct nested in each other (a blockquote of an embed class inside another,
# thousands deep in hostile markup) are each read over their whole content, which made reading them
# quadratic. An element is not read when `_MAX_NESTED_EMBEDS` elements of its kind around it were read
# and each became an embed covering it (its own embed would be folded into theirs, and their reads
# covered its markup), nor when `_MAX_NESTED_READS` around it were read at all (``_read_nested``).
_MAX_NESTED_EMBEDS = 2
_MAX_NESTED_READS = 8


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
        # Which offsets lie between the tokens a browser reads (tags, comments, raw text).
        self.bounds = Boundaries(text)
        self._pairs: dict[str, dict[int, tuple[int, int]]] = {}
        self._closers: dict[str, list[tuple[int, int]]] = {}
        self._figures: tuple[list[int], list[tuple[int, int]]] | None = None
        self._figure_credit: dict[int, str | None] = {}
        self._figure_searches = []  # html_images: the figure credit searches, in the order made
        self._read_tags: list[tuple[int, int]] = []  # image elements read (html_images.HtmlImages)
        self._attributes_read = False
        self.constructs = constructs.current()
        self._low: str | None = None
        # Per construct kind: (element end, whether an embed covering it was added) of the elements
        # read that are still open at the scan's position (`_read_nested`).
        self._reads: dict[str, list[tuple[int, bool]]] = {}
        self._next_tag: dict[str, re.Pattern[str]] = {}

    # --- tokenizing ---------------------------------------------------------------------
    def _tag(self, name: str, start: int, body: int) -> Tag | None:
        """The tag at `start` whose name ends at `body`; None (and the scan stops) when it never ends:
        an unterminated tag swallows the rest of the document."""
        end = tag_end(self.text, body)
        if end is None:
            self._stop = True
            return None
        return Tag(name, start, end, parse_attrs(self.text, body, end))

    def _pair_map(self, name: str) -> dict[int, tuple[int, int]]:
        """Open-tag start -> (close start, close end) for `name`, nesting matched with a stack; only
        real tags count (not one inside another tag, a comment or raw text), and an end tag runs to
        its ">" whatever it holds."""
        found = self._pairs.get(name)
        if found is None:
            found = {}
            stack: list[int] = []
            for m in re.finditer(rf"<(/?){re.escape(name)}(?=[\t\n\f\r />])", self.text, re.I):
                if self.bounds.token_at(m.start()) is not None:
                    continue
                if not m.group(1):
                    stack.append(m.start())
                elif stack:
                    end = tag_end(self.text, m.end())
                    if end is None:
                        break
                    found[stack.pop()] = (m.start(), end)
            self._pairs[name] = found
        return found

    def element_end(self, tag: Tag) -> tuple[int, int]:
        """(inner end, element end) of the element opened by `tag`; bounded guess if never closed."""
        pair = self._pair_map(tag.name).get(tag.start)
        if pair:
            return pair
        stop = min(self.n, tag.end + 20000)
        pattern = self._next_tag.get(tag.name)
        if pattern is None:
            pattern = self._next_tag[tag.name] = re.compile(rf"<{re.escape(tag.name)}(?=[\t\n\f\r />])", re.I)
        nxt = pattern.search(self.text, tag.end, stop)
        stop = nxt.start() if nxt else stop
        end = tag.end
        for m in _A_CLOSE.finditer(self.text, tag.end, stop):  # the last real </a> before it
            close = tag_end(self.text, m.end())
            if close is not None and close <= stop and self.bounds.token_at(m.start()) is None:
                end = close
        return end, end

    def run(self) -> None:
        text, pos = self.text, 0
        start = _start(self.constructs)
        while not self._stop:
            m = start.search(text, pos)
            if not m:
                break
            inside = self.bounds.token_at(m.start())
            if inside is not None:  # in another tag's attribute, a comment or raw text: not a tag
                pos = inside[1]
                continue
            if m.group(2):
                pos = self._comment(m.start())
                continue
            tag = self._tag(m.group(1).lower(), m.start(), m.end())
            if tag is None:
                pos = m.end()
                continue
            pos = self._dispatch(tag)
        candidate = self.constructs.div_candidate
        for m in candidate.finditer(text) if candidate is not None else ():
            if text[m.start() + 4] not in WS + "/>" or self.bounds.token_at(m.start()) is not None:
                continue
            tag = self._tag("div", m.start(), m.start() + 4)
            if tag is None:
                break
            self._div(tag)
        self._card_services()
        elements.find(self)  # any other element carrying a post, once the fixed forms are read

    def lower(self) -> str:
        """The text in lower case (same offsets), made once; "" when lower-casing changes the length
        (a dotted capital I), so callers fall back to case-blind regexes."""
        if self._low is None:
            low = self.text.lower()
            self._low = low if len(low) == self.n else ""
        return self._low

    def not_shown_as_code_or_link(self, embeds: list[Embed]) -> list[Embed]:
        """``embeds`` without those that begin inside a code sample (``<pre>``, ``<code>``, ``<samp>``,
        ``<kbd>``, ``<listing>``), content that is never shown as article text (``<template>``, SVG and
        MathML, ``<select>``/``<datalist>`` options, ``<audio>``/``<video>``/``<canvas>`` fallback) or
        the text of a link (``<a>`` to its ``</a>``): a card must never be put there (raw text, comments
        and attribute values hold no embed already)."""
        if not embeds:
            return embeds
        code = self._code_ranges()
        kept, link = [], (-1, -1)
        prev = 0
        for e in sorted(embeds, key=lambda e: e.start):
            if code and inside_ranges(code, e.start):
                continue
            if not link[0] < e.start < link[1]:
                link = self._link_around(e.start, prev)
            prev = e.start
            if not link[0] < e.start < link[1]:
                kept.append(e)
        return kept

    def _real(self, pos: int, name_len: int) -> bool:
        """Whether a "<name" or "</name" found at ``pos`` is a tag (name ends there; not inside a token)."""
        nxt = pos + name_len
        return (nxt >= self.n or self.text[nxt] in WS + "/>") and self.bounds.token_at(pos) is None

    def _code_ranges(self) -> list[tuple[int, int]]:
        """Sorted, merged (start, end) of the code-sample and not-shown elements (``_CODE_MARK``); a
        ``<template shadowrootmode>`` is shown (a declarative shadow root), so it is none."""
        low = self.lower()
        spans: list[tuple[int, int, str]] = []
        stacks: dict[str, list[int]] = {}
        for m in _CODE_MARK.finditer(low) if low else _CODE_MARK_ANY_CASE.finditer(self.text):
            if self.bounds.token_at(m.start()) is not None:
                continue
            name = m.group(2).lower()
            stack = stacks.setdefault(name, [])
            if not m.group(1):
                shown = False
                if name == "template":
                    end = tag_end(self.text, m.end())
                    shown = end is not None and _SHADOW_ROOT.search(self.text, m.end() - 1, end) is not None
                stack.append(-1 if shown else m.start())
            elif stack:
                end = tag_end(self.text, m.end())
                opening = stack.pop()
                if opening >= 0:
                    spans.append((opening, end if end is not None else self.n, name))
        return merge_ranges(self._closed_early(spans))

    def _closed_early(self, spans: list[tuple[int, int, str]]) -> list[tuple[int, int]]:
        """``spans`` (start, end, name of elements paired with their end tags) ended where a browser
        ends them (`_content_end`): a ``<code>`` left open in a paragraph stops at its ``</p>``, not
        at a later ``</code>``. An element inside one already read ends within it, so it is not
        walked again (each stretch of the text is walked once). A template's content and a select's
        options are parsed apart (stray end tags in them are ignored) and keep their end tags."""
        out: list[tuple[int, int]] = []
        covered = -1
        for start, end, name in sorted(spans):
            if start < covered:
                continue
            body = tag_end(self.text, start + 1 + len(name)) if name not in _OWN_PARSING else None
            close = self._content_end(name, body, end) if body is not None else -1
            out.append((start, close if close >= 0 else end))
            covered = out[-1][1]
        return out

    def _link_around(self, pos: int, lo: int) -> tuple[int, int]:
        """(start, end) of the <a> element whose text holds ``pos``, looking for its start tag no
        further back than ``lo`` (the previous embed: an <a> around both was found for that one) nor
        than ``_LINK_SPAN``; (-1, -1) when there is none."""
        low = self.lower()
        lo = max(lo, pos - _LINK_SPAN)
        if not low:
            opening = -1
            for m in _A_OPEN_ANY.finditer(self.text, lo, pos):
                if self.bounds.token_at(m.start()) is None:
                    opening = m.start()
        else:
            opening = low.rfind("<a", lo, pos)
            while opening >= 0 and not self._real(opening, 2):
                opening = low.rfind("<a", lo, opening)
        body = tag_end(self.text, opening + 2) if opening >= 0 else None
        if body is None or body > pos:
            return -1, -1
        close = self._content_end("a", body, min(self.n, pos + _LINK_SPAN))
        if close < pos:
            return -1, -1  # closed before it, or no end within reach: not a link around it
        end = tag_end(self.text, close + 3) if _A_CLOSE.match(self.text, close) else close
        return opening, end if end is not None else self.n

    def _content_end(self, name: str, pos: int, stop: int) -> int:
        """Where the content of the element ``name`` whose start tag ends at ``pos`` ends, as a browser's
        tree builder closes it, looking no further than ``stop``: at its own end tag, at the end tag of
        an element opened before it (``</p>`` closes the ``<a>`` or ``<code>`` left open in it: so an
        unclosed inline element never runs over the next block), or, for a link, at the next ``<a>``
        (links do not nest). The start of that tag; -1 when there is none before ``stop``. Tags inside
        other tokens (attribute values, comments, raw text) are not tags."""
        text, bounds = self.text, self.bounds
        opened: dict[str, int] = {}
        i = pos
        while True:
            m = _TAG_MARK.search(text, i, stop)
            if m is None:
                return -1
            inside = bounds.token_at(m.start())
            if inside is not None:
                i = inside[1]
                continue
            i = m.end()
            tag = m.group(2).lower()
            if tag in _VOID_ELEMENTS:
                continue
            if not m.group(1):
                if tag == name == "a":
                    return m.start()
                opened[tag] = opened.get(tag, 0) + 1
            elif opened.get(tag):
                opened[tag] -= 1
            else:
                return m.start()  # its own end tag, or one that closes an element around it

    def _dispatch(self, tag: Tag) -> int:
        name = tag.name
        if name in RAW_TEXT or name == "plaintext":
            # Raw text runs to the element's own end tag (plaintext: to the end of the document).
            close = raw_text_end(self.text, name, tag.end) if name != "plaintext" else None
            inner_end, end = close if close else (self.n, self.n)
            self.raw_regions.append((tag.start, end))
            if name == "script":
                self._script(tag, inner_end, end)
            elif name == "iframe":
                self._iframe(tag, end if close else None)
            return end
        if name in IMAGE_ELEMENTS:
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
        elif name == "figure":
            self._figure(tag)
        elif name == "amp-iframe":
            found = shown_post([tag.get("src")])
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
        end = self._trailing_script(end)
        embed = Embed(provider=provider, post_id=post_id, url=url, start=start, end=end, form=form)
        for key, value in fields.items():
            if value:
                setattr(embed, key, value)
        if self.bounds.token_at(start) is None and self.bounds.token_at(end) is None:
            self.embeds.append(embed)  # else it would cut a tag, a comment or raw text: not kept
        return embed

    def _trailing_script(self, end: int) -> int:
        """`end`, or the end of the platform's embed script right after it (only white space between)."""
        m = _TRAIL_SCRIPT_OPEN.match(self.text, end)
        if not m:
            return end
        body_end = tag_end(self.text, m.end())
        if body_end is None or body_end - m.end() > 1000 or not _EMBED_SCRIPT.search(self.text, m.end(), body_end):
            return end
        close = _TRAIL_SCRIPT_CLOSE.match(self.text, body_end)
        close_end = tag_end(self.text, close.end()) if close else None
        return close_end if close_end is not None else end

    def _comment(self, start: int) -> int:
        end = comment_end(self.text, start)
        if end is None:
            self.raw_regions.append((start, self.n))
            self._stop = True
            return self.n
        self.raw_regions.append((start, end))
        if "wp:" in self.text[start + 4:start + 16]:
            self._wp_block(start, end)
        return end

    def _wp_block(self, start: int, end: int) -> None:
        m = _WP_OPEN.fullmatch(self.text, start, end)
        if not m:
            return
        try:
            data = foreign_json.loads(m.group(2))
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
            closers = [(c.start(), c.end()) for c in pat.finditer(self.text) if self.bounds.token_at(c.start()) is None]
            self._closers[block] = closers
        i = bisect.bisect_left(closers, (end, 0))
        close_end = closers[i][1] if i < len(closers) else end
        self.add(found, found[0], start, close_end, "wp-block", handle=handle_in_url(found))

    def _read_nested(self, kind: str, tag: Tag, end: int, read: Callable[[], None]) -> None:
        """Call ``read`` for the element of construct ``kind`` from ``tag`` to ``end``, unless it lies
        inside ``_MAX_NESTED_EMBEDS`` elements of that kind already read that each became an embed
        covering it, or inside ``_MAX_NESTED_READS`` read ones in all: reading a deeper one would cost
        its whole content again (quadratic in the nesting depth) and find nothing an outer read did not
        (its embed would lie inside theirs, folded into the outermost one by ``scan.fold_nested``).
        Elements of one kind come in document order."""
        reads = self._reads.setdefault(kind, [])
        while reads and reads[-1][0] <= tag.start:
            reads.pop()
        if len(reads) >= _MAX_NESTED_READS or sum(covered for _, covered in reads) >= _MAX_NESTED_EMBEDS:
            return
        before = len(self.embeds)
        read()
        covered = any(e.start <= tag.start and end <= e.end for e in self.embeds[before:])
        reads.append((end, covered))

    def _blockquote(self, tag: Tag) -> None:
        classes = tag.classes()
        reader = next((r for c, (_, r) in self.constructs.blockquotes.items() if c in classes), None)
        if reader is None:
            unclassed_blockquote(self, tag)
            return
        inner_end, end = self.element_end(tag)
        self._read_nested("blockquote", tag, end, lambda: reader(
            self, Block(tag, tag.end, inner_end, end, links(self.text, tag.end, inner_end))))

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

    def _iframe(self, tag: Tag, end: int | None) -> None:
        """An iframe naming a post; `end` is where its end tag ends (None: it has none)."""
        found = shown_post([tag.get("src"), tag.get("data-src"), tag.get("data-lazy-src")])
        for attr, read in self.constructs.iframe_ids:
            if found:
                break
            value = tag.get(attr)
            found = read(value) if value else None
        if not found:
            return
        self.add(found, found[0], tag.start, end if end is not None else tag.end, "iframe", handle=handle_in_url(found))

    def _div(self, tag: Tag) -> None:
        classes = tag.classes()
        reader = next((r for c, r in self.constructs.divs.items() if c in classes), None)
        if reader is not None:
            self._read_nested("div", tag, self.element_end(tag)[1], lambda: reader(self, tag))

    def _card_services(self) -> None:
        """Cards of an embed service that renders any URL (Embedly's ``embedly-card``, Iframely's
        ``iframely-embed``; Medium, Ghost and many CMSes write them): an element of that class whose
        link (its own href, or the first link inside it naming a post) is a post URL of a known
        provider, standing as its own block (not a link inside a sentence), is that post's embed, the
        service's script after it included."""
        low = self.lower()
        if not any(c in (low or self.text.lower()) for c in CARD_SERVICE_CLASSES):
            return
        for m in _CARD_SERVICE.finditer(self.text):
            if self.bounds.token_at(m.start()) is not None:
                continue
            tag = self._tag(m.group(1).lower(), m.start(), m.end(1))
            if tag is None:
                return
            if not tag.classes() & CARD_SERVICE_CLASSES:
                continue
            inner_end, end = self.element_end(tag)
            self._read_nested("card-service", tag, end, lambda t=tag, i=inner_end, e=end: self._card(t, i, e))

    def _card(self, tag: Tag, inner_end: int, end: int) -> None:
        """One element of an embed service's class (`_card_services`), ``end`` where it ends."""
        hrefs = [tag.get("href") or ""] + [link.href for link in links(self.text, tag.end, inner_end)]
        found = next((f for f in map(match_post_url, hrefs[:_MAX_CARD_LINKS]) if f and f[1]), None)
        if found and elements.stands_alone(self, tag.start, end):
            self.add(found, found[0], tag.start, end, "card-service", handle=handle_in_url(found))

    def _figure(self, tag: Tag) -> None:
        classes = tag.classes()
        if "wp-block-embed" not in classes and not any(c.startswith("wp-block-embed-") for c in classes):
            return
        inner_end, end = self.element_end(tag)
        self._read_nested("figure", tag, end, lambda: self._figure_url(tag, inner_end, end))

    def _figure_url(self, tag: Tag, inner_end: int, end: int) -> None:
        """A WordPress embed figure (`_figure`): the first URL in it, when it is a post's."""
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

def inside_ranges(ranges: list[tuple[int, int]], pos: int) -> bool:
    """Whether ``pos`` lies strictly inside one of the sorted, non-overlapping ``ranges``."""
    i = bisect.bisect_right(ranges, (pos, 1 << 62)) - 1
    return i >= 0 and ranges[i][0] < pos < ranges[i][1]


def _start(tables: constructs.Constructs) -> re.Pattern[str]:
    """The opening tags the scanner stops at: `_TAGS` and the providers' AMP elements."""
    global _start_cache
    cached = _start_cache
    if cached is None or cached[0] != tables.generation:
        names = [*_TAGS, *(t for t in tables.amp if t not in _TAGS)]
        # The lookahead on the first letter lets the engine skip the many other tags cheaply.
        first = "".join(sorted({c for n in names for c in (n[0].lower(), n[0].upper())}))
        alternatives = "|".join(re.escape(n) for n in names)
        pattern = re.compile(rf"<(?=[{first}!])(?:({alternatives})(?=[\t\n\f\r />])|(!--))", re.I)
        cached = _start_cache = (tables.generation, pattern)
    return cached[1]


