"""HTML discovery: embed constructs and image URLs with exact offsets into the article text.

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
from collections.abc import Callable
from dataclasses import dataclass

from archiver.discover import constructs
from archiver.discover.common import (
    clean_text,
    credit_from_alt,
    credit_from_caption,
    is_image_candidate,
    last_dash,
    resolve,
)
from archiver.discover.model import Embed, ImageRef
from archiver.discover.urls import PostMatch, handle_in_url, match_post_url

# The tags every article is scanned for; the providers' AMP elements are added (`_start`).
_TAGS = ("img", "amp-img", "source", "iframe", "meta", "base", "script", "style", "textarea", "title", "xmp",
         "blockquote", "figure", "amp-iframe")
_start_cache: tuple[int, re.Pattern[str]] | None = None
_TAG_BODY = re.compile(r"""(?:[^>"']++|"[^"]*+"|'[^']*+')*+>""")
_ATTR = re.compile(r"""([^\s"'>/=][^\s"'>/=]*+)(?:\s*+=\s*+(?:"([^"]*+)"|'([^']*+)'|([^\s"'=<>`]++)))?""")
_TAG_WINDOW = 32768
_RAW_CLOSE = {
    name: re.compile(rf"</{name}\s*>", re.I) for name in ("script", "style", "textarea", "title", "xmp")
}
_WP_OPEN = re.compile(r"<!--\s*wp:(embed|core-embed/[\w-]{1,40})\s+(\{.*\})\s*/?-->", re.S)
_TRAIL_SCRIPT = re.compile(r"\s{0,200}<script\b([^<>]{0,1000})>\s{0,100}</script\s*>", re.I)
_EMBED_SCRIPT = re.compile(
    r"""src\s*=\s*["']?[^"'\s>]{0,300}/(?:widgets|embeds?|platform)\.js""", re.I
)
_A_OPEN = re.compile(r"<a\b([^<>]{0,3000})>", re.I)
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'<>]+))""", re.I)
_P_OPEN = re.compile(r"<p\b[^<>]{0,1000}>", re.I)
_DASHES = ("—", "â€”", "&mdash;", "―")
_FIGCAPTION = re.compile(r"<figcaption\b[^<>]{0,2000}>(.{0,4000}?)</figcaption", re.I | re.S)
_CREDIT_EL = re.compile(
    r"""<(span|p|div|small|cite|em)\b[^<>]{0,500}?\bclass\s*=\s*["']?[^"'<>]{0,200}?credit[^<>]{0,500}>"""
    r"""(.{0,600}?)</\1\s*>""",
    re.I | re.S,
)
_URL_IN = re.compile(r"""https?://[^\s<>"']{1,2000}""")
_JSON_STRING = re.compile(r'"((?:[^"\\]++|\\.)*+)"(\s*+:)?', re.S)
_LD_KEY_FALLBACK = re.compile(r'"(?:image|thumbnailUrl|contentUrl)"\s*+:\s*+\[?\s*+"([^"\\]{1,4000})"')

_LAZY_SRC = (
    "data-src", "data-lazy-src", "data-original", "data-lazy", "data-url", "data-hi-res-src",
    "data-full-src", "data-orig-src", "data-echo", "data-pagespeed-lazy-src",
)
_LAZY_SRCSET = ("data-srcset", "data-lazy-srcset", "data-original-set")
_META_IMAGE = {
    "og:image": "og:image", "og:image:url": "og:image", "og:image:secure_url": "og:image",
    "twitter:image": "twitter:image", "twitter:image:src": "twitter:image",
}

Attrs = dict[str, tuple[str, int, int]]  # name -> (raw value, value start, value end)


@dataclass
class Tag:
    name: str
    start: int
    end: int
    attrs: Attrs

    def get(self, name: str) -> str | None:
        """Attribute value with entities decoded, or None."""
        found = self.attrs.get(name)
        return html.unescape(found[0]) if found is not None else None

    def classes(self) -> set[str]:
        return set((self.get("class") or "").lower().split())


@dataclass
class Link:
    """A link inside an embed: its href (entities decoded) and the raw markup between <a> and </a>."""

    href: str
    anchor: str


@dataclass
class Block:
    """A blockquote embed being read: its open tag, its inner markup text[inner_start:inner_end], where
    the element ends, and the links inside."""

    tag: Tag
    inner_start: int
    inner_end: int
    end: int
    links: list[Link]

    @property
    def hrefs(self) -> list[str | None]:
        return [link.href for link in self.links]


def parse_attrs(text: str, start: int, end: int) -> Attrs:
    """Attributes of the tag body text[start:end]; the first of a repeated name wins (as in HTML)."""
    attrs: Attrs = {}
    for m in _ATTR.finditer(text, start, end):
        name = m.group(1).lower()
        if name in attrs:
            continue
        for g in (2, 3, 4):
            if m.group(g) is not None:
                attrs[name] = (m.group(g), m.start(g), m.end(g))
                break
        else:
            attrs[name] = ("", m.end(1), m.end(1))
    return attrs


def parse_srcset(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Spans of the candidate URLs in text[start:end], by the HTML spec's srcset algorithm:
    a URL runs to whitespace (trailing commas dropped); descriptors run to a comma outside
    parentheses. So commas inside URLs (Cloudinary `c_scale,w_480`) stay in the URL."""
    spans: list[tuple[int, int]] = []
    i = start
    while i < end:
        while i < end and (text[i] in " \t\n\r\f,"):
            i += 1
        if i >= end:
            break
        j = i
        while j < end and text[j] not in " \t\n\r\f":
            j += 1
        url_end = j
        if text[j - 1] == ",":
            while url_end > i and text[url_end - 1] == ",":
                url_end -= 1
        else:
            depth = 0
            while j < end:
                c = text[j]
                if c == "(":
                    depth += 1
                elif c == ")" and depth:
                    depth -= 1
                elif c == "," and not depth:
                    break
                j += 1
        if url_end > i:
            spans.append((i, url_end))
        i = j + 1 if j < end else end
    return spans


def links(text: str, start: int, end: int) -> list[Link]:
    """The links (<a href>) in text[start:end]."""
    out = []
    for m in _A_OPEN.finditer(text, start, end):
        h = _HREF.search(m.group(1))
        if not h:
            continue
        href = html.unescape(h.group(1) or h.group(2) or h.group(3) or "")
        close = text.find("</a", m.end(), min(end, m.end() + 2000))
        out.append(Link(href, text[m.end():close] if close >= 0 else ""))
    return out


def parse_attribution(plain: str, handle_re: re.Pattern[str]) -> tuple[str, str, int] | None:
    """"— Name (@handle)" in plain text: (author, handle, end offset) for the first one found;
    ``handle_re`` finds "(@handle)" with the handle in group 1."""
    for m in handle_re.finditer(plain):
        best, width = last_dash(plain, max(0, m.start() - 200), m.start(), _DASHES)
        if best < 0:
            continue
        author = plain[best + width:m.start()].strip()
        if author and "\n" not in author:
            return author, m.group(1), m.end()
    return None


def post_from(values: list[str | None], provider: str | None = None) -> PostMatch | None:
    """The first of ``values`` that is a post URL (of ``provider``, when given)."""
    for value in values:
        if value:
            found = match_post_url(value)
            if found and (provider is None or found[0] == provider):
                return found
    return None


class HtmlScanner:
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

    # --- images -----------------------------------------------------------------------
    def _image(self, raw: str, start: int, end: int, form: str, alt: str | None, credit: str | None,
               decode: bool = True) -> None:
        url = html.unescape(raw).strip() if decode else raw.strip()
        if not is_image_candidate(url):
            return
        self.images.append(ImageRef(url=url, start=start, end=end, alt=alt, credit=credit, form=form))

    def _srcset(self, tag: Tag, attr: str, form: str, alt: str | None) -> None:
        found = tag.attrs.get(attr)
        if not found:
            return
        credit = self._credit(tag.start, alt)
        for s, e in parse_srcset(self.text, found[1], found[2]):
            self._image(self.text[s:e], s, e, form, alt, credit)

    def _img(self, tag: Tag) -> None:
        if _is_pixel(tag):
            return
        alt = tag.get("alt")
        alt = clean_text(alt) if alt else None
        credit = self._credit(tag.start, alt)
        lazy = [a for a in _LAZY_SRC if a in tag.attrs and is_image_candidate(tag.get(a) or "")]
        for attr in lazy or ["src"]:
            found = tag.attrs.get(attr)
            if found and found[0].strip():
                s, e = _trimmed(self.text, found[1], found[2])
                self._image(self.text[s:e], s, e, "img-src" if attr == "src" else attr, alt, credit)
        lazy_sets = [a for a in _LAZY_SRCSET if a in tag.attrs]
        for attr in lazy_sets or ["srcset"]:
            self._srcset(tag, attr, attr, alt)

    def _meta(self, tag: Tag) -> None:
        key = (tag.get("property") or tag.get("name") or "").strip().lower()
        form = _META_IMAGE.get(key) or ("meta" if (tag.get("itemprop") or "").lower() == "image" else None)
        found = tag.attrs.get("content")
        if form and found:
            s, e = _trimmed(self.text, found[1], found[2])
            self._image(self.text[s:e], s, e, form, None, None)

    def _json_ld(self, start: int, end: int) -> None:
        wanted: set[str] = set()
        try:
            _collect_ld(json.loads(self.text[start:end]), wanted, 0)
        except (ValueError, RecursionError):
            for m in _LD_KEY_FALLBACK.finditer(self.text, start, end):
                self._image(m.group(1), m.start(1), m.end(1), "json-ld", None, None, decode=False)
            return
        if not wanted:
            return
        for m in _JSON_STRING.finditer(self.text, start, end):
            if m.group(2):
                continue
            raw = m.group(1)
            try:
                value = json.loads(f'"{raw}"') if "\\" in raw else raw
            except ValueError:
                continue
            if value in wanted:
                self._image(value, m.start(1), m.end(1), "json-ld", None, None, decode=False)

    def _credit(self, pos: int, alt: str | None) -> str | None:
        return self._credit_of_figure(pos) or credit_from_alt(alt)

    def _credit_of_figure(self, pos: int) -> str | None:
        if self._figures is None:
            pairs = sorted((s, c[1]) for s, c in self._pair_map("figure").items())
            self._figures = ([p[0] for p in pairs], pairs)
        starts, pairs = self._figures
        i = bisect.bisect_right(starts, pos) - 1
        for j in range(i, max(-1, i - 8), -1):
            fs, fe = pairs[j]
            if fe > pos:
                if fs not in self._figure_credit:
                    self._figure_credit[fs] = self._figure_text_credit(fs, fe)
                return self._figure_credit[fs]
        return None

    def _figure_text_credit(self, start: int, end: int) -> str | None:
        end = min(end, start + 200_000)
        m = _CREDIT_EL.search(self.text, start, end)
        if m:
            return clean_text(m.group(2)) or None
        cap = _FIGCAPTION.search(self.text, start, end)
        return credit_from_caption(clean_text(cap.group(1))) if cap else None

    # --- results ----------------------------------------------------------------------
    def resolved_images(self) -> list[ImageRef]:
        base = self.base_url
        if self.base_href:
            base = resolve(html.unescape(self.base_href), self.base_url)
        for image in self.images:
            image.url = resolve(image.url, base)
        return [i for i in self.images if is_image_candidate(i.url)]


def _collect_ld(node: object, out: set[str], depth: int) -> None:
    """Image URLs in a JSON-LD document: `image` values (string, list, ImageObject, @list),
    `thumbnailUrl`, and `url`/`contentUrl` of ImageObject nodes anywhere (also in @graph)."""
    if depth > 40:
        return
    if isinstance(node, list):
        for item in node:
            _collect_ld(item, out, depth + 1)
        return
    if not isinstance(node, dict):
        return
    types = node.get("@type")
    types = types if isinstance(types, list) else [types]
    if "ImageObject" in types:
        for key in ("url", "contentUrl"):
            if isinstance(node.get(key), str):
                out.add(node[key])
    for key, value in node.items():
        if key in ("image", "thumbnailUrl", "@list") and depth < 40:
            _collect_image_values(value, out, depth + 1)
        elif isinstance(value, dict | list):
            _collect_ld(value, out, depth + 1)


def _collect_image_values(value: object, out: set[str], depth: int) -> None:
    if isinstance(value, str):
        out.add(value)
    elif isinstance(value, list):
        for item in value:
            _collect_image_values(item, out, depth + 1)
    elif isinstance(value, dict):
        if isinstance(value.get("url"), str):
            out.add(value["url"])
        if isinstance(value.get("contentUrl"), str):
            out.add(value["contentUrl"])
        _collect_ld(value, out, depth + 1)


def _is_pixel(tag: Tag) -> bool:
    w, h = (tag.get("width") or "").strip(), (tag.get("height") or "").strip()
    return w in ("0", "1", "1px") and h in ("0", "1", "1px")


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


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


def social_blockquote(scan: HtmlScanner, block: Block, found: PostMatch | None, provider: str,
                      handle_re: re.Pattern[str]) -> None:
    """Read the common blockquote shape: the post's text in the first <p>, then "— Name (@handle)"
    (``handle_re`` finds "(@handle)") and the date as the last link."""
    body, after = scan.first_paragraph(block.inner_start, block.inner_end)
    attribution = parse_attribution(clean_text(scan.text[after:block.inner_end]), handle_re)
    scan.add(found, provider, block.tag.start, block.end, "blockquote", text=body,
             author=attribution[0] if attribution else None,
             handle=attribution[1] if attribution else handle_in_url(found),
             date=clean_text(block.links[-1].anchor) if block.links else None)


def permalink_blockquote(provider: str, attr: str) -> Callable[[HtmlScanner, Block], None]:
    """A reader for blockquotes that name their post in ``attr`` (or a link) and show nothing more
    worth reading; the handle comes from the post URL."""

    def read(scan: HtmlScanner, block: Block) -> None:
        found = post_from([block.tag.get(attr), *block.hrefs], provider)
        scan.add(found, provider, block.tag.start, block.end, "blockquote", handle=handle_in_url(found))

    return read


def amp_reader(attr: str, to_post: Callable[[str], PostMatch | None]) -> Callable[[HtmlScanner, Tag], None]:
    """A reader for an AMP element naming its post in ``attr`` (``to_post`` reads the value)."""

    def read(scan: HtmlScanner, tag: Tag) -> None:
        found = to_post(tag.get(attr) or "")
        if found:
            scan.add_element(tag, found, "amp")

    return read
