"""Image URLs in CSS: ``url(...)`` (quoted or not, with CSS escapes) and the strings of
``image-set()`` / ``-webkit-image-set()``, in a ``style`` attribute or a ``<style>`` block.

A small CSS tokenizer (comments, strings, nested functions), not a parser: it only needs to know
where each URL is written. An unquoted ``url(`` is read as CSS Syntax Level 3 consumes a url token
(§4.3.6), a string as it consumes a string token, each escape whole (§4.3.7: a hex escape takes 1-6
digits and the one white space after them, so ``url(/img/p\\33 .png)`` is ``/img/p3.png``); the span is
the whole URL as written, the URL its unescaped value. A ``style`` attribute is decoded first, by the
HTML attribute rule (a quote may be written ``&quot;`` or ``&#39;``), and its spans mapped back, so they
still cover exactly the URL as written, between its quotes. What is not an image: ``@import`` and
``@font-face`` sources (a declaration ``src:`` or an at-rule), fonts and style sheets by extension, SVG
fragments (``sprite.svg#icon``, ``url(#clip)``), ``data:`` URIs. Every search moves forward, so the
cost is linear in the CSS scanned.
"""

from __future__ import annotations

import re

from archiver.discover.common import is_image_candidate
from archiver.discover.srcdoc import decode_value
from archiver.lazyre import lazy

_MAX_URL = 8192
# What the tokenizer stops at.
_MARK = lazy(r"""/\*|(?<![\w-])(?:url|(?:-webkit-)?image-set)\(|["'()]""", re.I)
# CSS Syntax §4.3.7: a hex escape is 1-6 hex digits and ONE optional white space (CR LF counts as one,
# after §3.3's preprocessing), which belongs to it; an escaped newline (in a string) is dropped.
_ESCAPE = lazy(r"\\(?:([0-9a-fA-F]{1,6})(?:\r\n|[ \t\n\r\f])?|(\r\n|[\n\r\f])|([\s\S])|$)")
_HEX = frozenset("0123456789abcdefABCDEF")
_WS = " \t\n\r\f"
_NEWLINE = "\n\r\f"
# Code points that make an unquoted url( a bad URL (§4.3.6: non-printable ones, quotes and "(").
_BAD_IN_URL = frozenset([*map(chr, range(0, 9)), "\x0b", *map(chr, range(0x0E, 0x20)), "\x7f", '"', "'", "("])
_NOT_IMAGE_FILE = lazy(r"\.(?:css|woff2?|ttf|otf|eot|htc)(?:[?#]|$)|\.svg#|^\s*#", re.I)


def unescape(value: str) -> str:
    """CSS escapes decoded (``\\28`` and ``\\(`` are "("; an escaped newline is dropped)."""
    if "\\" not in value:
        return value

    def one(m: re.Match[str]) -> str:
        if m.group(1):
            code = int(m.group(1), 16)
            return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
        return m.group(3) or ""

    return _ESCAPE.sub(one, value)


def _escape_end(text: str, pos: int, end: int) -> int:
    """Where the escape whose backslash is text[pos] ends (§4.3.7): after 1-6 hex digits and one
    white space (CR LF is one), or after the one code point escaped."""
    k = pos + 1
    if k >= end:
        return end
    if text[k] not in _HEX:
        return k + 2 if text.startswith("\r\n", k) and k + 2 <= end else k + 1
    stop = min(end, k + 6)
    while k < stop and text[k] in _HEX:
        k += 1
    if k < end and text[k] in _WS:
        k += 2 if text.startswith("\r\n", k) and k + 2 <= end else 1
    return k


def _escapes_end(text: str, start: int, end: int) -> int:
    """Where the last escape in text[start:end] ends (`start` when there is none): white space before
    it belongs to an escape and is no trailing white space."""
    last, i = start, start
    while True:
        i = text.find("\\", i, end)
        if i < 0:
            return last
        i = last = _escape_end(text, i, end)


