"""Shortcodes and template tags: the bracket syntaxes CMSes, static-site generators and doc tools
write embeds with, in any format of article.

- WordPress ``[embed]URL[/embed]``, ``[embed width="500"]URL[/embed]``, Jetpack ``[youtube URL]``,
  ``[youtube=URL&w=320]``, ``[tweet URL]``, ``[instagram url=URL]``;
- Hugo ``{{< tweet user="x" id="1" >}}``, ``{{% youtube ID %}}``, paired ``{{< x >}}URL{{< /x >}}``;
- Liquid, Jinja, Nunjucks, Django ``{% twitter URL %}``, ``{% youtube "ID" %}``,
  ``{% include embed/youtube.html id="ID" %}``, ``{% oembed %}URL{% endoembed %}``; expressions
  ``{{ tweet("ID") }}``, ``{{ "URL" | embed }}``, Handlebars ``{{youtube "ID"}}``;
- reStructuredText and Sphinx directives ``.. youtube:: ID`` with their option lines;
- AsciiDoc block macros ``video::ID[youtube]``;
- Gatsby's inline-code embeds `` `youtube: URL` ``, alone on a line.

The rule, whatever the syntax: a tag is an embed when one of its values is a post URL of a registered
provider, or when a provider is named (by the tag's name, a word of an included template's path, an
argument's name, or an argument's value such as AsciiDoc's ``[youtube]``) and one of its values is an
id that provider reads. The names and readers are each provider's ``EmbedForms.shortcodes``. The span
is the whole tag, from its opening through its closing tag when paired. Escaped forms are no tags:
Hugo ``{{</* … */>}}``, WordPress ``[[embed]]``, Liquid/Jinja ``{% raw %}``, ``{% comment %}`` and
``{# … #}``, and a tag inside a Markdown code span.
"""

from __future__ import annotations

import bisect
import html
import re
import sys
from collections.abc import Callable
from functools import lru_cache

from archiver.discover import constructs
from archiver.discover.common import looks_like_image_url
from archiver.discover.model import Embed, ImageRef
from archiver.discover.urls import PostMatch, match_post_url
from archiver.lazyre import lazy

__all__ = ["find", "id_reader", "literal_ranges", "scan"]

