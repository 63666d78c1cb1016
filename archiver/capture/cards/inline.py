"""The inline static card: what a restored embed becomes in the article's own markup.

The HTML card (html_card.py) is a styled fragment shown in a sandboxed iframe, so the post's words
stay outside the article: feed readers, reader modes, search engines and AMP see nothing of them.
The inline card puts the words in the article itself, as inert HTML: the post's text, the author's
name and handle, the date, the photos at their stable copies, and a link to the capture's human page
(the Memento that ``data-versionurl`` names), in one self-contained ``<blockquote class="archiver-card">``
with no script, no event-handler or style attribute, and no resource but the archive's own copies.

Values come from the manifest through ``content.card_content`` (display text, checked URLs) and are
autoescaped by the template; names, handles and dates sit in ``<bdi>`` (templates/bidi.html), and
``lang`` and ``dir`` come from the post (``direction``). Elements are closed and void elements written
``<img />``, so the fragment is well-formed in an HTML, XHTML or AMP article alike; in an AMP article a
photo is an ``<amp-img>`` when its size is known and a link to its copy when not. The stable class names
(``CLASS_NAMES``) are what a newsroom styles.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from archiver.article.splice import xml_safe
from archiver.capture.cards.content import ARTICLE_SHOWED, CardContent, card_content, stable_url, status_note
from archiver.capture.cards.html_card import quoted_parts
from archiver.capture.cards.jinja import template
from archiver.capture.cards.scripts import paragraph_rtl
from archiver.capture.manifest import GONE_STATUSES
from archiver.dates import shown

if TYPE_CHECKING:
    from archiver.storage.base import ObjectStore

# A post is at most 25,000 characters (Twitter's longest); the inline card keeps that much of its text.
INLINE_MAX_TEXT = 25_000

# Bounds on what a hostile manifest can put into an article (a post has at most 4 photos; names and
# handles are short on every platform).
MAX_INLINE_MEDIA = 20
MAX_NAME_CHARS = 200
MAX_HANDLE_CHARS = 100
MAX_ALT_CHARS = 1000

# Every class the inline card uses, for a newsroom's stylesheet (README, "Restore").
CLASS_NAMES = ("archiver-card", "archiver-card-note", "archiver-card-text", "archiver-card-media",
               "archiver-card-photo", "archiver-card-video", "archiver-card-gif", "archiver-card-photo-link",
               "archiver-card-video-link", "archiver-card-gif-link", "archiver-card-missing",
               "archiver-card-quoted", "archiver-card-quoted-by", "archiver-card-attribution",
               "archiver-card-name", "archiver-card-handle", "archiver-card-date", "archiver-card-source",
               "archiver-card-capture", "archiver-card-captured", "archiver-card-withheld")

# Languages written right to left (ISO 639 primary subtags), for a post whose text has no strong letter.
RTL_LANGUAGES = frozenset({"ar", "arc", "ckb", "dv", "fa", "he", "iw", "ks", "ku", "ps", "sd", "syr", "ug", "ur",
                           "yi"})
_LANG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,3}")
# Twitter's private-use codes (qme media only, qht hashtags only, ...) name no language.
_PRIVATE = re.compile(r"q[a-t][a-z]", re.I)


def language(lang: str | None) -> str | None:
    """``lang`` when it is a language tag worth an HTML ``lang`` attribute (``hi``, ``pt-BR``); None for
    none, a malformed one, or a private-use code that names no language (``qme``)."""
    if not lang or not _LANG.fullmatch(lang) or _PRIVATE.fullmatch(lang.split("-")[0]):
        return None
    return lang


def direction(text: str, lang: str | None = None) -> str:
    """``"rtl"`` or ``"ltr"``: from the text's first strong letter (Arabic, Hebrew … make it right to
    left; UAX #9 P2-P3), else from the language (``RTL_LANGUAGES``), else left to right."""
    if any(c.isalpha() for c in text):
        return "rtl" if paragraph_rtl(text) else "ltr"
    return "rtl" if (lang or "").split("-")[0].lower() in RTL_LANGUAGES else "ltr"


def gone_note(manifest: dict[str, Any] | None, shown: str = ARTICLE_SHOWED) -> str:
    """The note an inline card shows for a post gone from its source, from the later capture
    (``manifest``) that found it gone: ``No longer available at the source. The post has been
    deleted. …`` (``status_note``, holding STATUS_WORDS[status], ending with `shown`); "" when it does
    not say the post is gone."""
    if not isinstance(manifest, dict) or manifest.get("status") not in GONE_STATUSES:
        return ""
    return "No longer available at the source. " + status_note(manifest, shown)


@dataclass(frozen=True)
class InlineCard:
    """What the inline card needs besides the manifest: the capture page's public URL (the card's link,
    its ``cite`` and its Robust Links version URL), the post's original URL and the capture's date
    (Robust Links), the display time zone (IANA name) for its dates, the note saying the post is gone
    from its source ("" when it is not known to be), and whether the article is an AMP document."""

    page_url: str
    original: str
    version_date: str
    tz: str = "UTC"
    gone: str = ""
    amp: bool = False
    # Whether a quoted or parent post (provider, post_id) is taken down: its words are then not written.
    withheld: Callable[[str, str], bool] = lambda provider, post_id: False


