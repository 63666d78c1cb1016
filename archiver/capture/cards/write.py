"""Writing a capture's two static cards, HTML and PNG, and its human page (page.py) beside its manifest.

The capture step calls ``write_cards`` once per manifest; the content is read once (including the
stored manifests of quoted and parent posts) and drawn twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from archiver.capture.cards.content import CardContent, card_content
from archiver.capture.cards.html_card import card_html
from archiver.capture.cards.page import write_capture_page
from archiver.capture.cards.png_card import draw_card
from archiver.storage.layout import card_keys

if TYPE_CHECKING:
    from archiver.storage.base import ObjectStore


def write_cards(store: ObjectStore, manifest: dict[str, Any],
                draw: Callable[[CardContent, ObjectStore], bytes] = draw_card) -> dict[str, str]:
    """Render and store both cards of ``manifest``; returns their keys ({"html": …, "png": …}). ``draw``
    draws the PNG (``draw_card`` in this process; a capture passes ``draw_card_in_worker``). Same
    manifest, same bytes: writing again overwrites identical objects."""
    keys = card_keys(manifest)
    content = card_content(manifest, store)
    html = card_html(content, store)
    store.put(keys["html"], html.encode("utf-8"), content_type="text/html; charset=utf-8")
    store.put(keys["png"], draw(content, store), content_type="image/png")
    write_capture_page(store, manifest, html)  # the human page around the card (page.py)
    return keys
