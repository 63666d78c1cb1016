"""The image half of the HTML scanner: image elements (<img>, <amp-img>, <amp-anim>: src, every
lazy-loading attribute and srcset, each one an occurrence), <source srcset>, og:image and
twitter:image meta tags, JSON-LD image values, and the photo credit of the figure (or alt text)
around each image. Every span covers the URL exactly as written.

Images written elsewhere are found by one rule over every element (``_attribute_images``): a
``style`` attribute's and a ``<style>`` block's CSS ``url()``/``image-set()``; ``poster`` (and
``poster-*``); a ``src``/``*-src`` or ``data-*`` attribute, an ``<a>``/``<area>`` ``href`` and a legacy
``background`` whose value is an image URL by itself (``common.looks_like_image_url``: an image
extension, an image format query, a known image CDN path); any ``*srcset`` attribute, and a data-*
value written as a srcset. Not images: text (URLs in <pre>, <code>, prose), comments, script and
other raw text, <link> and <script> tags, data: URIs, SVG sprite fragments.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from archiver import foreign_json
from archiver.discover import css
from archiver.discover.common import (
    IMAGE_CDNS,
    clean_text,
    credit_from_alt,
    credit_from_caption,
    is_image_candidate,
    looks_like_image_url,
    resolve,
    unescape_attr,
)
from archiver.discover.model import ImageRef
from archiver.discover.tags import Tag, parse_attrs, parse_srcset, trimmed
from archiver.discover.tokens import Boundaries, raw_text_end, tag_end
from archiver.lazyre import lazy

_FIGCAPTION = re.compile(r"<figcaption\b[^<>]{0,2000}>(.{0,4000}?)</figcaption", re.I | re.S)
_CREDIT_EL = re.compile(
    r"""<(span|p|div|small|cite|em)\b[^<>]{0,500}?\bclass\s{0,200}=\s{0,200}["']?[^"'<>]{0,200}?credit[^<>]{0,500}>"""
    r"""(.{0,600}?)</\1\s{0,200}>""",
    re.I | re.S,
)
_FIGURE_SCAN = 200_000  # the characters of a figure read for its credit
# The longest match of _CREDIT_EL and of _FIGCAPTION (at least), by the slot their results take in a
# _FigureSearch.
_LONGEST = {2: 3000, 3: 6100}
# A figure's credit searches (`HtmlImages._figure_text_credit`): its window's start and end, then the
# first credit element and the first figcaption in it (None: there is none; _UNSEARCHED: not looked for).
_UNSEARCHED: object = object()
_FigureSearch = tuple[int, int, "re.Match[str] | None", "re.Match[str] | object | None"]
_JSON_STRING = lazy(r'"((?:[^"\\]++|\\.)*+)"(\s*+:)?', re.S)
_LD_KEY_FALLBACK = lazy(r'"(?:image|thumbnailUrl|contentUrl)"\s*+:\s*+\[?\s*+"([^"\\]{1,4000})"')
_LAZY_SRC = (
    "data-src", "data-lazy-src", "data-original", "data-lazy", "data-url", "data-hi-res-src",
    "data-full-src", "data-orig-src", "data-echo", "data-pagespeed-lazy-src",
)
_LAZY_SRCSET = ("data-srcset", "data-lazy-srcset", "data-original-set")
_META_IMAGE = {
    "og:image": "og:image", "og:image:url": "og:image", "og:image:secure_url": "og:image",
    "twitter:image": "twitter:image", "twitter:image:src": "twitter:image",
}
# Elements that are images themselves: their src is an image whatever its URL looks like. Also SVG's
# <image> and <feImage> (href, xlink:href; an HTML parser reads <image src> as <img>) and an image
# button, <input type="image" src> (an <input> of another type is no image element).
IMAGE_ELEMENTS = ("img", "amp-img", "amp-anim", "image", "feimage", "input")
_IMG_OWN = frozenset(("src", "srcset", *_LAZY_SRC, *_LAZY_SRCSET))
_SVG_HREF = ("href", "xlink:href")
_SVG_OWN = _IMG_OWN | frozenset(_SVG_HREF)
# An image element holding only these attributes has no other image to read.
_PLAIN = _IMG_OWN | {"alt", "width", "height", "loading", "decoding", "class", "id", "sizes", "title",
                     "fetchpriority", "layout", "role", "crossorigin", "referrerpolicy"}
