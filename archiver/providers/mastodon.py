"""Mastodon (any server): the embed markup and the server's own oEmbed (``mastodon_oembed_url``, a
template with {host}): author, handle, and the text where the server returns a blockquote
(Mastodon 4.3+; older servers return only an iframe, so the markup's text is kept). Status ids
are snowflakes: milliseconds since 1970 shifted left by 16."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from archiver.providers.oembed import OEmbedProvider, PlatformSpec, html_text

PROVIDER = "mastodon"
_FIRST_SNOWFLAKE = 100_000_000_000_000_000  # servers before 2.0 used small sequential ids


def _handle(body: dict[str, Any]) -> str | None:
    """``https://social.example/@observer`` → ``observer@social.example``."""
    url = str(body.get("author_url") or "")
    m = re.search(r"/@([\w.\-]{1,64})/?$", url)
    host = (urlsplit(url).hostname or "") if m else ""
    return f"{m.group(1)}@{host}" if m and host else None


def id_time(post_id: str) -> datetime | None:
    if not re.fullmatch(r"\d{18,19}", post_id) or not _FIRST_SNOWFLAKE <= int(post_id) < 1 << 63:
        return None
    return datetime.fromtimestamp((int(post_id) >> 16) / 1000, UTC)


SPEC = PlatformSpec(PROVIDER, "mastodon_oembed_url", text=lambda body: html_text(body.get("html")),
                    handle=_handle, id_time=id_time)


def make_provider() -> OEmbedProvider:
    return OEmbedProvider(SPEC)