_MAX_TAG = 1500  # code points a tag's arguments may take, so a stray opener costs little
_MAX_CONTENT = 2100
# Where a tag may begin: the bracketed syntaxes anywhere, the line syntaxes at a line's start (two
# patterns, each starting with what it looks for, so the regex engine skips the rest of the text fast).
_OPEN_INLINE = lazy(
    r"\{\{(?P<hugo>[<%])[ \t\r\n]*+(?=[A-Za-z])"
    r"|\{%-?[ \t\r\n]*+(?P<liquid>[A-Za-z][\w./:-]{0,100}+)"
    r"|\{\{\{?[-~]?[ \t\r\n]*+(?P<expr>[>#]?[ \t]*+[A-Za-z'\"])"
    r"|\[(?P<wp>[A-Za-z][\w-]{0,40}+)(?=[ \t\r\n=\]/])"
    r"|\[(?P<mdlink>(?i:type|plugin|embed|oembed|media|video):[\w-]{1,40}+)\]\("
    r"|\{(?P<brace>[A-Za-z][\w-]{0,40}+)\}"
)
_OPEN_LINE = lazy(
    r"^(?:(?P<rst>[ \t]*+)\.\.[ \t]++(?P<directive>[\w.-]{1,60}(?::[\w.-]{1,60})?)::"
    r"|(?P<adoc>[A-Za-z][\w-]{0,40}+)::(?=[^\s\[]{0,2000}+\[)"
    r"|[ ]{0,3}+(?P<myst>`{3,}+|~{3,}+|:{3,}+)\{(?P<mystname>[\w.:-]{1,60}+)\}"
    r"|[ \t]{0,3}+`(?P<gatsby>[A-Za-z]\w{0,30}+):)",
    re.M,
)
_NAME = lazy(r"[A-Za-z][\w./:-]{0,100}")
# An argument: key=value (quoted or bare), a URL by itself (``&w=640`` and all: a bare URL is one
# value, "=" included), or a quoted or bare positional value.
_ARG = lazy(
    r"""(?P<u>(?:[Hh][Tt][Tt][Pp][Ss]?:)?//[^\s"'<>\]]{1,2100}+)"""
    r"""|(?P<key>[A-Za-z_][\w-]{0,40}+)[ \t]*+(?:=|:(?=[ \t]))[ \t]*+"""
    r"""(?:"(?P<k1>[^"]{0,2100}+)"|'(?P<k2>[^']{0,2100}+)'|“(?P<k3>[^”]{0,2100}+)”|(?P<k4>[^\s,\]\)"']{1,2100}+))"""
    r"""|"(?P<p1>[^"]{0,2100}+)"|'(?P<p2>[^']{0,2100}+)'|“(?P<p3>[^”]{0,2100}+)”|(?P<p4>[^\s,()\[\]|"'=]{1,2100}+)"""
)
_WORDS = lazy(r"[a-z0-9]+")
_LINK_TARGET = lazy(r"[ \t]*+<?([^\s()<>]{1,2100}+)>?(?:[ \t]++\"[^\"\n]{0,500}+\")?[ \t]*+\)")
_YAML_OPTION = lazy(r"[ \t]*+([\w-]{1,40}):[ \t]++(.*)")
_RST_OPTION = lazy(r"[ \t]*+:([\w-]{1,40}):[ \t]*+(.*)")
_ADOC = lazy(r"([A-Za-z][\w-]{0,40})::([^\s\[]{0,2000})\[([^\]\n]{0,1000})\][ \t]*(?=\r?$)", re.M)
# (Not "`https://…`": a name followed by "//" is a URL's scheme, and the span a URL shown as code.)
_GATSBY = lazy(r"`([A-Za-z]\w{0,30}):(?!//)[ \t]*([^`\n]{1,2000}?)[ \t]*`[ \t]*(?=\r?$)", re.M)
# Liquid/Jinja regions whose tags are text, not tags.
_VERBATIM = lazy(
    r"\{%-?[ \t\r\n]*(raw|verbatim|comment)[ \t\r\n]*-?%\}|\{#|\{\{/\*", re.I
)
# Tags that include another template: the template's path names what it embeds.
_INCLUDES = frozenset({"include", "include_relative", "include_cached", "render", "partial", "partialcached",
                       "import", "component", "snippet"})
# Names of tags that embed whatever URL they are given. Square brackets are common in prose and
# Markdown, and rST directives hold prose, so a [name …] tag or a directive counts only with one of
# these names or a provider's.
_GENERIC = frozenset({"embed", "oembed", "embedly", "embedpress", "video", "media", "social", "post",
                      "iframe", "autoembed", "auto_embed"})
# Argument names under which a tag gives the post's id or URL, tried before its positional values.
_ID_KEYS = ("url", "href", "link", "src", "permalink", "id", "v", "vid", "video", "video_id", "videoid",
            "tweet", "tweet_id", "tweetid", "status", "post", "post_id", "postid", "code", "shortcode", "key",
            "uri", "slug")
_USER_KEYS = ("user", "username", "handle", "screen_name", "author", "account")
_SKIPPED_VALUES = frozenset({"oembed", "embed", "true", "false", "center", "left", "right"})


def find(text: str, markdown: bool = False) -> list[Embed]:
    """Every shortcode or template tag in ``text`` that embeds a post (see `scan`)."""
    return scan(text, markdown)[0]


