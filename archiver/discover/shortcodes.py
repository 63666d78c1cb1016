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
from archiver.discover.model import Embed
from archiver.discover.urls import PostMatch, match_post_url

__all__ = ["find", "id_reader"]

_MAX_TAG = 1500  # code points a tag's arguments may take, so a stray opener costs little
_MAX_CONTENT = 2100
# Where a tag may begin: the bracketed syntaxes anywhere, the line syntaxes at a line's start (two
# patterns, each starting with what it looks for, so the regex engine skips the rest of the text fast).
_OPEN_INLINE = re.compile(
    r"\{\{(?P<hugo>[<%])[ \t\r\n]*+(?=[A-Za-z])"
    r"|\{%-?[ \t\r\n]*+(?P<liquid>[A-Za-z][\w./:-]{0,100}+)"
    r"|\{\{\{?[-~]?[ \t\r\n]*+(?P<expr>[>#]?[ \t]*+[A-Za-z'\"])"
    r"|\[(?P<wp>[A-Za-z][\w-]{0,40}+)(?=[ \t\r\n=\]/])"
)
_OPEN_LINE = re.compile(
    r"^(?:(?P<rst>[ \t]*+)\.\.[ \t]++(?P<directive>[\w.-]{1,60}(?::[\w.-]{1,60})?)::"
    r"|(?P<adoc>[A-Za-z][\w-]{0,40}+)::(?=[^\s\[]{0,2000}+\[)"
    r"|[ \t]{0,3}+`(?P<gatsby>[A-Za-z]\w{0,30}+):)",
    re.M,
)
_NAME = re.compile(r"[A-Za-z][\w./:-]{0,100}")
_ARG = re.compile(
    r"""(?P<key>[A-Za-z_][\w-]{0,40}+)[ \t]*+(?:=|:(?=[ \t]))[ \t]*+"""
    r"""(?:"(?P<k1>[^"]{0,2100}+)"|'(?P<k2>[^']{0,2100}+)'|“(?P<k3>[^”]{0,2100}+)”|(?P<k4>[^\s,\]\)"']{1,2100}+))"""
    r"""|"(?P<p1>[^"]{0,2100}+)"|'(?P<p2>[^']{0,2100}+)'|“(?P<p3>[^”]{0,2100}+)”|(?P<p4>[^\s,()\[\]|"'=]{1,2100}+)"""
)
_WORDS = re.compile(r"[a-z0-9]+")
_RST_OPTION = re.compile(r"[ \t]*+:([\w-]{1,40}):[ \t]*+(.*)")
_ADOC = re.compile(r"([A-Za-z][\w-]{0,40})::([^\s\[]{0,2000})\[([^\]\n]{0,1000})\][ \t]*(?=\r?$)", re.M)
_GATSBY = re.compile(r"`([A-Za-z]\w{0,30}):[ \t]*([^`\n]{1,2000}?)[ \t]*`[ \t]*(?=\r?$)", re.M)
# Liquid/Jinja regions whose tags are text, not tags.
_VERBATIM = re.compile(
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
    """Every shortcode or template tag in ``text`` that embeds a post, with the whole tag as its span
    (``form="shortcode"``). ``markdown``: the article is Markdown, so tags inside code spans are
    examples, not tags. Time is linear in ``text`` (each opener reads at most a bounded stretch)."""
    tables = constructs.current()
    if not tables.shortcodes:
        return []
    out: list[Embed] = []
    skip = _verbatim_ranges(text)
    pos = 0
    openers: list[re.Match[str]] = []
    if "{" in text or "[" in text:
        openers += _OPEN_INLINE.finditer(text)
    if "`" in text or "::" in text:
        line_openers = list(_OPEN_LINE.finditer(text))
        openers = sorted(openers + line_openers, key=lambda m: m.start()) if openers else line_openers
    for m in openers:
        start = m.start()
        if start < pos or _inside(skip, start):
            continue
        if m.lastgroup == "wp" and start > 0 and (text[start - 1] in "[\\!" or text[start - 1].isalnum()
                                                  or text[start - 1] == "_"):
            continue  # an escaped [[tag]], an image's ![, or a bracket inside a word
        tag = _read(text, m, tables.shortcodes)
        if tag is None:
            continue
        if markdown and m.lastgroup not in ("gatsby", "directive", "adoc") and _in_code_span(text, start):
            continue
        end, found, user = tag
        out.append(Embed(provider=found[0], post_id=found[1], url=found[2], start=start, end=end,
                         handle=user, form="shortcode"))
        pos = end
    return out


def id_reader(provider: str, template: str | None = None,
              pattern: str = r"[\w.-]{1,100}") -> Callable[[str, str | None], PostMatch | None]:
    """A shortcode reader for ``provider``: a value that is one of its post URLs, or (with
    ``template``) an id matching ``pattern`` put into ``template`` (``"https://redd.it/{id}"``) that its
    URL patterns accept. Without ``template`` the platform's posts have no id a tag could give alone."""
    valid = re.compile(pattern)

    def read(value: str, user: str | None) -> PostMatch | None:
        found = match_post_url(value, provider)
        if found is None and template is not None and valid.fullmatch(value):
            found = match_post_url(template.format(id=value), provider)
        return found

    return read


# --- reading one tag ---------------------------------------------------------------------------------

Tag = tuple[int, PostMatch, "str | None"]  # (end of the span, the post, the handle the tag names)


def _read(text: str, m: re.Match[str], readers: dict[str, Callable[[str, str | None], PostMatch | None]]) -> Tag | None:
    kind = m.lastgroup
    if m.re is _OPEN_INLINE:
        if m.group("hugo"):
            return _bracketed(text, m, "{{" + m.group("hugo"), (">" if m.group("hugo") == "<" else "%") + "}}",
                              readers)
        if m.group("liquid"):
            return _bracketed(text, m, "{%", "%}", readers)
        if m.group("wp"):
            return _wordpress(text, m, readers)
        return _expression(text, m, readers) if m.group("expr") else None
    if m.group("directive"):
        return _directive(text, m, readers)
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
            value = next((g for g in a.group("p1", "p2", "p3", "p4") if g is not None), "")
            if value.strip():
                values.append(_clean(value))
    found = _post(words, named, values, None, readers)
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
    for value in ordered + [p for p in positional if p not in named_by]:
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
            value = next((g for g in a.group("p1", "p2", "p3", "p4") if g is not None), "")
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
