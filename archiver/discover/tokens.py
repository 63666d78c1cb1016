"""Where HTML's tags, comments and raw-text elements begin and end, as a browser's tokenizer (the HTML
Standard's, §13.2.5) reads them, so that no span of an embed or image ever cuts through one.

The scanner stops only at the tags that matter and never builds a tree; these patterns give it the
tokenizer's answer at those places. A tag runs from ``<`` and a letter to the first ``>`` outside a
quoted attribute value, end tags included (``</blockquote to <a href=x>`` is one end tag, attributes
and all); ``</ x>`` and ``<!x>`` are bogus comments up to the next ``>``; a comment ends at the first
``-->`` or ``--!>`` (``<!-->`` and ``<!--->`` are whole comments); the text of script, style,
textarea, title, xmp, iframe, noembed and noframes runs to their own end tag (a script's through
its escaped states: in ``<!--<script></script>`` the end tag ends nothing); an unterminated
construct swallows the rest of the document. (Not modelled: foreign content, inside ``<svg>`` and
``<math>``, where ``<style>`` is an ordinary element and CDATA sections exist; there an embed may
be missed, or found in what a browser shows as text, but a span still never cuts a token.)

`Boundaries` answers "is this offset between tokens, or inside which one?" by walking the text with
one regular expression (the walk runs in the regex engine, and each stretch is walked once).
"""

from __future__ import annotations

import bisect
import functools
import re

WS = "\t\n\f\r "
_WS = r"[\t\n\f\r ]"
# What follows a tag's name: attributes (any name; a value quoted, unquoted, or missing), slashes and
# white space, then ">". It fails only at the end of the text: an unterminated tag.
_ATTR_NAME = r"[^\t\n\f\r />][^\t\n\f\r />=]*+"
_ATTR_VALUE = r"""(?:"([^"]*+)"|'([^']*+)'|([^\t\n\f\r >"'][^\t\n\f\r >]*+)|(?=>))"""
_ATTR_SRC = rf"({_ATTR_NAME})(?:{_WS}*+={_WS}*+{_ATTR_VALUE}|(?!{_WS}*+=))"
_TAG_REST_SRC = rf"(?:[\t\n\f\r /]++|{_ATTR_SRC})*+>"
_NAME_REST = r"[^\t\n\f\r />]*+"
RAW_TEXT = ("script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes")
_RAW = "|".join(RAW_TEXT)


# An attribute's quoted value, "=" and all, as `tag_body` reads it (may hold ">", never "<").
QUOTED_VALUE = rf"""={_WS}*+(?:"[^"<]{{0,3000}}+"|'[^'<]{{0,3000}}+')"""


def tag_body(limit: int) -> str:
    """A pattern for what follows a tag's name up to (not including) its ">", for searches that find
    tags by regex: a quoted value may hold ">" (``title="2>1"``), as the tokenizer reads it. No part
    may hold "<", so the attempts at two tags never scan the same text (searches stay linear); at
    most ``limit`` characters a value and ``limit`` values or characters in all. Without groups."""
    return rf"""(?:={_WS}*+(?:"[^"<]{{0,{limit}}}+"|'[^'<]{{0,{limit}}}+')|[^<>]){{0,{limit}}}+"""


_NOGROUPS = re.compile(r"\((?!\?)").sub  # token patterns capture nothing (groups under *+ trip up re)
_REST = _NOGROUPS("(?:", _TAG_REST_SRC)
ATTR = re.compile(_ATTR_SRC)  # groups: name, then the value double-quoted, single-quoted or unquoted
TAG_REST = re.compile(_REST)
_TOKEN_SRC = (  # any token but a raw-text element (those are read in `token_end`)
    rf"<(?!(?:{_RAW}|plaintext)(?=[\t\n\f\r />]))[A-Za-z]{_NAME_REST}{_REST}"  # a start tag
    rf"|</[A-Za-z]{_NAME_REST}{_REST}"  # an end tag, attributes and all
    r"|</>"  # nothing at all
    r"|<!--(?:-?>|(?:[^-]++|-(?!-!?>))*+--!?>)"  # a comment
    r"|<!(?!--)[^>]*+>|<\?[^>]*+>|</[^A-Za-z>][^>]*+>"  # a doctype, or a bogus comment
)
TOKEN = re.compile(_TOKEN_SRC, re.I)
# Text and whole tokens as far as they go, raw-text elements left to `Boundaries` (a pattern holding
# them all walks at half the speed): where it stops, a raw-text element or a token that does not end
# (before `endpos`, or at all) begins. First characters pick the alternative, for speed.
_WALK = re.compile(
    rf"(?:[^<]++|<(?![A-Za-z!?/])|</\Z|<(?:/(?:[A-Za-z]{_NAME_REST}{_REST}|>|[^A-Za-z>][^>]*+>)"
    r"|!(?:--(?:-?>|(?:[^-]++|-(?!-!?>))*+--!?>)|(?!--)[^>]*+>)|\?[^>]*+>"
    rf"|(?!(?:{_RAW}|plaintext)[\t\n\f\r />])[A-Za-z]{_NAME_REST}{_REST}))*+",
    re.I,
)
_CONSTRUCT_START = re.compile(r"<[A-Za-z!?/]|</")
_RAW_START = re.compile(rf"<({_RAW}|plaintext)(?=[\t\n\f\r />])", re.I)
# What changes the state inside a script: "<!--" (to escaped, unless "-->" follows at once), "-->",
# "<script" and "</script" (the end tag, or in and out of double-escaped text).
_SCRIPT_MARK = re.compile(r"<!--(-*+>)?|-->|<(/?)script(?=[\t\n\f\r />])", re.I)


