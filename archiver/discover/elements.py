"""The any-element rule: an element that stands as its own block and carries a known platform's post
in an attribute is an embed, whatever its name (custom elements and web components, MDX/JSX
components, AMP elements, ``<object>``/``<embed>``, blockquotes and divs of unknown classes).

"Carries a post" is decided by the provider registry alone (``constructs.current()``):
- an attribute whose value is a post URL (``src``, ``data-href``, ``url``...) or a Bluesky at:// URI,
  entities decoded; in what a frame loads (``src``, ``data-src``), also a post URL percent-encoded
  in the query of a player proxy (``urls.post_in_query``);
- an attribute holding JSON (hydration props: ``data-props="{&quot;url&quot;:…}"``, Astro's
  ``props``), entities then JSON decoded, with a post URL in a string, or a post id under a key the
  provider declares;
- an attribute the provider declares as holding a post id (``EmbedForms.id_attrs``: ``videoid``,
  ``data-tweet-id``, ``id``...), when the element names the provider (``EmbedForms.names``) in its
  tag name, its class, a component-naming attribute (``data-react-class``, ``component-url``,
  ``data-provider``...) or the attribute's own name. So ``<Tweet id="…" />`` and
  ``<lite-youtube videoid="…">`` are embeds and ``<section id="12345">`` is not. A key naming the
  platform and one of its id keys (``instagram_id``, ``youtubeVideoId``) names it by itself.

A platform's widgets that name a post without showing it (``EmbedForms.not_posts``: ``fb-like``,
``fb-comments``, ``twitter-share-button``) are not embeds. A wrapper that itself carries the post of
every embed inside it is that embed's outermost markup and becomes its span (Substack's
``youtube-wrap`` div around the player); a wrapper around another post's embed is not an embed. A
``<noscript>`` fallback right after an embed, holding only the same post, joins its span (WP Rocket's
lazy player, lazysizes iframes): one post, one occurrence.

Attributes holding text for readers (``title``, ``alt``, ``aria-*``...), a URL to share (any name with
"share": ``data-share-url`` of a share toolbar) and values broken over lines name nothing. An element
holding the page's own text (a heading or sectioning element, or more text than a post's fallback, the
embeds inside it left out) is a wrapper that names a post, not an embed (``_holds_page_text``).
Links and document metadata are not embeds (``<a>``, ``<link>``, ``<meta>``, forms...), nor is an
element inside a sentence ("see <x-tweet …> here"): it must stand as its own block, with only white
space, markup and line breaks between it and the text around it. ``<param>`` and the fallback
inside an ``<object>`` belong to the object: the object is the embed. The span is the whole element:
start tag to matching end tag, or the tag alone when it closes itself (``/>``), is void or has no
end tag.

Cost: a search for "http", "at://" and the platforms' names; each hit inside a tag costs that tag's
attributes, once; a hit in text costs a look-up of the token boundaries.
"""

from __future__ import annotations

import bisect
import html
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from archiver import foreign_json
from archiver.discover.readers import shows_no_post
from archiver.discover.tags import Tag, parse_attrs
from archiver.discover.tokens import RAW_TEXT, tag_end, token_end
from archiver.discover.urls import PostMatch, handle_in_url, match_post_url, post_in_query
from archiver.lazyre import lazy

