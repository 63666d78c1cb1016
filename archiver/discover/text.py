"""Line-level discovery: bare post URLs on their own line or alone in a <p> (WordPress
auto-embeds), and image URLs and leftover image paths in plain text. (Platform-specific plain-text
forms, such as tweets flattened to "… — Name (@handle) Month D, YYYY", are read by their provider
module: ``EmbedForms.text``.)
"""

from __future__ import annotations

import html
import re

from archiver.discover.common import is_image_candidate, looks_like_image_path
from archiver.discover.model import ImageRef
from archiver.discover.urls import PostMatch, match_post_url

_URL_LINE = re.compile(r"^[ \t]*+(https?://[^\s<>\"]++)[ \t\r]*+$", re.M | re.I)
_URL_PARAGRAPH = re.compile(
    r"<p(?:\s[^<>]{0,500})?>[ \t\r\n]{0,50}(https?://[^\s<>\"]{1,2000})[ \t\r\n]{0,50}</p\s*>", re.I
)
# A root-relative image path left at the start of a line when Markdown was flattened: "/x.jpg)".
_PATH_LINE = re.compile(
    r"^[ \t]*+(/[^\s()<>\"]{1,2000}?\.(?:jpe?g|png|gif|webp|avif))(?=\)?[ \t\r]*+$)", re.M | re.I
)


def url_lines(text: str) -> list[tuple[int, int, PostMatch]]:
    """Post URLs alone on their line: (start, end, match); the span is the URL itself."""
    out = []
    for m in _URL_LINE.finditer(text):
        found = match_post_url(html.unescape(m.group(1)))
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
    """Image URLs alone on a line, and root-relative image paths left from Markdown images."""
    out = []
    for m in _URL_LINE.finditer(text):
        url = m.group(1)
        if looks_like_image_path(url) and is_image_candidate(url) and not match_post_url(url):
            out.append(ImageRef(url=url, start=m.start(1), end=m.end(1), form="text"))
    for m in _PATH_LINE.finditer(text):
        if not m.group(1).startswith("//"):
            out.append(ImageRef(url=m.group(1), start=m.start(1), end=m.end(1), form="text-path"))
    return out
