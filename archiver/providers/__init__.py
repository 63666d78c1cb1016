"""Provider registry: the one place that maps a provider name from discovery to its capture.

Twitter/X has a full capture; every other platform gets the generic markup capture until it has
its own module.
"""

from __future__ import annotations

import re

from archiver.providers.base import Provider


def get_provider(name: str) -> Provider:
    """The capture for ``name`` ("twitter", "instagram", ...). Raises ValueError for a malformed name."""
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", name):
        raise ValueError(f"not a provider name: {name!r}")
    if name == "twitter":
        from archiver.providers.twitter import TwitterProvider

        return TwitterProvider()
    from archiver.providers.markup import MarkupProvider

    return MarkupProvider(name)
