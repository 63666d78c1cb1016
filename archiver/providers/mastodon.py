"""Mastodon (any server): status URLs on any host (so tried after every other provider; also as the
/deck/ and /web/ interfaces show them) and the ``mastodon-embed`` blockquote; captured from the
embed markup and the server's own oEmbed (``mastodon_oembed_url``, a template with {host}): author,
handle, and the text where the server returns a blockquote (Mastodon 4.3+; older servers return only
an iframe, so the markup's text is kept). Status ids are snowflakes: milliseconds since 1970 shifted
left by 16. Liveness: the generic page probe."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from archiver.discover.readers import permalink_blockquote
from archiver.discover.shortcodes import id_reader
from archiver.lazyre import lazy
from archiver.providers.base import EmbedForms, PostUrl, ProviderSpec, SettingSpec
from archiver.providers.oembed import OEmbedProvider, PlatformSpec, html_text

NAME = "mastodon"
ENDPOINT = SettingSpec("mastodon_oembed_url", "https://{host}/api/oembed",
                       "Template of a Mastodon server's oEmbed endpoint; {host} is the post's server.")
_FIRST_SNOWFLAKE = 100_000_000_000_000_000  # servers before 2.0 used small sequential ids
_STATUS = lazy(
    r"https?://((?:[a-z0-9\-]{1,63}\.){1,8}(?:[a-z]{2,63}|xn--[a-z0-9\-]{1,59}))/(?:deck/|web/)?"
    r"(?:@([\w.]{1,64})(?:@[\w.\-]{1,253})?/(\d{1,20})|users/([\w.]{1,64})/statuses/(\d{1,20}))"
    r"(?:/embed)?/?(?=$|[?#])",
    re.I,
)
# Hosts whose /@user/<digits> paths are not Mastodon statuses.
_NOT_MASTODON = lazy(r"(?:^|\.)(?:tiktok|threads|youtube|medium|instagram|twitter|x)\.(?:com|net)$", re.I)


def _status(m: re.Match[str]) -> tuple[str, str | None] | None:
    host = m.group(1).lower()
    if _NOT_MASTODON.search(host):
        return None
    user = m.group(2) or m.group(4)
    status = m.group(3) or m.group(5)
    return status, f"https://{host}/@{user}/{status}"


def _handle(body: dict[str, Any]) -> str | None:
    """``https://social.example/@observer`` → ``observer@social.example``."""
    url = str(body.get("author_url") or "")
    m = re.search(r"/@([\w.\-]{1,64})/?$", url)
    host = (urlsplit(url).hostname or "") if m else ""
    return f"{m.group(1)}@{host}" if m and host else None


def id_time(post_id: str) -> datetime | None:
    """When a snowflake status id was made (UTC, to the millisecond); None for pre-2.0 or non-snowflake ids."""
    if not re.fullmatch(r"\d{18,19}", post_id) or not _FIRST_SNOWFLAKE <= int(post_id) < 1 << 63:
        return None
    return datetime.fromtimestamp((int(post_id) >> 16) / 1000, UTC)


SPEC = PlatformSpec(NAME, ENDPOINT.name, text=lambda body: html_text(body.get("html")),
                    handle=_handle, id_time=id_time)

PROVIDER = ProviderSpec(
    name=NAME,
    order=7,
    urls=(PostUrl(_STATUS, post=_status),),
    any_host=True,
    handle_in_url=re.compile(r"/@([\w.]+)/\d"),
    embeds=EmbedForms(blockquotes={"mastodon-embed": permalink_blockquote(NAME, "data-embed-url")},
                      shortcodes=dict.fromkeys(("mastodon", "toot"), id_reader(NAME))),
    settings=(ENDPOINT,),
    capture=partial(OEmbedProvider, SPEC),
)