# Where an image may be written outside the image elements' own attributes: an image extension, an
# image CDN's host, CSS url()/image-set(). Only what lies inside a start tag (or a <style> element) is
# then read, by the attribute's name and value. (Two patterns, each with a literal first character,
# so the regex engine skips to candidates at memchr speed.)
_HINT_DOT = re.compile(
    r"\.(?:(?:jpe?g|jfif|png|gif|webp|avif|heic|bmp|tiff?|svg)(?![\w-])|"
    + "|".join(re.escape(c if c.startswith(".") else c[c.index("."):])[2:] for c in IMAGE_CDNS) + ")",
    re.I,
)
_HINT_CSS = re.compile(r"\((?<=[uU][rR][lL]\(|[sS][eE][tT]\()")
# A poster is an image whatever its URL looks like: the attribute name is the hint ("poster", or
# "POSTER" as some generators write it), found with str.find (a two-word regex costs 30 times more).
_POSTER_NAMES = ("poster", "POSTER")
# A WordPress block comment with attributes (group 1: the JSON object), and a JSON string in it.
_BLOCK_COMMENT = lazy(r"<!-- wp:[a-z0-9][a-z0-9/_-]{0,100} (\{[^\n]{0,20000}?\}) /?-->")
_BLOCK_STRING = lazy(r'"((?:[^"\\\n]|\\.){1,8192}+)"')
_TAG_NAME = lazy(r"<([A-Za-z][^\t\n\f\r />]*)")
# Tags whose attributes are never images readers see (their URLs are fetched or linked, not shown).
_NOT_SHOWN = frozenset(("script", "link", "meta", "base", "iframe", "frame", "embed", "object", "param",
                        "form", "title", "textarea"))
_HREF_TAGS = frozenset(("a", "area", "image"))
_SRCSET_REST = lazy(r"[\s\d.,wxhWXH]*")
# A candidate's media condition at the end of a lazysizes data-bgset entry: "/a.jpg 480w [(max-width: 480px)]".
_MEDIA_TAIL = lazy(r"\[[^\[\]]{0,2000}\][\t\n\f\r ]*$")


