"""Line-level discovery: bare post URLs on their own line or alone in a <p> (WordPress
auto-embeds), image URLs and leftover image paths in plain text, and tweets flattened to text
("… — Name (@handle) Month D, YYYY"), which carry no id but still name a post.
"""

from __future__ import annotations

import html
import re

from archiver.discover import urls
from archiver.discover.common import is_image_candidate, last_dash, looks_like_image_path
from archiver.discover.model import Embed, ImageRef

_URL_LINE = re.compile(r"^[ \t]*+(https?://[^\s<>\"]++)[ \t\r]*+$", re.M | re.I)
_URL_PARAGRAPH = re.compile(
    r"<p(?:\s[^<>]{0,500})?>[ \t\r\n]{0,50}(https?://[^\s<>\"]{1,2000})[ \t\r\n]{0,50}</p\s*>", re.I
)
# A root-relative image path left at the start of a line when Markdown was flattened: "/x.jpg)".
_PATH_LINE = re.compile(
    r"^[ \t]*+(/[^\s()<>\"]{1,2000}?\.(?:jpe?g|png|gif|webp|avif))(?=\)?[ \t\r]*+$)", re.M | re.I
)
_HANDLE = re.compile(r"\(@(\w{1,15})\)")
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
_PIC = re.compile(r"pic\.(?:twitter|x)\.com/\w{1,40}", re.I)
_MEDIA_LINE_MAX = 300


def url_lines(text: str) -> list[tuple[int, int, urls.PostMatch]]:
    """Post URLs alone on their line: (start, end, match); the span is the URL itself."""
    out = []
    for m in _URL_LINE.finditer(text):
        found = urls.match_post_url(html.unescape(m.group(1)))
        if found:
            out.append((m.start(1), m.end(1), found))
    return out


def url_paragraphs(text: str) -> list[tuple[int, int, urls.PostMatch]]:
    """`<p>URL</p>` paragraphs holding nothing but a post URL; the span is the whole paragraph."""
    out = []
    for m in _URL_PARAGRAPH.finditer(text):
        found = urls.match_post_url(html.unescape(m.group(1)))
        if found:
            out.append((m.start(), m.end(), found))
    return out


def image_lines(text: str) -> list[ImageRef]:
    """Image URLs alone on a line, and root-relative image paths left from Markdown images."""
    out = []
    for m in _URL_LINE.finditer(text):
        url = m.group(1)
        if looks_like_image_path(url) and is_image_candidate(url) and not urls.match_post_url(url):
            out.append(ImageRef(url=url, start=m.start(1), end=m.end(1), form="text"))
    for m in _PATH_LINE.finditer(text):
        if not m.group(1).startswith("//"):
            out.append(ImageRef(url=m.group(1), start=m.start(1), end=m.end(1), form="text-path"))
    return out


def flattened_tweets(text: str) -> list[Embed]:
    """Tweets whose markup was flattened to text; each needs the dash, "(@handle)" and a date."""
    out: list[Embed] = []
    prev_end = 0
    for m in _HANDLE.finditer(text):
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
            if len(line) <= _MEDIA_LINE_MAX and _PIC.search(line) and not _HANDLE.search(line):
                end = nl + 1 + len(line.rstrip())
        out.append(Embed(
            provider="twitter", post_id=None, url=None, start=start, end=end, handle=m.group(1),
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