def scan(text: str, markdown: bool = False) -> tuple[list[Embed], list[ImageRef]]:
    """(embeds, images) of the shortcodes and template tags in ``text``. An embed is a tag that embeds
    a post, with the whole tag as its span (``form="shortcode"``); an image is an argument of a tag
    that embeds no post whose value is an image URL or path by itself (Hugo ``{{< figure src="a.jpg"
    link="b.webp" >}}``, Jekyll ``{% include figure.html image="a.jpg" %}``, rST ``.. image:: a.png``,
    AsciiDoc ``image::a.png[]``), with the value as written as its span (``form="shortcode"``, URL
    unresolved). ``markdown``: the article is Markdown, so tags inside code spans are examples, not
    tags. Time is linear in ``text`` (each opener reads at most a bounded stretch)."""
    tables = constructs.current()
    out: list[Embed] = []
    images: list[ImageRef] = []
    closes: dict[str, tuple[int, int, int] | None] = {}  # MyST fences: the next close found (from, at, end)
    skip = _verbatim_ranges(text)
    pos = 0
    openers: list[re.Match[str]] = []
    if "{" in text or "[" in text:
        openers += _OPEN_INLINE.finditer(text)
    if "`" in text or "::" in text or ("~" in text and "~~~" in text):
        line_openers = list(_OPEN_LINE.finditer(text))
        openers = sorted(openers + line_openers, key=lambda m: m.start()) if openers else line_openers
    for m in openers:
        start = m.start()
        if start < pos or _inside(skip, start):
            continue
        if m.lastgroup == "wp" and start > 0 and (text[start - 1] in "[\\!" or text[start - 1].isalnum()
                                                  or text[start - 1] == "_"):
            continue  # an escaped [[tag]], an image's ![, or a bracket inside a word
        tag = _read(text, m, tables.shortcodes, closes)
        if tag is None:
            found_images = _tag_images(text, m)
            if found_images and not (markdown and m.re is _OPEN_INLINE.compiled and _in_code_span(text, start)):
                images += found_images
            continue
        if markdown and m.lastgroup not in ("gatsby", "directive", "adoc", "mystname") \
                and _in_code_span(text, start):
            continue
        end, found, user = tag
        if m.lastgroup == "mdlink" and start > 0 and text[start - 1] == "!":
            start -= 1  # mkdocs-video's ![type:video](URL): the image syntax is the tag
        while text[start] in " \t":
            start += 1  # a span never starts with the line's indentation
        out.append(Embed(provider=found[0], post_id=found[1], url=found[2], start=start, end=end,
                         handle=user, form="shortcode"))
        pos = end
    return out, images


def id_reader(provider: str, template: str | None = None,
              pattern: str = r"[\w.-]{1,100}") -> Callable[[str, str | None], PostMatch | None]:
    """A shortcode reader for ``provider``: a value that is one of its post URLs, or (with
    ``template``) an id matching ``pattern`` put into ``template`` (``"https://redd.it/{id}"``) that its
    URL patterns accept (matched ASCII-only, as ids are issued). Without ``template`` the platform's
    posts have no id a tag could give alone."""
    valid = re.compile(pattern, re.ASCII)  # ids are ASCII as platforms issue them

    def read(value: str, user: str | None) -> PostMatch | None:
        found = match_post_url(value, provider)
        if found is None and template is not None and valid.fullmatch(value):
            found = match_post_url(template.format(id=value), provider)
        return found

    return read


# --- code: blocks of lightweight markup languages shown as written ----------------------------------

# rST/Sphinx directives whose content is shown as code (or is code run, not shown).
_RST_CODE = frozenset({"code-block", "code", "sourcecode", "parsed-literal", "literalinclude", "doctest",
                       "testcode", "testoutput", "testsetup", "testcleanup", "ipython", "jupyter-execute",
                       "code-cell", "math", "prompt", "highlight", "productionlist"})
_RST_DIRECTIVE_LINE = lazy(r"[ \t]*+\.\.[ \t]++([\w.-]{1,60}(?::[\w.-]{1,60})?)::")
# BBCode and WordPress code shortcodes: [code]…[/code], [code=php], [sourcecode language="x"].
_BB_CODE = lazy(
    r"\[(code|sourcecode|source|codeblock|noparse|plain|syntax|pre)(?:[ \t=][^\]\n]{0,200}+)?\]", re.I)
# AsciiDoc delimited blocks shown verbatim (listing ----, literal ....) or never shown (comment ////).
_ADOC_DELIM = lazy(r"(?:^|(?<=\n))(-{4,}+|\.{4,}+|/{4,}+)[ \t]*+\r?(?=\n|$)")
_ADOC_DOC = lazy(r"\A(?:[ \t]*+(?://[^\n]*+)?\r?\n)*+(?:=|:[\w-]{1,60}:)[ \t]")
_ADOC_BLOCK_ATTR = lazy(r"\[(?:source|listing|literal|comment)\b", re.I)


