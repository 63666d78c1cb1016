"""Documents written inside an ``<iframe srcdoc="...">`` attribute: sandboxed "raw HTML" blocks of CMSes
put a post's embed code there, entity-escaped, and a browser shows it as a page of its own.

Discovery reads each such document as HTML of its own (``scan.discover``) and maps what it finds back to
offsets of the article; the rewrite and restore compute their edits on the decoded document and write
them back escaped (`Nested.outer`), so the attribute stays well-formed and no other byte changes.
Decoding follows the HTML Standard's character references in an attribute value (§13.2.5.72-80): a
named reference without ";" before "=" or a letter or digit is text, numeric ones take the Standard's
replacements (``html.unescape``, which implements them).
"""

from __future__ import annotations

import bisect
import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from archiver.discover.common import ATTR_REF, attr_reference
from archiver.discover.tags import parse_attrs
from archiver.discover.tokens import Boundaries, tag_end

MAX_DEPTH = 3  # srcdoc documents inside srcdoc documents read at most this deep
# At most this many srcdoc documents of an article (all depths together) are read by discovery: each
# is discovered as a document of its own, and 40,000 tiny ones made an article cost seconds. Those past
# it are counted and reported (``Discovery.limits``), never read in part.
MAX_DOCUMENTS = 10_000
_IFRAME = re.compile(r"<iframe(?=[\t\n\f\r />])", re.I)
_UNQUOTED_ENDS = re.compile(r"[\t\n\f\r =`]")  # what an unquoted attribute value may not hold as written


@dataclass
class Nested:
    """One srcdoc document: the attribute value text[start:end] of the article (quotes excluded), its
    decoded text `inner`, and `offsets`, where inner[i] begins in the article (len(inner) + 1 entries,
    the last one `end`). `quote` is the value's quote character ("" when unquoted); `children` are the
    srcdoc documents inside this one (offsets into `inner`)."""

    start: int
    end: int
    quote: str
    inner: str
    offsets: list[int]
    source: str = field(repr=False)  # the text the offsets point into: the article, or the parent's `inner`
    children: list[Nested] = field(default_factory=list)

    def outer_span(self, start: int, end: int) -> tuple[int, int] | None:
        """The article span of inner[start:end]; None when it does not decode to exactly that text (an
        edge inside a reference that stands for two characters)."""
        s, e = self.offsets[start], self.offsets[end]
        return (s, e) if decode_value(self.source[s:e])[0] == self.inner[start:end] else None

    def inner_span(self, start: int, end: int) -> tuple[int, int] | None:
        """The span of `inner` whose article text is text[start:end]; None when an edge cuts a
        character reference."""
        i = bisect.bisect_left(self.offsets, start)
        j = bisect.bisect_left(self.offsets, end)
        if i >= len(self.offsets) or j >= len(self.offsets) or self.offsets[i] != start or self.offsets[j] != end:
            return None
        return i, j

    def escape(self, new: str) -> str:
        """`new` (text for the decoded document) as it is written inside this attribute value: "&", "<",
        ">" and both quotes as character references, and in an unquoted value white space, "=" and "`"
        too, so it decodes to `new` and ends nothing."""
        out = html.escape(new, quote=True)
        return _UNQUOTED_ENDS.sub(lambda m: f"&#{ord(m.group(0))};", out) if not self.quote else out


def decode_value(raw: str, base: int = 0) -> tuple[str, list[int]]:
    """(decoded text, offsets) of an attribute value `raw`: offsets[i] is where decoded character i
    begins in `raw` plus `base`; one more entry, for the end. A reference that stands for two
    characters gives both its start."""
    out: list[str] = []
    offsets: list[int] = []
    pos = 0
    for m in ATTR_REF.finditer(raw):
        if m.start() > pos:
            out.append(raw[pos:m.start()])
            offsets.extend(range(base + pos, base + m.start()))
        ref = m.group(0)
        decoded = attr_reference(m)
        if decoded == ref:
            out.append(ref)
            offsets.extend(range(base + m.start(), base + m.end()))
        else:
            out.append(decoded)
            offsets.extend([base + m.start()] * len(decoded))
        pos = m.end()
    out.append(raw[pos:])
    offsets.extend(range(base + pos, base + len(raw) + 1))
    return "".join(out), offsets