class HtmlImages:
    """Image reading for ``HtmlScanner`` (a base class: it shares the scanner's text and figure pairs)."""

    text: str
    base_url: str | None
    base_href: str | None
    images: list[ImageRef]
    _figures: tuple[list[int], list[tuple[int, int]]] | None
    _figure_credit: dict[int, str | None]
    _figure_searches: list[_FigureSearch]
    # (start, end) of the image elements read by the scan, in document order.
    _read_tags: list[tuple[int, int]]
    _attributes_read: bool

    def _pair_map(self, name: str) -> dict[int, tuple[int, int]]:
        raise NotImplementedError

    def _image(self, raw: str, start: int, end: int, form: str, alt: str | None, credit: str | None,
               decode: bool = True) -> None:
        url = unescape_attr(raw).strip() if decode else raw.strip()
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
        """An image element: its src and every lazy-loading source and srcset are occurrences (a
        low-quality placeholder in src is an image readers see first; a data: URI is none). SVG's
        <image>/<feImage> name theirs with href or xlink:href."""
        if tag.name == "input" and (tag.get("type") or "").strip().lower() != "image":
            return  # not an image button: its attributes go by the general rule
        self._read_tags.append((tag.start, tag.end))  # its other attributes are read here, not again
        if _is_pixel(tag):
            return
        alt = tag.get("alt")
        alt = clean_text(alt) if alt else None
        credit = self._credit(tag.start, alt)
        if not _PLAIN.issuperset(tag.attrs):
            self._tag_images(tag, alt, credit)
        for attr in ("src", *_LAZY_SRC, *(_SVG_HREF if tag.name in ("image", "feimage") else ())):
            found = tag.attrs.get(attr)
            if found and found[0].strip():
                s, e = trimmed(self.text, found[1], found[2])
                self._image(self.text[s:e], s, e, "img-src" if attr == "src" else attr, alt, credit)
        for attr in ("srcset", *_LAZY_SRCSET):
            self._srcset(tag, attr, attr, alt)

    def _attribute_images(self) -> None:
        """Images written outside the image elements' own attributes, by one rule over every element
        (see the module's docstring). Only places holding an image hint are looked at, each tag once,
        so the cost follows the number of hints, not of tags."""
        bounds: Boundaries = self.bounds  # type: ignore[attr-defined]
        text, pos = self.text, 0
        hints = sorted([*(m.start() for hint in (_HINT_DOT, _HINT_CSS) for m in hint.finditer(text)),
                        *(i for name in _POSTER_NAMES for i in _occurrences(text, name))])
        read, r = self._read_tags, 0  # image elements the scan has read, in document order
        for hint in hints:
            if hint < pos:
                continue
            while r < len(read) and read[r][1] <= hint:
                r += 1
            if r < len(read) and read[r][0] < hint:
                pos = read[r][1]
                continue
            token = bounds.token_at(hint)
            if token is None:  # text: a URL shown, not an image
                continue
            pos = token[1]
            name = _TAG_NAME.match(text, token[0])
            if name is None:  # a comment, an end tag, a doctype
                continue
            tag_name = name.group(1).lower()
            if tag_name == "style":
                body = tag_end(text, name.end())
                close = raw_text_end(text, "style", body) if body is not None else None
                if body is not None:
                    for s, e, url in css.image_urls(text, body, close[0] if close else token[1], entities=False):
                        self.images.append(ImageRef(url=url, start=s, end=e, form="css"))
                continue
            if tag_name in _NOT_SHOWN:
                continue
            body = tag_end(text, name.end())
            if body is None:
                continue
            self._tag_images(Tag(tag_name, token[0], body, parse_attrs(text, name.end(), body)))

    def _tag_images(self, tag: Tag, alt: str | None = None, credit: str | None = None) -> None:
        """The images one element's attributes name, by the attribute's name and the value (an image
        element's own src, lazy sources and srcset are `_img`'s)."""
        element = tag.name in IMAGE_ELEMENTS
        own = _SVG_OWN if tag.name in ("image", "feimage") else _IMG_OWN
        credit_known = element
        for attr, (raw, vs, ve) in tag.attrs.items():
            if (element and attr in own) or not raw.strip():
                continue
            found: list[tuple[int, int, str]] = []
            value = unescape_attr(raw).strip()
            data = attr.startswith("data-")
            if attr == "style" or (data and "url(" in value.lower()):
                found = css.image_urls(self.text, vs, ve, entities=True)
            elif attr.endswith("srcset"):
                found = [(s, e, unescape_attr(self.text[s:e]).strip()) for s, e in parse_srcset(self.text, vs, ve)]
            elif data and (listed := _candidate_list(self.text, vs, ve)) is not None:
                found = [(s, e, url) for s, e in listed
                         if "/" in (url := unescape_attr(self.text[s:e]).strip()) and looks_like_image_url(url)]
            elif _names_image(tag.name, attr, value):
                found = [(*trimmed(self.text, vs, ve), value)]
            if found and not credit_known:
                credit, credit_known = self._credit(tag.start, alt), True
            for s, e, url in found:
                if is_image_candidate(url):
                    self.images.append(ImageRef(url=url, start=s, end=e, alt=alt, credit=credit,
                                                form="css" if attr == "style" else attr))

    def _meta(self, tag: Tag) -> None:
        key = (tag.get("property") or tag.get("name") or "").strip().lower()
        form = _META_IMAGE.get(key) or ("meta" if (tag.get("itemprop") or "").lower() == "image" else None)
        found = tag.attrs.get("content")
        if form and found:
            s, e = trimmed(self.text, found[1], found[2])
            self._image(self.text[s:e], s, e, form, None, None)

    def _json_ld(self, start: int, end: int) -> None:
        wanted: set[str] = set()
        try:
            _collect_ld(foreign_json.loads(self.text[start:end]), wanted, 0)
        except ValueError:
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
                value = foreign_json.loads(f'"{raw}"') if "\\" in raw else raw
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
        """The credit written in the figure text[start:end] (its first 200,000 characters): a credit
        element's text, else its figcaption's credit."""
        end = min(end, start + _FIGURE_SCAN)
        searched = self._figure_searches[-1] if self._figure_searches else None
        outer = searched if searched is not None and searched[0] <= start < searched[1] else None
        m = self._first(_CREDIT_EL, 2, start, end, outer)
        cap = self._first(_FIGCAPTION, 3, start, end, outer) if m is None else None
        self._figure_searches.append((start, end, m, cap if m is None else _UNSEARCHED))
        if m:
            return clean_text(m.group(2)) or None
        return credit_from_caption(clean_text(cap.group(1))) if cap else None

    def _first(self, pattern: re.Pattern[str], slot: int, start: int, end: int,
               outer: _FigureSearch | None) -> re.Match[str] | None:
        """``pattern.search(text, start, end)``, helped by the search made for the figure before
        (``outer``: its window began at or before ``start`` and ends after it). When that one found
        nothing, a match here ends past its window, so starts at most ``_LONGEST`` characters before
        its end: only from there is searched. When its first match lies in text[start:end] and no
        match ending past its window can begin before that one, that match is this one's first too.
        Nested figures (hostile markup nests thousands) so have their text searched about once, not
        once per figure around it."""
        found = outer[slot] if outer is not None else _UNSEARCHED
        if outer is None or found is _UNSEARCHED:
            return pattern.search(self.text, start, end)
        if found is None:
            if end <= outer[1]:
                return None
            return pattern.search(self.text, max(start, outer[1] - _LONGEST[slot]), end)
        assert isinstance(found, re.Match)
        if start <= found.start() and found.end() <= end and (
                end <= outer[1] or found.start() <= outer[1] - _LONGEST[slot]):
            return found
        return pattern.search(self.text, start, end)

    def resolved_images(self) -> list[ImageRef]:
        """The images found, their URLs resolved against <base href> or the article's base URL."""
        if not self._attributes_read:
            self._attributes_read = True
            self._attribute_images()
            self._block_comment_images()
        base = self.document_base()
        kept = []
        for image in self.images:
            if _EXPRESSION.search(image.url):
                continue  # a JSX expression ({pier}) or a template's ({{ page.image }}): no URL yet
            image.url = resolve(image.url, base)
            kept.append(image)
        return [i for i in kept if is_image_candidate(i.url)]

    def document_base(self) -> str | None:
        """What relative URLs resolve against: the first ``<base href>``, resolved against the article's
        URL, when that gives an http(s) URL that parses; else the article's URL, as a browser falls back
        when the base cannot be parsed (``http://[::1``) or is not a base at all (``javascript:``, ``data:``)."""
        if self.base_href:
            base = resolve(unescape_attr(self.base_href), self.base_url)
            try:
                parts = urlsplit(base)
                usable = parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and (
                    parts.port is None or parts.port >= 0)
            except ValueError:
                usable = False
            if usable:
                return base
        return self.base_url


    def _block_comment_images(self) -> None:
        """Image URLs in the attributes of WordPress block comments (``<!-- wp:cover {"url": "…"} -->``,
        ``mediaUrl`` of media-text, …). The block editor rebuilds a block's markup from these attributes
        and calls the block invalid when it differs from the stored markup, so a rewritten image must be
        rewritten here too. Any string value that is an image URL by itself (JSON escapes decoded) counts;
        the span is the value as written inside its quotes."""
        if "<!-- wp:" not in self.text:
            return
        bounds: Boundaries = self.bounds  # type: ignore[attr-defined]
        for comment in _BLOCK_COMMENT.finditer(self.text):
            if bounds.token_at(comment.start()) is not None:
                continue  # inside another tag, comment or raw text: not a block comment
            for value in _BLOCK_STRING.finditer(self.text, comment.start(1), comment.end(1)):
                raw = value.group(1)
                try:  # WordPress escapes "&", "<", ">" and "--" in attributes (\u0026 ...); some writers "/"
                    url = foreign_json.loads(f'"{raw}"') if "\\" in raw else raw
                except ValueError:
                    continue
                if looks_like_image_url(url):
                    self._image(url, value.start(1), value.end(1), "block-comment", None, None, decode=False)


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