def literal_ranges(text: str, fmt: str) -> list[tuple[int, int]]:
    """Sorted ranges of ``text`` that are code by the rules of a lightweight markup language, where
    nothing is an embed (nor an image): BBCode/WordPress ``[code]…[/code]`` blocks and
    reStructuredText code directives (``.. code-block::`` and the like), in any format;
    reStructuredText literal blocks (the indented block after a paragraph ending ``::``), in ``fmt``
    "text" or "markdown" (in HTML indentation means nothing); AsciiDoc
    listing, literal and comment blocks (``----``, ``....``, ``////``), in "text" when the article is
    AsciiDoc (a ``= Title`` or ``:attr:`` header, a ``== Section``, or a ``[source]`` line above the
    block). Linear in ``text``; each check runs only when its characters occur."""
    out: list[tuple[int, int]] = []
    if "[" in text and "[/" in text:  # one character is found a hundred times faster than two
        out += _bbcode_ranges(text)
    if "::" in text:
        out += _rst_ranges(text, literal_paragraphs=fmt in ("text", "markdown"))
    if fmt == "text" and ("----" in text or "...." in text or "////" in text):
        out += _adoc_ranges(text)
    return sorted(out)


def _bbcode_ranges(text: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    unclosed: set[str] = set()
    pos = 0
    while (m := _BB_CODE.search(text, pos)) is not None:
        name = m.group(1).lower()
        pos = m.end()
        if name in unclosed or text.startswith("(", m.end()):
            continue  # no closing tag further on, or a Markdown link [code](…)
        close = re.compile(rf"\[/{name}\]", re.I).search(text, m.end())
        if close is None:
            unclosed.add(name)
            continue
        out.append((m.start(), close.end()))
        pos = close.end()
    return out


def _rst_ranges(text: str, literal_paragraphs: bool) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    pos = 0
    while (i := text.find("::", pos)) >= 0:
        nl = text.rfind("\n", pos, i)
        line_start = nl + 1 if nl >= 0 else pos
        line_end = _line_end(text, i)
        line = text[line_start:line_end].rstrip("\r")
        indent = len(line) - len(line.lstrip(" \t"))
        d = _RST_DIRECTIVE_LINE.match(line)
        end = None
        if d is not None:
            if d.group(1).lower().rsplit(":", 1)[-1] in _RST_CODE:
                end = _indented_block(text, line_end + 1, indent, after_blank=False)
        elif literal_paragraphs and line.rstrip().endswith("::"):
            end = _indented_block(text, line_end + 1, indent, after_blank=True)
        if end is not None:
            out.append((line_end + 1, end))
            pos = end
        else:
            pos = line_end + 1
    return out


def _indented_block(text: str, pos: int, indent: int, after_blank: bool) -> int | None:
    """Where the block of lines indented deeper than ``indent`` from ``pos`` ends (blank lines inside
    it included); None when there is none (or, ``after_blank``, when no blank line comes first)."""
    end: int | None = None
    blank = False
    while pos < len(text):
        nxt = _line_end(text, pos)
        line = text[pos:nxt]
        if not line.strip():
            blank = True
            pos = nxt + 1
            continue
        if len(line) - len(line.lstrip(" \t")) <= indent or (after_blank and not blank):
            break
        end = nxt
        pos = nxt + 1
    return end


def _adoc_ranges(text: str) -> list[tuple[int, int]]:
    delims = list(_ADOC_DELIM.finditer(text))
    if not delims:
        return []
    whole = bool(_ADOC_DOC.match(text)) or text.startswith("== ") or "\n== " in text
    out: list[tuple[int, int]] = []
    opening: re.Match[str] | None = None
    for m in delims:
        if opening is None:
            opening = m
        elif m.group(1) == opening.group(1):
            prev = text[text.rfind("\n", 0, max(0, opening.start() - 1)) + 1:opening.start()]
            if whole or _ADOC_BLOCK_ATTR.match(prev.strip()):
                out.append((opening.start(), m.end()))
            opening = None
    return out


# --- reading one tag ---------------------------------------------------------------------------------

Tag = tuple[int, PostMatch, "str | None"]  # (end of the span, the post, the handle the tag names)


def _read(text: str, m: re.Match[str], readers: dict[str, Callable[[str, str | None], PostMatch | None]],
          closes: dict[str, tuple[int, int, int] | None]) -> Tag | None:
    kind = m.lastgroup
    if m.re is _OPEN_INLINE.compiled:
        if m.group("hugo"):
            return _bracketed(text, m, "{{" + m.group("hugo"), (">" if m.group("hugo") == "<" else "%") + "}}",
                              readers)
        if m.group("liquid"):
            return _bracketed(text, m, "{%", "%}", readers)
        if m.group("wp"):
            return _wordpress(text, m, readers)
        if m.group("mdlink"):
            return _markdown_link(text, m, readers)
        if m.group("brace"):
            return _braced(text, m, readers)
        return _expression(text, m, readers) if m.group("expr") else None
    if m.group("directive"):
        return _directive(text, m, readers)
    if m.group("myst"):
        return _myst(text, m, readers, closes)
    if kind == "adoc":
        a = _ADOC.match(text, m.start())
        if a is None:
            return None
        named, positional = _args(a.group(3))
        found = _post([a.group(1)], named, [a.group(2), *positional], None, readers)
        return (a.end(), *found) if found else None
    if m.group("gatsby"):
        g = _GATSBY.match(text, m.end() - len(m.group("gatsby")) - 2)
        if g is None:
            return None
        found = _post([g.group(1)], {}, [g.group(2).strip()], None, readers)
        return (g.end(), *found) if found else None
    return None


def _bracketed(text: str, m: re.Match[str], opener: str, closer: str, readers: dict) -> Tag | None:
    """Hugo ``{{< name args >}}`` / ``{{% %}}`` and Liquid-family ``{% name args %}`` tags."""
    body_start = m.end() if opener != "{%" else m.start("liquid")
    close = text.find(closer, body_start, body_start + _MAX_TAG)
    if close < 0:
        return None
    end = close + len(closer)
    body = text[body_start:close].rstrip(" \t\r\n-")
    n = _NAME.match(body)
    if n is None:
        return None
    name = n.group(0)
    if name.lower().startswith("end"):
        return None  # a closing tag ({% endembed %})
    named, positional = _args(body[n.end():])
    names = [name]
    if name.lower() in _INCLUDES and positional:
        names.append(positional.pop(0))
    content, end = _content(text, end, _closing(opener, closer, name))
    found = _post(names, named, positional, content, readers)
    return (end, *found) if found else None


def _wordpress(text: str, m: re.Match[str], readers: dict) -> Tag | None:
    """``[name args]``, ``[name=value]``, paired ``[name args]URL[/name]``."""
    name = m.group("wp")
    if not (_named_provider([name], readers) or name.lower() in _GENERIC):
        return None
    close = text.find("]", m.end(), m.end() + _MAX_TAG)
    if close < 0 or "[" in text[m.end():close]:
        return None
    end = close + 1
    if end < len(text) and text[end] in "([:" and not text.startswith("[/", end):
        return None  # a Markdown link, reference or definition
    raw = text[m.end():close].rstrip("/ \t")
    if raw.startswith("="):  # Jetpack's [youtube=URL]
        raw = '"' + raw[1:].strip() + '"' if '"' not in raw else raw[1:]
    named, positional = _args(raw)
    content, end = _content(text, end, rf"\[/{re.escape(name)}\]")
    found = _post([name], named, positional, content, readers)
    return (end, *found) if found else None


def _markdown_link(text: str, m: re.Match[str], readers: dict) -> Tag | None:
    """Tags written as a Markdown link or image: mkdocs-video ``![type:video](URL)``, Grav
    ``[plugin:youtube](URL)``; the link's text names the provider or a generic embed."""
    target = _LINK_TARGET.match(text, m.end())
    if target is None:
        return None
    name = m.group("mdlink").split(":", 1)[1]
    if not (_named_provider([name], readers) or name.lower() in _GENERIC):
        return None
    found = _post([name], {}, [_clean(target.group(1))], None, readers)
    return (target.end(), *found) if found else None


def _braced(text: str, m: re.Match[str], readers: dict) -> Tag | None:
    """Joomla's ``{youtube}ID|640|360{/youtube}``: a paired ``{name}`` tag whose content is the post
    (its first ``|`` field)."""
    name = m.group("brace")
    if not (_named_provider([name], readers) or name.lower() in _GENERIC):
        return None
    content, end = _content(text, m.end(), rf"\{{/{re.escape(name)}\}}")
    if content is None:
        return None
    found = _post([name], {}, [], content.split("|", 1)[0], readers)
    return (end, *found) if found else None


def _myst(text: str, m: re.Match[str], readers: dict, closes: dict[str, tuple[int, int, int] | None]) -> Tag | None:
    """MyST directives: ```` ```{youtube} ID ```` or ``:::{youtube} ID``, then ``:key: value`` option
    lines (or a ``---`` YAML block) and content, through a closing fence of the same character at least
    as long (within ``_MAX_TAG``). ``closes`` remembers, per fence, where the next closing fence is, so
    that many unclosed openers cost one search."""
    name = m.group("mystname")
    if not (_named_provider([name], readers) or name.lower().rsplit(":", 1)[-1] in _GENERIC):
        return None
    fence = m.group("myst")
    line_end = _line_end(text, m.end())
    if fence not in closes or ((known := closes[fence]) is not None and known[1] < line_end):
        c = _fence_close(fence).search(text, line_end)
        closes[fence] = (line_end, c.start(), c.end(1)) if c else None  # None: no close after here
    found_close = closes[fence]
    if found_close is None or found_close[1] - line_end > _MAX_TAG:
        return None
    close, close_end = found_close[1], found_close[2]
    argument = text[m.end():line_end].strip()
    named: dict[str, str] = {}
    content: list[str] = []
    for line in text[line_end + 1:close].splitlines():
        option = _RST_OPTION.fullmatch(line) or _YAML_OPTION.fullmatch(line)
        if option:
            named.setdefault(option.group(1).lower(), option.group(2).strip().strip("\"'"))
        elif line.strip() and line.strip() != "---":
            content.append(line.strip())
    found = _post([name], named, argument.split() + content, None, readers)
    return (close_end, *found) if found else None


@lru_cache(maxsize=64)
def _fence_close(fence: str) -> re.Pattern[str]:
    """A closing fence for ``fence``: a line of its character only, at least as long, indented < 4."""
    return re.compile(rf"\n[ ]{{0,3}}+({re.escape(fence)}{re.escape(fence[0])}*+)[ \t]*+(?=\r?\n|\r?\Z)")


def _expression(text: str, m: re.Match[str], readers: dict) -> Tag | None:
    """``{{ tweet("1") }}``, ``{{ "URL" | embed }}``, ``{{> youtube id="…"}}``: every bare word is a
    name, every literal a value."""
    close = text.find("}}", m.end(), m.end() + _MAX_TAG)
    if close < 0:
        return None
    end = close + 2 + (text.startswith("}", close + 2) and text.startswith("{{{", m.start()))
    body = text[m.start("expr"):close].replace("(", " ").replace(")", " ").replace("|", " ")
    words: list[str] = []
    values: list[str] = []
    named: dict[str, str] = {}
    for a in _ARG.finditer(body):
        if a.group("key"):
            named.setdefault(a.group("key").lower(), _clean(next(
                (g for g in a.group("k1", "k2", "k3", "k4") if g is not None), "")))
        elif a.group("p4") is not None and _NAME.fullmatch(a.group("p4").lstrip(">#")):
            words.append(a.group("p4").lstrip(">#"))
        else:
            value = next((g for g in a.group("u", "p1", "p2", "p3", "p4") if g is not None), "")
            if value.strip():
                values.append(_clean(value))
    found = _post(words, named, values + words[1:], None, readers)  # an id may look like a word
    return (end, *found) if found else None


def _directive(text: str, m: re.Match[str], readers: dict) -> Tag | None:
    """``.. youtube:: ID`` and its option lines (``:width: 640``) and content, indented under it."""
    name = m.group("directive")
    if not (_named_provider([name], readers) or name.lower().rsplit(":", 1)[-1] in _GENERIC):
        return None  # admonitions and the like hold prose, where a URL is a link, not an embed
    indent = len(m.group("rst").expandtabs())
    line_end = _line_end(text, m.end())
    argument = text[m.end():line_end].strip()
    named: dict[str, str] = {}
    end = line_end
    pos = line_end + 1
    while pos < len(text) and pos - line_end < _MAX_TAG:
        nxt = _line_end(text, pos)
        line = text[pos:nxt]
        if not line.strip():
            pos = nxt + 1
            continue
        if len(line) - len(line.lstrip(" \t")) <= indent:
            break
        option = _RST_OPTION.fullmatch(line.rstrip("\r"))
        if option:
            named[option.group(1).lower()] = option.group(2).strip()
        end = nxt
        pos = nxt + 1
    while end > m.start() and text[end - 1] in " \t\r":
        end -= 1
    found = _post([name], named, argument.split(), None, readers)
    return (end, *found) if found else None


# --- images in tags ---------------------------------------------------------------------------------

_IMAGE_DIRECTIVES = frozenset({"image", "figure", "thumbnail"})
_VALUE_GROUPS = ("k1", "k2", "k3", "k4", "u", "p1", "p2", "p3", "p4")


def _tag_images(text: str, m: re.Match[str]) -> list[ImageRef]:
    """The image URLs among the values of the tag ``m`` opens (a tag that embeds no post)."""
    if m.re is _OPEN_INLINE.compiled:
        if m.group("hugo"):
            start, closer = m.end(), (">" if m.group("hugo") == "<" else "%") + "}}"
        elif m.group("liquid"):
            start, closer = m.start("liquid"), "%}"
        elif m.group("expr"):
            start, closer = m.start("expr"), "}}"
        elif m.group("wp"):
            start, closer = m.end(), "]"
        else:
            return []
        close = text.find(closer, start, start + _MAX_TAG)
        if close < 0 or (text.find(".", start, close) < 0 and text.find("//", start, close) < 0):
            return []
        if m.group("wp") and text.find("[", start, close) >= 0:
            return []
        return _image_values(text, start, close, named_only=m.group("wp") is not None)
    if m.group("directive") and m.group("directive").lower() in _IMAGE_DIRECTIVES:
        line_end = _line_end(text, m.end())
        return _image_values(text, m.end(), line_end, named_only=False, first_only=True)
    if m.lastgroup == "adoc" and m.group("adoc").lower() == "image":
        a = _ADOC.match(text, m.start())
        return _image_values(text, a.start(2), a.end(2), named_only=False, first_only=True) if a else []
    return []


def _image_values(text: str, start: int, end: int, named_only: bool, first_only: bool = False) -> list[ImageRef]:
    """Values in ``text[start:end]`` (a tag's arguments) that are image URLs by themselves, each with
    the value as written as its span; ``named_only``: only ``key=value`` arguments count (square
    brackets are common in prose)."""
    out: list[ImageRef] = []
    alt: str | None = None
    for a in _ARG.finditer(text, start, end):
        group = next(g for g in _VALUE_GROUPS if a.group(g) is not None) if a.lastgroup else None
        key = a.group("key")
        if key and key.lower() in ("alt", "caption", "title") and alt is None:
            alt = _clean(a.group(group)) if group else None
        if group is None or (named_only and not (key and "=" in text[a.end("key"):a.start(group)])):
            continue
        s, e = a.start(group), a.end(group)
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        url = html.unescape(text[s:e])
        if s < e and looks_like_image_url(url):
            out.append(ImageRef(url=url, start=s, end=e, form="shortcode"))
        if first_only:
            break
    for image in out:
        image.alt = alt or None
    return out


# --- shared -----------------------------------------------------------------------------------------

def _post(names: list[str], named: dict[str, str], positional: list[str], content: str | None,
          readers: dict) -> tuple[PostMatch, str | None] | None:
    """The post a tag embeds, and the handle it names: a post URL among its values, else an id read
    by the provider its names, argument names or argument values name."""
    user = next((named[k] for k in _USER_KEYS if named.get(k)), None)
    ordered = [named[k] for k in _ID_KEYS if named.get(k)]
    values = ([content] if content else []) + ordered + positional + [v for v in named.values() if v not in ordered]
    for value in values:
        found = match_post_url(value)
        if found:
            return found, user
    for key, value in named.items():  # an argument named after a provider: youtube="ID"
        provider = _named_provider([key], readers)
        if provider and (found := readers[provider](value, user)):
            return found, user
    named_by = [v for v in [*positional, *named.values()] if v.lower() in readers]
    provider = _named_provider(names + named_by, readers)
    if provider is None:
        return None
    for value in ([content] if content else []) + ordered + [p for p in positional if p not in named_by]:
        if value.lower() in _SKIPPED_VALUES:
            continue
        found = readers[provider](value, user)
        if found:
            return found, user
    return None


def _named_provider(names: list[str], readers: dict) -> str | None:
    """The shortcode name among the words of ``names`` ("embed/youtube.html" -> "youtube")."""
    for name in names:
        low = name.lower()
        if low in readers:
            return low
        for word in _WORDS.findall(low):
            if word in readers:
                return word
    return None


def _args(raw: str) -> tuple[dict[str, str], list[str]]:
    """``key="v" key=v key: v "v" v`` -> (named, positional); entities decoded, commas ignored."""
    named: dict[str, str] = {}
    positional: list[str] = []
    for a in _ARG.finditer(raw):
        if a.group("key"):
            value = next((g for g in a.group("k1", "k2", "k3", "k4") if g is not None), "")
            named.setdefault(a.group("key").lower(), _clean(value))
        else:
            value = next((g for g in a.group("u", "p1", "p2", "p3", "p4") if g is not None), "")
            if value.strip():
                positional.append(_clean(value))
    return named, positional


def _clean(value: str) -> str:
    return html.unescape(value).strip().strip("<>").strip()


def _content(text: str, end: int, closing: str) -> tuple[str | None, int]:
    """A paired tag's content when it is nothing but a URL or id, and where its closing tag ends;
    else (None, ``end``)."""
    m = _paired(closing).match(text, end)
    if m is None:
        return None, end
    return _clean(m.group(1)), m.end()


@lru_cache(maxsize=256)
def _paired(closing: str) -> re.Pattern[str]:
    return re.compile(r"[ \t\r\n]{0,20}([^\s\[\]{}<>]{1,2000})[ \t\r\n]{0,20}" + closing, re.I)


def _closing(opener: str, closer: str, name: str) -> str:
    name = re.escape(name)
    if opener == "{%":
        return rf"\{{%-?[ \t]*end{name}[ \t]*-?%\}}"
    return rf"\{{\{{{re.escape(opener[2])}[ \t]*/[ \t]*{name}[ \t]*{re.escape(closer[0])}\}}\}}"


def _line_end(text: str, pos: int) -> int:
    nl = text.find("\n", pos)
    return len(text) if nl < 0 else nl


def _in_code_span(text: str, pos: int) -> bool:
    """Whether ``pos`` follows an odd number of backticks on its line (inside a Markdown code span);
    only the last ``_MAX_TAG`` code points of the line are looked at."""
    lo = max(0, pos - _MAX_TAG)
    line_start = max(text.rfind("\n", lo, pos) + 1, lo)
    return text.count("`", line_start, pos) % 2 == 1


def _inside(ranges: list[tuple[int, int]], pos: int) -> bool:
    i = bisect.bisect_right(ranges, (pos, sys.maxsize)) - 1
    return i >= 0 and ranges[i][0] <= pos < ranges[i][1]


def _verbatim_ranges(text: str) -> list[tuple[int, int]]:
    """Liquid/Jinja ``{% raw %}…{% endraw %}``, ``{% comment %}``, ``{% verbatim %}``, ``{# … #}`` and
    Hugo ``{{/* … */}}`` comments: their tags are text."""
    out: list[tuple[int, int]] = []
    if "{" not in text:
        return out
    pos = 0
    while True:
        m = _VERBATIM.search(text, pos)
        if m is None:
            return out
        if m.group(1):
            close = re.compile(rf"\{{%-?[ \t\r\n]*end{m.group(1)}[ \t\r\n]*-?%\}}", re.I).search(text, m.end())
            end = close.end() if close else len(text)
        else:
            stop = "#}" if m.group(0) == "{#" else "*/}}"
            found = text.find(stop, m.end())
            end = found + len(stop) if found >= 0 else len(text)
        out.append((m.start(), end))
        pos = end
