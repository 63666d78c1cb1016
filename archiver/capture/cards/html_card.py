"""The HTML card, and the frame that puts a card into an article, rendered from Jinja2 templates.

The card is a self-contained fragment (one ``<article>`` with inline styles, no script) served beside
the manifest and shown in a sandboxed iframe when an editor restores a dead embed. Its text comes from
platforms, so the templates are autoescaped: every value is escaped where it is written, URLs are
checked with ``safe_url`` before they become ``href``/``src``, and only ``link_segments`` decides which
parts of a text are links. Templates live in ``templates/`` inside the package (package data).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from archiver.capture.cards.content import PREVIEW_NOTE, CardContent, card_content, safe_url, stable_url
from archiver.capture.cards.jinja import template

if TYPE_CHECKING:
    from archiver.storage.base import ObjectStore

_URL = re.compile(r"https?://[^\s<>\"'\u00a0]+")

_TRAILING = ".,;:!?…)]}»”’"

_QUOTED = re.compile(r"“(.+)”", re.S)


def link_segments(text: str) -> list[tuple[str, str | None]]:
    """``text`` cut into (text, href) pairs that concatenate back to it: ``href`` is the segment itself
    for an http(s) URL that passes ``safe_url`` (trailing punctuation left out), None for plain text."""
    out: list[tuple[str, str | None]] = []
    pos = 0
    for m in _URL.finditer(text):
        url = m.group(0).rstrip(_TRAILING)
        if m.start() > pos:
            out.append((text[pos:m.start()], None))
        out.append((url, safe_url(url)))
        pos = m.start() + len(url)
    if pos < len(text) or not out:
        out.append((text[pos:], None))
    return out


def quoted_parts(note: str) -> list[tuple[str, bool]]:
    """A note cut into (text, isolated) pairs that concatenate back to it: the platform's words it
    quotes (from the first “ to the last ”) are isolated, so a right-to-left quotation (a localized
    tombstone) keeps the English sentence around it in order."""
    m = _QUOTED.search(note)
    if not m:
        return [(note, False)]
    return [(p, iso) for p, iso in ((note[:m.start(1)], False), (m.group(1), True), (note[m.end(1):], False)) if p]


def card_urls(content: CardContent, store: ObjectStore) -> dict[str, Any]:
    """The stable public URLs the HTML card of ``content`` shows, as plain data (JSON-safe): "media" (one
    dict per medium: kind, label, moving, alt, src, poster, and "hidden", the notice shown instead of a
    medium the platform hides behind a warning: the card then only links to it), "avatar" and
    "link_image". With the content, that is all ``render_card`` needs, so an image worker can render the
    card (``write.render_cards``)."""
    media = [{"kind": x.kind, "label": x.label, "moving": x.moving, "alt": x.alt,
              "src": stable_url(store, x.key) if x.archived else None,
              "poster": stable_url(store, x.poster_key) if x.moving else None, "hidden": x.hidden_label}
             for x in content.media]
    link_image = stable_url(store, content.link.image_key) if content.link else None
    return {"media": media, "avatar": stable_url(store, content.avatar_key), "link_image": link_image}


def render_card(content: CardContent, urls: dict[str, Any]) -> str:
    """The HTML card (a fragment: one ``<article>`` element) of ``content`` with ``urls`` (``card_urls``).
    Names, handles, card titles and poll labels sit in ``<bdi>`` so a right-to-left value does not
    reorder the words around it."""
    return template("card.html").render(
        c=content, avatar=urls["avatar"], media=urls["media"], links=link_segments,
        link_image=urls["link_image"], preview_note=PREVIEW_NOTE, quoted=quoted_parts)


def card_html(content: CardContent, store: ObjectStore) -> str:
    """The HTML card of ``content`` (a fragment: one ``<article>`` element); media, the link card's
    image and the avatar point at their stable public URLs in ``store``, or are named in a note when
    there is none (``render_card`` of ``card_urls``)."""
    return render_card(content, card_urls(content, store))


def render_card_html(manifest: dict[str, Any], store: ObjectStore) -> str:
    """The sanitized HTML card of one snapshot (a fragment: one ``<article>`` element)."""
    return card_html(card_content(manifest, store), store)


def card_frame(src: str, *, original: str, version_url: str, version_date: str) -> str:
    """The markup that shows the card at ``src`` in an article: a sandboxed, lazy iframe titled after
    the ``original`` post's URL, with Robust Links attributes (original, version URL and date)."""
    return template("frame.html").render(src=src, original=original, version_url=version_url,
                                                  version_date=version_date)
