"""How Twitter embeds are written in articles, read for discovery: the official blockquote (with its
"— Name (@handle) Date" line and pic.twitter.com links), the rendered ``<div class="twitter-tweet">``
around the widget's iframe, ``<amp-twitter>``, iframes that carry ``data-tweet-id``, the
tweet/x/twitter shortcodes, and tweets flattened to plain text (no id, but still a post).

The shared scanners in ``archiver/discover/`` call these readers through ``PROVIDER.embeds``.
"""

from __future__ import annotations

import html
import re

from archiver.discover.common import clean_text, last_dash
from archiver.discover.dates import match_date
from archiver.discover.html import HtmlScanner
from archiver.discover.model import Embed
from archiver.discover.readers import parse_attribution, post_from
from archiver.discover.tags import Block, Tag
from archiver.discover.text import is_quoted, link_at, plain_markdown, run_start, url_at
from archiver.discover.urls import PostMatch, handle_in_url, match_post_url
from archiver.lazyre import lazy
from archiver.providers.base import is_digits
from archiver.providers.twitter.ids import NAME, status_url

# "(@handle)" in an attribution line, in markup and in flattened text.
_HANDLE = re.compile(r"\(\s?@(\w{1,15})\s?\)")
# Converters escape what Markdown would read: "(\\@handle)" (pandoc), "(@a\\_b)" (turndown, markdownify).
_FLAT_HANDLE = lazy(r"\(\s?\\?@((?:\\_|\w){1,15})\s?\)")
_PIC = re.compile(r"pic\.(?:twitter|x)\.com/\w{1,40}", re.I)
_DASHES = ("—", "â€”", "&mdash;", "&#8212;", "&#x2014;", "―", "--")
_MEDIA_LINE_MAX = 300
# The rest of an attribution line when it is blank, through its newline.
_LINE_END = lazy(r"[^\S\n]*+\n")
# What may follow a plain date that ends an attribution line: the line's end (blanks, a Markdown hard
# break), or text glued to it where a converter dropped the line break ("March 5, 2024Groomers").
_ENDS_ATTRIBUTION = lazy(r"[ \t\u00a0]*+(?:\\|  )?[ \t]*+(?:\r?\n|\Z)|[^\W\d_]")
_DIV_TWEET_ID = lazy(r"""data-tweet-id\s*=\s*["']?([0-9]{1,20})(?![0-9])""")
_DIV_IFRAME_SRC = lazy(r"""\ssrc\s*=\s*["']([^"']{1,4000})""")


def post_of_id(value: str) -> PostMatch | None:
    """A tweet id as markup writes it (data-tweet-id, data-tweetid) as the post, or None."""
    return (NAME, value, status_url(value, None)) if is_digits(value) else None


def shortcode_post(value: str, user: str | None) -> PostMatch | None:
    """``{{< tweet 123 >}}``, ``{{< x user="a" id="123" >}}``: a bare id names the tweet."""
    return (NAME, value, status_url(value, user)) if is_digits(value) and len(value) <= 20 else None


def read_blockquote(scan: HtmlScanner, block: Block) -> None:
    """The official blockquote: the last status link is the post (and its anchor the date), the
    first <p> its text, then "— Name (@handle)"; the URL takes the handle when both agree."""
    status = [(li, f) for li in block.links if (f := match_post_url(li.href)) and f[0] == NAME]
    found = status[-1][1] if status else None
    tid = block.tag.get("data-tweet-id")
    if not found and tid and is_digits(tid):
        found = (NAME, tid, status_url(tid, None))
    body, after = scan.first_paragraph(block.inner_start, block.inner_end)
    attribution = parse_attribution(clean_text(scan.text[after:block.inner_end]), _HANDLE)
    url_handle = handle_in_url(found)
    handle = attribution[1] if attribution else url_handle
    if found and handle and url_handle and url_handle.lower() == handle.lower():
        found = (found[0], found[1], status_url(found[1], handle))
    date = clean_text(status[-1][0].anchor) if status else None
    scan.add(found, NAME, block.tag.start, block.end, "blockquote", text=body,
             author=attribution[0] if attribution else None, handle=handle, date=date,
             media_links=_PIC.findall(body or ""))


def read_rendered(scan: HtmlScanner, tag: Tag) -> None:
    """``<div class="twitter-tweet twitter-tweet-rendered">`` around the widget's iframe."""
    inner_end, end = scan.element_end(tag)
    m = _DIV_TWEET_ID.search(scan.text[tag.end:inner_end])
    found = (NAME, m.group(1), status_url(m.group(1), None)) if m else None
    if not found:
        iframe_src = _DIV_IFRAME_SRC.search(scan.text[tag.end:inner_end])
        found = post_from([html.unescape(iframe_src.group(1))] if iframe_src else [], NAME)
    if found:
        scan.add(found, NAME, tag.start, end, "iframe")


def read_amp(scan: HtmlScanner, tag: Tag) -> None:
    """``<amp-twitter data-tweetid="…">`` (an id; or a post URL, of any provider)."""
    value = tag.get("data-tweetid") or ""
    found = post_of_id(value) or post_from([value])
    if found:
        scan.add_element(tag, found, "amp")


def finish(embed: Embed) -> None:
    """Once nested findings are folded: a status URL without the handle gets the one the markup showed."""
    if embed.post_id and embed.handle and (not embed.url or "/i/web/" in embed.url):
        embed.url = status_url(embed.post_id, embed.handle)


