"""Line-level discovery: bare post URLs on their own line or alone in a <p> (WordPress
auto-embeds), and image URLs and leftover image paths in plain text. (Platform-specific plain-text
forms, such as tweets flattened to "… — Name (@handle) Month D, YYYY", are read by their provider
module: ``EmbedForms.text``.)

A line ends at LF, CR or CR LF, as HTML and CommonMark read them (an article saved on a classic Mac
or sent through a CMS that writes CR LF has the same lines); in a plain-text article also at the other
mandatory breaks of Unicode (UAX #14: VT, FF, NEL, LS, PS; ``url_lines(..., unicode_breaks=True)``,
``image_lines``). The patterns run over a copy of the text with every line ending written as LF and
offsets kept (``as_lf``), so each span still points at the exact characters of the article, and a
line ending is never part of a URL or of a span.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

from archiver.discover.common import is_image_candidate, looks_like_image_path, unescape_attr
from archiver.discover.model import ImageRef
from archiver.discover.tags import parse_attrs
from archiver.discover.tokens import tag_body
from archiver.discover.urls import PostMatch, match_post_url
from archiver.lazyre import lazy

_URL_LINE = re.compile(r"^[ \t]*+(https?://[^\s<>\"]++)[ \t\r]*+$", re.M | re.I)
# The same after the first line: starting with its newline lets the regex engine skip to newlines
# (tried at every position, the "^" of _URL_LINE costs about ten times as much on a long article).
_NEXT_URL_LINE = re.compile(r"\n[ \t]*+(https?://[^\s<>\"]++)[ \t\r]*+(?=\n|\Z)", re.I)
_URL_PARAGRAPH = re.compile(
    rf"<p(?:[\t\n\f\r /]{tag_body(500)})?>[ \t\r\n]{{0,50}}(https?://[^\s<>\"]{{1,2000}})[ \t\r\n]{{0,50}}</p\s*>",
    re.I,
)
# A root-relative image path left at the start of a line when Markdown was flattened: "/x.jpg)".
_PATH_LINE = lazy(
    r"^[ \t]*+(/[^\s()<>\"]{1,2000}?\.(?:jpe?g|png|gif|webp|avif))(?=\)?[ \t\r]*+$)", re.M | re.I
)


# The mandatory line breaks of Unicode besides CR and LF (UAX #14 classes BK and NL): line breaks of a
# plain-text article, not of HTML or Markdown (where they are characters of a line).
UNICODE_BREAKS = "\x0b\x0c\x85\u2028\u2029"
_UNICODE_TO_LF = str.maketrans(dict.fromkeys(UNICODE_BREAKS, "\n"))


def as_lf(text: str, unicode_breaks: bool = False) -> str:
    """`text` with every line ending written as LF, each character at its offset: CR LF becomes " " LF
    (white space at a line's end, which no pattern here keeps), a lone CR becomes LF; with
    `unicode_breaks`, VT, FF, NEL, LS and PS become LF too. Spans found in the result are spans of `text`."""
    if "\r" in text:
        text = text.replace("\r\n", " \n").replace("\r", "\n")
    if unicode_breaks and any(c in text for c in UNICODE_BREAKS):
        text = text.translate(_UNICODE_TO_LF)
    return text


def _as_lf_text(fragment: str) -> str:
    """A fragment's text with CR LF and a lone CR written as LF (offsets not kept: for what a reader sees)."""
    return fragment.replace("\r\n", "\n").replace("\r", "\n") if "\r" in fragment else fragment


def _url_line_matches(text: str) -> Iterator[re.Match[str]]:
    """Every line holding one URL and nothing else (group 1: the URL), as _URL_LINE.finditer gives them;
    `text` has LF line endings only (``as_lf``)."""
    first = _URL_LINE.match(text, 0)
    if first:
        yield first
    yield from _NEXT_URL_LINE.finditer(text)


def url_lines(text: str, *, unicode_breaks: bool = False) -> list[tuple[int, int, PostMatch]]:
    """Post URLs alone on their line (ended by LF, CR or CR LF; with `unicode_breaks`, as in a plain-text
    article, also VT, FF, NEL, LS or PS): (start, end, match); the span is the URL itself."""
    out = []
    for m in _url_line_matches(as_lf(text, unicode_breaks)):
        found = match_post_url(html.unescape(text[m.start(1):m.end(1)]))
        if found:
            out.append((m.start(1), m.end(1), found))
    return out


def url_paragraphs(text: str) -> list[tuple[int, int, PostMatch]]:
    """`<p>URL</p>` paragraphs holding nothing but a post URL; the span is the whole paragraph."""
    out = []
    for m in _URL_PARAGRAPH.finditer(text):
        found = match_post_url(html.unescape(m.group(1)))
        if found:
            out.append((m.start(), m.end(), found))
    return out


def image_lines(text: str) -> list[ImageRef]:
    """Image URLs alone on a line, and root-relative image paths left from Markdown images, in a
    plain-text article: a line ends at LF, CR, CR LF or another Unicode line break (``as_lf``)."""
    out = []
    lf = as_lf(text, unicode_breaks=True)
    for m in _url_line_matches(lf):
        url = text[m.start(1):m.end(1)]
        if looks_like_image_path(url) and is_image_candidate(url) and not match_post_url(url):
            out.append(ImageRef(url=url, start=m.start(1), end=m.end(1), form="text"))
    for m in _PATH_LINE.finditer(lf):
        path = text[m.start(1):m.end(1)]
        if not path.startswith("//"):
            out.append(ImageRef(url=path, start=m.start(1), end=m.end(1), form="text-path"))
    return out


# --- Flattened embeds: what HTML-to-Markdown and HTML-to-text converters leave of an embed's
# blockquote (turndown, html2text, pandoc, markdownify): "> " quote markers, Markdown links, escapes.

_QUOTED = lazy(r"[ \t]{0,3}>")
_QUOTE_MARK = lazy(r"^[ \t]{0,3}(?:>[ \t]?){1,4}", re.M)
# A Markdown link or image as a reader sees it (its text): inline, with any target (<…>, balanced
# parentheses) and title ("…", '…', (…)); full or collapsed reference ([text][1], [text][]); autolink.
_MD_LINK = lazy(
    r"!?\[([^\[\]\n]{0,500})\]"
    r"(?:\([ \t]*+(?:<[^<>\n]{0,2000}+>|(?:[^()\s]|\([^()\s]{0,200}+\)){0,2000}+)"
    r"(?:[ \t]+(?:\"[^\"\n]{0,200}\"|'[^'\n]{0,200}'|\([^()\n]{0,200}\)))?[ \t]*+\)"
    r"|[ ]?\[[^\[\]\n]{0,200}\])"
    r"|<((?:https?|mailto):[^\s<>]{1,2000})>",
    re.I,
)
_MD_ESCAPE = lazy(r"\\([\\`*_{}\[\]()#+\-.!|<>@~\"'])")
_HARD_BREAK = lazy(r"(?: {2,}|\\)$", re.M)
_BLANKS = lazy(r"\n[ \t]*(?:\n[ \t]*)+")
# A link right after an attribution: Markdown inline, Markdown reference, HTML, or a bare/bracketed URL.
_INLINE_LINK = lazy(
    r"\[((?:[^\[\]\n]|\n[ \t]{0,3}(?:>[ \t]?)?){1,200}?)\]"
    r"\(\s*<?([^()\s<>]{1,2000})>?(?:[ \t]+\"[^\"\n]{0,200}\")?\s*\)"
)
_REF_LINK = lazy(r"\[((?:[^\[\]\n]|\n[ \t]{0,3}(?:>[ \t]?)?){1,200}?)\] ?\[([^\[\]\n]{0,200})\]")
_HTML_LINK = lazy(
    rf"<a[\t\n\f\r ]({tag_body(2000)})>([^<>]{{1,200}})</a\s*>", re.I
)
_BARE_URL = lazy(r"[ \t]*[(<]?(https?://[^\s()<>]{1,2000})[)>]?")
_REF_DEF = lazy(r"^[ \t]{0,3}(?:>[ \t]?)?\[([^\[\]\n]{1,200})\]:[ \t]*<?([^\s<>]{1,2000})>?", re.M)
_defs_cache: tuple[str, dict[str, str]] | None = None  # (text, its definitions): see `_definitions`


def is_quoted(text: str, line_start: int) -> bool:
    """Whether the line starting at ``line_start`` is a Markdown blockquote line ("> …")."""
    return bool(_QUOTED.match(text, line_start))


def run_start(text: str, line_start: int, lo: int, max_lines: int = 40) -> int:
    """Where the run of lines that ends with the line at ``line_start`` begins, not before ``lo``: the
    first line of its blockquote when that line is quoted ("> "), else the first line of its paragraph
    (lines up to a blank one). The line at ``line_start`` itself is included. Lines end at LF, CR or
    CR LF."""
    quoted = is_quoted(text, line_start)
    start = line_start
    for _ in range(max_lines):
        if start <= lo:
            return lo
        brk = start - 2 if start - 2 >= lo and text.startswith("\r\n", start - 2) else start - 1
        prev = max(text.rfind("\n", lo, brk), text.rfind("\r", lo, brk)) + 1
        prev = max(prev, lo)
        line = text[prev:brk]
        if quoted:
            if not is_quoted(text, prev):
                break
        elif not line.strip():
            break
        start = prev
    return start


def plain_markdown(fragment: str) -> str:
    """What a reader sees of converted Markdown: quote markers, hard breaks, link targets and escapes
    dropped, entities decoded, blank-line runs made one, outer white space trimmed."""
    out = _QUOTE_MARK.sub("", _as_lf_text(fragment))
    out = _HARD_BREAK.sub("", out)
    out = _MD_LINK.sub(lambda m: m.group(1) if m.group(2) is None else m.group(2), out)
    out = html.unescape(_MD_ESCAPE.sub(r"\1", out))
    out = "\n".join(line.strip() for line in out.split("\n"))
    return _BLANKS.sub("\n\n", out).strip()


def link_at(text: str, pos: int) -> tuple[str, str, int] | None:
    """A link written at ``text[pos]`` (after optional blanks): (anchor as shown, URL, end). Markdown
    inline ``[May 3, 2024](URL)`` (its anchor may wrap onto a quoted next line), reference
    ``[May 3, 2024][1]`` with its definition anywhere, or HTML ``<a href="URL">…</a>``."""
    while pos < len(text) and text[pos] in " \t\u00a0":
        pos += 1
    m = _INLINE_LINK.match(text, pos)
    if m:
        return _anchor(m.group(1)), html.unescape(m.group(2)), m.end()
    m = _REF_LINK.match(text, pos)
    if m:
        target = _definitions(text).get(_label(m.group(2) or m.group(1)))
        return (_anchor(m.group(1)), html.unescape(target), m.end()) if target is not None else None
    m = _HTML_LINK.match(text, pos)
    href = parse_attrs(text, m.start(1), m.end(1) + 1).get("href") if m else None
    if m and href and href[0].strip():
        return _anchor(m.group(2)), unescape_attr(href[0]), m.end()
    return None


def _label(raw: str) -> str:
    """A reference label as matched: white space runs made one space, case folded."""
    return " ".join(raw.split()).casefold()


def _definitions(text: str) -> dict[str, str]:
    """The reference definitions of ``text`` (label as ``_label`` gives it -> URL as written; the
    first of a repeated label wins), read once per text: a document of many reference links costs
    one pass over it, not one per link."""
    global _defs_cache
    cached = _defs_cache
    if cached is not None and cached[0] is text:
        return cached[1]
    defs: dict[str, str] = {}
    for d in _REF_DEF.finditer(as_lf(text)):
        defs.setdefault(_label(d.group(1)), d.group(2))
    _defs_cache = (text, defs)
    return defs


def url_at(text: str, pos: int) -> tuple[str, int] | None:
    """A bare URL at ``text[pos]`` (after optional blanks), possibly in "( )" or "< >": (URL, end)."""
    m = _BARE_URL.match(text, pos)
    return (m.group(1), m.end()) if m else None


def _anchor(raw: str) -> str:
    return " ".join(_QUOTE_MARK.sub("", html.unescape(_MD_ESCAPE.sub(r"\1", _as_lf_text(raw)))).split())
