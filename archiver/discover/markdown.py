"""Markdown discovery: image targets (inline, angle-bracketed, reference style, balanced
parentheses). (Shortcodes and template tags, Hugo ``{{< name … >}}``, Jekyll ``{% name … %}`` and the
rest, are read in any format by ``archiver.discover.shortcodes``.)

Spans of images cover exactly the URL as written, so a rewrite replaces only that.
"""

from __future__ import annotations

import bisect
import re
import sys
from html.entities import html5

from archiver.discover.common import credit_from_alt, is_image_candidate, looks_like_image_url, merge_ranges
from archiver.discover.model import ImageRef
from archiver.lazyre import lazy

_IMAGE = lazy(r"!\[([^\[\]\n]{0,1000}+)\]([(\[]?)")
# After an inline target: an optional title, and markdown-it-imsize's size (``=600x400``, ``=600x``,
# ``=x400``, before or after the title), then ")".
_SIZE = r"(?:=\d{0,5}(?:%|px)?x\d{0,5}(?:%|px)?[ \t]*+)?"
_TITLE_CLOSE = lazy(
    r"""[ \t]*+(?:\n[ \t]*+)?""" + _SIZE
    + r"""(?:"[^"\n]{0,1000}+"|'[^'\n]{0,1000}+'|\([^()\n]{0,1000}+\))?[ \t]*+""" + _SIZE + r"\)"
)
_REF_LABEL = lazy(r"([^\]\n]{0,999}+)\]")
_REF_DEF = lazy(r"^[ ]{0,3}\[([^\]\n]{1,999}+)\]:[ \t]*+(?:<([^<>\n]{1,4000}+)>|(\S{1,4000}+))", re.M)
_FENCE = lazy(r"^[ ]{0,3}+(`{3,}+|~{3,}+)([^\n]*+)", re.M)
# A link's target (no parentheses in it, so every search is bounded by the next one): <…> or bare.
_LINK_TARGET = lazy(r"\]\([ \t]*+(?:<([^<>\n]{1,4000}+)>|([^\s()<>]{1,4000}+))")
_AUTOLINK = lazy(r"<(https?://[^\s<>]{1,4000}+)>", re.I)
_BRACKETED = lazy(r"\[([^\[\]\n]{1,999}+)\](?!:)")
_MAX_URL = 4096


def _lf(text: str) -> str:
    """`text` with every line ending written as LF, offsets kept: CommonMark's line ending is LF, CR or
    CR LF (§2.1), so a lone CR becomes LF and CR LF becomes " " LF (white space at a line's end, which
    changes nothing discovery reads)."""
    if "\r" not in text:
        return text
    return text.replace("\r\n", " \n").replace("\r", "\n")


def fenced_ranges(text: str) -> list[tuple[int, int]]:
    """Code-fence regions, whose content is shown, not rendered: as CommonMark reads them, a fence
    opens with three or more backticks or tildes (a backtick fence's info string holds no backtick)
    and closes only at a line of the same character, at least as many, and nothing else but blanks
    (so a 4-backtick fence shows a 3-backtick one as its content); an unclosed fence runs to the end.
    Sorted (start, end) pairs, end after the closing fence."""
    text = _lf(text)
    ranges: list[tuple[int, int]] = []
    opening: tuple[int, str, int] | None = None  # (start, character, length)
    for m in _FENCE.finditer(text):
        run, rest = m.group(1), m.group(2)
        if opening is None:
            if run[0] == "`" and "`" in rest:
                continue  # an inline code span at a line's start, not a fence
            opening = (m.start(), run[0], len(run))
        elif run[0] == opening[1] and len(run) >= opening[2] and not rest.strip():
            ranges.append((opening[0], m.start(1) + len(run)))
            opening = None
    if opening is not None:
        ranges.append((opening[0], len(text)))
    return ranges


def inside(ranges: list[tuple[int, int]], pos: int) -> bool:
    """True when pos lies in one of the sorted, non-overlapping ranges."""
    i = bisect.bisect_right(ranges, (pos, sys.maxsize)) - 1
    return i >= 0 and ranges[i][0] <= pos < ranges[i][1]


_DEST_TOKEN = lazy(r"\\.|[()\s]", re.S)  # what ends or nests a bare target: escapes skipped