def flattened_tweets(text: str) -> list[Embed]:
    """Tweets whose blockquote was flattened to Markdown or text by a converter (turndown, html2text,
    pandoc, markdownify, copy and paste): the post text, then "— Name (@handle)" and the date, as a
    link to the status (its id is the post's) or as plain text in any of the widget's languages
    (``archiver.discover.dates``). The span runs over the whole run: the "> " quoted lines of its
    blockquote, or else its paragraph, through the date (and a pic.twitter.com line right after)."""
    out: list[Embed] = []
    prev_end = 0
    for m in _FLAT_HANDLE.finditer(text):
        if m.start() < prev_end:
            continue
        dash, width = last_dash(text, max(prev_end, m.start() - 200), m.start(), _DASHES)
        if dash < 0:
            continue
        while dash > prev_end and text[dash - 1] == "-" and text[dash] == "-":
            dash, width = dash - 1, width + 1  # pandoc's "---" for an em dash
        found, date, end = _attribution_date(text, m.end())
        if date is None:
            continue
        author = plain_markdown(text[dash + width:m.start()])
        if not author or "\n" in author or len(author) > 120:
            continue
        handle = m.group(1).replace("\\", "")
        line_lo = text.rfind("\n", prev_end, dash) + 1 if text.rfind("\n", prev_end, dash) >= 0 else prev_end
        start, body = _tweet_body(text, line_lo, dash, prev_end)
        # Searches from here on are bounded: tweets run together on one line must not each scan
        # the rest of the text (that made this quadratic).
        blank = _LINE_END.match(text, end)
        if blank is not None:
            nl = blank.end()
            nxt = text.find("\n", nl, nl + _MEDIA_LINE_MAX + 1)
            line = text[nl:nxt if nxt >= 0 else min(len(text), nl + _MEDIA_LINE_MAX + 1)]
            if len(line) <= _MEDIA_LINE_MAX and _PIC.search(line) and not _FLAT_HANDLE.search(line):
                end = nl + len(line.rstrip())
        out.append(Embed(
            provider=NAME, post_id=found[1] if found else None,
            url=status_url(found[1], handle) if found and found[1] else None,
            start=start, end=end, handle=handle, author=author, text=body or None, date=date,
            media_links=_PIC.findall(text, start, end), form="flattened",
        ))
        prev_end = end
    return out


def _attribution_date(text: str, pos: int) -> tuple[PostMatch | None, str | None, int]:
    """What follows "(@handle)": (the status the date links to or None, the date as shown, its end);
    the date None when there is none. A link to a status is the date whatever its anchor says; a
    plain date must read as one, and may be followed by the status URL."""
    while pos < len(text) and text[pos] in " \t\u00a0":
        pos += 1
    if pos >= len(text) or not (text[pos].isalnum() or text[pos] in "[<"):
        return None, None, pos  # neither a link nor a date (dates begin with a digit or a word)
    link = link_at(text, pos) if text[pos] in "[<" else None
    if link is not None:
        anchor, url, end = link
        found = match_post_url(url, NAME)
        if found and found[1]:
            return found, anchor, end
        if match_date(anchor, 0) is not None:
            return None, anchor, end
        return None, None, pos
    date = match_date(text, pos, min(len(text), pos + 80))
    if date is None:
        return None, None, pos
    after = url_at(text, date.end())
    found = match_post_url(after[0], NAME) if after else None
    if after and found and found[1]:
        return found, date.group(0), after[1]
    if not after and not _ENDS_ATTRIBUTION.match(text, date.end()):
        return None, None, pos  # "May 3, 2024 edition": a sentence goes on, no widget's date
    return None, date.group(0), date.end()


def _tweet_body(text: str, line_lo: int, dash: int, prev_end: int) -> tuple[int, str]:
    """Where the post text starts and what it says: before the dash on its line, or else the run of
    lines before it (its blockquote's "> " lines, or its paragraph when unquoted)."""
    head = plain_markdown(text[line_lo:dash])
    if head and not is_quoted(text, line_lo):
        start = line_lo
        while text[start].isspace():
            start += 1
        return start, head
    if is_quoted(text, line_lo):
        start = run_start(text, line_lo, prev_end)
        if start == line_lo and not head:
            return line_lo, ""
        start = _skip_blank(text, start, line_lo)
        return start, plain_markdown(text[start:dash])
    if line_lo == 0 or (line_lo <= prev_end and prev_end > 0):
        return dash, ""
    end = line_lo - 1
    while end > prev_end and text[end - 1].isspace():
        end -= 1
    if end <= prev_end:
        return dash, ""
    start = max(text.rfind("\n", prev_end, end) + 1, prev_end)
    # Lines joined by Markdown hard breaks ("  " or "\\" at the end: a <br> in the tweet) are one
    # paragraph; a text article's lines are paragraphs of their own.
    for _ in range(40):
        prev = max(text.rfind("\n", prev_end, start - 1) + 1, prev_end) if start > prev_end else start
        line = text[prev:start - 1].rstrip("\r")
        if prev >= start or not line.strip() or not (line.endswith("  ") or line.endswith("\\")):
            break
        start = prev
    start = _skip_blank(text, start, end)
    if start >= end:
        return dash, ""
    return start, plain_markdown(text[start:end])


def _skip_blank(text: str, start: int, limit: int) -> int:
    while start < limit and text[start].isspace():
        start += 1
    return start
