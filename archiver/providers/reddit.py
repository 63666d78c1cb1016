"""Reddit: the embed markup and oEmbed (``reddit_oembed_url``: title, author). Reddit's oEmbed
carries no thumbnail; one is archived only when the embed markup has it."""

from __future__ import annotations

import re
from typing import Any

from archiver.providers.oembed import OEmbedProvider, PlatformSpec

PROVIDER = "reddit"


def _handle(body: dict[str, Any]) -> str | None:
    name = body.get("author_name")
    if isinstance(name, str) and re.fullmatch(r"(?:u/)?[\w-]{1,40}", name):
        return name.removeprefix("u/")
    return None


SPEC = PlatformSpec(PROVIDER, "reddit_oembed_url", handle=_handle)


def make_provider() -> OEmbedProvider:
    return OEmbedProvider(SPEC)
