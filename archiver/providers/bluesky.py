"""Bluesky: the embed markup and oEmbed (``bluesky_oembed_url``, embed.bsky.app): the post text
from the blockquote it returns, the author and handle. Record keys are TIDs, which carry the
creation time."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from archiver.providers.oembed import OEmbedProvider, PlatformSpec, html_text

PROVIDER = "bluesky"
_S32 = "234567abcdefghijklmnopqrstuvwxyz"


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


SPEC = PlatformSpec(PROVIDER, "bluesky_oembed_url", text=lambda body: html_text(body.get("html")),
                    handle=_handle, id_time=id_time)


def make_provider() -> OEmbedProvider:
    return OEmbedProvider(SPEC)