class _Targets:
    """Inline targets after "(" (CommonMark's link destination: ``<…>``, or bare with balanced
    parentheses, ending at white space or an unbalanced ")"), read in time linear in the text however
    many "![a](" there are: a run of non-space characters is tokenized once, with for each parenthesis
    where the depth first drops below its own (a monotonic stack), so every "(" inside the run finds
    its target's end by one bisection."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.lo = self.hi = -1  # the run read: text[lo:hi], hi at unescaped white space or the end
        self.parens: list[int] = []  # positions of its unescaped parentheses
        self.drop: list[int] = []  # per parenthesis (index + 1; 0 the run's start): first later one below it
        self.gt = self.nl = -1  # the next ">" and "\n" looked up (for <…> targets)

    def _read_run(self, lo: int) -> None:
        parens: list[int] = []
        depths = [0]
        depth, hi = 0, self.n
        for m in _DEST_TOKEN.finditer(self.text, lo):
            c = m.group(0)
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
            elif len(c) == 1:  # white space
                hi = m.start()
                break
            else:
                continue
            parens.append(m.start())
            depths.append(depth)
        drop = [0] * len(depths)  # 0: none (index 0 is the start, never a later one)
        stack: list[int] = []
        for k in range(len(depths) - 1, -1, -1):
            while stack and depths[stack[-1]] >= depths[k]:
                stack.pop()
            drop[k] = stack[-1] if stack else 0
            stack.append(k)
        self.lo, self.hi, self.parens, self.drop = lo, hi, parens, drop

    def end_of_bare(self, i: int) -> int:
        """Where a bare target starting at ``i`` ends: white space, an unbalanced ")" or the end."""
        before = bisect.bisect_left(self.parens, i) if self.lo <= i < self.hi else 0
        if not (self.lo < i < self.hi and before and self.parens[before - 1] == i - 1):
            self._read_run(i)  # not inside the run read, just after one of its "(": read from i
            before = 0
        after = self.drop[before]
        return self.parens[after - 1] if after else self.hi

    def at(self, i: int) -> tuple[int, int, int] | None:
        """Parse an inline target after "(" at ``i``: (url start, url end, position after ")"), or None."""
        text, n = self.text, self.n
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] in "\r\n":  # spaces around one line ending may come before it (CommonMark)
            i += 2 if text.startswith("\r\n", i) else 1
            while i < n and text[i] in " \t":
                i += 1
        if i < n and text[i] == "<":
            if self.gt <= i:
                self.gt = text.find(">", i + 1)
                self.gt = n if self.gt < 0 else self.gt
            if self.nl <= i:
                self.nl = text.find("\n", i + 1)
                self.nl = n if self.nl < 0 else self.nl
            if self.gt >= n or self.nl < self.gt or self.gt - i - 1 > _MAX_URL:
                return None
            start, end, after = i + 1, self.gt, self.gt + 1
        else:
            start = i
            end = after = self.end_of_bare(i)
            if end - start > _MAX_URL:
                return None
        m = _TITLE_CLOSE.match(text, after)
        if not m or end <= start:
            return None
        return start, end, m.end()


def _norm_label(label: str) -> str:
    return " ".join(label.split()).casefold()


def images(text: str, fences: list[tuple[int, int]]) -> list[ImageRef]:
    """Markdown images outside code fences (or any code ranges given as `fences`), one per inline
    occurrence or used definition; and links whose target is an image file (``[![thumb](a.jpg)](full.jpg)``,
    ``[download](photo.jpg)``, ``<https://x/a.jpg>``, a used reference definition), as an ``<a href>``
    to an image is one."""
    text = _lf(text)
    out: list[ImageRef] = []
    refs: dict[str, str] = {}
    targets: set[int] = set()  # where the images' own "(" are
    reader = _Targets(text)
    pos = 0
    while True:
        m = _IMAGE.search(text, pos)
        if not m:
            break
        pos = m.end()
        if inside(fences, m.start()) or _escaped(text, m.start()):
            continue  # code, or "\\![": a "!" shown as written before a link
        alt = decoded(m.group(1)).strip() or None
        if m.group(2) == "(":
            targets.add(m.end() - 1)
            found = reader.at(m.end())
            if found:
                start, end, pos = found
                _add(out, text[start:end], start, end, "markdown", alt)
        else:
            label = m.group(1)
            if m.group(2) == "[":
                lm = _REF_LABEL.match(text, m.end())
                if lm and lm.group(1).strip():
                    label = lm.group(1)
            refs.setdefault(_norm_label(label), alt or "")
    labels: set[str] | None = None  # every bracketed label: links' references
    defined: set[str] = set()  # a label's first definition is its only one (CommonMark): later ones are text
    for d in _REF_DEF.finditer(text):
        key = _norm_label(d.group(1))
        if inside(fences, d.start()) or key in defined:
            continue
        defined.add(key)
        g = 2 if d.group(2) is not None else 3
        if key in refs:
            _add(out, d.group(g), d.start(g), d.end(g), "markdown-ref", refs.pop(key) or None)
        elif looks_like_image_url(decoded(d.group(g))):
            if labels is None:
                labels = {_norm_label(b.group(1)) for b in _BRACKETED.finditer(text)}
            if key in labels:
                _add(out, d.group(g), d.start(g), d.end(g), "markdown-ref", None)
    _image_links(text, fences, targets, out)
    return out


# Front matter (Jekyll, Hugo, Eleventy, Astro...): a first line of "---" (YAML) or "+++" (TOML), then
# lines up to the same delimiter (YAML may also end with "..."), within the first MAX_FRONT_MATTER chars.
MAX_FRONT_MATTER = 65_536
_FRONT_OPEN = re.compile(r"(---|\+\+\+)[ \t]*\r?\n")
# One value on a front matter line: `key: value`, `key = "value"`, or a list item `- value`, the value
# bare or quoted, a `#` comment after it allowed.
_FRONT_VALUE = lazy(r"""^[ \t]*+(?:-[ \t]++|[A-Za-z_][\w.-]{0,80}[ \t]*+[:=][ \t]*+(?:-[ \t]++)?)"""
                    r"""(?:"([^"\n]{1,2000})"|'([^'\n]{1,2000})'|([^\s"'#][^\s#]{0,1999}))[ \t]*+(?:\#[^\n]*+)?\r?$""",
                    re.M)