def _string_end(text: str, pos: int, end: int, quote: str) -> tuple[int, int]:
    """(content end, after the closing quote) of a string whose content starts at `pos`; a string
    that never closes ends at a newline or at `end` (CSS's bad-string rule)."""
    i, stop = pos, min(end, pos + _MAX_URL)
    while i < stop:
        c = text[i]
        if c == "\\":
            i = _escape_end(text, i, end) if i + 1 < end and text[i + 1] in _NEWLINE else i + 2
            continue
        if c in _NEWLINE:
            return i, i
        if c == quote:
            return i, i + 1
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
    attribute): as a browser does, the value is decoded first (by the attribute rule,
    ``srcdoc.decode_value``) and the CSS read from that; each span is mapped back, so it covers the URL
    as written, references included."""
    if not entities or "&" not in text[start:end]:
        return _image_urls(text, start, end)
    decoded, offsets = decode_value(text[start:end], start)
    out = []
    for s, e, url in _image_urls(decoded, 0, len(decoded)):
        a, b = offsets[s], offsets[e]
        if decode_value(text[a:b])[0] == decoded[s:e]:  # no edge inside a reference for two characters
            out.append((a, b, url))
    return out


def _image_urls(text: str, start: int, end: int) -> list[tuple[int, int, str]]:
    """`image_urls` of CSS text with no character references to decode."""
    mark = _MARK
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
                i = _url(text, i, end, out, _declaration(text, start, m.start()))
            else:
                stack.append(True)
        else:  # a quote: a string, an image when it stands in image-set()
            content_end, after = _string_end(text, i, end, found)
            if stack and stack[-1]:
                _keep(text, i, content_end, out, _declaration(text, start, m.start()))
            i = max(after, i)
    return out


def _url(text: str, pos: int, end: int, out: list[tuple[int, int, str]], prop: str) -> int:
    """Read the url( whose content starts at `pos`; returns where reading goes on. An unquoted URL is
    read as CSS Syntax §4.3.6 consumes a url token: escapes whole (a hex escape with its one white
    space, §4.3.7), then only white space before ")"; anything else makes it a bad URL."""
    n = min(end, pos + _MAX_URL)
    i = pos
    while i < n and text[i] in _WS:
        i += 1
    if i < n and text[i] in "\"'":
        content_end, after = _string_end(text, i + 1, end, text[i])
        if after > content_end or after >= end:  # closed, or ended with the CSS (no bad string)
            _keep(text, i + 1, content_end, out, prop)
        close = text.find(")", after, min(end, after + 200))
        return close + 1 if close >= 0 else after
    j, bad = i, False
    while j < n:
        c = text[j]
        if c == ")":
            break
        if c in _WS:
            k = j
            while k < end and text[k] in _WS:
                k += 1
            if k < end and text[k] != ")":
                bad, j = True, k
            break
        if c == "\\":
            if j + 1 < end and text[j + 1] in _NEWLINE:
                bad = True
                break
            j = _escape_end(text, j, end)
            continue
        if c in _BAD_IN_URL:
            bad = True
            break
        j += 1
    j = min(j, end)
    if bad:
        # A bad URL (CSS Syntax §4.3.6): no image, and everything up to its ")" belongs to it, escapes
        # read whole (``url(url(url(`` is one bad URL, read once).
        while j < end:
            c = text[j]
            if c == ")":
                return j + 1
            j = _escape_end(text, j, end) if c == "\\" and not (j + 1 < end and text[j + 1] in _NEWLINE) else j + 1
        return end
    _keep(text, i, j, out, prop)
    close = text.find(")", j, min(end, j + 200))
    return close + 1 if close >= 0 else j


def _keep(text: str, s: int, e: int, out: list[tuple[int, int, str]], prop: str) -> None:
    while s < e and text[s] in _WS:
        s += 1
    floor = _escapes_end(text, s, e)  # an escape's own white space stays in the span
    while e > floor and text[e - 1] in _WS:
        e -= 1
    if e <= s or prop == "src" or prop.startswith("@"):
        return
    raw = text[s:e]
    url = unescape(raw).strip()
    if is_image_candidate(url) and not _NOT_IMAGE_FILE.search(url):
        out.append((s, e, url))
