"""The any-element rule: an element that stands as its own block and carries a known platform's post
in an attribute is an embed, whatever its name (custom elements and web components, MDX/JSX
components, AMP elements, ``<object>``/``<embed>``, blockquotes and divs of unknown classes).

"Carries a post" is decided by the provider registry alone (``constructs.current()``):
- an attribute whose value is a post URL (``src``, ``data-href``, ``url``...), entities decoded;
- an attribute holding JSON (hydration props: ``data-props="{&quot;url&quot;:…}"``, Astro's
  ``props``), entities then JSON decoded, with a post URL in a string, or a post id under a key the
  provider declares;
- an attribute the provider declares as holding a post id (``EmbedForms.id_attrs``: ``videoid``,
  ``data-tweet-id``, ``id``...), when the element names the provider (``EmbedForms.names``) in its
  tag name, its class, a component-naming attribute (``data-react-class``, ``component-url``,
  ``data-provider``...) or the attribute's own name. So ``<Tweet id="…" />`` and
  ``<lite-youtube videoid="…">`` are embeds and ``<section id="12345">`` is not.

Attributes holding text for readers (``title``, ``alt``, ``aria-*``...) and values broken over lines
name nothing. Links and document metadata are not embeds (``<a>``, ``<link>``, ``<meta>``, forms...), nor is an
element inside a sentence ("see <x-tweet …> here"): it must stand as its own block, with only white
space, markup and line breaks between it and the text around it. ``<param>`` and the fallback
inside an ``<object>`` belong to the object: the object is the embed. The span is the whole element:
start tag to matching end tag, or the tag alone when it closes itself (``/>``), is void or has no
end tag.

Cost: a search for "http" and the platforms' names; each hit inside a tag costs that tag's
attributes, once; a hit in text costs a look-up of the token boundaries.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from archiver.discover.tags import Tag, parse_attrs
from archiver.discover.tokens import RAW_TEXT, tag_end, token_end
from archiver.discover.urls import PostMatch, handle_in_url, match_post_url

if TYPE_CHECKING:
    from archiver.discover.constructs import Constructs
    from archiver.discover.html import HtmlScanner

# Elements whose URL is a link, a resource or metadata, never a post shown in place.
_NOT_EMBEDS = frozenset({
    "a", "area", "link", "meta", "base", "img", "picture", "source", "track", "audio", "video", "input",
    "button", "form", "select", "option", "label", "html", "head", "body", "template", "noscript", "svg",
    "math", "image", "use", "plaintext", *RAW_TEXT,
})
# Attributes holding text for readers, not references.
_TEXT_ATTRS = frozenset({"title", "alt", "placeholder", "label", "summary", "content", "abbr", "style"})
_VOID = frozenset({"embed", "param", "br", "hr", "wbr", "col", "keygen"})
# Phrasing (inline) elements: an embed may sit in one only if nothing but markup surrounds it there.
_PHRASING = frozenset({
    "a", "abbr", "b", "bdi", "bdo", "big", "cite", "code", "data", "dfn", "em", "font", "i", "kbd", "label",
    "mark", "q", "s", "samp", "small", "span", "strike", "strong", "sub", "sup", "time", "tt", "u", "var",
})
_NAME = re.compile(r"[A-Za-z][^\t\n\f\r />]*+")
# Attributes and props keys whose value names the component the element renders.
_NAMING = re.compile(r"class|component|^is$|type|provider|platform|network|service|widget|embed|kind|name$")
_TOKEN_START = re.compile(r"<[A-Za-z!?/]")
_ALNUM = re.compile(r"[^a-z0-9]+")
_MAX_JSON = 100_000
_MAX_NODES = 5_000
_MAX_STEPS = 50  # tokens walked over around an element to see whether it stands alone


def find(scan: HtmlScanner) -> None:
    """Add every element embed of the any-element rule to ``scan`` (after its fixed constructs)."""
    tables = scan.constructs
    text, bounds = scan.text, scan.bounds
    taken = {e.start for e in scan.embeds}
    spans: set[tuple[int, int]] = set()
    fixed = sorted((e.start, e.end) for e in scan.embeds)
    objects = _ranges(scan, "object") if "<object" in (scan.lower() or text.lower()) else []
    pos = 0
    for hit in _hits(scan, tables):
        if hit < pos:
            continue
        token = bounds.token_at(hit)
        if token is None:
            continue
        pos = token[1]
        start = token[0]
        name_m = _NAME.match(text, start + 1)
        if text[start] != "<" or name_m is None or name_m.start() != start + 1 or start in taken:
            continue
        name = name_m.group(0).lower()
        if name in _NOT_EMBEDS:
            continue
        end = tag_end(text, name_m.end())
        if end is None:
            continue
        tag = Tag(name, start, end, parse_attrs(text, name_m.end(), end))
        found = post_in(tag, tables)
        if found is None:
            continue
        span = _object_around(objects, start, end) or _element_span(scan, tag)
        if span in spans or _inside(fixed, span) or _holds(fixed, span) or not stands_alone(scan, *span):
            continue
        spans.add(span)
        scan.add(found, found[0], span[0], span[1], "element", handle=handle_in_url(found))


def _hits(scan: HtmlScanner, tables: Constructs) -> list[int]:
    """Where "http" or a platform's name occurs, in order. Searched in a lower-case copy with
    ``str.find`` (many times faster than a case-blind regex); the regex when lower-casing changes the
    length (a dotted capital I), so offsets would not match."""
    text, low = scan.text, scan.lower()
    if not low:
        return [m.start() for m in tables.element_hint.finditer(text)]
    found: list[int] = []
    for word in ("http", *tables.names):
        i = low.find(word)
        while i >= 0:
            found.append(i)
            i = low.find(word, i + len(word))
    found.sort()
    return found


def post_in(tag: Tag, tables: Constructs) -> PostMatch | None:
    """The post ``tag`` carries in an attribute (see the module's docstring), or None."""
    naming = [_ALNUM.sub("", tag.name)]
    values: list[tuple[str, str]] = []
    for attr, (raw, _, _) in tag.attrs.items():
        value = (tag.get(attr) or "").strip()
        if not value or attr in _TEXT_ATTRS or attr.startswith("aria-") or "\n" in raw:
            continue  # text for readers (or a value broken over lines): no reference to a post
        values.append((attr, value))
        if _NAMING.search(attr):
            naming.append(_ALNUM.sub("", value.lower()))
    for _, value in values:
        found = _url(value)
        if found:
            return found
    props: list[tuple[str, str]] = []
    for _, value in values:
        if value[0] in "{[" and len(value) <= _MAX_JSON:
            props += _json_pairs(value)
    naming += [_ALNUM.sub("", value.lower()) for key, value in props if _NAMING.search(key)]
    for _, value in props:
        found = _url(value)
        if found:
            return found
    for key, value in [*values, *props]:
        readers = tables.id_attrs.get(key)
        if not readers:
            continue
        for provider, read in readers:
            if _named(provider, [*naming, _ALNUM.sub("", key)], tables):
                found = read(value)
                if found and found[0] == provider:
                    return found
    return None


def _url(value: str) -> PostMatch | None:
    if "http" not in value[:8].lower() and not value.startswith("//"):
        return None
    value = value.replace("\\/", "/")
    found = match_post_url(value)
    return found if found and found[1] else None


def _named(provider: str, words: list[str], tables: Constructs) -> bool:
    return any(p == provider and any(word in w for w in words) for word, p in tables.names.items())


def _json_pairs(value: str) -> list[tuple[str, str]]:
    """(key lower case, scalar as text) of a JSON document, list items under their list's key (Astro
    writes props as ``[0, value]``); [] when it is not JSON. Bounded in size and depth."""
    try:
        data = json.loads(value)
    except (ValueError, RecursionError):
        return []
    out: list[tuple[str, str]] = []
    stack: list[tuple[str, Any, int]] = [("", data, 0)]
    while stack and len(out) < _MAX_NODES:
        key, node, depth = stack.pop()
        if isinstance(node, dict) and depth < 20:
            stack += [(str(k).lower(), v, depth + 1) for k, v in reversed(list(node.items())[:_MAX_NODES])]
        elif isinstance(node, list) and depth < 20:
            stack += [(key, v, depth + 1) for v in reversed(node[:_MAX_NODES])]
        elif isinstance(node, str) and node.strip():
            out.append((key, node.strip()))
        elif isinstance(node, int) and not isinstance(node, bool) and node > 0:
            out.append((key, str(node)))
    return out


def _element_span(scan: HtmlScanner, tag: Tag) -> tuple[int, int]:
    """The whole element: to its matching end tag, or the tag alone (self-closing, void, never closed)."""
    if tag.name in _VOID or scan.text[tag.end - 2] == "/":
        return tag.start, tag.end
    pair = scan._pair_map(tag.name).get(tag.start)
    return (tag.start, pair[1]) if pair else (tag.start, tag.end)


def _ranges(scan: HtmlScanner, name: str) -> list[tuple[int, int]]:
    return sorted((start, close[1]) for start, close in scan._pair_map(name).items())


def _object_around(objects: list[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    """The outermost <object> element holding text[start:end] (its params and fallback are its own)."""
    i = bisect.bisect_right(objects, (start, 1 << 62))
    best = None
    for j in range(max(0, i - 20), i):  # objects nest shallowly; the last few before it are enough
        o_start, o_end = objects[j]
        if o_start <= start and end <= o_end and (best is None or o_start < best[0]):
            best = (o_start, o_end)
    return best


def _inside(spans: list[tuple[int, int]], span: tuple[int, int]) -> bool:
    """Whether ``span`` lies within one of the sorted ``spans`` (an embed already read)."""
    i = bisect.bisect_right(spans, (span[0], 1 << 62))
    return any(s <= span[0] and span[1] <= e for s, e in spans[max(0, i - 20):i])


def _holds(spans: list[tuple[int, int]], span: tuple[int, int]) -> bool:
    """Whether ``span`` holds one of the sorted ``spans`` (a wrapper around an embed already read:
    the embed keeps its own span)."""
    i = bisect.bisect_left(spans, (span[0], 0))
    return i < len(spans) and spans[i][1] <= span[1]


def stands_alone(scan: HtmlScanner, start: int, end: int) -> bool:
    """Whether text[start:end] stands as its own block: on each side, before any text, a line break,
    the document's edge or a tag that is not phrasing content (``<p>``, ``</div>``, ``<br>``...)."""
    return _side_clear(scan, _backward(scan, start)) and _side_clear(scan, _forward(scan, end))


def _side_clear(scan: HtmlScanner, tokens: Iterator[tuple[str, int, int]]) -> bool:
    for kind, s, _ in tokens:
        if kind == "edge" or kind == "newline":
            return True
        if kind == "text":
            return False
        name = _NAME.match(scan.text, s + 2 if scan.text[s + 1] == "/" else s + 1)
        if name is None or name.group(0).lower() not in _PHRASING:
            return True  # a comment, a block element's tag, <br>: a boundary
    return False


def _backward(scan: HtmlScanner, pos: int) -> Iterator[tuple[str, int, int]]:
    """What precedes ``pos``: ("newline"|"text"|"edge"|"tag", start, end), nearest first."""
    text = scan.text
    for _ in range(_MAX_STEPS):
        while pos > 0 and text[pos - 1] in " \t\r\f\xa0":
            pos -= 1
        if pos == 0:
            yield "edge", 0, 0
            return
        c = text[pos - 1]
        if c == "\n":
            yield "newline", pos - 1, pos
            return
        token = scan.bounds.token_at(pos - 1) if c == ">" else None
        if token is None or token[1] != pos or text[token[0]] != "<":
            yield "text", pos - 1, pos
            return
        yield "tag", token[0], token[1]
        pos = token[0]


def _forward(scan: HtmlScanner, pos: int) -> Iterator[tuple[str, int, int]]:
    """What follows ``pos``: ("newline"|"text"|"edge"|"tag", start, end), nearest first."""
    text, n = scan.text, scan.n
    for _ in range(_MAX_STEPS):
        while pos < n and text[pos] in " \t\r\f\xa0":
            pos += 1
        if pos >= n:
            yield "edge", n, n
            return
        if text[pos] == "\n":
            yield "newline", pos, pos + 1
            return
        if text[pos] != "<" or not _TOKEN_START.match(text, pos):
            yield "text", pos, pos + 1
            return
        end = token_end(text, pos)
        yield "tag", pos, end
        pos = end