def front_matter(text: str) -> tuple[int, int, int] | None:
    """(where its content starts, where its closing line starts, where that line ends) of the YAML
    (``---``, closed by ``---`` or ``...``) or TOML (``+++``) front matter `text` opens with; None when it
    opens with none closed within MAX_FRONT_MATTER characters."""
    text = _lf(text)
    m = _FRONT_OPEN.match(text)
    if m is None:
        return None
    closers = ("---", "...") if m.group(1) == "---" else ("+++",)
    for line in re.finditer(r"(?m)^(?:---|\.\.\.|\+\+\+)[ \t]*\r?$", text[:MAX_FRONT_MATTER]):
        if line.start() >= m.end() and line.group(0).rstrip() in closers:
            return m.end(), line.start(), line.end()
    return None


def front_matter_images(text: str) -> list[ImageRef]:
    """The images a page's front matter names (``image: /img/lead.jpg``, ``cover = "..."``, a list of
    ``images:``): every value there that is an image file by itself (`looks_like_image_url`), whatever
    its key, since the site's theme shows it (the lead image, the social card). Nothing when the text
    does not open with front matter closed within MAX_FRONT_MATTER characters."""
    text = _lf(text)
    found = front_matter(text)
    if found is None:
        return []
    start, end, _ = found
    out: list[ImageRef] = []
    for v in _FRONT_VALUE.finditer(text, start, end):
        g = next(i for i in (1, 2, 3) if v.group(i) is not None)
        if looks_like_image_url(v.group(g)):
            _add(out, v.group(g), v.start(g), v.end(g), "front-matter", None, markdown=False)
    return out


def _image_links(text: str, fences: list[tuple[int, int]], targets: set[int], out: list[ImageRef]) -> None:
    """Inline links and autolinks whose target is an image file by itself (`looks_like_image_url`)."""
    for m in _LINK_TARGET.finditer(text):
        if m.start() + 1 in targets or inside(fences, m.start()) or not _TITLE_CLOSE.match(text, m.end()):
            continue
        g = 1 if m.group(1) is not None else 2
        if looks_like_image_url(decoded(m.group(g))):
            _add(out, m.group(g), m.start(g), m.end(g), "markdown-link", None)
    for m in _AUTOLINK.finditer(text):
        if not inside(fences, m.start()) and looks_like_image_url(decoded(m.group(1), escapes=False)):
            _add(out, m.group(1), m.start(1), m.end(1), "markdown-link", None, escapes=False)


def _escaped(text: str, pos: int) -> bool:
    """Whether the character at ``pos`` is backslash-escaped (an odd number of backslashes before it)."""
    i = pos
    while i > 0 and text[i - 1] == "\\":
        i -= 1
    return (pos - i) % 2 == 1


def _unescaped(url: str) -> str:
    return url.replace("\\(", "(").replace("\\)", ")")