def documents(text: str, bounds: Boundaries | None = None, *, deep: bool = True, depth: int = 1) -> list[Nested]:
    """The srcdoc documents of `text`'s real iframe tags (not one inside a comment, raw text or another
    tag), in order; with `deep`, each with the ones inside it down to MAX_DEPTH levels. `bounds`: the
    text's token boundaries when the caller has them. Cheap when "srcdoc" does not occur."""
    found = []
    for value in values(text, bounds):
        doc = decoded(text, value)
        if deep and depth < MAX_DEPTH:
            doc.children = documents(doc.inner, depth=depth + 1)
        found.append(doc)
    return found


SrcdocValue = tuple[int, int, str]  # (value start, value end, raw value) of a non-empty srcdoc attribute


def values(text: str, bounds: Boundaries | None = None) -> Iterator[SrcdocValue]:
    """The non-empty srcdoc attribute values of `text`'s real iframe tags, in order, not decoded (a
    caller that reads only some of them decodes those: `decoded`). Cheap when "srcdoc" does not occur."""
    if "srcdoc" not in text and "SRCDOC" not in text.upper():
        return
    bounds = bounds or Boundaries(text)
    for m in _IFRAME.finditer(text):
        if bounds.token_at(m.start()) is not None:
            continue
        end = tag_end(text, m.end())
        if end is None:
            break
        value = parse_attrs(text, m.end(), end).get("srcdoc")
        if value is None or value[1] == value[2]:
            continue
        yield value[1], value[2], value[0]


def decoded(text: str, value: SrcdocValue) -> Nested:
    """The document of one srcdoc attribute value of `text` (`values`), without its children."""
    start, stop, raw = value
    quote = text[start - 1] if start > 0 and text[start - 1] in "\"'" else ""
    inner, offsets = decode_value(raw, start)
    return Nested(start, stop, quote, inner, offsets, text)


def path_to(docs: list[Nested], start: int, end: int) -> list[Nested]:
    """The srcdoc documents holding text[start:end], outermost first ([] when it lies in none); spans
    of each next one are offsets into the previous one's `inner`."""
    path: list[Nested] = []
    while docs:
        i = bisect.bisect_right(docs, start, key=_start_of) - 1  # O(log n): no list per call
        if i < 0 or not (docs[i].start <= start and end <= docs[i].end):
            break
        doc = docs[i]
        span = doc.inner_span(start, end)
        if span is None:
            break
        path.append(doc)
        start, end = span
        docs = doc.children
    return path


def _start_of(doc: Nested) -> int:
    return doc.start


def innermost_text(path: list[Nested], start: int, end: int) -> tuple[str, int, int]:
    """(the decoded text of the innermost document of `path`, the span of text[start:end] in it); for an
    empty path, ("", start, end) and the caller reads its own text."""
    text = ""
    for doc in path:
        span = doc.inner_span(start, end)
        assert span is not None  # path_to only takes documents the span maps into
        start, end = span
        text = doc.inner
    return text, start, end


def to_outer(path: list[Nested], start: int, end: int, new: str) -> tuple[int, int, str] | None:
    """An edit of the innermost document of `path` (inner[start:end] becomes `new`) as an edit of the
    article: spans mapped out and `new` escaped once per level; None when a span does not map."""
    for doc in reversed(path):
        span = doc.outer_span(start, end)
        if span is None:
            return None
        start, end = span
        new = doc.escape(new)
    return start, end, new


def walk(docs: list[Nested]) -> Iterator[tuple[list[Nested], Nested]]:
    """Every document of `docs` and inside them, each with the path of documents holding it."""
    for doc in docs:
        yield [], doc
        for path, child in walk(doc.children):
            yield [doc, *path], child


Edit = tuple[int, int, str]


def edit_within(text: str, docs: list[Nested], start: int, end: int,
                make: Callable[[str, int, int], list[Edit]]) -> list[Edit]:
    """The edits ``make(document, start, end)`` computes for the span text[start:end], made on the
    decoded srcdoc document that holds the span (`docs`: ``documents(text)``), mapped back to `text` and
    escaped (`to_outer`); on `text` itself when no srcdoc document holds it. All or nothing: [] when
    one of them does not map back."""
    path = path_to(docs, start, end)
    if not path:
        return make(text, start, end)
    inner, s, e = innermost_text(path, start, end)
    out = []
    for a, b, new in make(inner, s, e):
        mapped = to_outer(path, a, b, new)
        if mapped is None:
            return []
        out.append(mapped)
    return out
