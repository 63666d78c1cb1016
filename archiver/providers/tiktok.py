"""TikTok: the embed markup, oEmbed (``tiktok_oembed_url``: caption, author, thumbnail) and the
thumbnail archived. Video ids carry their creation time in the top 32 bits."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from archiver.providers.oembed import OEmbedProvider, PlatformSpec

PROVIDER = "tiktok"
_FIRST_ID = 6_000_000_000_000_000_000  # ids before 2016 do not follow the timestamp layout


def _handle(body: dict[str, Any]) -> str | None:
    handle = body.get("author_unique_id")
    if isinstance(handle, str) and re.fullmatch(r"[\w.\-]{1,60}", handle):
        return handle
    m = re.search(r"tiktok\.com/@([\w.\-]{1,60})/?$", str(body.get("author_url") or ""))
    return m.group(1) if m else None


def id_time(post_id: str) -> datetime | None:
    """Creation time from a video id: its top 32 bits are Unix seconds."""
    if not re.fullmatch(r"\d{19,20}", post_id) or not _FIRST_ID <= int(post_id) < 1 << 64:
        return None
    return datetime.fromtimestamp(int(post_id) >> 32, UTC)


SPEC = PlatformSpec(PROVIDER, "tiktok_oembed_url", handle=_handle, id_time=id_time)


def make_provider() -> OEmbedProvider:
    return OEmbedProvider(SPEC)