# CommonMark §2.4 (a backslash before ASCII punctuation) and §2.5 (entity and numeric character
# references, ";" required; a named one only when HTML5 names it), read in one pass: "\&amp;" is "&amp;".
_MD_DECODE = lazy(r"\\([!-/:-@\[-`{-~])|&(?:#[xX]([0-9A-Fa-f]{1,6});|#([0-9]{1,7});|([A-Za-z][A-Za-z0-9]{0,47});)")


def _decode_one(m: re.Match[str]) -> str:
    if m.group(1) is not None:
        return m.group(1)
    if m.group(4) is not None:
        return html5.get(m.group(4) + ";", m.group(0))
    code = int(m.group(2) or m.group(3), 16 if m.group(2) else 10)
    return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"


def decoded(raw: str, escapes: bool = True) -> str:
    """A link destination, title or image description as CommonMark reads it: backslash escapes and
    character references decoded (``/a.png?x=1&amp;y=2`` is ``/a.png?x=1&y=2``); an autolink's URL
    (`escapes` False) has its references decoded, its backslashes kept (§6.5)."""
    if ("\\" not in raw or not escapes) and "&" not in raw:
        return raw
    if not escapes:
        return _MD_DECODE.sub(lambda m: m.group(0) if m.group(1) is not None else _decode_one(m), raw)
    return _MD_DECODE.sub(_decode_one, raw)


def _add(out: list[ImageRef], url: str, start: int, end: int, form: str, alt: str | None,
         markdown: bool = True, escapes: bool = True) -> None:
    url = decoded(url, escapes) if markdown else _unescaped(url)
    if is_image_candidate(url):
        out.append(ImageRef(url=url, start=start, end=end, alt=alt, credit=credit_from_alt(alt), form=form))


_TICKS = lazy(r"`+")
_BLANK_LINE = lazy(r"\n[ \t]*(?=\n)")
_INDENTED = lazy(r"^(?: {4}|[ ]{0,3}\t)[ \t]*+\S[^\n]*+$", re.M)
# A list item's first line: indent, marker, the blanks after it (none when nothing follows).
_LIST_ITEM = lazy(r"(?:^|(?<=\n))([ \t]*+)([-*+]|\d{1,9}[.)])([ \t]*+)(?=\S|\n|\Z)")
_LIST_SCAN = lazy(r"\n[ \t]*+(?:[-*+]|\d{1,9}[.)])(?:[ \t]|\n|\Z)")  # from a newline: fast
_BREAKERS: dict[int, re.Pattern[str]] = {}  # content column -> a non-blank line indented less


def _indent(line: str) -> int:
    """The columns of a line's leading blanks (tabs to the next multiple of four)."""
    return len(line[:len(line) - len(line.lstrip(" \t"))].expandtabs(4))


def _breaker(column: int) -> re.Pattern[str]:
    found = _BREAKERS.get(column)
    if found is None:
        found = _BREAKERS[column] = re.compile(rf"\n[ ]{{0,{column - 1}}}(?=[^ \t\n])")
    return found


class _ListItems:
    """The list items of a Markdown text, found on first use, to tell which one a line belongs to."""

    _LOOK_BACK = 8  # enclosing items tried, nearest first

    def __init__(self, text: str) -> None:
        self.text = text
        self.items: list[tuple[int, int, int]] | None = None  # (line start, line end, content column)
        self.checked: dict[int, int] = {}  # item index -> the offset up to which nothing left it
        self.left: dict[int, int] = {}  # item index -> where a line indented less ended it

    def _find(self) -> list[tuple[int, int, int]]:
        items = []
        for start in (0, *(m.start() + 1 for m in _LIST_SCAN.finditer(self.text))):
            item = _LIST_ITEM.match(self.text, start)
            if item is None:
                continue
            marker_end = _indent(item.group(1)) + len(item.group(2))
            blanks = len(item.group(3).expandtabs(4))
            rest = self.text[item.end():item.end() + 1]
            column = marker_end + (blanks if 1 <= blanks <= 4 and rest not in ("", "\n") else 1)
            end = self.text.find("\n", start)
            items.append((start, len(self.text) if end < 0 else end, column))
        return items

    def content_column(self, line_start: int, indent: int) -> int:
        """The content column of the list item the line at ``line_start`` (indented ``indent``
        columns, after a blank line) belongs to: the nearest earlier item from which no line
        indented less than its content column separates it; 0 for none (the document)."""
        if self.items is None:
            self.items = self._find()
        i = bisect.bisect_left(self.items, (line_start,)) - 1
        for k in range(i, max(-1, i - self._LOOK_BACK), -1):
            _, end, column = self.items[k]
            if indent < column:
                continue  # not inside this item (it may be inside an outer one)
            if k in self.left and self.left[k] <= line_start:
                continue
            frm = max(end, self.checked.get(k, end))
            out = _breaker(column).search(self.text, frm, line_start) if column > 0 else None
            if out is not None:
                self.left[k] = out.start()
                continue
            self.checked[k] = max(frm, line_start - 1)
            return column
        return 0