def tag_end(text: str, pos: int) -> int | None:
    """Where the tag whose name ends at `pos` ends (just after its ">"); None when it never ends."""
    m = TAG_REST.match(text, pos)
    return m.end() if m else None


def raw_text_end(text: str, name: str, pos: int) -> tuple[int, int] | None:
    """(start, end) of the end tag closing raw-text element `name` whose content starts at `pos`;
    None when there is none (the element's text then runs to the end of the document). A script's
    text follows the tokenizer's escaped states: in "<!-- <script> ... -->" a "</script>" ends nothing."""
    if name.lower() == "script":
        start = _script_close(text, pos)
    else:
        m = _end_tag(name.lower()).search(text, pos)
        start = m.start() if m else None
    if start is None:
        return None
    end = tag_end(text, start + 2 + len(name))
    return (start, end) if end is not None else None


@functools.cache
def _end_tag(name: str) -> re.Pattern[str]:
    """The opening of `name`'s end tag, any case."""
    return re.compile(rf"</{re.escape(name)}(?=[\t\n\f\r />])", re.I)


def _script_close(text: str, pos: int) -> int | None:
    """Where the end tag of a script whose text starts at `pos` begins (script data, escaped and
    double-escaped states of the HTML tokenizer); None when it has none."""
    state = "data"
    for m in _SCRIPT_MARK.finditer(text, pos):
        mark = m.group(0)
        if mark.startswith("<!--"):
            if m.group(1):  # "<!-->" or "<!--->": escaped and back at once
                state = "data"
            elif state == "data":
                state = "escaped"
        elif mark == "-->":
            if state != "data":
                state = "data"
        elif m.group(2):  # "</script"
            if state == "double":
                state = "escaped"
            else:
                return m.start()
        elif state == "escaped":  # "<script"
            state = "double"
    return None


def comment_end(text: str, start: int) -> int | None:
    """The end of the comment that opens at `start` ("<!--"); None when it never ends."""
    m = TOKEN.match(text, start)
    return m.end() if m else None


def token_end(text: str, start: int) -> int:
    """The end of the token (tag, comment, raw-text element from its start tag to its end tag, ...)
    that begins at `start`; the end of the text when it never ends."""
    raw = _RAW_START.match(text, start)
    if raw is None:
        m = TOKEN.match(text, start)
        return m.end() if m else len(text)
    body = tag_end(text, raw.end())
    name = raw.group(1).lower()
    close = raw_text_end(text, name, body) if body is not None and name != "plaintext" else None
    return close[1] if close is not None else len(text)


# A walk no longer than this is not remembered: walking it again costs less than keeping the sorted
# list of marks (an insertion in its middle moves the marks after it: many nearby queries made that
# quadratic), and so each query walks at most this far past the last mark remembered.
_SHORT_WALK = 256


class Boundaries:
    """Which offsets of `text` lie between tokens (in text, or where a tag, comment or raw-text element
    begins or ends) and which lie inside one, as a browser's tokenizer reads the document.

    Queries may come in any order; each walks from the nearest offset already known to lie between
    tokens, so offsets asked in document order cost one walk of the text in all (and a short walk,
    ``_SHORT_WALK``, per query: short ones are not remembered).
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self._marks = [0]  # offsets known to lie between tokens, sorted
        self._tokens: dict[int, int] = {}  # token start -> end, for tokens found around a query

    def token_at(self, pos: int) -> tuple[int, int] | None:
        """(start, end) of the token `pos` lies strictly inside (start < pos < end); None when `pos`
        lies between tokens. The end of an unterminated token is the end of the text."""
        if pos <= 0 or pos >= self.n:
            return None
        marks = self._marks
        base = marks[bisect.bisect_right(marks, pos) - 1]
        if base == pos:
            return None
        known = self._tokens.get(base)
        if known is not None and known > pos:
            return base, known
        origin = base
        while True:
            stop = _WALK.match(self.text, base, pos).end()
            if stop == pos:
                half = self._half_open(pos) if self.text[pos - 1] in "</" else None
                if half is None:
                    if pos - origin > _SHORT_WALK or (base > origin and pos > marks[-1]):
                        # A long walk, or one over raw-text elements (each read to its end tag: a page
                        # of many small iframes or scripts walked them again at every query) that
                        # ends past every mark: remembered (appended, so no mark moves).
                        bisect.insort(marks, pos)
                    return None
                stop = half
            end = token_end(self.text, stop)
            if end > pos:
                break
            base = end  # a raw-text element, over before `pos`
        if base - origin > _SHORT_WALK:
            # Raw-text elements walked over (a page of many small scripts): where the last one ends lies
            # between tokens; remembered, so the next query does not walk them all again.
            i = bisect.bisect_left(marks, base)
            if i == len(marks) or marks[i] != base:
                marks.insert(i, base)
        if stop - base <= _SHORT_WALK and end - stop <= _SHORT_WALK:
            return stop, end  # as cheap to walk again as to remember
        self._tokens[stop] = end
        for mark in (stop, end):
            i = bisect.bisect_left(marks, mark)
            if i == len(marks) or marks[i] != mark:
                marks.insert(i, mark)
        return stop, end

    def between(self, start: int, end: int) -> bool:
        """Whether text[start:end] begins and ends between tokens (so it holds whole tokens only)."""
        return self.token_at(start) is None and self.token_at(end) is None

    def _half_open(self, pos: int) -> int | None:
        """The start of a construct the walk took for text because `pos` cut it ("<" | "a", "</" | "a")."""
        for back in (1, 2):
            start = pos - back
            if start >= 0 and _CONSTRUCT_START.match(self.text, start, pos + 1):
                return start
        return None
