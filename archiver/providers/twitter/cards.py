"""Twitter's cards: link previews (summary, summary_large_image, player, a decoded unified_card) and
polls, read from the syndication JSON's ``card.binding_values`` into the manifest's ``card`` and
``poll`` (``../shared/formats/twitter-shapes.md``, "Cards: link previews and polls").
"""

from __future__ import annotations

from typing import Any

from archiver.capture.manifest import LinkCard, Poll
from archiver.providers.base import MediaRef


def read_card(tweet: dict[str, Any], read_at: str) -> tuple[LinkCard | None, Poll | None, list[MediaRef]]:
    """(link card or None, poll or None, the card image to archive) of a tweet; ``read_at`` (UTC ISO)
    is when the poll's counts were read. Not yet written: the cards issue's helper replaces this."""
    return None, None, []
