"""Bluesky: its post URLs (bsky.app, at:// URIs, embed.bsky.app) and the ``bluesky-embed``
blockquote; captured from the embed markup and oEmbed (``bluesky_oembed_url``, embed.bsky.app): the
post text from the blockquote it returns, the author and handle. Record keys are TIDs, which carry
the creation time. Liveness: the generic page probe."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import partial
from typing import Any

from archiver.discover.html import HtmlScanner
from archiver.discover.readers import post_from, social_blockquote
from archiver.discover.shortcodes import id_reader
from archiver.discover.tags import Block
from archiver.lazyre import lazy
from archiver.providers.base import EmbedForms, PostUrl, ProviderSpec, SettingSpec
from archiver.providers.oembed import OEmbedProvider, PlatformSpec, html_text

NAME = "bluesky"
ENDPOINT = SettingSpec("bluesky_oembed_url", "https://embed.bsky.app/oembed", "Bluesky's oEmbed endpoint.")
_S32 = "234567abcdefghijklmnopqrstuvwxyz"
_CANONICAL = "https://bsky.app/profile/{actor}/post/{id}"
_POST = lazy(r"https?://(?:www\.)?bsky\.app/profile/(?P<actor>[\w.:\-]{1,253})/post/(?P<id>[a-z0-9]{5,20})(?![\w])",
                   re.I)
_AT_URI = lazy(r"at://(?P<actor>[\w.:\-]{1,253})/app\.bsky\.feed\.post/(?P<id>[a-z0-9]{5,20})(?![\w])", re.I)
_EMBED = lazy(
    r"https?://embed\.bsky\.app/embed/(?P<actor>[\w.:\-]{1,253})/app\.bsky\.feed\.post/(?P<id>[a-z0-9]{5,20})(?![\w])",
    re.I,
)
# "(@handle)" in the blockquote's attribution line.
_ATTRIBUTION_HANDLE = lazy(r"\(\s?@([\w.\-]{1,253})\s?\)")


def _blockquote(scan: HtmlScanner, block: Block) -> None:
    """``<blockquote class="bluesky-embed" data-bluesky-uri=…>``: the post's link comes last."""
    found = post_from([*reversed(block.hrefs), block.tag.get("data-bluesky-uri")], NAME)
    social_blockquote(scan, block, found, NAME, _ATTRIBUTION_HANDLE)


def _handle(body: dict[str, Any]) -> str | None:
    """From the attribution "&mdash; Name (<a …>@handle</a>)" of the returned blockquote."""
    m = re.search(r">@([a-z0-9][a-z0-9.\-]{0,252})</a>\)", str(body.get("html") or ""), re.IGNORECASE)
    return m.group(1) if m else None


def id_time(post_id: str) -> datetime | None:
    """A TID is 13 base32-sortable characters: 53 bits of microseconds since 1970, then a clock id."""
    if not re.fullmatch(r"[234567a-j][234567a-z]{12}", post_id):
        return None
    n = 0
    for ch in post_id:
        n = n * 32 + _S32.index(ch)
    micros = n >> 10
    try:
        return datetime.fromtimestamp(micros / 1_000_000, UTC)
    except (OverflowError, ValueError, OSError):
        return None


SPEC = PlatformSpec(NAME, ENDPOINT.name, text=lambda body: html_text(body.get("html")),
                    handle=_handle, id_time=id_time)

PROVIDER = ProviderSpec(
    name=NAME,
    loader_hosts=("embed.bsky.app", "bsky.app"),
    platform_domains=("bsky.app", "bsky.social", "bsky.network"),
    order=5,
    urls=(PostUrl(_POST, _CANONICAL), PostUrl(_AT_URI, _CANONICAL), PostUrl(_EMBED, _CANONICAL)),
    handle_in_url=re.compile(r"/profile/(?!did:)([\w.\-]+)/post/"),
    embeds=EmbedForms(blockquotes={"bluesky-embed": _blockquote},
                      shortcodes=dict.fromkeys(("bluesky", "bsky"), id_reader(NAME))),
    settings=(ENDPOINT,),
    capture=partial(OEmbedProvider, SPEC),
)
