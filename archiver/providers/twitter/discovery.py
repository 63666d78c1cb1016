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
from archiver.discover.html import HtmlScanner
from archiver.discover.model import Embed
from archiver.discover.readers import parse_attribution, post_from
from archiver.discover.tags import Block, Tag
from archiver.discover.urls import PostMatch, handle_in_url, match_post_url
from archiver.providers.twitter.ids import NAME, status_url

# "(@handle)" in an attribution line, in markup and in flattened text.
_HANDLE = re.compile(r"\(\s?@(\w{1,15})\s?\)")
_FLAT_HANDLE = re.compile(r"\(@(\w{1,15})\)")
_PIC = re.compile(r"pic\.(?:twitter|x)\.com/\w{1,40}", re.I)
_DASHES = ("—", "â€”", "&mdash;")
_DATE = re.compile(
    r"[ \t\u00a0]{0,3}("
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]{0,6}\.? \d{1,2}, \d{4}"
    r"|\d{1,2}\.? [^\s\d,()]{2,15}\.?,? \d{4}"
    r"|\d{4}年\d{1,2}月\d{1,2}日"
    r"|[٠-٩]{1,2} [^\s()]{2,15} [٠-٩]{4}"
    r"|\d{4}-\d{2}-\d{2}"
    r")(?![\d٠-٩])"
)
_MEDIA_LINE_MAX = 300
_DIV_TWEET_ID = re.compile(r"""data-tweet-id\s*=\s*["']?(\d{1,20})""")
_DIV_IFRAME_SRC = re.compile(r"""\ssrc\s*=\s*["']([^"']{1,4000})""")


def post_of_id(value: str) -> PostMatch | None:
    """A tweet id as markup writes it (data-tweet-id, data-tweetid) as the post, or None."""
    return (NAME, value, status_url(value, None)) if value.isdigit() else None


def shortcode_post(value: str, user: str | None) -> PostMatch | None:
    """``{{< tweet 123 >}}``, ``{{< x user="a" id="123" >}}``: a bare id names the tweet."""
    return (NAME, value, status_url(value, user)) if value.isdigit() and len(value) <= 20 else None


def read_blockquote(scan: HtmlScanner, block: Block) -> None:
    """The official blockquote: the last status link is the post (and its anchor the date), the
    first <p> its text, then "— Name (@handle)"; the URL takes the handle when both agree."""
    status = [(li, f) for li in block.links if (f := match_post_url(li.href)) and f[0] == NAME]
    found = status[-1][1] if status else None
    tid = block.tag.get("data-tweet-id")
    if not found and tid and tid.isdigit():
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
    """Tweets whose markup was flattened to text; each needs the dash, "(@handle)" and a date."""
    out: list[Embed] = []
    prev_end = 0
    for m in _FLAT_HANDLE.finditer(text):
        if m.start() < prev_end:
            continue
        dash, width = last_dash(text, max(prev_end, m.start() - 200), m.start(), _DASHES)
        if dash < 0:
            continue
        author = text[dash + width:m.start()].strip()
        date = _DATE.match(text, m.end())
        if not author or "\n" in author or not date:
            continue
        nl = text.rfind("\n", prev_end, dash)
        start, body = _tweet_body(text, nl + 1 if nl >= 0 else prev_end, dash, prev_end)
        end = date.end()
        nl = text.find("\n", end)
        if nl >= 0 and text[end:nl].strip() == "":
            nxt = text.find("\n", nl + 1)
            nxt = len(text) if nxt < 0 else nxt
            line = text[nl + 1:nxt]
            if len(line) <= _MEDIA_LINE_MAX and _PIC.search(line) and not _FLAT_HANDLE.search(line):
                end = nl + 1 + len(line.rstrip())
        out.append(Embed(
            provider=NAME, post_id=None, url=None, start=start, end=end, handle=m.group(1),
            author=author, text=body or None, date=date.group(1),
            media_links=_PIC.findall(text, start, end), form="flattened",
        ))
        prev_end = end
    return out


def _tweet_body(text: str, line_lo: int, dash: int, prev_end: int) -> tuple[int, str]:
    """Where the post text starts and what it says: before the dash on its line, or else the
    previous non-empty line (the attribution stands on its own line)."""
    if text[line_lo:dash].strip():
        start = line_lo
        while text[start].isspace():
            start += 1
        return start, text[start:dash].strip()
    if line_lo == 0 or (line_lo <= prev_end and prev_end > 0):
        return dash, ""
    end = line_lo - 1
    while end > prev_end and text[end - 1].isspace():
        end -= 1
    start = max(text.rfind("\n", prev_end, end) + 1, prev_end)
    while start < end and text[start].isspace():
        start += 1
    if start >= end:
        return dash, ""
    return start, text[start:end].strip()