def _names_image(tag: str, attr: str, value: str) -> bool:
    """Whether attribute `attr` of element `tag`, whose value (decoded) is one URL, names an image:
    a poster always; a data-*, src, *-src, lowsrc, legacy background, or a link's href when the value
    is an image URL by itself (a data-* value must also be written as a URL or path, with a "/":
    Medium's ``data-image-id="1*x.jpeg"`` is a name)."""
    if attr in ("poster", "data-poster"):
        return is_image_candidate(value)
    if attr.startswith("data-") and "/" not in value:
        return False
    named = (attr.startswith("data-") or attr == "src" or attr.endswith("-src") or attr in ("lowsrc", "background")
             or (attr in ("href", "xlink:href") and tag in _HREF_TAGS))
    return named and looks_like_image_url(value)


def _candidate_list(text: str, start: int, end: int) -> list[tuple[int, int]] | None:
    """The (start, end) spans of the URLs when the attribute value text[start:end] is written as a
    list of image candidates, not a single bare URL: a srcset ("a.jpg 480w, b.jpg 960w", "a.jpg 2x")
    or lazysizes' data-bgset, srcsets joined by "|", each with an optional media condition in
    brackets ("/a-480.jpg [(max-width: 480px)] | /a-1200.jpg"). Between the URLs only descriptors,
    commas, "|" and those brackets; None for anything else (a URL alone, prose, JSON)."""
    spans: list[tuple[int, int]] = []
    listed = False
    pos = start
    while pos <= end:
        bar = text.find("|", pos, end)
        part_end = bar if bar >= 0 else end
        body_end = part_end
        media = _MEDIA_TAIL.search(text, pos, part_end)
        if media is not None:
            body_end, listed = media.start(), True
        found = parse_srcset(text, pos, body_end)
        if not found:
            return None
        gaps = [(found[i][1], found[i + 1][0]) for i in range(len(found) - 1)] + [(found[-1][1], body_end)]
        if not all(_SRCSET_REST.fullmatch(text, s, e) for s, e in gaps):
            return None
        listed = listed or bar >= 0 or len(found) > 1 or bool(text[found[0][1]:body_end].strip())
        spans += found
        if bar < 0:
            break
        pos = bar + 1
    return spans if listed else None


def _is_pixel(tag: Tag) -> bool:
    """A tracking pixel: 0 or 1 pixel wide and high. Not when the size is only an aspect ratio (an AMP
    layout that scales the image: responsive, fill, intrinsic, flex-item) or the image offers sources
    for several widths (srcset, sizes), which no beacon does."""
    w, h = (tag.get("width") or "").strip(), (tag.get("height") or "").strip()
    if (tag.get("layout") or "").strip().lower() in _SCALED_LAYOUTS or tag.get("srcset") or tag.get("sizes"):
        return False
    return w in ("0", "1", "1px") and h in ("0", "1", "1px")


# A value that is an expression, not a URL: JSX ({pier}), templates ({{ x }}, {% x %}, ${x}).
_EXPRESSION = re.compile(r"\A\s*\{|\{\{|\{%|\$\{")
_SCALED_LAYOUTS = frozenset({"responsive", "fill", "intrinsic", "flex-item"})


def _occurrences(text: str, word: str) -> Iterator[int]:
    """Every offset where `word` starts in `text`."""
    i = text.find(word)
    while i >= 0:
        yield i
        i = text.find(word, i + 1)
