"""The image half of the HTML scanner: <img> and <amp-img> (src, lazy-loading attributes, srcset),
<source srcset>, og:image and twitter:image meta tags, JSON-LD image values, and the photo credit
of the figure (or alt text) around each image. Every span covers the URL exactly as written.
"""

from __future__ import annotations

import bisect
import html
import json
import re

from archiver.discover.common import clean_text, credit_from_alt, credit_from_caption, is_image_candidate, resolve
from archiver.discover.model import ImageRef
from archiver.discover.tags import Tag, parse_srcset, trimmed

_FIGCAPTION = re.compile(r"<figcaption\b[^<>]{0,2000}>(.{0,4000}?)</figcaption", re.I | re.S)
_CREDIT_EL = re.compile(
    r"""<(span|p|div|small|cite|em)\b[^<>]{0,500}?\bclass\s*=\s*["']?[^"'<>]{0,200}?credit[^<>]{0,500}>"""
    r"""(.{0,600}?)</\1\s*>""",
    re.I | re.S,
)
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


class HtmlImages:
    """Image reading for ``HtmlScanner`` (a base class: it shares the scanner's text and figure pairs)."""

    text: str
    base_url: str | None
    base_href: str | None
    images: list[ImageRef]
    _figures: tuple[list[int], list[tuple[int, int]]] | None
    _figure_credit: dict[int, str | None]

    def _pair_map(self, name: str) -> dict[int, tuple[int, int]]:
        raise NotImplementedError

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
                s, e = trimmed(self.text, found[1], found[2])
                self._image(self.text[s:e], s, e, "img-src" if attr == "src" else attr, alt, credit)
        lazy_sets = [a for a in _LAZY_SRCSET if a in tag.attrs]
        for attr in lazy_sets or ["srcset"]:
            self._srcset(tag, attr, attr, alt)

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

    def resolved_images(self) -> list[ImageRef]:
        """The images found, their URLs resolved against <base href> or the article's base URL."""
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
