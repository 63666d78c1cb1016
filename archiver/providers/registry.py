"""Provider registry: the one place that maps a provider name from discovery to its capture.

A platform with its own capture is one module here, ``archiver/providers/<name>.py``, defining
``PROVIDER = "<name>"`` and ``make_provider()``; it is found by name, nothing else to register.
Every other platform gets the generic markup capture (what the publisher's embed carries).
"""

from __future__ import annotations

import importlib
import re

from archiver.providers.base import Provider, SettingSpec
from archiver.providers.markup import MarkupProvider


def get_provider(name: str) -> Provider:
    """The capture for ``name`` ("twitter", "youtube", ...). Raises ValueError for a malformed name."""
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", name):
        raise ValueError(f"not a provider name: {name!r}")
    module_name = f"archiver.providers.{name}"
    try:
        module = importlib.import_module(module_name) if "-" not in name else None
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        module = None
    if module is not None and getattr(module, "PROVIDER", None) == name and hasattr(module, "make_provider"):
        return module.make_provider()

    return MarkupProvider(name)


# Stub during the redesign: the provider modules will declare these themselves.
_SETTINGS = (
    SettingSpec("twitter_oembed_url", "https://publish.twitter.com/oembed", "Twitter's oEmbed endpoint."),
    SettingSpec("twitter_syndication_url", "https://cdn.syndication.twimg.com/tweet-result",
                "Twitter's syndication endpoint (the tweet-result JSON)."),
    SettingSpec("twitter_shortlink_url", "https://t.co/{code}",
                "Template of t.co / pic.twitter.com short links; {code} is the code."),
    SettingSpec("youtube_oembed_url", "https://www.youtube.com/oembed", "YouTube's oEmbed endpoint."),
    SettingSpec("tiktok_oembed_url", "https://www.tiktok.com/oembed", "TikTok's oEmbed endpoint."),
    SettingSpec("reddit_oembed_url", "https://www.reddit.com/oembed", "Reddit's oEmbed endpoint."),
    SettingSpec("bluesky_oembed_url", "https://embed.bsky.app/oembed", "Bluesky's oEmbed endpoint."),
    SettingSpec("mastodon_oembed_url", "https://{host}/api/oembed",
                "Template of a Mastodon server's oEmbed endpoint; {host} is the post's server."),
)


def provider_settings() -> list[SettingSpec]:
    """Every setting the registered providers declare, in a stable order."""
    return list(_SETTINGS)
