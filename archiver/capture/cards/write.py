"""Writing a capture's two static cards, HTML and PNG, and its human page (page.py) beside its manifest.

The capture step calls ``write_cards`` once per manifest. What the cards and the page show is read
here, once (the content, including the stored manifests of quoted and parent posts; the stable URLs;
the page's data; the bytes of the pictures the PNG is drawn from), as plain data. Rendering them (the
Jinja2 templates, Pillow, the fonts) is then an image worker's job (a "cards" request: ``render_cards``):
the pictures are decoded under the media time limit and memory budget like any image, the work runs
beside the capturing process on another core, and that process loads none of it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from archiver.capture.cards.content import CardContent, card_content, content_from_json, content_to_json
from archiver.capture.cards.html_card import card_urls, render_card
from archiver.capture.cards.page import PAGE_TYPE, page_data, page_key, render_page
from archiver.capture.cards.png_card import card_pictures, draw_card_from
from archiver.capture.imagepool import ImagingUnavailable, pool_for
from archiver.capture.imaging import MediaRejected
from archiver.storage.layout import card_keys

if TYPE_CHECKING:
    from archiver.config.settings import Settings
    from archiver.storage.base import ObjectStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CardSources:
    """Everything the two cards and the page of one capture are rendered from: the card's content, its
    stable URLs (``card_urls``), the page's data (``page_data``) and the pictures' bytes by key
    (``card_pictures``). Plain data: it can be sent to an image worker (``request``)."""

    content: CardContent
    urls: dict[str, Any]
    page: dict[str, Any]
    pictures: dict[str, bytes]

    @classmethod
    def read(cls, store: ObjectStore, manifest: dict[str, Any]) -> CardSources:
        """What ``manifest``'s cards and page show, read from ``store``. ValueError when the manifest
        cannot form its key."""
        content = card_content(manifest, store)
        return cls(content, card_urls(content, store), page_data(manifest, store), card_pictures(content, store))

    def request(self) -> bytes:
        """The worker's request body (UTF-8 JSON): the content, the URLs and the page's data."""
        return json.dumps({"content": content_to_json(self.content), "urls": self.urls, "page": self.page},
                          ensure_ascii=False).encode("utf-8")


def render_here(sources: CardSources) -> tuple[str, bytes, str]:
    """(HTML card, PNG card, page) of ``sources``, rendered in this process."""
    html = render_card(sources.content, sources.urls)
    return html, draw_card_from(sources.content, sources.pictures), render_page(sources.page, html)


def render_request(request: bytes, pictures: dict[str, bytes]) -> tuple[bytes, bytes, bytes]:
    """What an image worker answers a "cards" request with: the HTML card, the PNG card and the page,
    as bytes, rendered from ``request`` (``CardSources.request``) and ``pictures``. ValueError, KeyError
    or TypeError when the request is not of that shape."""
    data = json.loads(request)
    content = content_from_json(data["content"])
    html = render_card(content, data["urls"])
    return (html.encode("utf-8"), draw_card_from(content, pictures),
            render_page(data["page"], html).encode("utf-8"))


def render_cards(sources: CardSources, settings: Settings) -> tuple[str, bytes, str]:
    """(HTML card, PNG card, page) of ``sources``, rendered by an image worker of this process's pool for
    ``settings`` within ``media_time_limit`` (``ImagePool.render_cards``).

    When the worker refuses or passes the limit, they are rendered here with the PNG drawn without its
    pictures (each shown by its label: nothing the worker choked on is decoded here); when no worker
    can run at all, everything is rendered here."""
    where = f"{sources.content.provider}/{sources.content.post_id}"
    try:
        html, png, page = pool_for(settings).render_cards(sources.request(), sources.pictures,
                                                         float(settings.media_time_limit))
        try:
            return html.decode("utf-8"), png, page.decode("utf-8")
        except UnicodeDecodeError:
            raise MediaRejected("the image worker answered HTML that is not UTF-8") from None
    except MediaRejected as exc:
        log.warning("rendering the cards of %s failed in the image worker (%s); the PNG is drawn here "
                    "without its pictures", where, exc.reason)
        return render_here(replace(sources, pictures={}))
    except ImagingUnavailable as exc:
        log.warning("no image worker for the cards of %s (%s); rendered in this process", where, exc)
        return render_here(sources)


def write_cards(store: ObjectStore, manifest: dict[str, Any], settings: Settings | None = None) -> dict[str, str]:
    """Render and store both cards of ``manifest`` and its human page; returns the cards' keys ({"html": …,
    "png": …}). With ``settings`` an image worker renders them (``render_cards``), else this process.
    Same manifest, same bytes wherever they are rendered: writing again overwrites identical objects.
    ValueError when the manifest cannot form its key."""
    keys = card_keys(manifest)
    sources = CardSources.read(store, manifest)
    html, png, page = render_here(sources) if settings is None else render_cards(sources, settings)
    store.put(keys["html"], html.encode("utf-8"), content_type="text/html; charset=utf-8")
    store.put(keys["png"], png, content_type="image/png")
    store.put(page_key(manifest), page.encode("utf-8"), content_type=PAGE_TYPE)
    return keys