if TYPE_CHECKING:
    from archiver.discover.constructs import Constructs
    from archiver.discover.html import HtmlScanner
    from archiver.providers.base import IdReader

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
_NAMING = lazy(r"class|component|^is$|type|provider|platform|network|service|widget|embed|kind|name$")
_TOKEN_START = lazy(r"<[A-Za-z!?/]")
_ALNUM = lazy(r"[^a-z0-9]+")
_MAX_JSON = 100_000
_MAX_NODES = 5_000
_MAX_STEPS = 50  # tokens walked over around an element to see whether it stands alone
# Attributes naming what a frame or object loads: a player proxy's URL carries its post in the query.
_FRAME_SOURCES = frozenset({"src", "data-src", "data-lazy-src", "data"})
_MAX_HELD = 20  # embeds a wrapper or a noscript fallback of one post may hold (a few copies at most)
_NON_WS = lazy(r"[^\t\n\f\r ]")
# What only a page's own content holds, never an embed's fallback: headings and sectioning elements.
_PAGE_ELEMENT = lazy(r"<(?:h[1-6]|article|main|section|header|footer|nav|aside|form)(?=[\t\n\f\r />])", re.I)
# Markup that is not text: scripts and styles with their content, comments, tags.
_MARKUP = lazy(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->|<[^>]*>", re.I | re.S)
_MAX_FALLBACK_TEXT = 300  # characters (white space left out): a post's words fit, a page's do not
_MAX_WRAPPER_SCAN = 200_000  # characters of an element read for its text; more is a page's content
# An element inside this many element embeds already added is not read: its embed would fold into
# theirs (``scan.fold_nested``), and reading each of thousands of nested ones cost their content again.
_MAX_AROUND = 2
_NOSCRIPT_AFTER = lazy(r"[\t\n\f\r ]{0,200}<noscript(?=[\t\n\f\r />])", re.I)
# (generation, [(platform word, provider, the provider's id keys without "data", its id reader)]).
_keyed_cache: tuple[int, list[tuple[str, str, frozenset[str], IdReader]]] | None = None


def find(scan: HtmlScanner) -> None:
    """Add every element embed of the any-element rule to ``scan`` (after its fixed constructs)."""
    tables = scan.constructs
    text, bounds = scan.text, scan.bounds
    taken = {e.start for e in scan.embeds}
    spans: set[tuple[int, int]] = set()
    fixed = sorted((e.start, e.end) for e in scan.embeds)
    posts = sorted((e.start, e.end, e.provider, e.post_id) for e in scan.embeds)
    objects = _ranges(scan, "object") if "<object" in (scan.lower() or text.lower()) else []
    around: list[int] = []  # ends of the element embeds added here that hold the position reached
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
        if found is None or shows_no_post(tag, found[0], tables.not_posts):
            continue
        span = _object_around(objects, start, end) or _element_span(scan, tag)
        while around and around[-1] <= span[0]:
            around.pop()
        if len(around) >= _MAX_AROUND:
            continue  # its embed would fold into theirs; reading it would cost its content again
        if span in spans or _inside(fixed, span) or not _only_holds(posts, span, found) \
                or not stands_alone(scan, *span) or _holds_page_text(scan, tag, span, posts):
            continue
        spans.add(span)
        before = len(scan.embeds)
        scan.add(found, found[0], span[0], span[1], "element", handle=handle_in_url(found))
        if len(scan.embeds) > before:
            around.append(span[1])
    _join_fallbacks(scan)


def _hits(scan: HtmlScanner, tables: Constructs) -> list[int]:
    """Where "http", "at://" (a Bluesky record URI) or a platform's name occurs, in order. Searched
    in a lower-case copy with ``str.find`` (many times faster than a case-blind regex); the regex when
    lower-casing changes the length (a dotted capital I), so offsets would not match."""
    text, low = scan.text, scan.lower()
    if not low:
        return [m.start() for m in tables.element_hint.finditer(text)]
    found: list[int] = []
    for word in ("http", "at://", *tables.names):
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
        if not value or attr in _TEXT_ATTRS or attr.startswith("aria-") or "\n" in raw or "share" in attr:
            continue  # text for readers, a value broken over lines, or a URL to share: no post shown
        values.append((attr, value))
        if _NAMING.search(attr):
            naming.append(_ALNUM.sub("", value.lower()))
    for attr, value in values:
        found = _url(value, attr in _FRAME_SOURCES)
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
        readers = tables.id_attrs.get(key) or _keyed_readers(key, tables)
        if not readers:
            continue
        for provider, read in readers:
            if _named(provider, [*naming, _ALNUM.sub("", key)], tables):
                found = read(value)
                if found and found[0] == provider:
                    return found
    return None


def _url(value: str, frame: bool = False) -> PostMatch | None:
    """The post URL ``value`` is (http(s), protocol-relative or an at:// URI), or, when it names what a
    frame loads (``frame``), the post a player proxy's query carries (``urls.post_in_query``)."""
    head = value[:8].lower()
    if "http" not in head and not value.startswith("//") and not head.startswith("at://"):
        return post_in_query(value) if frame and "?" in value else None
    value = value.replace("\\/", "/")
    found = match_post_url(value)
    if (not found or not found[1]) and frame:
        found = post_in_query(value)
    return found if found and found[1] else None


def _keyed_readers(key: str, tables: Constructs) -> tuple[tuple[str, IdReader], ...]:
    """The id reader for a key that names its platform and one of its id keys (Substack's
    ``instagram_id``, ``youtubeVideoId``, ``data-tiktok-id``, ``tweet_id``): the platform's word
    (``EmbedForms.names``) taken out, what is left (letters and digits, a ``data`` prefix dropped) is
    one of that platform's ``id_attrs``. () when the key names no platform's id."""
    norm = _ALNUM.sub("", key)
    if "id" not in norm:
        return ()
    for word, provider, keys, reader in _keyed_table(tables):
        i = norm.find(word)
        if i >= 0 and (norm[:i] + norm[i + len(word):]).removeprefix("data") in keys:
            return ((provider, reader),)
    return ()


def _keyed_table(tables: Constructs) -> list[tuple[str, str, frozenset[str], IdReader]]:
    global _keyed_cache
    cached = _keyed_cache
    if cached is None or cached[0] != tables.generation:
        by_provider: dict[str, dict[str, IdReader]] = {}
        for attr, readers in tables.id_attrs.items():
            for provider, reader in readers:
                by_provider.setdefault(provider, {})[_ALNUM.sub("", attr).removeprefix("data")] = reader
        rows = []
        for word, provider in sorted(tables.names.items(), key=lambda item: -len(item[0])):
            keys = by_provider.get(provider)
            if keys:
                rows.append((word, provider, frozenset(keys), keys.get("id") or next(iter(keys.values()))))
        cached = _keyed_cache = (tables.generation, rows)
    return cached[1]


def _named(provider: str, words: list[str], tables: Constructs) -> bool:
    return any(p == provider and any(word in w for w in words) for word, p in tables.names.items())


def _json_pairs(value: str) -> list[tuple[str, str]]:
    """(key lower case, scalar as text) of a JSON document, list items under their list's key (Astro
    writes props as ``[0, value]``); [] when it is not JSON. Bounded in size and depth."""
    try:
        data = foreign_json.loads(value)
    except ValueError:
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


def _only_holds(posts: list[tuple[int, int, str, str | None]], span: tuple[int, int], found: PostMatch) -> bool:
    """Whether every embed already read within ``span`` (sorted ``posts``: start, end, provider, id)
    is of the post ``found``: a wrapper that itself carries the post it holds is that embed's outermost
    markup (Substack's ``<div class="youtube-wrap" data-attrs=…>`` around the player), and the embeds
    inside fold into it; a wrapper around another post's embed is not one (that embed keeps its span)."""
    i = bisect.bisect_left(posts, (span[0], 0, "", None))
    for j in range(i, min(len(posts), i + _MAX_HELD + 1)):
        start, end, provider, post_id = posts[j]
        if start >= span[1]:
            return True
        if end <= span[1] and (provider != found[0] or (post_id and post_id != found[1])):
            return False
    return len(posts) - i <= _MAX_HELD  # else more than a wrapper of one post would hold


def _holds_page_text(scan: HtmlScanner, tag: Tag, span: tuple[int, int],
                     posts: list[tuple[int, int, str, str | None]]) -> bool:
    """Whether the element opened by ``tag`` (spanning ``span``) holds the page's own text, so it is a
    wrapper that merely names a post (an ``<article data-source-url=…>``, a hydration root's props, a
    ``<section data-href=…>``), not an embed: outside the embeds already read inside it, a heading or
    sectioning element, or more text than a post's fallback holds (``_MAX_FALLBACK_TEXT`` characters,
    tags, comments, scripts and styles left out). An element's own fallback (a placeholder, a play
    button's label, a quoted post with its link) stays below that."""
    start, end = tag.end, span[1]
    if end - start > _MAX_WRAPPER_SCAN:
        return True
    parts, pos = [], start
    i = bisect.bisect_left(posts, (start, 0, "", None))
    for j in range(i, min(len(posts), i + _MAX_HELD + 1)):
        s, e = posts[j][0], posts[j][1]
        if s >= end:
            break
        if e <= end:
            parts.append(scan.text[pos:s])
            pos = max(pos, e)
    parts.append(scan.text[pos:end])
    inner = "".join(parts)
    if _PAGE_ELEMENT.search(inner):
        return True
    words = _MARKUP.sub(" ", inner)
    return len("".join(html.unescape(words).split())) > _MAX_FALLBACK_TEXT


def _join_fallbacks(scan: HtmlScanner) -> None:
    """A ``<noscript>`` right after an embed (white space between) holding only embeds of the same
    post is that embed's fallback (WP Rocket's lazy player div, lazysizes' ``<iframe data-src>``,
    then ``<noscript><iframe src=…></noscript>``): the embed's span runs over it, so the fallback
    folds into it and one post gives one embed. Costs a ``str.find`` when the text has no noscript."""
    low = scan.lower()
    if "<noscript" not in (low or scan.text.lower()) or not scan.embeds:
        return
    text = scan.text
    pairs = scan._pair_map("noscript")
    ordered = sorted(scan.embeds, key=lambda e: (e.start, -e.end))
    starts = [e.start for e in ordered]
    for e in ordered:
        m = _NOSCRIPT_AFTER.match(text, e.end)
        if m is None:
            continue
        ns_start = m.end() - len("<noscript")
        pair = pairs.get(ns_start)
        open_end = tag_end(text, m.end())
        if pair is None or open_end is None:
            continue
        i = bisect.bisect_left(starts, open_end)
        pos, held = open_end, 0
        while i < len(ordered) and ordered[i].start < pair[0]:
            inner = ordered[i]
            if held >= _MAX_HELD or inner.end > pair[0] or inner.provider != e.provider or (
                    inner.post_id and e.post_id and inner.post_id != e.post_id):
                break
            if inner.start >= pos:
                if _NON_WS.search(text, pos, inner.start):
                    break
                held += 1
            pos = max(pos, inner.end)
            i += 1
        else:
            if held and not _NON_WS.search(text, pos, pair[0]):
                e.end = pair[1]


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
