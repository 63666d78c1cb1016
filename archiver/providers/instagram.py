"""Instagram: its post, reel and TV URLs, the ``instagram-media`` blockquote (caption, "shared by
Name (@handle)", date), ``<amp-instagram>`` and the instagram shortcode. There is no public
endpoint to ask without a token, so the capture is the shared markup capture (what the publisher's
embed carries); liveness, the generic page probe.
"""

from __future__ import annotations

import re

from archiver.discover.common import clean_text
from archiver.discover.html import HtmlScanner
from archiver.discover.readers import amp_reader, post_from
from archiver.discover.shortcodes import id_reader
from archiver.discover.tags import Block
from archiver.discover.urls import match_post_url
from archiver.lazyre import lazy
from archiver.providers.base import EmbedForms, PostUrl, ProviderSpec

NAME = "instagram"
_POST = lazy(
    r"https?://(?:(?:www|m)\.)?instagr(?:am\.com|\.am)/(?!share/)(?:[\w.]{1,30}/)?(?P<kind>p|reels?|tv)/(?P<id>[-\w]{5,40})",
    re.I,
)
# The app's share links (/share/CODE, /share/p/CODE, /share/reel/CODE) name no post until followed.
_SHARE = lazy(r"https?://(?:(?:www|m)\.)?instagram\.com/share/(?:(?:p|reels?|tv)/)?[-\w]{5,40}", re.I)
_BY = lazy(r"(?:shared|posted) by (.{1,120}?) \(@([\w.]{1,30})\)")
_TIME = lazy(r"<time\b[^<>]{0,1000}>([^<]{0,200})</time", re.I)


def _post(m: re.Match[str]) -> tuple[str, str | None]:
    kind = m["kind"].lower()
    kind = "reel" if kind.startswith("reel") else kind
    return m["id"], f"https://www.instagram.com/{kind}/{m['id']}/"


def _shortcode_url(value: str) -> str:
    """The post URL of a shortcode (``C4kP2rTz8Lm``)."""
    return f"https://www.instagram.com/p/{value}/"


def _is_caption(anchor: str) -> bool:
    low = anchor.lower()
    return bool(anchor) and not any(k in low for k in ("shared by", "posted by", "view this post"))


def _blockquote(scan: HtmlScanner, block: Block) -> None:
    """The permalink attribute (or a link) names the post; a link's anchor is its caption."""
    found = post_from([block.tag.get("data-instgrm-permalink"), *block.hrefs], NAME)
    plain = clean_text(scan.text[block.inner_start:block.inner_end])
    by = _BY.search(plain)
    t = _TIME.search(scan.text, block.inner_start, block.inner_end)
    caption = next((clean_text(li.anchor) for li in block.links
                    if match_post_url(li.href) and _is_caption(clean_text(li.anchor))), None)
    scan.add(found, NAME, block.tag.start, block.end, "blockquote",
             author=by.group(1) if by else None, handle=by.group(2) if by else None,
             date=clean_text(t.group(1)) if t else None, text=caption)


PROVIDER = ProviderSpec(
    name=NAME,
    loader_hosts=("instagram.com", "cdninstagram.com"),
    platform_domains=("instagram.com", "cdninstagram.com", "cdninstagram.net"),
    order=1,
    urls=(PostUrl(_POST, post=_post),),
    short_links=(_SHARE,),
    embeds=EmbedForms(
        blockquotes={"instagram-media": _blockquote},
        amp={"amp-instagram": amp_reader("data-shortcode", lambda value: post_from([_shortcode_url(value)], NAME))},
        shortcodes=dict.fromkeys(("instagram", "insta", "ig"),
                                 id_reader(NAME, "https://www.instagram.com/p/{id}/", r"[-\w]{5,40}")),
        names=("instagram",),
        id_attrs=dict.fromkeys(("shortcode", "data-shortcode", "id", "postid", "post-id", "data-id", "code"),
                               lambda value: post_from([_shortcode_url(value)], NAME)),
    ),
)
