"""Image URLs in CSS: ``url(...)`` (quoted or not, with CSS escapes) and the strings of
``image-set()`` / ``-webkit-image-set()``, in a ``style`` attribute or a ``<style>`` block.

A small CSS tokenizer (comments, strings, nested functions), not a parser: it only needs to know
where each URL is written. In a ``style`` attribute the HTML entities are not yet decoded, so a
quote may be written ``&quot;`` or ``&#39;``; spans still cover exactly the URL as written, between
its quotes. What is not an image: ``@import`` and ``@font-face`` sources (a declaration ``src:`` or an
at-rule), fonts and style sheets by extension, SVG fragments (``sprite.svg#icon``, ``url(#clip)``),
``data:`` URIs. Every search moves forward, so the cost is linear in the CSS scanned.
"""

from __future__ import annotations

import html
import re

from archiver.discover.common import is_image_candidate
from archiver.lazyre import lazy

_MAX_URL = 8192
# What the tokenizer stops at. Entity-written quotes only count in attribute values (``entities``).
_MARK_PLAIN = lazy(r"""/\*|(?<![\w-])(?:url|(?:-webkit-)?image-set)\(|["'()]""", re.I)
_MARK_ENTITY = lazy(
    r"""/\*|(?<![\w-])(?:url|(?:-webkit-)?image-set)\(|["'()]|&(?:quot|apos|#0*3[49]|#x0*2[27]);""", re.I
)
_QUOTE_ENTITY = lazy(r"&(?:quot|apos|#0*3[49]|#x0*2[27]);", re.I)
_ESCAPE = lazy(r"\\(?:([0-9a-fA-F]{1,6})[ \t\n\f]?|\r\n|([\s\S]))")
_NOT_IMAGE_FILE = lazy(r"\.(?:css|woff2?|ttf|otf|eot|htc)(?:[?#]|$)|\.svg#|^\s*#", re.I)


def unescape(value: str) -> str:
    """CSS escapes decoded (``\\28`` and ``\\(`` are "("; an escaped newline is dropped)."""
    if "\\" not in value:
        return value

    def one(m: re.Match[str]) -> str:
        if m.group(1):
            code = int(m.group(1), 16)
            return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
        return m.group(2) or ""

    return _ESCAPE.sub(one, value)


def _quote_at(text: str, pos: int, entities: bool) -> tuple[str, int] | None:
    """The quote character written at `pos` and where it ends, or None."""
    c = text[pos]
    if c in "\"'":
        return c, pos + 1
    if entities and c == "&":
        m = _QUOTE_ENTITY.match(text, pos)
        if m:
            return ('"' if html.unescape(m.group(0)) == '"' else "'"), m.end()
    return None


def _string_end(text: str, pos: int, end: int, quote: str, entities: bool) -> tuple[int, int]:
    """(content end, after the closing quote) of a string whose content starts at `pos`; a string
    that never closes ends at a newline or at `end` (CSS's bad-string rule)."""
    i, stop = pos, min(end, pos + _MAX_URL)
    while i < stop:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "\n":
            return i, i
        q = _quote_at(text, i, entities) if c in "\"'&" else None
        if q is not None and q[0] == quote:
            return i, q[1]
        i += 1
    return min(i, end), min(i, end)


def _declaration(text: str, lo: int, pos: int) -> str:
    """The property (or at-rule) that the value at `pos` belongs to, lower case ("" when unknown)."""
    back = max(lo, pos - 300)
    start = max(back, *(text.rfind(c, back, pos) + 1 for c in "{};"))
    head = text[start:pos].lstrip()
    if head.startswith("@"):
        return head.split(None, 1)[0].lower() if head.split() else "@"
    return head.split(":", 1)[0].strip().lower() if ":" in head else ""


def image_urls(text: str, start: int, end: int, entities: bool) -> list[tuple[int, int, str]]:
    """Image URLs in the CSS text[start:end]: (span start, span end, URL decoded). `entities`: the CSS
    is an HTML attribute value whose character references are not decoded yet (a ``style``
    attribute); the span then keeps them, and the URL has them decoded before the CSS escapes."""
    mark = _MARK_ENTITY if entities else _MARK_PLAIN
    out: list[tuple[int, int, str]] = []
    stack: list[bool] = []  # open parentheses: True for image-set(
    i = start
    while i < end:
        m = mark.search(text, i, end)
        if not m:
            break
        found = m.group(0)
        i = m.end()
        if found == "/*":
            close = text.find("*/", i, end)
            i = close + 2 if close >= 0 else end
        elif found == "(":
            stack.append(False)
        elif found == ")":
            if stack:
                stack.pop()
        elif found.endswith("("):
            if found[0] in "uU":
                i = _url(text, i, end, entities, out, _declaration(text, start, m.start()))
            else:
                stack.append(True)
        else:  # a quote: a string, an image when it stands in image-set()
            quote = '"' if html.unescape(found) == '"' else "'"
            content_end, after = _string_end(text, i, end, quote, entities)
            if stack and stack[-1]:
                _keep(text, i, content_end, entities, out, _declaration(text, start, m.start()))
            i = max(after, i)
    return out


def _url(text: str, pos: int, end: int, entities: bool, out: list[tuple[int, int, str]], prop: str) -> int:
    """Read the url( whose content starts at `pos`; returns where reading goes on."""
    n = min(end, pos + _MAX_URL)
    i = pos
    while i < n and text[i] in " \t\n\r\f":
        i += 1
    q = _quote_at(text, i, entities) if i < n else None
    if q is not None:
        content_end, after = _string_end(text, q[1], end, q[0], entities)
        _keep(text, q[1], content_end, entities, out, prop)
        close = text.find(")", after, min(end, after + 200))
        return close + 1 if close >= 0 else after
    j = i
    while j < n:
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c in ") \t\n\r\f\"'(":
            break
        j += 1
    j = min(j, end)
    if j < end and text[j] in "\"'(":
        # A quote or "(" inside an unquoted url( makes it a bad URL (CSS Syntax §4.3.6): no image, and
        # everything up to its ")" belongs to it (``url(url(url(`` is one bad URL, read once).
        close = text.find(")", j, end)
        return close + 1 if close >= 0 else end
    _keep(text, i, j, entities, out, prop)
    close = text.find(")", j, min(end, j + 200))
    return close + 1 if close >= 0 else j


def _keep(text: str, s: int, e: int, entities: bool, out: list[tuple[int, int, str]], prop: str) -> None:
    while s < e and text[s] in " \t\n\r\f":
        s += 1
    while e > s and text[e - 1] in " \t\n\r\f":
        e -= 1
    if e <= s or prop == "src" or prop.startswith("@"):
        return
    raw = text[s:e]
    url = unescape(html.unescape(raw) if entities else raw).strip()
    if is_image_candidate(url) and not _NOT_IMAGE_FILE.search(url):
        out.append((s, e, url))
