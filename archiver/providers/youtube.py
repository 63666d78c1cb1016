"""YouTube: the embed markup, oEmbed (``youtube_oembed_url``: title, channel, thumbnail) and the
thumbnail archived. The video itself is not downloaded."""

from __future__ import annotations

import re
from typing import Any

from archiver.providers.oembed import OEmbedProvider, PlatformSpec

PROVIDER = "youtube"


def _handle(body: dict[str, Any]) -> str | None:
    """``https://www.youtube.com/@PinecrestObserver`` → ``PinecrestObserver``."""
    m = re.search(r"youtube\.com/@([\w.\-]{1,100})/?$", str(body.get("author_url") or ""))
    return m.group(1) if m else None


SPEC = PlatformSpec(PROVIDER, "youtube_oembed_url", handle=_handle)


def make_provider() -> OEmbedProvider:
    return OEmbedProvider(SPEC)
