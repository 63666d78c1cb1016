"""Reddit: its post URLs (reddit.com comments pages, redd.it), the ``reddit-embed-bq`` and
``reddit-card`` blockquotes, ``<amp-reddit>``; captured from the embed markup and oEmbed
(``reddit_oembed_url``: title, author). Reddit's oEmbed carries no thumbnail; one is archived only
when the embed markup has it. Liveness: the generic page probe.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from archiver.discover.common import clean_text
from archiver.discover.html import HtmlScanner
from archiver.discover.readers import amp_reader, post_from
from archiver.discover.shortcodes import id_reader
from archiver.discover.tags import Block
from archiver.discover.urls import match_post_url
from archiver.lazyre import lazy
from archiver.providers.base import EmbedForms, PostUrl, ProviderSpec, SettingSpec
from archiver.providers.oembed import OEmbedProvider, PlatformSpec

NAME = "reddit"
ENDPOINT = SettingSpec("reddit_oembed_url", "https://www.reddit.com/oembed", "Reddit's oEmbed endpoint.")

_COMMENTS = lazy(
    r"https?://(?:(?:www|old|new|np|m|embed|sh)\.)?reddit(?:media)?\.com/"
    r"(?:r/(?P<sub>\w{2,21})/|u(?:ser)?/[\w\-]{2,30}/)?(?:comments|gallery)/(?P<id>[a-z0-9]{1,12})(?![a-z0-9])",
    re.I,
)
_SHORT = lazy(r"https?://(?:www\.)?redd\.it/(?P<id>[a-z0-9]{1,12})(?![a-z0-9])", re.I)
# The app's share links name no post until followed: /r/sub/s/CODE (also /u/name/s/CODE) and
# reddit.app.link/CODE.
_SHARE = (
    re.compile(r"https?://(?:(?:www|old|new|np|m|sh)\.)?reddit\.com/(?:r|u|user)/[\w\-]{2,30}/s/[A-Za-z0-9]{5,20}"
               r"(?![\w\-])", re.I),
    re.compile(r"https?://reddit\.app\.link/[A-Za-z0-9]{5,20}(?![\w\-])", re.I),
)
_USER = lazy(r"reddit\.com/u(?:ser)?/([\w\-]{2,30})", re.I)


def _post(m: re.Match[str]) -> tuple[str, str | None]:
    """Ids are case-insensitive: kept in lower case; the canonical URL names the subreddit if known."""
    post_id = m["id"].lower()
    sub = m.groupdict().get("sub")
    if sub:
        return post_id, f"https://www.reddit.com/r/{sub}/comments/{post_id}/"
    return post_id, f"https://www.reddit.com/comments/{post_id}/"


def _blockquote(scan: HtmlScanner, block: Block) -> None:
    """The post's title is the anchor of its link; the author, a /user/ link."""
    found = post_from(block.hrefs, NAME)
    title = next((clean_text(li.anchor) for li in block.links if match_post_url(li.href)), None)
    users = (_USER.search(li.href) for li in block.links)
    handle = next((u.group(1) for u in users if u), None)
    scan.add(found, NAME, block.tag.start, block.end, "blockquote", text=title, handle=handle)


def _handle(body: dict[str, Any]) -> str | None:
    name = body.get("author_name")
    if isinstance(name, str) and re.fullmatch(r"(?:u/)?[\w-]{1,40}", name):
        return name.removeprefix("u/")
    return None


SPEC = PlatformSpec(NAME, ENDPOINT.name, handle=_handle)

PROVIDER = ProviderSpec(
    name=NAME,
    loader_hosts=("embed.reddit.com", "redditmedia.com", "reddit.com", "redditstatic.com"),
    platform_domains=("redd.it", "redditmedia.com", "redditstatic.com"),
    order=9,
    urls=(PostUrl(_COMMENTS, post=_post), PostUrl(_SHORT, post=_post)),
    short_links=_SHARE,
    redirect_hosts=("reddit.app.link",),
    embeds=EmbedForms(
        blockquotes={"reddit-embed-bq": _blockquote, "reddit-card": _blockquote},
        amp={"amp-reddit": amp_reader("data-src", lambda value: post_from([value]))},
        shortcodes={"reddit": id_reader(NAME, "https://redd.it/{id}", r"[a-z0-9]{5,12}")},
    ),
    settings=(ENDPOINT,),
    capture=partial(OEmbedProvider, SPEC),
)
