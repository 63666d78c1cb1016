"""Reading HTML tags without a tree parser: a tag's attributes with their offsets in the article, the
candidates of a srcset, the links inside an element. Shared by the HTML scanner (``html.py``), its
image half (``html_images.py``) and the providers' readers (``readers.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from archiver.discover.common import unescape_attr
from archiver.discover.tokens import ATTR, tag_body

_A_OPEN = re.compile(rf"<a(?=[\t\n\f\r />])({tag_body(3000)})>", re.I)

Attrs = dict[str, tuple[str, int, int]]  # name -> (raw value, value start, value end)


@dataclass
class Tag:
    """An opening tag: its name (lower case), where it starts and ends in the text, its attributes."""

    name: str
    start: int
    end: int
    attrs: Attrs

    def get(self, name: str) -> str | None:
        """Attribute value with entities decoded, or None."""
        found = self.attrs.get(name)
        return unescape_attr(found[0]) if found is not None else None

    def classes(self) -> set[str]:
        """Its class names, lower case."""
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
        """The links' hrefs, in document order."""
        return [link.href for link in self.links]


def parse_attrs(text: str, start: int, end: int) -> Attrs:
    """Attributes of the tag body text[start:end] (from the end of the tag's name to just after its
    ">"), read as the HTML tokenizer reads them (``tokens.ATTR``: an unquoted value runs to white space
    or ">", "=" and quotes included); the first of a repeated name wins (as in HTML)."""
    attrs: Attrs = {}
    for m in ATTR.finditer(text, start, end):
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
        h = parse_attrs(text, m.start(1), m.end()).get("href")
        if not h:
            continue
        href = unescape_attr(h[0])
        close = text.find("</a", m.end(), min(end, m.end() + 2000))
        out.append(Link(href, text[m.end():close] if close >= 0 else ""))
    return out


def trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """The span text[start:end] without the whitespace at its ends."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
