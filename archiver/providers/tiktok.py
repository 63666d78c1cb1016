"""TikTok: its video URLs and the ``tiktok-embed`` blockquote; captured from the embed markup, oEmbed
(``tiktok_oembed_url``: caption, author, thumbnail) and the thumbnail archived. Video ids carry their
creation time in the top 32 bits. Liveness: the generic page probe.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import partial
from typing import Any

from archiver.discover.common import clean_text
from archiver.discover.html import HtmlScanner
from archiver.discover.readers import post_from, shows_no_post
from archiver.discover.shortcodes import id_reader
from archiver.discover.tags import Block
from archiver.discover.urls import PostMatch, handle_in_url
from archiver.lazyre import lazy
from archiver.providers.base import EmbedForms, PostUrl, ProviderSpec, SettingSpec, is_digits
from archiver.providers.oembed import OEmbedProvider, PlatformSpec

NAME = "tiktok"
ENDPOINT = SettingSpec("tiktok_oembed_url", "https://www.tiktok.com/oembed", "TikTok's oEmbed endpoint.")
_FIRST_ID = 6_000_000_000_000_000_000  # ids before 2016 do not follow the timestamp layout

# /@user/video/ID and /@user/photo/ID (photo posts), the embed player (/embed/v2/ID, /embed/ID), the
# iframe player (/player/v1/ID), the old mobile /v/ID.html and /share/video/ID.
_VIDEO = lazy(
    r"https?://(?:(?:www|m|us|t)\.)?tiktok\.com/(?:@(?P<user>[\w.\-]{1,60})/(?P<kind>video|photo)/|embed/v2/|embed/"
    r"|player/v1/|v/|share/video/)(?P<id>\d{5,25})(?!\d)",
    re.I,
)
# Share links that name no video until followed: vm./vt.tiktok.com/CODE and tiktok.com/t/CODE.
_SHORT = (
    re.compile(r"https?://(?:vm|vt)\.tiktok\.com/[A-Za-z0-9]{4,20}(?![\w\-])", re.I),
    re.compile(r"https?://(?:(?:www|m)\.)?tiktok\.com/t/[A-Za-z0-9]{4,20}(?![\w\-])", re.I),
)


def _video(m: re.Match[str]) -> tuple[str, str | None]:
    """The canonical URL needs the account; embed and short forms have none."""
    user = m["user"]
    kind = (m["kind"] or "video").lower()
    return m["id"], f"https://www.tiktok.com/@{user}/{kind}/{m['id']}" if user else None


def _blockquote(scan: HtmlScanner, block: Block) -> None:
    """``<blockquote class="tiktok-embed" cite=… data-video-id=…>``; its text is the caption. A creator,
    music or hashtag embed (``data-embed-type="creator"``) shows no post: not an embed."""
    if shows_no_post(block.tag, NAME, scan.constructs.not_posts):
        return
    found = post_from([block.tag.get("cite")])
    vid = block.tag.get("data-video-id")
    if vid and is_digits(vid) and (not found or found[1] != vid):
        found = (NAME, vid, None)
    scan.add(found, NAME, block.tag.start, block.end, "blockquote", handle=handle_in_url(found),
             text=clean_text(scan.text[block.inner_start:block.inner_end]) or None)


def _video_id(value: str) -> PostMatch | None:
    """A video id as an attribute writes it (``<amp-tiktok data-src="7301…">``, ``videoId``)."""
    return post_from([f"https://www.tiktok.com/embed/v2/{value}"], NAME) if is_digits(value) else None


_ID_ATTRS = dict.fromkeys(("id", "videoid", "video-id", "data-video-id", "data-id", "data-src"), _video_id)


def _handle(body: dict[str, Any]) -> str | None:
    handle = body.get("author_unique_id")
    if isinstance(handle, str) and re.fullmatch(r"[\w.\-]{1,60}", handle):
        return handle
    m = re.search(r"tiktok\.com/@([\w.\-]{1,60})/?$", str(body.get("author_url") or ""))
    return m.group(1) if m else None


def id_time(post_id: str) -> datetime | None:
    """Creation time from a video id: its top 32 bits are Unix seconds."""
    if not re.fullmatch(r"[0-9]{19,20}", post_id) or not _FIRST_ID <= int(post_id) < 1 << 64:
        return None
    return datetime.fromtimestamp(int(post_id) >> 32, UTC)


SPEC = PlatformSpec(NAME, ENDPOINT.name, handle=_handle, id_time=id_time)

PROVIDER = ProviderSpec(
    name=NAME,
    loader_hosts=("tiktok.com", "ttwstatic.com"),
    platform_domains=("tiktokcdn.com", "tiktokcdn-us.com", "tiktokv.com"),
    order=4,
    urls=(PostUrl(_VIDEO, post=_video),),
    short_links=_SHORT,
    redirect_hosts=("vm.tiktok.com", "vt.tiktok.com"),
    handle_in_url=re.compile(r"tiktok\.com/@([\w.\-]+)/"),
    embeds=EmbedForms(blockquotes={"tiktok-embed": _blockquote},
                      shortcodes={"tiktok": id_reader(NAME, "https://www.tiktok.com/embed/v2/{id}", r"\d{5,25}")},
                      names=("tiktok",), id_attrs=_ID_ATTRS,
                      # data-embed-type of the embeds that show a profile, a sound or a hashtag's feed.
                      not_posts=("creator", "music", "tag", "hashtag", "profile")),
    settings=(ENDPOINT,),
    capture=partial(OEmbedProvider, SPEC),
)