_BRACKET = lazy(r"\\.|[\[\]]|\n[ \t]*+(?=\n)", re.S)


def _link_texts(text: str, fences: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(start, end) of every link or image text that runs over more than one line: a "[" to its
    matching "]" when "(" or "[" follows, in one paragraph (escaped brackets are text)."""
    if "](" not in text and "][" not in text:
        return []
    out: list[tuple[int, int]] = []
    stack: list[int] = []
    newlines: list[int] | None = None
    for m in _BRACKET.finditer(text):
        c = m.group(0)
        if c == "[":
            stack.append(m.start())
        elif c == "]":
            if not stack:
                continue
            opening = stack.pop()
            if text[m.end():m.end() + 1] not in ("(", "["):
                continue
            if newlines is None:
                newlines = [n.start() for n in re.finditer("\n", text)]
            i = bisect.bisect_right(newlines, opening)
            if i < len(newlines) and newlines[i] < m.start() and not inside(fences, opening):
                out.append((opening, m.end()))
        elif c[0] == "\n":
            stack.clear()  # a blank line ends the paragraph
    return out


def code_ranges(text: str, fences: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping ranges of Markdown where nothing is an embed: code (`shown_as_code`)
    and the text of a link or image spread over lines (``[`` to ``](`` or ``][``: a card must never
    be put inside a link)."""
    text = _lf(text)
    return merge_ranges(shown_as_code(text, fences) + _link_texts(text, fences))


def shown_as_code(text: str, fences: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping ranges of Markdown shown as code, never rendered, where nothing is an
    image or an embed: the fences given, indented code blocks (lines indented four columns past their
    container, the document or the list item whose content they are, after a blank line) and inline
    code spans (a run of backticks to the next run of the same length in the same paragraph)."""
    text = _lf(text)
    ranges = list(fences)
    blanks = [m.start() for m in _BLANK_LINE.finditer(text)]
    # Indented code: a run of lines indented four columns past their container (the document, or the
    # list item whose content they are) after a blank line (or the start).
    lists = _ListItems(text)
    block: tuple[int, int, int] | None = None  # (start, end, indent its lines need)
    for m in _INDENTED.finditer(text):
        if inside(fences, m.start()):
            continue
        indent = _indent(m.group(0))
        if block is not None and indent >= block[2] and not text[block[1]:m.start()].strip():
            block = (block[0], m.end(), block[2])  # the code block goes on (blank lines included)
            continue
        if block is not None:
            ranges.append(block[:2])
            block = None
        if m.start() > 0:
            prev = text.rfind("\n", 0, m.start() - 1) + 1
            if text[prev:m.start() - 1].strip():
                continue  # a paragraph's continuation line, or an HTML block's: no code block
        need = lists.content_column(m.start(), indent) + 4
        if indent >= need:
            block = (m.start(), m.end(), need)
    if block is not None:
        ranges.append(block[:2])
    # Inline code spans.
    runs: dict[int, list[int]] = {}
    for m in _TICKS.finditer(text):
        if not fences or not inside(fences, m.start()):
            runs.setdefault(len(m.group(0)), []).append(m.start())
    cursor = {n: 0 for n in runs}
    pos = 0
    for m in _TICKS.finditer(text):
        n = len(m.group(0))
        if m.start() < pos or (fences and inside(fences, m.start())) or (m.start() and text[m.start() - 1] == "\\"):
            continue
        starts = runs[n]
        i = cursor[n]
        while i < len(starts) and starts[i] <= m.start():
            i += 1
        cursor[n] = i
        if i == len(starts):
            continue
        close = starts[i]
        b = bisect.bisect_left(blanks, m.end())
        if b < len(blanks) and blanks[b] < close:
            continue  # a paragraph ends first: no span
        ranges.append((m.start(), close + n))
        pos = close + n
    return merge_ranges(ranges)