# A stable copy's key (archiver/storage/layout.py): an original by digest, or one of its serving copies.
_COPY_KEY = re.compile(r"blobs/sha256/([0-9a-f]{2})/\1[0-9a-f]{62}"
                       r"|derived/[0-9a-f]{64}/[a-z0-9_-]{1,40}\.[a-z0-9]{1,8}")


def copy_url(store: ObjectStore, key: Any) -> str | None:
    """The public URL of a stable copy (an original ``blobs/sha256/..`` or a serving copy ``derived/..``);
    None for any other key a manifest may name."""
    return stable_url(store, key) if isinstance(key, str) and _COPY_KEY.fullmatch(key) else None


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _media(content: CardContent, store: ObjectStore) -> list[dict[str, Any]]:
    out = []
    for x in content.media[:MAX_INLINE_MEDIA]:
        copy = copy_url(store, x.key) if x.archived else None
        cls = {"video": "video", "animated_gif": "gif"}.get(x.kind, "photo")
        if x.sensitive:  # hidden behind the platform's warning: named and linked, not shown
            src, href = None, copy
        elif x.moving:  # the poster frame shown, the archived video linked
            src, href = copy_url(store, x.poster_key), copy
        else:
            src, href = copy, None
        out.append({"cls": cls, "label": x.hidden_label or x.label, "alt": _cut(x.alt, MAX_ALT_CHARS), "src": src,
                    "href": href,
                    "width": x.width if not x.moving else None, "height": x.height if not x.moving else None})
    return out


def render_inline_card(content: CardContent, store: ObjectStore, card: InlineCard) -> str:
    """The inline card of ``content`` (one ``<blockquote class="archiver-card">`` element, a balanced,
    inert fragment). Raises ValueError for a time zone the machine does not know."""
    lang = language(content.lang)
    notes = [n for n in (card.gone, *content.notes) if n]
    quoted = [{"label": r.label, "name": "", "handle": "", "text": WITHHELD_NOTICE, "dir": "ltr", "notes": []}
              if card.withheld(content.provider, r.post_id) else
              {"label": r.label, "name": _cut(r.name or r.handle or "Unknown", MAX_NAME_CHARS),
               "handle": _cut(r.handle, MAX_HANDLE_CHARS), "text": r.text, "dir": direction(r.text),
               "notes": r.notes}
              for r in content.related if r.found and r.text]
    text = xml_safe(content.text)
    shown_content = replace(content, text=text, name=_cut(content.name, MAX_NAME_CHARS),
                            handle=_cut(content.handle, MAX_HANDLE_CHARS))
    html = template("inline.html").render(
        c=shown_content, page=card.page_url,
        original=card.original, version_date=card.version_date, lang=lang,
        dir=direction(text or content.name, lang), notes=notes, gone=bool(card.gone), quoted=quoted_parts,
        quoted_posts=quoted, media=_media(content, store), amp=card.amp,
        when=shown(content.created_at, card.tz), captured=shown(card.version_date, card.tz))
    return xml_safe(html)


def inline_card_html(manifest: dict[str, Any], store: ObjectStore, card: InlineCard) -> str:
    """The inline card of one capture's ``manifest`` (any shape: see ``card_content``), its text kept to
    INLINE_MAX_TEXT characters. ValueError as ``render_inline_card``."""
    return render_inline_card(card_content(manifest, store, text_limit=INLINE_MAX_TEXT), store, card)


# What a restored card becomes once compliance takes its post down: no words, no media, no names, no link
# (the capture page answers 410).
WITHHELD_NOTICE = "This post has been withheld."


# The class of the withheld notice card (withheld_card_html): a card with it holds nothing of the post.
WITHHELD_CLASS = "archiver-card-withheld"


def withheld_card_html() -> str:
    """The withheld notice card (one balanced ``<blockquote class="archiver-card archiver-card-withheld">``,
    the same for every post): what replaces a taken-down post's restored card in an article."""
    return (f'<blockquote class="archiver-card {WITHHELD_CLASS}" lang="en" dir="ltr" data-withheld="true">'
            f'<p class="archiver-card-note">{WITHHELD_NOTICE}</p></blockquote>')


def is_amp(document_head: str) -> bool:
    """Whether an article is an AMP document: its ``<html>`` start tag carries ``⚡`` or ``amp``
    (``document_head`` is the start of the article's text; only its first ``<html`` tag is read)."""
    m = re.search(r"<html\b([^>]{0,2000})>", document_head[:20_000], re.I)
    return bool(m) and re.search(r"(?:^|\s)(?:⚡|amp)(?:\s|=|/|$)", m.group(1), re.I) is not None


__all__ = ["CLASS_NAMES", "INLINE_MAX_TEXT", "WITHHELD_NOTICE", "InlineCard", "copy_url", "direction", "gone_note",
           "inline_card_html", "is_amp", "language", "render_inline_card", "withheld_card_html", "xml_safe"]
